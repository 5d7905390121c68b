"""Brute-force protection through the real libpam, the real fotoauthd and real accounts: the login
limits per source address and per user, the lock after wrong codes and what it must not block,
and what root does to lift them. The stack is the recommended one (pam_harness,
recommended_auth_lines): preauth, pam_unix, authfail, the code stage.

Each test starts its own daemon with the default limits, raising only those it does not test,
so that it sees exactly the limit its name is about."""
import re
import time

import pytest

from daemon_admin import blocks, locks_of, lockouts, unblock, unlock
from pam_harness import make_ssh_key, module_line, recommended_auth_lines
from support.enrolment import enrol, unused_code
from support.protocol import Field, Status

SOURCE = "198.51.100.7"
PASSWORD_PROMPT = "Password: "
CODE_PROMPT = "Verification code or recovery code: "
WRONG = "Wrong password or verification code."
LOCK_SECONDS = 3600

# Raise what a test does not look at: the login windows for the lock tests, the per-user window
# for the per-source test, and so on.
NO_LOGIN_LIMITS = "login_source_attempts = 1000\nlogin_user_attempts = 1000\n"
NO_USER_LIMIT = "login_user_attempts = 1000\n"


def seen(result):
    """What the person at the prompt sees: return code, prompts and messages. Numbers (seconds
    to wait, times) are blanked: they move with the clock, not with the account."""
    return (result.auth, result.prompts, [re.sub(r"\d+", "N", text) for text in result.errors],
            result.infos)


def recommended(pam, daemon, name=None):
    if name:
        return pam.service(*recommended_auth_lines(daemon.socket), name=name)
    return pam.service(*recommended_auth_lines(daemon.socket))


def lock_with_wrong_codes(pam, user, enrolment, password, **where):
    """Five wrong codes: the fifth locks the channel. Returns the five transactions."""
    wrong = unused_code(enrolment.secret)
    return [pam.run(user.name, [password, wrong], **where) for _ in range(5)]


def assert_locked_message(result):
    assert result.auth == "PAM_MAXTRIES", result.stdout
    assert result.prompts == [], result.stdout
    assert len(result.errors) == 1, result.stdout
    message = result.errors[0]
    assert "locked" in message and "until" in message, message
    assert "fotoauthctl unlock" in message, message


# --- per source address ---

def test_sixth_attempt_from_one_address_within_a_minute_is_refused_before_the_password(
        pam, limited_daemon, user):
    daemon = limited_daemon(NO_USER_LIMIT)
    recommended(pam, daemon)

    allowed = [pam.run(user.name, [user.password], rhost=SOURCE) for _ in range(5)]
    refused = pam.run(user.name, [user.password], rhost=SOURCE)

    # Five, not fewer: preauth and the code stage count one transaction once.
    for result in allowed:
        assert (result.auth, result.prompts) == ("PAM_SUCCESS", [PASSWORD_PROMPT]), result.stdout
    assert refused.auth == "PAM_MAXTRIES", refused.stdout
    assert refused.prompts == [], "refused only after the password was asked: " + refused.stdout
    assert len(refused.errors) == 1 and "wait" in refused.errors[0].lower(), refused.stdout
    assert "locked" not in refused.errors[0].lower(), refused.stdout


def test_another_address_gets_in_while_one_is_blocked(pam, limited_daemon, user):
    daemon = limited_daemon(NO_USER_LIMIT)
    recommended(pam, daemon)
    for _ in range(5):
        pam.run(user.name, [user.password], rhost=SOURCE)
    assert pam.run(user.name, [user.password], rhost=SOURCE).auth == "PAM_MAXTRIES"

    elsewhere = pam.run(user.name, [user.password], rhost="198.51.100.8")

    assert elsewhere.auth == "PAM_SUCCESS", elsewhere.stdout


def test_unblocking_the_address_lets_the_next_attempt_through_at_once(pam, limited_daemon, user):
    daemon = limited_daemon(NO_USER_LIMIT)
    recommended(pam, daemon)
    for _ in range(5):
        pam.run(user.name, [user.password], rhost=SOURCE)
    assert pam.run(user.name, [user.password], rhost=SOURCE).auth == "PAM_MAXTRIES"
    assert any(entry.subject == SOURCE and entry.scope == "login-source"
               for entry in blocks(daemon.socket)), lockouts(daemon.socket)

    cleared = unblock(daemon.socket, SOURCE)
    again = pam.run(user.name, [user.password], rhost=SOURCE)

    assert cleared.status == Status.OK and cleared.get(Field.COUNT) >= 1, cleared
    assert again.auth == "PAM_SUCCESS", again.stdout
    assert not any(entry.subject == SOURCE for entry in blocks(daemon.socket))


