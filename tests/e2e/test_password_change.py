"""End to end: a password change ends the user's other sessions and forgets the user's trusted
devices (docs/password-change.md), over real sshds, with the real `passwd`.

The "password" sshd uses the recommended etc/pam.d/sshd-fotostudio (password, then the code)
with its `@include common-password` replaced by etc/pam.d/common-password-fotostudio. Its
session part has pam_loginuid, as Debian's /etc/pam.d/sshd has: each login gets an audit session,
which is how the daemon tells the user's sessions apart when logind does not run. For sessions
that run no shell it also serves sftp (internal-sftp) and lets a client forward a port of
127.0.0.1 to the sshd's own port, and nowhere else (ssh -N -L). `passwd`, started in a session,
reads /etc/pam.d/passwd: in that sshd's mount namespace this file is common-password-fotostudio
too, while the machine's own file stays untouched (private_sshd.PrivateSshd,
namespace_services). The "keys" sshd (a key, then the code; the shipped
etc/pam.d/sshd-fotostudio-keys) asks the same daemon, so that a key trusted before the change can
be seen being asked again.

Every wait is bounded; a session that should end must end within SESSION_END_LIMIT seconds of
the change (the daemon sends SIGTERM at once and SIGKILL three seconds later).
"""
import secrets
import time

import pytest

from support.paths import PAM_MODULE

from cli_enrolment import enable_mfa, totp
from client_keys import authorize
from login_rig import SshdSpec, start_multi_rig, stop_multi_rig
from password_change import (CURRENT_PROMPT, NEW_PROMPT, RETYPE_PROMPT, UPDATED, chpasswd,
                             passwd_as_root)
from private_sshd import (keys_sshd_stack, password_stack, recommended_sshd_stack,
                          with_password_stack)

SESSION_END_LIMIT = 10
# The daemon sends SIGKILL this long after SIGTERM to what is left of an ended session; a session
# that must stay is checked after it, so that a late SIGKILL would be seen too.
KILL_GRACE = 3 + 1
# Long enough that a session still running at the end was not ended by its own command.
LONG_COMMAND = "sleep 300"


def password_sshd_stack(module, socket_path):
    return with_password_stack(recommended_sshd_stack(module, socket_path), module, socket_path)


@pytest.fixture(scope="module")
def rig():
    running = start_multi_rig({
        "password": SshdSpec(password_sshd_stack, namespace_services={"passwd": password_stack},
                             forward_to_itself=True, sftp=True),
        "keys": SshdSpec(keys_sshd_stack, methods="publickey,keyboard-interactive"),
    })
    yield running
    stop_multi_rig(running)


def new_password():
    # Unlike the old one in every way pam_unix's `obscure` checks.
    return "Nw7" + secrets.token_urlsafe(12) + "!q"


def open_session(rig, sessions, user, code, label, **options):
    """Logs in to the password sshd and keeps the session; fails the test when it cannot."""
    session = rig.session(user, code=code, via="password", label=label, **options)
    sessions.append(session)
    assert session.open(), f"{label} did not open\n" + rig.explain(session)
    return session


def open_quiet_session(rig, sessions, session):
    """Logs in a session that runs no shell (ssh_sessions.ForwardSession, SftpSession)."""
    sessions.append(session)
    assert session.open(), f"{session.label} did not open\n" + rig.explain(session)
    return session


def change_password_in(rig, session, user, *others):
    """Runs passwd in session (a shell of user) and answers it; returns when passwd said it
    changed the password, with the time.monotonic() of the last answer."""
    password = new_password()
    session.type_line("passwd")
    typed = (session.answer(CURRENT_PROMPT, user.password) and
             session.answer(NEW_PROMPT, password) and
             session.answer(RETYPE_PROMPT, password))
    assert typed, "passwd did not ask as expected\n" + rig.explain(session, *others)
    changed_at = time.monotonic()
    assert session.expect(UPDATED), "passwd should succeed\n" + rig.explain(session, *others)
    return changed_at


def assert_ends_in_time(rig, session, since, *others):
    ended = session.wait_closed(timeout=max(0.1, since + SESSION_END_LIMIT - time.monotonic()))
    assert ended, (f"{session.label} should have ended within {SESSION_END_LIMIT} s\n" +
                   rig.explain(session, *others))


