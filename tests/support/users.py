"""Creates uniquely named local accounts for a test and removes them afterwards, even on failure.

A test process killed before its clean-up ran (SIGKILL, a CI time-out) cannot remove its
accounts. Each account's comment field names the pytest process that made it, and the next test
session removes the accounts whose process is gone (sweep_leftover_users, called once per
session by tests/conftest.py)."""
import os
import pwd
import re
import secrets
import subprocess
import sys
import time

COMMENT = "fotostudio-auth test account, made by process {pid}"
LEFTOVER = re.compile(r"^fotostudio-auth test account, made by process (\d+)$")


def process_exists(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_account(name):
    """Ends the account's processes and removes it with its home; True when it is gone (also
    when it was gone already)."""
    # userdel refuses while the killed processes are still exiting: try again a few times.
    for _ in range(50):
        subprocess.run(["pkill", "-KILL", "-u", name], check=False)
        result = subprocess.run(["userdel", "--remove", name], check=False,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if result.returncode in (0, 6):  # 6: the user does not exist (any more)
            return True
        time.sleep(0.1)
    return False


# The names TestUser and the tests give their accounts: "fs" and a few letters, then 8
# hexadecimal digits.
TEST_NAME = re.compile(r"^fs[a-z]{1,6}[0-9a-f]{8}$")


def sweep_leftover_users(passwd_file="/etc/passwd"):
    """Removes the test accounts of test processes that no longer run; returns their names.
    Only local accounts (this machine's passwd file, never a directory service's) with a test
    name and the test comment are looked at. Accounts of a test session running beside this one
    are left alone: their process lives."""
    removed = []
    with open(passwd_file, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            fields = line.rstrip("\n").split(":")
            if len(fields) < 7 or not TEST_NAME.match(fields[0]):
                continue
            match = LEFTOVER.match(fields[4])
            if not match or len(match.group(1)) > 9:
                continue
            pid = int(match.group(1))
            if pid != os.getpid() and not process_exists(pid) and remove_account(fields[0]):
                removed.append(fields[0])
    if removed:
        print(f"removed test accounts left by killed test runs: {' '.join(removed)}",
              file=sys.stderr)
    return removed


class TestUser:
    """A real account with a home directory and a password. Needs root."""

    def __init__(self, prefix="fst", password=None):
        self.name = f"{prefix}{secrets.token_hex(4)}"
        self.password = password or "pw-" + secrets.token_hex(8)
        self.created = False

    def create(self):
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh",
                        "--comment", COMMENT.format(pid=os.getpid()), self.name], check=True)
        self.created = True
        subprocess.run(["chpasswd"], input=f"{self.name}:{self.password}\n", text=True, check=True)
        return self

    def remove(self):
        if not self.created:
            return
        remove_account(self.name)
        self.created = False

    @property
    def uid(self):
        return pwd.getpwnam(self.name).pw_uid

    def __enter__(self):
        return self.create()

    def __exit__(self, *exc):
        self.remove()
