"""`fotoauthctl recovery-codes regenerate`, `mfa disable`, `mfa enable` on an account that has MFA
(a new phone) and the low-codes line of `status`, against the real fotoauthd.

The account is enrolled over the socket (support.enrolment, codes from oathtool). Whether a code
or recovery code works afterwards is checked the way a login checks it: an AuthVerify sent as
root, as the PAM module sends it. Codes are typed into the CLI on stdin, as a script would; the
new phone's enrolment runs under a pseudo-terminal, because its code depends on the secret the
CLI prints.
"""
import io
import os
import re
import subprocess
import time

import pexpect

from support.enrolment import STEP, enrol, totp, unused_code
from support.paths import FOTOAUTHCTL
from support.protocol import Field, MessageType, Status, request

HEADING = "Recovery codes (shown only once):"
RECOVERY_CODE = re.compile(r"^  ([0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4})$", re.M)
REASON = "lost phone and codes, identity checked at the front desk"


def ctl(daemon, *args, as_user=None, typed=()):
    """Runs fotoauthctl with the lines typed on stdin (not a terminal)."""
    command = [str(FOTOAUTHCTL), "--socket", str(daemon.socket), *args]
    if as_user:
        command = ["runuser", "-u", as_user, "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=30,
                          input="".join(f"{line}\n" for line in typed),
                          env={**os.environ, "TZ": "UTC"})


def ctl_ok(daemon, *args, as_user=None, typed=()):
    result = ctl(daemon, *args, as_user=as_user, typed=typed)
    assert result.returncode == 0, (result.stdout, result.stderr, daemon.log())
    assert result.stderr == ""
    return result.stdout


def login(daemon, user, code):
    """What a login with code is answered: OK, REJECTED, NOT_ENROLLED, ..."""
    return request(daemon.socket, MessageType.AUTH_VERIFY,
                   {Field.USER: user, Field.SERVICE: "login", Field.CODE: code}).status


def status_of(daemon, user):
    return ctl_ok(daemon, "status", "--user", user)


def test_regenerate_with_a_wrong_code_changes_nothing(daemon, user):
    enrolment = enrol(daemon.socket, user.name)

    refused = ctl(daemon, "recovery-codes", "regenerate", as_user=user.name,
                  typed=[unused_code(enrolment.secret)])

    assert refused.returncode == 1, refused
    assert "that code is wrong or was used already" in refused.stderr
    assert "the old recovery codes still work" in refused.stderr
    assert HEADING not in refused.stdout
    assert RECOVERY_CODE.findall(refused.stdout) == []
    assert login(daemon, user.name, enrolment.recovery_codes[0]) == Status.OK
    assert "Recovery codes left: 9\n" in status_of(daemon, user.name)


def test_regenerate_with_a_right_code_shows_ten_new_codes_and_voids_every_old_one(daemon, user):
    enrolment = enrol(daemon.socket, user.name)

    shown = ctl_ok(daemon, "recovery-codes", "regenerate", as_user=user.name,
                   typed=[enrolment.next_code()])

    assert "every old code, used or not, stops" in shown
    assert "Code from the app: " in shown
    assert HEADING in shown
    assert "These codes will not be shown again" in shown
    new_codes = RECOVERY_CODE.findall(shown)
    assert len(new_codes) == 10 and len(set(new_codes)) == 10, shown
    assert not set(new_codes) & set(enrolment.recovery_codes)
    assert login(daemon, user.name, enrolment.recovery_codes[0]) == Status.REJECTED
    assert login(daemon, user.name, new_codes[0]) == Status.OK
    assert login(daemon, user.name, new_codes[0]) == Status.REJECTED
    assert "Recovery codes left: 9\n" in status_of(daemon, user.name)
    assert "FOTOSTUDIO_EVENT=recovery-codes-regenerated" in daemon.log()


