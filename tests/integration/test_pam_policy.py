"""The site's group policy for MFA (require_mfa_groups, mfa_exempt_groups,
require_mfa_grace_until) at the account stage of the real pam_fotostudio.so, run by libpam
against the real fotoauthd, with real groups in /etc/group made for each test.

The module's account line sits behind pam_permit, so a module that wrongly ignored a refusal
would let the stack succeed: PAM_PERM_DENIED in the result is the module's own verdict. A user
the policy does not concern passes (the module ignores the login); a required user without MFA
is refused with how to enrol, or during the grace period let in with a warning and the date.
"""
import datetime
import os
import secrets
import subprocess

import pytest

from pam_harness import module_line
from support.enrolment import enrol
from support.paths import FOTOAUTHCTL

PERMIT = "account required pam_permit.so"
SERVICE = "fotostudio-test"
ENROL_ADVICE = "fotoauthctl mfa enable"


class ScratchGroup:
    """A real group with a unique name, removed afterwards."""

    def __init__(self):
        self.name = f"fstg{secrets.token_hex(4)}"
        subprocess.run(["groupadd", self.name], check=True)

    def add(self, account):
        subprocess.run(["gpasswd", "--add", account.name, self.name], check=True,
                       capture_output=True)
        return self

    def drop(self, account):
        subprocess.run(["gpasswd", "--delete", account.name, self.name], check=True,
                       capture_output=True)

    def remove(self):
        subprocess.run(["groupdel", self.name], check=False, capture_output=True)


@pytest.fixture
def make_group():
    made = []

    def factory():
        group = ScratchGroup()
        made.append(group)
        return group

    yield factory
    for group in made:
        group.remove()


def account_stage(pam, daemon, user_name):
    pam.service(PERMIT, module_line("account", daemon.socket), name=SERVICE)
    return pam.run(user_name, stage="account", service=SERVICE)


def status_page(daemon, user_name):
    result = subprocess.run([str(FOTOAUTHCTL), "--socket", str(daemon.socket), "status",
                             "--user", user_name], capture_output=True, text=True, timeout=30,
                            env={**os.environ, "TZ": "UTC", "LC_ALL": "C.UTF-8"})
    assert result.returncode == 0, (result.stdout, result.stderr, daemon.log())
    return result.stdout


def utc_day(days_from_today):
    today = datetime.datetime.now(datetime.timezone.utc).date()
    return (today + datetime.timedelta(days=days_from_today)).isoformat()


def test_a_member_of_a_required_group_without_mfa_is_refused_with_how_to_enrol(
        configured_daemon, user, make_group, pam):
    admins = make_group().add(user)
    daemon = configured_daemon(f"require_mfa_groups = {admins.name}\n")

    result = account_stage(pam, daemon, user.name)

    assert result.account == "PAM_PERM_DENIED", (result.stdout, daemon.log())
    [sentence] = result.errors
    assert ENROL_ADVICE in sentence and user.name in sentence, sentence
    assert result.infos == []
    assert "The site requires MFA for this account; logins without it are refused." in \
        status_page(daemon, user.name)


def test_a_user_outside_the_required_groups_passes_without_a_word(configured_daemon, user,
                                                                  make_user, make_group, pam):
    admins = make_group().add(make_user())
    daemon = configured_daemon(f"require_mfa_groups = {admins.name}\n")

    result = account_stage(pam, daemon, user.name)

    assert result.account == "PAM_SUCCESS", (result.stdout, daemon.log())
    assert (result.errors, result.infos) == ([], [])
    assert "requires MFA" not in status_page(daemon, user.name)


def test_membership_of_an_exempt_group_wins_over_a_required_one(configured_daemon, user,
                                                                make_group, pam):
    admins, robots = make_group().add(user), make_group().add(user)
    daemon = configured_daemon(f"require_mfa_groups = {admins.name}\n"
                               f"mfa_exempt_groups = {robots.name}\n")

    result = account_stage(pam, daemon, user.name)

    assert result.account == "PAM_SUCCESS", (result.stdout, daemon.log())
    assert (result.errors, result.infos) == ([], [])

    # Groups are read at each check: out of the exempt group, the requirement applies.
    robots.drop(user)
    refused = account_stage(pam, daemon, user.name)
    assert refused.account == "PAM_PERM_DENIED", (refused.stdout, daemon.log())


def test_before_the_grace_date_the_member_is_let_in_and_told_the_date(configured_daemon, user,
                                                                     make_group, pam):
    admins = make_group().add(user)
    grace = utc_day(30)
    daemon = configured_daemon(f"require_mfa_groups = {admins.name}\n"
                               f"require_mfa_grace_until = {grace}\n")

    result = account_stage(pam, daemon, user.name)

    assert result.account == "PAM_SUCCESS", (result.stdout, daemon.log())
    assert result.errors == []
    [warning] = result.infos
    assert grace in warning and ENROL_ADVICE in warning, warning
    assert "logins without it are let in until" in status_page(daemon, user.name)


def test_after_the_grace_date_the_member_is_refused(configured_daemon, user, make_group, pam):
    admins = make_group().add(user)
    daemon = configured_daemon(f"require_mfa_groups = {admins.name}\n"
                               f"require_mfa_grace_until = {utc_day(-1)}\n")

    result = account_stage(pam, daemon, user.name)

    assert result.account == "PAM_PERM_DENIED", (result.stdout, daemon.log())
    assert len(result.errors) == 1 and ENROL_ADVICE in result.errors[0]
    assert result.infos == []


def test_once_enrolled_the_member_logs_in_with_a_code(configured_daemon, user, make_group, pam):
    admins = make_group().add(user)
    daemon = configured_daemon(f"require_mfa_groups = {admins.name}\n")
    enrolment = enrol(daemon.socket, user.name)
    pam.service(module_line("auth", daemon.socket), PERMIT, module_line("account", daemon.socket),
                name=SERVICE)

    result = pam.run(user.name, [enrolment.next_code()], stage="auth+account", service=SERVICE)

    assert result.auth == "PAM_SUCCESS", (result.stdout, daemon.log())
    assert result.account == "PAM_SUCCESS", (result.stdout, daemon.log())
    assert (result.errors, result.infos) == ([], [])
    assert "The site requires MFA for this account.\n" in status_page(daemon, user.name)


def test_with_the_daemon_down_the_account_stage_fails_closed(configured_daemon, user, pam):
    daemon = configured_daemon()
    daemon.stop()

    result = account_stage(pam, daemon, user.name)

    assert result.account == "PAM_PERM_DENIED", result.stdout
