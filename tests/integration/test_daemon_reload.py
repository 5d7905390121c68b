"""Reloading fotoauthd's configuration with SIGHUP (what `systemctl reload fotoauthd` sends): a
good file takes effect without a restart and without dropping a connection; a bad one changes
nothing and says why; settings only a restart can change keep their running value."""
import signal
import socket
import time

import pytest

from support.daemon import Daemon
from support.protocol import (MAX_MESSAGE_SIZE, Field, MessageType, Status, decode, encode,
                              request)


def wait_for_log(daemon, text, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in daemon.log():
            return True
        time.sleep(0.05)
    return False


def status(daemon, user):
    return request(daemon.socket, MessageType.STATUS, {Field.USER: user})


def enrolment_uri(daemon, user):
    answer = request(daemon.socket, MessageType.ENROL_BEGIN, {Field.USER: user,
                                                               Field.MODE: "always"})
    assert answer.status == Status.OK, answer
    return answer.get(Field.URI)


def write(daemon, extra):
    daemon.config.write_text(f"socket = {daemon.socket}\ndatabase = {daemon.database}\n{extra}\n")


def hang_up(daemon, expected_log_line):
    daemon.process.send_signal(signal.SIGHUP)
    assert wait_for_log(daemon, expected_log_line), daemon.log()


@pytest.fixture
def running():
    daemon = Daemon(extra_config="issuer = Before")
    daemon.start()
    yield daemon
    daemon.stop()
    daemon.cleanup()


def test_a_good_file_takes_effect_and_an_open_connection_survives(running, user):
    assert "issuer=Before" in enrolment_uri(running, user.name)
    assert status(running, user.name).get(Field.MFA_REQUIRED) == 0

    held = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    held.settimeout(5)
    held.connect(str(running.socket))
    try:
        write(running, "issuer = After\nrequire_mfa_groups = *\n")
        hang_up(running, "Configuration reloaded")

        # The connection opened before the reload is still served.
        held.send(encode(MessageType.STATUS, {Field.USER: user.name}))
        kind, fields = decode(held.recv(MAX_MESSAGE_SIZE + 1))
        assert kind == MessageType.REPLY and fields[Field.RESULT_CODE] == Status.OK
        assert fields[Field.MFA_REQUIRED] == 1
    finally:
        held.close()
    assert "issuer=After" in enrolment_uri(running, user.name)
    assert running.process.poll() is None


def test_a_bad_file_changes_nothing_and_the_log_says_which_line(running, user):
    write(running, "issuer = After\nrequire_mfa_groups = *\ncode_attempts = many\n")
    hang_up(running, "Configuration not reloaded")
    log = running.log()
    assert "fotoauthd.conf:5: code_attempts" in log, log
    assert "issuer=Before" in enrolment_uri(running, user.name)
    assert status(running, user.name).get(Field.MFA_REQUIRED) == 0
    assert running.process.poll() is None


def test_the_socket_and_database_keep_their_running_values_until_a_restart(running, user, tmp_path):
    running.config.write_text(f"socket = {tmp_path}/other.socket\n"
                              f"database = {tmp_path}/other.sqlite\nissuer = After\n")
    hang_up(running, "Configuration reloaded")
    assert "takes effect at the next start only" in running.log()
    assert not (tmp_path / "other.sqlite").exists()
    # Still served where it was, with the new issuer.
    assert "issuer=After" in enrolment_uri(running, user.name)


def test_new_rate_limits_apply_to_the_next_attempts(running, user):
    write(running, "issuer = Before\nlogin_user_attempts = 2\nlogin_user_window = 600\n")
    hang_up(running, "Configuration reloaded")
    answers = [request(running.socket, MessageType.PREAUTH,
                       {Field.USER: user.name, Field.SERVICE: "sshd"}).status for _ in range(3)]
    assert answers == [Status.OK, Status.OK, Status.RATE_LIMITED]
