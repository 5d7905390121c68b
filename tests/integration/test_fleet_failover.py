"""Fleet mode (docs/fleet.md) when the database fails: a failover to a promoted standby, a
database that is stopped and started again, one that is slow, one that accepts connections but
never answers, one that hangs in the middle of a session, and a synchronous standby that is
gone. The daemons must never let a login through that the database did not allow, must answer
within the PAM module's deadline, must not forget a used code, and must come back by themselves,
without a restart, once the database is there again.

Each test starts its own PostgreSQL clusters on 127.0.0.1 (support/postgres.py) and removes them
afterwards, whatever happened.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import RAISED_LIMITS
from pam_harness import (CODE_PROMPT, PASSWORD_PROMPT, SHIPPED_PAM_DIR, Transaction,
                         _point_at_build, assert_logged_in, log_in, login_stack)
from support.enrolment import STEP, enrol, totp
from support.fleet import fleet_daemon
from support.postgres import SUPERUSER, PostgresCluster
from support.protocol import Field, MessageType, Status, request
from test_store_backends import login

# The PAM module's default deadline for an answer of the daemon (timeout=3000).
MODULE_DEADLINE = 3.0
RECONNECTED = "Reconnected to PostgreSQL"


def failover_daemon(conninfo, server_name, key_from=None):
    """A fleet daemon (support/fleet.py). Two steps ahead are accepted, so that a code of a
    later step can be tried after the failover."""
    return fleet_daemon(conninfo, server_name, key_from,
                        extra_config=RAISED_LIMITS + "totp_window = 2\n")


@pytest.fixture
def daemons():
    """Starts fleet daemons (failover_daemon's arguments) and stops and removes them all."""
    started = []

    def start(*args, **kwargs):
        running = failover_daemon(*args, **kwargs)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
        # pytest shows it with a failed test.
        print(f"--- log of fotoauthd in {running.dir}:\n{running.log()}")
        running.cleanup()


@pytest.fixture
def cluster():
    with PostgresCluster() as running:
        yield running


@pytest.fixture
def replicated():
    """A primary with a synchronous streaming standby: (primary, standby)."""
    with PostgresCluster() as primary:
        yield primary, primary.standby(synchronous=True)


def later_code(enrolment, steps):
    """The code `steps` steps after the confirmation's (or now's, when later)."""
    return totp(enrolment.secret, max(time.time(), enrolment.confirmed_at) + steps * STEP)


def test_a_failover_forgets_no_used_code(replicated, daemons, user):
    primary, standby = replicated
    database = primary.new_database()
    # Both servers listed; libpq keeps the one that takes writes (docs/fleet.md).
    conninfo = (f"host=127.0.0.1,127.0.0.1 port={primary.port},{standby.port} "
                f"user={SUPERUSER} dbname={database} target_session_attrs=read-write")
    first = daemons(conninfo, "alpha")
    second = daemons(conninfo, "beta", key_from=first)

    enrolment = enrol(first.socket, user.name)
    code_a = enrolment.next_code()
    assert login(first, user.name, code_a) == Status.OK, first.log()
    spent_recovery = enrolment.recovery_codes[0]
    assert login(second, user.name, spent_recovery) == Status.OK, second.log()

    # The primary crashes right after the commits: no time for an asynchronous standby to catch
    # up; a synchronous one has them already.
    primary.halt("immediate")
    standby.promote()

    for daemon in (first, second):
        # The daemon finds its session cut while it was idle and connects to the promoted
        # standby before it answers: not even the first request after the failover fails.
        assert login(daemon, user.name, code_a) == Status.REJECTED, daemon.log()
        assert login(daemon, user.name, spent_recovery) == Status.REJECTED, daemon.log()
        assert RECONNECTED in daemon.log()
        assert "Request failed" not in daemon.log()

    fresh = later_code(enrolment, 2)
    assert login(second, user.name, fresh) == Status.OK, second.log()
    assert login(first, user.name, fresh) == Status.REJECTED, first.log()
    unspent_recovery = enrolment.recovery_codes[1]
    assert login(first, user.name, unspent_recovery) == Status.OK, first.log()

    # The promoted standby has the history of both servers, from before and after the failover.
    servers = standby.psql("SELECT DISTINCT server FROM history ORDER BY server", database)
    assert servers.split() == ["alpha", "beta"]


def verify(daemon, user, code):
    """One AuthVerify as the module sends it for a console login: (status, seconds taken)."""
    started = time.monotonic()
    answer = request(daemon.socket, MessageType.AUTH_VERIFY,
                     {Field.USER: user, Field.SERVICE: "login", Field.TTY: "/dev/tty1",
                      Field.CODE: code}, timeout=10)
    return answer.status, time.monotonic() - started


def console_stack(pam, socket_path):
    """The auth and account lines of etc/pam.d/login-fotostudio with its four break-glass lines
    uncommented, as docs/runbook.md tells an administrator, and the module pointed at the daemon
    under test. pam_permit stands in for common-account; pam_faildelay is left out (its 3 s
    wait after a failure only slows the test down)."""
    lines = []
    uncomment = False
    for line in (SHIPPED_PAM_DIR / "login-fotostudio").read_text().splitlines():
        if line.startswith("# break-glass"):
            uncomment = True
            continue
        if uncomment:
            line, uncomment = line.lstrip("#"), False
            lines.append(line)
            assert "pam_succeed_if.so" in line or "pam_permit.so" in line, line
        elif line.split()[:1] in (["auth"], ["account"]) and "pam_faildelay" not in line:
            lines.append(line)
    assert sum("uid eq 0" in line for line in lines) == 3, lines
    lines.append("account required pam_permit.so")
    return pam.service(*(_point_at_build(line, socket_path) for line in lines))


@pytest.fixture
def root_password():
    """A password for root in a private copy of /etc/shadow, seen only by the commands that
    as_root_console() wraps (a mount namespace of their own): the machine's root is untouched.
    Yields the wrapper for a pam-driver command and the password."""
    folder = Path(tempfile.mkdtemp(prefix="fsauth-shadow-"))
    password = "root-" + os.urandom(8).hex()
    hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password, check=True,
                            capture_output=True, text=True).stdout.strip()
    entries = []
    for entry in Path("/etc/shadow").read_text().splitlines():
        fields = entry.split(":")
        if fields[0] == "root":
            fields[1] = hashed
        entries.append(":".join(fields))
    shadow = folder / "shadow"
    shadow.touch(mode=0o600)
    shadow.write_text("\n".join(entries) + "\n")

    def wrap(command):
        return ["unshare", "--mount", "sh", "-c",
                'mount --make-rprivate / && mount --bind "$1" /etc/shadow && shift && exec "$@"',
                "sh", str(shadow), *command]

    yield wrap, password
    shutil.rmtree(folder, ignore_errors=True)


