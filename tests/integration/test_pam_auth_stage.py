"""The auth stage of pam_fotostudio.so through the real libpam, against the real fotoauthd and
real accounts. Codes come from oathtool, recovery codes from the daemon's enrolment answer."""
import os
import subprocess

from pam_harness import SERVICE, module_line, recommended_auth_lines
from support.enrolment import enrol, status, unused_code
from support.paths import PAM_CANCEL
from support.protocol import Field

PROMPT = "Verification code or recovery code: "
PASSWORD_PROMPT = "Password: "
# One message for a wrong code, whether the password before it was right or wrong.
WRONG = "Wrong password or verification code."


def only_module(pam, daemon):
    return pam.service(module_line("auth", daemon.socket))


def test_right_code_succeeds_and_hands_a_nonce_to_the_session_stage(pam, daemon, enrolled):
    result = only_module(pam, daemon).run(enrolled.user, [enrolled.next_code()],
                                          rhost="127.0.0.1")

    assert result.auth == "PAM_SUCCESS", result.stdout
    assert result.prompts == [PROMPT]
    assert result.errors == []
    # Long enough that nobody guesses another login's proof.
    assert len(result.env["after auth"] or "") >= 16, result.stdout


def test_wrong_code_fails_and_tells_the_user(pam, daemon, enrolled):
    result = only_module(pam, daemon).run(enrolled.user, [unused_code(enrolled.secret)])

    assert result.auth == "PAM_AUTH_ERR", result.stdout
    assert result.errors == [WRONG]
    assert result.env["after auth"] is None


def test_failed_attempt_leaves_no_earlier_proof_behind(pam, daemon, enrolled):
    result = only_module(pam, daemon).run(enrolled.user, [unused_code(enrolled.secret)],
                                          env=["FOTOSTUDIO_AUTH=" + "ab" * 16])

    assert result.auth == "PAM_AUTH_ERR", result.stdout
    assert result.env["after auth"] is None


def test_right_code_replayed_in_a_second_transaction_fails(pam, daemon, enrolled):
    code = enrolled.next_code()
    only_module(pam, daemon)

    first = pam.run(enrolled.user, [code])
    second = pam.run(enrolled.user, [code])

    assert first.auth == "PAM_SUCCESS", first.stdout
    assert second.auth == "PAM_AUTH_ERR", second.stdout
    assert second.errors == [WRONG]


def test_recovery_code_works_once_in_any_spelling(pam, daemon, enrolled):
    dashed, other = enrolled.recovery_codes[0], enrolled.recovery_codes[1]
    assert "-" in dashed
    only_module(pam, daemon)

    def plain(code):
        return code.replace("-", "").lower()

    assert pam.run(enrolled.user, [dashed]).auth == "PAM_SUCCESS"
    assert pam.run(enrolled.user, [dashed]).auth == "PAM_AUTH_ERR"
    assert pam.run(enrolled.user, [plain(dashed)]).auth == "PAM_AUTH_ERR"

    assert pam.run(enrolled.user, [plain(other)]).auth == "PAM_SUCCESS"
    assert pam.run(enrolled.user, [other]).auth == "PAM_AUTH_ERR"

    assert status(daemon.socket, enrolled.user).get(Field.CODES_LEFT) == 8


def test_user_who_did_not_enrol_is_ignored_so_the_rest_of_the_stack_decides(pam, daemon, user):
    # libpam does not show one module's return code, so two stacks pin it down. Alone, the
    # module's PAM_IGNORE leaves the stack without any module that said yes, and libpam answers
    # PAM_PERM_DENIED: ignoring never grants access. Behind a module that succeeds, the stack
    # succeeds, so the module neither failed nor asked for a code. Only PAM_IGNORE gives both.
    alone = only_module(pam, daemon).run(user.name)
    behind_permit = pam.service("auth required pam_permit.so",
                                module_line("auth", daemon.socket)).run(user.name)

    assert alone.auth == "PAM_PERM_DENIED", alone.stdout
    assert behind_permit.auth == "PAM_SUCCESS", behind_permit.stdout
    assert alone.prompts == [] and behind_permit.prompts == []


