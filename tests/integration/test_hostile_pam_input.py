"""What an application or a remote user can put into a PAM transaction, and what the module and
the daemon make of it: odd conversation answers, codes in odd spellings, hostile user names,
PAM_USER and PAM_RHOST in every state, and an environment the client chose. Each case must end in
a clear refusal or the documented behaviour, never in a crash, and never in a path or a log line
built from the raw input.

Two cases need pam-driver options that it does not have yet (the lead adds them):
`--no-user` starts the transaction without PAM_USER (pam_start with a NULL user), and
`--rhost ''` sets PAM_RHOST to the empty string (today an empty value leaves it unset)."""
import os
import subprocess

import pytest

from pam_harness import (PASSWORD_PROMPT, SOURCE, SyslogCapture, Transaction, module_line,
                         recommended_auth_lines)
from support.enrolment import enrol, unused_code
from support.protocol import Field, MessageType, Status, request

WRONG = "Wrong password or verification code."
PERMIT = "auth required pam_permit.so"

# Nothing counted: the first wrong code would lock the account's channel.
ONE_WRONG_CODE_LOCKS = "code_attempts = 1\nlogin_user_attempts = 100\n"


def code_stage_only(pam, daemon):
    return pam.service(module_line("auth", daemon.socket))


def run_command(command, env=None, capture_log=False, timeout=30):
    """Runs a pam-driver command line as it is (for options Pam.run does not know)."""
    with SyslogCapture() if capture_log else _Plain() as log:
        finished = subprocess.run(log.wrap(command), capture_output=True, text=True,
                                  timeout=timeout, env=env)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    result = Transaction.parse(finished.stdout, 0.0)
    result.log = log.lines
    return result


class _Plain:
    lines = []

    def wrap(self, command):
        return command

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


def without_user(command):
    """The command with --no-user instead of --user NAME (proposed pam-driver option)."""
    at = command.index("--user")
    return command[:at] + command[at + 2:] + ["--no-user"]


# --- conversation answers ---

