"""Creates uniquely named local accounts for a test and removes them afterwards, even on failure."""
import secrets
import subprocess
import time


class TestUser:
    """A real account with a home directory and a password. Needs root."""

    def __init__(self, prefix="fst", password=None):
        self.name = f"{prefix}{secrets.token_hex(4)}"
        self.password = password or "pw-" + secrets.token_hex(8)
        self.created = False

    def create(self):
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", self.name], check=True)
        self.created = True
        subprocess.run(["chpasswd"], input=f"{self.name}:{self.password}\n", text=True, check=True)
        return self

    def remove(self):
        if not self.created:
            return
        # userdel refuses while the killed processes are still exiting: try again a few times.
        for _ in range(50):
            subprocess.run(["pkill", "-KILL", "-u", self.name], check=False)
            result = subprocess.run(["userdel", "--remove", self.name], check=False,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if result.returncode in (0, 6):  # 6: the user does not exist (any more)
                break
            time.sleep(0.1)
        self.created = False

    @property
    def uid(self):
        import pwd
        return pwd.getpwnam(self.name).pw_uid

    def __enter__(self):
        return self.create()

    def __exit__(self, *exc):
        self.remove()
