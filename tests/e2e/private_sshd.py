"""A private sshd for the end-to-end tests, so the system's sshd and /etc/pam.d/sshd stay untouched.

It listens on a free port of 127.0.0.1 (and of any further address it is given, such as the
host side of the client network of client_hosts.py) with its own host key and its own PAM
service: sshd takes the PAM service name from the name it was started under, so it is started
through a symlink $scratch/sshd-fsmfa-<random> -> /usr/sbin/sshd and reads
/etc/pam.d/sshd-fsmfa-<random>. That file is the only thing written outside the scratch folder;
it records the pid of the test process that wrote it, so that a later run can remove it when that
process died without cleaning up, while the file of a test run that is still going on is left
alone.
"""
import ctypes
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from support.paths import TOP

SSHD = Path("/usr/sbin/sshd")
PAM_DIR = Path("/etc/pam.d")
SERVICE_PREFIX = "sshd-fsmfa-"
OWNER_MARK = "# owner pid: "
PRIVSEP_DIR = Path("/run/sshd")

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
PORT_ATTEMPTS = 5
RECOMMENDED_SSHD_FILE = TOP / "etc" / "pam.d" / "sshd-fotostudio"
MODULE_NAME = re.compile(r"\bpam_fotostudio\.so\b(.*)$")


def check_arguments(module, socket_path):
    for path in (module, socket_path):
        if any(c.isspace() for c in str(path)):
            raise ValueError(f"a PAM module argument cannot hold white space: {path}")


def fotostudio_stack(module, socket_path):
    """The recommended stack (etc/pam.d/sshd-fotostudio), the module named by its build path.

    preauth counts the attempt and may refuse it before any prompt; pam_unix skips authfail when
    the password was right; authfail asks the code after a wrong password too (so the prompts
    reveal nothing about the password), counts a wrong one, and always fails; the last line asks
    the code after a right password.
    """
    check_arguments(module, socket_path)
    return (
        f"auth     requisite                   {module} preauth socket={socket_path}\n"
        "auth     [success=1 default=ignore]  pam_unix.so\n"
        f"auth     [default=die]               {module} authfail socket={socket_path}\n"
        f"auth     required                    {module} socket={socket_path}\n"
        "account  required                    pam_unix.so\n"
        f"session  required                    {module} socket={socket_path}\n"
        "session  required                    pam_unix.so\n")


def recommended_sshd_stack(module, socket_path):
    """The shipped etc/pam.d/sshd-fotostudio, the module named by its build path and socket."""
    check_arguments(module, socket_path)

    def point_at_build(line):
        if line.lstrip().startswith("#"):
            return line
        return MODULE_NAME.sub(lambda found: f"{module}{found.group(1)} socket={socket_path}",
                               line)

    lines = RECOMMENDED_SSHD_FILE.read_text().splitlines()
    return "".join(point_at_build(line) + "\n" for line in lines)


def remove_stale_services():
    """Removes service files of earlier test processes that died before their clean-up ran."""
    for path in PAM_DIR.glob(SERVICE_PREFIX + "*"):
        owner = service_owner(path)
        if owner is None or not process_exists(owner):
            path.unlink(missing_ok=True)


def service_owner(path):
    try:
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith(OWNER_MARK):
                return int(line[len(OWNER_MARK):].strip())
    except (OSError, ValueError):
        pass
    return None


