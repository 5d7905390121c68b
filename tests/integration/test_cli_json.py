"""`fotoauthctl --json` for status, history, devices and lockouts, against the real fotoauthd.

Each listing must be one JSON object on stdout that Python's json module reads, with nothing else
on stdout or stderr, and its values must be what the daemon holds: the Status answer's fields as
the daemon sends them, history entries made by logins sent as sshd's PAM stack sends them, a
device trusted by a real login with a real key, a lock made by wrong codes. Verbs that change
something take no --json (exit 2, nothing done).
"""
import json
import os
import subprocess
import time

import pytest

from support.daemon import Daemon
from support.enrolment import enrol, status, unused_code
from support.paths import FOTOAUTHCTL
from support.protocol import Field, MessageType, Status, request

ADDRESS = "198.51.100.7"
BLOCKED_ADDRESS = "198.51.100.9"
CODE_ATTEMPTS = 5    # fotoauthd's default code_attempts: the 5th wrong code locks
SOURCE_ATTEMPTS = 5  # default login_source_attempts per minute
DAY = 86400
TRUSTED_DEVICE_DAYS = 90  # fotoauthd's default trusted_device_days
HISTORY_KEYS = ["at", "event", "service", "source", "detail", "country", "client", "unusual",
                "verified"]
WHAT_HAPPENED = HISTORY_KEYS[1:5]  # event, service, source, detail


def ctl(socket, *args, as_user=None):
    command = [str(FOTOAUTHCTL), "--socket", str(socket), *args]
    if as_user:
        command = ["runuser", "-u", as_user, "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=30,
                          env={**os.environ, "TZ": "UTC"})


def ctl_json(daemon, *args, as_user=None):
    """The object printed by `fotoauthctl --json ARGS`, which must succeed silently."""
    result = ctl(daemon.socket, "--json", *args, as_user=as_user)
    assert result.returncode == 0, (result.stdout, result.stderr, daemon.log())
    assert result.stderr == ""
    assert result.stdout.endswith("}\n") and result.stdout.count("\n") == 1, result.stdout
    return json.loads(result.stdout)


def ssh_login(daemon, user, code, service="sshd", extra=None):
    """What pam_fotostudio sends, as root, for a code typed at the prompt of service, and when it
    passed, what its session stage sends with the nonce (fotoauthd records the login then)."""
    login = {Field.USER: user, Field.SERVICE: service, Field.REMOTE_HOST: ADDRESS,
             **(extra or {})}
    verified = request(daemon.socket, MessageType.AUTH_VERIFY, {**login, Field.CODE: code})
    if verified.status == Status.OK:
        opened = request(daemon.socket, MessageType.SESSION_OPEN,
                         {**login, Field.NONCE: verified.get(Field.NONCE)})
        assert opened.status == Status.OK, opened
    return verified.status


def test_status_of_an_account_without_mfa_has_nulls_and_shows_a_pending_enrolment(daemon, user):
    answer = ctl_json(daemon, "status", as_user=user.name)
    held = status(daemon.socket, user.name)
    assert answer == {"user": user.name, "enrolled": False, "pending": False,
                      "active_since": None, "mode": None, "recovery_codes_left": None,
                      "trusted_devices": answer["trusted_devices"],
                      "alert_address": held.get(Field.EMAIL),
                      "alert_address_source": held.get(Field.EMAIL_SOURCE),
                      "clock_synced": held.get(Field.CLOCK_SYNCED) == 1,
                      "mfa_required": False, "grace_until": None, "connections": [],
                      "recent_activity": [], "history_truncated": False}
    assert answer["alert_address"] == user.name and answer["alert_address_source"] == "local"
    assert answer["trusted_devices"] == held.get(Field.DEVICE_COUNT)

    begun = request(daemon.socket, MessageType.ENROL_BEGIN,
                    {Field.USER: user.name, Field.MODE: "always"})
    assert begun.status == Status.OK
    assert ctl_json(daemon, "status", "--user", user.name)["pending"] is True


