"""`fotoauthctl devices`, `devices forget`, `mfa mode` and the device line of `status`, against the
real fotoauthd.

Trust is made the way a real login makes it: a key pair is made with ssh-keygen, and a right code
is sent as root in an AuthVerify for service sshd with AuthInfo "publickey ssh-ed25519 BLOB", which
is what the PAM module forwards from sshd's SSH_AUTH_INFO_0 after a public key login that goes on
to keyboard-interactive. The account is enrolled in mode new-device. Whether a key is trusted is
then checked as the next login would check it: an AuthQuery with that key answers Trusted (no
prompt) or CodeRequired.

The CLI runs with TZ=UTC, so that the times it prints can be compared with times taken here.
"""
import os
import re
import subprocess
import time

import pytest

from support.enrolment import enrol, unused_code
from support.paths import FOTOAUTHCTL
from support.protocol import Field, MessageType, Status, request

DAY = 86400
TRUSTED_DEVICE_DAYS = 90  # fotoauthd's default trusted_device_days
NO_DEVICE = "No trusted device.\n"
NOTHING_TO_FORGET = "There was no trusted device to forget.\n"
TO_ALWAYS = "Verification mode is now always (every login asks for a code)"
TO_NEW_DEVICE = ("Verification mode is now new-device (a code only from a device not trusted "
                 "yet).\n")


class Key:
    """A real ed25519 key pair, with the fingerprint ssh-keygen prints for it."""

    def __init__(self, folder, name):
        path = folder / name
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f",
                        str(path)], check=True, capture_output=True)
        key_type, self.blob, _ = path.with_suffix(".pub").read_text().split()
        assert key_type == "ssh-ed25519"
        listed = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f",
                                 str(path.with_suffix(".pub"))],
                                check=True, capture_output=True, text=True).stdout.split()
        self.fingerprint = listed[1]
        assert self.fingerprint.startswith("SHA256:"), listed
        # What the listing shows in its WHAT column.
        self.what = f"ssh key ssh-ed25519 {self.fingerprint}"

    @property
    def auth_info(self):
        return f"publickey ssh-ed25519 {self.blob}\n"


@pytest.fixture
def make_key(tmp_path):
    counter = iter(range(1000))
    return lambda: Key(tmp_path, f"key{next(counter)}")


def ctl(daemon, *args, as_user=None, code=None):
    command = [str(FOTOAUTHCTL), "--socket", str(daemon.socket), *args]
    if as_user:
        command = ["runuser", "-u", as_user, "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=30,
                          input=f"{code}\n" if code else "", env={**os.environ, "TZ": "UTC"})


def ctl_ok(daemon, *args, as_user=None, code=None):
    result = ctl(daemon, *args, as_user=as_user, code=code)
    assert result.returncode == 0, (result.stdout, result.stderr, daemon.log())
    assert result.stderr == ""
    return result.stdout


def login_fields(user, key):
    return {Field.USER: user, Field.SERVICE: "sshd", Field.REMOTE_HOST: "192.0.2.10",
            Field.AUTH_INFO: key.auth_info}


def trust(daemon, user, key, code):
    """Logs in as sshd would, with key and a right code: the daemon then trusts the key."""
    answer = request(daemon.socket, MessageType.AUTH_VERIFY,
                     {**login_fields(user, key), Field.CODE: code})
    assert answer.status == Status.OK, (answer, daemon.log())


def next_login(daemon, user, key):
    """What the next login with key is told: TRUSTED (no prompt) or CODE_REQUIRED."""
    return request(daemon.socket, MessageType.AUTH_QUERY, login_fields(user, key)).status


def rows_of(listing):
    """The rows of the devices table, split into columns, without its header."""
    rows = []
    for line in listing.splitlines():
        columns = re.split(r"\s{2,}", line.strip())
        if len(columns) == 5 and columns[0].isdigit():
            rows.append(columns)
    return rows


def utc_minutes(*unix_times):
    return {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t)) for t in unix_times}


def test_devices_lists_a_trusted_key_with_the_fingerprint_ssh_keygen_prints(daemon, user,
                                                                            make_key):
    enrolment = enrol(daemon.socket, user.name, mode="new-device")
    key = make_key()
    assert ctl_ok(daemon, "devices", as_user=user.name) == NO_DEVICE
    assert next_login(daemon, user.name, key) == Status.CODE_REQUIRED

    before = time.time()
    trust(daemon, user.name, key, enrolment.next_code())
    after = time.time()
    listing = ctl_ok(daemon, "devices", as_user=user.name)

    [(device_id, what, first_used, last_used, until)] = rows_of(listing)
    assert what == key.what
    assert first_used in utc_minutes(before, after)
    assert last_used == first_used
    assert until in utc_minutes(before + TRUSTED_DEVICE_DAYS * DAY,
                                after + TRUSTED_DEVICE_DAYS * DAY)
    assert listing.startswith(f"Trusted devices of {user.name} ")
    assert "To forget a device: fotoauthctl devices forget ID\n" in listing
    assert next_login(daemon, user.name, key) == Status.TRUSTED
    as_root = ctl_ok(daemon, "devices", "--user", user.name)
    assert [row[:2] for row in rows_of(as_root)] == [[device_id, key.what]]
    assert f"fotoauthctl devices forget ID --user {user.name}\n" in as_root

    status = ctl_ok(daemon, "status", as_user=user.name)
    assert "Verification: new-device\n" in status
    assert "Trusted devices: 1 (listed by 'fotoauthctl devices')\n" in status
    assert (f"Trusted devices: 1 (listed by 'fotoauthctl devices --user {user.name}')\n"
            in ctl_ok(daemon, "status", "--user", user.name))


