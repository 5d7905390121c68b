"""`fotoauthctl history` and the "Recent activity" end of `fotoauthctl status`, against the real
fotoauthd.

The logins are made the way sshd's PAM stack makes them: AuthVerify sent as root with service sshd
and the client's address as RemoteHost, a wrong code and then a right one from oathtool. The CLI
must then list them newest first, with the service and the address, as the account's owner sees
them; another account's owner must not.

The CLI runs with TZ=UTC, so that the times it prints can be compared with times taken here.
"""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from support.enrolment import enrol, set_mode, unused_code
from support.paths import FOTOAUTHCTL
from support.protocol import Field, MessageType, Status, request

ADDRESS = "198.51.100.7"
OTHER_ADDRESS = "203.0.113.5"
NO_HISTORY = "No history yet.\n"
HEADER = ["WHEN", "WHAT", "SERVICE", "FROM", "DETAIL"]
TESTS_DIR = Path(__file__).resolve().parents[1]


def ctl(daemon, *args, as_user=None):
    command = [str(FOTOAUTHCTL), "--socket", str(daemon.socket), *args]
    if as_user:
        command = ["runuser", "-u", as_user, "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=30,
                          env={**os.environ, "TZ": "UTC"})


def ctl_ok(daemon, *args, as_user=None):
    result = ctl(daemon, *args, as_user=as_user)
    assert result.returncode == 0, (result.stdout, result.stderr, daemon.log())
    assert result.stderr == ""
    return result.stdout


def ssh_login(daemon, user, code, address=ADDRESS):
    """What pam_fotostudio sends for a code typed at sshd's prompt."""
    return request(daemon.socket, MessageType.AUTH_VERIFY,
                   {Field.USER: user, Field.SERVICE: "sshd", Field.REMOTE_HOST: address,
                    Field.CODE: code}).status


def rows_of(listing):
    """The rows of the first table in listing, split into its five columns, without the header;
    cells are two or more blanks apart and hold single blanks only."""
    rows, in_table = [], False
    for line in listing.splitlines():
        columns = re.split(r"\s{2,}", line.strip())
        if columns == HEADER:
            in_table = True
        elif in_table and line.startswith("  ") and len(columns) == 5:
            rows.append(columns)
        elif in_table:
            break
    return rows


def utc_seconds(start, end):
    """Every time the CLI may print for an event between start and end."""
    return {time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(second))
            for second in range(int(start), int(end) + 1)}


def test_history_lists_a_refused_and_a_passed_ssh_login_newest_first_with_their_source(daemon,
                                                                                      user):
    before = time.time()
    enrolment = enrol(daemon.socket, user.name)
    assert ssh_login(daemon, user.name, unused_code(enrolment.secret)) == Status.REJECTED
    assert ssh_login(daemon, user.name, enrolment.next_code()) == Status.OK
    after = time.time()

    listing = ctl_ok(daemon, "history", as_user=user.name)

    assert listing.startswith(f"History of {user.name}, newest first:\n")
    rows = rows_of(listing)
    assert [row[1:] for row in rows] == [
        ["login", "sshd", ADDRESS, "verification code"],
        ["login refused", "sshd", ADDRESS, "wrong code"],
        ["MFA enabled", "-", "-", "mode always"],
    ], listing
    assert all(row[0] in utc_seconds(before, after) for row in rows), (rows, before, after)
    assert rows[0][0] >= rows[1][0] >= rows[2][0]
    assert ctl_ok(daemon, "history", "--user", user.name) == listing


def test_changes_of_the_account_show_in_its_history_as_they_happen(daemon, user):
    enrolment = enrol(daemon.socket, user.name)
    assert set_mode(daemon.socket, user.name, "new-device",
                    enrolment.next_code()).status == Status.OK

    [newest, *_] = rows_of(ctl_ok(daemon, "history", as_user=user.name))
    assert newest[1:] == ["mode changed", "-", "-", "now new-device"]


