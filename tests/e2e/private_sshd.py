"""A private sshd for the end-to-end tests, so the system's sshd and /etc/pam.d/sshd stay untouched.

It listens on a free port of 127.0.0.1 (and of any further address it is given, such as the
host side of the client network of client_hosts.py) with its own host key and its own PAM
service: sshd takes the PAM service name from the name it was started under, so it is started
through a symlink $scratch/sshd-fsmfa-<random> -> /usr/sbin/sshd and reads
/etc/pam.d/sshd-fsmfa-<random>. That file is the only thing written outside the scratch folder;
it records the pid of the test process that wrote it, so that a later run can remove it when that
process died without cleaning up, while the file of a test run that is still going on is left
alone.

Programs that a session starts read their own PAM services: `passwd` reads /etc/pam.d/passwd,
which the tests must not change. Given namespace_services, sshd runs in a mount namespace of its
own in which each named file of /etc/pam.d is covered by a bind mount of a file in the scratch
folder; sshd and every session it starts see that file, the rest of the machine the real one.
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
from support.users import process_exists

SSHD = Path("/usr/sbin/sshd")
PAM_DIR = Path("/etc/pam.d")
SERVICE_PREFIX = "sshd-fsmfa-"
OWNER_MARK = "# owner pid: "
PRIVSEP_DIR = Path("/run/sshd")

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
PORT_ATTEMPTS = 5
SHIPPED_PAM_DIR = TOP / "etc" / "pam.d"
RECOMMENDED_SSHD_FILE = SHIPPED_PAM_DIR / "sshd-fotostudio"
KEYS_SSHD_FILE = SHIPPED_PAM_DIR / "sshd-fotostudio-keys"
COMMON_PASSWORD_FILE = SHIPPED_PAM_DIR / "common-password-fotostudio"
MODULE_NAME = re.compile(r"\bpam_fotostudio\.so\b(.*)$")
INCLUDE_COMMON_PASSWORD = re.compile(r"^\s*@include\s+common-password\s*$")
UNSHARE = "/usr/bin/unshare"


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


def shipped_stack(path, module, socket_path):
    """A PAM file we ship, the module named by its build path and given the test daemon's socket."""
    check_arguments(module, socket_path)

    def point_at_build(line):
        if line.lstrip().startswith("#"):
            return line
        return MODULE_NAME.sub(lambda found: f"{module}{found.group(1)} socket={socket_path}",
                               line)

    lines = path.read_text().splitlines()
    return "".join(point_at_build(line) + "\n" for line in lines)


def recommended_sshd_stack(module, socket_path):
    """The shipped etc/pam.d/sshd-fotostudio, the module named by its build path and socket."""
    return shipped_stack(RECOMMENDED_SSHD_FILE, module, socket_path)


def keys_sshd_stack(module, socket_path):
    """The shipped etc/pam.d/sshd-fotostudio-keys (a public key, then the code)."""
    return shipped_stack(KEYS_SSHD_FILE, module, socket_path)


def password_stack(module, socket_path):
    """The shipped etc/pam.d/common-password-fotostudio: what /etc/pam.d/passwd includes."""
    return shipped_stack(COMMON_PASSWORD_FILE, module, socket_path)


def with_password_stack(stack, module, socket_path):
    """stack with its `@include common-password` replaced by common-password-fotostudio."""
    lines = stack.splitlines(keepends=True)
    includes = [i for i, line in enumerate(lines) if INCLUDE_COMMON_PASSWORD.match(line)]
    if len(includes) != 1:
        raise ValueError(f"expected one `@include common-password`, found {len(includes)}")
    at = includes[0]
    return "".join(lines[:at]) + password_stack(module, socket_path) + "".join(lines[at + 1:])


def new_service_name():
    """The PAM service of a PrivateSshd; known before it starts, for the daemon's config."""
    return SERVICE_PREFIX + secrets.token_hex(4)


