"""The module's modes (preauth, authfail, the code stage) as libpam runs them: what each sends to
the daemon, what it shows, and what it returns for answers the real daemon only sends when
something broke. fake_listener.py stands in for the daemon here and records the requests; the
behaviour against the real daemon is in test_pam_limits.py and test_pam_auth_stage.py."""
from pam_harness import module_line
from support.protocol import Field, MessageType, Status, reply

PERMIT = "auth required pam_permit.so"
CODE_PROMPT = "Verification code or recovery code: "
WRONG = "Wrong password or verification code."
KEY_INFO = "publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyBlobForTheTests0123\n"


def hexed(*answers):
    return [answer.hex() for answer in answers]


def types(requests):
    return [message_type for message_type, _ in requests]


def test_preauth_sends_only_preauth_and_never_prompts(pam, user, fake_listener):
    listener = fake_listener(*hexed(reply(Status.OK)), record=True)
    pam.service(module_line("auth", listener.socket, mode="preauth"))

    result = pam.run(user.name, rhost="198.51.100.7")

    assert result.auth == "PAM_SUCCESS", result.stdout
    assert result.prompts == [] and result.errors == []
    [(message_type, fields)] = listener.requests()
    assert message_type == MessageType.PREAUTH
    assert fields[Field.USER] == user.name and fields[Field.REMOTE_HOST] == "198.51.100.7"


def test_code_stage_after_a_preauth_line_does_not_count_the_attempt_again(pam, user,
                                                                         fake_listener):
    listener = fake_listener(*hexed(reply(Status.OK), reply(Status.NOT_ENROLLED)), record=True)
    pam.service(module_line("auth", listener.socket, control="requisite", mode="preauth"),
                PERMIT, module_line("auth", listener.socket))

    result = pam.run(user.name)

    assert result.auth == "PAM_SUCCESS", result.stdout
    requests = listener.requests()
    assert types(requests) == [MessageType.PREAUTH, MessageType.AUTH_QUERY]
    assert Field.COUNT_ATTEMPT not in requests[1][1], requests


def test_each_authenticate_call_is_counted_even_when_the_stack_has_no_preauth_line(
        pam, user, fake_listener):
    # Without a preauth line the code stage's query asks the daemon to count the attempt (as
    # Preauth would), every time, in the same round trip.
    listener = fake_listener(*hexed(reply(Status.NOT_ENROLLED)) * 2, record=True)
    pam.service(PERMIT, module_line("auth", listener.socket))

    pam.run(user.name)
    pam.run(user.name)

    requests = listener.requests()
    assert types(requests) == [MessageType.AUTH_QUERY] * 2
    assert [fields.get(Field.COUNT_ATTEMPT) for _, fields in requests] == [1, 1], requests


def test_a_refusal_of_the_counting_query_stops_before_any_prompt(pam, user, fake_listener):
    listener = fake_listener(*hexed(reply(Status.RATE_LIMITED, text="Too many logins. Wait.")),
                             record=True)
    pam.service(PERMIT, module_line("auth", listener.socket))

    result = pam.run(user.name, ["123456"], rhost="198.51.100.7")

    assert result.auth == "PAM_MAXTRIES", result.stdout
    assert result.prompts == [] and result.errors == ["Too many logins. Wait."]
    assert types(listener.requests()) == [MessageType.AUTH_QUERY]


def test_every_request_carries_sshds_auth_info_and_only_authfail_says_the_password_failed(
        pam, user, fake_listener):
    # pam_deny in place of a failing password module; every line is optional so that all of
    # them run. authfail takes the mark preauth left (in the recommended stack nothing follows
    # it), so the code stage counts the attempt itself.
    answers = [reply(Status.OK),                                              # preauth
               reply(Status.CODE_REQUIRED), reply(Status.REJECTED),           # authfail
               reply(Status.CODE_REQUIRED), reply(Status.OK, nonce="c0ffee")]
    listener = fake_listener(*hexed(*answers), record=True)
    pam.service(module_line("auth", listener.socket, control="optional", mode="preauth"),
                "auth optional pam_deny.so",
                module_line("auth", listener.socket, control="optional", mode="authfail"),
                module_line("auth", listener.socket, control="optional"))

    pam.run(user.name, ["111111", "222222"], env=[f"SSH_AUTH_INFO_0={KEY_INFO}"])

    requests = listener.requests()
    assert types(requests) == [MessageType.PREAUTH,
                               MessageType.AUTH_QUERY, MessageType.AUTH_VERIFY,
                               MessageType.AUTH_QUERY, MessageType.AUTH_VERIFY], requests
    assert all(fields.get(Field.AUTH_INFO) == KEY_INFO for _, fields in requests), requests
    assert [fields.get(Field.PASSWORD_FAILED) for _, fields in requests] == [
        None, 1, 1, None, None], requests
    assert [fields.get(Field.COUNT_ATTEMPT) for _, fields in requests] == [
        None, None, None, 1, None], requests


def test_session_open_carries_the_auth_info_too(pam, user, fake_listener):
    listener = fake_listener(*hexed(reply(Status.OK)), record=True)
    pam.service(module_line("session", listener.socket))

    result = pam.run(user.name, stage="session",
                     env=["FOTOSTUDIO_AUTH=" + "ab" * 16, f"SSH_AUTH_INFO_0={KEY_INFO}"])

    assert result.session == "PAM_SUCCESS", result.stdout
    [(message_type, fields)] = listener.requests()
    assert message_type == MessageType.SESSION_OPEN and fields[Field.AUTH_INFO] == KEY_INFO


