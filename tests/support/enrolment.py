"""Enrols a test user by talking to fotoauthd directly, and computes TOTP codes with oathtool.

The codes come from oathtool (OATH Toolkit), not from the daemon's TOTP code, so a test passing
here means two independent implementations agree.
"""
import subprocess
import time
from dataclasses import dataclass, field

from .protocol import Field, MessageType, Status, request

STEP = 30


def totp(secret, at=None):
    """The 6-digit code for unix time `at` (default: now)."""
    when = int(time.time() if at is None else at)
    result = subprocess.run(["oathtool", "--totp", "-b", "-N", f"@{when}", secret],
                            check=True, capture_output=True, text=True)
    return result.stdout.strip()


def unused_code(secret):
    """A code that the daemon must reject now: not the code of any step near the current one."""
    now = time.time()
    near = {totp(secret, now + offset * STEP) for offset in range(-3, 4)}
    candidate = 0
    while f"{candidate:06d}" in near:
        candidate += 111111
    return f"{candidate:06d}"


@dataclass
class Enrolment:
    user: str
    secret: str
    recovery_codes: list = field(default_factory=list)
    confirmed_at: float = 0.0

    def next_code(self):
        """A code the daemon accepts and has not seen: the confirmation spent the code of its
        own step and every earlier one, so this is the code of the step after it (within the
        daemon's window of one step either side, even when a step boundary passes meanwhile)."""
        return totp(self.secret, max(time.time(), self.confirmed_at) + STEP)


def enrol(socket_path, user, mode="always"):
    """Enrols `user` (a name) through the daemon and returns the secret and recovery codes."""
    begun = request(socket_path, MessageType.ENROL_BEGIN, {Field.USER: user, Field.MODE: mode})
    assert begun.status == Status.OK, begun
    secret = begun.get(Field.SECRET)

    confirmed_at = time.time()
    confirmed = request(socket_path, MessageType.ENROL_CONFIRM,
                        {Field.USER: user, Field.CODE: totp(secret, confirmed_at)})
    assert confirmed.status == Status.OK, confirmed
    codes = [line for line in confirmed.get(Field.RECOVERY_CODES).split("\n") if line]
    assert len(codes) == 10, codes
    return Enrolment(user=user, secret=secret, recovery_codes=codes, confirmed_at=confirmed_at)


def status(socket_path, user):
    return request(socket_path, MessageType.STATUS, {Field.USER: user})


def set_mode(socket_path, user, mode, code):
    """Changes the verification mode ("always" or "new-device"), confirmed with a current code."""
    return request(socket_path, MessageType.SET_MODE,
                   {Field.USER: user, Field.MODE: mode, Field.CODE: code})
