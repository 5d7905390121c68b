"""Alert mails about unusual logins, from the login through libpam to the mail program, against
the real fotoauthd with a GeoIP database written by MaxMind's own writer.

The logins go through pam-driver and the built pam_fotostudio.so; fotoauthd records a completed
login at the session stage and, when its country differs from the account's last known one,
queues an alert in its outbox (the table `outbox` of its SQLite file, read here read-only). Its
courier hands each waiting mail to `sendmail_path` once a second. The mail programs here are
stand-in scripts in tmp_path that keep what they get, fail, or hang: no mail leaves the test.

What a user would check: one mail for the one unusual login, to the right address, with the
country, the address and the advice to run `passwd`; nothing a login sends can add a header;
a mail system that fails, hangs or is missing never slows a login down, and the mail waits in
the outbox until it can be delivered, also across a restart of the daemon.
"""
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from pam_harness import (CODE_PROMPT, PASSWORD_PROMPT, log_in, login_stack, module_line)
from support.daemon import Daemon
from support.enrolment import enrol, unused_code
from support.mmdb import build_mmdb
from support.paths import FOTOAUTHCTL

FRANCE = "198.51.100.7"
FRANCE_2 = "198.51.100.8"
GERMANY = "203.0.113.5"
NETWORKS = {"198.51.100.0/24": "FR", "203.0.113.0/24": "DE"}
SERVICE = "sshd"
WRONG = "Wrong password or verification code."
# The headers docs/alerts.md lists, and no other.
ALERT_HEADERS = ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
                 "Content-Transfer-Encoding", "Auto-Submitted"]
# The exit status of sendmail for "temporary failure, try again later" (EX_TEMPFAIL).
TEMPORARY_FAILURE = 75
# The courier waits this long after a first failed attempt (fotoauthd/alert_courier.cpp).
FIRST_RETRY_PAUSE = 60


# --- stand-ins for the mail program ---

class Mailbox:
    """A stand-in sendmail that keeps, for each call, its arguments and the message."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir()
        self.program = self.folder.parent / f"{self.folder.name}-sendmail"
        # Written to a hidden folder first and renamed, so that a reader never sees half a mail.
        self.program.write_text(
            "#!/bin/sh\n"
            "set -e\n"
            f"spool='{self.folder}/.new.'$$\n"
            "mkdir \"$spool\"\n"
            "for word in \"$@\"; do printf '%s\\0' \"$word\"; done > \"$spool/argv\"\n"
            "cat > \"$spool/message\"\n"
            f"mv \"$spool\" '{self.folder}/mail.'$$\n")
        self.program.chmod(0o755)

    def mails(self):
        """[(argv, message bytes)] of every completed call."""
        found = []
        for entry in sorted(self.folder.glob("mail.*"), key=lambda path: path.stat().st_mtime):
            argv = (entry / "argv").read_bytes().decode().split("\0")[:-1]
            found.append((argv, (entry / "message").read_bytes()))
        return found

    def wait_for(self, count, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.mails()) < count:
            time.sleep(0.1)
        return self.mails()


def failing_sendmail(folder):
    """A stand-in that reads the message and exits with EX_TEMPFAIL, as sendmail does when the
    mail system cannot take mail just now; each call adds a line to the file `calls`."""
    program = Path(folder) / "failing-sendmail"
    program.write_text("#!/bin/sh\n"
                       f"echo called >> '{folder}/calls'\n"
                       "cat > /dev/null\n"
                       "echo 'stand-in: mail system unavailable' >&2\n"
                       f"exit {TEMPORARY_FAILURE}\n")
    program.chmod(0o755)
    return program


def hanging_sendmail(folder):
    """A stand-in that writes its process id (the id of its process group, since the daemon
    gives each delivery a group of its own) to `pid`, and then waits in a `sleep 300` child."""
    program = Path(folder) / "hanging-sendmail"
    program.write_text("#!/bin/sh\n"
                       f"echo $$ > '{folder}/pid.new'\n"
                       f"mv '{folder}/pid.new' '{folder}/pid'\n"
                       "sleep 300\n")
    program.chmod(0o755)
    return program


# --- the daemon and what it holds ---

def site_config(tmp_path, sendmail, more=""):
    database = build_mmdb(tmp_path / "country.mmdb", NETWORKS)
    return f"geoip_database = {database}\nsendmail_path = {sendmail}\n{more}"


def outbox(daemon, user_name):
    """[(recipient, message, attempts)] of the mails waiting for the account, oldest first; read
    from the daemon's database, read-only."""
    connection = sqlite3.connect(f"file:{daemon.database}?mode=ro", uri=True, timeout=5)
    try:
        return connection.execute(
            "SELECT outbox.recipient, outbox.message, outbox.attempts FROM outbox "
            "JOIN accounts ON accounts.id = outbox.account_id "
            "WHERE accounts.name = ? AND accounts.retired_at IS NULL ORDER BY outbox.id",
            (user_name,)).fetchall()
    finally:
        connection.close()


