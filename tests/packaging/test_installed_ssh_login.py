"""End to end against the installed Debian packages: a person logs in with Debian's ssh client
to a real sshd whose PAM file is the packaged example
/usr/share/doc/fotostudio-auth/examples/sshd-fotostudio. That file names pam_fotostudio.so
without a path, so libpam loads the module that libpam-fotostudio put in /lib/MULTIARCH/security;
the module asks /usr/sbin/fotoauthd, which runs with the packaged configuration (every line
commented out: socket /run/fotoauthd/socket, database /var/lib/fotoauthd/fotoauthd.sqlite),
under the confinement of the packaged unit. The user enrols with the installed fotoauthctl.

Everything runs inside a throw-away copy of this machine (sandbox.py) in which both packages are
installed and this checkout is hidden, so that no part can come from the build tree. The sandbox
shares this machine's network: its sshd listens on a free port of 127.0.0.1 only, and the client
(this machine's /usr/bin/ssh, the same program as inside) connects there.

The daemon keeps its default limits, 5 logins per source address in 60 s among them; so one
user's three logins (the right code, the same code again, a wrong code) run once, in a module
fixture, and each test checks one outcome.
"""
import hashlib
import io
import json
import os
import pwd
import re
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pexpect
import pytest

from e2e.cli_enrolment import (CODE_PROMPT as ENROL_CODE_PROMPT, RECOVERY_CODE,
                               RECOVERY_CODE_COUNT, RECOVERY_HEADING, SECRET_LINE, Enrolment,
                               totp, wrong_code)
from e2e.private_sshd import free_port
from e2e.ssh_client import (CODE_PROMPT, PASSWORD_PROMPT, SESSION_TIMEOUT, Login, spawn_ssh,
                            ssh_command, ssh_login)
from support.paths import BUILD, TOP
from support.unit_confinement import capabilities, service_settings, setpriv_prefix, unit_umask

from sandbox import MULTIARCH, Sandbox, add_user, built_packages, deb_file, install_packages

MODULE = f"/lib/{MULTIARCH}/security/pam_fotostudio.so"
DAEMON = "/usr/sbin/fotoauthd"
CTL = "/usr/bin/fotoauthctl"
CONFIG = "/etc/fotostudio/fotoauthd.conf"
SOCKET = "/run/fotoauthd/socket"
STATE_DIR = "/var/lib/fotoauthd"
DATABASE = f"{STATE_DIR}/fotoauthd.sqlite"
UNIT = "/lib/systemd/system/fotoauthd.service"
EXAMPLE = "/usr/share/doc/fotostudio-auth/examples/sshd-fotostudio"
SSHD = "/usr/sbin/sshd"
SSHD_DIR = "/tmp/fsmfa-sshd"
LOOPBACK = "127.0.0.1"
USER_PREFIX = "fsmfapkg"
# Users made inside get uids far from those this machine hands out: a test out here that ends its
# own user's processes by uid must not hit a session inside that happens to share the number.
USER_IDS = ["-K", "UID_MIN=50000", "-K", "UID_MAX=59999", "-K", "GID_MIN=50000",
            "-K", "GID_MAX=59999"]

START_TIMEOUT = 15.0
PORT_ATTEMPTS = 5
CLI_TIMEOUT = 20
LOG_TAIL_LINES = 60


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def tail(text, lines=LOG_TAIL_LINES):
    return "\n".join(text.splitlines()[-lines:])


def host_digests():
    """This machine's PAM and sshd configuration, and the states of the two packages on it."""
    digests = {}
    for pattern in ("etc/pam.d/common-*", "etc/pam.d/sshd", "etc/ssh/sshd_config",
                    "var/lib/pam/*"):
        for path in sorted(Path("/").glob(pattern)):
            if path.is_file():
                digests[str(path)] = sha256(path.read_bytes())
    packages = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Abbrev}\n",
                               "fotoauthd", "libpam-fotostudio"], capture_output=True, text=True)
    digests["packages"] = packages.stdout
    return digests