def run_pam(command):
    started = time.monotonic()
    finished = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    return Transaction.parse(finished.stdout, time.monotonic() - started)


def test_a_stopped_database_fails_logins_closed_and_break_glass_still_works(
        cluster, daemons, user, pam, root_password):
    daemon = daemons(cluster.conninfo(cluster.new_database()), "alpha")
    enrolment = enrol(daemon.socket, user.name)
    console_stack(pam, daemon.socket)
    as_root_console, root_secret = root_password

    def console_login(name, password, *codes, tty="/dev/tty1"):
        return run_pam(as_root_console(pam.command(name, [password, *codes],
                                                   stage="auth+account", tty=tty)))

    cluster.halt("fast")

    # The daemon answers at once, and fails closed.
    status, seconds = verify(daemon, user.name, enrolment.next_code())
    assert status == Status.INTERNAL_ERROR, daemon.log()
    assert seconds < MODULE_DEADLINE, seconds
    refused = console_login(user.name, user.password, enrolment.next_code())
    assert refused.auth == "PAM_AUTHINFO_UNAVAIL", refused.stdout
    assert refused.elapsed < MODULE_DEADLINE, refused.elapsed

    # Break-glass: root with the right password on a virtual terminal, and nobody else.
    rescued = console_login("root", root_secret)
    assert rescued.auth == "PAM_SUCCESS", rescued.stdout
    assert rescued.account == "PAM_SUCCESS", rescued.stdout
    assert console_login("root", "not-" + root_secret).auth != "PAM_SUCCESS"
    assert console_login("root", root_secret, tty="ssh").auth != "PAM_SUCCESS"
    assert console_login("root", root_secret, tty="/dev/pts/0").auth != "PAM_SUCCESS"

    # Started again: the same daemon process takes the next login.
    pid = daemon.process.pid
    cluster.resume()
    back = console_login(user.name, user.password, later_code(enrolment, 2))
    assert back.auth == "PAM_SUCCESS", back.stdout + daemon.log()
    assert back.account == "PAM_SUCCESS", back.stdout
    assert daemon.process.pid == pid and daemon.process.poll() is None
    assert RECONNECTED in daemon.log()


