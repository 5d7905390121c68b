"""Starts the real fotoauthd on a private socket and a private SQLite file, and stops it."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .paths import FOTOAUTHD
from .unit_confinement import apply_umask, setpriv_prefix


class Daemon:
    """A running fotoauthd. Use as a context manager; the log is kept in self.log_path."""

    def __init__(self, workdir=None, extra_config="", confined=False, wrapper=()):
        """confined: start it under the capabilities, NoNewPrivileges= and UMask= of
        etc/systemd/fotoauthd.service (support/unit_confinement.py), as the end-to-end tests do.
        wrapper: a command the daemon's command line is appended to (unshare, ...)."""
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="fsauth-daemon-"))
        os.chmod(self.dir, 0o755)
        self.socket = self.dir / "run" / "socket"
        self.database = self.dir / "state" / "fotoauthd.sqlite"
        self.config = self.dir / "fotoauthd.conf"
        self.log_path = self.dir / "fotoauthd.log"
        self.config.write_text(
            f"socket = {self.socket}\n"
            f"database = {self.database}\n"
            f"{extra_config}\n")
        self.process = None
        self.confined = confined
        self.wrapper = list(wrapper)

    def start(self, timeout=10.0):
        log = open(self.log_path, "ab")
        command = [str(FOTOAUTHD), "--config", str(self.config)]
        preexec = None
        if self.confined:
            command = setpriv_prefix() + command
            preexec = apply_umask()
        command = self.wrapper + command
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, preexec_fn=preexec)
        # The socket file appears when the daemon binds it, a moment before it listens on it:
        # a connection in between would be refused. Ready means a connection is accepted.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.socket.exists() and self._accepts_connections():
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"fotoauthd exited early:\n{self.log()}")
            time.sleep(0.02)
        raise RuntimeError(f"fotoauthd does not listen on its socket:\n{self.log()}")

    def _accepts_connections(self):
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as probe:
            try:
                probe.connect(str(self.socket))
                return True
            except (ConnectionRefusedError, FileNotFoundError):
                return False

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
