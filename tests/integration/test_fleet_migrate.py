"""`fotoauthd --migrate-from-sqlite PATH` (docs/fleet.md, "Joining a fleet with an existing
server"): a server that kept its state in SQLite joins a fleet without its users enrolling again.

A real fotoauthd on SQLite enrols users and is used (codes, a recovery code, a trusted key, a
lock), then stopped; its state is copied into a private PostgreSQL cluster (support/postgres.py)
and a real fotoauthd started on PostgreSQL with the same state folder (the same keys) must give
each user what the old server gave. The refusals (a name already in the fleet, a fleet sealed
with another key, a bad PATH, a running daemon, a second run) must leave PostgreSQL as it was,
which pg_dump shows, and the SQLite file is only ever read.
"""
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import time

import pytest

from support.daemon import Daemon
from support.enrolment import STEP, enrol, totp, unused_code
from support.paths import FOTOAUTHCTL, FOTOAUTHD
from support.postgres import PostgresCluster
from support.protocol import Field, MessageType, Status, request

# Wrong codes lock at the third; the login limits stay out of the way. Two steps ahead are
# accepted, so that a fresh code exists right after the migration whatever step the old server
# spent last.
LIMITS = ("login_source_attempts = 1000\n"
          "login_user_attempts = 1000\n"
          "code_attempts = 3\n"
          "totp_window = 2\n")
SERVER_NAME = "studio-old"
ADDRESS = "198.51.100.30"


@pytest.fixture(scope="module")
def cluster():
    with PostgresCluster() as running:
        yield running


@pytest.fixture
def started():
    """Starts daemons, stops and removes them afterwards."""
    daemons = []

    def start(extra_config="", workdir=None, keys_from=None):
        """keys_from: a daemon whose keys are copied first, as docs/fleet.md tells an
        administrator to do for every server of a fleet."""
        running = Daemon(workdir=workdir, extra_config=LIMITS + extra_config)
        if keys_from:
            state = running.database.parent
            state.mkdir(mode=0o700)
            for key in ("secrets.key", "shadow-digest.key"):
                shutil.copy2(keys_from.database.parent / key, state / key)
        daemons.append(running.start())
        return running

    yield start
    for running in daemons:
        running.stop()
    for folder in {running.dir for running in daemons}:
        Daemon(workdir=folder).cleanup()


def fleet_config(cluster, database, server_name=SERVER_NAME):
    return ("store = postgresql\n"
            f"postgresql = {cluster.conninfo(database)}\n"
            f"server_name = {server_name}\n")


def migrate(daemon, cluster, database, path=None):
    """Runs the migration as an administrator would: the SQLite server's configuration, changed
    to name the fleet's database, and the path of its SQLite file."""
    config = daemon.dir / "migrate.conf"
    config.write_text(f"socket = {daemon.socket}\n"
                      f"database = {daemon.database}\n" + fleet_config(cluster, database))
    return subprocess.run([str(FOTOAUTHD), "--config", str(config), "--migrate-from-sqlite",
                           str(path or daemon.database)],
                          capture_output=True, text=True, timeout=60)


def ctl(daemon, *args):
    result = subprocess.run([str(FOTOAUTHCTL), "--socket", str(daemon.socket), *args],
                            capture_output=True, text=True, timeout=30,
                            env={**os.environ, "TZ": "UTC"})
    assert result.returncode == 0, (result.stdout, result.stderr, daemon.log())
    return result.stdout


def verify(daemon, user, code, auth_info=None):
    fields = {Field.USER: user, Field.SERVICE: "sshd", Field.REMOTE_HOST: ADDRESS,
              Field.CODE: code}
    if auth_info:
        fields[Field.AUTH_INFO] = auth_info
    return request(daemon.socket, MessageType.AUTH_VERIFY, fields).status