# After a connection attempt that timed out, the daemon waits this long before the next one
# (postgres_store.cpp, kConnectPause), failing requests closed at once meanwhile.
CONNECT_PAUSE = 5


def until_reconnected(daemon, user):
    """Waits until the daemon answers from the database again, which must happen by itself
    within the pause after a timed-out connection attempt (plus one attempt)."""
    deadline = time.monotonic() + CONNECT_PAUSE + 3
    while True:
        answer = request(daemon.socket, MessageType.STATUS, {Field.USER: user.name})
        if answer.status == Status.OK:
            return
        assert time.monotonic() < deadline, daemon.log()
        time.sleep(0.2)


class HeldLock:
    """A psql session that holds an ACCESS EXCLUSIVE lock on a table until release(): every
    statement of another session that reads the table waits meanwhile, as on an overloaded or
    stuck database."""

    def __init__(self, cluster, database, table):
        self.process = subprocess.Popen(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", cluster.conninfo(database)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.process.stdin.write(f"BEGIN;\nLOCK TABLE {table} IN ACCESS EXCLUSIVE MODE;\n"
                                 "\\echo locked\n")
        self.process.stdin.flush()
        said = self.process.stdout.readline().strip()
        assert said == "locked", said + self.process.stdout.read()

    def release(self):
        if self.process.poll() is None:
            self.process.communicate("ROLLBACK;\n\\q\n", timeout=30)


def test_a_slow_database_fails_logins_closed_within_the_deadline(cluster, daemons, user, pam):
    database = cluster.new_database()
    daemon = daemons(cluster.conninfo(database), "alpha")
    enrolment = enrol(daemon.socket, user.name)
    login_stack(pam, daemon)

    lock = HeldLock(cluster, database, "enrolments")
    try:
        status, seconds = verify(daemon, user.name, enrolment.next_code())
        assert status == Status.INTERNAL_ERROR, daemon.log()
        assert seconds < MODULE_DEADLINE, seconds
        refused = log_in(pam, user, enrolment.next_code())
        assert refused.auth == "PAM_AUTHINFO_UNAVAIL", refused.stdout
        assert refused.elapsed < MODULE_DEADLINE + 1, refused.elapsed
    finally:
        lock.release()

    # The code was not spent by the requests that failed: it passes now.
    assert_logged_in(log_in(pam, user, enrolment.next_code()), [PASSWORD_PROMPT, CODE_PROMPT])
    assert "statement timeout" in daemon.log()


