"""A throw-away copy of this machine in which the packaging tests install, purge and log in.

The copy is an overlay filesystem whose lower layer is this machine's root filesystem and whose
upper layer is a tmpfs, mounted in a private mount namespace: a process chrooted into it sees
this machine's files, and everything it writes (dpkg's database, /etc/pam.d, users, the daemon's
database) lands in the tmpfs. When the last process of the namespace ends, the mounts and every
change go with it, also after a crash of the test, so the machine's own /etc/pam.d can never be
left changed.

Only the root filesystem is copied: /proc is mounted anew, /dev is this machine's (bound), /run
and /tmp are empty tmpfs mounts. No systemd runs there, so package scripts start no service.
The network is this machine's: a server started inside listens on this machine's addresses.

Below the Sandbox class: the packages of this checkout, built once per test run however many
test modules ask for them, and their installation into a sandbox.
"""
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from support.paths import TOP

# Runs as root in the new mount namespace; $1 is the folder for the mounts. The last line keeps
# the namespace alive, chrooted into the copy, until the test kills it.
SETUP = r"""
set -eu
top=$1
mount -t tmpfs -o mode=0700,size=4g fsmfa-pkg-layers "$top"
mkdir "$top/upper" "$top/work" "$top/root"
mount -t overlay fsmfa-pkg-root -o "lowerdir=/,upperdir=$top/upper,workdir=$top/work" "$top/root"
mount -t proc proc "$top/root/proc"
mount --rbind /dev "$top/root/dev"
mount -t tmpfs -o mode=0755 fsmfa-pkg-run "$top/root/run"
mount -t tmpfs -o mode=1777 fsmfa-pkg-tmp "$top/root/tmp"
echo ready
exec chroot "$top/root" /bin/sleep infinity
"""

ENVIRONMENT = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LC_ALL": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
    "HOME": "/root",
}


class Sandbox:
    def __init__(self, mount_dir):
        self.mount_dir = Path(mount_dir)
        self.mount_dir.mkdir(mode=0o700, exist_ok=True)
        self.holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", SETUP, "sh",
             str(self.mount_dir)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready = self.holder.stdout.readline().strip()
        if ready != "ready":
            self.holder.wait(timeout=10)
            raise RuntimeError(f"the sandbox did not start: {self.holder.stderr.read()}")
        # "ready" comes just before the holder execs chroot: wait until it has, or paths seen
        # through /proc/PID/root would still be this machine's.
        for _ in range(200):
            try:
                if os.readlink(f"/proc/{self.holder.pid}/exe").endswith("/sleep"):
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError("the sandbox's holder never entered the copy")
        self.namespace = os.stat(f"/proc/{self.holder.pid}/ns/mnt").st_ino
        self.started = []

    def path(self, inside):
        """The path by which a process outside the sandbox reaches a file inside it."""
        return Path(f"/proc/{self.holder.pid}/root") / str(inside).lstrip("/")

    def _command(self, args):
        return ["nsenter", "--target", str(self.holder.pid), "--mount", "--root", "--wd", "--",
                *[str(arg) for arg in args]]

    def command(self, args):
        """The command line that runs args inside, for a caller that starts it itself (pexpect,
        when the program wants a terminal)."""
        return self._command(args)

    def run(self, args, check=True, input=None):
        """Runs a command inside and returns the CompletedProcess (text, stdout and stderr)."""
        result = subprocess.run(self._command(args), input=input, capture_output=True,
                                text=True, env=ENVIRONMENT, timeout=180)
        if check and result.returncode != 0:
            raise AssertionError(f"{args} failed ({result.returncode}):\n{result.stdout}\n"
                                 f"{result.stderr}")
        return result

    def spawn(self, args, log):
        """Starts a long-running process inside; close() ends it if the test did not."""
        process = subprocess.Popen(self._command(args), stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, env=ENVIRONMENT)
        self.started.append(process)
        return process

    def read_bytes(self, inside):
        return self.path(inside).read_bytes()

    def exists(self, inside):
        return os.path.lexists(self.path(inside))

    def _processes_inside(self):
        """Every process in the sandbox's namespace but the holder: all were started from here."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == self.holder.pid:
                continue
            try:
                if os.stat(entry / "ns" / "mnt").st_ino == self.namespace:
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    def processes(self):
        """The pids of the processes inside (their numbers are the same inside and out)."""
        return self._processes_inside()

    def close(self):
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        for pid in self._processes_inside():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.holder.kill()
        self.holder.wait(timeout=10)
        # The mounts lived only in the namespace; its end leaves the folder empty.
        for _ in range(50):
            try:
                self.mount_dir.rmdir()
                break
            except OSError:
                time.sleep(0.1)


MULTIARCH = subprocess.run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"], check=True,
                           capture_output=True, text=True).stdout.strip()
PACKAGES = ("fotoauthd", "libpam-fotostudio")
PAM_COMMON_FILES = ("common-auth", "common-account", "common-password", "common-session",
                    "common-session-noninteractive")

# The build of this test run, shared by every module that asks: it takes minutes.
_built_packages = {}


def built_packages(tmp_path_factory):
    """{package: its .deb, "changes": the .changes file}: those in FOTOSTUDIO_DEB_DIR
    (packaging/build-deb.sh's output folder) when it is set, else built from this checkout the
    first time a test module of this run asks, and the same files for every later one."""
    if not _built_packages:
        if os.environ.get("FOTOSTUDIO_DEB_DIR"):
            out = Path(os.environ["FOTOSTUDIO_DEB_DIR"])
        else:
            out = tmp_path_factory.mktemp("debs")
            subprocess.run(["bash", str(TOP / "packaging" / "build-deb.sh"), str(out)],
                           check=True, stdout=subprocess.DEVNULL)
        found = {package: next(out.glob(f"{package}_*.deb")) for package in PACKAGES}
        found["changes"] = next(out.glob("*.changes"))
        _built_packages.update(found)
    return dict(_built_packages)


def deb_contents(deb):
    """The paths of a .deb's files and symbolic links, absolute, without its folders."""
    listing = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True,
                             capture_output=True).stdout
    names = subprocess.run(["tar", "-tvf", "-"], input=listing, check=True,
                           capture_output=True).stdout.decode().splitlines()
    return sorted(line.split()[5].lstrip(".") for line in names if line[0] in "-l")


