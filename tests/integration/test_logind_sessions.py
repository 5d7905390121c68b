"""After a password change, fotoauthd ends the user's other sessions through systemd-logind.

The real daemon talks over a real D-Bus daemon to a stand-in logind (logind_standin.py) that
owns org.freedesktop.login1 on a private bus, knows three sessions and records every call:
    c1  the test user's, the one the password was changed in (GetSessionByPID answers it)
    c2  the test user's, another login
    c3  another account's
fotoauthd finds the bus through DBUS_SYSTEM_BUS_ADDRESS; the machine's own system bus is never
used. The sessions are only names on the bus: nothing is really logged in or out.
"""
import json
import subprocess
from pathlib import Path

import pytest

from logind_bus import PrivateBus, StandInLogind
from support.daemon import Daemon
from support.protocol import Field, MessageType, Status, request

TESTS_DIR = Path(__file__).resolve().parents[1]

# Sends PasswordChanged from a process of its own and prints that process's pid with the answer.
CLIENT = """\
import json, os, sys
sys.path.insert(0, sys.argv[1])
from support.protocol import request, MessageType, Field
answer = request(sys.argv[2], MessageType.PASSWORD_CHANGED,
                 {Field.USER: sys.argv[3], Field.CALLER_UID: os.getuid()})
print(json.dumps({"pid": os.getpid(), "status": answer.status.name,
                  "count": answer.get(Field.COUNT), "devices": answer.get(Field.DEVICE_COUNT)}))
"""


@pytest.fixture
def bus(monkeypatch):
    """A private bus, made the system bus of every daemon the test starts."""
    with PrivateBus() as private:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", private.address)
        yield private


@pytest.fixture
def start_daemon(bus):
    """Starts fotoauthd with the given session_manager; stops and removes every one started."""
    started = []

    def start(session_manager):
        running = Daemon(extra_config=f"session_manager = {session_manager}\n")
        started.append(running)
        return running.start()

    yield start
    for running in started:
        running.stop()
        running.cleanup()


@pytest.fixture
def sessions(user, make_user):
    other = make_user()
    return [{"id": "c1", "uid": user.uid, "user": user.name},
            {"id": "c2", "uid": user.uid, "user": user.name},
            {"id": "c3", "uid": other.uid, "user": other.name}]


@pytest.fixture
def logind(bus, sessions):
    with StandInLogind(bus, sessions, session_of_any_pid="c1") as standin:
        yield standin


def password_changed_by_the_user(user, socket_path):
    """PasswordChanged sent as `passwd` run by the user sends it: setuid root, so the peer's
    effective uid is root and its real uid the user's (the daemon reads the latter from /proc)."""
    script = ("import os, sys\n"
              f"os.setresuid({user.uid}, 0, 0)\n"
              "sys.argv = sys.argv[1:]\n"
              "exec(sys.argv[0])\n")
    result = subprocess.run(
        ["/usr/bin/python3", "-c", script, CLIENT, str(TESTS_DIR), str(socket_path), user.name],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def password_changed_by_root(user, socket_path):
    """PasswordChanged sent by root for `user`, as after `passwd USER` run by root."""
    return request(socket_path, MessageType.PASSWORD_CHANGED,
                   {Field.USER: user.name, Field.CALLER_UID: 0}, timeout=30)


def test_a_user_changing_their_own_password_ends_their_other_session_and_keeps_their_own(
        start_daemon, logind, user):
    daemon = start_daemon("logind")

    answer = password_changed_by_the_user(user, daemon.socket)

    assert answer["status"] == "OK"
    assert answer["count"] == 1
    assert answer["devices"] == 0
    assert logind.terminated() == ["c2"]
    # The session kept is the one of the process that reported the change, not any other.
    assert [call["pid"] for call in logind.calls_of("GetSessionByPID")] == [answer["pid"]]


def test_root_changing_a_users_password_ends_every_session_of_that_user_and_no_other(
        start_daemon, logind, user):
    daemon = start_daemon("logind")

    answer = password_changed_by_root(user, daemon.socket)

    assert answer.status == Status.OK
    assert answer.get(Field.COUNT) == 2
    assert answer.get(Field.DEVICE_COUNT) == 0
    assert logind.terminated() == ["c1", "c2"]


def test_a_session_logind_refuses_to_end_is_logged_and_the_password_change_still_succeeds(
        start_daemon, bus, sessions, user):
    sessions[1]["refuse"] = True
    with StandInLogind(bus, sessions, session_of_any_pid="c1") as logind:
        daemon = start_daemon("logind")

        answer = password_changed_by_root(user, daemon.socket)

    assert answer.status == Status.OK
    assert answer.get(Field.COUNT) == 1
    assert logind.terminated() == ["c1", "c2"]
    refusals = [line for line in daemon.log().splitlines()
                if "logind did not end a session" in line]
    assert len(refusals) == 1 and "SESSION=c2" in refusals[0]


def test_with_logind_asked_for_but_not_running_the_password_change_still_succeeds(
        start_daemon, user):
    daemon = start_daemon("logind")

    answer = password_changed_by_root(user, daemon.socket)

    assert answer.status == Status.OK
    assert answer.get(Field.COUNT) == 0
    assert "logind did not list the sessions" in daemon.log()


def test_auto_ends_sessions_through_logind_when_it_owns_its_name_on_the_system_bus(
        start_daemon, logind, user):
    daemon = start_daemon("auto")
    assert "Sessions are ended through logind" in daemon.log()

    answer = password_changed_by_root(user, daemon.socket)

    assert answer.status == Status.OK
    assert logind.terminated() == ["c1", "c2"]


def test_auto_ends_sessions_directly_when_nobody_owns_the_logind_name(start_daemon):
    daemon = start_daemon("auto")

    assert "Sessions are ended through procfs" in daemon.log()
    assert "Sessions are ended through logind" not in daemon.log()

