"""Fixtures shared by the integration and end-to-end tests."""
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.daemon import Daemon  # noqa: E402
from support.users import TestUser, sweep_leftover_users  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def leftover_test_accounts_removed():
    """Accounts that a killed earlier test run could not remove are removed first."""
    if os.geteuid() == 0:
        sweep_leftover_users()
    yield


@pytest.fixture
def daemon():
    # Not under pytest's tmp_path: that folder is 0700, and the tested users must reach the socket.
    with Daemon() as running:
        yield running
    running.cleanup()


@pytest.fixture
def user():
    with TestUser() as account:
        yield account


@pytest.fixture
def make_user():
    made = []

    def factory(**kwargs):
        account = TestUser(**kwargs).create()
        made.append(account)
        return account

    yield factory
    for account in made:
        account.remove()


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="needs root: creates users and PAM service files")
        for item in items:
            item.add_marker(skip)
