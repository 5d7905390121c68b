"""The alert e-mail delivered through the real Postfix, both ways the daemon can hand it over
(the sendmail program and SMTP to 127.0.0.1:25), to a real local test user: every field arrives
as built, and text injected into any field reaches nobody else.

mail-send (tests/integration/mail_send.cpp) builds and delivers the message with the daemon's
own code; tests/support/postfix.py runs Postfix for local delivery only."""
import os
import subprocess
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from support.paths import BUILD
from support.postfix import (mailbox_messages, postfix_running, read_mailbox,
                             wait_for_empty_queue)

MAIL_SEND = BUILD / "tests" / "integration" / "mail-send"
ZONE = "Europe/Berlin"
HOST = "studio.example"
COUNTRY = "DE"
ADDRESS = "203.0.113.7"
URL = "https://portal.studio.example/password"

OUR_HEADERS = ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
               "Content-Transfer-Encoding", "Auto-Submitted"]
# What Postfix adds on the way into a local mailbox.
POSTFIX_HEADERS = {"Return-Path", "X-Original-To", "Delivered-To", "Received"}


@pytest.fixture(scope="module")
def postfix():
    with postfix_running() as running:
        yield running


def send(postfix, transport, to, **facts):
    """Runs mail-send; returns (exit status, stdout)."""
    args = [str(MAIL_SEND), "--transport", transport, "--from", f"fotoauthd@{postfix.mailname}",
            "--to", to, "--helo", postfix.mailname, "--time-limit", "30"]
    if transport == "smtp":
        args += ["--smtp-host", "127.0.0.1", "--smtp-port", "25"]
    else:
        args += ["--sendmail", "/usr/sbin/sendmail"]
    for name, value in facts.items():
        if value is True:
            args.append(f"--{name}")
        else:
            args += [f"--{name.replace('_', '-')}", str(value)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "TZ": ZONE})
    return result.returncode, result.stdout + result.stderr


def recipient(transport, user):
    """A bare user name through sendmail (local delivery), an address through SMTP."""
    return user.name if transport == "sendmail" else f"{user.name}@localhost"


def local_time_text(at):
    local = datetime.fromtimestamp(at, ZoneInfo(ZONE))
    return local.strftime("%Y-%m-%d %H:%M:%S %Z") + " (UTC" + local.strftime("%z") + ")"


def utc_time_text(at):
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S") + " UTC"


def header_names(message):
    return [name for name in message.keys() if name not in POSTFIX_HEADERS]


@pytest.mark.parametrize("transport", ["sendmail", "smtp"])
def test_an_alert_arrives_with_every_field_as_built(postfix, make_user, transport):
    user = make_user()
    at = int(time.time()) - 7
    status, output = send(postfix, transport, recipient(transport, user), user=user.name,
                          host=HOST, country=COUNTRY, address=ADDRESS, at=at, url=URL)
    assert status == 0, output + postfix.log()
    assert "delivered" in output
    sent_id = output.split("message-id: ", 1)[1].split()[0]

    message = read_mailbox(user.name)
    assert header_names(message) == OUR_HEADERS
    assert message["From"] == f"fotoauthd@{postfix.mailname}"
    # Postfix completes a bare local name with its own domain.
    assert message["To"] in (user.name, f"{user.name}@{postfix.mailname}",
                             f"{user.name}@localhost")
    assert message["Subject"] == (f"Security alert: new sign-in to {user.name}@{HOST} from "
                                  "Germany (DE)")
    assert abs(message["Date"].datetime.timestamp() - time.time()) < 120
    assert message["Date"].datetime.utcoffset() == datetime.now(ZoneInfo(ZONE)).utcoffset()
    assert message["Message-ID"] == sent_id
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"

    body = message.get_content()
    assert f"Hello {user.name}," in body
    assert "Country:  Germany (DE)" in body
    assert f"Address:  {ADDRESS}" in body
    assert local_time_text(at) in body
    assert utc_time_text(at) in body
    assert f"Server:   {HOST}" in body
    assert "\n    passwd\n" in body
    assert f"\n    {URL}\n" in body
    assert "\n    fotoauthctl mfa enable\n" in body
    assert len(mailbox_messages(user.name)) == 1


@pytest.mark.parametrize("transport", ["sendmail", "smtp"])
def test_a_wrong_code_alert_for_an_mfa_user_says_so_and_has_no_url_unless_configured(
        postfix, make_user, transport):
    user = make_user()
    status, output = send(postfix, transport, recipient(transport, user), kind="wrong-code",
                          mfa=True, user=user.name, host=HOST, country="FR", address=ADDRESS,
                          at=int(time.time()))
    assert status == 0, output + postfix.log()

    message = read_mailbox(user.name)
    assert message["Subject"] == (f"Security alert: password of {user.name}@{HOST} from "
                                  "France (FR) used with a wrong code")
    body = message.get_content()
    assert "wrong verification code" in body
    assert "\n    passwd\n" in body
    assert "fotoauthctl mfa enable" not in body
    assert "https://" not in body


@pytest.mark.parametrize("transport", ["sendmail", "smtp"])
def test_a_bcc_injected_into_any_field_reaches_nobody_else(postfix, make_user, transport):
    user = make_user()
    bystander = make_user(prefix="fstbcc")
    bcc = f"Bcc: {bystander.name}@localhost"
    status, output = send(postfix, transport, recipient(transport, user),
                          user=f"{user.name}\r\n{bcc}", host=f"{HOST}\n{bcc}",
                          country=f"DE\r\n\r\n{bcc}", address=f"{ADDRESS}\r{bcc}",
                          url=f"{URL}\r\n{bcc}", at=int(time.time()))
    assert status == 0, output + postfix.log()

    message = read_mailbox(user.name)
    assert header_names(message) == OUR_HEADERS
    assert message["Bcc"] is None
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    assert not any(line.startswith("Bcc:") for line in message.get_content().splitlines())

    # Once the queue is empty every copy Postfix would make has been delivered: none to the
    # bystander, and only one to the user.
    wait_for_empty_queue()
    assert mailbox_messages(bystander.name) == []
    assert len(mailbox_messages(user.name)) == 1


def test_a_recipient_postfix_does_not_know_is_a_failure_with_its_answer(postfix):
    status, output = send(postfix, "smtp", "fstnosuchuser0@localhost", user="anna", host=HOST,
                          country=COUNTRY, address=ADDRESS, at=int(time.time()))
    assert status == 1
    assert "failed: SMTP to 127.0.0.1:25 failed: RCPT TO:<fstnosuchuser0@localhost> was " \
           "answered 550" in output


def test_an_address_with_a_second_recipient_is_refused_before_anything_is_sent(postfix,
                                                                              make_user):
    user = make_user()
    bystander = make_user(prefix="fstbcc")
    status, output = send(postfix, "sendmail", f"{user.name}, {bystander.name}", user=user.name,
                          host=HOST, country=COUNTRY, address=ADDRESS, at=int(time.time()))
    assert status == 2
    assert "recipient is not a plain address" in output
    wait_for_empty_queue()
    assert mailbox_messages(user.name) == []
    assert mailbox_messages(bystander.name) == []
