"""TOTP secrets at rest (docs/secrets.md): the database file never holds a secret in clear, a
database from before sealing is sealed when the daemon opens it, and without the right key an
enrolled user's login fails closed."""
import base64
import sqlite3

import pytest

from support.daemon import Daemon
from support.enrolment import enrol, totp
from support.protocol import Field, MessageType, Status, request


def secret_bytes(enrolment):
    text = enrolment.secret.upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def state_bytes(daemon):
    """Every file of the state directory, the write-ahead log included."""
    return b"".join(path.read_bytes() for path in sorted(daemon.database.parent.iterdir())
                    if path.is_file() and path.name != "secrets.key")


def verify(daemon, user, code):
    return request(daemon.socket, MessageType.AUTH_VERIFY,
                   {Field.USER: user, Field.SERVICE: "sshd", Field.CODE: code}).status


@pytest.fixture
def running():
    daemon = Daemon(extra_config="code_attempts = 100")
    daemon.start()
    yield daemon
    daemon.stop()
    daemon.cleanup()


def test_the_state_files_never_hold_a_secret_in_clear(running, user):
    enrolment = enrol(running.socket, user.name)
    secret = secret_bytes(enrolment)
    assert len(secret) >= 16
    assert secret not in state_bytes(running)
    running.stop()
    assert secret not in state_bytes(running)
    assert (running.database.parent / "secrets.key").stat().st_mode & 0o077 == 0


def test_a_secret_written_in_clear_before_sealing_is_sealed_at_start_and_still_works(running,
                                                                                   user):
    enrolment = enrol(running.socket, user.name)
    secret = secret_bytes(enrolment)
    running.stop()
    # What a database of schema 6 held: the secret itself, marked as not sealed.
    with sqlite3.connect(running.database) as db:
        db.execute("UPDATE enrolments SET secret = ?, sealed = 0", (secret,))
    assert secret in state_bytes(running)

    running.start()
    running.stop()
    assert secret not in state_bytes(running)
    with sqlite3.connect(running.database) as db:
        assert db.execute("SELECT sealed FROM enrolments").fetchall() == [(1,)]
    running.start()
    assert verify(running, user.name, enrolment.next_code()) == Status.OK


def test_without_the_right_key_an_enrolled_users_login_fails_closed(running, user):
    enrolment = enrol(running.socket, user.name)
    running.stop()
    (running.database.parent / "secrets.key").write_bytes(b"\x07" * 32)
    running.start()
    answer = request(running.socket, MessageType.AUTH_QUERY,
                     {Field.USER: user.name, Field.SERVICE: "sshd"})
    assert answer.status == Status.INTERNAL_ERROR
    assert verify(running, user.name, totp(enrolment.secret)) == Status.INTERNAL_ERROR
    assert "does not open with the secrets key" in running.log()
