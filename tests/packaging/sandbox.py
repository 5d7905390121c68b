"""A throw-away copy of this machine in which the packaging tests install, purge and log in.

The copy is an overlay filesystem whose lower layer is this machine's root filesystem and whose
upper layer is a tmpfs, mounted in a private mount namespace: a process chrooted into it sees
this machine's files, and everything it writes (dpkg's database, /etc/pam.d, users, the daemon's
database) lands in the tmpfs. When the last process of the namespace ends, the mounts and every
change go with it, also after a crash of the test, so the machine's own /etc/pam.d can never be
left changed.

Only the root filesystem is copied: /proc is mounted anew, /dev is this machine's (bound), /run
and /tmp are empty tmpfs mounts. No systemd runs there, so package scripts start no service.
"""
import os
import signal
import subprocess
import time
from pathlib import Path

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
        self.namespace = os.stat(f"/proc/{self.holder.pid}/ns/mnt").st_ino
        self.started = []

    def path(self, inside):
        """The path by which a process outside the sandbox reaches a file inside it."""
        return Path(f"/proc/{self.holder.pid}/root") / str(inside).lstrip("/")

    def _command(self, args):
        return ["nsenter", "--target", str(self.holder.pid), "--mount", "--root", "--wd", "--",
                *[str(arg) for arg in args]]

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