def test_status_ends_with_the_five_newest_entries_and_the_command_that_shows_all(daemon, user):
    enrolment = enrol(daemon.socket, user.name)
    for _ in range(4):
        assert ssh_login(daemon, user.name, unused_code(enrolment.secret)) == Status.REJECTED
    assert ssh_login(daemon, user.name, enrolment.recovery_codes[0]) == Status.OK
    assert ssh_login(daemon, user.name, enrolment.next_code()) == Status.OK

    page = ctl_ok(daemon, "status", as_user=user.name)

    assert page.startswith("MFA: active since ")
    assert "\n\nRecent activity:\n" in page
    recent = page[page.index("Recent activity:"):]
    assert [row[1:] for row in rows_of(recent)] == [
        ["login", "sshd", ADDRESS, "verification code"],
        ["login", "sshd", ADDRESS, "recovery code"],
    ] + [["login refused", "sshd", ADDRESS, "wrong code"]] * 3, page
    assert "MFA enabled" not in page
    assert page.endswith("\nThe whole history: fotoauthctl history\n")
    # The whole history has all seven, the oldest being the enrolment.
    everything = rows_of(ctl_ok(daemon, "history", as_user=user.name))
    assert len(everything) == 7
    assert everything[-1][1] == "MFA enabled"

    for_root = ctl_ok(daemon, "status", "--user", user.name)
    assert for_root.endswith(f"\nThe whole history: fotoauthctl history --user {user.name}\n")


def test_a_user_sees_only_their_own_history_and_root_sees_any(daemon, make_user):
    alice, bob = make_user(), make_user()
    for account, address in ((alice, ADDRESS), (bob, OTHER_ADDRESS)):
        enrolment = enrol(daemon.socket, account.name)
        assert ssh_login(daemon, account.name, enrolment.next_code(), address) == Status.OK

    alices = ctl_ok(daemon, "history", as_user=alice.name)
    bobs = ctl_ok(daemon, "history", as_user=bob.name)
    assert ADDRESS in alices and OTHER_ADDRESS not in alices
    assert OTHER_ADDRESS in bobs and ADDRESS not in bobs
    assert ADDRESS not in ctl_ok(daemon, "status", as_user=bob.name)

    for verb in ("history", "status"):
        peeking = ctl(daemon, verb, "--user", bob.name, as_user=alice.name)
        assert peeking.returncode == 2, peeking
        assert peeking.stdout == ""
        assert "only root" in peeking.stderr

    # What the CLI refuses, the daemon refuses too: alice asking it directly for bob's history.
    script = ("import sys\n"
              "from support.protocol import Field, MessageType, request\n"
              "print(request(sys.argv[1], MessageType.HISTORY, {Field.USER: sys.argv[2]})"
              ".status.name)\n")
    asked = subprocess.run(
        ["runuser", "-u", alice.name, "--", sys.executable, "-c", script, str(daemon.socket),
         bob.name],
        capture_output=True, text=True, timeout=30, cwd="/",
        env={**os.environ, "PYTHONPATH": str(TESTS_DIR)})
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout.split() == ["PERMISSION_DENIED"]

    assert ctl_ok(daemon, "history", "--user", alice.name) == alices
    assert ctl_ok(daemon, "history", "--user", bob.name) == bobs


def test_history_of_an_account_without_entries_and_of_no_account(daemon, user, unknown_name):
    assert ctl_ok(daemon, "history", as_user=user.name) == NO_HISTORY
    assert ctl_ok(daemon, "status", as_user=user.name).endswith(
        "\n\nRecent activity: none yet.\n")

    missing = ctl(daemon, "history", "--user", unknown_name)
    assert missing.returncode == 1
    assert missing.stdout == ""
    assert f"no account named '{unknown_name}'" in missing.stderr


def test_a_history_longer_than_one_answer_shows_the_newest_and_says_it_was_cut(daemon, user):
    # sshd passes the client's host name when UseDNS is on; fotoauthd keeps up to 64 characters
    # of it. 50 entries from a name of 63 do not fit in one 4096-byte answer.
    host = "client-" + "a" * 44 + ".example.org"
    enrolment = enrol(daemon.socket, user.name)
    for _ in range(49):
        assert ssh_login(daemon, user.name, unused_code(enrolment.secret), host) == Status.REJECTED
    assert ssh_login(daemon, user.name, enrolment.next_code(), host) == Status.OK

    listing = ctl_ok(daemon, "history", as_user=user.name)

    rows = rows_of(listing)
    assert 10 < len(rows) < 50, listing
    assert rows[0][1:] == ["login", "sshd", host, "verification code"]
    assert all(row[1:] == ["login refused", "sshd", host, "wrong code"] for row in rows[1:])
    assert listing.endswith("\nfotoauthd cut this list short: the older entries did not fit in "
                            "one answer.\n")
