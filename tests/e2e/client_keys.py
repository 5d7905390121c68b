"""SSH key pairs made for one test, and a user's ~/.ssh/authorized_keys that lists them.

The private keys stay in a scratch folder of root's (the ssh client runs as root and is given
each key with -i); the public halves go into the user's own authorized_keys, owned by the user
with the modes sshd's StrictModes wants. userdel --remove takes the file away with the home.
"""
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

KEYGEN_TIMEOUT = 20


@dataclass(frozen=True)
class ClientKey:
    path: Path          # the private key, for ssh -i
    public_line: str    # the line for authorized_keys
    fingerprint: str    # SHA256:..., as `ssh-keygen -l` prints it


class KeyRing:
    """Makes key pairs in a private scratch folder; close() removes them (safe to call twice)."""

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="fsauth-keys-"))
        os.chmod(self.folder, 0o700)

    def make(self, name):
        path = self.folder / name
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"fsauth-{name}",
                        "-f", str(path)], check=True, stdin=subprocess.DEVNULL,
                       timeout=KEYGEN_TIMEOUT)
        listed = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", f"{path}.pub"],
                                check=True, capture_output=True, text=True,
                                stdin=subprocess.DEVNULL, timeout=KEYGEN_TIMEOUT)
        # "256 SHA256:abc... comment (ED25519)"
        fingerprint = listed.stdout.split()[1]
        return ClientKey(path=path, public_line=Path(f"{path}.pub").read_text().strip(),
                         fingerprint=fingerprint)

    def close(self):
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def authorize(user_name, keys):
    """Writes ~user/.ssh/authorized_keys listing keys, as the user would have it."""
    account = pwd.getpwnam(user_name)
    ssh_dir = Path(account.pw_dir) / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    authorized = ssh_dir / "authorized_keys"
    authorized.write_text("".join(key.public_line + "\n" for key in keys))
    authorized.chmod(0o600)
    for path in (ssh_dir, authorized):
        os.chown(path, account.pw_uid, account.pw_gid)