def wait_until(check, timeout, pause=0.1):
    """check()'s first true result within timeout seconds, else its last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(pause)


def ctl(daemon, *args):
    result = subprocess.run([str(FOTOAUTHCTL), "--socket", str(daemon.socket), *args],
                            capture_output=True, text=True, timeout=30,
                            env={**os.environ, "TZ": "UTC", "LC_ALL": "C.UTF-8"})
    assert result.returncode == 0, (result.stdout, result.stderr, daemon.log())
    return result.stdout


# --- logins ---

def without_mfa(pam, daemon, user_name, rhost, tty="pts/1", service=SERVICE):
    """A completed login of an account without MFA, as sshd runs it after a password: only the
    session stage asks the daemon. Returns pam-driver's transaction."""
    pam.service("session required pam_permit.so", module_line("session", daemon.socket),
                name=service)
    result = pam.run(user_name, stage="session", rhost=rhost, tty=tty, service=service)
    assert result.session == "PAM_SUCCESS", (result.stdout, daemon.log())
    return result


def header_block(message):
    """The header lines of a CRLF message, folded lines joined, as [(name, value)]."""
    head, separator, _ = message.partition(b"\r\n\r\n")
    assert separator, message
    lines = []
    for line in head.decode().split("\r\n"):
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += line
        else:
            lines.append(line)
    return [tuple(part.strip() for part in line.split(":", 1)) for line in lines]


def body_of(message):
    return message.partition(b"\r\n\r\n")[2].decode()


# --- 1. who gets the one mail, and what it says ---

ADDRESSING = {
    "local mailbox": ("", lambda name: name),
    "site pattern": ("alert_address_pattern = %u@studio.example\n"
                     "alert_from = security@studio.example\n",
                     lambda name: f"{name}@studio.example"),
    "own address": ("alert_address_pattern = %u@studio.example\n",
                    lambda name: "owner.alerts@example.org"),
}


@pytest.mark.parametrize("addressing", ADDRESSING)
def test_only_the_login_from_another_country_sends_one_mail_to_the_right_address(
        addressing, configured_daemon, user, pam, tmp_path):
    extra, recipient_of = ADDRESSING[addressing]
    mailbox = Mailbox(tmp_path / "mail")
    daemon = configured_daemon(site_config(tmp_path, mailbox.program, extra))
    if addressing == "own address":
        ctl(daemon, "email", "set", "owner.alerts@example.org", "--user", user.name)
    sender = ("security@studio.example" if "alert_from" in extra
              else f"fotoauthd@{socket.gethostname()}")

    # The first login sets France as the usual country, the second is from France as well.
    without_mfa(pam, daemon, user.name, FRANCE)
    without_mfa(pam, daemon, user.name, FRANCE_2)
    assert outbox(daemon, user.name) == []
    if addressing == "local mailbox":
        time.sleep(3)  # three turns of the courier: it has nothing to send
        assert mailbox.mails() == []

    without_mfa(pam, daemon, user.name, GERMANY)

    [(argv, message)] = mailbox.wait_for(1, timeout=10)
    recipient = recipient_of(user.name)
    assert argv == ["-i", "-f", sender, "--", recipient], daemon.log()
    headers = dict(header_block(message))
    assert headers["To"] == recipient and headers["From"] == sender
    assert "Germany (DE)" in headers["Subject"] and user.name in headers["Subject"]
    body = body_of(message)
    assert "Germany (DE)" in body and GERMANY in body
    assert "\r\n    passwd\r\n" in body
    assert FRANCE not in body and FRANCE_2 not in body
    # Delivered, so nothing waits any more; and no second mail follows.
    assert wait_until(lambda: outbox(daemon, user.name) == [], timeout=5)
    time.sleep(1.5)
    assert len(mailbox.mails()) == 1


# --- 2. what a login sends cannot add a header ---

