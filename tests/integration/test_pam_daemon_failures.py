"""pam_fotostudio.so when fotoauthd is missing, silent, impersonated or broken: it must fail
closed with PAM_AUTHINFO_UNAVAIL, never succeed and never ignore.

Where the real daemon cannot be made to misbehave, fake_listener.py stands in for it. Most of
those cases run behind pam_permit.so, so that a module wrongly answering PAM_IGNORE (or
PAM_SUCCESS) would turn the stack's result into PAM_SUCCESS and fail the test."""
import tempfile
from pathlib import Path

import pytest

from pam_harness import module_line
from support.protocol import MessageType, Status, reply

PERMIT = "auth required pam_permit.so"


def behind_permit(pam, socket_path, *options, timeout=3000):
    return pam.service(PERMIT, module_line("auth", socket_path, *options, timeout=timeout))


def hexed(*answers):
    return [answer.hex() for answer in answers]


def test_socket_path_without_a_listener_is_unavailable(pam, user):
    missing = Path(tempfile.gettempdir()) / "fsauth-nothing-here" / "socket"

    result = behind_permit(pam, missing).run(user.name)

    assert result.auth == "PAM_AUTHINFO_UNAVAIL", result.stdout
    assert result.prompts == []


def test_killed_daemon_is_unavailable_even_for_an_enrolled_user(pam, daemon, enrolled):
    daemon.kill()

    result = behind_permit(pam, daemon.socket).run(enrolled.user, [enrolled.next_code()])

    assert result.auth == "PAM_AUTHINFO_UNAVAIL", result.stdout


def test_daemon_that_never_answers_is_unavailable_within_the_timeout(pam, user, fake_listener):
    listener = fake_listener("silent")

    result = behind_permit(pam, listener.socket, timeout=500).run(user.name)

    assert result.auth == "PAM_AUTHINFO_UNAVAIL", result.stdout
    assert 0.45 <= result.elapsed < 5, result.elapsed


def test_listener_owned_by_an_ordinary_account_is_not_trusted(pam, user, fake_listener):
    # The impostor answers "not enrolled", which would let the login through if believed.
    impostor = fake_listener(*hexed(reply(Status.NOT_ENROLLED)), owner=user)

    result = behind_permit(pam, impostor.socket).run(user.name)

    assert result.auth == "PAM_AUTHINFO_UNAVAIL", result.stdout


def test_listener_owned_by_the_configured_daemon_user_is_trusted(pam, user, fake_listener):
    listener = fake_listener(*hexed(reply(Status.NOT_ENROLLED)), owner=user)

    result = behind_permit(pam, listener.socket, f"daemon_user={user.name}").run(user.name)

    assert result.auth == "PAM_SUCCESS", result.stdout


@pytest.mark.parametrize("answers", [
    pytest.param([b"not a message at all"], id="preauth-garbage"),
    pytest.param([reply(Status.INTERNAL_ERROR, "database is locked")],
                 id="preauth-internal-error"),
    pytest.param([reply(Status.NOT_ENROLLED)], id="preauth-not-enrolled-is-not-an-answer"),
    pytest.param([reply(Status.CODE_REQUIRED)], id="preauth-code-required-is-not-an-answer"),
])
def test_broken_answers_to_a_preauth_line_are_unavailable(pam, user, fake_listener, answers):
    listener = fake_listener(*hexed(*answers))
    pam.service(module_line("auth", listener.socket, mode="preauth", timeout=3000))

    result = pam.run(user.name)

    assert result.auth == "PAM_AUTHINFO_UNAVAIL", result.stdout


# The code stage without a preauth line: its query counts the attempt too (CountAttempt).
@pytest.mark.parametrize("answers", [
    pytest.param([b"not a message at all"], id="query-garbage"),
    pytest.param([reply(Status.BAD_REQUEST, "missing field")], id="query-bad-request"),
    pytest.param([reply(Status.INTERNAL_ERROR, "database is locked")],
                 id="query-internal-error"),
    pytest.param([reply(Status.OK)], id="query-ok-is-not-an-answer"),
    pytest.param([reply(Status.TRUSTED)], id="query-trusted-without-nonce"),
    pytest.param([reply(Status.TRUSTED, nonce="ab cd\nLD_PRELOAD=x")],
                 id="query-trusted-with-unusable-nonce"),
    pytest.param([reply(Status.CODE_REQUIRED), reply(Status.OK)],
                 id="verify-ok-without-nonce"),
    pytest.param([reply(Status.CODE_REQUIRED),
                  reply(Status.OK, nonce="ab cd\nLD_PRELOAD=x")],
                 id="verify-ok-with-unusable-nonce"),
    pytest.param([reply(Status.CODE_REQUIRED), reply(Status.INTERNAL_ERROR)],
                 id="verify-internal-error"),
    pytest.param([reply(Status.CODE_REQUIRED), b"FS\x01\x40\x08\x00\x01\x63"],
                 id="verify-unknown-status"),
])
def test_broken_answers_are_unavailable(pam, user, fake_listener, answers):
    listener = fake_listener(*hexed(*answers))

    result = behind_permit(pam, listener.socket).run(user.name, ["123456"])

    assert result.auth == "PAM_AUTHINFO_UNAVAIL", result.stdout
    assert result.env["after auth"] is None


