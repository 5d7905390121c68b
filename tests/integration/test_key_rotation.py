"""Rotating the secrets key (docs/secrets.md, docs/fleet.md "Rotating the secrets key"): the
real daemon, following the documented steps, never refuses a login while the key changes;
`fotoauthd --reseal-secrets` seals every TOTP secret again with the new key, and afterwards
nothing in the state opens with the old key, on SQLite and on a fleet sharing PostgreSQL.

The sealed secrets are opened here by an independent implementation of ChaCha20-Poly1305
(python3-cryptography), with the key and the associated data docs/secrets.md describes.
"""
import base64
import hashlib
import os
import re
import sqlite3
import subprocess
import time

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from conftest import RAISED_LIMITS
from support.daemon import Daemon
from support.enrolment import STEP, Enrolment, enrol, totp
from support.paths import FOTOAUTHD
from support.postgres import PostgresCluster
from support.protocol import Field, MessageType, Status, request
from test_store_backends import login

# Each user logs in several times in one test, each time with the code of a later step than the
# last: ten steps ahead are accepted.
CONFIG = RAISED_LIMITS + "totp_window = 10\n"
RESEALED = re.compile(r"Resealed (\d+) TOTP secrets with the secrets key ([0-9a-f]{12}); "
                      r"(\d+) were sealed with it already\.")


def new_key():
    return os.urandom(32)


def key_id(key):
    """The id fotoauthd logs for a key (secret_box.cpp)."""
    return hashlib.sha256(b"fotoauthd secrets key id" + key).hexdigest()[:12]


def install_key(path, key):
    path.write_bytes(key)
    path.chmod(0o600)


def opens_with(key, sealed, account):
    """The secret when `key` opens the sealed bytes for this account, else None."""
    if sealed[0] != 1:
        return None
    try:
        return ChaCha20Poly1305(key).decrypt(
            sealed[1:13], sealed[13:], f"fotoauthd totp secret, account {account}".encode())
    except InvalidTag:
        return None


def secret_bytes(secret):
    return base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))


class Member:
    """An enrolled user; every login takes the code of a later step than the one before."""

    def __init__(self, enrolment):
        self.enrolment = enrolment
        self.steps = 0

    def login(self, daemon):
        self.steps += 1
        assert self.steps <= 10, "more logins than totp_window allows"
        base = max(time.time(), self.enrolment.confirmed_at)
        return login(daemon, self.enrolment.user, totp(self.enrolment.secret,
                                                       base + self.steps * STEP))


def confirm(daemon, user, secret):
    """Confirms a pending enrolment begun earlier, possibly through another daemon."""
    confirmed_at = time.time()
    answer = request(daemon.socket, MessageType.ENROL_CONFIRM,
                     {Field.USER: user, Field.CODE: totp(secret, confirmed_at)})
    assert answer.status == Status.OK, answer
    return Enrolment(user=user, secret=secret, confirmed_at=confirmed_at)


def begin(daemon, user):
    answer = request(daemon.socket, MessageType.ENROL_BEGIN,
                     {Field.USER: user, Field.MODE: "always"})
    assert answer.status == Status.OK, answer
    return answer.get(Field.SECRET)


def reseal(daemon):
    """Runs `fotoauthd --reseal-secrets` with the daemon's configuration, next to it."""
    return subprocess.run([str(FOTOAUTHD), "--config", str(daemon.config), "--reseal-secrets"],
                          capture_output=True, text=True, timeout=60)


def resealed_counts(result):
    assert result.returncode == 0, result.stdout + result.stderr
    found = RESEALED.search(result.stdout)
    assert found, result.stdout
    return int(found.group(1)), found.group(2), int(found.group(3))


# ------------------------------------------------------------------------------------------------
# One server, SQLite


def sqlite_secrets(daemon):
    """(account id, sealed bytes, user name) of every active and pending enrolment."""
    with sqlite3.connect(f"file:{daemon.database}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT e.account_id, e.secret, a.name FROM enrolments e "
                          "JOIN accounts a ON a.id = e.account_id UNION ALL "
                          "SELECT p.account_id, p.secret, a.name FROM pending_enrolments p "
                          "JOIN accounts a ON a.id = p.account_id").fetchall()
    db.close()
    return rows


def state_bytes(daemon):
    """Every file of the state folder but the keys, the write-ahead log included."""
    return b"".join(path.read_bytes() for path in sorted(daemon.database.parent.iterdir())
                    if path.is_file() and not path.name.startswith("secrets.key"))


@pytest.fixture
def server():
    daemon = Daemon(extra_config=CONFIG)
    yield daemon
    daemon.stop()
    daemon.cleanup()