def test_a_stack_with_only_the_code_stage_still_applies_the_per_address_limit(
        pam, limited_daemon, user):
    # An older one-line stanza has no preauth line; the code stage then asks the daemon itself.
    daemon = limited_daemon(NO_USER_LIMIT)
    pam.service("auth required pam_permit.so", module_line("auth", daemon.socket))

    allowed = [pam.run(user.name, rhost=SOURCE) for _ in range(5)]
    refused = pam.run(user.name, rhost=SOURCE)

    assert [result.auth for result in allowed] == ["PAM_SUCCESS"] * 5
    assert refused.auth == "PAM_MAXTRIES", refused.stdout
    assert len(refused.errors) == 1 and "wait" in refused.errors[0].lower(), refused.stdout


# --- per user ---

def test_eleventh_attempt_for_one_user_from_several_addresses_is_refused_until_the_window_allows(
        pam, limited_daemon, user):
    # A window of a few seconds instead of ten minutes, so that its end can be seen.
    window = 6
    daemon = limited_daemon(f"login_user_window = {window}\n")
    recommended(pam, daemon)
    sources = [f"198.51.100.{20 + n % 5}" for n in range(10)]  # two each: under 5 per source

    started = time.monotonic()
    allowed = [pam.run(user.name, [user.password], rhost=source) for source in sources]
    refused = pam.run(user.name, [user.password], rhost="198.51.100.40")
    assert time.monotonic() - started < window - 1, "too slow to fill the window in time"

    assert [result.auth for result in allowed] == ["PAM_SUCCESS"] * 10
    assert refused.auth == "PAM_MAXTRIES", refused.stdout
    assert refused.prompts == [], refused.stdout
    # Refused for the rate, not locked: no lock exists, and the message says to wait.
    message = refused.errors[0].lower()
    assert "wait" in message and "locked" not in message, refused.stdout
    assert locks_of(daemon.socket, user.name) == []
    assert any(entry.subject == user.name and entry.scope == "login-user"
               for entry in blocks(daemon.socket)), lockouts(daemon.socket)

    while True:
        retry = pam.run(user.name, [user.password], rhost="198.51.100.41")
        if retry.auth == "PAM_SUCCESS":
            break
        assert retry.auth == "PAM_MAXTRIES", retry.stdout
        assert time.monotonic() - started < window + 5, "still refused long after the window"
        time.sleep(0.25)
    # Refused until the first attempt left the window, not merely for a moment (the daemon may
    # count in whole seconds).
    assert time.monotonic() - started >= window - 1.5


# --- the lock after wrong codes ---

@pytest.mark.parametrize("password_right", [True, False],
                         ids=["after-the-right-password", "after-a-wrong-password"])
def test_five_wrong_codes_lock_the_account_for_an_hour_and_unlock_lets_the_user_back_in(
        pam, limited_daemon, user, password_right):
    # The lock follows wrong codes whether the password before them was right (code stage) or
    # wrong (authfail): a lock after right passwords only would tell which password was right.
    daemon = limited_daemon(NO_LOGIN_LIMITS)
    enrolment = enrol(daemon.socket, user.name)
    recommended(pam, daemon)
    password = user.password if password_right else "not-" + user.password

    misses = lock_with_wrong_codes(pam, user, enrolment, password, rhost=SOURCE)
    [lock] = locks_of(daemon.socket, user.name)
    with_right_password_and_code = pam.run(user.name, [user.password, enrolment.next_code()],
                                           rhost=SOURCE)
    with_wrong_password = pam.run(user.name, ["not-" + user.password], rhost=SOURCE)

    for miss in misses:
        assert (miss.auth, miss.prompts, miss.errors) == (
            "PAM_AUTH_ERR", [PASSWORD_PROMPT, CODE_PROMPT], [WRONG]), miss.stdout
    assert lock.scope == "password" and lock.count == 5, lock
    assert abs(lock.until - (time.time() + LOCK_SECONDS)) < 60, lock
    # Locked means locked whatever the password: the same refusal, before any prompt.
    assert_locked_message(with_right_password_and_code)
    assert seen(with_wrong_password) == seen(with_right_password_and_code)

    lifted = unlock(daemon.socket, user.name)
    back = pam.run(user.name, [user.password, enrolment.next_code()], rhost=SOURCE)

    assert lifted.status == Status.OK and lifted.get(Field.COUNT) == 1, lifted
    assert back.auth == "PAM_SUCCESS", back.stdout
    assert locks_of(daemon.socket, user.name) == []