def test_a_service_name_and_tty_with_a_line_break_add_no_header_and_no_recipient(
        configured_daemon, user, pam, tmp_path):
    mailbox = Mailbox(tmp_path / "mail")
    daemon = configured_daemon(site_config(tmp_path, mailbox.program))
    # libpam turns the service name to lower case before it looks for the file.
    hostile_service = "sshd\r\nbcc: x@y"
    hostile_tty = "pts/1\r\nBcc: x@y\r\n"

    without_mfa(pam, daemon, user.name, FRANCE)
    without_mfa(pam, daemon, user.name, GERMANY, tty=hostile_tty, service=hostile_service)

    # The hostile text did reach the daemon: the login's client on the security page is it,
    # made one printable line.
    page = json.loads(ctl(daemon, "--json", "status", "--user", user.name))
    assert page["connections"][0]["client"] == "sshd??bcc: x@y pts/1??Bcc: x@y??", page
    [(argv, message)] = mailbox.wait_for(1, timeout=10)
    assert argv == ["-i", "-f", f"fotoauthd@{socket.gethostname()}", "--", user.name]
    names = [name for name, _ in header_block(message)]
    assert names == ALERT_HEADERS, message
    assert b"x@y" not in message.partition(b"\r\n\r\n")[0]
    # Every line of the message ends in CRLF: no bare line break that a mail program could
    # read as the end of a header.
    assert b"\n" not in message.replace(b"\r\n", b"")
    assert b"\r" not in message.replace(b"\r\n", b"")


def test_a_remote_host_with_a_line_break_is_no_country_and_queues_no_mail(
        configured_daemon, user, pam, tmp_path):
    mailbox = Mailbox(tmp_path / "mail")
    daemon = configured_daemon(site_config(tmp_path, mailbox.program))

    without_mfa(pam, daemon, user.name, FRANCE)
    without_mfa(pam, daemon, user.name, f"{GERMANY}\r\nBcc: x@y")

    assert outbox(daemon, user.name) == []
    time.sleep(1.5)
    assert mailbox.mails() == []


# --- 3. a mail system that fails, and a restart ---

def test_a_failing_mail_program_neither_slows_the_login_nor_loses_the_mail_across_a_restart(
        configured_daemon, user, pam, tmp_path):
    failing = failing_sendmail(tmp_path)
    daemon = configured_daemon(site_config(tmp_path, failing))
    without_mfa(pam, daemon, user.name, FRANCE)

    login = without_mfa(pam, daemon, user.name, GERMANY)
    failed_at = time.time()

    assert login.elapsed < 1.0, login.elapsed
    waiting = wait_until(lambda: [row for row in outbox(daemon, user.name) if row[2] == 1], 10)
    [(recipient, message, attempts)] = waiting
    assert recipient == user.name and attempts == 1
    assert GERMANY in message
    assert (tmp_path / "calls").read_text() == "called\n"
    assert f"sendmail exited with status {TEMPORARY_FAILURE}" in daemon.log()

    # The same database under a restarted daemon whose mail program works: the mail goes out
    # once its retry is due, once.
    daemon.stop()
    mailbox = Mailbox(tmp_path / "mail")
    restarted = Daemon(workdir=daemon.dir, extra_config=same_settings(daemon).replace(
        f"sendmail_path = {failing}", f"sendmail_path = {mailbox.program}"))
    try:
        restarted.start()
        due = failed_at + FIRST_RETRY_PAUSE + 10 - time.time()
        [(argv, delivered)] = mailbox.wait_for(1, timeout=due)
        assert argv[-1] == user.name
        assert delivered.decode() == message
        assert wait_until(lambda: outbox(restarted, user.name) == [], timeout=5)
        time.sleep(1.5)
        assert len(mailbox.mails()) == 1
        assert (tmp_path / "calls").read_text() == "called\n"
    finally:
        restarted.stop()


def same_settings(daemon):
    """The daemon's configuration without its socket and database, which Daemon() adds for the
    folder it is given."""
    return "".join(line + "\n" for line in daemon.config.read_text().splitlines()
                   if not line.startswith(("socket =", "database =")))


# --- 4. a mail system that hangs ---