def process_exists(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def free_port(addresses):
    """A port that is free on all addresses when probed (sshd may still lose it in a race)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((addresses[0], 0))
            port = probe.getsockname()[1]
            if all(port_is_free(address, port) for address in addresses[1:]):
                return port


def port_is_free(address, port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, port))
        except OSError:
            return False
        return True


def die_with_parent():
    """Runs in the child before exec: an sshd must not outlive a test process that was killed."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class PrivateSshd:
    """Use as a context manager, or call start() and close() (close() is safe to call twice)."""

    def __init__(self, pam_stack, allow_users="fst*", listen_addresses=("127.0.0.1",)):
        self.pam_stack = pam_stack
        self.allow_users = allow_users
        self.listen_addresses = tuple(listen_addresses)
        self.scratch = None
        self.service = None
        self.pam_file = None
        self.port = None
        self.process = None

    def start(self):
        try:
            self._prepare()
            self._launch()
        except BaseException:
            self.close()
            raise
        return self

    def close(self):
        self.stop()
        if self.pam_file is not None:
            self.pam_file.unlink(missing_ok=True)
            self.pam_file = None
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    def stop(self):
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def log(self):
        if self.scratch is None:
            return "(sshd scratch folder already removed)"
        log_path = self.scratch / "sshd.log"
        return log_path.read_text(errors="replace") if log_path.exists() else "(no sshd.log)"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def _prepare(self):
        remove_stale_services()

        # Not under pytest's tmp_path: sshd's privilege-separated child must reach the files.
        self.scratch = Path(tempfile.mkdtemp(prefix="fsauth-sshd-"))
        os.chmod(self.scratch, 0o755)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fsauth-e2e",
                        "-f", str(self.scratch / "host_ed25519_key")],
                       check=True, stdin=subprocess.DEVNULL)

        self.service = SERVICE_PREFIX + secrets.token_hex(4)
        self.pam_file = PAM_DIR / self.service
        self.pam_file.write_text(
            "# A PAM service of the fotostudio-auth end-to-end tests, removed when they end.\n"
            f"{OWNER_MARK}{os.getpid()}\n" + self.pam_stack)
        (self.scratch / self.service).symlink_to(SSHD)

        PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)

    def _launch(self):
        # The port is free when probed but may be taken before sshd binds it: try a few.
        for _ in range(PORT_ATTEMPTS):
            self.port = free_port(self.listen_addresses)
            self._write_config()
            if self._run_until_listening():
                return
        raise RuntimeError(f"sshd did not start after {PORT_ATTEMPTS} ports:\n{self.log()}")

    def _write_config(self):
        listen = "".join(f"ListenAddress {address}\n" for address in self.listen_addresses)
        (self.scratch / "sshd_config").write_text(
            f"Port {self.port}\n"
            f"{listen}"
            "AddressFamily inet\n"
            f"HostKey {self.scratch / 'host_ed25519_key'}\n"
            f"PidFile {self.scratch / 'sshd.pid'}\n"
            "UsePAM yes\n"
            "KbdInteractiveAuthentication yes\n"
            "PasswordAuthentication no\n"
            "PubkeyAuthentication no\n"
            "HostbasedAuthentication no\n"
            "AuthenticationMethods keyboard-interactive\n"
            "AuthorizedKeysFile none\n"
            "PermitRootLogin no\n"
            f"AllowUsers {self.allow_users}\n"
            "PermitUserEnvironment no\n"
            "AllowTcpForwarding no\n"
            "AllowAgentForwarding no\n"
            "X11Forwarding no\n"
            "PermitTunnel no\n"
            "UseDNS no\n"
            "PrintMotd no\n"
            "PrintLastLog no\n"
            "LoginGraceTime 60\n"
            "LogLevel VERBOSE\n")

    def _run_until_listening(self):
        """Starts sshd in the foreground; False when the port turned out to be taken."""
        log_path = self.scratch / "sshd.log"
        log_path.write_text("")
        self.process = subprocess.Popen(
            [str(self.scratch / self.service), "-D", "-f", str(self.scratch / "sshd_config"),
             "-E", str(log_path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent)

        listening = [f"Server listening on {address} port {self.port}"
                     for address in self.listen_addresses]
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            log = log_path.read_text(errors="replace")
            if all(line in log for line in listening):
                return True
            # sshd goes on when it can bind some of its addresses but not all.
            if "Address already in use" in log:
                self.stop()
                return False
            if self.process.poll() is not None:
                self.process = None
                raise RuntimeError(f"sshd exited at start:\n{log}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"sshd did not listen within {START_TIMEOUT} s:\n{self.log()}")