def test_four_wrong_codes_do_not_lock_the_account(pam, limited_daemon, user):
    daemon = limited_daemon(NO_LOGIN_LIMITS)
    enrolment = enrol(daemon.socket, user.name)
    recommended(pam, daemon)
    wrong = unused_code(enrolment.secret)
    for _ in range(4):
        pam.run(user.name, [user.password, wrong], rhost=SOURCE)

    result = pam.run(user.name, [user.password, enrolment.next_code()], rhost=SOURCE)

    assert result.auth == "PAM_SUCCESS", result.stdout
    assert locks_of(daemon.socket, user.name) == []


def test_console_login_is_not_blocked_by_a_lock_earned_remotely(pam, limited_daemon, user):
    daemon = limited_daemon(NO_LOGIN_LIMITS)
    enrolment = enrol(daemon.socket, user.name)
    recommended(pam, daemon)
    recommended(pam, daemon, name="login")
    lock_with_wrong_codes(pam, user, enrolment, user.password, rhost=SOURCE)
    assert_locked_message(pam.run(user.name, [user.password], rhost=SOURCE))

    console = pam.run(user.name, [user.password, enrolment.next_code()], service="login",
                      tty="tty1")

    assert console.auth == "PAM_SUCCESS", console.stdout
    assert console.prompts == [PASSWORD_PROMPT, CODE_PROMPT]


def test_key_login_is_not_blocked_by_a_lock_earned_on_the_password_path(pam, limited_daemon,
                                                                         user, tmp_path):
    # Anyone who knows the user name can lock the password path; the owner's key still works.
    daemon = limited_daemon(NO_LOGIN_LIMITS)
    enrolment = enrol(daemon.socket, user.name)
    recommended(pam, daemon)
    key = make_ssh_key(tmp_path).auth_info
    lock_with_wrong_codes(pam, user, enrolment, user.password, rhost=SOURCE)
    assert_locked_message(pam.run(user.name, [user.password], rhost=SOURCE))

    with_key = pam.run(user.name, [user.password, enrolment.next_code()], rhost=SOURCE,
                       env=[key])

    assert with_key.auth == "PAM_SUCCESS", with_key.stdout


def test_wrong_codes_on_a_key_login_lock_only_the_key_path(pam, limited_daemon, user, tmp_path):
    daemon = limited_daemon(NO_LOGIN_LIMITS)
    enrolment = enrol(daemon.socket, user.name)
    recommended(pam, daemon)
    key = make_ssh_key(tmp_path).auth_info

    lock_with_wrong_codes(pam, user, enrolment, user.password, rhost=SOURCE, env=[key])
    with_key = pam.run(user.name, [user.password, enrolment.next_code()], rhost=SOURCE,
                       env=[key])
    with_password = pam.run(user.name, [user.password, enrolment.next_code()], rhost=SOURCE)

    assert_locked_message(with_key)
    assert with_password.auth == "PAM_SUCCESS", with_password.stdout
    [lock] = locks_of(daemon.socket, user.name)
    assert lock.scope.startswith("key:ssh-ed25519 "), lock


# --- unknown names ---

def test_unknown_name_and_user_without_mfa_look_the_same_after_wrong_passwords_and_the_user_limit(
        pam, limited_daemon, user, unknown_name):
    daemon = limited_daemon("login_user_attempts = 3\n")
    recommended(pam, daemon)

    def attempts(name, network):
        # Three wrong passwords from three addresses, then the fourth refused for the name.
        return [seen(pam.run(name, ["not-the-password"], rhost=f"{network}.{host}"))
                for host in range(1, 5)]

    unknown = attempts(unknown_name, "198.51.100")
    existing = attempts(user.name, "203.0.113")

    assert unknown == existing
    assert [outcome[0] for outcome in unknown] == ["PAM_AUTH_ERR"] * 3 + ["PAM_MAXTRIES"]
    assert unknown[0][1:] == ([PASSWORD_PROMPT], [], [])


