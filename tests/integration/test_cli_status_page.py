"""The security page of `fotoauthctl status` after real logins through libpam, against the real
fotoauthd with a GeoIP database written by MaxMind's own writer.

The logins go through pam-driver and the built pam_fotostudio.so (auth and session stages, as
sshd runs them): the session stage is when fotoauthd records a login. The page must list the
logins only, newest first, with their country, address and client, ⚠ on the one from another
country than the account's usual one and 🔒 on those that checked a code; with LC_ALL=C or
--ascii the markers are plain ASCII. A refused login stays on `fotoauthctl history`.
"""
import json
import os
import subprocess
import time
import unicodedata

import pytest

from pam_harness import make_ssh_key, module_line
from support.enrolment import enrol, unused_code
from support.mmdb import build_mmdb
from support.paths import FOTOAUTHCTL

FRANCE = "198.51.100.7"
GERMANY = "203.0.113.5"
NOWHERE = "192.0.2.44"  # not in the database
NETWORKS = {"198.51.100.0/24": "FR", "203.0.113.0/24": "DE"}
SERVICE = "sshd"  # the name of the private service file, which fotoauthd shows as the client


@pytest.fixture
def watched(configured_daemon, tmp_path):
    """fotoauthd with a GeoIP database, and a stand-in for sendmail that keeps the alert mails in
    tmp_path (an unusual login queues one): no mail leaves the test."""
    database = build_mmdb(tmp_path / "country.mmdb", NETWORKS)
    mailbox = tmp_path / "mail"
    mailbox.mkdir()
    sendmail = tmp_path / "sendmail"
    sendmail.write_text(f"#!/bin/sh\ncat > {mailbox}/mail.$$\n")
    sendmail.chmod(0o755)
    tmp_path.chmod(0o755)
    return configured_daemon(f"geoip_database = {database}\nsendmail_path = {sendmail}\n")


def ctl(daemon, *args, as_user=None, locale="C.UTF-8"):
    command = [str(FOTOAUTHCTL), "--socket", str(daemon.socket), *args]
    if as_user:
        command = ["runuser", "-u", as_user, "--", *command]
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("LC_") and key != "LANG"}
    result = subprocess.run(command, capture_output=True, timeout=30,
                            env={**environment, "TZ": "UTC", "LC_ALL": locale})
    assert result.returncode == 0, (result.stdout, result.stderr, daemon.log())
    assert result.stderr == b""
    return result.stdout.decode("utf-8")


def columns(text):
    """Screen columns of text: two for wide characters such as the lock."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def table(page, header_start):
    """The rows of the table whose header line starts with header_start, as {header: cell}
    dicts, cut at the screen columns where the header's words start (cells may be blank)."""
    lines = page.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    header = lines[first]
    starts, position, previous = [], 0, " "
    for character in header:
        if character != " " and previous == " " and (position < 2 or header_gap(header, position)):
            starts.append(position)
        position += columns(character)
        previous = character
    names = [cut(header, start, end).strip() for start, end in zip(starts, starts[1:] + [None])]
    rows = []
    for line in lines[first + 1:]:
        if not line.startswith("  ") or line.startswith("  ⚠ ") or line.startswith("  ! "):
            break
        rows.append({name: cut(line, start, end).strip()
                     for name, start, end in zip(names, starts, starts[1:] + [None])})
    return rows


def header_gap(header, position):
    """True when the header has two blanks before screen column position (a new column)."""
    return cut(header, position - 2, position) == "  "


def cut(line, start, end):
    """The characters of line between screen columns start and end (None: the end)."""
    out, position = [], 0
    for character in line:
        if position >= start and (end is None or position < end):
            out.append(character)
        position += columns(character)
    return "".join(out)


def minutes(start, end):
    return {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(second))
            for second in range(int(start), int(end) + 61)}


