"""`fotoauthctl history` and the connections at the end of `fotoauthctl status`, against the real
fotoauthd.

The logins are made the way sshd's PAM stack makes them: AuthVerify sent as root with service sshd
and the client's address as RemoteHost, a wrong code and then a right one from oathtool, and for a
right one the SessionOpen of the session stage, which is when fotoauthd records the login. The
CLI must then list them newest first, with the service and the address, as the account's owner
sees them; another account's owner must not.

The CLI runs with TZ=UTC, so that the times it prints can be compared with times taken here, and
with LC_ALL=C, so that its markers are plain ASCII (test_cli_status_page.py has the symbols).
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
HEADER = ["WHEN", "WHAT", "SERVICE", "FROM", "COUNTRY", "!", "CODE", "DETAIL"]
TESTS_DIR = Path(__file__).resolve().parents[1]


def ctl(daemon, *args, as_user=None):
    command = [str(FOTOAUTHCTL), "--socket", str(daemon.socket), *args]
    if as_user:
        command = ["runuser", "-u", as_user, "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=30,
                          env={**os.environ, "TZ": "UTC", "LC_ALL": "C"})


def ctl_ok(daemon, *args, as_user=None):
    result = ctl(daemon, *args, as_user=as_user)
    assert result.returncode == 0, (result.stdout, result.stderr, daemon.log())
    assert result.stderr == ""
    return result.stdout


def ssh_login(daemon, user, code, address=ADDRESS):
    """What pam_fotostudio sends for a code typed at sshd's prompt, and when it passed, what its
    session stage sends: the same description of the login with the nonce."""
    login = {Field.USER: user, Field.SERVICE: "sshd", Field.REMOTE_HOST: address}
    verified = request(daemon.socket, MessageType.AUTH_VERIFY, {**login, Field.CODE: code})
    if verified.status == Status.OK:
        opened = request(daemon.socket, MessageType.SESSION_OPEN,
                         {**login, Field.NONCE: verified.get(Field.NONCE)})
        assert opened.status == Status.OK, opened
    return verified.status


def rows_of(listing):
    """The rows of the first table in listing, without the header, each a list of its eight
    cells: the text under each header word up to the next one (a marker cell may be blank)."""
    lines = listing.splitlines()
    starts = []
    for first, line in enumerate(lines):
        if re.split(r"\s{2,}", line.strip()) == HEADER:
            starts = [match.start() for match in re.finditer(r"(?<=  )\S", line)]
            break
    rows = []
    for line in lines[first + 1:] if starts else []:
        if not line.startswith("  ") or line.startswith("  ! "):
            break
        rows.append([line[start:end].strip()
                     for start, end in zip(starts, starts[1:] + [None])])
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
    # Without a GeoIP database nobody looks up a country. A refused login checked a code too.
    assert [row[1:] for row in rows] == [
        ["login", "sshd", ADDRESS, "-", "", "yes", "verification code"],
        ["login refused", "sshd", ADDRESS, "-", "", "yes", "wrong code"],
        ["MFA enabled", "-", "-", "-", "", "", "mode always"],
    ], listing
    assert all(row[0] in utc_seconds(before, after) for row in rows), (rows, before, after)
    assert rows[0][0] >= rows[1][0] >= rows[2][0]
    assert ctl_ok(daemon, "history", "--user", user.name) == listing


def test_changes_of_the_account_show_in_its_history_as_they_happen(daemon, user):
    enrolment = enrol(daemon.socket, user.name)
    assert set_mode(daemon.socket, user.name, "new-device",
                    enrolment.next_code()).status == Status.OK

    [newest, *_] = rows_of(ctl_ok(daemon, "history", as_user=user.name))
    assert newest[1:] == ["mode changed", "-", "-", "-", "", "", "now new-device"]


def test_status_ends_with_the_logins_only_and_the_command_that_shows_the_rest(daemon, user):
    enrolment = enrol(daemon.socket, user.name)
    for _ in range(4):
        assert ssh_login(daemon, user.name, unused_code(enrolment.secret)) == Status.REJECTED
    assert ssh_login(daemon, user.name, enrolment.recovery_codes[0]) == Status.OK
    assert ssh_login(daemon, user.name, enrolment.next_code()) == Status.OK

    page = ctl_ok(daemon, "status", as_user=user.name)

    assert page.startswith("MFA: active since ")
    assert "\n\nLast 2 connections, newest first:\n" in page
    connections = page[page.index("Last 2 connections"):]
    lines = connections.splitlines()
    assert re.split(r"\s{2,}", lines[1].strip()) == ["DATE", "COUNTRY", "IP ADDRESS", "CLIENT",
                                                      "!", "CODE"]
    assert [re.split(r"\s{2,}", line.strip()) for line in lines[2:4]] == [
        [lines[2].strip()[:20], "-", ADDRESS, "sshd", "yes"],
        [lines[3].strip()[:20], "-", ADDRESS, "sshd", "yes"],
    ], page
    assert "login refused" not in page and "wrong code" not in page
    assert "MFA enabled" not in page
    assert page.endswith("\nRefused logins and changes to the account: fotoauthctl history\n")
    # The whole history has all seven, the oldest being the enrolment.
    everything = rows_of(ctl_ok(daemon, "history", as_user=user.name))
    assert len(everything) == 7
    assert [row[1] for row in everything] == ["login", "login"] + ["login refused"] * 4 + [
        "MFA enabled"]
    assert [row[-1] for row in everything[:2]] == ["verification code", "recovery code"]

    for_root = ctl_ok(daemon, "status", "--user", user.name)
    assert for_root.endswith(
        f"\nRefused logins and changes to the account: fotoauthctl history --user {user.name}\n")


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
        "\n\nNo connections yet.\nRefused logins and changes to the account: fotoauthctl "
        "history\n")

    missing = ctl(daemon, "history", "--user", unknown_name)
    assert missing.returncode == 1
    assert missing.stdout == ""
    assert f"no account named '{unknown_name}'" in missing.stderr


def test_a_history_longer_than_one_answer_is_fetched_page_by_page_and_shown_whole(daemon, user):
    # sshd passes the client's host name when UseDNS is on; fotoauthd keeps up to 64 characters
    # of it. 50 entries from a name of 63 do not fit in one 4096-byte answer: fotoauthctl asks for
    # the rest with an offset until it has all the daemon keeps (50; the enrolment drops out).
    host = "client-" + "a" * 44 + ".example.org"
    enrolment = enrol(daemon.socket, user.name)
    for _ in range(49):
        assert ssh_login(daemon, user.name, unused_code(enrolment.secret), host) == Status.REJECTED
    assert ssh_login(daemon, user.name, enrolment.next_code(), host) == Status.OK

    listing = ctl_ok(daemon, "history", as_user=user.name)

    rows = rows_of(listing)
    assert len(rows) == 50, listing
    # The country column is left out: a host name is not looked up the same way everywhere.
    assert rows[0][1:4] + rows[0][5:] == ["login", "sshd", host, "", "yes", "verification code"]
    assert all(row[1:4] + row[5:] == ["login refused", "sshd", host, "", "yes", "wrong code"]
               for row in rows[1:])
    assert "cut this list short" not in listing and "missing" not in listing
    # The daemon alone would have sent only part of it in one answer.
    one_answer = request(daemon.socket, MessageType.HISTORY, {Field.USER: user.name})
    assert one_answer.get(Field.ENTRIES).endswith("\ntruncated")
    assert one_answer.get(Field.COUNT) == 50