def running(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture(scope="module", autouse=True)
def made():
    """What the sandbox made (users, the PAM service, processes): after the sandbox is gone,
    none of it is on this machine, whose PAM and sshd files and packages are as they were."""
    before = host_digests()
    things = {"users": [], "services": [], "pids": []}
    yield things

    assert host_digests() == before
    for name in things["users"]:
        with pytest.raises(KeyError):
            pwd.getpwnam(name)
    for service in things["services"]:
        assert not os.path.lexists(f"/etc/pam.d/{service}"), service
    deadline = time.monotonic() + 5
    while any(running(pid) for pid in things["pids"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in things["pids"] if running(pid)]


@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    return built_packages(tmp_path_factory)


@pytest.fixture(scope="module")
def machine(debs, tmp_path_factory):
    """A sandbox with both packages installed and this checkout (with its build tree) hidden."""
    box = Sandbox(Path("/tmp") / f"fsmfa-pkg-ssh-{tmp_path_factory.getbasetemp().name}")
    try:
        hidden = [TOP] if BUILD.is_relative_to(TOP) else [TOP, BUILD]
        for folder in hidden:
            # A checkout under /tmp is not there at all (the sandbox's /tmp is empty).
            if box.exists(folder):
                box.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=1m", "fsmfa-pkg-hidden",
                         folder])
        install_packages(box, debs)
        yield box
    finally:
        box.close()


@dataclass
class InstalledDaemon:
    process: subprocess.Popen
    log_path: Path

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture(scope="module")
def daemon(machine, made, tmp_path_factory):
    """/usr/sbin/fotoauthd as the unit starts it: no argument (the packaged configuration), the
    unit's capability bounding set, NoNewPrivileges= and UMask= (support/unit_confinement.py),
    in the foreground (no systemd in the sandbox)."""
    unit = machine.path(UNIT)
    umask = f"{unit_umask(unit):04o}"
    command = ["sh", "-c", f'umask {umask} && exec "$@"', "sh", *setpriv_prefix(unit), DAEMON]
    log_path = tmp_path_factory.mktemp("fotoauthd") / "fotoauthd.log"
    with open(log_path, "wb") as log:
        process = machine.spawn(command, log)
    made["pids"].append(process.pid)
    running_daemon = InstalledDaemon(process, log_path)

    deadline = time.monotonic() + START_TIMEOUT
    while not machine.exists(SOCKET):
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"fotoauthd made no socket at {SOCKET}:\n{running_daemon.log()}")
        time.sleep(0.02)
    return running_daemon


