"""Trusted devices through the real libpam, the real fotoauthd and real accounts. A user in the
`new-device` mode who passed a code from a device is not asked again from it; a device is, by
default, the SSH public key that authenticated before keyboard-interactive, as sshd reports it in
SSH_AUTH_INFO_0 (pam-driver --env plays sshd's part). The stack is the recommended one for the
`sshd` service: the four auth lines, then the module's account and session lines.

"Asked for the code" means the code prompt after the password prompt; on a trusted device the
password is still asked (it is pam_unix's), the code is not."""
import time

import pytest

from daemon_admin import devices, forget_devices
from pam_harness import (CODE_PROMPT, PASSWORD_PROMPT, SOURCE, assert_logged_in, log_in,
                         login_stack, make_ssh_key, module_line)
from support.enrolment import enrol, set_mode, status, unused_code
from support.protocol import Field, Status

WRONG = "Wrong password or verification code."
ASKED = [PASSWORD_PROMPT, CODE_PROMPT]
NOT_ASKED = [PASSWORD_PROMPT]
DAY = 86400


@pytest.fixture
def new_device_user(daemon, user):
    """The `user` account, enrolled in the new-device mode."""
    return enrol(daemon.socket, user.name, mode="new-device")


@pytest.fixture
def sshd(pam, daemon):
    return login_stack(pam, daemon)


# --- what a device is ---

def test_a_key_that_passed_a_code_in_new_device_mode_is_not_asked_for_the_code_again(
        sshd, daemon, user, new_device_user, tmp_path):
    key = make_ssh_key(tmp_path)

    first = log_in(sshd, user, new_device_user.next_code(), key=key)
    second = log_in(sshd, user, key=key)

    assert_logged_in(first, ASKED)
    assert_logged_in(second, NOT_ASKED)
    # Each login has its own proof; the trusted one is as good as a code for the later stages.
    assert second.env["after auth"] != first.env["after auth"]
    [device] = devices(daemon.socket, user.name)
    assert (device.kind, device.label) == ("ssh-key", f"ssh-ed25519 {key.fingerprint}"), device
    assert status(daemon.socket, user.name).get(Field.DEVICE_COUNT) == 1


def test_another_key_is_asked_for_the_code_while_the_first_one_is_trusted(
        sshd, daemon, user, new_device_user, tmp_path):
    trusted, other = make_ssh_key(tmp_path, "trusted"), make_ssh_key(tmp_path, "other")
    assert_logged_in(log_in(sshd, user, new_device_user.next_code(), key=trusted), ASKED)

    from_other = log_in(sshd, user, new_device_user.recovery_codes[0], key=other)
    from_other_again = log_in(sshd, user, key=other)

    assert_logged_in(from_other, ASKED)
    # The other key passed a code of its own, so it is trusted now too.
    assert_logged_in(from_other_again, NOT_ASKED)
    assert sorted(device.label for device in devices(daemon.socket, user.name)) == sorted(
        f"ssh-ed25519 {key.fingerprint}" for key in (trusted, other))


def test_in_always_mode_the_same_key_is_asked_for_the_code_every_time(sshd, daemon, user,
                                                                      tmp_path):
    always = enrol(daemon.socket, user.name, mode="always")
    key = make_ssh_key(tmp_path)

    logins = [log_in(sshd, user, code, key=key) for code in always.recovery_codes[:3]]

    for result in logins:
        assert_logged_in(result, ASKED)
    assert devices(daemon.socket, user.name) == []


def test_a_password_login_without_a_key_trusts_no_device_by_default(sshd, daemon, user,
                                                                    new_device_user):
    # The source address is shared by everyone behind the same NAT, VPN or bastion; it names a
    # device only when the configuration says so.
    logins = [log_in(sshd, user, code) for code in new_device_user.recovery_codes[:3]]

    for result in logins:
        assert_logged_in(result, ASKED)
    assert devices(daemon.socket, user.name) == []


