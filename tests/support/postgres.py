"""A private PostgreSQL cluster for the tests: its own data folder, 127.0.0.1 only, a free port.

Debian's postgresql package installs the server with no cluster running; this one is made with
initdb as the postgres user in a scratch folder, and stopped and removed afterwards, even when
a test fails. Authentication is `trust`: nothing but this machine's loopback can reach it.

For the failover tests a cluster can also get a streaming standby (standby(): a copy made with
pg_basebackup, on a port of its own), be stopped as a crash would stop it and started again on
the same port (halt(), resume()), be made to hang (freeze(), thaw()), and a standby be promoted
(promote()).
"""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BIN = Path("/usr/lib/postgresql/15/bin")
SUPERUSER = "postgres"
# The application_name a standby connects to its primary with (its cluster_name).
STANDBY_NAME = "fsauth_standby"


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
        self._settings = ""
        self._standbys = []
        self._frozen = []

    def start(self):
        account = pwd.getpwnam(SUPERUSER)
        os.chown(self.dir, account.pw_uid, account.pw_gid)
        made = _as_postgres([BIN / "initdb", "-D", self.data, "-A", "trust", "-U", SUPERUSER,
                             "--no-sync"])
        if made.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{made.stdout}{made.stderr}")
        self._allow_replication()
        self._launch_on_a_free_port()
        return self

    def _allow_replication(self):
        # initdb's pg_hba.conf has these lines already; stated here so that standby() does not
        # depend on that default.
        with open(self.data / "pg_hba.conf", "a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")

    def _launch_on_a_free_port(self):
        # Another process may take a free port between the probe and the start: try again.
        for _ in range(5):
            self.port = free_port()
            if self._launch():
                return
            time.sleep(0.2)
        raise RuntimeError(f"pg_ctl start failed:\n{self.log()}")

    def _launch(self):
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                   f"-c fsync=off -c wal_level=replica {self._settings}")
        started = _as_postgres([BIN / "pg_ctl", "-D", self.data, "-o", options,
                                "-l", self.log_path, "-w", "-t", "30", "start"])
        self.running = started.returncode == 0
        return self.running

    def stop(self):
        for standby in self._standbys:
            standby.stop()
        self.thaw()
        if self.running:
            _as_postgres([BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"])
            self.running = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def halt(self, mode="immediate"):
        """Stops the server but keeps its files; "immediate" is a crash: no checkpoint, every
        connection cut at once."""
        stopped = _as_postgres([BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop"])
        if stopped.returncode != 0:
            raise RuntimeError(f"pg_ctl stop failed:\n{stopped.stdout}{stopped.stderr}")
        self.running = False

    def resume(self):
        """Starts a halted server again, on the same port."""
        if not self._launch():
            raise RuntimeError(f"pg_ctl start failed:\n{self.log()}")

    def freeze(self):
        """Stops every process of the server with SIGSTOP: its connections stay open and new
        ones are accepted by the kernel, but nothing answers, as when its machine hangs or
        the network drops its packets."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True,
                                  text=True).stdout.split()
        self._frozen = [postmaster, *map(int, children)]
        for pid in self._frozen:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self):
        for pid in reversed(self._frozen):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self._frozen = []

    def standby(self, synchronous=True):
        """A streaming standby of this cluster, started and caught up; stopped and removed with
        this cluster at the latest. synchronous: every commit here waits until the standby has
        the transaction's WAL on disk (synchronous_standby_names), so a promoted standby
        forgets no committed transaction."""
        standby = PostgresCluster()
        self._standbys.append(standby)
        account = pwd.getpwnam(SUPERUSER)
        os.chown(standby.dir, account.pw_uid, account.pw_gid)
        copied = _as_postgres([BIN / "pg_basebackup", "-D", standby.data, "-h", "127.0.0.1",
                               "-p", self.port, "-U", SUPERUSER, "-R", "-X", "stream",
                               "--no-sync", "--checkpoint=fast"])
        if copied.returncode != 0:
            raise RuntimeError(f"pg_basebackup failed:\n{copied.stdout}{copied.stderr}")
        standby._settings = f"-c cluster_name={STANDBY_NAME}"
        standby._launch_on_a_free_port()

        if synchronous:
            self.psql(f"ALTER SYSTEM SET synchronous_standby_names = '{STANDBY_NAME}'")
            self.psql("SELECT pg_reload_conf()")
        wanted = "sync" if synchronous else "async"
        self.wait_for(f"SELECT sync_state FROM pg_stat_replication "
                      f"WHERE application_name = '{STANDBY_NAME}' AND state = 'streaming'",
                      wanted)
        return standby

    def promote(self):
        """Makes a standby a primary, and waits until it takes writes."""
        promoted = _as_postgres([BIN / "pg_ctl", "-D", self.data, "-w", "-t", "30", "promote"])
        if promoted.returncode != 0:
            raise RuntimeError(f"pg_ctl promote failed:\n{promoted.stdout}{promoted.stderr}")
        self.wait_for("SELECT pg_is_in_recovery()", "f")

    def wait_for(self, sql, expected, timeout=30):
        """Runs sql until its output is `expected`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                seen = self.psql(sql).strip()
            except RuntimeError as error:
                seen = str(error)
            if seen == expected:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{sql!r} gives {seen!r}, not {expected!r}:\n{self.log()}")
            time.sleep(0.1)

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