class PackagedSshd:
    """sshd inside the sandbox on a free port of 127.0.0.1, with its own host key, started through
    a symlink named after its PAM service: sshd takes the service name from the name it was
    started under, so it reads /etc/pam.d/<service> of the sandbox, a copy of the packaged
    example. Everything it is and writes lives in the sandbox and goes with it."""

    def __init__(self, box, made):
        self.box = box
        self.made = made
        self.service = "sshd-fsmfa-pkg-" + secrets.token_hex(4)
        self.port = None
        self.process = None

    def start(self):
        self.made["services"].append(self.service)
        self.box.run(["mkdir", "-p", "-m", "0755", SSHD_DIR, "/run/sshd"])
        self.box.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fsmfa-pkg",
                      "-f", f"{SSHD_DIR}/host_ed25519_key"])
        self.box.run(["cp", EXAMPLE, f"/etc/pam.d/{self.service}"])
        self.box.run(["ln", "-s", SSHD, f"{SSHD_DIR}/{self.service}"])

        # The port is free when probed but may be taken before sshd binds it: try a few.
        for _ in range(PORT_ATTEMPTS):
            self.port = free_port([LOOPBACK])
            if self._run_until_listening():
                return self
        raise RuntimeError(f"sshd did not start after {PORT_ATTEMPTS} ports:\n{self.log()}")

    def log(self):
        path = self.box.path(f"{SSHD_DIR}/sshd.log")
        return path.read_text(errors="replace") if path.exists() else "(no sshd.log)"

    def _run_until_listening(self):
        self.box.path(f"{SSHD_DIR}/sshd_config").write_text(self._config())
        self.box.path(f"{SSHD_DIR}/sshd.log").write_text("")
        launch = open(self.box.path(f"{SSHD_DIR}/launch.log"), "ab")
        with launch:
            self.process = self.box.spawn(
                [f"{SSHD_DIR}/{self.service}", "-D", "-f", f"{SSHD_DIR}/sshd_config",
                 "-E", f"{SSHD_DIR}/sshd.log"], launch)
        self.made["pids"].append(self.process.pid)

        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            log = self.log()
            if f"Server listening on {LOOPBACK} port {self.port}" in log:
                return True
            if "Address already in use" in log:
                self.process.kill()
                self.process.wait(timeout=10)
                return False
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited at start:\n{self.log()}")
            time.sleep(0.05)
        raise RuntimeError(f"sshd did not listen within {START_TIMEOUT} s:\n{self.log()}")

    def _config(self):
        # As the recommended file needs (docs/packaging.md): keyboard-interactive, so that sshd
        # hands the code prompt to the person instead of answering it with the password.
        return (f"Port {self.port}\n"
                f"ListenAddress {LOOPBACK}\n"
                "AddressFamily inet\n"
                f"HostKey {SSHD_DIR}/host_ed25519_key\n"
                f"PidFile {SSHD_DIR}/sshd.pid\n"
                "UsePAM yes\n"
                "KbdInteractiveAuthentication yes\n"
                "PasswordAuthentication no\n"
                "PubkeyAuthentication no\n"
                "AuthorizedKeysFile none\n"
                "HostbasedAuthentication no\n"
                "AuthenticationMethods keyboard-interactive\n"
                "PermitRootLogin no\n"
                f"AllowUsers {USER_PREFIX}*\n"
                "AllowTcpForwarding no\n"
                "AllowAgentForwarding no\n"
                "X11Forwarding no\n"
                "PermitTunnel no\n"
                "UseDNS no\n"
                "PrintMotd no\n"
                "PrintLastLog no\n"
                "LoginGraceTime 60\n"
                "LogLevel VERBOSE\n")


@pytest.fixture(scope="module")
def sshd(machine, daemon, made):
    return PackagedSshd(machine, made).start()


def enable_mfa(box, user):
    """`fotoauthctl mfa enable` of the installed CLI, run inside as user (runuser) on a terminal,
    against the default socket; answers with oathtool's code and keeps the recovery codes."""
    transcript = io.StringIO()
    program, *arguments = box.command(["runuser", "-u", user, "--", CTL, "mfa", "enable",
                                       "--mode", "always"])
    child = pexpect.spawn(program, arguments, encoding="utf-8", codec_errors="replace",
                          timeout=CLI_TIMEOUT, dimensions=(80, 200))
    child.logfile_read = transcript
    try:
        child.expect(SECRET_LINE)
        secret = child.match.group(1).replace(" ", "").rstrip("=")
        child.expect(ENROL_CODE_PROMPT)
        child.sendline(totp(secret))
        child.expect(RECOVERY_HEADING)
        child.expect(pexpect.EOF)
        recovery_codes = RECOVERY_CODE.findall(child.before.replace("\r\n", "\n"))
    except (pexpect.TIMEOUT, pexpect.EOF):
        pytest.fail(f"{CTL} mfa enable did not finish:\n{transcript.getvalue()}")
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, transcript.getvalue()
    assert len(recovery_codes) == RECOVERY_CODE_COUNT, transcript.getvalue()
    return Enrolment(user=user, secret=secret, recovery_codes=recovery_codes)


def module_mappings(box):
    """{pid: the files of its mappings} of every process inside that maps a pam_fotostudio.so,
    read inside, so that the paths are those the processes see."""
    found = {}
    for pid in box.processes():
        maps = box.run(["cat", f"/proc/{pid}/maps"], check=False).stdout
        files = {line.split(None, 5)[5] for line in maps.splitlines() if len(line.split()) == 6}
        if any("pam_fotostudio" in path for path in files):
            found[pid] = files
    return found


