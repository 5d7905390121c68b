"""fotoauthd under faults: killed or stopped in the middle of a request, its database locked,
read-only, on a full disk, emptied or corrupt, its wall clock jumping, its state restored from a
backup, and its socket path replaced. Whatever happens, logins fail closed meanwhile, the database
stays consistent, and a code that was accepted once is never accepted again.

How "the middle" of a request is hit: strace attaches to the running daemon and injects SIGKILL
on entry to its n-th pwrite64 (SQLite writes every WAL frame with pwrite64) or to its first
sendto (the answer), counted from the moment strace attached. Walking n from 1 upwards until the
daemon survives kills it once before every single write of the request's transaction, and once
between the commit and the answer: every place a crash can fall.

The wall clock moves only for the daemon, through libfaketime (Debian package faketime) with
DONT_FAKE_MONOTONIC=1, an offset file re-read on every call; the machine's clock is never
touched. Mounts (tmpfs) are made only on folders these tests create, and unmounted in finally."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from pam_harness import module_line
from support.daemon import Daemon
from support.enrolment import enrol, totp, unused_code
from support.protocol import (MAX_MESSAGE_SIZE, Field, MessageType, ProtocolError, Reply, Status,
                              decode, encode, reply, request)

FAKETIME_LIBRARY = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
LIMITS = "login_source_attempts = 1000\nlogin_user_attempts = 1000\n"
# Two wrong codes lock for 4 s; the wrong-code window is as short, so that the lock alone decides.
CLOCK_CONFIG = "code_attempts = 2\ncode_window = 4\nlock_duration = 4\n" + LIMITS


# --- helpers ---

def integrity(database):
    """PRAGMA integrity_check of the file as it is now ('ok' when sound)."""
    return subprocess.run(["sqlite3", str(database), "PRAGMA integrity_check"],
                          capture_output=True, text=True, timeout=30).stdout.strip()


def sql(database, statement):
    return subprocess.run(["sqlite3", str(database), statement], capture_output=True, text=True,
                          check=True, timeout=30).stdout.strip()


def last_step(database, user):
    return int(sql(database, "SELECT e.last_step FROM enrolments e JOIN accounts a "
                             f"ON a.id = e.account_id WHERE a.name = '{user}'") or -1)


def restart(daemon):
    """Starts the daemon again on the same socket, database and configuration."""
    daemon.kill()
    if daemon.socket.exists() or daemon.socket.is_symlink():
        daemon.socket.unlink()  # left by the killed process; start() waits for a new one
    return daemon.start()


def send(socket_path, message_type, fields, timeout=5.0):
    """One request; its Reply, or None when the connection ended without one."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
        sock.settimeout(timeout)
        sock.connect(str(socket_path))
        sock.send(encode(message_type, fields))
        try:
            data = sock.recv(MAX_MESSAGE_SIZE + 1)
        except (socket.timeout, ConnectionResetError):
            return None
    if not data:
        return None
    try:
        return Reply(decode(data)[1])
    except ProtocolError:
        return None


def verify(daemon, user, code, timeout=5.0):
    return send(daemon.socket, MessageType.AUTH_VERIFY,
                {Field.USER: user, Field.SERVICE: "sshd", Field.CODE: code}, timeout)


def status(daemon, user):
    return request(daemon.socket, MessageType.STATUS, {Field.USER: user})


def query(daemon, user):
    return request(daemon.socket, MessageType.AUTH_QUERY,
                   {Field.USER: user, Field.SERVICE: "sshd"}).status


def _traced(pid):
    try:
        with open(f"/proc/{pid}/status") as lines:
            return any(line.startswith("TracerPid:") and line.split()[1] != "0"
                       for line in lines)
    except FileNotFoundError:
        return False


