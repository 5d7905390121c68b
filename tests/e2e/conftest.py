"""Fixtures of the end-to-end tests: the real daemon behind a private real sshd (login_rig.py)."""
import os

import pytest

from client_hosts import ClientNetwork
from client_keys import KeyRing
from login_rig import start_rig, stop_rig
from private_sshd import recommended_sshd_stack

# Enough client addresses for the tests of one module to give each attempt its own source.
CLIENT_ADDRESSES = 8


@pytest.fixture
def keyring():
    """SSH key pairs for one test, removed afterwards."""
    keys = KeyRing()
    yield keys
    keys.close()


@pytest.fixture
def sessions():
    """Collects the OpenSessions of a test and closes them afterwards, even on failure."""
    opened = []
    yield opened
    for session in opened:
        session.close()


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