def test_status_has_the_daemons_values_and_the_newest_logins(daemon, user):
    enrolment = enrol(daemon.socket, user.name, mode="new-device")
    assert ssh_login(daemon, user.name, unused_code(enrolment.secret)) == Status.REJECTED
    assert ssh_login(daemon, user.name, enrolment.recovery_codes[0]) == Status.OK

    answer = ctl_json(daemon, "status", as_user=user.name)

    held = status(daemon.socket, user.name)
    assert held.get(Field.ENROLLED) == 1
    assert answer["user"] == user.name
    assert answer["enrolled"] is True and answer["pending"] is False
    assert answer["active_since"] == held.get(Field.SINCE)
    assert abs(answer["active_since"] - enrolment.confirmed_at) < 5
    assert answer["mode"] == "new-device" == held.get(Field.MODE)
    assert answer["recovery_codes_left"] == 9 == held.get(Field.CODES_LEFT)
    assert answer["trusted_devices"] == held.get(Field.DEVICE_COUNT)
    assert [[entry[key] for key in WHAT_HAPPENED] for entry in answer["recent_activity"]] == [
        ["login", "sshd", ADDRESS, "recovery code"],
        ["login-refused", "sshd", ADDRESS, "wrong code"],
        ["mfa-enabled", "", "", "mode new-device"],
    ]
    # The connections are the logins only, their markers JSON booleans.
    assert [[entry[key] for key in HISTORY_KEYS[1:]] for entry in answer["connections"]] == [
        ["login", "sshd", ADDRESS, "recovery code", "", "sshd", False, True],
    ]
    assert answer == ctl_json(daemon, "status", "--user", user.name)


def test_history_lists_a_wrong_and_a_right_login_newest_first_with_unix_times(daemon, user):
    before = int(time.time())
    enrolment = enrol(daemon.socket, user.name)
    assert ssh_login(daemon, user.name, unused_code(enrolment.secret)) == Status.REJECTED
    assert ssh_login(daemon, user.name, enrolment.next_code()) == Status.OK
    after = int(time.time())

    answer = ctl_json(daemon, "history", as_user=user.name)

    assert answer["user"] == user.name and answer["truncated"] is False
    entries = answer["entries"]
    assert all(list(entry) == HISTORY_KEYS for entry in entries), entries
    assert [[entry[key] for key in WHAT_HAPPENED] for entry in entries] == [
        ["login", "sshd", ADDRESS, "verification code"],
        ["login-refused", "sshd", ADDRESS, "wrong code"],
        ["mfa-enabled", "", "", "mode always"],
    ]
    assert all(before <= entry["at"] <= after for entry in entries), (entries, before, after)
    assert entries[0]["at"] >= entries[1]["at"] >= entries[2]["at"]
    assert ctl_json(daemon, "history", "--user", user.name) == answer


def test_quotes_and_backslashes_from_the_daemon_come_back_unchanged(daemon, user):
    service = 'we"ird\\svc'
    enrolment = enrol(daemon.socket, user.name)
    assert ssh_login(daemon, user.name, unused_code(enrolment.secret),
                     service=service) == Status.REJECTED

    [newest, *_] = ctl_json(daemon, "history", as_user=user.name)["entries"]

    assert newest["event"] == "login-refused"
    assert newest["service"] == service


def test_devices_lists_a_key_trusted_by_a_real_login(daemon, user, tmp_path):
    enrolment = enrol(daemon.socket, user.name, mode="new-device")
    assert ctl_json(daemon, "devices", as_user=user.name) == {
        "user": user.name, "devices": [], "truncated": False}

    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True,
                   capture_output=True)
    _, blob, _ = key.with_suffix(".pub").read_text().split()
    fingerprint = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f",
                                  str(key.with_suffix(".pub"))], check=True, capture_output=True,
                                 text=True).stdout.split()[1]
    before = int(time.time())
    assert ssh_login(daemon, user.name, enrolment.next_code(),
                     extra={Field.AUTH_INFO: f"publickey ssh-ed25519 {blob}\n"}) == Status.OK
    after = int(time.time())

    answer = ctl_json(daemon, "devices", as_user=user.name)

    assert answer["user"] == user.name and answer["truncated"] is False
    [device] = answer["devices"]
    assert list(device) == ["id", "kind", "label", "first_used", "last_used", "expires"]
    assert device["kind"] == "ssh-key"
    assert device["label"] == f"ssh-ed25519 {fingerprint}"
    assert before <= device["first_used"] == device["last_used"] <= after
    assert device["expires"] == device["first_used"] + TRUSTED_DEVICE_DAYS * DAY
    assert ctl_json(daemon, "status", as_user=user.name)["trusted_devices"] == 1

    # The id is the one `devices forget` takes.
    forgot = ctl(daemon.socket, "devices", "forget", str(device["id"]), as_user=user.name)
    assert forgot.returncode == 0, forgot
    assert ctl_json(daemon, "devices", as_user=user.name)["devices"] == []


