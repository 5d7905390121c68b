"""The password stage of pam_fotostudio.so through the real libpam, the real pam_unix, the real
fotoauthd and real accounts. The stack is the shipped etc/pam.d/common-password-fotostudio, its
module lines pointed at the built module and the test daemon's socket: the `preauth` line counts
the attempt against the password-change limit in pam_chauthtok's preliminary phase; pam_unix
changes the password in the update phase; the last line then tells the daemon, which forgets the
user's trusted devices and ends the user's other sessions.

pam-driver plays passwd. Run by root it changes any user's password without the old one, as
`passwd NAME` does; a setuid-root copy started by the user (SetuidDriver) is asked for the old
password first, as `passwd` is when a user runs it."""
import re
import secrets
import subprocess
import sys

import pytest

from daemon_admin import devices
from pam_harness import (CODE_PROMPT, PASSWORD_PROMPT, SetuidDriver, assert_logged_in, log_in,
                         login_stack, make_ssh_key, module_line, shadow_hash)
from support.enrolment import enrol
from support.login_sessions import (as_account, ended_by_sigterm, idle_session,
                                    in_new_login_session)
from support.protocol import Field, MessageType, Status, reply

PASSWD = "passwd"
SHIPPED = "common-password-fotostudio"
CURRENT_PROMPT = "Current password: "
NEW_PROMPTS = ["New password: ", "Retype new password: "]
NOT_TOLD = ("The password was changed, but fotoauthd could not be told: other sessions were not "
            "ended. Log out of them, or ask an administrator to.")
# The default limit: 10 password changes per user in 600 s.
CHANGES_ALLOWED = 10


def new_password():
    """A password pam_unix's `obscure` check accepts after the test users' "pw-<hex>" ones: no
    character in common with them."""
    return "Chg_" + "".join(secrets.choice("GHJKLMNPQRSTUVWXYZ") for _ in range(16))


def passwd_stack(pam, socket_path):
    return pam.shipped(SHIPPED, socket_path, name=PASSWD)


def change_as_root(pam, user, password, **options):
    """`passwd NAME` run by root: no old password, the new one twice."""
    return pam.run(user.name, [password, password], stage="chauthtok", service=PASSWD, **options)


def password_events(daemon, user):
    """The daemon's audit lines about password changes of the user, as {FIELD: value}."""
    events = []
    for line in daemon.log().splitlines():
        fields = dict(re.findall(r" ([A-Z_]+)=(\S*)", line))
        if fields.get("FOTOSTUDIO_EVENT") == "password-changed" and \
                fields.get("USER") == user.name:
            events.append(fields)
    return events


def logs_in_with(pam, user, password):
    """Whether pam_unix alone accepts the password: the change really happened."""
    pam.service("auth required pam_unix.so nodelay", name="unix-only")
    return pam.run(user.name, [password], service="unix-only").auth == "PAM_SUCCESS"


@pytest.fixture
def setuid_driver(user):
    driver = SetuidDriver(user)
    yield driver
    driver.remove()


@pytest.fixture
def new_device_user(daemon, user):
    return enrol(daemon.socket, user.name, mode="new-device")


# --- a change that goes through ---

def test_root_changing_a_users_password_forgets_the_trusted_key_and_tells_the_daemon_who(
        pam, daemon, user, new_device_user, tmp_path):
    key = make_ssh_key(tmp_path)
    login_stack(pam, daemon)
    assert_logged_in(log_in(pam, user, new_device_user.next_code(), key=key),
                     [PASSWORD_PROMPT, CODE_PROMPT])
    assert_logged_in(log_in(pam, user, key=key), [PASSWORD_PROMPT])
    before = shadow_hash(user.name)
    password = new_password()

    changed = change_as_root(passwd_stack(pam, daemon.socket), user, password)
    listed_right_after = devices(daemon.socket, user.name)
    user.password = password
    next_login = log_in(pam, user, new_device_user.recovery_codes[0], key=key)

    assert changed.chauthtok == "PAM_SUCCESS", changed.stdout
    assert changed.prompts == NEW_PROMPTS, changed.stdout
    assert changed.errors == [], changed.stdout
    assert changed.infos == ["0 other sessions of this account ended; 1 trusted device forgotten."]
    assert shadow_hash(user.name) != before
    # Forgotten by the change itself, not later by the next login noticing a new shadow hash.
    assert listed_right_after == []
    [event] = password_events(daemon, user)
    assert (event["CHANGED_BY_UID"], event["REASON"], event["DEVICES_FORGOTTEN"]) == (
        "0", "pam", "1"), event
    assert_logged_in(next_login, [PASSWORD_PROMPT, CODE_PROMPT])


