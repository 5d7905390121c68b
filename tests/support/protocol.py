"""A small, independent encoder and decoder of the fotoauthd wire protocol, for the tests.

Written from docs/protocol.md and shared/protocol.hpp, not from the C++ codec, so that a test
talking to the daemon through it does not share the codec's mistakes. One message is one
SOCK_SEQPACKET datagram: b"FS", version byte, type byte, then fields of (tag: u8, length: u16
big-endian, value). Integers are big-endian.
"""
import socket
import struct
from enum import IntEnum

MAGIC = b"FS"
VERSION = 1
MAX_MESSAGE_SIZE = 4096


class MessageType(IntEnum):
    AUTH_QUERY = 1
    AUTH_VERIFY = 2
    SESSION_OPEN = 3
    ENROL_BEGIN = 4
    ENROL_CONFIRM = 5
    STATUS = 6
    PREAUTH = 7
    LOCKOUTS = 8
    UNLOCK = 9
    UNBLOCK = 10
    ACCOUNT_CHECK = 11
    DEVICES = 12
    FORGET_DEVICE = 13
    SET_MODE = 14
    PASSWORD_CHANGE_CHECK = 15
    PASSWORD_CHANGED = 16
    HISTORY = 17
    REGENERATE_CODES = 18
    DISABLE_MFA = 19
    SET_EMAIL = 20
    REPLY = 64


class Field(IntEnum):
    USER = 1
    SERVICE = 2
    REMOTE_HOST = 3
    TTY = 4
    CODE = 5
    NONCE = 6
    MODE = 7
    RESULT_CODE = 8
    TEXT = 9
    SECRET = 10
    URI = 11
    RECOVERY_CODES = 12
    SINCE = 13
    CODES_LEFT = 14
    EXPIRES_AT = 15
    ENROLLED = 16
    PENDING = 17
    PASSWORD_FAILED = 18
    AUTH_INFO = 19
    RETRY_AFTER = 20
    LOCKED_UNTIL = 21
    ENTRIES = 22
    COUNT = 23
    DEVICE_ID = 24
    DEVICE_COUNT = 25
    CALLER_UID = 26
    EMAIL = 27
    CLOCK_SYNCED = 28
    OFFSET = 29
    MFA_REQUIRED = 30
    GRACE_UNTIL = 31
    EMAIL_SOURCE = 32
    HINT = 33
    COUNT_ATTEMPT = 34


class Status(IntEnum):
    OK = 0
    CODE_REQUIRED = 1
    NOT_ENROLLED = 2
    REJECTED = 3
    UNKNOWN_USER = 4
    PERMISSION_DENIED = 5
    BAD_REQUEST = 6
    INTERNAL_ERROR = 7
    ALREADY_ENROLLED = 8
    NO_PENDING_ENROLMENT = 9
    RATE_LIMITED = 10
    LOCKED = 11
    TRUSTED = 12
    ENROLMENT_REQUIRED = 13


U8_FIELDS = {Field.RESULT_CODE, Field.ENROLLED, Field.PENDING, Field.PASSWORD_FAILED,
             Field.CLOCK_SYNCED, Field.MFA_REQUIRED, Field.COUNT_ATTEMPT}
U64_FIELDS = {Field.SINCE, Field.CODES_LEFT, Field.EXPIRES_AT, Field.RETRY_AFTER,
              Field.LOCKED_UNTIL, Field.COUNT, Field.DEVICE_COUNT, Field.CALLER_UID,
              Field.OFFSET, Field.GRACE_UNTIL}


class ProtocolError(Exception):
    pass


def _encode_value(field, value):
    if field in U8_FIELDS:
        return struct.pack(">B", value)
    if field in U64_FIELDS:
        return struct.pack(">Q", value)
    return value.encode() if isinstance(value, str) else bytes(value)


def encode(message_type, fields):
    """fields maps Field to str (text), int (u8/u64 fields) or bytes (raw text bytes)."""
    out = bytearray(MAGIC + bytes([VERSION, message_type]))
    for field, value in fields.items():
        raw = _encode_value(Field(field), value)
        out += struct.pack(">BH", field, len(raw)) + raw
    if len(out) > MAX_MESSAGE_SIZE:
        raise ProtocolError("message too large")
    return bytes(out)


def decode(data):
    """Returns (MessageType, {Field: value}); text values as str, integers as int."""
    if len(data) < 4 or data[:2] != MAGIC or data[2] != VERSION:
        raise ProtocolError(f"not a protocol message: {data[:4]!r}")
    message_type = MessageType(data[3])
    fields = {}
    offset = 4
    while offset < len(data):
        if len(data) - offset < 3:
            raise ProtocolError("truncated field header")
        tag, length = struct.unpack_from(">BH", data, offset)
        offset += 3
        raw = data[offset:offset + length]
        if len(raw) != length:
            raise ProtocolError("truncated field value")
        offset += length
        field = Field(tag)
        if field in fields:
            raise ProtocolError(f"repeated field {field.name}")
        if field in U8_FIELDS:
            (fields[field],) = struct.unpack(">B", raw)
        elif field in U64_FIELDS:
            (fields[field],) = struct.unpack(">Q", raw)
        else:
            fields[field] = raw.decode()
    return message_type, fields


def reply(status, text=None, **extra):
    """Encodes an answer as the daemon would, for fake listeners in the tests."""
    fields = {Field.RESULT_CODE: int(status)}
    if text:
        fields[Field.TEXT] = text
    for name, value in extra.items():
        fields[Field[name.upper()]] = value
    return encode(MessageType.REPLY, fields)


class Reply:
    def __init__(self, fields):
        self.fields = fields
        self.status = Status(fields[Field.RESULT_CODE])

    def get(self, field, default=None):
        return self.fields.get(field, default)

    def __repr__(self):
        return f"Reply({self.status.name}, {self.fields.get(Field.TEXT, '')!r})"


def request(socket_path, message_type, fields, timeout=5.0):
    """Sends one request on a fresh connection and returns the daemon's Reply."""
    with Connection(socket_path, timeout) as connection:
        return connection.request(message_type, fields)


class Connection:
    """One connection to the daemon for several requests, as the PAM module keeps one for the
    AuthQuery and the AuthVerify of a login."""

    def __init__(self, socket_path, timeout=5.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.sock.settimeout(timeout)
            self.sock.connect(str(socket_path))
        except BaseException:
            self.sock.close()
            raise

    def request(self, message_type, fields):
        self.sock.send(encode(message_type, fields))
        data = self.sock.recv(MAX_MESSAGE_SIZE + 1)
        if not data:
            raise ProtocolError("the daemon closed the connection without an answer")
        answer_type, answer_fields = decode(data)
        if answer_type != MessageType.REPLY:
            raise ProtocolError(f"answer of type {answer_type.name}")
        return Reply(answer_fields)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