def ssh_login_looking_at_the_code_prompt(port, user, password, code, look):
    """ssh_login, but calls look() while the code prompt waits: the PAM stack is loaded then."""
    login = Login(user=user)
    transcript = io.StringIO()
    child = spawn_ssh(ssh_command(LOOPBACK, port, user))
    child.logfile_read = transcript
    try:
        child.expect(PASSWORD_PROMPT)
        login.prompts.append("password")
        child.sendline(password)
        child.expect(CODE_PROMPT)
        login.prompts.append("code")
        look()
        child.sendline(code)
        child.expect(pexpect.EOF, timeout=SESSION_TIMEOUT)
    except (pexpect.TIMEOUT, pexpect.EOF):
        login.prompts.append("(timed out or ended early)")
    finally:
        child.close(force=True)
        login.exit_status = child.exitstatus
        login.transcript = transcript.getvalue().replace("\r\n", "\n")
    return login


@dataclass
class Scenario:
    """One enrolled user's three logins, in order, and what the module's mappings were."""
    user: str
    password: str
    enrolment: Enrolment
    right: Login = None
    replay: Login = None
    wrong: Login = None
    mappings: dict = field(default_factory=dict)


@pytest.fixture(scope="module")
def scenario(machine, daemon, sshd, made):
    user = USER_PREFIX + secrets.token_hex(4)
    password = "pw-" + secrets.token_hex(8)
    made["users"].append(user)
    add_user(machine, user, password, *USER_IDS)
    enrolment = enable_mfa(machine, user)
    # Enrolment used the code of this 30 s step; the next step's code is accepted as drift.
    code = totp(enrolment.secret, offset_steps=1)
    happened = Scenario(user, password, enrolment)

    def look():
        happened.mappings = module_mappings(machine)

    happened.right = ssh_login_looking_at_the_code_prompt(sshd.port, user, password, code, look)
    happened.replay = ssh_login(LOOPBACK, sshd.port, user, password, code)
    happened.wrong = ssh_login(LOOPBACK, sshd.port, user, password, wrong_code(enrolment.secret))
    return happened


def explain(daemon, sshd, *logins):
    parts = [login.describe() for login in logins]
    parts.append(f"--- sshd.log (last {LOG_TAIL_LINES} lines) ---\n{tail(sshd.log())}")
    parts.append(f"--- fotoauthd log (last {LOG_TAIL_LINES} lines) ---\n{tail(daemon.log())}")
    return "\n".join(parts)


