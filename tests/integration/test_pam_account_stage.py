"""The account stage of pam_fotostudio.so: it refuses an enrolled user whose login passed no code
(and no trusted device) on a service the daemon's configuration names (require_code_services,
`sshd` by default), because sshd runs no auth stack at all for a public key alone. It shows the
auth stage's nonce to the daemon without using it up: the session stage redeems it.

Against the real daemon first; fake_listener.py then stands in for a daemon that fails, which
must refuse the login (PAM_PERM_DENIED) rather than ignore it."""
import pytest

from pam_harness import module_line
from support.enrolment import enrol
from support.protocol import Field, MessageType, Status, reply

PERMIT = "account required pam_permit.so"
NEEDS_CODE = ("This account needs a verification code. Log in with keyboard-interactive after "
              "the key (AuthenticationMethods publickey,keyboard-interactive).")


def account_stack(pam, socket_path, service="sshd"):
    """Behind pam_permit, so that a module wrongly ignoring would let the stack succeed."""
    return pam.service(PERMIT, module_line("account", socket_path), name=service)


def full_stack(pam, socket_path, service="sshd"):
    return pam.service(module_line("auth", socket_path), PERMIT,
                       module_line("account", socket_path),
                       module_line("session", socket_path), name=service)


def hexed(*answers):
    return [answer.hex() for answer in answers]


# --- against the real daemon ---

def test_enrolled_user_whose_login_passed_no_code_is_refused_on_sshd_with_the_reason(
        pam, daemon, enrolled):
    result = account_stack(pam, daemon.socket).run(enrolled.user, stage="account",
                                                   service="sshd")

    assert result.account == "PAM_PERM_DENIED", result.stdout
    assert result.errors == [NEEDS_CODE], result.stdout


def test_refusal_in_the_account_stage_shows_nothing_when_the_application_asks_for_silence(
        pam, daemon, enrolled):
    result = account_stack(pam, daemon.socket).run(enrolled.user, stage="account",
                                                   service="sshd", silent=True)

    assert result.account == "PAM_PERM_DENIED", result.stdout
    assert result.errors == [], result.stdout


def test_code_passed_in_the_same_transaction_lets_the_account_stage_pass_and_the_session_open(
        pam, daemon, enrolled):
    result = full_stack(pam, daemon.socket).run(enrolled.user, [enrolled.next_code()],
                                                stage="auth+account+session", service="sshd")

    assert result.auth == "PAM_SUCCESS", result.stdout
    assert result.account == "PAM_SUCCESS", result.stdout
    assert result.errors == [], result.stdout
    # Shown to the daemon, not used up: the session stage still redeems the same nonce.
    assert result.env["after account"] == result.env["after auth"], result.stdout
    assert result.session == "PAM_SUCCESS", result.stdout
    assert result.env["after session"] is None


def test_nonce_carried_to_another_process_passes_the_account_stage_and_still_opens_the_session(
        pam, daemon, enrolled):
    # sshd hands only the PAM environment from its auth child to the monitor.
    full_stack(pam, daemon.socket)
    auth = pam.run(enrolled.user, [enrolled.next_code()], service="sshd")
    proof = [f"FOTOSTUDIO_AUTH={auth.env['after auth']}"]

    account = pam.run(enrolled.user, stage="account", env=proof, service="sshd")
    account_again = pam.run(enrolled.user, stage="account", env=proof, service="sshd")
    session = pam.run(enrolled.user, stage="session", env=proof, service="sshd")
    account_after_session = pam.run(enrolled.user, stage="account", env=proof, service="sshd")

    assert auth.auth == "PAM_SUCCESS", auth.stdout
    assert account.account == account_again.account == "PAM_SUCCESS", account.stdout
    assert session.session == "PAM_SUCCESS", session.stdout
    # Redeemed by the session, the nonce proves nothing any more.
    assert account_after_session.account == "PAM_PERM_DENIED", account_after_session.stdout