def login(pam, daemon, user, code, rhost, tty, env=()):
    """One login through the auth and session stages, as sshd runs them."""
    pam.service(module_line("auth", daemon.socket), "session required pam_permit.so",
                module_line("session", daemon.socket), name=SERVICE)
    result = pam.run(user, [code] if code else [], stage="auth+session", rhost=rhost, tty=tty,
                     service=SERVICE, env=env)
    assert result.session == "PAM_SUCCESS", (result.stdout, daemon.log())
    return result


def without_mfa(pam, daemon, user, rhost, tty):
    """A login of an account without MFA (a password alone): only the session stage asks."""
    pam.service("session required pam_permit.so", module_line("session", daemon.socket),
                name=SERVICE)
    result = pam.run(user, stage="session", rhost=rhost, tty=tty, service=SERVICE)
    assert result.session == "PAM_SUCCESS", (result.stdout, daemon.log())


@pytest.fixture
def three_logins(watched, user, pam, tmp_path):
    """Before MFA a login from nowhere known; then, with MFA, a login with a key and a code from
    France, a wrong code from Germany, and a right one from Germany: the account's usual country
    is France by then."""
    before = time.time()
    without_mfa(pam, watched, user.name, NOWHERE, "pts/1")
    enrolment = enrol(watched.socket, user.name)
    key = make_ssh_key(tmp_path)
    login(pam, watched, user.name, enrolment.next_code(), FRANCE, "pts/3", env=[key.auth_info])
    refused = pam.run(user.name, [unused_code(enrolment.secret)], stage="auth", rhost=GERMANY,
                      service=SERVICE)
    assert refused.auth != "PAM_SUCCESS", refused.stdout
    time.sleep(1)  # so that the next login is not in the same second
    login(pam, watched, user.name, enrolment.recovery_codes[0], GERMANY, "pts/4")
    return watched, key, before, time.time()


def test_the_page_lists_the_logins_newest_first_with_country_client_and_markers(three_logins,
                                                                                 user):
    daemon, key, before, after = three_logins

    page = ctl(daemon, "status", as_user=user.name)

    assert page.startswith("MFA: active since ")
    assert "\n\nLast 3 connections, newest first:\n" in page
    rows = table(page, "  DATE ")
    assert [(row["COUNTRY"], row["IP ADDRESS"], row["⚠"], row["🔒"]) for row in rows] == [
        ("DE", GERMANY, "⚠", "🔒"),
        ("FR", FRANCE, "", "🔒"),
        ("unknown", NOWHERE, "", ""),
    ], page
    assert rows[0]["CLIENT"] == f"{SERVICE} pts/4"
    assert rows[1]["CLIENT"] == f"{SERVICE} publickey ssh-ed25519 {key.fingerprint} pts/3"
    assert rows[2]["CLIENT"] == f"{SERVICE} pts/1"
    assert all(row["DATE"] in minutes(before, after) for row in rows), rows
    assert rows[0]["DATE"] >= rows[1]["DATE"] >= rows[2]["DATE"]
    assert "login refused" not in page and "wrong code" not in page
    assert page.endswith("\nRefused logins and changes to the account: fotoauthctl history\n")
    assert ctl(daemon, "status", "--user", user.name).endswith(
        f"\nRefused logins and changes to the account: fotoauthctl history --user {user.name}\n")

    # The refused login is on the history, with its country; the logins have the same markers
    # there as on the page.
    history = table(ctl(daemon, "history", as_user=user.name), "  WHEN ")
    refused = [row for row in history if row["WHAT"] == "login refused"]
    assert [(row["FROM"], row["COUNTRY"]) for row in refused] == [(GERMANY, "DE")], history
    assert [(row["FROM"], row["⚠"], row["🔒"]) for row in history if row["WHAT"] == "login"] == [
        (GERMANY, "⚠", "🔒"), (FRANCE, "", "🔒"), (NOWHERE, "", "")], history


