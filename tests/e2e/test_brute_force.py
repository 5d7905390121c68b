"""End to end: the brute-force limits, seen from Debian's ssh client on hosts of their own.

The clients sit in a network namespace made for these tests (client_hosts.py), each with its own
address from 198.51.100.0/24, so that sshd passes that address to PAM as the remote host and the
daemon counts attempts per source as it would for real clients. Each test has a daemon with the
default limits to itself: 5 login attempts per source address per minute, 10 per user per 10
minutes, and a one-hour lock after 5 wrong codes within 5 minutes. The client makes one attempt
per connection (NumberOfPasswordPrompts=1), and each test uses users of its own, so that the
per-user limit of one test never meets another's.

The administrator's side is the real `fotoauthctl`, run as root.
"""
import re
import time

from cli_enrolment import enable_mfa, totp, wrong_code

LOGIN_SOURCE_ATTEMPTS = 5
LOGIN_SOURCE_WINDOW = 60
CODE_ATTEMPTS = 5
WRONG_CODE_MESSAGE = "Wrong password or verification code."
# What the user must read: a blocked source is told to wait; a locked account is told that it is
# locked, until when, and that an administrator can unlock it sooner.
WAIT_MESSAGE = [r"\bwait\b"]
LOCK_MESSAGE = [r"\blocked\b", r"\buntil\b", r"\badministrator\b"]


def assert_logged_in(rig, login):
    assert login.logged_in, "the login should have run the command\n" + rig.explain(login)
    assert login.exit_status == 0, rig.explain(login)


def assert_refused(rig, login):
    assert not login.logged_in, "the login should have been refused\n" + rig.explain(login)
    assert login.exit_status == 255, rig.explain(login)


def assert_refused_before_any_prompt(rig, login, message, what):
    assert_refused(rig, login)
    assert not login.prompts, f"no prompt should come, only {what}\n" + rig.explain(login)
    missing = [word for word in message if not re.search(word, login.transcript, re.I)]
    assert not missing, f"ssh should show {what}, with {missing}\n" + rig.explain(login)


def assert_wrong_code_refused(rig, login):
    assert login.code_prompt_shown, "the code prompt should have come\n" + rig.explain(login)
    assert_refused(rig, login)
    assert WRONG_CODE_MESSAGE in login.transcript, rig.explain(login)


def assert_ctl_succeeded(rig, result):
    assert result.returncode == 0, (f"fotoauthctl {' '.join(result.args[3:])} exited "
                                    f"{result.returncode}\nstdout: {result.stdout}\n"
                                    f"stderr: {result.stderr}\n" + rig.explain())


def test_sixth_attempt_from_one_address_is_refused_before_the_password_until_unblocked(
        rig_with_default_limits, client_network, make_user):
    rig = rig_with_default_limits
    blocked, other = client_network.clients[:2]
    guesser_target = make_user()
    user = make_user()
    enrolment = enable_mfa(user.name, rig.daemon.socket)

    # Five wrong passwords from one address, for an account without MFA: pam_unix alone would
    # let such guessing go on forever.
    first_attempt = time.monotonic()
    for _ in range(LOGIN_SOURCE_ATTEMPTS):
        guess = rig.login(guesser_target, password=guesser_target.password + "-guess",
                          client=blocked)
        assert login_was_tried(guess), rig.explain(guess)

    # The sixth, by another user with the right password, never reaches the password.
    refused = rig.login(user, code=totp(enrolment.secret, offset_steps=1), client=blocked)
    assert_refused_before_any_prompt(rig, refused, WAIT_MESSAGE, "a message to wait")

    # Meanwhile another address of the same host network gets in.
    elsewhere = rig.login(user, code=enrolment.recovery_codes[0], client=other)
    assert_logged_in(rig, elsewhere)

    assert_ctl_succeeded(rig, rig.fotoauthctl("unblock", blocked.address))
    after_unblock = rig.login(user, code=totp(enrolment.secret, offset_steps=1), client=blocked)

    assert_logged_in(rig, after_unblock)
    # Had the window run out by itself, the login above would prove nothing about unblock.
    elapsed = time.monotonic() - first_attempt
    assert elapsed < LOGIN_SOURCE_WINDOW, f"too slow to tell: {elapsed:.0f} s\n" + rig.explain()


def login_was_tried(login):
    """A refused password attempt: the prompt came, and sshd said no."""
    return login.password_prompt_shown and not login.logged_in and login.exit_status == 255


def test_fifth_wrong_code_locks_the_account_until_an_administrator_unlocks_it(
        rig_with_default_limits, client_network, make_user):
    # Each attempt comes from its own address, as from an attacker with many: the per-source
    # limit is not what stops them, the lock is.
    rig = rig_with_default_limits
    sources = iter(client_network.clients)
    user = make_user()
    enrolment = enable_mfa(user.name, rig.daemon.socket)

    for _ in range(CODE_ATTEMPTS):
        wrong = rig.login(user, code=wrong_code(enrolment.secret), client=next(sources))
        assert_wrong_code_refused(rig, wrong)

    locked = rig.login(user, code=totp(enrolment.secret, offset_steps=1), client=next(sources))
    assert_refused_before_any_prompt(rig, locked, LOCK_MESSAGE, "the lock message")

    assert_ctl_succeeded(rig, rig.fotoauthctl("unlock", user.name))
    after_unlock = rig.login(user, code=totp(enrolment.secret, offset_steps=1),
                             client=next(sources))

    assert_logged_in(rig, after_unlock)


def test_wrong_codes_after_a_wrong_password_lock_the_account_alike(
        rig_with_default_limits, client_network, make_user):
    # A lock that only followed a right password would tell an attacker which password was
    # right; so the code is asked after a wrong password too, and a wrong one counts the same.
    rig = rig_with_default_limits
    sources = iter(client_network.clients)
    user = make_user()
    enrolment = enable_mfa(user.name, rig.daemon.socket)

    for _ in range(CODE_ATTEMPTS):
        wrong = rig.login(user, password=user.password + "-wrong",
                          code=wrong_code(enrolment.secret), client=next(sources))
        assert_wrong_code_refused(rig, wrong)

    locked = rig.login(user, code=totp(enrolment.secret, offset_steps=1), client=next(sources))

    assert_refused_before_any_prompt(rig, locked, LOCK_MESSAGE, "the lock message")
