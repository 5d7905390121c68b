"""Rate limits and locks across a fleet (docs/fleet.md): two real daemons, two "servers" with
their own sockets and server names, keep their state in one PostgreSQL database of a private
cluster (support/postgres.py). Attempts through both add up, a lock earned through one holds
on the other at once, root's unlock or unblock through either clears it for both, and of
eight logins racing with one recovery code through both servers exactly one passes. A password
changed through one server ends the user's sessions on the other (LISTEN/NOTIFY).

The daemons run with the default limits: 5 wrong codes lock for an hour, 5 logins per source
per minute.
"""
import contextlib
import json
import os
import re
import subprocess
import threading
import time

import pytest

from conftest import RAISED_LIMITS
from support.enrolment import enrol, unused_code
from support.fleet import OTHER_MACHINE, fleet_daemon, stop_all
from support.login_sessions import ended_by_sigterm, idle_session
from support.paths import FOTOAUTHCTL
from support.postgres import PostgresCluster
from support.protocol import Connection, Field, MessageType, Status, request

CODE_ATTEMPTS = 5    # default code_attempts: the 5th wrong code locks
SOURCE_ATTEMPTS = 5  # default login_source_attempts per login_source_window (60 s)
ADDRESS = "198.51.100.44"


@pytest.fixture(scope="module")
def cluster():
    with PostgresCluster() as running:
        yield running


@contextlib.contextmanager
def two_servers(cluster, extra_config=""):
    """Two daemons, "alpha" and "beta", on one fresh database, with the same keys."""
    database = cluster.new_database()
    alpha = beta = None
    try:
        alpha = fleet_daemon(cluster.conninfo(database), "alpha", extra_config=extra_config)
        beta = fleet_daemon(cluster.conninfo(database), "beta", key_from=alpha, extra_config=extra_config)
        yield alpha, beta
    finally:
        stop_all(alpha, beta)


@pytest.fixture
def fleet(cluster):
    """Two servers with the default limits."""
    with two_servers(cluster) as servers:
        yield servers


def fields(user, address=ADDRESS):
    return {Field.USER: user, Field.SERVICE: "sshd", Field.REMOTE_HOST: address}


def verify(daemon, user, code):
    return request(daemon.socket, MessageType.AUTH_VERIFY, {**fields(user), Field.CODE: code})


def query(daemon, user):
    return request(daemon.socket, MessageType.AUTH_QUERY, fields(user))


def ctl(daemon, *args):
    result = subprocess.run([str(FOTOAUTHCTL), "--socket", str(daemon.socket), *args],
                            capture_output=True, text=True, timeout=30,
                            env={**os.environ, "TZ": "UTC"})
    assert result.returncode == 0, (result.stdout, result.stderr, daemon.log())
    return result.stdout


def test_wrong_codes_through_both_servers_add_up_to_one_lock_and_either_unlocks(fleet, user):
    alpha, beta = fleet
    enrolment = enrol(alpha.socket, user.name)

    # Five wrong codes, alternating between the servers: the fifth locks, wherever it lands.
    servers = [alpha, beta, alpha, beta, alpha]
    answers = [verify(server, user.name, unused_code(enrolment.secret)).status
               for server in servers]
    assert answers == [Status.REJECTED] * CODE_ATTEMPTS, (alpha.log(), beta.log())
    locked = [query(server, user.name) for server in (alpha, beta)]
    assert [answer.status for answer in locked] == [Status.LOCKED] * 2
    assert locked[0].get(Field.LOCKED_UNTIL) == locked[1].get(Field.LOCKED_UNTIL)
    # One lock, made once: one server logged it, and both list the same one.
    logs = alpha.log() + beta.log()
    assert logs.count("Account locked after too many wrong verification codes") == 1, logs
    for server in (alpha, beta):
        rows = [line for line in ctl(server, "lockouts").splitlines()
                if line.strip().startswith(user.name)]
        assert len(rows) == 1, rows
    # The right code is refused while locked, on both.
    assert verify(beta, user.name, enrolment.next_code()).status == Status.LOCKED

    # Root unlocks through the other server: both let the user in again at once.
    assert "1 lock" in ctl(beta, "unlock", user.name)
    assert query(alpha, user.name).status == Status.CODE_REQUIRED
    assert query(beta, user.name).status == Status.CODE_REQUIRED
    assert verify(alpha, user.name, enrolment.next_code()).status == Status.OK, alpha.log()
    assert "No account is locked" in ctl(alpha, "lockouts")


