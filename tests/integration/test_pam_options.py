"""Options on the PAM line. A mistake there fails closed: a typo must not switch MFA off. Every
case runs behind pam_permit.so for a user who did not enrol, so a module that skipped the bad
option and went on would let the stack succeed."""
import pytest

from support.paths import PAM_MODULE


@pytest.mark.parametrize("options", [
    pytest.param("timeout=abc", id="timeout-not-a-number"),
    pytest.param("timeout=0", id="timeout-zero"),
    pytest.param("timeout=-5", id="timeout-negative"),
    pytest.param("timeout=3000ms", id="timeout-with-unit"),
    pytest.param("timeout=99999999999999999999", id="timeout-overflows"),
    pytest.param("timeout=", id="timeout-empty"),
    pytest.param("daemon_user=fstnosuchaccount", id="daemon-user-unknown"),
    pytest.param("debugg", id="unknown-option"),
    pytest.param("socket", id="socket-without-value"),
    pytest.param("socket=", id="socket-empty"),
    pytest.param("socket=run/socket", id="socket-relative"),
    pytest.param("preauth authfail", id="two-modes"),
    pytest.param("preauth preauth", id="mode-twice"),
    pytest.param("pre-auth", id="mode-misspelt"),
    pytest.param("require_key", id="require-key-without-preauth"),
    pytest.param("authfail require_key", id="require-key-with-authfail"),
])
def test_bad_option_fails_closed_in_every_stage(pam, daemon, user, options):
    pam.service(
        "auth required pam_permit.so",
        f"auth required {PAM_MODULE} socket={daemon.socket} {options}",
        "account required pam_permit.so",
        f"account required {PAM_MODULE} socket={daemon.socket} {options}",
        "session required pam_permit.so",
        f"session required {PAM_MODULE} socket={daemon.socket} {options}",
        "password required pam_permit.so",
        f"password required {PAM_MODULE} socket={daemon.socket} {options}")

    auth = pam.run(user.name, stage="auth")
    account = pam.run(user.name, stage="account")
    session = pam.run(user.name, stage="session", env=["FOTOSTUDIO_AUTH=" + "0" * 32])
    password = pam.run(user.name, stage="chauthtok")

    assert auth.auth == "PAM_SERVICE_ERR", auth.stdout
    assert account.account == "PAM_PERM_DENIED", account.stdout
    assert session.session == "PAM_SESSION_ERR", session.stdout
    assert password.chauthtok == "PAM_AUTHTOK_ERR", password.stdout
    # Even a module that cannot work removes the nonce, so that no shell ever sees it.
    assert session.env["after session"] is None


def test_good_options_are_accepted(pam, daemon, user):
    pam.service("auth required pam_permit.so",
                f"auth required {PAM_MODULE} socket={daemon.socket} timeout=60000"
                " daemon_user=root debug")

    assert pam.run(user.name).auth == "PAM_SUCCESS"


def test_mode_is_accepted_in_any_position(pam, daemon, user):
    pam.service("auth required pam_permit.so",
                f"auth required {PAM_MODULE} socket={daemon.socket} debug preauth")

    assert pam.run(user.name).auth == "PAM_SUCCESS"


def test_session_stage_ignores_the_mode_word(pam, daemon, user):
    # A mode means something only for authentication; on a session line it changes nothing.
    pam.service("session required pam_permit.so",
                f"session required {PAM_MODULE} preauth socket={daemon.socket}")

    assert pam.run(user.name, stage="session").session == "PAM_SUCCESS"
