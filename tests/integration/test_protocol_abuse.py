"""The wire protocol used directly instead of through the PAM module: an ordinary local user
speaking it for someone else or guessing its own codes, and many processes racing one code.

A user speaks with tests/support/protocol.py in a python3 run under runuser; the racing processes
run as root, as the PAM module in sshd would."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pam_harness import module_line
from support.enrolment import enrol, unused_code
from support.protocol import Field, MessageType, Status, request

TESTS = Path(__file__).resolve().parents[1]

# Runs requests given as JSON [[TYPE, {FIELD: value}], ...] and prints their statuses as JSON.
SPEAKER = """
import json, sys
sys.path.insert(0, sys.argv[1])
from support.protocol import Field, MessageType, request
answers = []
for kind, fields in json.loads(sys.argv[3]):
    reply = request(sys.argv[2], MessageType[kind], {Field[k]: v for k, v in fields.items()})
    answers.append(reply.status.name)
print(json.dumps(answers))
"""


def speak_as(account, socket_path, requests):
    """The statuses the daemon answers `account` (a TestUser) to each request, in order."""
    result = subprocess.run(
        ["runuser", "-u", account.name, "--", "/usr/bin/python3", "-c", SPEAKER, str(TESTS),
         str(socket_path), json.dumps(requests)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def requests_about(victim, code="123456"):
    """Every request that names a user, aimed at `victim`, as a local user could send them."""
    return [
        ["PREAUTH", {"USER": victim, "SERVICE": "sshd"}],
        ["AUTH_QUERY", {"USER": victim, "SERVICE": "sshd"}],
        ["AUTH_VERIFY", {"USER": victim, "SERVICE": "sshd", "CODE": code}],
        ["SESSION_OPEN", {"USER": victim, "NONCE": "0" * 32}],
        ["ENROL_BEGIN", {"USER": victim, "MODE": "always"}],
        ["ENROL_BEGIN", {"USER": victim, "MODE": "always", "CODE": code}],
        ["ENROL_CONFIRM", {"USER": victim, "CODE": code}],
        ["STATUS", {"USER": victim}],
        ["UNLOCK", {"USER": victim}],
        ["ACCOUNT_CHECK", {"USER": victim, "SERVICE": "sshd"}],
        ["DEVICES", {"USER": victim}],
        ["FORGET_DEVICE", {"USER": victim}],
        ["SET_MODE", {"USER": victim, "MODE": "new-device", "CODE": code}],
        ["PASSWORD_CHANGE_CHECK", {"USER": victim, "SERVICE": "passwd"}],
        ["PASSWORD_CHANGED", {"USER": victim, "SERVICE": "passwd"}],
        ["HISTORY", {"USER": victim}],
        ["REGENERATE_CODES", {"USER": victim, "CODE": code}],
        ["DISABLE_MFA", {"USER": victim, "CODE": code}],
        ["DISABLE_MFA", {"USER": victim, "TEXT": "because"}],
        ["SET_EMAIL", {"USER": victim, "EMAIL": "thief@example.org", "CODE": code}],
    ]


def test_a_local_user_can_do_nothing_for_another_account(daemon, make_user):
    mallory, victim = make_user(), make_user()
    enrolled = enrol(daemon.socket, victim.name)
    right = enrolled.next_code()

    answers = speak_as(mallory, daemon.socket, requests_about(victim.name, right)
                       + requests_about("root", right))

    kinds = [kind for kind, _ in requests_about(victim.name) + requests_about("root")]
    allowed = {kind: answer for kind, answer in zip(kinds, answers)
               if answer != "PERMISSION_DENIED"}
    assert allowed == {}, allowed
    # Nothing changed for the victim: still enrolled, ten codes, and the right code still works.
    status = request(daemon.socket, MessageType.STATUS, {Field.USER: victim.name})
    assert status.get(Field.ENROLLED) == 1 and status.get(Field.CODES_LEFT) == 10
    assert request(daemon.socket, MessageType.AUTH_VERIFY,
                   {Field.USER: victim.name, Field.SERVICE: "sshd",
                    Field.CODE: right}).status == Status.OK


def test_a_local_user_cannot_use_the_root_only_requests_even_for_itself(daemon, make_user):
    mallory = make_user()

    answers = speak_as(mallory, daemon.socket, [
        ["LOCKOUTS", {}],
        ["UNLOCK", {"USER": mallory.name}],
        ["UNBLOCK", {"REMOTE_HOST": "198.51.100.7"}],
        ["PASSWORD_CHANGED", {"USER": mallory.name, "SERVICE": "passwd"}],
    ])

    assert answers[:3] == ["PERMISSION_DENIED"] * 3, answers
    # PasswordChanged is root only (docs/protocol.md); from the user it must not end sessions.
    assert answers[3] == "PERMISSION_DENIED", answers


WRONG = "000000"

GUESSES = {
    "AuthVerify": ["AUTH_VERIFY", {"SERVICE": "sshd", "CODE": WRONG}],
    "SetMode": ["SET_MODE", {"MODE": "new-device", "CODE": WRONG}],
    "RegenerateCodes": ["REGENERATE_CODES", {"CODE": WRONG}],
    "DisableMfa": ["DISABLE_MFA", {"CODE": WRONG}],
    "SetEmail": ["SET_EMAIL", {"EMAIL": "me@example.org", "CODE": WRONG}],
    "EnrolBegin with a code": ["ENROL_BEGIN", {"MODE": "always", "CODE": WRONG}],
}


@pytest.mark.parametrize("guess", list(GUESSES.values()), ids=list(GUESSES))
def test_a_local_users_own_guesses_count_against_the_code_limit(limited_daemon, make_user,
                                                                guess):
    daemon = limited_daemon("code_attempts = 1\nlock_duration = 600\n")
    me = make_user()
    enrolled = enrol(daemon.socket, me.name)
    assert WRONG != enrolled.next_code() or pytest.skip("the wrong code happens to be right")
    kind, fields = guess

    answers = speak_as(me, daemon.socket, [
        [kind, {"USER": me.name, **fields}],
        ["AUTH_VERIFY", {"USER": me.name, "SERVICE": "sshd", "CODE": enrolled.next_code()}],
    ])

    assert answers[0] in ("REJECTED", "LOCKED"), answers
    assert answers[1] in ("LOCKED", "RATE_LIMITED"), (
        f"one wrong code through {kind} did not count: {answers}")


def test_a_screen_locker_login_meets_the_lock_its_user_earned_through_the_protocol(
        public_pam, limited_daemon, make_user):
    daemon = limited_daemon("code_attempts = 2\nlock_duration = 600\n")
    me = make_user()
    enrolled = enrol(daemon.socket, me.name)
    wrong = unused_code(enrolled.secret)
    speak_as(me, daemon.socket, [["AUTH_VERIFY", {"USER": me.name, "CODE": wrong}]] * 2)
    public_pam.service(module_line("auth", daemon.socket))

    result = public_pam.run(me.name, [enrolled.next_code()], as_user=me.name)

    assert result.auth == "PAM_MAXTRIES", result.stdout


def test_empty_remote_host_from_root_is_no_shared_source(limited_daemon, make_user):
    daemon = limited_daemon("login_source_attempts = 1\n")
    users = [make_user() for _ in range(3)]

    answers = [request(daemon.socket, MessageType.PREAUTH,
                       {Field.USER: u.name, Field.SERVICE: "sshd", Field.REMOTE_HOST: ""}).status
               for u in users]

    assert answers == [Status.OK] * 3


# --- racing one code ---

RACER = """
import socket, sys
sys.path.insert(0, sys.argv[1])
from support.protocol import Field, MessageType, request
ok = 0
for _ in range(int(sys.argv[5])):
    reply = request(sys.argv[2], MessageType.AUTH_VERIFY,
                    {Field.USER: sys.argv[3], Field.SERVICE: "sshd", Field.CODE: sys.argv[4]},
                    timeout=60)
    ok += reply.status.name == "OK"