def test_a_user_changing_their_own_password_as_passwd_does_is_recorded_as_that_user(
        pam, daemon, user, setuid_driver):
    before = shadow_hash(user.name)
    password = new_password()

    changed = passwd_stack(pam, daemon.socket).run(
        user.name, [user.password, password, password], stage="chauthtok", service=PASSWD,
        as_user=user.name, driver=setuid_driver.path)

    assert changed.chauthtok == "PAM_SUCCESS", changed.stdout
    assert changed.prompts == [CURRENT_PROMPT] + NEW_PROMPTS, changed.stdout
    assert changed.errors == [], changed.stdout
    assert shadow_hash(user.name) != before
    assert logs_in_with(pam, user, password)
    # The daemon's peer is root (the program is setuid root); the change is the user's own.
    [event] = password_events(daemon, user)
    assert event["CHANGED_BY_UID"] == str(user.uid), event


def test_a_wrong_old_password_changes_nothing_and_tells_the_daemon_nothing(
        pam, daemon, user, setuid_driver):
    before = shadow_hash(user.name)
    password = new_password()

    refused = passwd_stack(pam, daemon.socket).run(
        user.name, ["not-" + user.password, password, password], stage="chauthtok",
        service=PASSWD, as_user=user.name, driver=setuid_driver.path)

    assert refused.chauthtok not in ("PAM_SUCCESS", "PAM_IGNORE"), refused.stdout
    assert refused.prompts == [CURRENT_PROMPT], refused.stdout
    assert shadow_hash(user.name) == before
    assert password_events(daemon, user) == []


def test_the_counts_are_not_shown_when_the_application_asks_for_silence(pam, daemon, user):
    changed = change_as_root(passwd_stack(pam, daemon.socket), user, new_password(), silent=True)

    assert changed.chauthtok == "PAM_SUCCESS", changed.stdout
    assert (changed.infos, changed.errors) == ([], []), changed.stdout
    assert len(password_events(daemon, user)) == 1


# --- whose sessions end ---
#
# Without logind (as in this container; session_manager = procfs makes it certain) the daemon
# ends the processes of the user's other audit sessions (support/login_sessions.py).

@pytest.fixture
def sessions():
    """Keeps the processes a test starts, and ends those still running afterwards."""
    started = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


# Runs argv[2:] in the caller's login session next to a companion process of the user
# (argv[1] is the setpriv prefix that makes it the user's), and reports whether the companion
# outlived it. The companion is this script's child, so it is reaped here, and no zombie with the
# user's loginuid is left for a later test whose new account may get the same uid.
WITH_COMPANION = """
import subprocess, sys
prefix, command = sys.argv[1].split(), sys.argv[2:]
companion = subprocess.Popen(prefix + ["sleep", "600"])
finished = subprocess.run(command, capture_output=True, text=True)
print(finished.stdout, end="")
print("companion:", "alive" if companion.poll() is None else "ended")
companion.kill()
companion.wait()
"""


def test_a_user_changing_their_own_password_ends_their_other_session_and_keeps_their_own(
        pam, configured_daemon, user, setuid_driver, sessions):
    daemon = configured_daemon("session_manager = procfs\n")
    other = idle_session(user)
    sessions.append(other)
    password = new_password()
    driver = passwd_stack(pam, daemon.socket).command(
        user.name, [user.password, password, password], stage="chauthtok", service=PASSWD,
        as_user=user.name, driver=setuid_driver.path)

    finished = subprocess.run(
        in_new_login_session(user, [sys.executable, "-c", WITH_COMPANION,
                                    " ".join(as_account(user, [])), *driver]),
        capture_output=True, text=True, timeout=60)
    output = finished.stdout.splitlines()

    assert "chauthtok result: PAM_SUCCESS" in output, finished.stdout + finished.stderr
    assert "info: 1 other session of this account ended; 0 trusted devices forgotten." in output
    assert ended_by_sigterm(other)
    assert "companion: alive" in output, finished.stdout


