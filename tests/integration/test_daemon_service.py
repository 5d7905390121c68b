"""fotoauthd as a service: how it starts (its own socket, or systemd's), tells systemd it is
ready, refuses a bad configuration, and keeps serving after bad clients."""
import os
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from support.daemon import Daemon
from support.paths import FOTOAUTHD
from support.protocol import Field, MessageType, Status, encode, request


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def status_of(socket_path, user="root"):
    return request(socket_path, MessageType.STATUS, {Field.USER: user}).status


@pytest.fixture
def scratch():
    path = Path(tempfile.mkdtemp(prefix="fsauth-svc-"))
    os.chmod(path, 0o755)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


def write_config(scratch, text):
    config = scratch / "fotoauthd.conf"
    config.write_text(text)
    return config


def test_daemon_creates_a_socket_every_user_can_reach_and_a_private_database(daemon):
    assert status_of(daemon.socket) == Status.OK
    assert stat.S_IMODE(daemon.socket.stat().st_mode) == 0o666
    assert stat.S_IMODE(daemon.socket.parent.stat().st_mode) == 0o755
    assert stat.S_IMODE(daemon.database.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(daemon.database.stat().st_mode) & 0o077 == 0


def test_daemon_serves_the_socket_systemd_passes(scratch):
    socket_path = scratch / "activated.socket"
    config = write_config(scratch, f"socket = {scratch}/unused/socket\n"
                                   f"database = {scratch}/state/db.sqlite\n")
    log = open(scratch / "log", "wb")
    activator = subprocess.Popen(
        ["systemd-socket-activate", "--seqpacket", "-l", str(socket_path),
         str(FOTOAUTHD), "--config", str(config)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        assert wait_for(socket_path.exists), "systemd-socket-activate made no socket"
        assert status_of(socket_path) == Status.OK
        assert not (scratch / "unused" / "socket").exists()
        assert "Using the socket passed by systemd" in (scratch / "log").read_text()
    finally:
        activator.terminate()
        activator.wait(timeout=10)


def test_daemon_tells_systemd_it_is_ready(scratch):
    notify_path = scratch / "notify"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(notify_path))
    listener.settimeout(10)
    config = write_config(scratch, f"socket = {scratch}/run/socket\n"
                                   f"database = {scratch}/state/db.sqlite\n")
    process = subprocess.Popen([str(FOTOAUTHD), "--config", str(config)],
                               env={**os.environ, "NOTIFY_SOCKET": str(notify_path)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        message = listener.recv(4096).decode()
        assert "READY=1" in message.split("\n")
        assert status_of(scratch / "run" / "socket") == Status.OK
    finally:
        process.terminate()
        process.wait(timeout=10)
        listener.close()


def test_bad_configuration_is_reported_with_file_and_line_and_nothing_starts(scratch):
    config = write_config(scratch, f"socket = {scratch}/run/socket\n"
                                   "totp_window = 1\n"
                                   "totp_windw = 2\n"
                                   "enrolment_timeout = soon\n")
    result = subprocess.run([str(FOTOAUTHD), "--config", str(config)],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 1
    assert f"{config}:3: unknown key `totp_windw`" in result.stderr
    assert f"{config}:4: enrolment_timeout: expected a whole number" in result.stderr
    assert "refusing to start" in result.stderr
    assert not (scratch / "run").exists()


def test_check_config_accepts_the_shipped_example():
    example = Path(__file__).resolve().parents[2] / "etc" / "fotoauthd.conf"
    result = subprocess.run([str(FOTOAUTHD), "--config", str(example), "--check-config"],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr
    assert "configuration is valid" in result.stdout


def test_a_named_configuration_file_that_is_missing_stops_the_daemon(scratch):
    result = subprocess.run([str(FOTOAUTHD), "--config", str(scratch / "nope.conf")],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 1
    assert "nope.conf: No such file or directory" in result.stderr


def test_a_second_daemon_on_the_same_socket_refuses_to_start(daemon):
    result = subprocess.run([str(FOTOAUTHD), "--config", str(daemon.config)],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 1
    assert "another fotoauthd already listens" in result.stderr
    assert status_of(daemon.socket) == Status.OK


def test_a_regular_file_at_the_socket_path_is_left_alone(scratch):
    (scratch / "run").mkdir()
    squatter = scratch / "run" / "socket"
    squatter.write_text("precious")
    config = write_config(scratch, f"socket = {squatter}\n"
                                   f"database = {scratch}/state/db.sqlite\n")
    result = subprocess.run([str(FOTOAUTHD), "--config", str(config)],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 1
    assert "exists and is not a socket" in result.stderr
    assert squatter.read_text() == "precious"


def test_garbage_gets_a_bad_request_answer_and_the_daemon_serves_the_next_client(daemon):
    for garbage in (b"", b"xx", b"GET / HTTP/1.0\r\n\r\n", b"FS\x01\x06\x01\x00\x09ab",
                    b"FS\x01\x06" + b"\x01\x0f\xfc" + b"a" * 4092, os.urandom(4097)):
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
            sock.settimeout(5)
            sock.connect(str(daemon.socket))
            sock.send(garbage)
            answer = sock.recv(4097)
            if garbage:
                assert answer[:2] == b"FS" and answer[3] == MessageType.REPLY
                assert answer[7] == Status.BAD_REQUEST  # first field: the result code
                assert sock.recv(4097) == b"", "the connection should be closed"
        assert status_of(daemon.socket) == Status.OK
    assert daemon.process.poll() is None


def test_a_stream_socket_client_cannot_connect(daemon):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        with pytest.raises(OSError):
            sock.connect(str(daemon.socket))
    assert status_of(daemon.socket) == Status.OK


def run_as(user, socket_path, message_type, fields):
    """Sends one request from a child process running as `user`; returns the status name."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from support.protocol import request, MessageType, Field\n"
        "import json\n"
        "fields = {Field[k]: v for k, v in json.loads(sys.argv[4]).items()}\n"
        "print(request(sys.argv[2], MessageType[sys.argv[3]], fields).status.name)\n")
    import json
    tests_dir = str(Path(__file__).resolve().parents[1])
    result = subprocess.run(
        ["runuser", "-u", user.name, "--", "/usr/bin/python3", "-c", script, tests_dir,
         str(socket_path), message_type, json.dumps(fields)],
        capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_user_may_ask_for_itself_but_not_for_another_user(daemon, make_user):
    alice, bob = make_user(), make_user()
    assert run_as(alice, daemon.socket, "STATUS", {"USER": alice.name}) == "OK"
    assert run_as(alice, daemon.socket, "STATUS", {"USER": bob.name}) == "PERMISSION_DENIED"
    assert run_as(alice, daemon.socket, "ENROL_BEGIN",
                  {"USER": bob.name, "MODE": "always"}) == "PERMISSION_DENIED"
    assert run_as(alice, daemon.socket, "AUTH_VERIFY",
                  {"USER": bob.name, "SERVICE": "x", "CODE": "123456"}) == "PERMISSION_DENIED"
    assert run_as(alice, daemon.socket, "STATUS", {"USER": "root"}) == "PERMISSION_DENIED"
    assert "Refused a request for another user's account" in daemon.log()


def test_a_clean_stop_removes_the_socket_so_nothing_mistakes_it_for_a_running_daemon(scratch):
    (scratch / "d").mkdir()
    daemon = Daemon(scratch / "d")
    daemon.start()
    assert daemon.socket.exists()
    daemon.stop()
    assert not daemon.socket.exists()


def test_a_user_holding_many_connections_leaves_room_for_root(daemon, make_user):
    hog = make_user()
    script = (
        "import socket, sys, time\n"
        "held = []\n"
        "for _ in range(300):\n"
        "    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)\n"
        "    s.connect(sys.argv[1])\n"
        "    held.append(s)\n"
        "print('holding', flush=True)\n"
        "time.sleep(30)\n")
    holder = subprocess.Popen(["runuser", "-u", hog.name, "--", "/usr/bin/python3", "-c", script,
                               str(daemon.socket)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        time.sleep(0.5)
        fds = len(os.listdir(f"/proc/{daemon.process.pid}/fd"))
        assert fds < 16 + 20, f"the daemon kept {fds} descriptors for one user"
        for _ in range(20):
            assert status_of(daemon.socket) == Status.OK
        assert "Too many open connections for this peer" in daemon.log()
    finally:
        holder.kill()
        holder.wait()


def test_an_existing_database_directory_open_to_others_stops_the_daemon_unchanged(scratch):
    shared = scratch / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    config = write_config(scratch, f"socket = {scratch}/run/socket\n"
                                   f"database = {shared}/db.sqlite\n")
    result = subprocess.run([str(FOTOAUTHD), "--config", str(config)],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 1
    assert "chmod 0700" in result.stderr
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert not (shared / "db.sqlite").exists()


def test_a_socket_directory_others_can_write_to_stops_the_daemon(scratch):
    run = scratch / "run"
    run.mkdir()
    os.chmod(run, 0o777)
    config = write_config(scratch, f"socket = {run}/socket\n"
                                   f"database = {scratch}/state/db.sqlite\n")
    result = subprocess.run([str(FOTOAUTHD), "--config", str(config)],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 1
    assert "nobody else can write to" in result.stderr
