"""End to end: a person logs in with Debian's ssh client to a real sshd whose PAM stack is
pam_unix plus our module, which asks the real fotoauthd.

Every test that needs MFA enrols its own user with `fotoauthctl mfa enable`, as that user would.
Enrolment confirms with the code of the current 30-second step, and a step once used (or an
earlier one) is never accepted again; so the first login uses the code of the next step, which
the daemon accepts as clock drift. A test that needs a second code uses a recovery code or its
own user, so that no test waits for the clock.
"""
import pytest

from cli_enrolment import enable_mfa, totp, wrong_code


def assert_logged_in(rig, login):
    assert login.logged_in, "the login should have run the command\n" + rig.explain(login)
    assert login.exit_status == 0, rig.explain(login)


def assert_refused(rig, login):
    assert not login.logged_in, "the login should have been refused\n" + rig.explain(login)
    assert login.refused, "ssh should say 'Permission denied'\n" + rig.explain(login)
    assert login.exit_status == 255, rig.explain(login)


def assert_code_asked(rig, login):
    assert login.code_prompt_shown, "the code prompt should have come\n" + rig.explain(login)


def test_right_code_logs_in_and_runs_the_command(rig, make_user):
    user = make_user()
    enrolment = enable_mfa(user.name, rig.daemon.socket)

    login = rig.login(user, code=totp(enrolment.secret, offset_steps=1))

    assert_code_asked(rig, login)
    assert_logged_in(rig, login)


def test_session_environment_carries_nothing_of_the_module(rig, make_user):
    user = make_user()
    enrolment = enable_mfa(user.name, rig.daemon.socket)

    login = rig.login(user, code=totp(enrolment.secret, offset_steps=1))

    assert_logged_in(rig, login)
    environment = login.session_environment()
    assert environment.get("USER") == user.name, "env printed nothing?\n" + rig.explain(login)
    leaked = {name: value for name, value in environment.items()
              if "FOTOSTUDIO_AUTH" in name.upper() or "FOTOSTUDIO_AUTH" in value.upper()}
    assert not leaked, f"the session environment holds {sorted(leaked)}\n" + rig.explain(login)


def test_wrong_code_is_refused(rig, make_user):
    user = make_user()
    enrolment = enable_mfa(user.name, rig.daemon.socket)

    login = rig.login(user, code=wrong_code(enrolment.secret))

    assert_code_asked(rig, login)
    assert_refused(rig, login)


def test_right_code_replayed_in_a_second_login_is_refused(rig, make_user):
    user = make_user()
    enrolment = enable_mfa(user.name, rig.daemon.socket)
    code = totp(enrolment.secret, offset_steps=1)
    first = rig.login(user, code=code)
    assert_logged_in(rig, first)

    replay = rig.login(user, code=code)

    assert_code_asked(rig, replay)
    assert_refused(rig, replay)


def test_recovery_code_logs_in_once_and_is_refused_the_second_time(rig, make_user):
    user = make_user()
    enrolment = enable_mfa(user.name, rig.daemon.socket)
    recovery_code = enrolment.recovery_codes[0]

    first = rig.login(user, code=recovery_code)
    assert_code_asked(rig, first)
    assert_logged_in(rig, first)

    second = rig.login(user, code=recovery_code)
    assert_code_asked(rig, second)
    assert_refused(rig, second)


def test_unenrolled_user_logs_in_with_the_password_alone(rig, make_user):
    user = make_user()

    login = rig.login(user)

    assert not login.code_prompt_shown, "no code should be asked\n" + rig.explain(login)
    assert_logged_in(rig, login)


def test_wrong_password_with_the_right_code_is_refused_after_the_code_prompt(rig, make_user):
    # The code prompt comes whatever the password was: its absence would tell an attacker that
    # the password was wrong.
    user = make_user()
    enrolment = enable_mfa(user.name, rig.daemon.socket)

    login = rig.login(user, password=user.password + "-wrong",
                      code=totp(enrolment.secret, offset_steps=1))

    assert_code_asked(rig, login)
    assert_refused(rig, login)


@pytest.mark.parametrize("how", ["stopped", "killed"])
def test_enrolled_user_cannot_log_in_while_the_daemon_is_down(own_rig, make_user, how):
    # Stopped: the daemon ended cleanly. Killed: it died, its socket file may remain with
    # nobody listening. Either way the module must refuse, never let the password alone through.
    user = make_user()
    enrolment = enable_mfa(user.name, own_rig.daemon.socket)
    # With the daemon up, this user and this sshd do work (a recovery code keeps the next
    # TOTP step unused for the attempt below).
    assert_logged_in(own_rig, own_rig.login(user, code=enrolment.recovery_codes[0]))

    if how == "stopped":
        own_rig.daemon.stop()
    else:
        own_rig.daemon.kill()
    login = own_rig.login(user, code=totp(enrolment.secret, offset_steps=1))

    assert_refused(own_rig, login)
