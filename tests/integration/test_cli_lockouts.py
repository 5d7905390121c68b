"""`fotoauthctl lockouts`, `unlock` and `unblock` against the real fotoauthd.

A real lock comes from wrong codes sent to the daemon as the PAM module sends them, a real block
from more login attempts (Preauth) from one address than the limit allows. The CLI must list
both, lift them, and the login must then pass again. The daemon runs with its default limits,
which are what these tests are about: the 5th wrong code within 5 minutes locks the channel for
an hour, and a source may make 5 login attempts per minute. (The `daemon` fixture of this folder
raises them, so these tests start their own.)

The CLI runs with TZ=UTC, so that the times it prints can be compared with the daemon's own
LockedUntil, formatted here by Python.
"""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.daemon import Daemon
from support.enrolment import enrol, unused_code
from support.paths import FOTOAUTHCTL
from support.protocol import Field, MessageType, Status, request

BLOCKED_ADDRESS = "198.51.100.9"
CODE_ATTEMPTS = 5    # default code_attempts: the 5th wrong code locks
SOURCE_ATTEMPTS = 5  # default login_source_attempts per login_source_window (60 s)
# sshd's SSH_AUTH_INFO_0 after a public key login that goes on to keyboard-interactive.
KEY_BLOB = "AAAAC3NzaC1lZDI1NTE5AAAAIFotoStudioTestKeyNotARealKeyForLocks0001"
KEY_AUTH_INFO = f"publickey ssh-ed25519 {KEY_BLOB}\nkeyboard-interactive\n"
NOTHING = "No account is locked and no source is blocked.\n"
TESTS_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture
def daemon():
    """fotoauthd with its default limits, in place of the folder's fixture that raises them."""
    with Daemon() as running:
        yield running
    running.cleanup()


def ctl(daemon, *args, as_user=None, socket=None):
    command = [str(FOTOAUTHCTL), "--socket", str(socket or daemon.socket), *args]
    if as_user:
        command = ["runuser", "-u", as_user, "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=30,
                          env={**os.environ, "TZ": "UTC"})


def ctl_ok(daemon, *args):
    result = ctl(daemon, *args)
    assert result.returncode == 0, (result.stdout, result.stderr, daemon.log())
    assert result.stderr == ""
    return result.stdout


def login_fields(user, address, auth_info=None):
    fields = {Field.USER: user, Field.SERVICE: "sshd", Field.REMOTE_HOST: address}
    if auth_info:
        fields[Field.AUTH_INFO] = auth_info
    return fields


def verify(daemon, user, code, address="192.0.2.10", auth_info=None):
    return request(daemon.socket, MessageType.AUTH_VERIFY,
                   {**login_fields(user, address, auth_info), Field.CODE: code})


def query(daemon, user, address="192.0.2.10", auth_info=None):
    return request(daemon.socket, MessageType.AUTH_QUERY, login_fields(user, address, auth_info))


def preauth(daemon, user, address):
    return request(daemon.socket, MessageType.PREAUTH, login_fields(user, address))


def lock_with_wrong_codes(daemon, enrolment, auth_info=None):
    answers = [verify(daemon, enrolment.user, unused_code(enrolment.secret),
                      auth_info=auth_info).status for _ in range(CODE_ATTEMPTS)]
    assert answers == [Status.REJECTED] * CODE_ATTEMPTS, daemon.log()
    assert query(daemon, enrolment.user, auth_info=auth_info).status == Status.LOCKED


def fill_login_window(daemon, user, address):
    answers = [preauth(daemon, user, address).status for _ in range(SOURCE_ATTEMPTS + 1)]
    assert answers == [Status.OK] * SOURCE_ATTEMPTS + [Status.RATE_LIMITED], daemon.log()


def rows_of(listing, first_column):
    """The table rows whose first column is first_column, split into their columns."""
    rows = []
    for line in listing.splitlines():
        columns = re.split(r"\s{2,}", line.strip())
        if columns[0] == first_column:
            rows.append(columns)
    return rows


def utc_minute(unix_time):
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(unix_time))