def test_a_single_server_rotates_its_key_without_refusing_a_login(server, make_user):
    first, second, third, fourth = (make_user() for _ in range(4))
    server.start()
    state = server.database.parent
    old_key = (state / "secrets.key").read_bytes()
    early = [Member(enrol(server.socket, account.name)) for account in (first, second)]
    pending_secret = begin(server, third.name)
    old_sealed = [sealed for _, sealed, _ in sqlite_secrets(server)]
    assert len(old_sealed) == 3

    # Step 1: the old key becomes the previous one, a new one is installed, the daemon restarts
    # (it reads its keys at start only).
    fresh = new_key()
    (state / "secrets.key").rename(state / "secrets.key.previous")
    install_key(state / "secrets.key", fresh)
    server.stop()
    server.start()
    assert key_id(fresh) in server.log() and key_id(old_key) in server.log()
    for member in early:
        assert member.login(server) == Status.OK, server.log()
    # An enrolment begun under the old key is confirmed under the new one.
    late = [Member(confirm(server, third.name, pending_secret))]
    assert late[0].login(server) == Status.OK, server.log()
    pending_secret = begin(server, fourth.name)

    # Until the reseal, the files hold the secrets sealed with the old key (so the search for
    # them below can find them).
    files = state_bytes(server)
    assert all(sealed in files for sealed in old_sealed)

    # Step 2: the three secrets sealed with the old key are sealed with the new one; the
    # pending enrolment begun after the restart already was.
    assert resealed_counts(reseal(server)) == (3, key_id(fresh), 1)
    for account_id, sealed, name in sqlite_secrets(server):
        assert opens_with(old_key, sealed, account_id) is None
        assert opens_with(fresh, sealed, account_id) is not None, name
    # The old sealed bytes are gone from the files at once, the write-ahead log included.
    files = state_bytes(server)
    assert server.database.read_bytes()[:16] == b"SQLite format 3\0"
    for sealed in old_sealed:
        assert sealed not in files
    assert resealed_counts(reseal(server)) == (0, key_id(fresh), 4)
    for member in early + late:
        assert member.login(server) == Status.OK, server.log()

    # Step 3: without the previous key, everything still opens.
    (state / "secrets.key.previous").unlink()
    server.stop()
    server.start()
    late.append(Member(confirm(server, fourth.name, pending_secret)))
    for member in early + late:
        assert member.login(server) == Status.OK, server.log()
    server.stop()
    files = state_bytes(server)
    for sealed in old_sealed:
        assert sealed not in files
    secrets = {name: opens_with(fresh, sealed, account_id)
               for account_id, sealed, name in sqlite_secrets(server)}
    assert secrets == {member.enrolment.user: secret_bytes(member.enrolment.secret)
                       for member in early + late}


def test_a_secret_no_key_opens_stops_the_reseal_and_nothing_changes(server, make_user):
    first, second = make_user(), make_user()
    server.start()
    state = server.database.parent
    enrol(server.socket, first.name)
    server.stop()
    old_key = (state / "secrets.key").read_bytes()
    (state / "secrets.key").rename(state / "secrets.key.previous")
    fresh = new_key()
    install_key(state / "secrets.key", fresh)
    server.start()
    enrol(server.socket, second.name)
    server.stop()
    # The previous key removed before the reseal: the first user's secret opens with no key.
    (state / "secrets.key.previous").unlink()
    before = sqlite_secrets(server)

    result = reseal(server)
    assert result.returncode == 1
    assert "1 TOTP secret(s) open with none of the secrets keys" in result.stderr
    assert "nothing was resealed" in result.stderr
    assert "Resealed" not in result.stdout
    assert sqlite_secrets(server) == before

    # What docs/secrets.md says to do then: the previous key back, the reseal again.
    install_key(state / "secrets.key.previous", old_key)
    assert resealed_counts(reseal(server)) == (1, key_id(fresh), 1)


def test_a_previous_key_of_the_wrong_length_stops_the_start_with_a_clear_message(server):
    state = server.database.parent
    server.start()
    server.stop()
    # A key written as hex text instead of its 32 bytes.
    install_key(state / "secrets.key.previous", new_key().hex().encode())
    with pytest.raises(RuntimeError):
        server.start()
    assert "secrets.key.previous must hold exactly 32 bytes" in server.log()


def test_a_next_key_without_a_current_one_is_refused_rather_than_replaced(server):
    state = server.database.parent
    server.start()
    server.stop()
    (state / "secrets.key").rename(state / "secrets.key.next")
    with pytest.raises(RuntimeError):
        server.start()
    assert "no current one" in server.log()
    assert not (state / "secrets.key").exists()


def test_the_reseal_never_makes_a_key_of_its_own(server):
    # Say, run by hand while the daemon takes its key from a systemd credential: a key created
    # now would seal with a key the daemon does not hold.
    result = reseal(server)
    assert result.returncode == 1
    assert "no secrets key" in result.stderr
    assert not (server.database.parent / "secrets.key").exists()


# ------------------------------------------------------------------------------------------------
# A fleet of two servers sharing PostgreSQL


@pytest.fixture(scope="module")
def cluster():
    with PostgresCluster() as running:
        yield running


def fleet_secrets(cluster, database):
    rows = cluster.psql("SELECT account_id, encode(secret, 'hex') FROM enrolments UNION ALL "
                        "SELECT account_id, encode(secret, 'hex') FROM pending_enrolments",
                        database)
    return [(int(account), bytes.fromhex(sealed))
            for account, sealed in (line.split("|") for line in rows.split())]


