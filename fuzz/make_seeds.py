#!/usr/bin/python3
"""Writes the seed corpus of each fuzz target into fuzz/corpus/TARGET/: a few well-formed inputs
of the kinds the product meets, so that the fuzzer starts from the inside of each parser instead
of spending its first minutes finding the magic bytes and field layout.

Run it again after changing a target's input layout: python3 fuzz/make_seeds.py. Files are named
after what they hold; the fuzzer's own finds are kept in build-fuzz/fuzz-work/, not here.
"""
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from support.protocol import Field, MessageType, encode  # noqa: E402  (after the path)

CORPUS = HERE / "corpus"


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data if isinstance(data, bytes) else data.encode())


# FuzzedDataProvider: strings are taken from the front, a backslash followed by any other byte
# ends one; numbers and booleans are taken from the back, the first consumed being the last byte.
def provider_strings(*texts):
    return b"\\ ".join(t.encode() if isinstance(t, str) else t for t in texts)


def protocol_seeds():
    messages = {
        "auth-query": (MessageType.AUTH_QUERY, {Field.USER: "alice", Field.SERVICE: "sshd",
                                                Field.REMOTE_HOST: "198.51.100.7",
                                                Field.TTY: "ssh"}),
        "auth-verify": (MessageType.AUTH_VERIFY, {Field.USER: "alice", Field.SERVICE: "sshd",
                                                  Field.CODE: "123456"}),
        "session-open": (MessageType.SESSION_OPEN, {Field.USER: "alice",
                                                    Field.NONCE: "0123456789abcdef"}),
        "enrol-begin": (MessageType.ENROL_BEGIN, {Field.USER: "alice", Field.MODE: "always"}),
        "status": (MessageType.STATUS, {Field.USER: "alice"}),
        "lockouts": (MessageType.LOCKOUTS, {}),
        "history-offset": (MessageType.HISTORY, {Field.USER: "alice", Field.OFFSET: 50}),
        "reply-ok": (MessageType.REPLY, {Field.RESULT_CODE: 0, Field.SINCE: 1700000000,
                                         Field.ENROLLED: 1, Field.MODE: "new-device"}),
        "reply-rejected": (MessageType.REPLY, {Field.RESULT_CODE: 3,
                                               Field.TEXT: "wrong code", Field.HINT: "clock"}),
    }
    for name, (kind, fields) in messages.items():
        write("fuzz_protocol_decode", name, encode(kind, fields))


def config_seeds():
    shipped = (HERE.parent / "etc" / "fotoauthd.conf").read_text()
    write("fuzz_config_parse", "shipped", shipped)
    write("fuzz_config_parse", "uncommented", "".join(
        line[1:] + "\n" for line in shipped.splitlines() if line.startswith("#") and " = " in line))
    write("fuzz_config_parse", "alerts",
          "geoip_database = /var/lib/GeoIP/GeoLite2-Country.mmdb\n"
          "alert_address_pattern = %u@studio.example\n"
          "alert_from = fotoauthd@studio.example\n"
          "alert_site_url = https://studio.example/password\n"
          "smtp_relay = 127.0.0.1:25\n"
          "require_mfa_groups = staff, admins\n"
          "require_mfa_grace_until = 2030-01-31\n"
          "trust_source_address = yes\n")
    write("fuzz_config_parse", "errors", "totp_window = 11\nnot a line\nunknown_key = 1\n"
          "socket = relative/path\r\n  issuer = a:b\n")


def recovery_seeds():
    for name, typed in {"display": "7K3M-Q9XZ-2B4D", "plain": "7K3MQ9XZ2B4D",
                        "lower-spaced": "7k3m q9xz 2b4d", "look-alikes": "iloo-ILOO-1100",
                        "too-short": "7K3M-Q9XZ"}.items():
        write("fuzz_recovery_code", name, typed)


