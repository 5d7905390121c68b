"""A private PostgreSQL cluster for the tests: its own data folder, 127.0.0.1 only, a free port.

Debian's postgresql package installs the server with no cluster running; this one is made with
initdb as the postgres user in a scratch folder, and stopped and removed afterwards, even when
a test fails. Authentication is `trust`: nothing but this machine's loopback can reach it.
"""
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BIN = Path("/usr/lib/postgresql/15/bin")
SUPERUSER = "postgres"


def free_port():
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_postgres(command, **kwargs):
    return subprocess.run(["runuser", "-u", SUPERUSER, "--", *map(str, command)],
                          capture_output=True, text=True, timeout=60, **kwargs)


class PostgresCluster:
    """Use as a context manager; databases() hands out fresh, empty databases."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="fsauth-pg-"))
        self.data = self.dir / "data"
        self.log_path = self.dir / "postgresql.log"
        self.port = None
        self.running = False
        self._made = 0

    def start(self):
        account = pwd.getpwnam(SUPERUSER)
        os.chown(self.dir, account.pw_uid, account.pw_gid)
        made = _as_postgres([BIN / "initdb", "-D", self.data, "-A", "trust", "-U", SUPERUSER,
                             "--no-sync"])
        if made.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{made.stdout}{made.stderr}")
        # Another process may take a free port between the probe and the start: try again.
        for _ in range(5):
            self.port = free_port()
            options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                       "-c fsync=off")
            started = _as_postgres([BIN / "pg_ctl", "-D", self.data, "-o", options,
                                    "-l", self.log_path, "-w", "-t", "30", "start"])
            if started.returncode == 0:
                self.running = True
                return self
            time.sleep(0.2)
        raise RuntimeError(f"pg_ctl start failed:\n{self.log()}")

    def stop(self):
        if self.running:
            _as_postgres([BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"])
            self.running = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def conninfo(self, database="postgres"):
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database}"

    def new_database(self, prefix="fotoauthd"):
        """Creates an empty database and returns its name."""
        self._made += 1
        name = f"{prefix}_{self._made}"
        self.psql(f"CREATE DATABASE {name}")
        return name

    def psql(self, sql, database="postgres"):
        """Runs SQL through psql (the real client) and returns its unaligned output."""
        result = subprocess.run(["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                                 "-d", self.conninfo(database), "-c", sql],
                                capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr}")
        return result.stdout

    def dump(self, database):
        """pg_dump's plain SQL of the database: what a backup of it holds."""
        result = subprocess.run(["pg_dump", "-d", self.conninfo(database)],
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"pg_dump failed: {result.stderr}")
        return result.stdout

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