print(ok)
"""

RACE = "code_attempts = 100000\nlogin_user_attempts = 100000\nlogin_source_attempts = 100000\n"


def race(daemon, user, code, processes=8, total=1000):
    """total AuthVerify requests with the same code from `processes` root processes at once;
    the number answered Ok."""
    each = [total // processes + (1 if i < total % processes else 0) for i in range(processes)]
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(TESTS), str(daemon.socket),
                                user, code, str(n)], stdout=subprocess.PIPE, text=True)
              for n in each]
    counts = []
    for racer in racers:
        out, _ = racer.communicate(timeout=240)
        assert racer.returncode == 0
        counts.append(int(out))
    return sum(counts)


def test_one_totp_code_sent_1000_times_by_8_processes_is_accepted_exactly_once(limited_daemon,
                                                                              make_user):
    daemon = limited_daemon(RACE)
    user = make_user()
    enrolled = enrol(daemon.socket, user.name)

    assert race(daemon, user.name, enrolled.next_code()) == 1


def test_one_recovery_code_sent_1000_times_by_8_processes_is_accepted_exactly_once(
        limited_daemon, make_user):
    daemon = limited_daemon(RACE)
    user = make_user()
    enrolled = enrol(daemon.socket, user.name)

    assert race(daemon, user.name, enrolled.recovery_codes[0]) == 1
    status = request(daemon.socket, MessageType.STATUS, {Field.USER: user.name})
    assert status.get(Field.CODES_LEFT) == 9


@pytest.mark.parametrize("which", ["totp", "recovery"])
def test_sixteen_logins_released_together_with_one_code_let_exactly_one_in(pam, limited_daemon,
                                                                           make_user, which):
    daemon = limited_daemon(RACE)
    user = make_user()
    enrolled = enrol(daemon.socket, user.name)
    code = enrolled.next_code() if which == "totp" else enrolled.recovery_codes[3]
    pam.service(module_line("auth", daemon.socket, timeout=20000))

    held = [pam.start(user.name) for _ in range(16)]
    for transaction in held:
        assert transaction.wait_for_prompt() is not None, "".join(transaction.lines)
    for transaction in held:
        transaction.answer(code)
    results = [transaction.finish() for transaction in held]

    outcomes = sorted(result.auth for result in results)
    assert outcomes == ["PAM_AUTH_ERR"] * 15 + ["PAM_SUCCESS"], outcomes
