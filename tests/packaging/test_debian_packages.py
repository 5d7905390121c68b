"""The Debian packages (packaging/debian, docs/packaging.md): built from a copy of this checkout,
checked with lintian, then installed, used and purged with the real dpkg, pam-auth-update, libpam
and fotoauthd inside a throw-away copy of this machine (sandbox.py), never on the machine itself.

The tests of this file run in order and share one sandbox: installation, the profile, the
refused removal, and last the purge.
"""
import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from support.enrolment import enrol, unused_code
from support.paths import PAM_DRIVER, TOP

from sandbox import (MULTIARCH, PACKAGES, PAM_COMMON_FILES, Sandbox, add_user, built_packages,
                     deb_contents, install_packages)

# Where the tests' PAM application is copied inside the sandbox.
DRIVER_INSIDE = "/usr/local/sbin/fsmfa-pam-driver"

MODULE = f"/lib/{MULTIARCH}/security/pam_fotostudio.so"
COMMON_FILES = PAM_COMMON_FILES
# A service file of the sandbox that authenticates exactly as login, su and sudo do.
COMMON_SERVICE = "fsmfa-pkg-common"
SOCKET = "/run/fotoauthd/socket"
CODE_PROMPT = "Verification code or recovery code: "


def digest_tree(*patterns):
    digests = {}
    for pattern in patterns:
        for path in sorted(Path("/").glob(pattern.lstrip("/"))):
            if path.is_file():
                digests[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def host_package_states():
    result = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Abbrev}\n",
                             *PACKAGES], capture_output=True, text=True)
    return result.stdout


@pytest.fixture(scope="module", autouse=True)
def machine_left_as_it_was():
    """The machine's own PAM files and package states are the same after these tests."""
    def state():
        return (digest_tree("/etc/pam.d/common-*", "/var/lib/pam/*"), host_package_states())

    before = state()
    yield
    assert state() == before


@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    """The packages of this run (built once, shared with the other packaging tests)."""
    return built_packages(tmp_path_factory)


@pytest.fixture(scope="module")
def sandbox(debs, tmp_path_factory):
    box = Sandbox(Path("/tmp") / f"fsmfa-pkg-{tmp_path_factory.getbasetemp().name}")
    try:
        yield box
    finally:
        box.close()


@pytest.fixture(scope="module")
def installed(sandbox, debs):
    """Both packages installed in the sandbox (sandbox.install_packages)."""
    return install_packages(sandbox, debs)




def service_file(sandbox, name, text):
    sandbox.path(f"/etc/pam.d/{name}").write_text(text)


def login(sandbox, user, *responses):
    """One pam_authenticate through the sandbox's common-auth; returns (prompts, result)."""
    args = [DRIVER_INSIDE, "--confdir", "/etc/pam.d", "--service", COMMON_SERVICE, "--user", user]
    for response in responses:
        args += ["--response", response]
    output = sandbox.run(args).stdout
    prompts = re.findall(r"^prompt: (.*)$", output, re.M)
    result = re.search(r"^auth result: (\S+)$", output, re.M)
    assert result, output
    return prompts, result.group(1)