def test_regenerate_confirmed_with_a_recovery_code_spends_it_with_the_old_set(daemon, user):
    enrolment = enrol(daemon.socket, user.name)

    shown = ctl_ok(daemon, "recovery-codes", "regenerate", as_user=user.name,
                   typed=[enrolment.recovery_codes[3]])

    new_codes = RECOVERY_CODE.findall(shown)
    assert len(new_codes) == 10
    assert "Recovery codes left: 10\n" in status_of(daemon, user.name)
    assert login(daemon, user.name, new_codes[9]) == Status.OK


def test_regenerate_without_mfa_asks_no_code(daemon, user):
    refused = ctl(daemon, "recovery-codes", "regenerate", as_user=user.name)

    assert refused.returncode == 1
    assert "Code from the app" not in refused.stdout
    assert f"MFA is not enabled for {user.name}" in refused.stderr


def test_status_warns_when_two_or_fewer_recovery_codes_are_left(daemon, user):
    enrolment = enrol(daemon.socket, user.name)
    for code in enrolment.recovery_codes[:7]:
        assert login(daemon, user.name, code) == Status.OK
    warning = "recovery codes left: make new ones with fotoauthctl recovery-codes regenerate"

    three_left = ctl_ok(daemon, "status", as_user=user.name)
    assert "Recovery codes left: 3\n" in three_left
    assert warning not in three_left

    assert login(daemon, user.name, enrolment.recovery_codes[7]) == Status.OK
    two_left = ctl_ok(daemon, "status", as_user=user.name)
    assert f"Recovery codes left: 2\nOnly 2 {warning}\n" in two_left
    assert f"Only 2 {warning} --user {user.name}\n" in status_of(daemon, user.name)


def test_disable_answered_with_anything_but_yes_changes_nothing_and_asks_no_code(daemon, user):
    enrolment = enrol(daemon.socket, user.name)

    for answer in ("no", "YES", "y", ""):
        declined = ctl(daemon, "mfa", "disable", as_user=user.name,
                       typed=[answer, enrolment.recovery_codes[0]])
        assert declined.returncode == 1, declined
        assert f"Turn off MFA for {user.name}? Type yes: " in declined.stdout
        assert declined.stdout.endswith("Nothing changed.\n")
        assert "Code from the app" not in declined.stdout

    assert "MFA: active since" in status_of(daemon, user.name)
    # The recovery code typed after the answers was never read, so it is still unused.
    assert login(daemon, user.name, enrolment.recovery_codes[0]) == Status.OK


def test_disable_with_a_wrong_code_changes_nothing(daemon, user):
    enrolment = enrol(daemon.socket, user.name)
    spent = enrolment.recovery_codes[0]
    assert login(daemon, user.name, spent) == Status.OK

    for code in (unused_code(enrolment.secret), spent):
        refused = ctl(daemon, "mfa", "disable", as_user=user.name, typed=["yes", code])
        assert refused.returncode == 1, refused
        assert "that code is wrong or was used already; MFA stays on." in refused.stderr
        assert "MFA is off" not in refused.stdout

    assert "MFA: active since" in status_of(daemon, user.name)
    assert login(daemon, user.name, enrolment.next_code()) == Status.OK


def test_disable_with_yes_and_a_right_code_turns_mfa_off(daemon, user):
    enrolment = enrol(daemon.socket, user.name)

    done = ctl_ok(daemon, "mfa", "disable", as_user=user.name,
                  typed=["yes", enrolment.next_code()])

    assert done.endswith(f"MFA is off for {user.name}; its secret, recovery codes and trusted "
                         "devices are gone.\n")
    assert "MFA: not enabled\n" in ctl_ok(daemon, "status", as_user=user.name)
    assert login(daemon, user.name, enrolment.recovery_codes[0]) == Status.NOT_ENROLLED
    again = ctl(daemon, "mfa", "disable", as_user=user.name, typed=["yes"])
    assert again.returncode == 1
    assert "nothing to turn off" in again.stderr
    log = daemon.log()
    assert "FOTOSTUDIO_EVENT=mfa-disabled" in log


