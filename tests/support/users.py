"""Creates uniquely named local accounts for a test and removes them afterwards, even on failure."""
import secrets
import subprocess


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
        if self.created:
            subprocess.run(["pkill", "-KILL", "-u", self.name], check=False)
            subprocess.run(["userdel", "--remove", self.name], check=False,
                           stderr=subprocess.DEVNULL)
            self.created = False

    @property
    def uid(self):
        import pwd
        return pwd.getpwnam(self.name).pw_uid

    def __enter__(self):
        return self.create()

    def __exit__(self, *exc):
        self.remove()