def test_with_trust_source_address_the_same_address_and_service_is_trusted_and_nothing_else(
        pam, configured_daemon, user):
    daemon = configured_daemon("trust_source_address = yes\n"
                               "device_trust_services = sshd, fotostudio-test\n")
    enrolment = enrol(daemon.socket, user.name, mode="new-device")
    login_stack(pam, daemon, service="sshd")
    login_stack(pam, daemon, service="fotostudio-test")
    codes = iter(enrolment.recovery_codes)
    assert_logged_in(log_in(pam, user, next(codes), rhost=SOURCE), ASKED)

    same = log_in(pam, user, rhost=SOURCE)
    other_address = log_in(pam, user, next(codes), rhost="198.51.100.8")
    other_service = log_in(pam, user, next(codes), rhost=SOURCE, service="fotostudio-test")

    assert_logged_in(same, NOT_ASKED)
    assert_logged_in(other_address, ASKED)
    assert_logged_in(other_service, ASKED)
    assert {(device.kind, device.label) for device in devices(daemon.socket, user.name)} == {
        ("address", f"{SOURCE} sshd"), ("address", "198.51.100.8 sshd"),
        ("address", f"{SOURCE} fotostudio-test")}


@pytest.mark.parametrize("service", ["sudo", "sudo-i", "su", "su-l"])
def test_sudo_and_su_ask_for_the_code_from_a_trusted_key_even_when_the_config_lists_them(
        pam, configured_daemon, user, tmp_path, service):
    daemon = configured_daemon(f"device_trust_services = sshd {service}\n")
    enrolment = enrol(daemon.socket, user.name, mode="new-device")
    login_stack(pam, daemon, service="sshd")
    login_stack(pam, daemon, service=service)
    key = make_ssh_key(tmp_path)
    assert_logged_in(log_in(pam, user, enrolment.next_code(), key=key), ASKED)
    assert_logged_in(log_in(pam, user, key=key), NOT_ASKED)

    raising = log_in(pam, user, enrolment.recovery_codes[0], key=key, service=service)

    assert_logged_in(raising, ASKED)


def test_beyond_the_configured_number_of_devices_the_least_recently_used_one_is_dropped(
        pam, configured_daemon, user, tmp_path):
    daemon = configured_daemon("max_devices_per_user = 2\n")
    enrolment = enrol(daemon.socket, user.name, mode="new-device")
    login_stack(pam, daemon)
    reused, idle, newest = (make_ssh_key(tmp_path, name) for name in ("reused", "idle", "newest"))
    codes = iter(enrolment.recovery_codes)
    # A second apart each, so that "last used" (whole seconds) orders them without ties.
    for key in (reused, idle):
        assert_logged_in(log_in(pam, user, next(codes), key=key), ASKED)
        time.sleep(1.1)
    assert_logged_in(log_in(pam, user, key=reused), NOT_ASKED)  # now "idle" is the least recent
    time.sleep(1.1)

    assert_logged_in(log_in(pam, user, next(codes), key=newest), ASKED)

    assert sorted(device.label for device in devices(daemon.socket, user.name)) == sorted(
        f"ssh-ed25519 {key.fingerprint}" for key in (reused, newest))
    assert_logged_in(log_in(pam, user, next(codes), key=idle), ASKED)


# --- how trust ends ---

def test_after_root_forgets_all_devices_of_the_user_the_key_is_asked_for_the_code_again(
        sshd, daemon, user, new_device_user, tmp_path):
    # Root's ForgetDevice without an id (fotoauthctl devices forget --all --user NAME); a
    # password change does the same (test_pam_password_stage.py).
    key = make_ssh_key(tmp_path)
    assert_logged_in(log_in(sshd, user, new_device_user.next_code(), key=key), ASKED)

    forgotten = forget_devices(daemon.socket, user.name)
    again = log_in(sshd, user, new_device_user.recovery_codes[0], key=key)

    assert forgotten.status == Status.OK and forgotten.get(Field.COUNT) == 1, forgotten
    assert_logged_in(again, ASKED)


