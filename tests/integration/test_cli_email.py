"""`fotoauthctl email set|clear|show` against the real fotoauthd.

Where alerts go is read back through `email show` (and the Status answer itself), so that a
change the CLI claims is one the daemon holds. With MFA on, a change needs a current code typed
at the prompt, as for the other changes to MFA; a wrong code or an address that is not plain
changes nothing. Root changes another account's address without a code.
"""
import json
import os
import subprocess

from support.enrolment import enrol, status, unused_code
from support.paths import FOTOAUTHCTL
from support.protocol import Field, MessageType, Status, request

PATTERN = "alert_address_pattern = %u@studio.example\n"


def ctl(daemon, *args, as_user=None, typed=""):
    command = [str(FOTOAUTHCTL), "--socket", str(daemon.socket), *args]
    if as_user:
        command = ["runuser", "-u", as_user, "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, input=typed,
                          env={**os.environ, "TZ": "UTC"})


def ctl_ok(daemon, *args, as_user=None, typed=""):
    result = ctl(daemon, *args, as_user=as_user, typed=typed)
    assert result.returncode == 0, (result.stdout, result.stderr, daemon.log())
    assert result.stderr == ""
    return result.stdout


def held_address(daemon, name):
    """(Email, EmailSource) of the daemon's Status answer."""
    answer = status(daemon.socket, name)
    assert answer.status == Status.OK
    return answer.get(Field.EMAIL), answer.get(Field.EMAIL_SOURCE)


def test_without_an_address_of_their_own_alerts_go_to_the_local_mailbox(daemon, user):
    shown = ctl_ok(daemon, "email", "show", as_user=user.name)

    assert shown == f"Alerts go to the local mailbox of {user.name} on this server\n"
    assert held_address(daemon, user.name) == (user.name, "local")
    assert json.loads(ctl_ok(daemon, "--json", "email", "show", as_user=user.name)) == {
        "user": user.name, "alert_address": user.name, "alert_address_source": "local"}


def test_set_with_a_code_then_clear_goes_back_to_the_sites_pattern(configured_daemon, user):
    daemon = configured_daemon(PATTERN)
    enrolment = enrol(daemon.socket, user.name)
    assert ctl_ok(daemon, "email", "show", as_user=user.name) == (
        f"Alerts go to {user.name}@studio.example (the site's default pattern)\n")

    changed = ctl_ok(daemon, "email", "set", "bob.alerts@example.org", as_user=user.name,
                     typed=enrolment.next_code() + "\n")

    assert "Code from the app: " in changed
    assert changed.endswith(f"Alerts for {user.name} go to bob.alerts@example.org from now on.\n")
    assert held_address(daemon, user.name) == ("bob.alerts@example.org", "user")
    assert ctl_ok(daemon, "email", "show", as_user=user.name) == (
        "Alerts go to bob.alerts@example.org (set by you)\n")
    assert ctl_ok(daemon, "email", "show", "--user", user.name) == (
        f"Alerts go to bob.alerts@example.org (set for {user.name})\n")

    # A recovery code confirms as well as a code from the app.
    cleared = ctl_ok(daemon, "email", "clear", as_user=user.name,
                     typed=enrolment.recovery_codes[0] + "\n")

    assert "alerts go to the site's default now" in cleared
    assert held_address(daemon, user.name) == (f"{user.name}@studio.example", "pattern")
    assert ctl_ok(daemon, "email", "show", as_user=user.name) == (
        f"Alerts go to {user.name}@studio.example (the site's default pattern)\n")


def test_a_wrong_code_changes_nothing(daemon, user):
    enrolment = enrol(daemon.socket, user.name)
    ctl_ok(daemon, "email", "set", "first@example.org", as_user=user.name,
           typed=enrolment.next_code() + "\n")

    refused = ctl(daemon, "email", "set", "second@example.org", as_user=user.name,
                  typed=unused_code(enrolment.secret) + "\n")

    assert refused.returncode == 1, refused
    assert "that code is wrong or was used already; alerts still go where they went" in \
        refused.stderr
    assert "from now on" not in refused.stdout
    assert held_address(daemon, user.name) == ("first@example.org", "user")
    assert ctl_ok(daemon, "email", "show", as_user=user.name) == (
        "Alerts go to first@example.org (set by you)\n")

    # No code typed at all: nothing is sent.
    silent = ctl(daemon, "email", "clear", as_user=user.name, typed="")
    assert silent.returncode == 2, silent
    assert "no code was typed; alerts still go where they went" in silent.stderr
    assert held_address(daemon, user.name) == ("first@example.org", "user")


