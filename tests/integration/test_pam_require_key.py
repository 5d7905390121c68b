"""The `require_key` option of the preauth line, through the real libpam, the real fotoauthd and
real accounts. The auth block is the shipped etc/pam.d/sshd-fotostudio-keys one (the key replaces
the password: `preauth require_key`, then the code stage), followed by the module's account and
session lines. sshd puts SSH_AUTH_INFO_0 into the PAM environment (pam-driver --env plays its
part): its first line is `publickey TYPE BLOB` when the login's first method was a public key.
Without it, the login is refused before any prompt and before the daemon counts anything."""
import pytest

from daemon_admin import blocks
from pam_harness import CODE_PROMPT, SOURCE, make_ssh_key, module_line, shipped_lines
from support.enrolment import enrol, unused_code

SERVICE = "sshd"
SHIPPED = "sshd-fotostudio-keys"
KEY_REQUIRED = "This server accepts logins only with a public key first."
WRONG = "Wrong password or verification code."


def is_auth_line(line):
    return line.split()[0] == "auth"


def keys_stack(pam, socket_path):
    """The shipped file's auth block, then the module's account and session lines, each after
    pam_permit.so, which stands in for the common-account and common-session the file includes
    (a stack whose only module ignores the user fails)."""
    pam.shipped(SHIPPED, socket_path, name=SERVICE, keep=is_auth_line)
    with open(pam.confdir / SERVICE, "a") as service:
        for kind in ("account", "session"):
            service.write(f"{kind} required pam_permit.so\n{module_line(kind, socket_path)}\n")
    return pam


def log_in(pam, user, answers=(), auth_info=None, **options):
    return pam.run(user.name, list(answers), stage="auth+account+session",
                   env=[auth_info] if auth_info else [], rhost=SOURCE, service=SERVICE,
                   **options)


def assert_refused_without_a_prompt(result):
    assert result.auth == "PAM_AUTH_ERR", result.stdout
    assert result.prompts == [], result.stdout
    assert result.errors == [KEY_REQUIRED], result.stdout
    assert result.env["after auth"] is None, result.stdout
    assert result.account is None and result.session is None, result.stdout


def assert_logged_in(result, prompts):
    assert result.auth == "PAM_SUCCESS", result.stdout
    assert result.prompts == prompts, result.stdout
    assert result.errors == [], result.stdout
    assert result.account == "PAM_SUCCESS", result.stdout
    assert result.session == "PAM_SUCCESS", result.stdout


def test_the_shipped_keys_file_differs_from_the_recommended_one_only_in_its_auth_block():
    recommended = [line.split() for line in shipped_lines("sshd-fotostudio")]
    keys = [line.split() for line in shipped_lines(SHIPPED)]

    assert [line for line in keys if line[0] == "auth"] == [
        ["auth", "requisite", "pam_fotostudio.so", "preauth", "require_key"],
        ["auth", "required", "pam_fotostudio.so"]]
    assert [line for line in keys if line[0] != "auth"] == [
        line for line in recommended if line[0] != "auth"]


# --- without a key first ---

@pytest.mark.parametrize("auth_info", [
    pytest.param(None, id="no-auth-info"),
    pytest.param("SSH_AUTH_INFO_0=password\n", id="password-first"),
    pytest.param("SSH_AUTH_INFO_0=keyboard-interactive\npublickey ssh-ed25519 AAAAC3Nz\n",
                 id="key-second"),
    pytest.param("SSH_AUTH_INFO_0=publickey \n", id="publickey-without-a-key"),
    pytest.param("SSH_AUTH_INFO_0=publickeyssh-ed25519 AAAAC3Nz\n", id="no-space"),
])
def test_a_login_that_did_not_start_with_a_key_is_refused_before_any_prompt(
        pam, daemon, user, auth_info):
    enrolment = enrol(daemon.socket, user.name)

    result = log_in(keys_stack(pam, daemon.socket), user, [enrolment.next_code()],
                    auth_info=auth_info)

    assert_refused_without_a_prompt(result)


def test_refusals_for_want_of_a_key_are_not_counted_by_the_daemon(pam, limited_daemon, user,
                                                                   tmp_path):
    # Two attempts per user and per source: had the refusals been counted, the logins with the
    # key below would meet the limit.
    daemon = limited_daemon("login_user_attempts = 2\nlogin_source_attempts = 2\n")
    keys_stack(pam, daemon.socket)
    key = make_ssh_key(tmp_path)

    refused = [log_in(pam, user) for _ in range(4)]
    blocked_after_refusals = blocks(daemon.socket)
    with_key = [log_in(pam, user, auth_info=key.auth_info) for _ in range(2)]

    for result in refused:
        assert_refused_without_a_prompt(result)
    assert blocked_after_refusals == []
    for result in with_key:
        assert_logged_in(result, [])


def test_the_refusal_is_logged_with_the_sshd_setting_and_without_the_name(pam, daemon, user):
    result = log_in(keys_stack(pam, daemon.socket), user, capture_log=True)

    assert_refused_without_a_prompt(result)
    [line] = [line for line in result.log if "require_key" in line]
    assert "AuthenticationMethods publickey,keyboard-interactive" in line, line
    assert user.name not in line, line


def test_the_refusal_shows_nothing_when_the_application_asks_for_silence(pam, daemon, user):
    result = log_in(keys_stack(pam, daemon.socket), user, silent=True)

    assert (result.auth, result.prompts, result.errors) == ("PAM_AUTH_ERR", [], []), result.stdout


# --- with a key first ---

def test_a_user_without_mfa_logs_in_with_the_key_alone(pam, daemon, user, tmp_path):
    key = make_ssh_key(tmp_path)

    result = log_in(keys_stack(pam, daemon.socket), user, auth_info=key.auth_info)

    assert_logged_in(result, [])


def test_an_enrolled_user_is_asked_for_the_code_after_the_key(pam, daemon, user, tmp_path):
    enrolment = enrol(daemon.socket, user.name)
    keys_stack(pam, daemon.socket)
    key = make_ssh_key(tmp_path)

    right = log_in(pam, user, [enrolment.next_code()], auth_info=key.auth_info)
    wrong = log_in(pam, user, [unused_code(enrolment.secret)], auth_info=key.auth_info)

    assert_logged_in(right, [CODE_PROMPT])
    assert (wrong.auth, wrong.prompts, wrong.errors) == ("PAM_AUTH_ERR", [CODE_PROMPT], [WRONG])


def test_a_trusted_key_of_an_enrolled_user_in_new_device_mode_logs_in_without_a_prompt(
        pam, daemon, user, tmp_path):
    enrolment = enrol(daemon.socket, user.name, mode="new-device")
    keys_stack(pam, daemon.socket)
    key = make_ssh_key(tmp_path)

    first = log_in(pam, user, [enrolment.next_code()], auth_info=key.auth_info)
    second = log_in(pam, user, auth_info=key.auth_info)

    assert_logged_in(first, [CODE_PROMPT])
    assert_logged_in(second, [])
