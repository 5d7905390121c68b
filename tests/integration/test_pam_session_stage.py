"""The session stage of pam_fotostudio.so: it redeems the nonce the auth stage left in the PAM
environment (FOTOSTUDIO_AUTH), removes it so the user's shell never sees it, and refuses a
session for an enrolled user who brings no nonce."""
from pam_harness import module_line
from support.enrolment import enrol


def both_stages(pam, daemon):
    return pam.service(module_line("auth", daemon.socket), module_line("session", daemon.socket))


def test_fresh_nonce_opens_the_session_and_is_removed_from_the_environment(pam, daemon,
                                                                           enrolled):
    result = both_stages(pam, daemon).run(enrolled.user, [enrolled.next_code()],
                                          stage="auth+session")

    assert result.auth == "PAM_SUCCESS", result.stdout
    assert result.env["before session"], result.stdout
    assert result.session == "PAM_SUCCESS", result.stdout
    assert result.env["after session"] is None


def test_nonce_carried_to_another_process_opens_the_session_once(pam, daemon, enrolled):
    # sshd authenticates in a child process and opens the session in the monitor, with only the
    # PAM environment carried over: the same hand-over, between two pam-driver processes.
    both_stages(pam, daemon)
    auth = pam.run(enrolled.user, [enrolled.next_code()], stage="auth")
    nonce = auth.env["after auth"]
    assert auth.auth == "PAM_SUCCESS" and nonce, auth.stdout

    first = pam.run(enrolled.user, stage="session", env=[f"FOTOSTUDIO_AUTH={nonce}"])
    second = pam.run(enrolled.user, stage="session", env=[f"FOTOSTUDIO_AUTH={nonce}"])

    assert first.session == "PAM_SUCCESS", first.stdout
    assert first.env["after session"] is None
    assert second.session == "PAM_SESSION_ERR", second.stdout
    assert second.env["after session"] is None


def test_made_up_nonce_does_not_open_a_session(pam, daemon, enrolled):
    result = both_stages(pam, daemon).run(enrolled.user, stage="session",
                                          env=["FOTOSTUDIO_AUTH=" + "0" * 32])

    assert result.session == "PAM_SESSION_ERR", result.stdout
    assert result.env["after session"] is None


def test_nonce_of_another_user_does_not_open_a_session(pam, daemon, enrolled, make_user):
    other = make_user()
    theirs = enrol(daemon.socket, other.name)
    both_stages(pam, daemon)
    auth = pam.run(other.name, [theirs.next_code()], stage="auth")
    assert auth.auth == "PAM_SUCCESS", auth.stdout

    result = pam.run(enrolled.user, stage="session",
                     env=[f"FOTOSTUDIO_AUTH={auth.env['after auth']}"])

    assert result.session == "PAM_SESSION_ERR", result.stdout


def test_session_of_a_user_who_did_not_enrol_is_ignored(pam, daemon, user):
    # As in the auth stage, two stacks pin the module's return code down to PAM_IGNORE: alone it
    # leaves libpam with no module that said yes (PAM_PERM_DENIED), behind pam_permit.so it lets
    # the session open.
    alone = pam.service(module_line("session", daemon.socket)).run(user.name, stage="session")
    behind_permit = pam.service("session required pam_permit.so",
                                module_line("session", daemon.socket)).run(user.name,
                                                                           stage="session")

    assert alone.session == "PAM_PERM_DENIED", alone.stdout
    assert behind_permit.session == "PAM_SUCCESS", behind_permit.stdout


def test_session_of_an_enrolled_user_without_a_nonce_is_refused(pam, daemon, enrolled):
    # For example a publickey-only ssh login, whose auth stack never ran this module.
    result = pam.service("session required pam_permit.so",
                         module_line("session", daemon.socket)).run(enrolled.user,
                                                                    stage="session")

    assert result.session == "PAM_SESSION_ERR", result.stdout


def test_session_fails_closed_when_the_daemon_is_down(pam, daemon, enrolled):
    both_stages(pam, daemon)
    auth = pam.run(enrolled.user, [enrolled.next_code()], stage="auth")
    daemon.kill()

    result = pam.service("session required pam_permit.so",
                         module_line("session", daemon.socket)).run(
        enrolled.user, stage="session", env=[f"FOTOSTUDIO_AUTH={auth.env['after auth']}"])

    assert result.session == "PAM_SESSION_ERR", result.stdout
    assert result.env["after session"] is None