def test_forgetting_one_device_by_its_listed_id_forgets_only_that_device(
        sshd, daemon, user, new_device_user, tmp_path):
    kept, dropped = make_ssh_key(tmp_path, "kept"), make_ssh_key(tmp_path, "dropped")
    codes = iter(new_device_user.recovery_codes)
    assert_logged_in(log_in(sshd, user, next(codes), key=kept), ASKED)
    assert_logged_in(log_in(sshd, user, next(codes), key=dropped), ASKED)
    [listed] = [device for device in devices(daemon.socket, user.name)
                if device.label.endswith(dropped.fingerprint)]

    forgotten = forget_devices(daemon.socket, user.name, listed.id)
    forgotten_again = forget_devices(daemon.socket, user.name, listed.id)
    with_dropped = log_in(sshd, user, next(codes), key=dropped)
    with_kept = log_in(sshd, user, key=kept)

    assert forgotten.status == Status.OK and forgotten.get(Field.COUNT) == 1, forgotten
    assert forgotten_again.status == Status.OK and forgotten_again.get(Field.COUNT) == 0
    assert_logged_in(with_dropped, ASKED)
    assert_logged_in(with_kept, NOT_ASKED)


def test_switching_to_always_mode_with_a_current_code_forgets_the_devices(
        sshd, daemon, user, new_device_user, tmp_path):
    key = make_ssh_key(tmp_path)
    assert_logged_in(log_in(sshd, user, new_device_user.next_code(), key=key), ASKED)

    changed = set_mode(daemon.socket, user.name, "always", new_device_user.recovery_codes[0])
    again = log_in(sshd, user, new_device_user.recovery_codes[1], key=key)
    # The code that confirmed the change is used up like a login code.
    with_spent_code = log_in(sshd, user, new_device_user.recovery_codes[0], key=key)

    assert changed.status == Status.OK, changed
    assert with_spent_code.auth == "PAM_AUTH_ERR", with_spent_code.stdout
    assert status(daemon.socket, user.name).get(Field.MODE) == "always"
    assert_logged_in(again, ASKED)
    assert devices(daemon.socket, user.name) == []


def test_switching_to_always_mode_with_a_wrong_code_changes_nothing(
        sshd, daemon, user, new_device_user, tmp_path):
    key = make_ssh_key(tmp_path)
    assert_logged_in(log_in(sshd, user, new_device_user.next_code(), key=key), ASKED)

    refused = set_mode(daemon.socket, user.name, "always", unused_code(new_device_user.secret))
    again = log_in(sshd, user, key=key)

    assert refused.status == Status.REJECTED, refused
    assert status(daemon.socket, user.name).get(Field.MODE) == "new-device"
    assert_logged_in(again, NOT_ASKED)


def test_trust_lasts_the_configured_days_from_the_code_and_later_logins_do_not_extend_it(
        pam, configured_daemon, user, tmp_path):
    # Nobody can wait a day in a test; the expiry the daemon stored shows the lifetime instead.
    daemon = configured_daemon("trusted_device_days = 1\n")
    enrolment = enrol(daemon.socket, user.name, mode="new-device")
    login_stack(pam, daemon)
    key = make_ssh_key(tmp_path)

    before = int(time.time())
    assert_logged_in(log_in(pam, user, enrolment.next_code(), key=key), ASKED)
    after = int(time.time())
    [trusted] = devices(daemon.socket, user.name)
    time.sleep(1.1)  # so that "last used" can move, in whole seconds
    assert_logged_in(log_in(pam, user, key=key), NOT_ASKED)
    [used_again] = devices(daemon.socket, user.name)

    assert before <= trusted.first_used <= after, trusted
    assert trusted.expires == trusted.first_used + DAY, trusted
    assert used_again.last_used > trusted.last_used, used_again
    assert (used_again.first_used, used_again.expires) == (trusted.first_used, trusted.expires)


# --- what a trusted device does not change ---