def test_a_database_that_does_not_answer_fails_logins_closed(cluster, daemons, user, pam):
    daemon = daemons(cluster.conninfo(cluster.new_database()), "alpha")
    enrolment = enrol(daemon.socket, user.name)
    login_stack(pam, daemon)

    # Its port taken by a listener that accepts connections (the kernel does) but never says a
    # word: the daemon's connection attempts wait for connect_timeout.
    cluster.halt("fast")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        silent.bind(("127.0.0.1", cluster.port))
        silent.listen(64)
        for _ in range(2):
            refused = log_in(pam, user, enrolment.next_code())
            assert refused.auth == "PAM_AUTHINFO_UNAVAIL", refused.stdout
            assert refused.elapsed < MODULE_DEADLINE + 1, refused.elapsed

    pid = daemon.process.pid
    cluster.resume()
    until_reconnected(daemon, user)
    assert_logged_in(log_in(pam, user, enrolment.next_code()), [PASSWORD_PROMPT, CODE_PROMPT])
    assert daemon.process.pid == pid and daemon.process.poll() is None
    assert RECONNECTED in daemon.log()


def test_a_database_that_hangs_fails_logins_closed_and_the_daemon_goes_on(
        cluster, daemons, user, pam):
    daemon = daemons(cluster.conninfo(cluster.new_database()), "alpha")
    enrolment = enrol(daemon.socket, user.name)
    login_stack(pam, daemon)

    # The daemon's session stays open but nothing answers on it any more: the server's own
    # statement_timeout cannot help, only the daemon's own deadline can.
    cluster.freeze()
    try:
        status, seconds = verify(daemon, user.name, enrolment.next_code())
        assert status == Status.INTERNAL_ERROR, daemon.log()
        assert seconds < MODULE_DEADLINE, seconds
        refused = log_in(pam, user, enrolment.next_code())
        assert refused.auth == "PAM_AUTHINFO_UNAVAIL", refused.stdout
        assert refused.elapsed < MODULE_DEADLINE + 1, refused.elapsed
    finally:
        cluster.thaw()

    until_reconnected(daemon, user)
    assert_logged_in(log_in(pam, user, enrolment.next_code()), [PASSWORD_PROMPT, CODE_PROMPT])
    assert RECONNECTED in daemon.log()


def test_removing_old_attempts_never_waits_for_a_missing_standby(replicated, daemons, user):
    """The daemons remove old rate-limit attempts once a second; with the synchronous standby
    gone that removal must not hold the daemon's loop until the statement's deadline."""
    primary, standby = replicated
    database = primary.new_database()
    daemon = daemons(primary.conninfo(database), "alpha")
    primary.psql("INSERT INTO attempts (window_name, key, label, at_ms) "
                 "SELECT 'login-source', '198.51.100.45', '198.51.100.45', "
                 "fotoauthd_now_ms() - 7200000 FROM generate_series(1, 50)", database)
    standby.halt("fast")
    try:
        slowest = 0.0
        until = time.monotonic() + 4
        while time.monotonic() < until:
            started = time.monotonic()
            request(daemon.socket, MessageType.STATUS, {Field.USER: user.name})
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.2)
        left = primary.psql("SELECT count(*) FROM attempts WHERE key = '198.51.100.45'", database)
        assert int(left) == 0, daemon.log()
        assert slowest < 1.0, (slowest, daemon.log())
        assert "Delayed work failed" not in daemon.log()
    finally:
        standby.resume()


def test_logins_wait_for_a_synchronous_standby_and_fail_closed_without_it(replicated, daemons,
                                                                          user):
    primary, standby = replicated
    daemon = daemons(primary.conninfo(primary.new_database()), "alpha")
    enrolment = enrol(daemon.socket, user.name)

    # Every commit waits until the standby has it; with the standby gone that is forever, and
    # only the daemon's own deadline ends the wait.
    standby.halt("fast")
    for _ in range(2):
        status, seconds = verify(daemon, user.name, enrolment.next_code())
        assert status == Status.INTERNAL_ERROR, daemon.log()
        assert seconds < MODULE_DEADLINE, seconds

    standby.resume()
    primary.wait_for("SELECT sync_state FROM pg_stat_replication", "sync")
    assert login(daemon, user.name, later_code(enrolment, 2)) == Status.OK, daemon.log()
