"""The integration tests' harness: PAM service files in a private folder, the pam-driver
application that runs them through the real libpam, its output taken apart, syslog capture, and
fake listeners for the failure cases the real daemon cannot show. Fixtures are in conftest.py."""
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from support.paths import PAM_DRIVER, PAM_MODULE

FAKE_LISTENER = Path(__file__).resolve().parent / "fake_listener.py"
SERVICE = "fotostudio-test"


@dataclass
class Transaction:
    """What pam-driver printed, taken apart."""
    stdout: str
    elapsed: float
    prompts: list = field(default_factory=list)
    infos: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    auth: str = None
    session: str = None
    env: dict = field(default_factory=dict)
    log: list = field(default_factory=list)  # syslog lines, when captured

    @classmethod
    def parse(cls, stdout, elapsed):
        result = cls(stdout=stdout, elapsed=elapsed)
        for line in stdout.splitlines():
            key, _, value = line.partition(": ")
            if key == "prompt":
                result.prompts.append(value)
            elif key == "info":
                result.infos.append(value)
            elif key == "error":
                result.errors.append(value)
            elif key == "auth result":
                result.auth = value
            elif key == "session result":
                result.session = value
            elif key.startswith("env "):
                result.env[key[len("env "):]] = None if value == "(unset)" else value
        return result


class Pam:
    """Writes one service file into a private folder and runs transactions against it."""

    def __init__(self, confdir):
        self.confdir = Path(confdir)

    def service(self, *lines):
        (self.confdir / SERVICE).write_text("".join(line + "\n" for line in lines))
        return self

    def run(self, user, responses=(), stage="auth", null_response=False, env=(), rhost=None,
            capture_log=False, timeout=30):
        command = [str(PAM_DRIVER), "--confdir", str(self.confdir), "--service", SERVICE,
                   "--user", user, "--stage", stage]
        for response in responses:
            command += ["--response", response]
        for assignment in env:
            command += ["--env", assignment]
        if null_response:
            command.append("--null-response")
        if rhost:
            command += ["--rhost", rhost]

        with SyslogCapture() if capture_log else _NoCapture() as log:
            started = time.monotonic()
            finished = subprocess.run(log.wrap(command), capture_output=True, text=True,
                                      timeout=timeout)
            elapsed = time.monotonic() - started
        assert finished.returncode == 0, finished.stdout + finished.stderr
        result = Transaction.parse(finished.stdout, elapsed)
        result.log = log.lines
        return result


class _NoCapture:
    lines = []

    def wrap(self, command):
        return command

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


# Runs a command in a private mount namespace whose /dev is a fresh tmpfs holding links to the
# real device nodes, plus /dev/log linked to a datagram socket of the test. What the module
# sends with pam_syslog thus reaches the test, and the machine's /dev stays untouched.
_PRIVATE_DEV = """
set -e
mount --make-rprivate /
mount --bind /dev "$1/dev"
mount -t tmpfs -o mode=0755 tmpfs /dev
ln -s "$1"/dev/* /dev/
ln -s "$1/log" /dev/log
shift
exec "$@"
"""


class SyslogCapture:
    """Collects the syslog lines of one command run through wrap()."""

    def __init__(self):
        # Not under pytest's tmp_path: socket paths must stay short.
        self.dir = Path(tempfile.mkdtemp(prefix="fsauth-syslog-"))
        (self.dir / "dev").mkdir()
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(self.dir / "log"))
        self.lines = []

    def wrap(self, command):
        return ["unshare", "--mount", "sh", "-c", _PRIVATE_DEV, "sh", str(self.dir), *command]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.socket.setblocking(False)
        while True:
            try:
                self.lines.append(self.socket.recv(8192).decode(errors="replace"))
            except BlockingIOError:
                break
        self.socket.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def module_line(kind, socket_path, *options, control="required", timeout=3000):
    words = [kind, control, str(PAM_MODULE), f"socket={socket_path}", f"timeout={timeout}"]
    return " ".join(words + list(options))


class FakeListener:
    """fake_listener.py on a socket of its own, run as root or as another account."""

    def __init__(self, *mode, owner=None):
        self.dir = Path(tempfile.mkdtemp(prefix="fsauth-fake-"))
        os.chmod(self.dir, 0o755)
        self.socket = self.dir / "socket"
        if owner is not None:
            os.chown(self.dir, owner.uid, -1)
        self.process = subprocess.Popen(
            [sys.executable, str(FAKE_LISTENER), str(self.socket), *mode],
            stdout=subprocess.PIPE, text=True,
            user=owner.uid if owner else None,
            group=_primary_gid(owner) if owner else None,
            extra_groups=[] if owner else None)
        ready = self.process.stdout.readline().strip()
        assert ready == "ready", f"fake listener did not start: {ready!r}"

    def stop(self):
        self.process.kill()
        self.process.wait()
        self.process.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _primary_gid(account):
    return pwd.getpwnam(account.name).pw_gid