def test_logins_from_one_address_count_on_both_servers_and_either_unblocks(fleet, user):
    alpha, beta = fleet
    servers = [alpha, beta, alpha, beta, beta]
    answers = [request(server.socket, MessageType.PREAUTH, fields(user.name)).status
               for server in servers]
    assert answers == [Status.OK] * SOURCE_ATTEMPTS, (alpha.log(), beta.log())
    for server in (alpha, beta):
        refused = request(server.socket, MessageType.PREAUTH, fields(user.name))
        assert refused.status == Status.RATE_LIMITED
        assert 0 < refused.get(Field.RETRY_AFTER) <= 60
        assert re.search(rf"^\s*{re.escape(ADDRESS)}\s", ctl(server, "lockouts"), re.M)

    ctl(alpha, "unblock", ADDRESS)
    for server in (beta, alpha):
        assert request(server.socket, MessageType.PREAUTH,
                       fields(user.name)).status == Status.OK


def test_attempts_that_left_their_window_are_removed_by_the_daemons_without_a_login(cluster, user):
    """Counting an attempt no longer removes old ones; each daemon does, once a second."""
    database = cluster.new_database()
    alpha = None
    try:
        alpha = fleet_daemon(cluster.conninfo(database), "alpha")
        assert request(alpha.socket, MessageType.PREAUTH, fields(user.name)).status == Status.OK
        # Three attempts from two hours ago, as a daemon that stopped then would have left them.
        cluster.psql("INSERT INTO attempts (window_name, key, label, at_ms) "
                     "SELECT 'login-source', '198.51.100.45', '198.51.100.45', "
                     "fotoauthd_now_ms() - 7200000 FROM generate_series(1, 3)", database)

        def left(where):
            return int(cluster.psql(f"SELECT count(*) FROM attempts WHERE {where}", database))

        deadline = time.monotonic() + 10
        while left("key = '198.51.100.45'") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert left("key = '198.51.100.45'") == 0, alpha.log()
        # The login's own attempts, inside their windows, are still counted.
        assert left(f"window_name = 'login-source' AND key = '{ADDRESS}'") == 1
        assert left("window_name = 'login-user'") == 1
    finally:
        stop_all(alpha)


def test_eight_logins_racing_with_one_recovery_code_on_two_servers_have_one_winner(cluster,
                                                                                   user):
    # With the default limits the fifth replay would lock the account: raised here, so that
    # every loser gets its own answer, a rejection.
    with two_servers(cluster, RAISED_LIMITS) as (alpha, beta):
        race_with_one_recovery_code(alpha, beta, user)


