"""What root asks fotoauthd about locks and blocked sources (Lockouts, Unlock, Unblock) and about
a user's trusted devices (Devices, ForgetDevice), spoken directly over the socket with the tests'
own protocol code."""
from dataclasses import dataclass

from support.protocol import Field, MessageType, Status, request


@dataclass
class Entry:
    """One line of the Lockouts answer: a lock of a user's channel, or a full login window."""
    kind: str      # "lock" or "block"
    subject: str   # the user (lock), or the source or user whose window is full (block)
    scope: str     # lock: password, console, local-user, key:...; block: login-source, login-user
    until: int     # unix time the lock ends or the window allows again
    count: int     # failures counted against the lock, or attempts in the window


def lockouts(socket_path):
    answer = request(socket_path, MessageType.LOCKOUTS, {})
    assert answer.status == Status.OK, answer
    entries = []
    for line in (answer.get(Field.ENTRIES) or "").splitlines():
        kind, subject, scope, until, count = line.split("\t")
        entries.append(Entry(kind, subject, scope, int(until), int(count)))
    return entries


def locks_of(socket_path, user):
    return [entry for entry in lockouts(socket_path)
            if entry.kind == "lock" and entry.subject == user]


def blocks(socket_path):
    return [entry for entry in lockouts(socket_path) if entry.kind == "block"]


def unlock(socket_path, user):
    return request(socket_path, MessageType.UNLOCK, {Field.USER: user})


def unblock(socket_path, host):
    return request(socket_path, MessageType.UNBLOCK, {Field.REMOTE_HOST: host})


@dataclass
class Device:
    """One line of the Devices answer: a device the daemon trusts for the user."""
    id: str
    kind: str        # ssh-key, address or terminal
    label: str       # e.g. "ssh-ed25519 SHA256:..." or "198.51.100.7 sshd"
    first_used: int  # unix times
    last_used: int
    expires: int


def devices(socket_path, user):
    answer = request(socket_path, MessageType.DEVICES, {Field.USER: user})
    assert answer.status == Status.OK, answer
    listed = []
    for line in (answer.get(Field.ENTRIES) or "").splitlines():
        device_id, kind, label, first_used, last_used, expires = line.split("\t")
        listed.append(Device(device_id, kind, label, int(first_used), int(last_used),
                             int(expires)))
    return listed


def forget_devices(socket_path, user, device_id=None):
    """ForgetDevice: the one device with that id, or every device of the user."""
    fields = {Field.USER: user}
    if device_id is not None:
        fields[Field.DEVICE_ID] = device_id
    return request(socket_path, MessageType.FORGET_DEVICE, fields)