def login(daemon, user, code, auth_info=None):
    """A login as pam_fotostudio makes it: the code, then the session with the nonce."""
    fields = {Field.USER: user, Field.SERVICE: "sshd", Field.REMOTE_HOST: ADDRESS,
              Field.CODE: code}
    if auth_info:
        fields[Field.AUTH_INFO] = auth_info
    verified = request(daemon.socket, MessageType.AUTH_VERIFY, fields)
    if verified.status == Status.OK:
        opened = request(daemon.socket, MessageType.SESSION_OPEN,
                         {Field.USER: user, Field.NONCE: verified.get(Field.NONCE)})
        assert opened.status == Status.OK, opened
    return verified.status


def query(daemon, user, auth_info=None):
    fields = {Field.USER: user, Field.SERVICE: "sshd", Field.REMOTE_HOST: ADDRESS}
    if auth_info:
        fields[Field.AUTH_INFO] = auth_info
    return request(daemon.socket, MessageType.AUTH_QUERY, fields).status


def sqlite_rows(path, sql, *params):
    # Read-only, through a URI, so that the test does not change the file it checks.
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute(sql, params).fetchall()


def contents(cluster, database):
    """pg_dump of the database without the random key of its \\restrict lines (a pg_dump of
    Debian 12's PostgreSQL 15.14 or newer writes one), so that equal contents compare equal."""
    return [line for line in cluster.dump(database).splitlines()
            if not line.startswith(("\\restrict ", "\\unrestrict "))]


def file_digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def counts_of(output):
    """The count table of the summary: label -> (in SQLite, in PostgreSQL)."""
    return {match[1].strip(): (int(match[2]), int(match[3]))
            for match in re.finditer(r"^ {2,}(\S[\w ]*?)\s+(\d+)\s+(\d+)$", output, re.MULTILINE)}


def key_info(folder):
    """What sshd puts in SSH_AUTH_INFO_0 after a login with a real ed25519 key (ssh-keygen)."""
    path = folder / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
                   check=True, capture_output=True)
    key_type, blob = path.with_suffix(".pub").read_text().split()[:2]
    return f"publickey {key_type} {blob}\n"


def use(server, make_user, key):
    """Users of a server on SQLite do what users do (alice logs in with `key`, bob gets locked,
    carol begins an enrolment); returns them, alice's enrolment, the code she spent, carol's
    pending secret and what the CLI showed, with the server stopped."""
    alice, bob, carol = make_user(), make_user(), make_user()

    keyed = enrol(server.socket, alice.name, mode="new-device")
    spent_code = keyed.next_code()
    assert login(server, alice.name, spent_code, key) == Status.OK, server.log()
    assert login(server, alice.name, keyed.recovery_codes[0]) == Status.OK, server.log()

    locked = enrol(server.socket, bob.name)
    for _ in range(3):
        assert verify(server, bob.name, unused_code(locked.secret)) == Status.REJECTED
    assert query(server, bob.name) == Status.LOCKED

    begun = request(server.socket, MessageType.ENROL_BEGIN,
                    {Field.USER: carol.name, Field.MODE: "always"})
    assert begun.status == Status.OK

    seen = {user.name: ctl(server, "status", "--user", user.name)
            for user in (alice, bob, carol)}
    lockouts = ctl(server, "lockouts")
    server.stop()
    return (alice, bob, carol), keyed, spent_code, begun.get(Field.SECRET), seen, lockouts


