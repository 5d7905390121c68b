"""End to end: trusted devices (docs/devices.md) over real sshds, with keys made by the test.

The "keys" sshd is the recommended set-up for keys plus a code: `AuthenticationMethods
publickey,keyboard-interactive`, `ExposeAuthInfo yes`, and the shipped
etc/pam.d/sshd-fotostudio-keys; sshd then hands the key that logged in to PAM, and the daemon
knows the device by the key's fingerprint. The "key-alone" sshd lets a public key in by itself
(`AuthenticationMethods publickey`) with the recommended password file etc/pam.d/sshd-fotostudio,
whose account stage must stop enrolled users who passed no code. The "no-key" sshd is the keys
file behind a mistaken `AuthenticationMethods keyboard-interactive`.

Users enrol with `fotoauthctl mfa enable`, as themselves. Enrolment uses up the code of the
current 30-second step, so the first login answers with the next step's code and later ones with
recovery codes: no test waits for the clock.
"""
import pytest

from cli_enrolment import enable_mfa, totp
from client_keys import authorize
from login_rig import SshdSpec, start_multi_rig, stop_multi_rig
from private_sshd import keys_sshd_stack, recommended_sshd_stack

ACCOUNT_STAGE_MESSAGE = "This account needs a verification code"


@pytest.fixture(scope="module")
def rig():
    running = start_multi_rig({
        "keys": SshdSpec(keys_sshd_stack, methods="publickey,keyboard-interactive"),
        "key-alone": SshdSpec(recommended_sshd_stack, methods="publickey"),
        "no-key": SshdSpec(keys_sshd_stack, methods="keyboard-interactive"),
    })
    yield running
    stop_multi_rig(running)


def assert_logged_in(rig, login, what="the login should have run the command"):
    assert login.logged_in, f"{what}\n" + rig.explain(login)
    assert login.exit_status == 0, rig.explain(login)


def assert_refused(rig, login):
    assert not login.logged_in, "the login should have been refused\n" + rig.explain(login)
    assert login.exit_status == 255, rig.explain(login)


def assert_asked(rig, login):
    assert login.code_prompt_shown, "the code should have been asked\n" + rig.explain(login)


def assert_not_asked(rig, login):
    assert not login.prompts, "no prompt at all should have come\n" + rig.explain(login)


def devices_listed(rig, user):
    """`fotoauthctl devices --user NAME`, run as root; fails the test when it fails."""
    result = rig.fotoauthctl("devices", "--user", user.name)
    assert result.returncode == 0, (f"fotoauthctl devices exited {result.returncode}\n"
                                    f"{result.stdout}{result.stderr}\n" + rig.explain())
    return result.stdout


def key_user(rig, make_user, keyring, keys=("a",), mode=None):
    """A user whose authorized_keys lists new keys; enrolled in mode unless it is None."""
    user = make_user()
    made = [keyring.make(name) for name in keys]
    authorize(user.name, made)
    enrolment = enable_mfa(user.name, rig.daemon.socket, mode=mode) if mode else None
    return user, enrolment, made


def test_a_key_that_passed_the_code_is_not_asked_again_and_another_key_is(rig, make_user,
                                                                          keyring):
    user, enrolment, (key_a, key_b) = key_user(rig, make_user, keyring, ("a", "b"), "new-device")

    first = rig.login(user, code=totp(enrolment.secret, offset_steps=1), identity=key_a.path,
                      via="keys")
    assert_asked(rig, first)
    assert_logged_in(rig, first)

    again = rig.login(user, identity=key_a.path, via="keys")
    assert_not_asked(rig, again)
    assert_logged_in(rig, again, "the trusted key should log in without a code")

    other_key = rig.login(user, code=enrolment.recovery_codes[0], identity=key_b.path,
                          via="keys")
    assert_asked(rig, other_key)
    assert_logged_in(rig, other_key)


def test_forgetting_all_devices_makes_the_key_ask_again(rig, make_user, keyring):
    user, enrolment, (key_a,) = key_user(rig, make_user, keyring, mode="new-device")
    first = rig.login(user, code=totp(enrolment.secret, offset_steps=1), identity=key_a.path,
                      via="keys")
    assert_logged_in(rig, first)
    assert key_a.fingerprint in devices_listed(rig, user), rig.explain(first)
    assert_not_asked(rig, rig.login(user, identity=key_a.path, via="keys"))

    forgotten = rig.fotoauthctl("devices", "forget", "--all", "--user", user.name)
    assert forgotten.returncode == 0, (f"fotoauthctl devices forget exited "
                                       f"{forgotten.returncode}\n{forgotten.stdout}"
                                       f"{forgotten.stderr}\n" + rig.explain())
    assert key_a.fingerprint not in devices_listed(rig, user)

    after = rig.login(user, code=enrolment.recovery_codes[0], identity=key_a.path, via="keys")
    assert_asked(rig, after)
    assert_logged_in(rig, after)


def test_always_mode_asks_the_code_from_the_same_key_every_time(rig, make_user, keyring):
    user, enrolment, (key_a,) = key_user(rig, make_user, keyring, mode="always")

    first = rig.login(user, code=totp(enrolment.secret, offset_steps=1), identity=key_a.path,
                      via="keys")
    assert_asked(rig, first)
    assert_logged_in(rig, first)

    for recovery_code in enrolment.recovery_codes[:2]:
        again = rig.login(user, code=recovery_code, identity=key_a.path, via="keys")
        assert_asked(rig, again)
        assert_logged_in(rig, again)


def test_a_key_alone_does_not_let_an_enrolled_user_in(rig, make_user, keyring):
    user, _, (key_a,) = key_user(rig, make_user, keyring, mode="new-device")

    login = rig.login(user, identity=key_a.path, via="key-alone")

    assert_refused(rig, login)
    assert not login.code_prompt_shown, rig.explain(login)
    assert login.refused or ACCOUNT_STAGE_MESSAGE in login.transcript, (
        "ssh should say 'Permission denied' or why\n" + rig.explain(login))


def test_a_key_alone_lets_a_user_without_mfa_in(rig, make_user, keyring):
    user, _, (key_a,) = key_user(rig, make_user, keyring)

    login = rig.login(user, identity=key_a.path, via="key-alone")

    assert_not_asked(rig, login)
    assert_logged_in(rig, login)


def test_a_user_without_mfa_logs_in_with_the_key_alone_on_the_keys_sshd(rig, make_user,
                                                                        keyring):
    user, _, (key_a,) = key_user(rig, make_user, keyring)

    login = rig.login(user, identity=key_a.path, via="keys")

    assert_not_asked(rig, login)
    assert_logged_in(rig, login)


@pytest.mark.parametrize("mode", [None, "new-device"])
def test_the_keys_file_refuses_a_login_without_a_key(rig, make_user, keyring, mode):
    # sshd wrongly allows keyboard-interactive alone: require_key must not let anyone in,
    # enrolled or not, since this stack has no password module.
    user, enrolment, _ = key_user(rig, make_user, keyring, mode=mode)
    code = totp(enrolment.secret, offset_steps=1) if enrolment else None

    login = rig.login(user, code=code, via="no-key")

    assert_refused(rig, login)