class KillAt:
    """strace on the daemon, killing it on entry to the nth `syscall` from now on."""

    def __init__(self, daemon, syscall, nth):
        self.daemon = daemon
        pid = daemon.process.pid
        self.tracer = subprocess.Popen(
            ["strace", "-qq", "-p", str(pid), "-o", "/dev/null", "-e", f"trace={syscall}",
             "-e", f"inject={syscall}:signal=SIGKILL:when={nth}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not _traced(pid):
            assert time.monotonic() < deadline and self.tracer.poll() is None, "no strace"
            time.sleep(0.01)

    def killed(self, timeout=3.0):
        """Whether the daemon died; strace is detached either way."""
        try:
            self.daemon.process.wait(timeout=timeout)
            died = True
        except subprocess.TimeoutExpired:
            died = False
        if self.tracer.poll() is None:
            self.tracer.terminate()
        self.tracer.wait(timeout=10)
        return died


class Background:
    def __init__(self, fn):
        self.value = None
        self.thread = threading.Thread(target=lambda: setattr(self, "value", fn()), daemon=True)
        self.thread.start()

    def result(self, timeout=30):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the request did not end"
        return self.value


@pytest.fixture
def private_dir():
    path = Path(tempfile.mkdtemp(prefix="fsauth-fault-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@contextmanager
def tmpfs(mountpoint, size="2m"):
    """A small tmpfs on a folder the test made; unmounted (lazily, if busy) afterwards."""
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                    str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        if subprocess.run(["umount", str(mountpoint)]).returncode != 0:
            subprocess.run(["umount", "-l", str(mountpoint)], check=True)


def remount(mountpoint, mode):
    subprocess.run(["mount", "-o", f"remount,{mode}", str(mountpoint)], check=True)


def daemon_on_tmpfs(private_dir, extra_config=LIMITS):
    """A Daemon whose state folder is a fresh tmpfs: (daemon, mount context)."""
    daemon = Daemon(workdir=private_dir, extra_config=extra_config)
    daemon.database.parent.mkdir(mode=0o700)
    return daemon, tmpfs(daemon.database.parent)


# --- killed in the middle ---

def kill_at_the_code_prompt(pam, daemon, user, answer, syscall, nth):
    """A login held at the code prompt; strace arms the kill, then the answer goes in.
    Returns (the transaction, whether the daemon died)."""
    held = pam.start(user)
    assert held.wait_for_prompt() is not None, "".join(held.lines)
    killer = KillAt(daemon, syscall, nth)
    held.answer(answer)
    result = held.finish()
    return result, killer.killed()


def code_stage(pam, daemon):
    return pam.service(module_line("auth", daemon.socket, timeout=3000))


def test_kill_before_each_write_of_a_verification_fails_closed_and_spends_nothing(
        pam, daemon, enrolled):
    code_stage(pam, daemon)
    code = enrolled.next_code()
    step_before = last_step(daemon.database, enrolled.user)

    for nth in range(1, 20):
        result, died = kill_at_the_code_prompt(pam, daemon, enrolled.user, code, "pwrite64", nth)
        if not died:
            break
        assert result.auth == "PAM_AUTHINFO_UNAVAIL", result.stdout
        assert result.env["after auth"] is None
        assert integrity(daemon.database) == "ok"
        assert last_step(daemon.database, enrolled.user) == step_before, f"write {nth}"
        restart(daemon)
    else:
        pytest.fail("the daemon never survived a verification")

    assert nth > 1, "no write was interrupted: the verification wrote nothing?"
    assert result.auth == "PAM_SUCCESS", result.stdout
    assert pam.run(enrolled.user, [code]).auth == "PAM_AUTH_ERR"


def test_kill_between_commit_and_answer_fails_closed_and_the_code_stays_used(pam, daemon,
                                                                              enrolled):
    code_stage(pam, daemon)
    code = enrolled.next_code()

    result, died = kill_at_the_code_prompt(pam, daemon, enrolled.user, code, "sendto", 1)

    assert died
    assert result.auth == "PAM_AUTHINFO_UNAVAIL", result.stdout
    assert integrity(daemon.database) == "ok"
    restart(daemon)
    again = pam.run(enrolled.user, [code])
    assert again.auth == "PAM_AUTH_ERR", again.stdout


def test_kill_during_a_recovery_code_use_spends_it_at_most_once(pam, daemon, enrolled):
    code_stage(pam, daemon)
    first, second = enrolled.recovery_codes[:2]

    for nth in range(1, 40):
        result, died = kill_at_the_code_prompt(pam, daemon, enrolled.user, first, "pwrite64", nth)
        if not died:
            break
        assert result.auth == "PAM_AUTHINFO_UNAVAIL", result.stdout
        assert integrity(daemon.database) == "ok"
        restart(daemon)
        assert status(daemon, enrolled.user).get(Field.CODES_LEFT) == 10, f"write {nth}"
    assert result.auth == "PAM_SUCCESS", result.stdout
    assert status(daemon, enrolled.user).get(Field.CODES_LEFT) == 9

    result, died = kill_at_the_code_prompt(pam, daemon, enrolled.user, second, "sendto", 1)
    assert died and result.auth == "PAM_AUTHINFO_UNAVAIL", result.stdout
    assert integrity(daemon.database) == "ok"
    restart(daemon)
    assert status(daemon, enrolled.user).get(Field.CODES_LEFT) == 8
    for spent in (first, second):
        assert pam.run(enrolled.user, [spent]).auth == "PAM_AUTH_ERR"


def begin(daemon, user):
    begun = request(daemon.socket, MessageType.ENROL_BEGIN,
                    {Field.USER: user, Field.MODE: "always"})
    assert begun.status == Status.OK, begun
    return begun.get(Field.SECRET)


def test_kill_during_an_enrolment_leaves_it_whole_or_absent(daemon, user):
    # The confirmation writes more than one transaction (the enrolment, then its history and
    # alert rows), so a kill after the first commit leaves a whole enrolment without an answer.
    secret = begin(daemon, user.name)
    absent_after = []

    for nth in range(1, 60):
        killer = KillAt(daemon, "pwrite64", nth)
        answer = verify_like_confirm(daemon, user.name, totp(secret))
        if not killer.killed():
            assert answer is not None and answer.status == Status.OK, answer
            break
        assert answer is None
        assert integrity(daemon.database) == "ok"
        restart(daemon)
        current = status(daemon, user.name)
        if current.get(Field.ENROLLED) == 1:
            break
        # Half an enrolment is no enrolment: logins are not asked a code it could not check.
        assert current.get(Field.ENROLLED) == 0, f"write {nth}: {current.fields}"
        assert query(daemon, user.name) == Status.NOT_ENROLLED
        absent_after.append(nth)
        if current.get(Field.PENDING) != 1:
            secret = begin(daemon, user.name)
    else:
        pytest.fail("the daemon never survived a confirmation")

    assert absent_after, "no write before the commit was interrupted"
    done = status(daemon, user.name)
    assert done.get(Field.ENROLLED) == 1 and done.get(Field.CODES_LEFT) == 10, done.fields
    assert query(daemon, user.name) == Status.CODE_REQUIRED
    assert verify(daemon, user.name, totp(secret, time.time() + 30)).status == Status.OK


def verify_like_confirm(daemon, user, code):
    return send(daemon.socket, MessageType.ENROL_CONFIRM, {Field.USER: user, Field.CODE: code})


def test_kill_after_an_enrolment_committed_leaves_it_active_without_codes_shown(daemon, user):
    # The user never saw the recovery codes; the enrolment is whole all the same (ten codes,
    # the secret works) and `fotoauthctl recovery-codes regenerate` gives new ones.
    secret = begin(daemon, user.name)

    killer = KillAt(daemon, "sendto", 1)
    answer = verify_like_confirm(daemon, user.name, totp(secret))
    assert killer.killed() and answer is None

    assert integrity(daemon.database) == "ok"
    restart(daemon)
    done = status(daemon, user.name)
    assert done.get(Field.ENROLLED) == 1 and done.get(Field.CODES_LEFT) == 10, done.fields
    assert query(daemon, user.name) == Status.CODE_REQUIRED


# --- stopped ---

def test_stopped_daemon_fails_logins_closed_within_the_deadline_and_recovers(pam, daemon,
                                                                             enrolled):
    pam.service(module_line("auth", daemon.socket, timeout=700))
    code = enrolled.next_code()

    os.kill(daemon.process.pid, signal.SIGSTOP)
    try:
        stopped = pam.run(enrolled.user, [code])
    finally:
        os.kill(daemon.process.pid, signal.SIGCONT)

    assert stopped.auth == "PAM_AUTHINFO_UNAVAIL", stopped.stdout
    assert stopped.elapsed < 3, stopped.elapsed
    assert stopped.prompts == [], "no code is asked while the daemon cannot answer"
    resumed = pam.run(enrolled.user, [code])
    assert resumed.auth == "PAM_SUCCESS", resumed.stdout


def test_code_sent_to_a_stopped_daemon_is_judged_later_and_then_spent(pam, daemon, enrolled):
    # The module gives up at its deadline, but the request waits in the socket. When the daemon
    # continues it reads it and uses the code up although nobody hears the answer: the user's
    # retry with the same code is refused, and the next code works.
    pam.service(module_line("auth", daemon.socket, timeout=700))
    code = enrolled.next_code()
    held = pam.start(enrolled.user)
    assert held.wait_for_prompt() is not None

    os.kill(daemon.process.pid, signal.SIGSTOP)
    try:
        held.answer(code)
        result = held.finish()
    finally:
        os.kill(daemon.process.pid, signal.SIGCONT)
    assert result.auth == "PAM_AUTHINFO_UNAVAIL", result.stdout

    time.sleep(0.5)
    retry = pam.run(enrolled.user, [code])
    assert retry.auth == "PAM_AUTH_ERR", retry.stdout


# --- the database locked, read-only, full, empty, corrupt ---

class Holder:
    """A python3 process holding BEGIN EXCLUSIVE on the database until release()."""

    def __init__(self, database):
        script = ("import sqlite3, sys\n"
                  "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
                  "db.execute('BEGIN EXCLUSIVE')\n"
                  "print('held', flush=True)\n"
                  "sys.stdin.readline()\n"
                  "db.execute('ROLLBACK')\n")
        self.process = subprocess.Popen(["/usr/bin/python3", "-c", script, str(database)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "held"

    def release(self):
        if self.process.poll() is None:
            self.process.stdin.write("\n")
            self.process.stdin.flush()
            self.process.wait(timeout=10)


def test_locked_database_fails_closed_spends_nothing_and_loses_no_wrong_code(
        pam, limited_daemon, make_user):
    daemon = limited_daemon("code_attempts = 2\nlock_duration = 600\n")
    user = make_user()
    enrolled = enrol(daemon.socket, user.name)
    pam.service(module_line("auth", daemon.socket, timeout=2000))
    code = enrolled.next_code()
    assert verify(daemon, user.name, unused_code(enrolled.secret)).status == Status.REJECTED

    holder = Holder(daemon.database)
    try:
        login = pam.run(user.name, [code])
        # The second wrong code, the one that locks, while nothing can be written.
        locking = verify(daemon, user.name, unused_code(enrolled.secret), timeout=20)
    finally:
        holder.release()

    assert login.auth == "PAM_AUTHINFO_UNAVAIL", login.stdout
    assert locking is None or locking.status in (Status.REJECTED, Status.LOCKED,
                                                 Status.INTERNAL_ERROR), locking
    assert integrity(daemon.database) == "ok"
    # The lock was earned; a locked database must not have made the daemon forget it.
    after = verify(daemon, user.name, code, timeout=20)
    assert after is not None and after.status == Status.LOCKED, after


def test_read_only_state_refuses_to_serve_and_a_code_is_accepted_once_afterwards(private_dir,
                                                                                  user):
    # Linux refuses to remount a file system read-only while the daemon holds the database open
    # for writing, so the state folder turns read-only between two runs (as after a boot with a
    # damaged disk): the daemon must refuse to start, or serve without accepting anything.
    daemon, mount = daemon_on_tmpfs(private_dir)
    with mount as state:
        daemon.start()
        try:
            enrolled = enrol(daemon.socket, user.name)
            used = enrolled.next_code()
            assert verify(daemon, user.name, used).status == Status.OK
            daemon.stop()
            remount(state, "ro")
            try:
                started = True
                try:
                    daemon.start()
                except RuntimeError:
                    started = False
                if started:
                    answers = [verify(daemon, user.name, used),
                               verify(daemon, user.name, enrolled.recovery_codes[0])]
                    assert all(a is None or a.status != Status.OK for a in answers), answers
                    daemon.stop()
                else:
                    assert "read-only" in daemon.log().lower() or "readonly" in daemon.log()
            finally:
                daemon.kill()
                remount(state, "rw")

            restart(daemon)
            assert integrity(daemon.database) == "ok"
            assert verify(daemon, user.name, used).status == Status.REJECTED
            recovery = enrolled.recovery_codes[0]
            assert [verify(daemon, user.name, recovery).status,
                    verify(daemon, user.name, recovery).status] == [Status.OK, Status.REJECTED]
        finally:
            daemon.stop()


def fill(folder):
    """Writes a file into folder until the file system is full."""
    # Unbuffered, so that nothing is left to flush (and fail) when the file is closed.
    with open(folder / "filler", "wb", buffering=0) as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
        except OSError:
            pass
    return folder / "filler"


def test_full_disk_never_accepts_a_code_it_could_not_record(private_dir, make_user):
    daemon, mount = daemon_on_tmpfs(private_dir)
    with mount as state:
        daemon.start()
        try:
            users = [make_user() for _ in range(3)]
            enrolments = [enrol(daemon.socket, u.name) for u in users]
            filler = fill(state)
            answers = []
            for enrolled in enrolments:
                code = enrolled.recovery_codes[0]
                answers.append((enrolled, code, verify(daemon, enrolled.user, code, timeout=20)))
            more = [make_user() for _ in range(3)]
            begun = [send(daemon.socket, MessageType.ENROL_BEGIN,
                          {Field.USER: u.name, Field.MODE: "always"}, 20) for u in more]
            filler.unlink()

            assert integrity(daemon.database) == "ok"
            restart(daemon)
            for enrolled, code, answer in answers:
                assert answer is None or answer.status in (Status.OK, Status.INTERNAL_ERROR)
                replay = verify(daemon, enrolled.user, code)
                if answer is not None and answer.status == Status.OK:
                    assert replay.status == Status.REJECTED, "an accepted code came back"
                else:
                    assert replay.status == Status.OK, "a refused code was spent anyway"
            assert all(b is None or b.status in (Status.OK, Status.INTERNAL_ERROR)
                       for b in begun), begun
        finally:
            daemon.stop()


def test_zero_length_database_does_not_turn_mfa_off(daemon, enrolled):
    daemon.stop()
    for leftover in daemon.database.parent.glob(daemon.database.name + "-*"):
        leftover.unlink()
    daemon.database.write_bytes(b"")

    try:
        daemon.start()
    except RuntimeError as refused:
        assert "database" in str(refused).lower()
        return
    # It started: then it must not tell a login that the enrolled user has no MFA.
    assert query(daemon, enrolled.user) != Status.NOT_ENROLLED, (
        "an emptied database silently switched MFA off:\n" + daemon.log()[-2000:])


@pytest.mark.parametrize("damage", ["header", "pages"])
def test_corrupt_database_is_refused_with_a_clear_error_and_never_lets_anyone_in(daemon,
                                                                                 enrolled,
                                                                                 damage):
    daemon.stop()
    data = bytearray(daemon.database.read_bytes())
    noise = os.urandom(len(data))
    if damage == "header":
        data[:100] = noise[:100]
    else:
        data[4096:] = noise[4096:]
    daemon.database.write_bytes(bytes(data))

    try:
        daemon.start()
    except RuntimeError as refused:
        assert "refusing" in str(refused).lower() or "database" in str(refused).lower()
        return
    answers = [query(daemon, enrolled.user) for _ in range(2)]
    assert Status.NOT_ENROLLED not in answers, answers
    assert verify(daemon, enrolled.user, "123456").status != Status.OK


# --- the wall clock jumps ---

@pytest.fixture
def faked_clock(private_dir):
    """start(config) -> (daemon under libfaketime, set_offset(seconds)); only the wall clock
    moves, and only for the daemon."""
    if not FAKETIME_LIBRARY.exists():
        pytest.fail("libfaketime is missing: apt-get install faketime")
    offset_file = private_dir / "faketime"
    offset_file.write_text("+0\n")
    # Under AddressSanitizer (scripts/sanitizers.sh) its runtime must come first in the list.
    preload = ":".join(filter(None, [os.environ.get("FOTOSTUDIO_PRELOAD_FIRST"),
                                     str(FAKETIME_LIBRARY)]))
    environment = {"LD_PRELOAD": preload, "FAKETIME_TIMESTAMP_FILE":
                   str(offset_file), "FAKETIME_NO_CACHE": "1", "DONT_FAKE_MONOTONIC": "1"}
    started = []

    def set_offset(seconds):
        offset_file.write_text(f"{seconds:+d}\n")

    def start(config):
        daemon = Daemon(extra_config=config)
        started.append(daemon)
        saved = {name: os.environ.get(name) for name in environment}
        os.environ.update(environment)
        try:
            daemon.start()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        return daemon, set_offset

    yield start
    for daemon in started:
        daemon.stop()
        daemon.cleanup()


def forward_jump(wanted=7200):
    """How far the daemon's wall clock may be set ahead: `wanted` seconds, or less on a machine
    booted less than that ago. libfaketime also moves the absolute times that the daemon's
    event loop gives timerfd_settime (monotonic ones included) back by its offset; an offset
    larger than the uptime makes them negative, the kernel refuses them and the daemon's event
    loop stops. A machine booted minutes ago (a new CI runner) gets a smaller jump, still far
    beyond every TOTP window and lock these tests use."""
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    jump = min(wanted, int(uptime) - 120)
    assert jump >= 300, f"this machine has been up {uptime:.0f} s; the clock tests need 7 minutes"
    return jump


def test_wall_clock_going_back_brings_no_used_code_back(faked_clock, user):
    daemon, set_offset = faked_clock(LIMITS + "code_attempts = 1000\n")
    enrolled = enrol(daemon.socket, user.name)
    code = enrolled.next_code()
    assert verify(daemon, user.name, code).status == Status.OK

    for back in (-30, -90, -300, -7200):
        set_offset(back)
        then = time.time() + back
        assert verify(daemon, user.name, code).status == Status.REJECTED, back
        assert verify(daemon, user.name, totp(enrolled.secret, then)).status == \
            Status.REJECTED, back


def test_codes_of_a_clock_ahead_spend_the_real_codes_until_real_time_catches_up(faked_clock,
                                                                               user):
    # Documented consequence: a code of the time the daemon believed is a later step; once used,
    # every code of an earlier step, the phone's real ones included, is refused (recovery codes
    # still work).
    daemon, set_offset = faked_clock(LIMITS + "code_attempts = 1000\n")
    enrolled = enrol(daemon.socket, user.name)
    jump = forward_jump()
    set_offset(jump)
    ahead = totp(enrolled.secret, time.time() + jump)
    assert verify(daemon, user.name, ahead).status == Status.OK

    set_offset(0)
    assert verify(daemon, user.name, enrolled.next_code()).status == Status.REJECTED
    assert verify(daemon, user.name, enrolled.recovery_codes[0]).status == Status.OK


@pytest.mark.parametrize("direction", ["ahead", "back"])
def test_lock_survives_a_wall_clock_jump_and_ends_on_time(faked_clock, user, direction):
    jump = forward_jump() if direction == "ahead" else -7200
    daemon, set_offset = faked_clock(CLOCK_CONFIG)
    enrolled = enrol(daemon.socket, user.name)
    for _ in range(2):
        assert verify(daemon, user.name, unused_code(enrolled.secret)).status == Status.REJECTED
    locked_at = time.monotonic()

    set_offset(jump)
    assert query(daemon, user.name) == Status.LOCKED, "a wall-clock jump lifted the lock"
    time.sleep(1)
    assert query(daemon, user.name) == Status.LOCKED
    set_offset(0)
    assert query(daemon, user.name) == Status.LOCKED

    # lock_duration = 4 s on the monotonic clock: over by then, neither early nor extended.
    time.sleep(max(0.0, locked_at + 4.5 - time.monotonic()))
    assert query(daemon, user.name) == Status.CODE_REQUIRED
    assert verify(daemon, user.name, enrolled.next_code()).status == Status.OK


# --- a restored backup ---

def test_restored_backup_brings_back_the_codes_used_since_it_was_taken(daemon, enrolled):
    # Documented (docs/robustness.md): the state folder is the whole memory of used codes. A
    # backup taken before a login gives back, once restored, the TOTP step and the recovery
    # code that login used: both are accepted again (the TOTP code while its step is still in
    # the window). Restore backups only with the daemon stopped, and regenerate recovery codes
    # after a restore.
    state = daemon.database.parent
    backup = daemon.dir / "backup"
    daemon.stop()
    shutil.copytree(state, backup)
    daemon.start()
    code, recovery = enrolled.next_code(), enrolled.recovery_codes[0]
    assert verify(daemon, enrolled.user, code).status == Status.OK
    assert verify(daemon, enrolled.user, recovery).status == Status.OK

    daemon.stop()
    shutil.rmtree(state)
    shutil.copytree(backup, state)
    daemon.start()

    assert integrity(daemon.database) == "ok"
    assert verify(daemon, enrolled.user, code).status == Status.OK
    assert verify(daemon, enrolled.user, recovery).status == Status.OK


# --- the socket path replaced ---

def behind_permit(pam, socket_path):
    return pam.service("auth required pam_permit.so",
                       module_line("auth", socket_path, timeout=1000))


def test_regular_file_at_the_socket_path_fails_closed(pam, user, private_dir):
    squatter = private_dir / "socket"
    squatter.write_text("not a socket")

    result = behind_permit(pam, squatter).run(user.name)

    assert result.auth == "PAM_AUTHINFO_UNAVAIL", result.stdout


def test_symlink_to_a_socket_served_by_a_user_is_refused(pam, user, private_dir, fake_listener):
    impostor = fake_listener(reply(Status.OK).hex(), reply(Status.NOT_ENROLLED).hex(),
                             owner=user)
    link = private_dir / "socket"
    link.symlink_to(impostor.socket)

    result = behind_permit(pam, link).run(user.name)

    assert result.auth == "PAM_AUTHINFO_UNAVAIL", result.stdout


def test_socket_file_owned_by_root_but_served_by_a_user_is_refused(pam, user, fake_listener):
    # The module checks who listens (SO_PEERCRED), not who owns the file.
    impostor = fake_listener(reply(Status.OK).hex(), reply(Status.NOT_ENROLLED).hex(),
                             owner=user)
    os.chown(impostor.socket, 0, 0)
    os.chown(impostor.dir, 0, 0)

    result = behind_permit(pam, impostor.socket).run(user.name)

    assert result.auth == "PAM_AUTHINFO_UNAVAIL", result.stdout


def test_symlink_to_the_real_daemon_socket_is_followed(pam, daemon, enrolled, private_dir):
    # Documented: the path is only a name; the peer (root) is what the module trusts.
    link = private_dir / "socket"
    link.symlink_to(daemon.socket)
    pam.service(module_line("auth", link))

    assert pam.run(enrolled.user, [unused_code(enrolled.secret)]).auth == "PAM_AUTH_ERR"
    assert pam.run(enrolled.user, [enrolled.next_code()]).auth == "PAM_SUCCESS"