def test_lockouts_lists_a_real_lock_and_a_real_block_with_the_daemons_times(make_user):
    with Daemon() as daemon:  # fotoauthd's default limits, which these locks are about
        locked, visitor = make_user(), make_user()
        enrolment = enrol(daemon.socket, locked.name)
        assert ctl_json(daemon, "lockouts") == {"locks": [], "blocks": [], "truncated": False}

        for _ in range(CODE_ATTEMPTS):
            assert ssh_login(daemon, locked.name, unused_code(enrolment.secret)) == Status.REJECTED
        preauth = {Field.USER: visitor.name, Field.SERVICE: "sshd",
                   Field.REMOTE_HOST: BLOCKED_ADDRESS}
        answers = [request(daemon.socket, MessageType.PREAUTH, preauth).status
                   for _ in range(SOURCE_ATTEMPTS + 1)]
        assert answers[-1] == Status.RATE_LIMITED, daemon.log()
        now = int(time.time())

        answer = ctl_json(daemon, "lockouts")

        locked_answer = request(daemon.socket, MessageType.AUTH_QUERY,
                                {Field.USER: locked.name, Field.SERVICE: "sshd",
                                 Field.REMOTE_HOST: ADDRESS})
        assert locked_answer.status == Status.LOCKED
        assert answer["locks"] == [{"user": locked.name, "channel": "password",
                                    "until": locked_answer.get(Field.LOCKED_UNTIL),
                                    "failures": CODE_ATTEMPTS}]
        [block] = [block for block in answer["blocks"] if block["source"] == BLOCKED_ADDRESS]
        assert block["limit"] == "login-source"
        assert block["attempts"] == SOURCE_ATTEMPTS
        assert now < block["until"] <= now + 120
        assert answer["truncated"] is False
    daemon.cleanup()


@pytest.mark.parametrize("words", [
    ["mfa", "enable"], ["mfa", "mode", "always"], ["mfa", "disable", "--yes"],
    ["recovery-codes", "regenerate"], ["devices", "forget", "--all"], ["unlock", "root"],
    ["unblock", BLOCKED_ADDRESS],
])
def test_verbs_that_change_something_refuse_json_with_exit_2_and_change_nothing(daemon, user,
                                                                              words):
    enrol(daemon.socket, user.name)
    # The root verbs name their object; the others act for the test user.
    target = [] if words[0] in ("unlock", "unblock") else ["--user", user.name]
    result = ctl(daemon.socket, *words, "--json", *target)

    assert result.returncode == 2, result
    assert result.stdout == ""
    assert ("--json only applies to 'status', 'history', 'devices', 'lockouts' and 'email show'"
            in result.stderr)
    held = status(daemon.socket, user.name)
    assert held.get(Field.ENROLLED) == 1 and held.get(Field.CODES_LEFT) == 10


def test_errors_stay_on_stderr_with_their_exit_codes(daemon, user, make_user):
    unreachable = ctl(daemon.dir / "nobody", "--json", "status", as_user=user.name)
    assert unreachable.returncode == 3 and unreachable.stdout == ""
    assert unreachable.stderr

    outsider = make_user()
    not_root = ctl(daemon.socket, "--json", "lockouts", as_user=outsider.name)
    assert not_root.returncode == 2 and not_root.stdout == ""
    assert "'lockouts' is for root only" in not_root.stderr

    others = ctl(daemon.socket, "--json", "history", "--user", user.name, as_user=outsider.name)
    assert others.returncode == 2 and others.stdout == ""
    assert others.stderr
