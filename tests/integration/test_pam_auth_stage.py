"""The auth stage of pam_fotostudio.so through the real libpam, against the real fotoauthd and
real accounts. Codes come from oathtool, recovery codes from the daemon's enrolment answer."""
import subprocess

from pam_harness import module_line
from support.enrolment import status, unused_code
from support.protocol import Field

PROMPT = "Verification code or recovery code: "
WRONG = "Wrong or already used code."


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


def test_unknown_user_is_reported_without_asking_for_a_code(pam, daemon, unknown_name):
    result = only_module(pam, daemon).run(unknown_name)

    assert result.auth == "PAM_USER_UNKNOWN", result.stdout
    assert result.prompts == []


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
    # The auth lines of etc/pam.d/sshd-fotostudio, with the real pam_unix.
    pam.service("auth required pam_env.so", "auth required pam_unix.so",
                module_line("auth", daemon.socket))

    wrong_code = pam.run(user.name, [user.password, unused_code(enrolled.secret)])
    wrong_password = pam.run(user.name, ["not-" + user.password, enrolled.recovery_codes[0]])
    both_right = pam.run(user.name, [user.password, enrolled.next_code()])

    assert wrong_code.auth == "PAM_AUTH_ERR", wrong_code.stdout
    # pam_unix is `required`, not `requisite`: the code prompt comes either way, so it does not
    # tell whether the password was right.
    assert wrong_password.prompts[-1] == PROMPT, wrong_password.stdout
    assert wrong_password.auth == "PAM_AUTH_ERR", wrong_password.stdout
    assert both_right.auth == "PAM_SUCCESS", both_right.stdout