def test_passwd_in_one_session_ends_the_other_keeps_this_one_and_forgets_keys(
        rig, make_user, keyring, sessions):
    user = make_user()
    key_a = keyring.make("a")
    authorize(user.name, [key_a])
    enrolment = enable_mfa(user.name, rig.daemon.socket, mode="new-device")
    codes = iter(enrolment.recovery_codes)

    # Key A becomes a trusted device: its second login is not asked.
    trusted = rig.login(user, code=totp(enrolment.secret, offset_steps=1), identity=key_a.path,
                        via="keys")
    assert trusted.logged_in, rig.explain(trusted)
    trusted_again = rig.login(user, identity=key_a.path, via="keys")
    assert trusted_again.logged_in and not trusted_again.prompts, rig.explain(trusted_again)

    first = open_session(rig, sessions, user, next(codes), "session 1 (shell)", shell=True)
    second = open_session(rig, sessions, user, next(codes), "session 2 (sleep)",
                          command=LONG_COMMAND)

    changed_at = change_password_in(rig, first, user, second)

    assert_ends_in_time(rig, second, changed_at, first)
    time.sleep(max(0, changed_at + KILL_GRACE - time.monotonic()))
    assert first.is_open(), "session 1 ran passwd and must stay\n" + rig.explain(first, second)
    assert first.run("echo STILL-HERE-$(id -un)", rf"STILL-HERE-{user.name}\r?\n"), (
        "session 1 should still run commands\n" + rig.explain(first, second))

    after = rig.login(user, code=next(codes), identity=key_a.path, via="keys")
    assert after.code_prompt_shown, ("the key trusted before the change should be asked\n" +
                                     rig.explain(after))
    assert after.logged_in, rig.explain(after)


def test_passwd_also_ends_an_ssh_n_forward_and_an_sftp_session_and_keeps_its_shell(
        rig, make_user, sessions):
    user = make_user()
    enrolment = enable_mfa(user.name, rig.daemon.socket)
    codes = iter(enrolment.recovery_codes)
    shell = open_session(rig, sessions, user, totp(enrolment.secret, offset_steps=1),
                         "shell session", shell=True)
    # Sessions without a shell or a command: only sshd's processes serve them.
    forward = open_quiet_session(rig, sessions, rig.forward_session(
        user, code=next(codes), via="password", label="ssh -N forward"))
    sftp = open_quiet_session(rig, sessions, rig.sftp_session(
        user, code=next(codes), via="password", label="sftp session"))

    changed_at = change_password_in(rig, shell, user, forward, sftp)

    assert_ends_in_time(rig, forward, changed_at, shell, sftp)
    assert_ends_in_time(rig, sftp, changed_at, shell, forward)
    assert not forward.forward_answers(), ("the forwarded port should be closed\n" +
                                           rig.explain(forward))
    time.sleep(max(0, changed_at + KILL_GRACE - time.monotonic()))
    assert shell.is_open(), "the shell ran passwd and must stay\n" + rig.explain(shell)
    assert shell.run("echo STILL-HERE-$(id -un)", rf"STILL-HERE-{user.name}\r?\n"), (
        "the shell should still run commands\n" + rig.explain(shell, forward, sftp))


def test_root_running_passwd_for_the_user_ends_every_session_of_the_user(rig, make_user,
                                                                         sessions):
    user = make_user()
    enrolment = enable_mfa(user.name, rig.daemon.socket, mode="new-device")
    first = open_session(rig, sessions, user, totp(enrolment.secret, offset_steps=1),
                         "session 1 (shell)", shell=True)
    second = open_session(rig, sessions, user, enrolment.recovery_codes[0], "session 2 (sleep)",
                          command=LONG_COMMAND)

    changed = passwd_as_root(user.name, new_password(),
                             password_stack(PAM_MODULE, rig.daemon.socket))
    changed_at = time.monotonic()

    assert changed.succeeded, changed.describe() + "\n" + rig.explain(first, second)
    assert_ends_in_time(rig, first, changed_at, second)
    assert_ends_in_time(rig, second, changed_at, first)


def test_password_set_outside_pam_ends_the_open_session_at_the_next_login(rig, make_user,
                                                                          sessions):
    user = make_user()
    enrolment = enable_mfa(user.name, rig.daemon.socket, mode="new-device")
    earlier = open_session(rig, sessions, user, totp(enrolment.secret, offset_steps=1),
                           "earlier session (sleep)", command=LONG_COMMAND)

    user.password = new_password()
    chpasswd(user.name, user.password)
    # Nothing has told the daemon yet: the session runs on until the user's next login.
    assert earlier.is_open(), rig.explain(earlier)

    logged_in_at = time.monotonic()
    login = rig.login(user, code=enrolment.recovery_codes[0], via="password")

    assert login.logged_in, "the new password should log in\n" + rig.explain(login, earlier)
    assert_ends_in_time(rig, earlier, logged_in_at, login)