def in_private_pam_files(covers, command):
    """command, run in a mount namespace of its own where each /etc/pam.d/NAME of covers (a
    dict NAME -> file) shows that file. The bind mounts vanish with the last process in it."""
    script = "set -e\n"
    arguments = []
    for number, (name, source) in enumerate(sorted(covers.items())):
        if "/" in name or not (PAM_DIR / name).exists():
            raise ValueError(f"no such PAM service to cover: {name}")
        script += f'mount --bind "${number + 1}" "{PAM_DIR / name}"\n'
        arguments.append(str(source))
    script += f'shift {len(arguments)}\nexec "$@"\n'
    return [UNSHARE, "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script,
            "private-pam", *arguments, *command]


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
    """Use as a context manager, or call start() and close() (close() is safe to call twice).

    methods is sshd's AuthenticationMethods; when it names publickey, sshd reads the users'
    ~/.ssh/authorized_keys and puts the key that logged in into PAM's SSH_AUTH_INFO_0
    (ExposeAuthInfo). namespace_services maps a PAM service name (such as "passwd") to the text
    its file has for sshd and its sessions (see the module's docstring).

    Sessions may forward nothing and have no subsystem, unless asked: forward_to_itself lets a
    client forward a local port to this sshd's own port on 127.0.0.1 (ssh -L) and nowhere else;
    sftp serves the sftp subsystem inside sshd (internal-sftp).
    """

    def __init__(self, pam_stack, allow_users="fst*", listen_addresses=("127.0.0.1",),
                 methods="keyboard-interactive", service=None, namespace_services=None,
                 forward_to_itself=False, sftp=False):
        self.pam_stack = pam_stack
        self.allow_users = allow_users
        self.listen_addresses = tuple(listen_addresses)
        self.methods = methods
        self.namespace_services = dict(namespace_services or {})
        self.forward_to_itself = forward_to_itself
        self.sftp = sftp
        self.scratch = None
        self.service = service or new_service_name()
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
        log = log_path.read_text(errors="replace") if log_path.exists() else "(no sshd.log)"
        launch_path = self.scratch / "launch.log"
        launch = launch_path.read_text(errors="replace") if launch_path.exists() else ""
        return log + (f"--- sshd's own output ---\n{launch}" if launch.strip() else "")

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

        pam_file = PAM_DIR / self.service
        # Exclusive creation: a file that is there already belongs to someone else.
        with open(pam_file, "x") as created:
            self.pam_file = pam_file
            created.write(
                "# A PAM service of the fotostudio-auth end-to-end tests, removed when they end.\n"
                f"{OWNER_MARK}{os.getpid()}\n" + self.pam_stack)
        (self.scratch / self.service).symlink_to(SSHD)
        for name, text in self.namespace_services.items():
            (self.scratch / f"pam-{name}").write_text(text)

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
        if "publickey" in self.methods:
            keys = ("PubkeyAuthentication yes\n"
                    "AuthorizedKeysFile .ssh/authorized_keys\n"
                    "ExposeAuthInfo yes\n")
        else:
            keys = "PubkeyAuthentication no\nAuthorizedKeysFile none\n"
        if self.forward_to_itself:
            forwarding = f"AllowTcpForwarding local\nPermitOpen 127.0.0.1:{self.port}\n"
        else:
            forwarding = "AllowTcpForwarding no\n"
        subsystems = "Subsystem sftp internal-sftp\n" if self.sftp else ""
        (self.scratch / "sshd_config").write_text(
            f"Port {self.port}\n"
            f"{listen}"
            "AddressFamily inet\n"
            f"HostKey {self.scratch / 'host_ed25519_key'}\n"
            f"PidFile {self.scratch / 'sshd.pid'}\n"
            "UsePAM yes\n"
            "KbdInteractiveAuthentication yes\n"
            "PasswordAuthentication no\n"
            f"{keys}"
            "HostbasedAuthentication no\n"
            f"AuthenticationMethods {self.methods}\n"
            "PermitRootLogin no\n"
            f"AllowUsers {self.allow_users}\n"
            "PermitUserEnvironment no\n"
            f"{forwarding}"
            f"{subsystems}"
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
        command = [str(self.scratch / self.service), "-D", "-f",
                   str(self.scratch / "sshd_config"), "-E", str(log_path)]
        if self.namespace_services:
            command = in_private_pam_files(
                {name: self.scratch / f"pam-{name}" for name in self.namespace_services}, command)
        # What sshd or the mount namespace's set-up says before sshd's own log opens.
        with open(self.scratch / "launch.log", "ab") as launch_log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=launch_log, stderr=subprocess.STDOUT,
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
                raise RuntimeError(f"sshd exited at start:\n{self.log()}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"sshd did not listen within {START_TIMEOUT} s:\n{self.log()}")
