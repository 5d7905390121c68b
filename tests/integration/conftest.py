"""Fixtures of the integration tests; the helpers they use are in pam_harness.py."""
import secrets

import pytest

from pam_harness import FakeListener, Pam
from support.enrolment import enrol


@pytest.fixture
def pam(tmp_path):
    confdir = tmp_path / "pam.d"
    confdir.mkdir()
    return Pam(confdir)


@pytest.fixture
def enrolled(daemon, user):
    """The `user` account, enrolled through the daemon: its secret and recovery codes."""
    return enrol(daemon.socket, user.name)


@pytest.fixture
def unknown_name():
    return f"fstnosuch{secrets.token_hex(4)}"


@pytest.fixture
def fake_listener():
    started = []

    def start(*mode, owner=None):
        listener = FakeListener(*mode, owner=owner)
        started.append(listener)
        return listener

    yield start
    for listener in started:
        listener.stop()