def race_with_one_recovery_code(alpha, beta, user):
    enrolment = enrol(alpha.socket, user.name)
    code = enrolment.recovery_codes[0]
    start = threading.Barrier(8)
    answers = []

    def login(server):
        start.wait()
        answers.append(verify(server, user.name, code).status)

    threads = [threading.Thread(target=login, args=((alpha, beta)[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(answers) == sorted([Status.OK] + [Status.REJECTED] * 7), (alpha.log(),
                                                                              beta.log())
    for server in (alpha, beta):
        status = request(server.socket, MessageType.STATUS, {Field.USER: user.name})
        assert status.get(Field.CODES_LEFT) == 9


# ---- A code on the connection that asked for it (docs/fleet.md) ----
#
# The PAM module sends a login's AuthQuery and AuthVerify on one connection; the daemon keeps
# what the query read for the code, and uses the code's step in one statement that also checks
# the lock and the code window against the rows as they are when the code comes.

READING = "LEFT JOIN enrolments e ON"  # the statement that reads an account
HELD_USE = "WITH hold AS"              # the single use that checks lock and window too


@contextlib.contextmanager
def statements_logged(cluster, extra_config=""):
    """Two servers on a database whose sessions log every statement they run."""
    database = cluster.new_database()
    cluster.psql(f"ALTER DATABASE {database} SET log_statement = 'all'")
    alpha = beta = None
    try:
        alpha = fleet_daemon(cluster.conninfo(database), "alpha", extra_config=extra_config)
        beta = fleet_daemon(cluster.conninfo(database), "beta", key_from=alpha,
                            extra_config=extra_config)
        yield alpha, beta
    finally:
        stop_all(alpha, beta)


def statements_during(cluster, action):
    """action()'s result and the statement lines the cluster logged while it ran."""
    before = len(cluster.log())
    result = action()
    return result, [line for line in cluster.log()[before:].splitlines()
                    if "statement:" in line or "execute " in line]


def query_on(connection, name):
    """The AuthQuery the module sends first on its connection; it asks for a code."""
    assert connection.request(MessageType.AUTH_QUERY, fields(name)).status == Status.CODE_REQUIRED


def verify_on(cluster, connection, request_fields):
    """AuthVerify on `connection`: the answer and the statements it cost."""
    return statements_during(cluster, lambda: connection.request(MessageType.AUTH_VERIFY,
                                                                 request_fields))


def test_a_right_code_after_the_query_on_its_connection_is_one_statement(cluster, user):
    with statements_logged(cluster) as (alpha, beta):
        enrolment = enrol(alpha.socket, user.name)
        code = enrolment.next_code()
        with Connection(alpha.socket) as connection:
            query_on(connection, user.name)
            answer, ran = verify_on(cluster, connection, {**fields(user.name), Field.CODE: code})
        assert answer.status == Status.OK, alpha.log()
        assert answer.get(Field.NONCE)
        assert sum(HELD_USE in line for line in ran) == 1, ran
        assert not any(READING in line for line in ran), ran

        # The same code again, on a new query's connection: refused, as a replay.
        with Connection(beta.socket) as connection:
            query_on(connection, user.name)
            again = connection.request(MessageType.AUTH_VERIFY,
                                       {**fields(user.name), Field.CODE: code})
        assert again.status == Status.REJECTED, beta.log()


def test_only_the_next_code_of_the_same_user_after_a_right_password_uses_the_kept_reading(
        cluster, user, make_user):
    second_user = make_user()
    with statements_logged(cluster, RAISED_LIMITS) as (alpha, beta):
        enrolment = enrol(alpha.socket, user.name)
        other = enrol(alpha.socket, second_user.name)

        def code_after_query(request_fields):
            """AuthVerify with request_fields after this user's AuthQuery, on one connection:
            the answer and the statements the code cost."""
            with Connection(alpha.socket) as connection:
                query_on(connection, user.name)
                return verify_on(cluster, connection, request_fields)

        def took_the_usual_path(ran):
            assert not any(HELD_USE in line for line in ran), ran
            assert any(READING in line for line in ran), ran

        # Another user's code on the connection of this user's query.
        answer, ran = code_after_query({**fields(second_user.name), Field.CODE: other.next_code()})
        assert answer.status == Status.OK, alpha.log()
        took_the_usual_path(ran)

        # A right code after a failed password is judged, not used: it still opens a login.
        code = enrolment.next_code()
        answer, ran = code_after_query({**fields(user.name), Field.CODE: code,
                                        Field.PASSWORD_FAILED: 1})
        assert answer.status == Status.REJECTED, alpha.log()
        took_the_usual_path(ran)

        # A recovery code.
        answer, ran = code_after_query({**fields(user.name),
                                        Field.CODE: enrolment.recovery_codes[0]})
        assert answer.status == Status.OK, alpha.log()
        took_the_usual_path(ran)

        # A wrong code takes the usual path after the same statement a right one costs; a second
        # code on that connection has nothing kept any more.
        with Connection(alpha.socket) as connection:
            query_on(connection, user.name)
            wrong, ran = verify_on(cluster, connection, {
                **fields(user.name), Field.CODE: unused_code(enrolment.secret)})
            assert wrong.status == Status.REJECTED
            assert sum(HELD_USE in line for line in ran) == 1, ran
            assert any(READING in line for line in ran), ran
            right, ran = verify_on(cluster, connection, {**fields(user.name), Field.CODE: code})
        assert right.status == Status.OK, alpha.log()
        took_the_usual_path(ran)


def test_a_lock_started_or_a_code_used_elsewhere_while_the_user_types_holds(cluster, user):
    with statements_logged(cluster) as (alpha, beta):
        enrolment = enrol(alpha.socket, user.name)
        code = enrolment.next_code()

        # Wrong codes through the other server lock the account while this one waits.
        with Connection(alpha.socket) as connection:
            query_on(connection, user.name)
            for _ in range(CODE_ATTEMPTS):
                assert verify(beta, user.name,
                              unused_code(enrolment.secret)).status == Status.REJECTED
            answer, ran = verify_on(cluster, connection, {**fields(user.name), Field.CODE: code})
        assert answer.status == Status.LOCKED, alpha.log()
        assert answer.get(Field.LOCKED_UNTIL)
        # Held in the one statement, then asked the usual way, which tells the lock.
        assert sum(HELD_USE in line for line in ran) == 1, ran
        assert any(READING in line for line in ran), ran
        # The refusal counted on the lock, as without the kept reading: one more than it had.
        locks = [lock for lock in json.loads(ctl(alpha, "--json", "lockouts"))["locks"]
                 if lock["user"] == user.name]
        assert [lock["failures"] for lock in locks] == [CODE_ATTEMPTS + 1], locks

        # Unlocked through the other server. The held code was not used: while this server
        # waits for it, the other server accepts it, and then this one refuses it as a replay.
        ctl(beta, "unlock", user.name)
        with Connection(alpha.socket) as connection:
            query_on(connection, user.name)
            assert verify(beta, user.name, code).status == Status.OK
            replay, ran = verify_on(cluster, connection, {**fields(user.name), Field.CODE: code})
        assert replay.status == Status.REJECTED, alpha.log()
        assert sum(HELD_USE in line for line in ran) == 1, ran
        assert any(READING in line for line in ran), ran


def test_eight_logins_racing_with_one_code_after_their_queries_have_one_winner(cluster, user):
    with statements_logged(cluster, RAISED_LIMITS) as (alpha, beta):
        enrolment = enrol(alpha.socket, user.name)
        # A user's first query on a server records that server's digest of the password hash,
        # a write, after which the query's reading is not kept: one query on each first.
        for server in (alpha, beta):
            assert query(server, user.name).status == Status.CODE_REQUIRED
        connections = [Connection((alpha, beta)[i % 2].socket) for i in range(8)]
        try:
            for connection in connections:
                query_on(connection, user.name)
            code = enrolment.next_code()
            start = threading.Barrier(8)
            answers = []

            def login(connection):
                start.wait()
                answers.append(connection.request(
                    MessageType.AUTH_VERIFY, {**fields(user.name), Field.CODE: code}).status)

            def race():
                threads = [threading.Thread(target=login, args=(c,)) for c in connections]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(timeout=30)

            _, ran = statements_during(cluster, race)
        finally:
            for connection in connections:
                connection.close()
        assert sorted(answers) == sorted([Status.OK] + [Status.REJECTED] * 7), (alpha.log(),
                                                                                  beta.log())
        # Each of the eight went through its kept reading.
        assert sum(line.count(HELD_USE) for line in ran) == 8, "\n".join(ran)


def test_a_password_change_on_one_server_ends_the_users_sessions_on_the_other(cluster, user):
    database = cluster.new_database()
    alpha = beta = session = None
    try:
        # alpha sees no process of this machine (support/fleet.py); beta sees the user's session.
        alpha = fleet_daemon(cluster.conninfo(database), "alpha", extra_config="session_manager = procfs\n",
                             wrapper=OTHER_MACHINE)
        beta = fleet_daemon(cluster.conninfo(database), "beta", key_from=alpha,
                            extra_config="session_manager = procfs\n")
        session = idle_session(user)

        # What the password stage of pam_fotostudio tells alpha after passwd changed it there.
        changed = request(alpha.socket, MessageType.PASSWORD_CHANGED,
                          {Field.USER: user.name, Field.SERVICE: "passwd"})
        assert changed.status == Status.OK, alpha.log()
        assert changed.get(Field.COUNT) == 0  # no session of the user on alpha itself

        assert ended_by_sigterm(session), beta.log()
        elsewhere = [line for line in beta.log().splitlines()
                     if "FOTOSTUDIO_EVENT=password-changed-elsewhere" in line]
        assert len(elsewhere) == 1, beta.log()
        assert f"USER={user.name}" in elsewhere[0] and "SERVER=alpha" in elsewhere[0]
        assert "SESSIONS_ENDED=1" in elsewhere[0]
        # The server that made the change does not take its own announcement again.
        assert "password-changed-elsewhere" not in alpha.log()
    finally:
        if session and session.poll() is None:
            session.kill()
            session.wait()
        stop_all(alpha, beta)