@pytest.mark.parametrize("answers, expected", [
    pytest.param([reply(Status.PERMISSION_DENIED)], "PAM_AUTH_ERR",
                 id="query-permission-denied"),
    pytest.param([reply(Status.CODE_REQUIRED), reply(Status.NOT_ENROLLED)],
                 "PAM_AUTH_ERR", id="verify-not-enrolled-meanwhile"),
    # An unknown name is treated like a user without MFA: once a code was asked, that is a
    # failure, and the same one.
    pytest.param([reply(Status.CODE_REQUIRED), reply(Status.UNKNOWN_USER)],
                 "PAM_AUTH_ERR", id="verify-unknown-user"),
])
def test_refusals_the_real_daemon_rarely_sends_fail(pam, user, fake_listener, answers, expected):
    listener = fake_listener(*hexed(*answers))

    result = behind_permit(pam, listener.socket).run(user.name, ["123456"])

    assert result.auth == expected, result.stdout


def test_answer_longer_than_any_code_is_refused_without_asking_the_daemon(pam, user,
                                                                          fake_listener):
    # This listener accepts any code; only the module's own limit can refuse. It answers its
    # connections in order: the first run's question, then the second run's question and code.
    lenient = fake_listener(*hexed(reply(Status.CODE_REQUIRED),
                                   reply(Status.CODE_REQUIRED),
                                   reply(Status.OK, nonce="a1b2")))
    behind_permit(pam, lenient.socket)

    too_long = pam.run(user.name, ["7" * 129])
    longest = pam.run(user.name, ["7" * 128])

    assert too_long.auth == "PAM_AUTH_ERR", too_long.stdout
    assert too_long.errors == ["Wrong password or verification code."]
    assert longest.auth == "PAM_SUCCESS", longest.stdout


def test_a_request_goes_over_a_new_connection_when_the_kept_one_was_closed(pam, user,
                                                                          fake_listener):
    # The daemon closes a connection idle for 30 s, which a user at the prompt easily leaves it.
    # This listener closes each connection after one answer: a module that only reused the
    # connection would get no answer to the question or the code and report
    # PAM_AUTHINFO_UNAVAIL.
    listener = fake_listener(*hexed(reply(Status.CODE_REQUIRED),
                                    reply(Status.OK, nonce="f00d")), record=True)

    result = behind_permit(pam, listener.socket).run(user.name, ["123456"])

    assert result.auth == "PAM_SUCCESS", result.stdout
    assert result.env["after auth"] == "f00d"
    # Each request was handled once: the ones sent on a closed connection were never read.
    assert [kind for kind, _ in listener.requests()] == [
        MessageType.AUTH_QUERY, MessageType.AUTH_VERIFY]
    assert listener.connections() == 2


def test_a_login_sends_its_requests_over_one_connection(pam, user, fake_listener):
    # One connection per pam_authenticate, not one per request: the daemon accepts, watches and
    # closes one socket per login instead of two.
    listener = fake_listener(*hexed(reply(Status.CODE_REQUIRED),
                                    reply(Status.OK, nonce="beef")), record=True, keep_open=True)

    result = behind_permit(pam, listener.socket).run(user.name, ["123456"])

    assert result.auth == "PAM_SUCCESS", result.stdout
    assert result.env["after auth"] == "beef"
    assert [kind for kind, _ in listener.requests()] == [
        MessageType.AUTH_QUERY, MessageType.AUTH_VERIFY]
    assert listener.connections() == 1


def test_each_pam_call_opens_its_own_connection(pam, user, fake_listener):
    # A retry of pam_authenticate, or the account stage after it, must not depend on a socket an
    # earlier call left behind: each call connects anew.
    listener = fake_listener(*hexed(reply(Status.CODE_REQUIRED), reply(Status.REJECTED),
                                    reply(Status.CODE_REQUIRED), reply(Status.REJECTED)),
                             record=True, keep_open=True)
    behind_permit(pam, listener.socket)

    first = pam.run(user.name, ["123456"])
    second = pam.run(user.name, ["654321"])

    assert first.auth == second.auth == "PAM_AUTH_ERR", second.stdout
    assert len(listener.requests()) == 4
    assert listener.connections() == 2