def test_every_row_of_the_page_lines_up_on_screen(three_logins, user):
    daemon, *_ = three_logins
    for locale in ("C.UTF-8", "C"):
        page = ctl(daemon, "status", as_user=user.name, locale=locale)
        lines = page.splitlines()
        first = next(i for i, line in enumerate(lines) if line.startswith("  DATE "))
        header = lines[first]
        rows = lines[first + 1:first + 4]
        marker = "🔒" if locale == "C.UTF-8" else "CODE"
        # The code column starts at the same screen column in the header and each row with it.
        lock_at = columns(header[:header.index(marker)])
        for row, has_lock in zip(rows, (True, True, False)):
            cell = "🔒" if locale == "C.UTF-8" else "yes"
            assert row.endswith(cell) == has_lock, page
            if has_lock:
                assert columns(row[:row.rindex(cell)]) == lock_at, page


def test_lc_all_c_and_ascii_give_plain_markers(three_logins, user):
    daemon, *_ = three_logins

    plain = ctl(daemon, "status", as_user=user.name, locale="C")
    asked = ctl(daemon, "status", "--ascii", as_user=user.name)

    assert plain == asked
    assert plain.isascii(), plain
    rows = table(plain, "  DATE ")
    assert [(row["COUNTRY"], row["!"], row["CODE"]) for row in rows] == [
        ("DE", "!", "yes"), ("FR", "", "yes"), ("unknown", "", "")], plain
    assert "  ! from another country than the account's usual one; CODE yes: a code was " \
           "checked\n" in plain
    history = ctl(daemon, "history", as_user=user.name, locale="C")
    assert history.isascii() and "  COUNTRY  !  CODE  DETAIL\n" in history


def test_the_json_has_the_connections_with_booleans(three_logins, user):
    daemon, key, before, after = three_logins

    answer = json.loads(ctl(daemon, "--json", "status", as_user=user.name))

    assert [(entry["country"], entry["source"], entry["unusual"], entry["verified"])
            for entry in answer["connections"]] == [
        ("DE", GERMANY, True, True), ("FR", FRANCE, False, True),
        ("unknown", NOWHERE, False, False)]
    assert answer["connections"][1]["client"] == (
        f"{SERVICE} publickey ssh-ed25519 {key.fingerprint} pts/3")
    assert all(entry["event"] == "login" and before - 1 <= entry["at"] <= after + 1
               for entry in answer["connections"])
    assert answer["alert_address"] == user.name and answer["alert_address_source"] == "local"
    assert answer["clock_synced"] in (True, False)
    assert answer["mfa_required"] is False and answer["grace_until"] is None
    assert answer["history_truncated"] is False


def test_an_account_without_mfa_is_invited_to_enable_it(watched, user, pam):
    without_mfa(pam, watched, user.name, FRANCE, "pts/2")

    page = ctl(watched, "status", as_user=user.name)

    assert page.startswith("MFA: not enabled\n")
    assert "\nTo enable MFA, run: fotoauthctl mfa enable\n" in page
    assert f"\nAlerts go to the local mailbox of {user.name} on this server\n" in page
    assert "\n\nLast connection:\n" in page
    [row] = table(page, "  DATE ")
    assert (row["COUNTRY"], row["IP ADDRESS"], row["🔒"]) == ("FR", FRANCE, "")


def test_fifty_logins_are_all_on_the_page_though_they_do_not_fit_one_answer(watched, user, pam):
    # A long host name (sshd with UseDNS) makes 50 entries too long for one 4096-byte answer:
    # the page must fetch the rest page by page.
    host = "client-" + "a" * 44 + ".example.org"
    for _ in range(50):
        without_mfa(pam, watched, user.name, host, "pts/1")

    page = ctl(watched, "status", as_user=user.name)

    assert "\n\nLast 50 connections, newest first:\n" in page
    rows = table(page, "  DATE ")
    assert len(rows) == 50 and all(row["IP ADDRESS"] == host for row in rows)
    assert "missing" not in page