def active_lines(text):
    return [line for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def ctl(box, *arguments):
    """The installed fotoauthctl, as root, against the default socket."""
    return box.run([CTL, *arguments]).stdout


def test_the_daemon_runs_from_the_package_with_its_default_paths_and_the_units_confinement(
        machine, debs, daemon):
    pid = daemon.process.pid
    assert daemon.process.poll() is None, daemon.log()
    assert machine.run(["readlink", f"/proc/{pid}/exe"]).stdout.strip() == DAEMON
    assert machine.run(["dpkg-query", "-S", DAEMON]).stdout.startswith("fotoauthd: ")

    # The configuration is the package's, all comments: the embedded defaults apply.
    packaged = deb_file(debs["fotoauthd"], CONFIG)
    assert machine.read_bytes(CONFIG) == packaged
    assert not active_lines(packaged.decode())
    assert machine.run(["stat", "-c", "%F", SOCKET]).stdout.strip() == "socket"
    assert machine.run(["stat", "-c", "%a %F", STATE_DIR]).stdout.strip() == "700 directory"
    assert machine.exists(DATABASE), daemon.log()

    status = dict(line.split(":\t", 1) for line in
                  machine.run(["cat", f"/proc/{pid}/status"]).stdout.splitlines() if ":\t" in line)
    settings = service_settings(machine.path(UNIT))
    wanted = set(capabilities(settings))
    assert wanted, "the packaged unit should name the capabilities it keeps"
    bounding = machine.run(["capsh", f"--decode={status['CapBnd'].strip()}"]).stdout
    held = {name.removeprefix("cap_") for name in bounding.split("=", 1)[1].strip().split(",")}
    assert held == wanted, f"the daemon's bounding set {held} should be the unit's {wanted}"
    assert status["NoNewPrivs"].strip() == "1"
    assert int(status["Umask"], 8) == unit_umask(machine.path(UNIT))


def test_sshd_reads_the_packaged_example_which_loads_the_module_by_name_only(
        machine, debs, sshd):
    service_file = machine.read_bytes(f"/etc/pam.d/{sshd.service}")
    assert service_file == deb_file(debs["fotoauthd"], EXAMPLE)
    # By its name alone, and without socket=: libpam looks in its own folder, the module asks
    # the default socket.
    named = [word for line in active_lines(service_file.decode()) for word in line.split()
             if "pam_fotostudio" in word or word.startswith("socket=")]
    assert named and set(named) == {"pam_fotostudio.so"}, named

    # The module in the multiarch folder is the package's own file.
    assert machine.run(["dpkg-query", "-S", MODULE]).stdout.startswith("libpam-fotostudio: ")
    assert sha256(machine.read_bytes(MODULE)) == sha256(deb_file(debs["libpam-fotostudio"],
                                                                 MODULE))


def test_a_right_password_and_code_log_in_through_the_installed_module(
        machine, daemon, sshd, scenario):
    login = scenario.right
    assert login.code_prompt_shown, "the code prompt should have come\n" + explain(
        daemon, sshd, login)
    assert login.logged_in, "the command should have run\n" + explain(daemon, sshd, login)
    assert login.exit_status == 0, explain(daemon, sshd, login)

    # While the code prompt waited, sshd had loaded the module: the installed file, nothing else.
    installed = machine.run(["realpath", MODULE]).stdout.strip()
    assert scenario.mappings, "no process inside mapped pam_fotostudio.so at the code prompt"
    for pid, files in scenario.mappings.items():
        loaded = {path for path in files if "pam_fotostudio" in path}
        assert loaded == {installed}, f"process {pid} mapped {loaded}"
        from_checkout = [path for path in files if path.startswith((str(TOP), str(BUILD)))]
        assert not from_checkout, f"process {pid} mapped {from_checkout}"


def test_the_same_code_again_is_refused(daemon, sshd, scenario):
    login = scenario.replay
    assert login.code_prompt_shown, explain(daemon, sshd, login)
    assert not login.logged_in, "a replayed code should be refused\n" + explain(daemon, sshd,
                                                                                login)
    assert login.refused and login.exit_status == 255, explain(daemon, sshd, login)


def test_a_wrong_code_is_refused(daemon, sshd, scenario):
    login = scenario.wrong
    assert login.code_prompt_shown, explain(daemon, sshd, login)
    assert not login.logged_in, "a wrong code should be refused\n" + explain(daemon, sshd, login)
    assert login.refused and login.exit_status == 255, explain(daemon, sshd, login)


def test_the_installed_fotoauthctl_status_shows_the_one_login(machine, sshd, scenario):
    page = ctl(machine, "status", "--user", scenario.user)
    assert re.search(r"^MFA: active since ", page, re.M), page
    assert re.search(r"^Recovery codes left: 10$", page, re.M), page
    assert re.search(rf"\b{re.escape(LOOPBACK)}\b", page), page

    status = json.loads(ctl(machine, "status", "--user", scenario.user, "--json"))
    logins = [(c["source"], c["service"], c["verified"]) for c in status["connections"]]
    # The refused attempts are no connections, but the recent activity shows them, newest first.
    assert logins == [(LOOPBACK, sshd.service, True)], json.dumps(status, indent=1)
    activity = [(entry["event"], entry["service"]) for entry in status["recent_activity"]]
    assert activity[:3] == [("login-refused", sshd.service), ("login-refused", sshd.service),
                            ("login", sshd.service)], json.dumps(status, indent=1)
