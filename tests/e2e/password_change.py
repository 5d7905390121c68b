"""Changes a test user's password the ways an administrator does: `passwd NAME` through PAM,
and `chpasswd -c SHA512`, which hashes the password itself and writes /etc/shadow without any
PAM password stack (plain `chpasswd` on Debian runs /etc/pam.d/chpasswd).

The machine's /etc/pam.d/passwd stays as it is: `passwd` runs in a mount namespace of its own in
which that file shows the test's password stack (private_sshd.in_private_pam_files).
"""
import io
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pexpect

from private_sshd import in_private_pam_files

PASSWD = "/usr/bin/passwd"
CHPASSWD = "/usr/sbin/chpasswd"
# pam_unix's prompts and passwd's message on success (Debian 12).
CURRENT_PROMPT = r"Current password: ?"
NEW_PROMPT = r"New password: ?"
RETYPE_PROMPT = r"Retype new password: ?"
UPDATED = r"password updated successfully"
PASSWD_TIMEOUT = 30


@dataclass
class PasswdRun:
    exit_status: int | None
    transcript: str

    @property
    def succeeded(self):
        return self.exit_status == 0 and re.search(UPDATED, self.transcript) is not None

    def describe(self):
        return f"passwd exited {self.exit_status}\n--- passwd transcript ---\n{self.transcript}"


def passwd_as_root(user_name, new_password, password_stack):
    """Runs `passwd NAME` as root with password_stack as /etc/pam.d/passwd."""
    with tempfile.TemporaryDirectory(prefix="fsauth-passwd-") as scratch:
        service_file = Path(scratch) / "passwd"
        service_file.write_text(password_stack)
        program, *arguments = in_private_pam_files({"passwd": service_file},
                                                   [PASSWD, user_name])
        transcript = io.StringIO()
        child = pexpect.spawn(program, arguments, encoding="utf-8", codec_errors="replace",
                              timeout=PASSWD_TIMEOUT)
        child.logfile_read = transcript
        try:
            for prompt in (NEW_PROMPT, RETYPE_PROMPT):
                child.expect(prompt)
                child.sendline(new_password)
            child.expect(pexpect.EOF)
        except (pexpect.TIMEOUT, pexpect.EOF):
            pass
        finally:
            child.close(force=True)
        return PasswdRun(child.exitstatus, transcript.getvalue().replace("\r\n", "\n"))


def chpasswd(user_name, new_password):
    """Sets the password straight into /etc/shadow, outside PAM."""
    result = subprocess.run([CHPASSWD, "--crypt-method", "SHA512"],
                            input=f"{user_name}:{new_password}\n", text=True,
                            capture_output=True, timeout=PASSWD_TIMEOUT)
    if result.returncode != 0:
        raise AssertionError(f"chpasswd exited {result.returncode}: {result.stderr.strip()}")
