"""Turns MFA on for a test user the way the user does it, and computes codes like their phone.

Enrolment runs `fotoauthctl mfa enable` as that user (runuser) under a pseudo-terminal, reads the
secret it prints, answers its code prompt with a code from oathtool (an implementation of TOTP
independent of ours), and keeps the ten recovery codes it shows once.
"""
import io
import re
import subprocess
from dataclasses import dataclass

import pexpect

from support.paths import FOTOAUTHCTL

SECRET_LINE = r"Secret \(base32\): *([A-Za-z2-7= ]+?)\r?\n"
CODE_PROMPT = r"Code from the app: ?"
RECOVERY_HEADING = r"Recovery codes \(shown only once\):"
RECOVERY_CODE = re.compile(r"^[ \t]+([0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4})[ \t]*$", re.M)
RECOVERY_CODE_COUNT = 10
CLI_TIMEOUT = 20


@dataclass
class Enrolment:
    user: str
    secret: str
    recovery_codes: list


class EnrolmentFailed(AssertionError):
    pass


def totp(secret, offset_steps=0):
    """The code an authenticator app shows now, or offset_steps 30 s steps later."""
    command = ["oathtool", "--totp", "-b", secret]
    if offset_steps:
        command += ["-N", f"now + {30 * offset_steps} seconds"]
    result = subprocess.run(command, check=True, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=10)
    return result.stdout.strip()


def wrong_code(secret):
    """A 6-digit code that is none of the codes accepted now, however the clock drifts."""
    near = {totp(secret, offset) for offset in range(-3, 4)}
    candidate = (int(totp(secret)) + 500_000) % 1_000_000
    while f"{candidate:06d}" in near:
        candidate = (candidate + 1) % 1_000_000
    return f"{candidate:06d}"


def explain(what, transcript):
    """One line that says what went wrong (it is all a test summary shows), then the rest."""
    lines = [line for line in transcript.getvalue().splitlines() if line.strip()]
    last = lines[-1].strip() if lines else "(no output)"
    return f"{what}: {last}\n--- fotoauthctl transcript ---\n{transcript.getvalue()}"


def enable_mfa(user, socket_path, mode="always"):
    """Runs `fotoauthctl mfa enable` as user; returns the secret and the recovery codes."""
    transcript = io.StringIO()
    command = ["-u", user, "--", str(FOTOAUTHCTL), "--socket", str(socket_path),
               "mfa", "enable", "--mode", mode]
    child = pexpect.spawn("runuser", command, encoding="utf-8", codec_errors="replace",
                          timeout=CLI_TIMEOUT, dimensions=(80, 200))
    child.logfile_read = transcript
    try:
        child.expect(SECRET_LINE)
        secret = child.match.group(1).replace(" ", "").rstrip("=")
        child.expect(CODE_PROMPT)
        child.sendline(totp(secret))
        child.expect(RECOVERY_HEADING)
        child.expect(pexpect.EOF)
        recovery_codes = RECOVERY_CODE.findall(child.before.replace("\r\n", "\n"))
    except (pexpect.TIMEOUT, pexpect.EOF) as error:
        how = "timed out" if isinstance(error, pexpect.TIMEOUT) else "ended early"
        raise EnrolmentFailed(explain(f"fotoauthctl mfa enable {how}", transcript)) from None
    finally:
        child.close(force=True)

    if child.exitstatus != 0 or len(recovery_codes) != RECOVERY_CODE_COUNT:
        raise EnrolmentFailed(explain(f"fotoauthctl mfa enable exited {child.exitstatus} after "
                                      f"{len(recovery_codes)} recovery codes", transcript))
    return Enrolment(user=user, secret=secret, recovery_codes=recovery_codes)