def test_root_disables_for_a_user_with_a_reason_and_without_a_code(daemon, user):
    enrolment = enrol(daemon.socket, user.name)

    done = ctl_ok(daemon, "mfa", "disable", "--user", user.name, "--reason", REASON, "--yes")

    assert "Code from the app" not in done
    assert "Type yes" not in done
    assert done.endswith(f"MFA is off for {user.name}; its secret, recovery codes and trusted "
                         "devices are gone.\n")
    assert "MFA: not enabled\n" in status_of(daemon, user.name)
    assert login(daemon, user.name, enrolment.recovery_codes[0]) == Status.NOT_ENROLLED
    event = [line for line in daemon.log().splitlines()
             if "FOTOSTUDIO_EVENT=mfa-disabled" in line]
    assert event and REASON in event[-1], daemon.log()


def test_root_still_answers_the_question_without_yes(daemon, user):
    enrol(daemon.socket, user.name)

    declined = ctl(daemon, "mfa", "disable", "--user", user.name, "--reason", REASON,
                   typed=["no"])
    assert declined.returncode == 1
    assert declined.stdout.endswith("Nothing changed.\n")
    assert "MFA: active since" in status_of(daemon, user.name)

    confirmed = ctl_ok(daemon, "mfa", "disable", "--user", user.name, "--reason", REASON,
                       typed=["yes"])
    assert f"MFA is off for {user.name}" in confirmed


def test_root_without_a_reason_and_a_user_with_one_are_usage_errors(daemon, user):
    enrolment = enrol(daemon.socket, user.name)

    no_reason = ctl(daemon, "mfa", "disable", "--user", user.name, "--yes")
    assert no_reason.returncode == 2
    assert no_reason.stdout == ""
    assert "--reason" in no_reason.stderr
    own_reason = ctl(daemon, "mfa", "disable", "--reason", REASON, as_user=user.name,
                     typed=["yes", enrolment.recovery_codes[0]])
    assert own_reason.returncode == 2
    assert own_reason.stdout == ""

    assert "MFA: active since" in status_of(daemon, user.name)
    assert "mfa-disabled" not in daemon.log()


def test_enable_again_with_a_wrong_old_code_keeps_the_old_phone(daemon, user):
    enrolment = enrol(daemon.socket, user.name)

    refused = ctl(daemon, "mfa", "enable", "--mode", "always", as_user=user.name,
                  typed=[unused_code(enrolment.secret)])

    assert refused.returncode == 1, refused
    assert "Enrolling again replaces the phone" in refused.stdout
    assert "Secret (base32)" not in refused.stdout
    assert "the old phone stays in use" in refused.stderr
    assert login(daemon, user.name, enrolment.next_code()) == Status.OK


def test_enable_again_with_an_old_code_replaces_the_secret(daemon, user):
    enrolment = enrol(daemon.socket, user.name)
    transcript = io.StringIO()
    child = pexpect.spawn("runuser", ["-u", user.name, "--", str(FOTOAUTHCTL), "--socket",
                                      str(daemon.socket), "mfa", "enable", "--mode", "always"],
                          encoding="utf-8", timeout=20, dimensions=(80, 200))
    child.logfile_read = transcript
    try:
        child.expect("Enrolling again replaces the phone")
        child.expect("Code from the app: ")
        child.sendline(enrolment.next_code())
        child.expect(r"Secret \(base32\): ([A-Z2-7=]+)\r?\n")
        new_secret = child.match.group(1).rstrip("=")
        child.expect("Code from the app: ")
        confirmed_at = time.time()
        child.sendline(totp(new_secret, confirmed_at))
        child.expect(re.escape(HEADING))
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, transcript.getvalue()

    assert new_secret != enrolment.secret
    new_codes = RECOVERY_CODE.findall(transcript.getvalue().replace("\r\n", "\n"))
    assert len(new_codes) == 10, transcript.getvalue()
    # Codes of the old secret, and its recovery codes, open nothing now.
    later = max(time.time(), confirmed_at) + STEP
    assert login(daemon, user.name, totp(enrolment.secret, later)) == Status.REJECTED
    assert login(daemon, user.name, enrolment.recovery_codes[1]) == Status.REJECTED
    assert login(daemon, user.name, totp(new_secret, later)) == Status.OK
    assert login(daemon, user.name, new_codes[0]) == Status.OK
