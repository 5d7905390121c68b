"""Fixtures of the end-to-end tests: the real daemon behind a private real sshd."""
import os
import subprocess

import pytest

from support.daemon import Daemon
from support.paths import FOTOAUTHCTL, FOTOAUTHD, PAM_MODULE

from client_hosts import ClientNetwork
from private_sshd import PrivateSshd, fotostudio_stack, recommended_sshd_stack
from ssh_client import ssh_login

LOG_TAIL_LINES = 80
LOOPBACK = "127.0.0.1"
CTL_TIMEOUT = 20
# Tests that are not about the brute-force limits must not run into them: they log in many
# times from 127.0.0.1 and answer wrong codes on purpose.
RAISED_LIMITS = ("login_source_attempts = 1000\n"
                 "login_user_attempts = 1000\n"
                 "code_attempts = 1000\n")
# Enough client addresses for the tests of one module to give each attempt its own source.
CLIENT_ADDRESSES = 8


def tail(text, lines=LOG_TAIL_LINES):
    return "\n".join(text.splitlines()[-lines:])


class LoginRig:
    """A running fotoauthd and an sshd whose PAM stack asks it; logs in and explains failures."""

    def __init__(self, daemon, sshd, server_address=LOOPBACK):
        self.daemon = daemon
        self.sshd = sshd
        self.server_address = server_address

    def login(self, user, password=None, code=None, client=None):
        """From 127.0.0.1, or from a ClientHost of the client network to its server address."""
        host = self.server_address if client else LOOPBACK
        return ssh_login(host, self.sshd.port, user.name, password or user.password, code,
                         client=client)

    def fotoauthctl(self, *arguments):
        """Runs the real CLI as root (as an administrator would) against this daemon."""
        return subprocess.run([str(FOTOAUTHCTL), "--socket", str(self.daemon.socket),
                               *arguments], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=CTL_TIMEOUT)

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


def start_rig(extra_config=RAISED_LIMITS, server_address=None, pam_stack=fotostudio_stack):
    """sshd listens on 127.0.0.1, and on server_address when given (the client network's)."""
    require_build()
    daemon = Daemon(extra_config=extra_config)
    sshd = None
    listen = (LOOPBACK, server_address) if server_address else (LOOPBACK,)
    try:
        daemon.start()
        sshd = PrivateSshd(pam_stack(PAM_MODULE, daemon.socket),
                           listen_addresses=listen).start()
        return LoginRig(daemon, sshd, server_address or LOOPBACK)
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


@pytest.fixture(scope="module")
def recommended_file_rig():
    """sshd with the shipped etc/pam.d/sshd-fotostudio, whole, the module by its build path."""
    running = start_rig(pam_stack=recommended_sshd_stack)
    yield running
    stop_rig(running.daemon, running.sshd)


@pytest.fixture(scope="module")
def client_network():
    """Client hosts with addresses of their own (client_hosts.py), removed even on failure."""
    network = ClientNetwork(CLIENT_ADDRESSES, pid=os.getpid())
    network.start()
    yield network
    network.close()


@pytest.fixture
def rig_with_default_limits(client_network):
    """A daemon with the default limits, reached from the client network; one per test, so that
    no test inherits the counts of another."""
    running = start_rig(extra_config="", server_address=client_network.server_address)
    yield running
    stop_rig(running.daemon, running.sshd)