def deb_file(deb, path):
    """The bytes of one file of a .deb, read from the package itself."""
    listing = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True,
                             capture_output=True).stdout
    return subprocess.run(["tar", "-xOf", "-", "." + path], input=listing, check=True,
                          capture_output=True).stdout


# Other tests on this machine add and remove service files of their own in /etc/pam.d while a
# sandbox is in use. This makes the sandbox's /etc/pam.d a folder of its own, which the
# machine's changes no longer reach, holding what Debian put there: the packages' files and
# common-*.
PAM_SNAPSHOT = r"""
set -e
mkdir /etc/pam.d.snapshot
for file in /etc/pam.d/*; do
    case "${file##*/}" in
        common-*) ;;
        *) dpkg-query -S "$file" >/dev/null 2>&1 || continue ;;
    esac
    cp -a "$file" /etc/pam.d.snapshot/
done
rm -rf /etc/pam.d
mv /etc/pam.d.snapshot /etc/pam.d
"""


def install_packages(box, debs):
    """Installs both packages into box with dpkg -i, after removing what an earlier `meson
    install` (scripts/install.sh) may have left on this machine, so that only the packages'
    files count. Returns {"pam": the bytes of /etc/pam.d/common-* before, "install_output"}."""
    leftovers = [path for package in PACKAGES for path in deb_contents(debs[package])]
    leftovers += ["/usr/lib/systemd/system/fotoauthd.service",
                  "/usr/lib/systemd/system/fotoauthd.socket",
                  f"/usr/lib/{MULTIARCH}/security/pam_fotostudio.so"]
    box.run(["rm", "-rf", "/etc/fotostudio", "/var/lib/fotoauthd",
             "/usr/share/doc/fotostudio-auth", *leftovers])
    box.run(["sh", "-c", PAM_SNAPSHOT])
    state = {"pam": {name: box.read_bytes(f"/etc/pam.d/{name}") for name in PAM_COMMON_FILES}}

    inside = box.path("/tmp/debs")
    inside.mkdir()
    for package in PACKAGES:
        shutil.copy(debs[package], inside)
    result = box.run(["dpkg", "-i", *[f"/tmp/debs/{debs[package].name}"
                                     for package in PACKAGES]], check=False)
    if result.returncode != 0:
        # A dependency missing from this machine: apt fetches it (Debian archive) into the copy.
        box.run(["apt-get", "install", "-f", "-y", "-q"])
    state["install_output"] = result.stdout + result.stderr
    return state


def add_user(box, name, password, *useradd_options):
    """A local account inside box, with a home folder and a password."""
    # A lock file copied from this machine belongs to a useradd running out here, on the
    # machine's own files: no process in the sandbox holds it.
    box.run(["rm", "-f", "/etc/passwd.lock", "/etc/shadow.lock", "/etc/group.lock",
             "/etc/gshadow.lock", "/etc/subuid.lock", "/etc/subgid.lock"])
    box.run(["useradd", "--create-home", "--shell", "/bin/sh", *useradd_options, name])
    box.run(["chpasswd"], input=f"{name}:{password}\n")
