"""The integration tests' harness: PAM service files in a private folder, the pam-driver
application that runs them through the real libpam, its output taken apart, syslog capture, SSH
keys as sshd reports them, and fake listeners for the failure cases the real daemon cannot show.
Fixtures are in conftest.py."""
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from support.paths import PAM_DRIVER, PAM_MODULE, TOP
from support.protocol import decode

FAKE_LISTENER = Path(__file__).resolve().parent / "fake_listener.py"
SHIPPED_PAM_DIR = TOP / "etc" / "pam.d"
SERVICE = "fotostudio-test"
# Where the recommended sshd stack's logins come from, and its prompts.
SOURCE = "198.51.100.7"
PASSWORD_PROMPT = "Password: "
CODE_PROMPT = "Verification code or recovery code: "


@dataclass
class Transaction:
    """What pam-driver printed, taken apart."""
    stdout: str
    elapsed: float
    prompts: list = field(default_factory=list)
    infos: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    auth: str = None
    setcred: str = None   # only after a successful auth
    account: str = None
    chauthtok: str = None
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
            elif key == "setcred result":
                result.setcred = value
            elif key == "account result":
                result.account = value
            elif key == "chauthtok result":
                result.chauthtok = value
            elif key == "session result":
                result.session = value
            elif key.startswith("env "):
                result.env[key[len("env "):]] = None if value == "(unset)" else value
        return result


class Pam:
    """Writes one service file into a private folder and runs transactions against it."""

    def __init__(self, confdir):
        self.confdir = Path(confdir)

    def service(self, *lines, name=SERVICE):
        (self.confdir / name).write_text("".join(line + "\n" for line in lines))
        return self

    def shipped(self, shipped_name, socket_path, name=SERVICE, keep=lambda line: True):
        """A PAM file we ship (etc/pam.d/shipped_name) as the service `name`, its module lines
        pointed at the built module and at socket_path; keep(line) chooses the lines to use."""
        self.service(*(_point_at_build(line, socket_path)
                       for line in shipped_lines(shipped_name) if keep(line)), name=name)
        return self

    def command(self, user, responses=(), stage="auth", null_response=False, env=(), rhost=None,
                tty=None, service=SERVICE, as_user=None, stdin_responses=False, silent=False,
                driver=PAM_DRIVER):
        """The pam-driver command line; stage is e.g. "auth", "auth+account+session",
        "chauthtok"; as_user runs it as that account (runuser), as a screen locker or a
        setuid-less program of that user would run PAM; driver is another copy of pam-driver
        (SetuidDriver, to run it as passwd runs); silent passes PAM_SILENT."""
        command = [str(driver), "--confdir", str(self.confdir), "--service", service,
                   "--user", user, "--stage", stage]
        for response in responses:
            command += ["--response", response]
        for assignment in env:
            command += ["--env", assignment]
        if null_response:
            command.append("--null-response")
        if stdin_responses:
            command.append("--stdin-responses")
        if silent:
            command.append("--silent")
        if rhost:
            command += ["--rhost", rhost]
        if tty:
            command += ["--tty", tty]
        if as_user:
            command = ["runuser", "-u", as_user, "--"] + command
        return command

    def run(self, user, responses=(), capture_log=False, timeout=30, **options):
        command = self.command(user, responses, **options)
        with SyslogCapture() if capture_log else _NoCapture() as log:
            started = time.monotonic()
            finished = subprocess.run(log.wrap(command), capture_output=True, text=True,
                                      timeout=timeout)
            elapsed = time.monotonic() - started
        assert finished.returncode == 0, finished.stdout + finished.stderr
        result = Transaction.parse(finished.stdout, elapsed)
        result.log = log.lines
        return result

    def start(self, user, **options):
        """Starts a transaction that answers its prompts from stdin, for tests that hold many
        transactions at a prompt and release them together (HeldTransaction)."""
        return HeldTransaction(self.command(user, stdin_responses=True, **options))


class HeldTransaction:
    """One pam-driver process whose prompts wait for answer()."""

    def __init__(self, command):
        self.started = time.monotonic()
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self.lines = []

    def wait_for_prompt(self):
        """Reads output until a prompt; returns it, or None when the transaction ended first.
        The module's own deadline (timeout=) bounds how long this can take."""
        for line in self.process.stdout:
            self.lines.append(line)
            if line.startswith("prompt: "):
                return line[len("prompt: "):].rstrip("\n")
        return None

    def answer(self, text):
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def finish(self, timeout=60):
        stdout, stderr = self.process.communicate(timeout=timeout)
        assert self.process.returncode == 0, "".join(self.lines) + stdout + stderr
        return Transaction.parse("".join(self.lines) + stdout, time.monotonic() - self.started)


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


@dataclass
class SshKey:
    """A real ed25519 key made by ssh-keygen, as sshd reports it to PAM when the key passed
    before keyboard-interactive (AuthenticationMethods publickey,keyboard-interactive)."""
    auth_info: str    # "SSH_AUTH_INFO_0=publickey ssh-ed25519 BLOB\n", for Pam.run(env=[...])
    fingerprint: str  # "SHA256:...", as ssh-keygen -l prints it


def make_ssh_key(folder, name="id_ed25519"):
    key = Path(folder) / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(key)],
                   check=True)
    key_type, blob = Path(f"{key}.pub").read_text().split()[:2]
    listed = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", f"{key}.pub"],
                            check=True, capture_output=True, text=True).stdout
    return SshKey(auth_info=f"SSH_AUTH_INFO_0=publickey {key_type} {blob}\n",
                  fingerprint=listed.split()[1])