class Server:
    """One fleet server: a daemon and its state folder, changed as docs/fleet.md says."""

    def __init__(self, cluster, database, name):
        self.daemon = Daemon(extra_config=CONFIG + "store = postgresql\n"
                             f"postgresql = {cluster.conninfo(database)}\n"
                             f"server_name = {name}\n")
        self.state = self.daemon.database.parent

    def install(self, name, data):
        self.state.mkdir(mode=0o700, exist_ok=True)
        install_key(self.state / name, data)

    def restart(self):
        self.daemon.stop()
        self.daemon.start()


def test_a_fleet_rotates_its_key_server_by_server_without_refusing_a_login(cluster,
                                                                          make_user):
    database = cluster.new_database()
    old_key, fresh = new_key(), new_key()
    alpha, beta = Server(cluster, database, "alpha"), Server(cluster, database, "beta")
    servers = (alpha, beta)
    users = [make_user() for _ in range(5)]
    members = []

    rounds = []

    def everyone_logs_in():
        """Every user logs in through one server, the other one next time; and both servers
        open every secret (a user's login needs it: the answer to the query says so)."""
        rounds.append(len(rounds))
        for index, member in enumerate(members):
            server = servers[(index + rounds[-1]) % 2]
            assert member.login(server.daemon) == Status.OK, server.daemon.log()
        for server in servers:
            for member in members:
                answer = request(server.daemon.socket, MessageType.AUTH_QUERY,
                                 {Field.USER: member.enrolment.user, Field.SERVICE: "sshd"})
                assert answer.status == Status.CODE_REQUIRED, server.daemon.log()

    try:
        for server in servers:
            server.install("secrets.key", old_key)
            server.daemon.start()
        members.append(Member(enrol(alpha.daemon.socket, users[0].name)))
        everyone_logs_in()

        # Step 1: the new key reaches every server as the next one, server by server. A server
        # restarted with it still seals with the old key, which all the others hold.
        for server in servers:
            server.install("secrets.key.next", fresh)
            server.restart()
            if server is alpha:
                # Sealed with the old key still: beta, not yet restarted, opens it.
                members.append(Member(enrol(alpha.daemon.socket, users[1].name)))
            everyone_logs_in()

        # Step 2: server by server, the next key becomes the current one and the old one the
        # previous. A server switched seals with the new key, which the others open as their
        # next one; they seal with the old key, which it opens as its previous one.
        alpha.state.joinpath("secrets.key").rename(alpha.state / "secrets.key.previous")
        alpha.state.joinpath("secrets.key.next").rename(alpha.state / "secrets.key")
        alpha.restart()
        # Begun through the switched server (the new key), confirmed through the other one.
        members.append(Member(confirm(beta.daemon, users[2].name, begin(alpha.daemon,
                                                                         users[2].name))))
        members.append(Member(enrol(beta.daemon.socket, users[3].name)))
        # Begun with the old key, and still pending through the reseal.
        pending_secret = begin(beta.daemon, users[4].name)
        everyone_logs_in()
        # Why step 1 comes first: a server holding the old key alone would refuse the user who
        # just enrolled through a switched server.
        lagging = Server(cluster, database, "lagging")
        lagging.install("secrets.key", old_key)
        lagging.daemon.start()
        try:
            answer = request(lagging.daemon.socket, MessageType.AUTH_QUERY,
                             {Field.USER: users[2].name, Field.SERVICE: "sshd"})
            assert answer.status == Status.INTERNAL_ERROR
            assert "does not open with the secrets key" in lagging.daemon.log()
        finally:
            lagging.daemon.stop()
            lagging.daemon.cleanup()
        beta.state.joinpath("secrets.key").rename(beta.state / "secrets.key.previous")
        beta.state.joinpath("secrets.key.next").rename(beta.state / "secrets.key")
        beta.restart()
        everyone_logs_in()

        # Step 3: one server reseals for the whole fleet, while both serve.
        sealed_with_old = sum(opens_with(old_key, sealed, account) is not None
                              for account, sealed in fleet_secrets(cluster, database))
        assert sealed_with_old == 4  # users 0, 1, 3 and the pending 4: through the old key
        assert resealed_counts(reseal(alpha.daemon)) == (4, key_id(fresh), 1)
        everyone_logs_in()

        # Step 4: the previous key is removed, server by server.
        for server in servers:
            (server.state / "secrets.key.previous").unlink()
            server.restart()
            everyone_logs_in()
        members.append(Member(confirm(alpha.daemon, users[4].name, pending_secret)))
        everyone_logs_in()
        rows = fleet_secrets(cluster, database)
        assert len(rows) == 5
        for account, sealed in rows:
            assert opens_with(old_key, sealed, account) is None
            assert opens_with(fresh, sealed, account) is not None
        opened = sorted(opens_with(fresh, sealed, account) for account, sealed in rows)
        assert opened == sorted(secret_bytes(member.enrolment.secret) for member in members)
    finally:
        for server in servers:
            server.daemon.stop()
            server.daemon.cleanup()