def test_made_up_nonce_does_not_pass_the_account_stage(pam, daemon, enrolled):
    result = account_stack(pam, daemon.socket).run(enrolled.user, stage="account",
                                                   service="sshd",
                                                   env=["FOTOSTUDIO_AUTH=" + "0" * 32])

    assert result.account == "PAM_PERM_DENIED", result.stdout
    assert result.errors == [NEEDS_CODE], result.stdout


def test_nonce_of_another_user_does_not_pass_the_account_stage(pam, daemon, enrolled,
                                                               make_user):
    other = make_user()
    theirs = enrol(daemon.socket, other.name)
    full_stack(pam, daemon.socket)
    auth = pam.run(other.name, [theirs.next_code()], service="sshd")
    assert auth.auth == "PAM_SUCCESS", auth.stdout

    result = pam.run(enrolled.user, stage="account", service="sshd",
                     env=[f"FOTOSTUDIO_AUTH={auth.env['after auth']}"])

    assert result.account == "PAM_PERM_DENIED", result.stdout


def test_user_without_mfa_and_unknown_name_are_ignored_by_the_account_stage(pam, daemon, user,
                                                                            unknown_name):
    # Two stacks pin the return code down to PAM_IGNORE: alone, libpam finds no module that
    # said yes (PAM_PERM_DENIED); behind pam_permit, the stack succeeds.
    pam.service(module_line("account", daemon.socket), name="alone")
    account_stack(pam, daemon.socket)

    for name in (user.name, unknown_name):
        alone = pam.run(name, stage="account", service="alone")
        behind_permit = pam.run(name, stage="account", service="sshd")

        assert alone.account == "PAM_PERM_DENIED", alone.stdout
        assert behind_permit.account == "PAM_SUCCESS", behind_permit.stdout
        assert alone.errors == behind_permit.errors == []


def test_enrolled_user_on_a_service_that_does_not_require_a_code_passes_the_account_stage(
        pam, daemon, enrolled):
    # The default require_code_services is sshd alone; "fotostudio-test" is not in it.
    result = pam.service(module_line("account", daemon.socket)).run(enrolled.user,
                                                                    stage="account")

    assert result.account == "PAM_SUCCESS", result.stdout
    assert result.errors == []


@pytest.mark.parametrize("service", ["sudo", "su"])
def test_sudo_and_su_never_need_a_code_in_the_account_stage_even_when_the_config_names_them(
        pam, configured_daemon, user, service):
    # sudo and su run inside a session that already passed its login; their own auth stack
    # decides what they ask.
    daemon = configured_daemon(f"require_code_services = sshd {service}\n")
    enrol(daemon.socket, user.name)
    pam.service(module_line("account", daemon.socket), name=service)

    result = pam.run(user.name, stage="account", service=service)

    assert result.account == "PAM_SUCCESS", result.stdout


def test_the_config_can_require_the_code_on_another_service(pam, configured_daemon, user):
    daemon = configured_daemon("require_code_services = sshd login\n")
    enrol(daemon.socket, user.name)
    account_stack(pam, daemon.socket, service="login")

    result = pam.run(user.name, stage="account", service="login")

    assert result.account == "PAM_PERM_DENIED", result.stdout


# --- with a stand-in for the daemon ---

def test_account_check_names_the_user_the_service_the_nonce_and_sshds_auth_info(
        pam, user, fake_listener):
    listener = fake_listener(*hexed(reply(Status.OK)), record=True)
    account_stack(pam, listener.socket)
    key_info = "publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyBlobForTheTests0123\n"

    result = pam.run(user.name, stage="account", service="sshd", rhost="198.51.100.7",
                     env=["FOTOSTUDIO_AUTH=c0ffee", f"SSH_AUTH_INFO_0={key_info}"])

    assert result.account == "PAM_SUCCESS", result.stdout
    [(message_type, fields)] = listener.requests()
    assert message_type == MessageType.ACCOUNT_CHECK
    assert fields == {Field.USER: user.name, Field.SERVICE: "sshd", Field.NONCE: "c0ffee",
                      Field.AUTH_INFO: key_info}