def shipped_lines(shipped_name):
    """The lines of etc/pam.d/shipped_name that PAM reads: no comments, no blank lines."""
    lines = (SHIPPED_PAM_DIR / shipped_name).read_text().splitlines()
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


_MODULE_WORD = re.compile(r"(?<![\w/])pam_fotostudio\.so\b(.*)$")


def _point_at_build(line, socket_path):
    return _MODULE_WORD.sub(lambda found: f"{PAM_MODULE}{found.group(1)} socket={socket_path}",
                            line)


def module_line(kind, socket_path, *options, control="required", timeout=3000, mode=None):
    """One line for pam_fotostudio.so; mode (preauth, authfail) comes first, as documented."""
    words = [kind, control, str(PAM_MODULE)] + ([mode] if mode else [])
    words += [f"socket={socket_path}", f"timeout={timeout}"]
    return " ".join(words + list(options))


# pam_unix waits about two seconds after a wrong password; the tests do not need that wait.
PAM_UNIX_LINE = "auth [success=1 default=ignore] pam_unix.so nodelay"


def recommended_auth_lines(socket_path):
    """The auth lines of etc/pam.d/sshd-fotostudio (pam_env left out), with the real pam_unix:
    preauth counts the attempt before the password; authfail asks for the code after a wrong
    password and always fails; the code stage decides after a right one."""
    return [module_line("auth", socket_path, control="requisite", mode="preauth"),
            PAM_UNIX_LINE,
            module_line("auth", socket_path, control="[default=die]", mode="authfail"),
            module_line("auth", socket_path)]


def login_stack(pam, daemon, service="sshd"):
    """The recommended auth lines, plus the module's account and session lines behind the
    standard ones (pam_permit stands in for common-account)."""
    return pam.service(*recommended_auth_lines(daemon.socket),
                       "account required pam_permit.so",
                       module_line("account", daemon.socket),
                       module_line("session", daemon.socket), name=service)


def log_in(pam, user, *answers, key=None, rhost=SOURCE, service="sshd", **options):
    """One transaction as sshd runs it: auth, account, session. answers go to the prompts in
    order (the password, then the code when one is asked)."""
    return pam.run(user.name, [user.password, *answers] if answers else [user.password],
                   stage="auth+account+session", env=[key.auth_info] if key else [],
                   rhost=rhost, service=service, **options)


def assert_logged_in(result, prompts):
    assert result.auth == "PAM_SUCCESS", result.stdout
    assert result.prompts == prompts, result.stdout
    assert result.errors == [], result.stdout
    assert result.env["after auth"], "no proof for the later stages: " + result.stdout
    assert result.account == "PAM_SUCCESS", result.stdout
    assert result.session == "PAM_SUCCESS", result.stdout
    assert result.env["after session"] is None, result.stdout


def shadow_hash(name):
    """The user's password hash in /etc/shadow."""
    entry = subprocess.run(["getent", "shadow", name], check=True, capture_output=True,
                           text=True).stdout
    return entry.split(":")[1]


class SetuidDriver:
    """A copy of pam-driver that runs setuid root, as passwd does: its real uid is whoever
    started it, its effective uid root, so pam_unix asks for the old password and can write
    /etc/shadow. It lies in a folder that only `account` (and root) may enter, so that no other
    account on the machine can use a setuid program that reads any PAM file it is given."""

    def __init__(self, account):
        self.dir = Path(tempfile.mkdtemp(prefix="fsauth-setuid-"))
        os.chown(self.dir, 0, _primary_gid(account))
        os.chmod(self.dir, 0o750)
        self.path = self.dir / "pam-driver"
        shutil.copyfile(PAM_DRIVER, self.path)
        os.chmod(self.path, 0o4755)

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class FakeListener:
    """fake_listener.py on a socket of its own, run as root or as another account. With
    record=True it keeps the requests it receives: requests() decodes them. With keep_open=True
    it answers every request of a connection, as the daemon does, not only the first."""

    def __init__(self, *mode, owner=None, record=False, keep_open=False):
        self.dir = Path(tempfile.mkdtemp(prefix="fsauth-fake-"))
        os.chmod(self.dir, 0o755)
        self.socket = self.dir / "socket"
        self.record = self.dir / "requests" if record else None
        if owner is not None:
            os.chown(self.dir, owner.uid, -1)
        recording = ["--record", str(self.record)] if record else []
        keeping = ["--keep-open"] if keep_open else []
        self.process = subprocess.Popen(
            [sys.executable, str(FAKE_LISTENER), *recording, *keeping, str(self.socket), *mode],
            stdout=subprocess.PIPE, text=True,
            user=owner.uid if owner else None,
            group=_primary_gid(owner) if owner else None,
            extra_groups=[] if owner else None)
        ready = self.process.stdout.readline().strip()
        assert ready == "ready", f"fake listener did not start: {ready!r}"

    def requests(self):
        """[(MessageType, {Field: value})] of every request received so far, in order."""
        if not self.record or not self.record.exists():
            return []
        return [decode(bytes.fromhex(line)) for line in self.record.read_text().split()]

    def connections(self):
        """How many connections the listener accepted (needs record=True)."""
        counted = Path(str(self.record) + ".connections")
        return int(counted.read_text()) if counted.exists() else 0

    def stop(self):
        self.process.kill()
        self.process.wait()
        self.process.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _primary_gid(account):
    return pwd.getpwnam(account.name).pw_gid
