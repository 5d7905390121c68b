"""What pam_fotostudio.so writes to syslog: why it failed, once, and never a code, a password
typed at the wrong prompt, or a login name that is not an account (it may be a password typed
into the name field). The driver runs with a private /dev/log that the test reads."""
import subprocess

from pam_harness import module_line
from support.enrolment import unused_code
from support.protocol import Status, reply


def module_lines(result):
    return [line for line in result.log if "pam_fotostudio(" in line]


def test_unknown_login_name_is_never_logged(pam, daemon, unknown_name):
    # It reaches the module's debug lines (Preauth, AuthQuery) like any other name, so that
    # nothing it does differs from a user without MFA; the name itself must never appear.
    result = pam.service(module_line("auth", daemon.socket, "debug")).run(unknown_name,
                                                                          capture_log=True)

    assert result.auth == "PAM_PERM_DENIED"  # the module ignored it and nothing else said yes
    lines = module_lines(result)
    assert any("AuthQuery: not-enrolled" in line for line in lines), result.log
    assert not any(unknown_name in line for line in result.log), result.log


def test_unknown_login_name_refused_by_the_limits_is_never_logged(pam, limited_daemon,
                                                                   unknown_name):
    limited = limited_daemon("login_user_attempts = 1\n")
    pam.service(module_line("auth", limited.socket, "debug"))
    pam.run(unknown_name, rhost="198.51.100.30")

    result = pam.run(unknown_name, rhost="198.51.100.31", capture_log=True)

    assert result.auth == "PAM_MAXTRIES", result.stdout
    assert any("too many attempts" in line for line in module_lines(result)), result.log
    assert not any(unknown_name in line for line in result.log), result.log


def test_wrong_code_is_logged_with_the_user_but_without_the_code(pam, daemon, enrolled):
    code = unused_code(enrolled.secret)

    result = pam.service(module_line("auth", daemon.socket, "debug")).run(
        enrolled.user, [code], capture_log=True)

    assert result.auth == "PAM_AUTH_ERR"
    lines = module_lines(result)
    assert any("wrong or already used code" in line and enrolled.user in line
               for line in lines), result.log
    assert not any(code in line for line in result.log), result.log


def test_accepted_recovery_code_is_not_logged(pam, daemon, enrolled):
    code = enrolled.recovery_codes[0]

    result = pam.service(module_line("auth", daemon.socket, "debug")).run(
        enrolled.user, [code], capture_log=True)

    assert result.auth == "PAM_SUCCESS"
    normalized = code.replace("-", "").lower()
    assert not any(code in line or normalized in line.lower() for line in result.log)


def test_password_at_the_code_prompt_logs_the_sshd_hint_but_not_the_password(pam, daemon,
                                                                            enrolled):
    password = enrolled.next_code()
    subprocess.run(["chpasswd"], input=f"{enrolled.user}:{password}\n", text=True, check=True)

    result = pam.service("auth required pam_unix.so", module_line("auth", daemon.socket)).run(
        enrolled.user, [password, password], capture_log=True)

    assert result.auth == "PAM_AUTH_ERR"
    assert any("KbdInteractiveAuthentication" in line for line in module_lines(result)), \
        result.log
    assert not any(password in line for line in result.log), result.log


def test_unreachable_daemon_is_logged_with_the_reason(pam, user):
    result = pam.service(module_line("auth", "/nonexistent/fotoauthd/socket")).run(
        user.name, capture_log=True)

    assert result.auth == "PAM_AUTHINFO_UNAVAIL"
    lines = module_lines(result)
    assert len(lines) == 1 and "cannot connect to fotoauthd" in lines[0], result.log


def test_silent_daemon_is_logged_as_a_timeout(pam, user, fake_listener):
    listener = fake_listener("silent")

    result = pam.service(module_line("auth", listener.socket, timeout=300)).run(
        user.name, capture_log=True)

    assert result.auth == "PAM_AUTHINFO_UNAVAIL"
    assert any("did not answer in time" in line for line in module_lines(result)), result.log


def test_untrusted_listener_is_logged_with_its_uid(pam, user, fake_listener):
    impostor = fake_listener(reply(Status.NOT_ENROLLED).hex(), owner=user)

    result = pam.service(module_line("auth", impostor.socket)).run(user.name, capture_log=True)

    assert result.auth == "PAM_AUTHINFO_UNAVAIL"
    assert any("not owned by the daemon account" in line and f"uid {user.uid}" in line
               for line in module_lines(result)), result.log


def test_internal_error_is_logged_with_the_daemons_sentence(pam, user, fake_listener):
    listener = fake_listener(reply(Status.INTERNAL_ERROR, "database is locked").hex())

    result = pam.service(module_line("auth", listener.socket)).run(user.name, capture_log=True)

    assert result.auth == "PAM_AUTHINFO_UNAVAIL"
    assert any("internal-error" in line and "database is locked" in line
               for line in module_lines(result)), result.log


def test_control_characters_from_the_daemon_never_reach_the_log(pam, user, fake_listener):
    # A sentence with a newline could forge a second, innocent-looking log line.
    forged = "db broken\nsshd[1]: Accepted password for root"
    listener = fake_listener(reply(Status.INTERNAL_ERROR, forged).hex())

    result = pam.service(module_line("auth", listener.socket)).run(user.name, capture_log=True)

    assert result.auth == "PAM_AUTHINFO_UNAVAIL"
    assert any("db broken?sshd[1]" in line for line in module_lines(result)), result.log


def test_bad_option_is_logged_by_name(pam, daemon, user):
    result = pam.service(module_line("auth", daemon.socket, "timeout=soon")).run(
        user.name, capture_log=True)

    assert result.auth == "PAM_SERVICE_ERR"
    assert any("timeout=soon" in line for line in module_lines(result)), result.log


def test_account_stage_refusal_is_logged_with_the_user_and_the_reason(pam, daemon, enrolled):
    result = pam.service(module_line("account", daemon.socket), name="sshd").run(
        enrolled.user, stage="account", service="sshd", capture_log=True)

    assert result.account == "PAM_PERM_DENIED"
    lines = module_lines(result)
    assert len(lines) == 1, result.log
    assert "passed no verification code" in lines[0] and enrolled.user in lines[0], result.log


def test_trusted_answer_without_a_nonce_is_logged_as_the_daemons_fault(pam, user,
                                                                      fake_listener):
    listener = fake_listener(reply(Status.TRUSTED).hex())

    result = pam.service(module_line("auth", listener.socket)).run(user.name, capture_log=True)

    assert result.auth == "PAM_AUTHINFO_UNAVAIL"
    assert any("answered trusted to AuthQuery" in line and "no nonce" in line
               for line in module_lines(result)), result.log