def active_lines(text):
    return [line.split() for line in text.decode().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_lintian_finds_no_error_and_every_warning_is_justified_in_the_docs(debs):
    result = subprocess.run(["lintian", "--fail-on", "error", "--display-level", ">=warning",
                             str(debs["changes"])], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not re.findall(r"^E: .*$", result.stdout, re.M), result.stdout

    documented = (TOP / "docs" / "packaging.md").read_text()
    warnings = set(re.findall(r"^W: [^:]+: (\S+)", result.stdout, re.M))
    assert not [tag for tag in warnings if f"`{tag}`" not in documented], result.stdout


def test_the_packages_split_module_and_daemon_and_ship_nothing_in_var_lib(debs):
    daemon = deb_contents(debs["fotoauthd"])
    module = deb_contents(debs["libpam-fotostudio"])

    assert {"/usr/sbin/fotoauthd", "/usr/bin/fotoauthctl", "/etc/fotostudio/fotoauthd.conf",
            "/lib/systemd/system/fotoauthd.service", "/lib/systemd/system/fotoauthd.socket",
            "/usr/share/man/man8/fotoauthd.8.gz", "/usr/share/man/man5/fotoauthd.conf.5.gz",
            "/usr/share/man/man1/fotoauthctl.1.gz"} <= set(daemon)
    assert {MODULE, "/usr/share/pam-configs/fotostudio",
            "/usr/share/man/man8/pam_fotostudio.8.gz"} <= set(module)
    assert not [path for path in daemon + module if path.startswith("/var/")]
    assert not [path for path in daemon if "pam_fotostudio" in path or "pam-configs" in path]
    assert not [path for path in module if "fotoauthd" in path]

    depends = subprocess.run(["dpkg-deb", "-f", str(debs["libpam-fotostudio"]), "Depends"],
                             check=True, capture_output=True, text=True).stdout
    version = subprocess.run(["dpkg-deb", "-f", str(debs["fotoauthd"]), "Version"], check=True,
                             capture_output=True, text=True).stdout.strip()
    assert f"fotoauthd (= {version})" in depends
    # What the module needs at run time (libstdc++ is linked into it, the unwinder is not).
    assert "libpam0g" in depends and "libgcc-s1" in depends, depends
    assert "libstdc++" not in depends, depends
    meson_version = re.search(r"version\s*:\s*'([^']+)'", (TOP / "meson.build").read_text())
    assert version == meson_version.group(1)


def test_installation_puts_every_file_in_place_and_changes_no_pam_file(sandbox, installed):
    for package in PACKAGES:
        status = sandbox.run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev}", package]).stdout
        assert status.strip() == "ii", package

    for path in ("/usr/sbin/fotoauthd", "/usr/bin/fotoauthctl", MODULE,
                 "/usr/share/pam-configs/fotostudio", "/etc/fotostudio/fotoauthd.conf",
                 "/lib/systemd/system/fotoauthd.service", "/lib/systemd/system/fotoauthd.socket"):
        assert sandbox.exists(path), path
    conffiles = sandbox.read_bytes("/var/lib/dpkg/info/fotoauthd.conffiles").decode()
    assert "/etc/fotostudio/fotoauthd.conf" in conffiles.split()
    # dh_installsystemd enabled both units (no systemd runs in the sandbox, so none started).
    assert sandbox.exists("/etc/systemd/system/sockets.target.wants/fotoauthd.socket")
    assert sandbox.exists("/etc/systemd/system/multi-user.target.wants/fotoauthd.service")
    assert not sandbox.exists("/var/lib/fotoauthd")

    # The profile is off by default: no service asks a code until the administrator says so.
    for name in COMMON_FILES:
        assert sandbox.read_bytes(f"/etc/pam.d/{name}") == installed["pam"][name], name
    sandbox.run(["fotoauthd", "--check-config"])
    assert "fotoauthd" in sandbox.run(["man", "-w", "fotoauthd"]).stdout
    assert "pam_fotostudio" in sandbox.run(["man", "-w", "pam_fotostudio"]).stdout


def test_the_profile_adds_one_code_line_after_the_password_and_remove_restores_the_bytes(
        sandbox, installed):
    before = {name: sandbox.read_bytes(f"/etc/pam.d/{name}") for name in COMMON_FILES}

    sandbox.run(["pam-auth-update", "--enable", "fotostudio"])
    auth = active_lines(sandbox.read_bytes("/etc/pam.d/common-auth"))
    added = [line for line in auth if line not in active_lines(before["common-auth"])]
    assert added == [["auth", "requisite", "pam_fotostudio.so"]]
    # After the "prime the stack" pam_permit line: reached only once a password module passed.
    modules = [line[2] for line in auth]
    assert modules.index("pam_fotostudio.so") == modules.index("pam_permit.so") + 1
    for name in COMMON_FILES[1:]:
        assert sandbox.read_bytes(f"/etc/pam.d/{name}") == before[name], name

    sandbox.run(["pam-auth-update", "--remove", "fotostudio"])
    for name in COMMON_FILES:
        assert sandbox.read_bytes(f"/etc/pam.d/{name}") == before[name], name


@pytest.fixture(scope="module")
def daemon_and_users(sandbox, installed, tmp_path_factory):
    """fotoauthd as packaged (its configuration, its socket), a user without MFA and an enrolled
    one, all inside the sandbox."""
    assert PAM_DRIVER.exists(), f"{PAM_DRIVER} is missing: build the tree first (ninja -C build)"
    # A copy inside: the checkout may be where the sandbox shows nothing (under /tmp, say).
    shutil.copy2(PAM_DRIVER, sandbox.path(DRIVER_INSIDE))
    service_file(sandbox, COMMON_SERVICE, "@include common-auth\n")
    users = {"plain": ("fsmfapkga", "pw-plain-7Qd2"), "enrolled": ("fsmfapkgb", "pw-mfa-9Kx4")}
    for name, password in users.values():
        add_user(sandbox, name, password)

    log = open(tmp_path_factory.mktemp("daemon") / "fotoauthd.log", "w")
    daemon = sandbox.spawn(["/usr/sbin/fotoauthd"], log)
    socket_path = sandbox.path(SOCKET)
    for _ in range(100):
        if socket_path.exists():
            break
        subprocess.run(["sleep", "0.05"])
    assert socket_path.exists(), "fotoauthd did not make its socket"
    enrolment = enrol(socket_path, users["enrolled"][0])
    yield {"daemon": daemon, "users": users, "enrolment": enrolment}
    log.close()


def test_with_the_profile_common_auth_asks_enrolled_users_for_a_code(sandbox, daemon_and_users):
    plain, plain_password = daemon_and_users["users"]["plain"]
    enrolled, password = daemon_and_users["users"]["enrolled"]
    secret = daemon_and_users["enrolment"].secret

    # Off by default: the enrolled user needs the password alone.
    assert login(sandbox, enrolled, password) == (["Password: "], "PAM_SUCCESS")

    sandbox.run(["pam-auth-update", "--enable", "fotostudio"])
    try:
        assert login(sandbox, plain, plain_password) == (["Password: "], "PAM_SUCCESS")

        with_code = ["Password: ", CODE_PROMPT]
        assert login(sandbox, enrolled, password, unused_code(secret)) == (with_code,
                                                                          "PAM_AUTH_ERR")
        code = daemon_and_users["enrolment"].next_code()
        assert login(sandbox, enrolled, password, code) == (with_code, "PAM_SUCCESS")

        # A wrong password fails before the code: the profile has no authfail line
        # (docs/packaging.md, "What the profile does not cover").
        assert login(sandbox, enrolled, "not-the-password", code) == (["Password: "],
                                                                      "PAM_AUTH_ERR")
    finally:
        sandbox.run(["pam-auth-update", "--disable", "fotostudio"])


def test_with_the_profile_and_no_daemon_common_auth_lets_nobody_in(sandbox, daemon_and_users):
    plain, plain_password = daemon_and_users["users"]["plain"]
    daemon = daemon_and_users["daemon"]

    sandbox.run(["pam-auth-update", "--enable", "fotostudio"])
    daemon.kill()
    daemon.wait(timeout=10)
    try:
        prompts, result = login(sandbox, plain, plain_password)
        assert result == "PAM_AUTHINFO_UNAVAIL"
    finally:
        daemon_and_users["daemon"] = sandbox.spawn(["/usr/sbin/fotoauthd"], subprocess.DEVNULL)
        # The profile stays enabled: the purge below must take it out.


def test_removal_is_refused_while_a_pam_file_still_uses_the_module(sandbox, installed):
    example = "/usr/share/doc/fotostudio-auth/examples/sshd-fotostudio"
    sandbox.run(["cp", example, "/etc/pam.d/fsmfa-pkg-sshd"])
    common_auth = sandbox.read_bytes("/etc/pam.d/common-auth")
    try:
        result = sandbox.run(["dpkg", "--remove", "libpam-fotostudio"], check=False)
        assert result.returncode != 0
        assert "/etc/pam.d/fsmfa-pkg-sshd" in result.stderr
        # Still installed (dpkg keeps the wish to remove it: "ri").
        status = sandbox.run(["dpkg-query", "-W", "-f", "${db:Status-Status}",
                              "libpam-fotostudio"]).stdout
        assert status == "installed"
        assert sandbox.exists(MODULE)
        assert sandbox.read_bytes("/etc/pam.d/common-auth") == common_auth
    finally:
        sandbox.run(["rm", "-f", "/etc/pam.d/fsmfa-pkg-sshd"])


def test_purge_restores_common_auth_removes_everything_and_passwords_still_work(
        sandbox, installed, debs, daemon_and_users):
    enrolled, password = daemon_and_users["users"]["enrolled"]
    assert b"pam_fotostudio.so" in sandbox.read_bytes("/etc/pam.d/common-auth")

    # As systemd would in the daemon's prerm; the process runs the packaged binary.
    daemon_and_users["daemon"].kill()
    daemon_and_users["daemon"].wait(timeout=10)
    # The daemon first on the command line: dpkg must still remove the module first.
    sandbox.run(["dpkg", "--purge", "fotoauthd", "libpam-fotostudio"])

    for name in COMMON_FILES:
        assert sandbox.read_bytes(f"/etc/pam.d/{name}") == installed["pam"][name], name
    for path in deb_contents(debs["fotoauthd"]) + deb_contents(debs["libpam-fotostudio"]):
        assert not sandbox.exists(path), path
    for path in ("/var/lib/fotoauthd", "/etc/fotostudio",
                 "/etc/systemd/system/sockets.target.wants/fotoauthd.socket",
                 "/etc/systemd/system/multi-user.target.wants/fotoauthd.service"):
        assert not sandbox.exists(path), path

    assert login(sandbox, enrolled, password) == (["Password: "], "PAM_SUCCESS")
