"""End to end: the recommended /etc/pam.d/sshd that we ship (etc/pam.d/sshd-fotostudio) works as
a whole, with Debian's common-account, common-session and common-password files it includes.
Only the module's name is replaced by its build path, with the test daemon's socket.

test_ssh_login.py tests the auth stanza alone; this checks that the file around it neither
breaks a login nor lets a wrong code through.
"""
from cli_enrolment import enable_mfa, totp, wrong_code


def test_recommended_file_logs_in_with_password_and_code(recommended_file_rig, make_user):
    rig = recommended_file_rig
    user = make_user()
    enrolment = enable_mfa(user.name, rig.daemon.socket)

    login = rig.login(user, code=totp(enrolment.secret, offset_steps=1))

    assert login.code_prompt_shown, "the code prompt should have come\n" + rig.explain(login)
    assert login.logged_in, "the login should have run the command\n" + rig.explain(login)


def test_recommended_file_refuses_a_wrong_code_after_a_wrong_password(recommended_file_rig,
                                                                      make_user):
    rig = recommended_file_rig
    user = make_user()
    enrolment = enable_mfa(user.name, rig.daemon.socket)

    login = rig.login(user, password=user.password + "-wrong", code=wrong_code(enrolment.secret))

    assert login.code_prompt_shown, "the code prompt should have come\n" + rig.explain(login)
    assert not login.logged_in, "the login should have been refused\n" + rig.explain(login)
    assert login.exit_status == 255, rig.explain(login)


def test_recommended_file_lets_a_user_without_mfa_in_with_the_password(recommended_file_rig,
                                                                        make_user):
    rig = recommended_file_rig
    user = make_user()

    login = rig.login(user)

    assert not login.code_prompt_shown, "no code should be asked\n" + rig.explain(login)
    assert login.logged_in, "the login should have run the command\n" + rig.explain(login)