def test_odd_conversation_answers_are_refused_and_none_counts_as_a_wrong_code(pam,
                                                                           limited_daemon,
                                                                           make_user):
    daemon = limited_daemon(ONE_WRONG_CODE_LOCKS)
    user = make_user()
    enrolled = enrol(daemon.socket, user.name)
    code_stage_only(pam, daemon)
    code = enrolled.next_code()

    null = pam.run(user.name, null_response=True)
    empty = pam.run(user.name, [""])
    long_513 = pam.run(user.name, [code + "7" * 507])
    long_64k = pam.run(user.name, [code * (65536 // 6)])

    assert null.auth == "PAM_CONV_ERR", null.stdout
    for refused in (empty, long_513, long_64k):
        assert refused.auth == "PAM_AUTH_ERR", refused.stdout
        assert refused.errors == [WRONG], refused.stdout
        assert refused.env["after auth"] is None
    # With code_attempts = 1 any of them counted as a wrong code would have locked the account.
    right = pam.run(user.name, [code])
    assert right.auth == "PAM_SUCCESS", right.stdout


def spelled_with(code, zero):
    return "".join(chr(ord(zero) + int(digit)) for digit in code)


def odd_spellings(code):
    return {
        "leading space": " " + code,
        "trailing space": code + " ",
        "inner space": code[:3] + " " + code[3:],
        "tab": code[:3] + "\t" + code[3:],
        "plus sign": "+" + code,
        "minus sign": "-" + code,
        "trailing newline": code + "\n",
        "inner newline": code[:3] + "\n" + code[3:],
        "fullwidth digits": spelled_with(code, "\uff10"),
        "arabic-indic digits": spelled_with(code, "\u0660"),
        "devanagari digits": spelled_with(code, "\u0966"),
        "mathematical bold digits": spelled_with(code, "\U0001d7ce"),
        "superscript digits": code.translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")),
        "seven digits": code + "0",
        "five digits": code[:5],
    }


def test_right_code_in_any_odd_spelling_is_refused_and_not_used_up(pam, daemon, enrolled):
    code_stage_only(pam, daemon)
    code = enrolled.next_code()

    accepted = {name: result.stdout for name, spelling in odd_spellings(code).items()
                if (result := pam.run(enrolled.user, [spelling])).auth != "PAM_AUTH_ERR"}

    assert accepted == {}, accepted
    # The refusals were about the form: the code itself is still good.
    assert pam.run(enrolled.user, [code]).auth == "PAM_SUCCESS"


# --- user names ---

HOSTILE_NAMES = {
    "slash": "fst/../../etc/passwd",
    "dotdot": "..",
    "newline": "fstx\nFOTOSTUDIO forged log line",
    "colon": "root:x:0:0",
    "long": "fst" + "a" * 4000,
    "carriage return": "fst\rroot",
    "percent": "fst%s%n%x",
}


@pytest.mark.parametrize("name", list(HOSTILE_NAMES.values()), ids=list(HOSTILE_NAMES))
def test_hostile_user_name_is_refused_like_an_unknown_name_never_logged_nor_used_as_path(
        pam, daemon, name, unknown_name, user):
    pam.service(*recommended_auth_lines(daemon.socket))
    before = sorted(p.relative_to(daemon.dir) for p in daemon.dir.rglob("*"))

    hostile = pam.run(name, ["some password", "123456"], rhost=SOURCE, capture_log=True)
    unknown = pam.run(unknown_name, ["some password", "123456"], rhost=SOURCE)

    # The same prompts and the same refusal as a plain unknown name: no code prompt, no crash.
    assert hostile.auth in ("PAM_AUTH_ERR", "PAM_USER_UNKNOWN"), hostile.stdout
    assert hostile.prompts == unknown.prompts == [PASSWORD_PROMPT], hostile.stdout
    assert hostile.auth == unknown.auth
    after = sorted(p.relative_to(daemon.dir) for p in daemon.dir.rglob("*"))
    assert after == before
    # Neither the module (syslog) nor the daemon writes the raw name, nor a long piece of it.
    probe = name[:40]
    assert not any(probe in line for line in hostile.log), hostile.log
    assert probe not in daemon.log()
    # And the daemon still serves.
    assert request(daemon.socket, MessageType.STATUS, {Field.USER: user.name}).status == Status.OK


def test_hostile_names_through_the_raw_protocol_get_plain_answers(daemon):
    for name in HOSTILE_NAMES.values():
        for message_type in (MessageType.PREAUTH, MessageType.AUTH_QUERY):
            answer = request(daemon.socket, message_type,
                             {Field.USER: name, Field.SERVICE: "sshd",
                              Field.REMOTE_HOST: SOURCE})
            assert answer.status in (Status.OK, Status.NOT_ENROLLED), (name, answer)
        status = request(daemon.socket, MessageType.STATUS, {Field.USER: name})
        assert status.status == Status.UNKNOWN_USER, (name, status)
    assert daemon.process.poll() is None


# --- PAM_USER unset (needs pam-driver --no-user) ---

def test_without_pam_user_the_module_asks_libpam_and_a_null_answer_fails(pam, daemon):
    code_stage_only(pam, daemon)

    result = run_command(without_user(pam.command("unused", null_response=True)))

    assert result.auth not in ("PAM_SUCCESS", "PAM_IGNORE", None), result.stdout
    assert result.env["after auth"] is None


def test_without_pam_user_behind_permit_never_succeeds_without_a_name(pam, daemon):
    pam.service(PERMIT, module_line("auth", daemon.socket))

    result = run_command(without_user(pam.command("unused")))

    # pam_get_user prompts for the name; with no answer left the conversation fails.
    assert result.auth == "PAM_CONV_ERR", result.stdout


def test_without_pam_user_the_name_typed_at_the_login_prompt_is_the_one_checked(pam, daemon,
                                                                                enrolled):
    code_stage_only(pam, daemon)
    wrong = unused_code(enrolled.secret)

    refused = run_command(without_user(pam.command("unused", [enrolled.user, wrong])))
    passed = run_command(without_user(pam.command("unused",
                                                  [enrolled.user, enrolled.next_code()])))

    assert refused.auth == "PAM_AUTH_ERR", refused.stdout
    assert passed.auth == "PAM_SUCCESS", passed.stdout


# --- PAM_RHOST ---

RHOSTS = {
    "unset": None,
    "empty": "",
    "host name": "client.example.org",
    "UNKNOWN": "UNKNOWN",
    "ipv4-mapped ipv6": "::ffff:198.51.100.7",
    "hostile": "1.2.3.4\nFOTOSTUDIO forged",
}


def with_rhost(command, rhost):
    """--rhost as given, also when empty (proposed pam-driver behaviour for '')."""
    return command if rhost is None else command + ["--rhost", rhost]


@pytest.mark.parametrize("rhost", list(RHOSTS.values()), ids=list(RHOSTS))
def test_enrolled_user_needs_the_right_code_whatever_pam_rhost_holds(pam, daemon, enrolled,
                                                                      rhost):
    code_stage_only(pam, daemon)
    wrong = unused_code(enrolled.secret)

    refused = run_command(with_rhost(pam.command(enrolled.user, [wrong]), rhost))
    passed = run_command(with_rhost(pam.command(enrolled.user, [enrolled.next_code()]), rhost))

    assert refused.auth == "PAM_AUTH_ERR", refused.stdout
    assert passed.auth == "PAM_SUCCESS", passed.stdout
    # A newline in the host must not start a line of its own in the daemon's log.
    assert not any(line.startswith("FOTOSTUDIO forged") for line in daemon.log().splitlines())


def test_ipv4_mapped_address_counts_against_the_plain_ipv4_address(pam, limited_daemon,
                                                                   make_user):
    daemon = limited_daemon("login_source_attempts = 2\n")
    users = [make_user() for _ in range(3)]
    pam.service(PERMIT, module_line("auth", daemon.socket, mode="preauth"))

    first = pam.run(users[0].name, rhost="::ffff:198.51.100.7")
    second = pam.run(users[1].name, rhost="::FFFF:198.51.100.7")
    third = pam.run(users[2].name, rhost="198.51.100.7")

    assert first.auth == second.auth == "PAM_SUCCESS", first.stdout + second.stdout
    assert third.auth == "PAM_MAXTRIES", third.stdout


def test_empty_pam_rhost_is_no_source_and_fills_no_shared_bucket(pam, limited_daemon, make_user):
    # A login without a source has no source window (docs/brute-force.md); an empty PAM_RHOST
    # must not become one source "" that every sourceless login shares.
    daemon = limited_daemon("login_source_attempts = 1\n")
    users = [make_user() for _ in range(3)]
    pam.service(PERMIT, module_line("auth", daemon.socket, mode="preauth"))

    results = [run_command(with_rhost(pam.command(u.name), "")) for u in users]

    assert [r.auth for r in results] == ["PAM_SUCCESS"] * 3, [r.stdout for r in results]


# --- the environment a client can influence ---

CLIENT_ENVIRONMENT = {
    "LANG": "tr_TR.UTF-8",
    "LC_ALL": "tr_TR.UTF-8",
    "LC_CTYPE": "tr_TR.UTF-8",
    "LANGUAGE": "tr",
    "XDG_RUNTIME_DIR": "/tmp",
    "XDG_CONFIG_HOME": "/tmp",
    "XDG_SESSION_TYPE": "tty",
    "http_proxy": "http://127.0.0.1:9/",
    "https_proxy": "http://127.0.0.1:9/",
    "all_proxy": "socks5://127.0.0.1:9/",
    "no_proxy": "*",
    "TZ": "Pacific/Kiritimati",
    "SSH_AUTH_INFO_0": "publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFake\n",
    "SSH_CONNECTION": "127.0.0.1 1 127.0.0.1 22",
    "FOTOSTUDIO_AUTH": "0" * 32,
    "FOTOAUTHD_SOCKET": "/tmp/nowhere",
    "LD_LIBRARY_PATH": "/nonexistent",
}


def hostile_process_env():
    return {**os.environ, **CLIENT_ENVIRONMENT}


def test_client_environment_changes_nothing_about_the_code_decision(pam, daemon, enrolled):
    code_stage_only(pam, daemon)
    wrong = unused_code(enrolled.secret)
    pam_env = [f"{k}={v}" for k, v in CLIENT_ENVIRONMENT.items() if k != "FOTOSTUDIO_AUTH"]

    refused = run_command(pam.command(enrolled.user, [wrong], env=pam_env),
                          env=hostile_process_env())
    passed = run_command(pam.command(enrolled.user, [enrolled.next_code()], env=pam_env),
                         env=hostile_process_env())

    assert refused.auth == "PAM_AUTH_ERR", refused.stdout
    assert refused.errors == [WRONG]
    assert passed.auth == "PAM_SUCCESS", passed.stdout


def test_a_proof_in_the_process_environment_opens_no_session(pam, daemon, enrolled):
    # A real nonce, issued to an auth stage and not yet redeemed, put where a client could put a
    # variable (the process environment, as AcceptEnv would): only the PAM environment counts.
    code_stage_only(pam, daemon)
    issued = pam.run(enrolled.user, [enrolled.next_code()]).env["after auth"]
    assert issued
    # sshd: a service whose account stage requires a code (the daemon's require_code_services).
    pam.service(module_line("account", daemon.socket), module_line("session", daemon.socket),
                name="sshd")

    result = run_command(pam.command(enrolled.user, stage="account+session", service="sshd"),
                         env={**hostile_process_env(), "FOTOSTUDIO_AUTH": issued})

    assert result.account == "PAM_PERM_DENIED", result.stdout
    assert result.session is None


def test_a_key_claimed_in_the_process_environment_does_not_escape_a_password_lock(
        pam, limited_daemon, make_user):
    daemon = limited_daemon("code_attempts = 2\nlock_duration = 600\n")
    user = make_user()
    enrolled = enrol(daemon.socket, user.name)
    code_stage_only(pam, daemon)
    for _ in range(2):
        pam.run(user.name, [unused_code(enrolled.secret)], rhost=SOURCE)

    result = run_command(pam.command(user.name, [enrolled.next_code()], rhost=SOURCE),
                         env=hostile_process_env())

    assert result.auth == "PAM_MAXTRIES", result.stdout
