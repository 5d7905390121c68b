"""Fixtures of the end-to-end tests: the real daemon behind a private real sshd."""
import pytest

from support.daemon import Daemon
from support.paths import FOTOAUTHCTL, FOTOAUTHD, PAM_MODULE

from private_sshd import PrivateSshd, fotostudio_stack
from ssh_client import ssh_login

LOG_TAIL_LINES = 80


def tail(text, lines=LOG_TAIL_LINES):
    return "\n".join(text.splitlines()[-lines:])


class LoginRig:
    """A running fotoauthd and an sshd whose PAM stack asks it; logs in and explains failures."""

    def __init__(self, daemon, sshd):
        self.daemon = daemon
        self.sshd = sshd

    def login(self, user, password=None, code=None):
        return ssh_login(self.sshd.port, user.name, password or user.password, code)

    def explain(self, login=None):
        parts = [login.describe()] if login else []
        parts.append(f"--- sshd.log (last {LOG_TAIL_LINES} lines) ---\n{tail(self.sshd.log())}")
        parts.append(f"--- fotoauthd log (last {LOG_TAIL_LINES} lines) ---\n"
                     f"{tail(self.daemon.log())}")
        return "\n".join(parts)


def require_build():
    missing = [str(path) for path in (FOTOAUTHD, PAM_MODULE, FOTOAUTHCTL) if not path.exists()]
    if missing:
        pytest.fail("not built (run scripts/test.sh, or ninja -C build): " + ", ".join(missing))


def start_rig():
    require_build()
    daemon = Daemon()
    sshd = None
    try:
        daemon.start()
        sshd = PrivateSshd(fotostudio_stack(PAM_MODULE, daemon.socket)).start()
        return LoginRig(daemon, sshd)
    except BaseException:
        stop_rig(daemon, sshd)
        raise


def stop_rig(daemon, sshd):
    try:
        if sshd is not None:
            sshd.close()
    finally:
        daemon.stop()
        daemon.cleanup()


@pytest.fixture(scope="module")
def rig():
    """Shared by the tests of a module: each test uses its own user, so they do not interfere."""
    running = start_rig()
    yield running
    stop_rig(running.daemon, running.sshd)


@pytest.fixture
def own_rig():
    """For a test that stops the daemon: nobody else may depend on it."""
    running = start_rig()
    yield running
    stop_rig(running.daemon, running.sshd)