def totp_seeds():
    # From the back: window, drift search, six bytes of the time (little-endian, as the provider
    # reads them backwards most significant first), the last accepted step's offset from now,
    # the secret's length; then from the front the secret and, after it, the typed code.
    def seed(code, secret, now=1700000000, window=1, drift=10, offset=-1):
        numbers = (bytes([len(secret) - 1, offset + 20]) + struct.pack("<Q", now)[:6]
                   + bytes([drift, window]))
        return secret + code.encode() + numbers
    write("fuzz_totp_code", "rfc6238-secret", seed("287082", b"12345678901234567890"))
    write("fuzz_totp_code", "no-drift", seed("000000", bytes(range(20)), drift=0, window=0))
    write("fuzz_totp_code", "not-digits", seed("12 456", b"\xff" * 20))


def alert_seeds():
    # From the back: the kind (odd: an unusual login), MFA on, eight bytes of the time (the
    # provider adds them to INT64_MIN), whether To comes from recipient_for.
    tail = bytes([1]) + struct.pack("<Q", 1700000000 + 2**63) + bytes([1, 1])
    write("fuzz_alert_mail", "ascii", provider_strings(
        "alice", "studio-server-1", "DE", "198.51.100.7", "https://studio.example/password",
        "fotoauthd@studio.example", "", "%u@studio.example") + tail)
    write("fuzz_alert_mail", "unicode-user", provider_strings(
        "j\u00fcrgen", "\u30b5\u30fc\u30d0", "JP", "2001:db8::7", "",
        "fotoauthd@studio.example", "juergen@studio.example", "") + tail)
    write("fuzz_alert_mail", "hostile", provider_strings(
        "bob\r\nBcc: mallory@evil.example", "=?UTF-8?B?QQ==?=", "\x1b[31mXX",
        "1.2.3.4\x00", "http://x\ny", "fotoauthd@studio.example", "", "%x") + tail)


def geoip_seeds():
    for name, host in {"ipv4-public": "198.51.100.7", "ipv4-private": "192.168.1.20",
                       "ipv6-public": "2001:db8::1", "ipv6-local": "fd00::5",
                       "mapped": "::ffff:198.51.100.7", "zone": "fe80::1%eth0",
                       "bad-zone": "2001:db8::1%eth0", "name": "client.example.org",
                       "unknown": "UNKNOWN"}.items():
        write("fuzz_geoip_classify", name, host)


def ctl_seeds():
    now = struct.pack("<Q", 1700000000)

    # The last byte chooses: modulo 3 the list (0 history, 1 lockouts, 2 devices), bit 4 the
    # symbol markers, (byte >> 2) % 3 the devices' trust setting (2: new-device).
    def seed(text, choice):
        return text.encode() + now + bytes([choice])
    write("fuzz_ctl_entries", "history", seed(
        "1700000000\tlogin\tsshd\t198.51.100.7\tcode\tFR\tsshd publickey ED25519 SHA256:x, pts/3"
        "\t1\t1\n1699990000\tlogin-refused\tsshd\t203.0.113.9\twrong code\n"
        "1699980000\tpassword-changed\tpasswd\t\t\t\t\t0\t0\ntruncated\n", 0))
    write("fuzz_ctl_entries", "history-symbols", seed(
        "1700000000\tlogin\tlogin\t\trecovery code\tlocal\tlogin tty1\t0\t1\n", 0x10))
    write("fuzz_ctl_entries", "lockouts", seed(
        "lock\talice\tpassword\t1700003600\t5\n"
        "lock\talice\tkey:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\t1700003000\t5\n"
        "block\t198.51.100.0/24\tlogin-source\t1700000060\t5\nbroken line\ntruncated\n", 1))
    write("fuzz_ctl_entries", "devices", seed(
        "1\tssh-key\tssh-ed25519 SHA256:abc\t1699000000\t1700000000\t1707776000\n"
        "2\taddress\t198.51.100.7 sshd\t1699000000\t1700000000\t1707776000\n"
        "3\tterminal\ttty3 login\t1699000000\t1700000000\t1707776000\n", 8))


if __name__ == "__main__":
    protocol_seeds()
    config_seeds()
    recovery_seeds()
    totp_seeds()
    alert_seeds()
    geoip_seeds()
    ctl_seeds()