def test_a_migrated_server_s_users_keep_their_enrolments_codes_devices_locks_and_history(
        cluster, started, make_user, tmp_path):
    database = cluster.new_database()
    old = started()
    # The fleet has a user already, so the accounts get other ids in PostgreSQL than in SQLite
    # (and a secret sealed for its old id would not open).
    beta = started(fleet_config(cluster, database, "beta"), keys_from=old)
    dave = make_user()
    enrol(beta.socket, dave.name)
    beta.stop()
    key = key_info(tmp_path)
    (alice, bob, carol), keyed, spent_code, pending, seen, lockouts = use(old, make_user, key)
    sqlite_file = old.database
    before = file_digest(sqlite_file)

    migrated = migrate(old, cluster, database)

    assert migrated.returncode == 0, (migrated.stdout, migrated.stderr)
    counts = counts_of(migrated.stdout)
    assert counts["accounts"] == (3, 3), migrated.stdout
    assert counts["active enrolments"] == (2, 2)
    assert counts["pending enrolments"] == (1, 1)
    assert counts["recovery codes"] == (20, 20)
    assert counts["of them unused"] == (19, 19)
    assert counts["trusted devices"] == (1, 1)
    assert counts["locks"] == (1, 1)
    history_rows = sqlite_rows(sqlite_file, "SELECT COUNT(*) FROM history")[0][0]
    assert history_rows > 0
    assert counts["history entries"] == (history_rows, history_rows)
    assert file_digest(sqlite_file) == before  # only read
    # Neither a secret nor a code nor a hash is printed.
    hashes = [row[0] for row in sqlite_rows(sqlite_file, "SELECT hash FROM recovery_codes")]
    for text in [keyed.secret, spent_code, *keyed.recovery_codes, *hashes]:
        assert text not in migrated.stdout + migrated.stderr
    # Alice's history is there, every entry under this server's name.
    old_entries = sqlite_rows(sqlite_file, "SELECT COUNT(*) FROM history h JOIN accounts a "
                              "ON a.id = h.account_id WHERE a.name = ?", alice.name)[0][0]
    copied = cluster.psql("SELECT COUNT(*), string_agg(DISTINCT server, ',') FROM history h "
                          f"JOIN accounts a ON a.id = h.account_id WHERE a.name = '{alice.name}'",
                          database)
    assert old_entries >= 3  # enrolment, the login with the key, the recovery code
    assert copied.strip() == f"{old_entries}|{SERVER_NAME}"

    fleet = started(fleet_config(cluster, database), workdir=old.dir)
    assert "State kept in PostgreSQL" in fleet.log()

    # Each user's status reads as it did on the old server.
    for user in (alice, bob, carol):
        assert ctl(fleet, "status", "--user", user.name) == seen[user.name]
    assert ctl(fleet, "lockouts") == lockouts
    assert query(fleet, bob.name) == Status.LOCKED

    # The spent code and the spent recovery code stay spent; the rest works.
    assert query(fleet, alice.name, key) == Status.TRUSTED
    assert request(fleet.socket, MessageType.STATUS, {Field.USER: dave.name}).get(
        Field.ENROLLED) == 1
    assert verify(fleet, alice.name, spent_code) == Status.REJECTED
    assert verify(fleet, alice.name, keyed.recovery_codes[0]) == Status.REJECTED
    assert login(fleet, alice.name, keyed.recovery_codes[1]) == Status.OK, fleet.log()
    fresh = totp(keyed.secret, max(time.time(), keyed.confirmed_at) + 2 * STEP)
    assert login(fleet, alice.name, fresh) == Status.OK, fleet.log()
    assert verify(fleet, alice.name, fresh) == Status.REJECTED
    # Carol's pending enrolment is confirmed with her app's code.
    confirmed = request(fleet.socket, MessageType.ENROL_CONFIRM,
                        {Field.USER: carol.name, Field.CODE: totp(pending)})
    assert confirmed.status == Status.OK, fleet.log()


def test_a_retired_account_is_copied_retired_with_its_history(cluster, started, make_user):
    database = cluster.new_database()
    old = started()
    user = make_user()
    enrol(old.socket, user.name)
    # The name now resolves to another uid: the daemon retires the old account at the next
    # request, and the user enrols afresh under a new one.
    subprocess.run(["usermod", "-u", str(user.uid + 1000), user.name], check=True)
    assert query(old, user.name) == Status.NOT_ENROLLED
    enrol(old.socket, user.name)
    old.stop()

    migrated = migrate(old, cluster, database)

    assert migrated.returncode == 0, migrated.stderr
    assert counts_of(migrated.stdout)["of them retired"] == (1, 1)
    rows = cluster.psql("SELECT a.retired_at IS NOT NULL, a.uid, COUNT(h.id) FROM accounts a "
                        "LEFT JOIN history h ON h.account_id = a.id GROUP BY a.id "
                        "ORDER BY a.id", database).split()
    assert rows[0].startswith(f"t|{user.uid - 1000}|") and int(rows[0].split("|")[2]) >= 1
    assert rows[1].startswith(f"f|{user.uid}|")