def test_unknown_name_and_user_without_mfa_look_the_same_when_their_address_is_blocked(
        pam, limited_daemon, user, unknown_name):
    daemon = limited_daemon(NO_USER_LIMIT)
    recommended(pam, daemon)

    def attempts(name, source):
        return [seen(pam.run(name, ["not-the-password"], rhost=source)) for _ in range(6)]

    unknown = attempts(unknown_name, "198.51.100.50")
    existing = attempts(user.name, "198.51.100.51")

    assert unknown == existing
    assert [outcome[0] for outcome in unknown] == ["PAM_AUTH_ERR"] * 5 + ["PAM_MAXTRIES"]


# --- who counts where ---

def test_attempts_of_an_ordinary_user_count_under_its_uid_and_never_block_the_address_it_names(
        public_pam, limited_daemon, user, make_user):
    # A program running as an ordinary user (a screen locker, a setuid-less tool) can set
    # PAM_RHOST to anything; if the daemon believed it, anyone could block any address.
    daemon = limited_daemon()
    public_pam.service("auth required pam_permit.so", module_line("auth", daemon.socket))
    other = make_user()

    own = [public_pam.run(user.name, rhost=SOURCE, as_user=user.name) for _ in range(6)]
    from_root = public_pam.run(other.name, rhost=SOURCE)

    # Counted, under the caller's own uid: the sixth is refused all the same.
    assert [result.auth for result in own] == ["PAM_SUCCESS"] * 5 + ["PAM_MAXTRIES"], \
        [result.stdout for result in own]
    assert from_root.auth == "PAM_SUCCESS", from_root.stdout
    assert not any(entry.subject == SOURCE for entry in blocks(daemon.socket)), \
        lockouts(daemon.socket)


# --- concurrency ---

def test_fifty_parallel_wrong_codes_for_one_user_count_fifty_and_lock_once(pam, limited_daemon,
                                                                          user):
    # All fifty transactions are held at the code prompt and answered at once, so that their
    # wrong codes reach the daemon together; a counter that lost updates would count fewer.
    daemon = limited_daemon(NO_LOGIN_LIMITS)
    enrolment = enrol(daemon.socket, user.name)
    pam.service(module_line("auth", daemon.socket, timeout=20000))
    wrong = unused_code(enrolment.secret)

    held = [pam.start(user.name, rhost=SOURCE) for _ in range(50)]
    prompts = [transaction.wait_for_prompt() for transaction in held]
    assert prompts == [CODE_PROMPT] * 50, prompts
    for transaction in held:
        transaction.answer(wrong)
    results = [transaction.finish() for transaction in held]

    assert {result.auth for result in results} <= {"PAM_AUTH_ERR", "PAM_MAXTRIES"}, \
        [result.stdout for result in results]
    [lock] = locks_of(daemon.socket, user.name)
    assert lock.count == 50, lock


def test_twenty_parallel_right_logins_of_twenty_users_all_succeed_and_lock_nobody(
        pam, limited_daemon, make_user):
    daemon = limited_daemon()
    users = [make_user() for _ in range(20)]
    enrolments = [enrol(daemon.socket, account.name) for account in users]
    pam.service(*recommended_auth_lines(daemon.socket))

    held = [pam.start(account.name, rhost=f"198.51.100.{100 + n}")
            for n, account in enumerate(users)]
    assert [transaction.wait_for_prompt() for transaction in held] == [PASSWORD_PROMPT] * 20
    for transaction, account in zip(held, users):
        transaction.answer(account.password)
    assert [transaction.wait_for_prompt() for transaction in held] == [CODE_PROMPT] * 20
    codes = [enrolment.next_code() for enrolment in enrolments]
    for transaction, code in zip(held, codes):
        transaction.answer(code)
    results = [transaction.finish() for transaction in held]

    assert [result.auth for result in results] == ["PAM_SUCCESS"] * 20, \
        [result.stdout for result in results if result.auth != "PAM_SUCCESS"]
    assert [entry for entry in lockouts(daemon.socket) if entry.kind == "lock"] == []