def test_a_value_that_is_no_nonce_is_not_sent_as_one(pam, user, fake_listener):
    listener = fake_listener(*hexed(reply(Status.OK)), record=True)
    account_stack(pam, listener.socket)

    result = pam.run(user.name, stage="account", service="sshd",
                     env=["FOTOSTUDIO_AUTH=ab cd;LD_PRELOAD=x"])

    assert result.account == "PAM_SUCCESS", result.stdout
    [(_, fields)] = listener.requests()
    assert Field.NONCE not in fields


def test_refusal_without_a_sentence_still_tells_the_user_why(pam, user, fake_listener):
    listener = fake_listener(*hexed(reply(Status.REJECTED)))

    result = account_stack(pam, listener.socket).run(user.name, stage="account",
                                                     service="sshd")

    assert result.account == "PAM_PERM_DENIED", result.stdout
    assert len(result.errors) == 1 and "verification code" in result.errors[0], result.stdout


def test_daemon_sentence_in_the_account_stage_reaches_the_terminal_only_as_printable_text(
        pam, user, fake_listener):
    listener = fake_listener(*hexed(reply(Status.REJECTED, "Needs\x1b[2J a code\n" + "x" * 500)))

    result = account_stack(pam, listener.socket).run(user.name, stage="account",
                                                     service="sshd")

    assert result.account == "PAM_PERM_DENIED", result.stdout
    [shown] = result.errors
    assert shown.startswith("Needs?[2J a code?xxx") and shown.endswith("..."), shown
    assert len(shown.encode()) <= 300


@pytest.mark.parametrize("answers", [
    pytest.param(["silent"], id="no-answer"),
    pytest.param(hexed(b"not a message at all"), id="garbage"),
    pytest.param(hexed(reply(Status.INTERNAL_ERROR, "database is locked")), id="internal-error"),
    pytest.param(hexed(reply(Status.BAD_REQUEST, "missing field")), id="bad-request"),
    pytest.param(hexed(reply(Status.PERMISSION_DENIED)), id="permission-denied"),
    pytest.param(hexed(reply(Status.CODE_REQUIRED)), id="code-required-is-not-an-answer"),
    pytest.param(hexed(reply(Status.TRUSTED, nonce="ab12")), id="trusted-is-not-an-answer"),
    pytest.param(hexed(reply(Status.LOCKED, "locked")), id="locked-is-not-an-answer"),
])
def test_a_daemon_that_fails_in_the_account_stage_refuses_the_login(pam, user, fake_listener,
                                                                    answers):
    listener = fake_listener(*answers)
    pam.service(PERMIT, module_line("account", listener.socket, timeout=500), name="sshd")

    result = pam.run(user.name, stage="account", service="sshd")

    assert result.account == "PAM_PERM_DENIED", result.stdout


def test_account_stage_refuses_the_login_when_the_daemon_is_down_and_logs_why(pam, user):
    pam.service(PERMIT, module_line("account", "/nonexistent/fotoauthd/socket"), name="sshd")

    result = pam.run(user.name, stage="account", service="sshd", capture_log=True)

    assert result.account == "PAM_PERM_DENIED", result.stdout
    lines = [line for line in result.log if "pam_fotostudio(" in line]
    assert len(lines) == 1 and "AccountCheck failed: cannot connect" in lines[0], result.log


def test_account_stage_leaves_the_nonce_for_the_session_stage_even_when_it_refuses(
        pam, user, fake_listener):
    listener = fake_listener(*hexed(reply(Status.REJECTED, "no")))
    account_stack(pam, listener.socket)

    result = pam.run(user.name, stage="account", service="sshd",
                     env=["FOTOSTUDIO_AUTH=" + "ab" * 16])

    assert result.account == "PAM_PERM_DENIED", result.stdout
    assert result.env["after account"] == "ab" * 16