def test_unknown_user_is_ignored_exactly_like_a_user_who_did_not_enrol(pam, daemon, user,
                                                                        unknown_name):
    # This module used to answer PAM_USER_UNKNOWN for a name that is no account, which told
    # whoever typed it that the account does not exist. Now an unknown name gets what an existing
    # user without MFA gets: PAM_IGNORE (the same two stacks pin it down), no prompt, no message.
    def both_stacks(name):
        alone = only_module(pam, daemon).run(name)
        behind_permit = pam.service("auth required pam_permit.so",
                                    module_line("auth", daemon.socket)).run(name)
        return [(r.auth, r.prompts, r.errors, r.infos) for r in (alone, behind_permit)]

    unknown = both_stacks(unknown_name)

    assert unknown == [("PAM_PERM_DENIED", [], [], []), ("PAM_SUCCESS", [], [], [])], unknown
    assert unknown == both_stacks(user.name)


def test_password_given_again_at_the_code_prompt_is_not_sent_to_the_daemon(pam, daemon,
                                                                           enrolled):
    # sshd with KbdInteractiveAuthentication off answers every prompt with the password. Here the
    # password is the code the app shows, so if the module sent it, the daemon would accept and
    # spend it: the refusal, and the same code working afterwards, show it stayed local.
    code = enrolled.next_code()
    subprocess.run(["chpasswd"], input=f"{enrolled.user}:{code}\n", text=True, check=True)
    pam.service("auth required pam_unix.so", module_line("auth", daemon.socket))

    echoed = pam.run(enrolled.user, [code, code])

    assert echoed.prompts[-1] == PROMPT and len(echoed.prompts) == 2, echoed.stdout
    assert echoed.auth == "PAM_AUTH_ERR", echoed.stdout
    assert echoed.env["after auth"] is None

    afterwards = only_module(pam, daemon).run(enrolled.user, [code])
    assert afterwards.auth == "PAM_SUCCESS", afterwards.stdout


def test_no_answer_from_the_conversation_is_a_conversation_error(pam, daemon, enrolled):
    result = only_module(pam, daemon).run(enrolled.user, null_response=True)

    assert result.prompts == [PROMPT]
    assert result.auth == "PAM_CONV_ERR", result.stdout


def test_code_with_fullwidth_digits_or_a_space_is_refused(pam, daemon, enrolled):
    code = enrolled.next_code()
    fullwidth = "".join(chr(ord(digit) - ord("0") + ord("\uff10")) for digit in code)
    spaced = code[:3] + " " + code[3:]
    only_module(pam, daemon)

    assert pam.run(enrolled.user, [fullwidth]).auth == "PAM_AUTH_ERR"
    assert pam.run(enrolled.user, [spaced]).auth == "PAM_AUTH_ERR"
    assert pam.run(enrolled.user, [" " + code]).auth == "PAM_AUTH_ERR"
    # The code itself was good all along: the refusals were about its form.
    assert pam.run(enrolled.user, [code]).auth == "PAM_SUCCESS"


def test_empty_answer_is_refused(pam, daemon, enrolled):
    result = only_module(pam, daemon).run(enrolled.user, [""])

    assert result.auth == "PAM_AUTH_ERR", result.stdout
    assert result.errors == [WRONG]


def test_recommended_sshd_stack_needs_both_the_password_and_the_code(pam, daemon, user,
                                                                      enrolled):
    pam.service(*recommended_auth_lines(daemon.socket))

    wrong_code = pam.run(user.name, [user.password, unused_code(enrolled.secret)])
    wrong_password = pam.run(user.name, ["not-" + user.password, enrolled.recovery_codes[0]])
    both_right = pam.run(user.name, [user.password, enrolled.next_code()])

    assert wrong_code.auth == "PAM_AUTH_ERR", wrong_code.stdout
    assert wrong_password.auth == "PAM_AUTH_ERR", wrong_password.stdout
    assert both_right.auth == "PAM_SUCCESS", both_right.stdout
    assert both_right.prompts == [PASSWORD_PROMPT, PROMPT], both_right.stdout