def test_an_address_that_is_not_plain_is_refused_before_any_code_and_changes_nothing(daemon,
                                                                                     user):
    enrolment = enrol(daemon.socket, user.name)
    ctl_ok(daemon, "email", "set", "first@example.org", as_user=user.name,
           typed=enrolment.next_code() + "\n")

    behind_dashes = ctl(daemon, "email", "set", "--", "-oQ@x", as_user=user.name,
                        typed=enrolment.next_code() + "\n")
    as_option = ctl(daemon, "email", "set", "-oQ@x", as_user=user.name)
    two_addresses = ctl(daemon, "email", "set", "a@example.org,b@example.org", as_user=user.name)

    assert behind_dashes.returncode == 2, behind_dashes
    assert "'-oQ@x' is not a plain e-mail address: it starts with '-'. Nothing was changed." in \
        behind_dashes.stderr
    assert as_option.returncode == 2
    assert "an alert address cannot start with '-'" in as_option.stderr
    assert two_addresses.returncode == 2
    assert "is not a plain e-mail address" in two_addresses.stderr
    for result in (behind_dashes, as_option, two_addresses):
        assert result.stdout == ""  # not even the prompt for a code
    assert held_address(daemon, user.name) == ("first@example.org", "user")

    # The daemon refuses such an address on its own too, whoever sends it.
    direct = request(daemon.socket, MessageType.SET_EMAIL,
                     {Field.USER: user.name, Field.EMAIL: "-oQ@x"})
    assert direct.status == Status.BAD_REQUEST
    assert held_address(daemon, user.name) == ("first@example.org", "user")


def test_without_mfa_no_code_is_asked(daemon, user):
    changed = ctl_ok(daemon, "email", "set", "nomfa@example.org", as_user=user.name)

    assert "Code from the app" not in changed
    assert held_address(daemon, user.name) == ("nomfa@example.org", "user")


def test_root_sets_and_clears_another_accounts_address_without_a_code(daemon, user):
    enrol(daemon.socket, user.name)

    changed = ctl_ok(daemon, "email", "set", "helpdesk-set@example.org", "--user", user.name)

    assert "Code from the app" not in changed
    assert held_address(daemon, user.name) == ("helpdesk-set@example.org", "user")
    assert ctl_ok(daemon, "email", "show", as_user=user.name) == (
        "Alerts go to helpdesk-set@example.org (set by you)\n")

    ctl_ok(daemon, "email", "clear", "--user", user.name)
    assert held_address(daemon, user.name) == (user.name, "local")


def test_a_user_cannot_change_or_read_another_accounts_address(daemon, make_user):
    alice, bob = make_user(), make_user()
    ctl_ok(daemon, "email", "set", "bob@example.org", as_user=bob.name)

    for words in (["set", "alice@example.org"], ["clear"], ["show"]):
        result = ctl(daemon, "email", *words, "--user", bob.name, as_user=alice.name)
        assert result.returncode == 2, result
        assert "only root" in result.stderr
        assert result.stdout == ""
    assert held_address(daemon, bob.name) == ("bob@example.org", "user")


def test_misuse_is_explained_with_exit_2_and_email_help_shows_the_verbs(daemon, user):
    for words, message in ((["email"], "'email' needs a sub-command"),
                           (["email", "set"], "'email set' needs the address"),
                           (["email", "forward", "a@b"], "unknown 'email' sub-command"),
                           (["email", "clear", "--json"], "--json only applies to")):
        result = ctl(daemon, *words, as_user=user.name)
        assert result.returncode == 2, result
        assert message in result.stderr
        assert result.stdout == ""

    shown = ctl_ok(daemon, "email", "set", "--help", as_user=user.name)
    assert shown.startswith("Usage: fotoauthctl email set ADDRESS [--user NAME]\n")
    assert held_address(daemon, user.name) == (user.name, "local")