def processes_in_group(group):
    """{pid: command line} of the processes whose process group is `group`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue  # it ended meanwhile
        # The fields after the command name, which is in parentheses and may hold blanks.
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[2]) == group:
            found[int(entry.name)] = command
    return found


def test_a_hanging_mail_program_is_killed_after_alert_timeout_and_the_mail_waits(
        configured_daemon, user, make_user, pam, tmp_path):
    hanging = hanging_sendmail(tmp_path)
    daemon = configured_daemon(site_config(tmp_path, hanging, "alert_timeout = 5\n"))
    without_mfa(pam, daemon, user.name, FRANCE)
    group = None
    try:
        login = without_mfa(pam, daemon, user.name, GERMANY)
        started = time.monotonic()
        assert login.elapsed < 1.0, login.elapsed

        assert wait_until(lambda: (tmp_path / "pid").exists(), timeout=5), daemon.log()
        group = int((tmp_path / "pid").read_text())
        assert "sleep 300" in wait_until(
            lambda: " ".join(processes_in_group(group).values()), timeout=5)

        # While the mail program hangs, other logins go on as fast as ever.
        other = make_user()
        assert without_mfa(pam, daemon, other.name, FRANCE).elapsed < 1.0

        left = wait_until(lambda: not processes_in_group(group), timeout=12)
        assert left, processes_in_group(group)
        assert time.monotonic() - started < 12
        [(recipient, _, attempts)] = wait_until(lambda: outbox(daemon, user.name), timeout=5)
        assert (recipient, attempts) == (user.name, 1)
        assert "alert_timeout" in daemon.log()
        assert daemon.process.poll() is None
    finally:
        if group and processes_in_group(group):
            os.killpg(group, signal.SIGKILL)


# --- 5. no mail program at all ---

def test_a_missing_mail_program_leaves_the_mail_waiting_and_says_why_once_per_attempt(
        configured_daemon, user, pam, tmp_path):
    missing = tmp_path / "no-such-sendmail"
    daemon = configured_daemon(site_config(tmp_path, missing))
    without_mfa(pam, daemon, user.name, FRANCE)

    login = without_mfa(pam, daemon, user.name, GERMANY)

    assert login.elapsed < 1.0, login.elapsed
    [(_, _, attempts)] = wait_until(
        lambda: [row for row in outbox(daemon, user.name) if row[2] == 1], timeout=10)
    assert attempts == 1
    time.sleep(2)  # the next attempt is a minute away: no more lines meanwhile
    reason = f"could not run {missing.name}: No such file or directory"
    assert daemon.log().count(reason) == 1, daemon.log()
    assert outbox(daemon, user.name)[0][2] == 1
    # The daemon is still there and serving logins.
    assert daemon.process.poll() is None
    without_mfa(pam, daemon, user.name, GERMANY)


# --- 6. a failed password never alerts; a right password with a wrong code does ---

def connections(daemon, user_name):
    """(source, unusual) of the logins on the user's security page, newest first."""
    page = json.loads(ctl(daemon, "--json", "status", "--user", user_name))
    return [(entry["source"], entry["unusual"]) for entry in page["connections"]]


def test_a_failed_password_from_abroad_neither_alerts_nor_moves_the_usual_country(
        configured_daemon, user, pam, tmp_path):
    mailbox = Mailbox(tmp_path / "mail")
    daemon = configured_daemon(site_config(tmp_path, mailbox.program))
    enrolment = enrol(daemon.socket, user.name)
    login_stack(pam, daemon, service=SERVICE)
    first = log_in(pam, user, enrolment.next_code(), rhost=FRANCE)
    assert first.session == "PAM_SUCCESS", (first.stdout, daemon.log())

    # A wrong password from Germany: the authfail line asks for the code and fails.
    guessed = pam.run(user.name, ["not-the-password", unused_code(enrolment.secret)],
                      stage="auth+account+session", rhost=GERMANY, service=SERVICE)

    assert guessed.auth == "PAM_AUTH_ERR", guessed.stdout
    assert guessed.prompts == [PASSWORD_PROMPT, CODE_PROMPT] and guessed.errors == [WRONG]
    assert outbox(daemon, user.name) == []
    # France is still the usual country: a completed login from there is not unusual.
    again = log_in(pam, user, enrolment.recovery_codes[0], rhost=FRANCE_2)
    assert again.session == "PAM_SUCCESS", (again.stdout, daemon.log())
    assert connections(daemon, user.name) == [(FRANCE_2, False), (FRANCE, False)]
    assert outbox(daemon, user.name) == []

    # The right password with a wrong code from Germany: the password is known elsewhere.
    wrong_code = log_in(pam, user, unused_code(enrolment.secret), rhost=GERMANY)

    assert wrong_code.auth == "PAM_AUTH_ERR" and wrong_code.errors == [WRONG]
    [(argv, message)] = mailbox.wait_for(1, timeout=10)
    assert argv[-1] == user.name
    subject = dict(header_block(message))["Subject"]
    assert "Germany (DE)" in subject and "used with a wrong code" in subject, subject
    assert GERMANY in body_of(message)
    time.sleep(1.5)
    assert len(mailbox.mails()) == 1


# --- 7. the outbox keeps the newest few mails of an account ---

def test_with_outbox_per_user_2_only_the_two_newest_alerts_wait(configured_daemon, user, pam,
                                                                  tmp_path):
    daemon = configured_daemon(site_config(tmp_path, failing_sendmail(tmp_path),
                                           "outbox_per_user = 2\n"))
    without_mfa(pam, daemon, user.name, FRANCE)

    unusual = ["203.0.113.11", "198.51.100.12", "203.0.113.13", "198.51.100.14"]
    for source in unusual:
        without_mfa(pam, daemon, user.name, source)
        assert len(outbox(daemon, user.name)) <= 2

    waiting = outbox(daemon, user.name)
    assert len(waiting) == 2
    assert [source for source in unusual if any(source in row[1] for row in waiting)] == \
        unusual[2:]