def test_root_changing_a_users_password_ends_every_session_of_the_user(
        pam, configured_daemon, user, sessions):
    daemon = configured_daemon("session_manager = procfs\n")
    sessions.extend([idle_session(user), idle_session(user)])

    changed = change_as_root(passwd_stack(pam, daemon.socket), user, new_password())

    assert changed.chauthtok == "PAM_SUCCESS", changed.stdout
    assert changed.infos == ["2 other sessions of this account ended; 0 trusted devices forgotten."]
    assert all(ended_by_sigterm(process) for process in sessions)


# --- the limit ---

def test_the_eleventh_change_within_the_window_is_refused_before_any_prompt_and_changes_nothing(
        pam, limited_daemon, user, make_user):
    daemon = limited_daemon()
    passwd_stack(pam, daemon.socket)
    # Attempts count whether or not the password module then changes anything: every other one
    # here fails at pam_unix (the two new passwords differ).
    attempts = []
    for number in range(CHANGES_ALLOWED):
        password = new_password()
        retyped = password if number % 2 else new_password()
        attempts.append(pam.run(user.name, [password, retyped], stage="chauthtok",
                                service=PASSWD))
    before = shadow_hash(user.name)
    other = make_user()

    eleventh = change_as_root(pam, user, new_password())
    other_users_change = change_as_root(pam, other, new_password())

    assert [attempt.chauthtok for attempt in attempts] == [
        "PAM_AUTHTOK_ERR", "PAM_SUCCESS"] * (CHANGES_ALLOWED // 2), [a.stdout for a in attempts]
    assert eleventh.chauthtok == "PAM_TRY_AGAIN", eleventh.stdout
    assert eleventh.prompts == [], eleventh.stdout
    assert len(eleventh.errors) == 1, eleventh.stdout
    assert eleventh.errors[0].startswith("Too many password change attempts."), eleventh.stdout
    assert shadow_hash(user.name) == before
    # The limit is per user.
    assert other_users_change.chauthtok == "PAM_SUCCESS", other_users_change.stdout


def test_the_daemons_refusal_without_a_sentence_gets_the_modules_own(pam, user, fake_listener):
    listener = fake_listener(reply(Status.RATE_LIMITED).hex())

    result = change_as_root(passwd_stack(pam, listener.socket), user, new_password())

    assert result.chauthtok == "PAM_TRY_AGAIN", result.stdout
    assert result.errors == ["Too many password change attempts. Wait and try again."]


# --- who may ask ---

def test_a_name_that_is_no_account_is_unknown_before_any_prompt(pam, daemon, unknown_name):
    result = passwd_stack(pam, daemon.socket).run(unknown_name, ["x", "x"], stage="chauthtok",
                                                  service=PASSWD)

    assert (result.chauthtok, result.prompts) == ("PAM_USER_UNKNOWN", []), result.stdout


def test_a_program_running_as_another_user_may_not_count_or_report_a_change(
        public_pam, daemon, user, make_user):
    # Without setuid root the daemon's peer is the other user, who may act only for itself.
    other = make_user()
    before = shadow_hash(user.name)

    result = passwd_stack(public_pam, daemon.socket).run(
        user.name, ["x", "x"], stage="chauthtok", service=PASSWD, as_user=other.name)

    assert (result.chauthtok, result.prompts) == ("PAM_PERM_DENIED", []), result.stdout
    assert shadow_hash(user.name) == before


# --- failures ---

def test_the_daemon_gone_before_the_update_phase_fails_the_change_and_says_so_plainly(
        pam, daemon, user):
    before = shadow_hash(user.name)
    password = new_password()
    held = passwd_stack(pam, daemon.socket).start(user.name, stage="chauthtok", service=PASSWD)
    # The preliminary phase has passed (the daemon counted it); pam_unix asks for the new
    # password in the update phase.
    assert held.wait_for_prompt() == NEW_PROMPTS[0]
    daemon.kill()

    held.answer(password)
    assert held.wait_for_prompt() == NEW_PROMPTS[1]
    held.answer(password)
    result = held.finish()

    assert result.chauthtok == "PAM_AUTHTOK_ERR", result.stdout
    assert result.errors == [NOT_TOLD], result.stdout
    assert result.infos == [], result.stdout
    # What the message says is true: the password did change.
    assert shadow_hash(user.name) != before
    assert logs_in_with(pam, user, password)


def test_the_daemon_down_from_the_start_stops_the_change_before_any_prompt(pam, daemon, user):
    before = shadow_hash(user.name)
    daemon.kill()

    result = change_as_root(passwd_stack(pam, daemon.socket), user, new_password())

    assert result.chauthtok == "PAM_AUTHTOK_ERR", result.stdout
    assert (result.prompts, result.errors) == ([], []), result.stdout
    assert shadow_hash(user.name) == before


@pytest.mark.parametrize("answer", [
    pytest.param(b"not a message at all", id="garbage"),
    pytest.param(reply(Status.INTERNAL_ERROR, "database is locked"), id="internal-error"),
    pytest.param(reply(Status.NOT_ENROLLED), id="not-enrolled-is-not-an-answer"),
    pytest.param(reply(Status.LOCKED, "Locked."), id="locked-is-not-an-answer"),
])
def test_an_unusable_answer_in_the_preliminary_phase_stops_the_change(pam, user, fake_listener,
                                                                       answer):
    listener = fake_listener(answer.hex())
    before = shadow_hash(user.name)

    result = change_as_root(passwd_stack(pam, listener.socket), user, new_password())

    assert result.chauthtok == "PAM_AUTHTOK_ERR", result.stdout
    assert result.prompts == [], result.stdout
    assert shadow_hash(user.name) == before


@pytest.mark.parametrize("answer", [
    pytest.param(b"not a message at all", id="garbage"),
    pytest.param(reply(Status.INTERNAL_ERROR, "database is locked"), id="internal-error"),
    pytest.param(reply(Status.PERMISSION_DENIED), id="permission-denied"),
    pytest.param(reply(Status.UNKNOWN_USER), id="unknown-user"),
])
def test_an_unusable_answer_after_the_change_fails_it_with_the_plain_message(
        pam, user, fake_listener, answer):
    listener = fake_listener(reply(Status.OK).hex(), answer.hex())
    password = new_password()

    result = change_as_root(passwd_stack(pam, listener.socket), user, password)

    assert result.chauthtok == "PAM_AUTHTOK_ERR", result.stdout
    assert result.errors == [NOT_TOLD], result.stdout
    assert logs_in_with(pam, user, password)


def test_the_module_reports_the_real_uid_of_a_setuid_caller(pam, user, fake_listener,
                                                            setuid_driver):
    # The daemon reads the real uid from /proc itself; the module's CallerUid is its fallback.
    listener = fake_listener(reply(Status.OK).hex(),
                             reply(Status.OK, count=2, device_count=0).hex(), record=True)
    password = new_password()

    as_user = passwd_stack(pam, listener.socket).run(
        user.name, [user.password, password, password], stage="chauthtok", service=PASSWD,
        as_user=user.name, driver=setuid_driver.path)
    as_root = change_as_root(pam, user, new_password())

    assert as_user.chauthtok == as_root.chauthtok == "PAM_SUCCESS", as_user.stdout
    assert as_user.infos[-1] == \
        "2 other sessions of this account ended; 0 trusted devices forgotten."
    requests = listener.requests()
    assert [message_type for message_type, _ in requests] == [
        MessageType.PASSWORD_CHANGE_CHECK, MessageType.PASSWORD_CHANGED] * 2
    assert requests[0][1] == {Field.USER: user.name, Field.SERVICE: PASSWD}
    assert requests[1][1] == {Field.USER: user.name, Field.SERVICE: PASSWD,
                              Field.CALLER_UID: user.uid}
    assert requests[3][1][Field.CALLER_UID] == 0


# --- the stack ---

def test_a_bad_option_on_the_last_line_stops_the_change_before_pam_unix_changes_anything(
        pam, daemon, user):
    pam.service(module_line("password", daemon.socket, control="requisite", mode="preauth"),
                "password [success=1 default=ignore] pam_unix.so obscure yescrypt",
                "password requisite pam_deny.so",
                module_line("password", daemon.socket, "debugg"), name=PASSWD)
    before = shadow_hash(user.name)

    result = change_as_root(pam, user, new_password())

    assert result.chauthtok == "PAM_AUTHTOK_ERR", result.stdout
    assert result.prompts == [], result.stdout
    assert shadow_hash(user.name) == before
    assert password_events(daemon, user) == []


@pytest.mark.parametrize("options", ["authfail", "preauth require_key"])
def test_options_with_no_meaning_in_the_password_stack_fail_it(pam, daemon, user, options):
    pam.service("password required pam_permit.so",
                module_line("password", daemon.socket, *options.split()), name=PASSWD)

    result = pam.run(user.name, stage="chauthtok", service=PASSWD)

    assert result.chauthtok == "PAM_AUTHTOK_ERR", result.stdout