def test_devices_forget_id_ends_the_trust_of_that_key_only(daemon, user, make_key):
    enrolment = enrol(daemon.socket, user.name, mode="new-device")
    laptop, desktop = make_key(), make_key()
    trust(daemon, user.name, laptop, enrolment.next_code())
    trust(daemon, user.name, desktop, enrolment.recovery_codes[0])
    rows = rows_of(ctl_ok(daemon, "devices", as_user=user.name))
    assert sorted(row[1] for row in rows) == sorted([laptop.what, desktop.what])
    [laptop_id] = [row[0] for row in rows if row[1] == laptop.what]

    assert (ctl_ok(daemon, "devices", "forget", laptop_id, as_user=user.name) ==
            f"Forgot device {laptop_id}.\n")

    assert [row[1] for row in rows_of(ctl_ok(daemon, "devices", as_user=user.name))] == [
        desktop.what]
    assert next_login(daemon, user.name, laptop) == Status.CODE_REQUIRED
    assert next_login(daemon, user.name, desktop) == Status.TRUSTED
    again = ctl(daemon, "devices", "forget", laptop_id, as_user=user.name)
    assert again.returncode == 1
    assert again.stdout == ""
    assert f"{laptop_id} is not a trusted device of {user.name}." in again.stderr


def test_devices_forget_all_ends_the_trust_of_every_key(daemon, user, make_key):
    enrolment = enrol(daemon.socket, user.name, mode="new-device")
    keys = [make_key(), make_key()]
    for key, code in zip(keys, enrolment.recovery_codes):
        trust(daemon, user.name, key, code)
    assert "Trusted devices: 2 " in ctl_ok(daemon, "status", as_user=user.name)

    assert (ctl_ok(daemon, "devices", "forget", "--all", as_user=user.name) ==
            "Forgot 2 devices; the code will be asked again from each of them.\n")

    assert [next_login(daemon, user.name, key) for key in keys] == [Status.CODE_REQUIRED] * 2
    assert ctl_ok(daemon, "devices", as_user=user.name) == NO_DEVICE
    assert "Trusted devices: 0 " in ctl_ok(daemon, "status", as_user=user.name)
    assert ctl_ok(daemon, "devices", "forget", "--all", as_user=user.name) == NOTHING_TO_FORGET


def test_mfa_mode_always_with_a_code_forgets_the_devices_and_new_device_trusts_anew(daemon, user,
                                                                                   make_key):
    enrolment = enrol(daemon.socket, user.name, mode="new-device")
    key = make_key()
    trust(daemon, user.name, key, enrolment.recovery_codes[0])

    changed = ctl_ok(daemon, "mfa", "mode", "always", as_user=user.name,
                     code=enrolment.next_code())

    assert "Code from the app: " in changed
    assert TO_ALWAYS in changed
    status = ctl_ok(daemon, "status", as_user=user.name)
    assert "Verification: always\nTrusted devices: 0\n" in status
    assert "fotoauthctl devices" not in status
    assert next_login(daemon, user.name, key) == Status.CODE_REQUIRED
    listing = ctl_ok(daemon, "devices", as_user=user.name)
    assert listing.startswith(NO_DEVICE)
    assert "In mode always no device is ever trusted" in listing
    # In mode always even a right code trusts nothing.
    trust(daemon, user.name, key, enrolment.recovery_codes[1])
    assert next_login(daemon, user.name, key) == Status.CODE_REQUIRED

    # A recovery code is accepted at the prompt too, with its dashes or without.
    changed = ctl_ok(daemon, "mfa", "mode", "new-device", as_user=user.name,
                     code=enrolment.recovery_codes[2].replace("-", "").lower())

    assert changed.endswith(TO_NEW_DEVICE)
    assert "Verification: new-device\n" in ctl_ok(daemon, "status", as_user=user.name)
    assert next_login(daemon, user.name, key) == Status.CODE_REQUIRED
    trust(daemon, user.name, key, enrolment.recovery_codes[3])
    assert next_login(daemon, user.name, key) == Status.TRUSTED


def test_mfa_mode_with_a_wrong_or_spent_code_changes_nothing_and_exits_1(daemon, user, make_key):
    enrolment = enrol(daemon.socket, user.name, mode="new-device")
    key = make_key()
    spent = enrolment.recovery_codes[0]
    trust(daemon, user.name, key, spent)

    for code in (unused_code(enrolment.secret), spent):
        refused = ctl(daemon, "mfa", "mode", "always", as_user=user.name, code=code)
        assert refused.returncode == 1, refused
        assert "that code is wrong or was used already" in refused.stderr
        assert TO_ALWAYS not in refused.stdout

    assert "Verification: new-device\n" in ctl_ok(daemon, "status", as_user=user.name)
    assert next_login(daemon, user.name, key) == Status.TRUSTED


