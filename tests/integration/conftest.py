"""Fixtures of the integration tests; the helpers they use are in pam_harness.py."""
import os
import secrets
import shutil
import tempfile

import pytest

from pam_harness import FakeListener, Pam
from support.daemon import Daemon
from support.enrolment import enrol

# The daemon's login and code limits, raised so far that no test reaches them unless it is about
# them: otherwise a test that logs in a few times from one address would meet the per-source
# limit (5 a minute) and test the limiter instead of what its name says.
RAISED_LIMITS = ("login_source_attempts = 1000\n"
                 "login_user_attempts = 1000\n"
                 "code_attempts = 1000\n")


@pytest.fixture
def daemon():
    """The real fotoauthd with the limits raised (RAISED_LIMITS); this replaces the shared
    fixture of tests/conftest.py for every test in this folder."""
    with Daemon(extra_config=RAISED_LIMITS) as running:
        yield running
    running.cleanup()


def _starter(base_config):
    """A fixture's body: yields start(extra_config) and stops every daemon it started."""
    started = []

    def start(extra_config=""):
        running = Daemon(extra_config=base_config + extra_config).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
        running.cleanup()


@pytest.fixture
def limited_daemon():
    """Starts fotoauthd with the default limits, changed only by the given config lines."""
    yield from _starter("")


@pytest.fixture
def configured_daemon():
    """Starts fotoauthd with the limits raised (RAISED_LIMITS) and the given config lines, for
    tests of other settings."""
    yield from _starter(RAISED_LIMITS)


@pytest.fixture
def pam(tmp_path):
    confdir = tmp_path / "pam.d"
    confdir.mkdir()
    return Pam(confdir)


@pytest.fixture
def public_pam():
    """Like `pam`, but in a folder every account can read, for pam-driver run as a test user."""
    confdir = tempfile.mkdtemp(prefix="fsauth-pamd-")
    os.chmod(confdir, 0o755)
    yield Pam(confdir)
    shutil.rmtree(confdir, ignore_errors=True)


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

    def start(*mode, owner=None, record=False, keep_open=False):
        listener = FakeListener(*mode, owner=owner, record=record, keep_open=keep_open)
        started.append(listener)
        return listener

    yield start
    for listener in started:
        listener.stop()