def test_lockouts_lists_a_real_lock_and_a_real_blocked_address(daemon, make_user):
    locked = make_user()
    visitor = make_user()
    enrolment = enrol(daemon.socket, locked.name)
    assert ctl_ok(daemon, "lockouts") == NOTHING

    for _ in range(CODE_ATTEMPTS):
        assert verify(daemon, locked.name, unused_code(enrolment.secret)).status == Status.REJECTED
    fill_login_window(daemon, visitor.name, BLOCKED_ADDRESS)
    listing = ctl_ok(daemon, "lockouts")

    [lock] = rows_of(listing, locked.name)
    assert lock[2:] == [str(CODE_ATTEMPTS), "password logins"]
    locked_answer = query(daemon, locked.name)
    assert locked_answer.status == Status.LOCKED
    assert lock[1].startswith(utc_minute(locked_answer.get(Field.LOCKED_UNTIL)) + " (in ")

    [block] = rows_of(listing, BLOCKED_ADDRESS)
    assert block[2:] == [str(SOURCE_ATTEMPTS), "logins per address"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC \(in \d+ seconds\)", block[1]), block
    assert "fotoauthctl unlock USER" in listing
    assert "fotoauthctl unblock ADDRESS" in listing


def test_unlock_lifts_the_password_and_key_locks_and_the_right_code_passes_again(daemon,
                                                                                make_user):
    account = make_user()
    enrolment = enrol(daemon.socket, account.name)
    lock_with_wrong_codes(daemon, enrolment)
    lock_with_wrong_codes(daemon, enrolment, auth_info=KEY_AUTH_INFO)
    channels = sorted(row[3] for row in rows_of(ctl_ok(daemon, "lockouts"), account.name))
    # Keys of one type share their first characters: the listing shows the end of the blob.
    assert channels[0] == "key ssh-ed25519 ..." + KEY_BLOB[-16:], channels
    assert channels[1] == "password logins"

    assert ctl_ok(daemon, "unlock", account.name) == f"Unlocked {account.name} (2 locks lifted).\n"

    assert ctl_ok(daemon, "lockouts") == NOTHING
    assert query(daemon, account.name).status == Status.CODE_REQUIRED
    passed = verify(daemon, account.name, enrolment.next_code())
    assert passed.status == Status.OK, daemon.log()
    assert passed.get(Field.NONCE)
    assert ctl_ok(daemon, "unlock", account.name) == f"{account.name} was not locked.\n"


def test_unblock_clears_the_address_and_its_logins_pass_again(daemon, make_user):
    visitor = make_user()
    fill_login_window(daemon, visitor.name, BLOCKED_ADDRESS)

    assert (ctl_ok(daemon, "unblock", BLOCKED_ADDRESS) ==
            f"Cleared the login limit of {BLOCKED_ADDRESS} (1 window).\n")

    assert ctl_ok(daemon, "lockouts") == NOTHING
    assert preauth(daemon, visitor.name, BLOCKED_ADDRESS).status == Status.OK
    assert ctl_ok(daemon, "unblock", "198.51.100.10") == "198.51.100.10 was not blocked.\n"


def test_an_ipv6_network_is_unblocked_as_lockouts_lists_it(daemon, make_user):
    visitor = make_user()
    fill_login_window(daemon, visitor.name, "2001:db8:1:2::10")
    listing = ctl_ok(daemon, "lockouts")
    [block] = rows_of(listing, "2001:db8:1:2::/64")

    assert (ctl_ok(daemon, "unblock", block[0]) ==
            "Cleared the login limit of 2001:db8:1:2::/64 (1 window).\n")

    assert preauth(daemon, visitor.name, "2001:db8:1:2::99").status == Status.OK


def test_unlock_of_a_name_without_an_account_says_so_with_exit_1(daemon):
    result = ctl(daemon, "unlock", "fstnosuchuser1")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "no account named 'fstnosuchuser1'" in result.stderr


@pytest.mark.parametrize("words", [["lockouts"], ["unlock", "root"], ["unblock", BLOCKED_ADDRESS]])
def test_other_users_get_exit_2_and_the_block_stays(daemon, make_user, words):
    visitor = make_user()
    outsider = make_user()
    fill_login_window(daemon, visitor.name, BLOCKED_ADDRESS)

    refused = ctl(daemon, *words, as_user=outsider.name)
    # With a socket nobody serves, a CLI that asked the daemon would fail with exit 3.
    refused_offline = ctl(daemon, *words, as_user=outsider.name, socket=daemon.dir / "nobody")

    for result in (refused, refused_offline):
        assert result.returncode == 2, result
        assert result.stdout == ""
        assert f"'{words[0]}' is for root only" in result.stderr
    assert rows_of(ctl_ok(daemon, "lockouts"), BLOCKED_ADDRESS)


def test_the_daemon_refuses_the_root_requests_of_other_users(daemon, make_user):
    outsider = make_user()
    script = (
        "import sys\n"
        "from support.protocol import Field, MessageType, request\n"
        "asks = ((MessageType.LOCKOUTS, {}), (MessageType.UNLOCK, {Field.USER: 'root'}),\n"
        "        (MessageType.UNBLOCK, {Field.REMOTE_HOST: '198.51.100.9'}))\n"
        "for kind, fields in asks:\n"
        "    print(request(sys.argv[1], kind, fields).status.name)\n")
    result = subprocess.run(
        ["runuser", "-u", outsider.name, "--", sys.executable, "-c", script, str(daemon.socket)],
        capture_output=True, text=True, timeout=30, cwd="/",
        env={**os.environ, "PYTHONPATH": str(TESTS_DIR)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["PERMISSION_DENIED"] * 3


@pytest.mark.parametrize("address", ["198.51.100.256", "198.51.100.0/24", "example.com",
                                     "fe80::1%eth0", "uid:1000", ""])
def test_unblock_refuses_what_is_not_an_address_with_exit_2(daemon, address):
    result = ctl(daemon, "unblock", address)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "'unblock'" in result.stderr
