"""The warning at login when few recovery codes are left: pam_fotostudio.so through the real
libpam, against the real fotoauthd, with real accounts. The daemon adds CodesLeft to its answer
to a right code when 2 or fewer unused recovery codes remain; the module shows it as an info
message (never with PAM_SILENT), and the login passes just the same."""
from pam_harness import assert_logged_in, log_in, login_stack, module_line
from support.enrolment import status
from support.protocol import Field

CODE_PROMPT = "Verification code or recovery code: "
PASSWORD_PROMPT = "Password: "
HINT = "Make new ones with: fotoauthctl recovery-codes regenerate"


def only_module(pam, daemon):
    return pam.service(module_line("auth", daemon.socket))


def spend_recovery_codes(pam, enrolled, count):
    """Logs in `count` times, each with the next unused recovery code; returns what each login
    showed as info messages."""
    shown = []
    for code in enrolled.recovery_codes[:count]:
        result = pam.run(enrolled.user, [code])
        assert result.auth == "PAM_SUCCESS", result.stdout
        assert result.errors == [], result.stdout
        shown.append(result.infos)
    return shown


def test_user_with_all_ten_recovery_codes_sees_no_warning(pam, daemon, enrolled):
    result = only_module(pam, daemon).run(enrolled.user, [enrolled.next_code()])

    assert result.auth == "PAM_SUCCESS", result.stdout
    assert result.infos == [], result.stdout
    assert result.errors == [], result.stdout


def test_three_recovery_codes_left_is_not_yet_worth_a_warning(pam, daemon, enrolled):
    only_module(pam, daemon)
    spend_recovery_codes(pam, enrolled, 7)

    result = pam.run(enrolled.user, [enrolled.next_code()])

    assert result.auth == "PAM_SUCCESS", result.stdout
    assert result.infos == [], result.stdout
    assert status(daemon.socket, enrolled.user).get(Field.CODES_LEFT) == 3


def test_login_with_a_verification_code_warns_when_two_recovery_codes_are_left(pam, daemon, user,
                                                                                 enrolled):
    # The whole sshd stack (password, code, account, session): the warning changes no result.
    only_module(pam, daemon)
    spend_recovery_codes(pam, enrolled, 8)
    login_stack(pam, daemon)

    result = log_in(pam, user, enrolled.next_code())

    assert_logged_in(result, [PASSWORD_PROMPT, CODE_PROMPT])
    assert result.infos == ["Only 2 recovery codes are left. " + HINT], result.stdout
    assert status(daemon.socket, enrolled.user).get(Field.CODES_LEFT) == 2


def test_silent_login_shows_no_warning_and_still_succeeds(pam, daemon, enrolled):
    only_module(pam, daemon)
    spend_recovery_codes(pam, enrolled, 8)

    result = pam.run(enrolled.user, [enrolled.next_code()], silent=True)

    assert result.auth == "PAM_SUCCESS", result.stdout
    assert result.infos == [], result.stdout
    assert result.errors == [], result.stdout
    assert result.env["after auth"], "no proof for the later stages: " + result.stdout


def test_logins_with_the_last_recovery_codes_count_down_to_none(pam, daemon, enrolled):
    only_module(pam, daemon)

    shown = spend_recovery_codes(pam, enrolled, 10)

    assert shown[:7] == [[]] * 7, shown
    assert shown[7:] == [["Only 2 recovery codes are left. " + HINT],
                         ["Only 1 recovery code is left. " + HINT],
                         ["No recovery codes are left. " + HINT]], shown


def test_wrong_code_with_few_recovery_codes_left_shows_only_the_refusal(pam, daemon, enrolled):
    only_module(pam, daemon)
    spend_recovery_codes(pam, enrolled, 8)

    # A spent recovery code: the daemon refuses it, and nothing about codes left is shown.
    result = pam.run(enrolled.user, [enrolled.recovery_codes[0]])

    assert result.auth == "PAM_AUTH_ERR", result.stdout
    assert result.infos == [], result.stdout
    assert result.errors == ["Wrong password or verification code."], result.stdout
