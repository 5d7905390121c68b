"""The test harness's own promise: accounts a killed test run could not remove are removed by the
next run (tests/support/users.py), and those of a run still going are not."""
import pwd
import secrets
import subprocess

from support import users


def exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def test_accounts_of_a_dead_test_process_are_swept_and_living_ones_kept():
    # A process that has ended and been waited for: its pid names no process now.
    ended = subprocess.Popen(["true"])
    ended.wait()
    leftover = f"fsl{secrets.token_hex(4)}"
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh",
                    "--comment", users.COMMENT.format(pid=ended.pid), leftover], check=True)
    living = subprocess.Popen(["sleep", "60"])
    kept = f"fsl{secrets.token_hex(4)}"
    subprocess.run(["useradd", "--shell", "/bin/sh",
                    "--comment", users.COMMENT.format(pid=living.pid), kept], check=True)
    try:
        with users.TestUser() as mine:
            removed = users.sweep_leftover_users()
            assert leftover in removed
            assert not exists(leftover)
            assert exists(kept) and exists(mine.name)
            assert kept not in removed and mine.name not in removed
    finally:
        living.kill()
        living.wait()
        users.remove_account(leftover)
        users.remove_account(kept)