def test_mfa_mode_asks_no_code_when_nothing_would_change_or_mfa_is_off(daemon, make_user):
    enrolled = make_user()
    enrolment = enrol(daemon.socket, enrolled.name, mode="new-device")
    without_mfa = make_user()

    # No code on stdin: the CLI must not even ask.
    assert (ctl_ok(daemon, "mfa", "mode", "new-device", as_user=enrolled.name) ==
            f"The verification mode of {enrolled.name} is already new-device; nothing was "
            "changed.\n")
    refused = ctl(daemon, "mfa", "mode", "always", as_user=without_mfa.name)
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert f"MFA is not enabled for {without_mfa.name}" in refused.stderr

    # The code that was not asked for is still good.
    assert TO_ALWAYS in ctl_ok(daemon, "mfa", "mode", "always", as_user=enrolled.name,
                               code=enrolment.next_code())


def test_mfa_mode_on_a_locked_account_passes_on_the_daemons_sentence(limited_daemon, user):
    daemon = limited_daemon("code_attempts = 2\n")
    enrolment = enrol(daemon.socket, user.name, mode="new-device")
    for _ in range(2):
        wrong = ctl(daemon, "mfa", "mode", "always", as_user=user.name,
                    code=unused_code(enrolment.secret))
        assert wrong.returncode == 1
        assert "that code is wrong" in wrong.stderr

    # Locked now: even the right code is refused, with fotoauthd's own sentence.
    locked = ctl(daemon, "mfa", "mode", "always", as_user=user.name, code=enrolment.next_code())

    assert locked.returncode == 1
    said = request(daemon.socket, MessageType.LOCKOUTS, {}).get(Field.ENTRIES)
    assert user.name in said and "local-user" in said, said
    assert "locked" in locked.stderr.lower()
    assert "The verification mode was not changed." in locked.stderr
    assert "that code is wrong" not in locked.stderr
    assert "Verification: new-device\n" in ctl_ok(daemon, "status", "--user", user.name)


def test_a_user_sees_and_forgets_only_their_own_devices_and_root_any(daemon, make_user,
                                                                    make_key):
    alice, bob = make_user(), make_user()
    alice_key, bob_key = make_key(), make_key()
    for account, key in ((alice, alice_key), (bob, bob_key)):
        enrolment = enrol(daemon.socket, account.name, mode="new-device")
        trust(daemon, account.name, key, enrolment.next_code())
    [alice_row] = rows_of(ctl_ok(daemon, "devices", as_user=alice.name))
    [bob_row] = rows_of(ctl_ok(daemon, "devices", "--user", bob.name))
    assert alice_row[1] == alice_key.what
    assert bob_row[1] == bob_key.what

    peeking = ctl(daemon, "devices", "--user", bob.name, as_user=alice.name)
    assert peeking.returncode == 2
    assert peeking.stdout == ""
    assert "only root" in peeking.stderr
    forgetting = ctl(daemon, "devices", "forget", bob_row[0], as_user=alice.name)
    assert forgetting.returncode == 1
    assert f"{bob_row[0]} is not a trusted device of {alice.name}." in forgetting.stderr
    assert next_login(daemon, bob.name, bob_key) == Status.TRUSTED

    # Root forgets all devices of an account: what a password change will do.
    assert (ctl_ok(daemon, "devices", "forget", "--all", "--user", bob.name) ==
            "Forgot 1 device; the code will be asked again from it.\n")

    assert next_login(daemon, bob.name, bob_key) == Status.CODE_REQUIRED
    assert ctl_ok(daemon, "devices", "--user", bob.name) == NO_DEVICE
    assert next_login(daemon, alice.name, alice_key) == Status.TRUSTED
    assert rows_of(ctl_ok(daemon, "devices", as_user=alice.name)) == [alice_row]


def test_devices_of_an_account_without_mfa_or_without_an_account(daemon, user, unknown_name):
    assert (ctl_ok(daemon, "devices", as_user=user.name) ==
            f"{NO_DEVICE}MFA is not enabled for {user.name}.\n")

    missing = ctl(daemon, "devices", "--user", unknown_name)
    assert missing.returncode == 1
    assert missing.stdout == ""
    assert f"no account named '{unknown_name}'" in missing.stderr


@pytest.mark.parametrize("words", [["devices", "forget"], ["devices", "forget", "SHA256:abc"],
                                   ["devices", "forget", "1", "--all"], ["mfa", "mode"],
                                   ["mfa", "mode", "sometimes"]])
def test_malformed_device_and_mode_commands_are_usage_errors(daemon, user, words):
    result = ctl(daemon, *words, as_user=user.name)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Try 'fotoauthctl --help'." in result.stderr