def test_a_second_run_is_refused_as_a_conflict_and_copies_nothing_twice(cluster, started,
                                                                        make_user):
    database = cluster.new_database()
    old = started()
    user = make_user()
    enrol(old.socket, user.name)
    subprocess.run(["usermod", "-u", str(user.uid + 1000), user.name], check=True)
    assert query(old, user.name) == Status.NOT_ENROLLED
    enrol(old.socket, user.name)
    old.stop()
    assert migrate(old, cluster, database).returncode == 0
    dump = contents(cluster, database)

    again = migrate(old, cluster, database)

    assert again.returncode == 1
    assert again.stdout == ""
    assert again.stderr.startswith("fotoauthd: nothing was migrated: ")
    assert f"1 account(s) of this server are current in PostgreSQL already ({user.name})" \
        in again.stderr
    assert "1 retired account(s) were copied by an earlier migration" in again.stderr
    assert contents(cluster, database) == dump
    assert cluster.psql("SELECT COUNT(*) FROM accounts", database).strip() == "2"


def test_a_name_enrolled_through_another_server_refuses_the_whole_migration(cluster, started,
                                                                           make_user):
    database = cluster.new_database()
    old = started()
    shared, only_here = make_user(), make_user()
    enrol(old.socket, shared.name)
    enrol(old.socket, only_here.name)
    old.stop()
    # Another server of the fleet, with this server's keys, where the same user enrolled too.
    other = started(fleet_config(cluster, database, "beta"), keys_from=old)
    enrol(other.socket, shared.name)
    dump = contents(cluster, database)

    refused = migrate(old, cluster, database)

    assert refused.returncode == 1
    assert f"1 account(s) of this server are current in PostgreSQL already ({shared.name})" \
        in refused.stderr
    assert only_here.name not in refused.stderr
    assert contents(cluster, database) == dump
    assert request(other.socket, MessageType.STATUS,
                   {Field.USER: only_here.name}).get(Field.ENROLLED) == 0


def test_a_fleet_sealed_with_another_key_is_refused(cluster, started, make_user):
    database = cluster.new_database()
    old = started()
    here, there = make_user(), make_user()
    enrol(old.socket, here.name)
    old.stop()
    other = started(fleet_config(cluster, database, "beta"))  # its own, new key
    enrol(other.socket, there.name)
    dump = contents(cluster, database)

    refused = migrate(old, cluster, database)

    assert refused.returncode == 1
    assert "1 of 1 TOTP secrets that open with none of this server's secrets keys" \
        in refused.stderr
    assert contents(cluster, database) == dump


@pytest.mark.parametrize("content", [None, b"", b"not a database, just some garbage\n" * 200])
def test_a_missing_or_garbage_path_gets_a_clear_error(cluster, started, content, tmp_path):
    database = cluster.new_database()
    old = started()
    old.stop()
    path = tmp_path / "state.sqlite"
    if content is not None:
        path.write_bytes(content)
    dump = contents(cluster, database)

    refused = migrate(old, cluster, database, path)

    assert refused.returncode == 1
    assert refused.stdout == ""
    expected = {None: f"cannot read {path}: No such file or directory",
                b"": f"{path} is empty: it holds no fotoauthd state"}.get(
                    content, f"{path} is not a fotoauthd database (file is not a database)")
    assert refused.stderr == f"fotoauthd: nothing was migrated: {expected}\n"
    assert contents(cluster, database) == dump


def test_a_running_daemon_on_the_file_is_refused(cluster, started, make_user):
    database = cluster.new_database()
    old = started()
    enrol(old.socket, make_user().name)
    dump = contents(cluster, database)

    refused = migrate(old, cluster, database)

    assert refused.returncode == 1
    assert (f"{old.database} is in use by fotoauthd (process {old.process.pid}): stop "
            "fotoauthd on this server first" in refused.stderr)
    assert contents(cluster, database) == dump
    old.stop()
    assert migrate(old, cluster, database).returncode == 0