def test_authfail_never_succeeds_even_when_the_daemon_accepts_the_code(pam, user,
                                                                      fake_listener):
    # The daemon must never accept a code after a failed password; if it did, this line still
    # fails, with the same message as any wrong code, and keeps no proof for the session.
    listener = fake_listener(*hexed(reply(Status.CODE_REQUIRED), reply(Status.OK, nonce="f00d")))
    pam.service(PERMIT, module_line("auth", listener.socket, mode="authfail"))

    result = pam.run(user.name, ["123456"])

    assert result.auth == "PAM_AUTH_ERR", result.stdout
    assert result.errors == [WRONG]
    assert result.env["after auth"] is None


def test_trusted_device_passes_the_code_stage_without_a_prompt_and_keeps_the_daemons_nonce(
        pam, user, fake_listener):
    listener = fake_listener(*hexed(reply(Status.TRUSTED, nonce="be5eed")))
    pam.service(module_line("auth", listener.socket))

    result = pam.run(user.name, env=[f"SSH_AUTH_INFO_0={KEY_INFO}"])

    assert (result.auth, result.prompts, result.errors) == ("PAM_SUCCESS", [], [])
    assert result.env["after auth"] == "be5eed"


def test_authfail_on_a_trusted_device_fails_without_a_prompt_with_the_wrong_code_message(
        pam, user, fake_listener):
    # The code stage would not prompt on this device, so authfail does not either; a nonce the
    # daemon should not have sent here is not kept.
    listener = fake_listener(*hexed(reply(Status.TRUSTED, nonce="f00d")), record=True)
    pam.service(PERMIT, module_line("auth", listener.socket, mode="authfail"))

    result = pam.run(user.name, env=[f"SSH_AUTH_INFO_0={KEY_INFO}"])

    assert (result.auth, result.prompts, result.errors) == ("PAM_AUTH_ERR", [], [WRONG])
    assert result.env["after auth"] is None
    [(message_type, fields)] = listener.requests()
    assert message_type == MessageType.AUTH_QUERY and fields[Field.PASSWORD_FAILED] == 1


def test_authfail_for_a_user_without_mfa_fails_at_once_without_a_prompt(pam, user,
                                                                        fake_listener):
    listener = fake_listener(*hexed(reply(Status.NOT_ENROLLED)))
    pam.service(PERMIT, module_line("auth", listener.socket, mode="authfail"))

    result = pam.run(user.name)

    assert (result.auth, result.prompts, result.errors) == ("PAM_AUTH_ERR", [], [])


def test_daemon_sentence_reaches_the_terminal_only_as_printable_text_of_bounded_size(
        pam, user, fake_listener):
    # A hostile or broken listener must not be able to send escape sequences to the terminal of
    # whoever logs in, nor flood it.
    sentence = "Locked\x1b[2J\x07 until\r\nnow \u00e9" + "x" * 1000
    listener = fake_listener(*hexed(reply(Status.LOCKED, sentence, locked_until=0)))
    pam.service(module_line("auth", listener.socket, mode="preauth"))

    result = pam.run(user.name)

    assert result.auth == "PAM_MAXTRIES", result.stdout
    [shown] = result.errors
    assert shown.startswith("Locked?[2J? until??now ??xxx"), shown
    assert len(shown.encode()) <= 300 and shown.endswith("..."), len(shown)
    assert all(" " <= character <= "~" for character in shown)


def test_refusal_without_a_sentence_still_tells_the_user_why(pam, user, fake_listener):
    locked = fake_listener(*hexed(reply(Status.LOCKED)))
    limited = fake_listener(*hexed(reply(Status.RATE_LIMITED)))

    pam.service(module_line("auth", locked.socket, mode="preauth"))
    locked_result = pam.run(user.name)
    pam.service(module_line("auth", limited.socket, mode="preauth"))
    limited_result = pam.run(user.name)

    assert locked_result.auth == limited_result.auth == "PAM_MAXTRIES"
    assert ["locked" in text for text in locked_result.errors] == [True], locked_result.stdout
    assert ["Wait" in text for text in limited_result.errors] == [True], limited_result.stdout


def test_lock_reported_only_when_the_code_arrives_stops_the_login_with_its_sentence(
        pam, user, fake_listener):
    # Another login may lock the account while this one sits at the prompt.
    listener = fake_listener(*hexed(reply(Status.CODE_REQUIRED),
                                    reply(Status.LOCKED, "This account is locked until noon.")))
    pam.service(module_line("auth", listener.socket))

    result = pam.run(user.name, ["123456"])

    assert result.auth == "PAM_MAXTRIES", result.stdout
    assert result.errors == ["This account is locked until noon."]


def test_errors_in_preauth_fail_closed(pam, user, fake_listener):
    listener = fake_listener(*hexed(reply(Status.INTERNAL_ERROR, "database is locked")))
    pam.service(PERMIT, module_line("auth", listener.socket, mode="preauth"))

    result = pam.run(user.name)

    assert result.auth == "PAM_AUTHINFO_UNAVAIL", result.stdout
    assert result.prompts == []
