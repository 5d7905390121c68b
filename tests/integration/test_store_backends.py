"""The PostgreSQL store (docs/fleet.md): the store contract run against SQLite and a private
PostgreSQL cluster, the real daemon running on PostgreSQL, and two daemons sharing one database.

The cluster is started once for this file by support/postgres.py (127.0.0.1, a free port, its own
folder) and stopped and removed afterwards, whatever happened.
"""
import base64
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import RAISED_LIMITS
from support.enrolment import STEP, enrol, totp
from support.fleet import fleet_daemon
from support.paths import BUILD
from support.postgres import PostgresCluster
from support.protocol import Field, MessageType, Status, request

STORE_CONTRACT = BUILD / "tests" / "store" / "store-contract"
CONTRACT_TESTS = 32


@pytest.fixture(scope="module")
def cluster():
    with PostgresCluster() as running:
        yield running


def run_contract(spec):
    # cmocka's plain report, whatever the caller's environment asks for (scripts/test.sh has
    # the unit tests write XML).
    environment = {**os.environ, "FOTOSTUDIO_STORE": spec, "CMOCKA_MESSAGE_OUTPUT": "stdout"}
    result = subprocess.run([str(STORE_CONTRACT)], env=environment, capture_output=True,
                            text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_the_store_contract_holds_on_postgresql(cluster):
    output = run_contract("postgresql:" + cluster.conninfo(cluster.new_database()))
    # Every test ran there, the fleet-only ones included: none was skipped.
    assert f"[  PASSED  ] {CONTRACT_TESTS} test(s)." in output, output
    assert "SKIPPED" not in output, output


def test_the_store_contract_holds_on_sqlite():
    folder = Path(tempfile.mkdtemp(prefix="fsauth-contract-"))
    try:
        output = run_contract(f"sqlite:{folder}/state/store.sqlite")
        assert "[  PASSED  ]" in output and "[  FAILED  ]" not in output, output
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def postgres_daemon(cluster, database, server_name, key_from=None):
    """A started fotoauthd on `database` (support/fleet.py). Two steps ahead are accepted, so
    that two servers can each take a fresh code at once."""
    return fleet_daemon(cluster.conninfo(database), server_name, key_from,
                        extra_config=RAISED_LIMITS + "totp_window = 2\n")


def login(daemon, user, code):
    """A login as pam_fotostudio makes it: the code, then the session with the nonce."""
    described = {Field.USER: user, Field.SERVICE: "sshd", Field.REMOTE_HOST: "198.51.100.20"}
    verified = request(daemon.socket, MessageType.AUTH_VERIFY, {**described, Field.CODE: code})
    if verified.status == Status.OK:
        opened = request(daemon.socket, MessageType.SESSION_OPEN,
                         {**described, Field.NONCE: verified.get(Field.NONCE)})
        assert opened.status == Status.OK, opened
    return verified.status


def base32_bytes(secret):
    return base64.b32decode(secret + "=" * (-len(secret) % 8))


def test_the_daemon_runs_on_postgresql_and_the_dump_holds_no_secret(cluster, user):
    database = cluster.new_database()
    daemon = postgres_daemon(cluster, database, "alpha")
    try:
        enrolment = enrol(daemon.socket, user.name)
        code = enrolment.next_code()
        assert login(daemon, user.name, code) == Status.OK, daemon.log()
        assert login(daemon, user.name, code) == Status.REJECTED

        status = request(daemon.socket, MessageType.STATUS, {Field.USER: user.name})
        assert status.get(Field.ENROLLED) == 1
        assert status.get(Field.CODES_LEFT) == 10

        dump = cluster.dump(database)
        assert "CREATE TABLE public.enrolments" in dump
        assert user.name in dump  # the dump is the real one, with the account in it
        assert enrolment.secret not in dump
        assert base32_bytes(enrolment.secret).hex() not in dump.lower()
        for recovery in enrolment.recovery_codes:
            assert recovery not in dump and recovery.replace("-", "") not in dump
        assert "SQLite" not in daemon.log() and "Reconnected" not in daemon.log()
    finally:
        daemon.stop()
        daemon.cleanup()


def test_two_daemons_on_one_database_share_single_use(cluster, user):
    database = cluster.new_database()
    first = postgres_daemon(cluster, database, "alpha")
    second = None
    try:
        second = postgres_daemon(cluster, database, "beta", key_from=first)
        enrolment = enrol(first.socket, user.name)

        code = enrolment.next_code()
        assert login(first, user.name, code) == Status.OK, first.log()
        # The same code at another server of the fleet is a replay.
        assert login(second, user.name, code) == Status.REJECTED, second.log()

        # The other server opens the secret with the copied key: the next step's code passes
        # there, and is then spent for the first server too.
        later = totp(enrolment.secret, max(time.time(), enrolment.confirmed_at) + 2 * STEP)
        assert login(second, user.name, later) == Status.OK, second.log()
        assert login(first, user.name, later) == Status.REJECTED

        servers = cluster.psql("SELECT DISTINCT server FROM history ORDER BY server", database)
        assert servers.split() == ["alpha", "beta"]
    finally:
        for running in (first, second):
            if running:
                running.stop()
                running.cleanup()