def test_recommended_stack_does_not_tell_a_wrong_password_from_a_wrong_code(pam, daemon, user,
                                                                             enrolled):
    # After a wrong password the authfail line still asks for the code, and every refusal reads
    # the same, so that someone guessing passwords learns nothing from the code prompt, not even
    # when the code they type is right.
    pam.service(*recommended_auth_lines(daemon.socket))
    wrong = unused_code(enrolled.secret)

    wrong_code = pam.run(user.name, [user.password, wrong])
    both_wrong = pam.run(user.name, ["not-" + user.password, wrong])
    right_code_only = pam.run(user.name, ["not-" + user.password, enrolled.next_code()])

    for result in (wrong_code, both_wrong, right_code_only):
        assert (result.auth, result.prompts, result.errors, result.infos) == (
            "PAM_AUTH_ERR", [PASSWORD_PROMPT, PROMPT], [WRONG], []), result.stdout


def test_right_code_after_a_wrong_password_fails_and_is_not_used_up(pam, daemon, user, enrolled):
    # The authfail line lets the daemon judge the code without accepting it: a right code typed
    # after a wrong password must neither let the user in nor be spent, or the owner's next
    # attempt with the right password and the same code would fail.
    pam.service(*recommended_auth_lines(daemon.socket))
    code = enrolled.next_code()

    after_wrong_password = pam.run(user.name, ["not-" + user.password, code])
    after_right_password = pam.run(user.name, [user.password, code])

    assert after_wrong_password.auth == "PAM_AUTH_ERR", after_wrong_password.stdout
    assert after_wrong_password.errors == [WRONG]
    assert after_wrong_password.env["after auth"] is None
    assert after_right_password.auth == "PAM_SUCCESS", after_right_password.stdout


def test_credentials_are_established_after_a_login_through_the_recommended_stack(
        pam, daemon, user, make_user):
    # Regression: pam_setcred walks the auth lines again, and the module used to answer it with
    # PAM_IGNORE. For a user without MFA no line but preauth then counted as a success (the
    # password module's jump does not), so libpam answered PAM_PERM_DENIED and sshd dropped the
    # connection right after "Accepted keyboard-interactive/pam".
    enrolled_user = make_user()
    enrolment = enrol(daemon.socket, enrolled_user.name)
    pam.service(*recommended_auth_lines(daemon.socket))

    without_mfa = pam.run(user.name, [user.password])
    with_mfa = pam.run(enrolled_user.name, [enrolled_user.password, enrolment.next_code()])

    assert (without_mfa.auth, without_mfa.setcred) == ("PAM_SUCCESS", "PAM_SUCCESS"), \
        without_mfa.stdout
    assert (with_mfa.auth, with_mfa.setcred) == ("PAM_SUCCESS", "PAM_SUCCESS"), with_mfa.stdout


def test_user_without_mfa_in_the_recommended_stack_needs_only_the_password(pam, daemon, user):
    pam.service(*recommended_auth_lines(daemon.socket))

    right = pam.run(user.name, [user.password])
    wrong = pam.run(user.name, ["not-" + user.password])

    assert (right.auth, right.prompts) == ("PAM_SUCCESS", [PASSWORD_PROMPT]), right.stdout
    # After a wrong password the authfail line fails at once, without a code prompt: exactly
    # what a name that is no account gets (test_pam_limits.py compares the two).
    assert (wrong.auth, wrong.prompts, wrong.errors) == ("PAM_AUTH_ERR", [PASSWORD_PROMPT], []), \
        wrong.stdout


def test_a_thread_cancelled_at_the_code_prompt_ends_and_the_process_goes_on(pam, daemon, enrolled):
    """A threaded application cancels the thread that waits at the code prompt: the thread ends
    as cancelled, through the module, and the process lives on (no abort, no hang)."""
    only_module(pam, daemon)
    # libpam refuses pam_end for a transaction whose module call never returned, so the
    # cancelled thread's handle stays allocated, by libpam's rule; in the sanitized build that
    # would be reported as the application's leak. (Without a sanitizer the option is ignored.)
    options = os.environ.get("ASAN_OPTIONS", "")
    environment = {**os.environ, "ASAN_OPTIONS": (options + ":" if options else "") +
                   "detect_leaks=0"}
    result = subprocess.run([str(PAM_CANCEL), "--confdir", str(pam.confdir), "--service",
                             SERVICE, "--user", enrolled.user],
                            capture_output=True, text=True, timeout=30, env=environment)
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    assert result.stdout.splitlines() == ["cancelled", "alive"], result.stdout