def test_a_wrong_password_on_a_trusted_key_fails_without_a_prompt_and_reads_like_a_wrong_code(
        sshd, daemon, user, new_device_user, tmp_path):
    trusted, untrusted = make_ssh_key(tmp_path, "trusted"), make_ssh_key(tmp_path, "untrusted")
    assert_logged_in(log_in(sshd, user, new_device_user.next_code(), key=trusted), ASKED)
    [before] = devices(daemon.socket, user.name)
    time.sleep(1.1)  # so that a use of the device would move "last used", in whole seconds

    wrong_password = sshd.run(user.name, ["not-" + user.password], stage="auth+account+session",
                              env=[trusted.auth_info], rhost=SOURCE, service="sshd")
    wrong_code = log_in(sshd, user, unused_code(new_device_user.secret), key=untrusted)

    assert wrong_password.auth == "PAM_AUTH_ERR", wrong_password.stdout
    assert wrong_password.prompts == NOT_ASKED, wrong_password.stdout
    assert wrong_password.env["after auth"] is None, wrong_password.stdout
    assert wrong_password.account is None and wrong_password.session is None
    assert wrong_code.auth == "PAM_AUTH_ERR", wrong_code.stdout
    assert wrong_password.errors == wrong_code.errors == [WRONG]
    # A failed login is no use of the trusted device.
    assert before in devices(daemon.socket, user.name)


def test_a_publickey_only_login_from_a_trusted_key_is_refused_by_the_account_stage(
        sshd, daemon, user, new_device_user, tmp_path):
    # With a public key alone sshd runs no auth stack: no code, and no question about the device
    # either. Trust spares the prompt of an auth stage that runs, never the auth stage itself.
    key = make_ssh_key(tmp_path)
    assert_logged_in(log_in(sshd, user, new_device_user.next_code(), key=key), ASKED)

    account = sshd.run(user.name, stage="account", env=[key.auth_info], rhost=SOURCE,
                       service="sshd")
    session = sshd.run(user.name, stage="session", env=[key.auth_info], rhost=SOURCE,
                       service="sshd")

    assert account.account == "PAM_PERM_DENIED", account.stdout
    assert len(account.errors) == 1 and "verification code" in account.errors[0], account.stdout
    assert session.session == "PAM_SESSION_ERR", session.stdout


def test_a_program_running_as_the_user_is_asked_for_the_code_with_a_trusted_keys_auth_info(
        public_pam, daemon, user, new_device_user, tmp_path):
    # SSH_AUTH_INFO_0 is only believed from root (sshd itself): anything running as the user can
    # put any text into its own PAM environment.
    key = make_ssh_key(tmp_path)
    login_stack(public_pam, daemon)
    assert_logged_in(log_in(public_pam, user, new_device_user.next_code(), key=key), ASKED)
    public_pam.service("auth required pam_permit.so", module_line("auth", daemon.socket),
                       name="sshd")

    from_root = public_pam.run(user.name, env=[key.auth_info], service="sshd")
    as_user = public_pam.run(user.name, [new_device_user.recovery_codes[0]],
                             env=[key.auth_info], service="sshd", as_user=user.name)

    assert (from_root.auth, from_root.prompts) == ("PAM_SUCCESS", []), from_root.stdout
    assert (as_user.auth, as_user.prompts) == ("PAM_SUCCESS", [CODE_PROMPT]), as_user.stdout


def test_a_code_typed_in_a_program_running_as_the_user_trusts_no_device(
        public_pam, daemon, user, new_device_user, tmp_path):
    key = make_ssh_key(tmp_path)
    public_pam.service("auth required pam_permit.so", module_line("auth", daemon.socket),
                       name="sshd")

    as_user = public_pam.run(user.name, [new_device_user.next_code()], env=[key.auth_info],
                             service="sshd", as_user=user.name)
    listed_after_the_users_code = devices(daemon.socket, user.name)
    from_root = public_pam.run(user.name, [new_device_user.recovery_codes[0]],
                               env=[key.auth_info], service="sshd")

    assert (as_user.auth, as_user.prompts) == ("PAM_SUCCESS", [CODE_PROMPT]), as_user.stdout
    assert listed_after_the_users_code == []
    # The same key, from root, is still asked: the user's code made nothing trusted.
    assert (from_root.auth, from_root.prompts) == ("PAM_SUCCESS", [CODE_PROMPT]), \
        from_root.stdout
