"""End to end: a login from an unusual country, over real sshds, to a real Postfix mailbox.

The clients sit in a network namespace made for these tests (client_hosts.py). A GeoIP database
written for the test (tests/support/mmdb.py) maps the two halves of the documentation network
198.51.100.0/24 to two countries: the lower half to France, the upper half to Germany. Two
clients come from the French half, one from the German half, so that sshd hands the daemon
their addresses as the remote host and the daemon sees logins from two countries.

The daemon records each completed login with its country; the first country an account is seen
from becomes its usual one, and a login from another country is unusual: a trusted device loses
its trust (the code is asked), the history marks the login, and an alert mail goes to the user.
Here the alert is delivered by the real Postfix (tests/support/postfix.py) to /var/mail/USER,
since the test users set no address of their own and the site sets no pattern. The daemon runs
in the time zone of Berlin, whatever the machine's, so that the mail must show a zone other than
UTC, and the test can tell that the time in it is the local time of the server.

The "keys" sshd is the recommended set-up for a key plus a code (etc/pam.d/sshd-fotostudio-keys,
`AuthenticationMethods publickey,keyboard-interactive`); the "key-alone" sshd lets a public key
in by itself with etc/pam.d/sshd-fotostudio, whose account and session lines ask the daemon.
"""
import email.utils
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from support.mmdb import build_mmdb
from support.paths import FOTOAUTHCTL
from support.postfix import mailbox_messages, postfix_running, read_mailbox

from cli_enrolment import enable_mfa, totp
from client_hosts import ClientNetwork
from client_keys import authorize
from login_rig import RAISED_LIMITS, SshdSpec, start_multi_rig, stop_multi_rig
from private_sshd import keys_sshd_stack, recommended_sshd_stack

USUAL_COUNTRY = "FR"
UNUSUAL_COUNTRY = "DE"
UNUSUAL_COUNTRY_NAME = "Germany"
COUNTRIES = {"198.51.100.0/25": USUAL_COUNTRY, "198.51.100.128/25": UNUSUAL_COUNTRY}
# Host numbers of the clients in each half (.0 and .255 are no hosts).
FRENCH_HOSTS = range(1, 128)
GERMAN_HOSTS = range(128, 255)

ALERT_FROM = "security-alerts@studio.example"
SITE_URL = "https://studio.example/account/password"
PASSWD_HINT = re.compile(r"^\s*passwd\s*$", re.M)
ENABLE_HINT = "fotoauthctl mfa enable"
DAEMON_ZONE = "Europe/Berlin"
# "2026-12-04 19:05:03 CET (UTC+0100)": a local date and time that names its zone.
LOCAL_TIME = re.compile(r"\b(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (\S+) \(UTC([+-]\d{4})\)")

MAIL_TIMEOUT = 20
# Alerts leave within about a second; this long without one means none was sent.
QUIET_PERIOD = 5
# How far the times in a mail may be from the moment of the login they report.
CLOCK_SLACK = 120
CTL_TIMEOUT = 20
TABLE_ROW = re.compile(r"^\s*\d{4}-\d\d-\d\d ")

UNUSUAL_SYMBOL = "\u26a0"
VERIFIED_SYMBOL = "\U0001f512"


@pytest.fixture(scope="module")
def postfix():
    with postfix_running() as running:
        yield running


@pytest.fixture(scope="module")
def country_clients():
    """Three clients: two from the French half of the network, one from the German half."""
    network = ClientNetwork(3, pid=os.getpid(), pools=[FRENCH_HOSTS, FRENCH_HOSTS, GERMAN_HOSTS])
    network.start()
    yield network
    network.close()


@pytest.fixture(scope="module")
def geoip_database():
    # Not under pytest's tmp_path: the daemon reads it, and the folder must outlive the module's
    # rig; removed afterwards.
    folder = Path(tempfile.mkdtemp(prefix="fsauth-geoip-"))
    os.chmod(folder, 0o755)
    yield build_mmdb(folder / "countries.mmdb", COUNTRIES)
    shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def time_zone(name):
    """Processes started inside inherit the zone `name`; the test process keeps its own."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = name
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before


@pytest.fixture(scope="module")
def rig(country_clients, geoip_database, postfix):
    config = (RAISED_LIMITS +
              f"geoip_database = {geoip_database}\n"
              f"alert_from = {ALERT_FROM}\n"
              f"alert_site_url = {SITE_URL}\n")
    with time_zone(DAEMON_ZONE):
        running = start_multi_rig({
            "keys": SshdSpec(keys_sshd_stack, methods="publickey,keyboard-interactive"),
            "key-alone": SshdSpec(recommended_sshd_stack, methods="publickey"),
        }, extra_config=config, server_address=country_clients.server_address)
    yield running
    stop_multi_rig(running)


def explain(rig, postfix, *logins):
    return rig.explain(*logins) + f"\n--- Postfix log ---\n{postfix.log()}"


def assert_logged_in(rig, postfix, login):
    assert login.logged_in, ("the login should have run the command\n" +
                             explain(rig, postfix, login))
    assert login.exit_status == 0, explain(rig, postfix, login)


def fotoauthctl(rig, *arguments):
    """The real CLI as root, in a UTF-8 locale, so that it shows the markers as symbols."""
    environment = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8"}
    result = subprocess.run([str(FOTOAUTHCTL), "--socket", str(rig.daemon.socket), *arguments],
                            capture_output=True, text=True, encoding="utf-8",
                            stdin=subprocess.DEVNULL, env=environment, timeout=CTL_TIMEOUT)
    assert result.returncode == 0, (f"fotoauthctl {' '.join(arguments)} exited "
                                    f"{result.returncode}\n{result.stdout}{result.stderr}\n" +
                                    rig.explain())
    return result.stdout


def assert_no_mail_for(rig, postfix, user, seconds=QUIET_PERIOD):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        messages = mailbox_messages(user.name)
        assert not messages, ("no alert should have been sent, but this came:\n" +
                              messages[0].as_string() + explain(rig, postfix))
        time.sleep(0.2)


def received_alert(rig, postfix, user, login):
    try:
        return read_mailbox(user.name, timeout=MAIL_TIMEOUT)
    except TimeoutError as error:
        pytest.fail(f"{error}\n" + explain(rig, postfix, login))


def body_of(message):
    return message.get_content().replace("\r\n", "\n")


def assert_alert_fields(message, user, postfix, source, login_time):
    """Everything a user reads in the alert: who sent it to whom, about what, when and from
    where, and what to do."""
    text = message.as_string()

    assert email.utils.parseaddr(message["From"])[1] == ALERT_FROM, text
    recipient = email.utils.parseaddr(message["To"])[1]
    # Sent to the bare user name; Postfix may complete it with its own domain.
    assert recipient in (user.name, f"{user.name}@{postfix.mailname}"), text
    subject = str(message["Subject"])
    assert user.name in subject and re.search(rf"\b{UNUSUAL_COUNTRY}\b", subject), text

    zone = ZoneInfo(DAEMON_ZONE)
    sent = email.utils.parsedate_to_datetime(message["Date"])
    assert sent.utcoffset() == datetime.fromtimestamp(login_time, zone).utcoffset(), (
        f"the Date header should be in the server's zone, {DAEMON_ZONE}\n" + text)
    assert abs(sent.timestamp() - login_time) < CLOCK_SLACK, text

    body = body_of(message)
    assert re.search(rf"\b{UNUSUAL_COUNTRY}\b", body) and UNUSUAL_COUNTRY_NAME in body, text
    assert re.search(rf"\b{re.escape(source)}\b", body), text
    when = LOCAL_TIME.search(body)
    assert when, "the body should give the time of the login with its zone\n" + text
    local = datetime.strptime(when.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone)
    assert abs(local.timestamp() - login_time) < CLOCK_SLACK, text
    assert when.group(2) == local.tzname(), text
    assert when.group(3) == local.strftime("%z"), text
    assert PASSWD_HINT.search(body), "the body should tell to run passwd\n" + text
    assert SITE_URL in body, text
    return body


def connection_rows(page):
    """The rows of the page's connection table: the dated lines after its heading."""
    lines = page.splitlines()
    heading = next((i for i, line in enumerate(lines) if re.match(r"Last \d+ connections", line)),
                   None)
    assert heading is not None, f"the page lists no connections:\n{page}"
    rows = []
    # After the heading comes the table's header line, then a row per connection.
    for line in lines[heading + 2:]:
        if not TABLE_ROW.match(line):
            break
        rows.append(line)
    return rows


def test_a_login_from_another_country_asks_the_trusted_key_for_the_code_and_mails_an_alert(
        rig, postfix, country_clients, make_user, keyring):
    first_home, second_home, abroad = country_clients.clients
    user = make_user()
    key = keyring.make("laptop")
    authorize(user.name, [key])
    enrolment = enable_mfa(user.name, rig.daemon.socket, mode="new-device")

    first = rig.login(user, code=totp(enrolment.secret, offset_steps=1), identity=key.path,
                      client=first_home, via="keys")
    assert first.code_prompt_shown, explain(rig, postfix, first)
    assert_logged_in(rig, postfix, first)
    assert_no_mail_for(rig, postfix, user)

    second = rig.login(user, identity=key.path, client=second_home, via="keys")
    assert not second.prompts, ("the key trusted since the first login should need no code\n" +
                                explain(rig, postfix, second))
    assert_logged_in(rig, postfix, second)
    assert_no_mail_for(rig, postfix, user)

    # Enrolment and the first login used up the codes up to the next step; a recovery code is
    # accepted at the same prompt, and no test waits for the clock.
    login_time = time.time()
    third = rig.login(user, code=enrolment.recovery_codes[0], identity=key.path, client=abroad,
                      via="keys")
    assert third.code_prompt_shown, ("from another country the trusted key should be asked "
                                     "for the code\n" + explain(rig, postfix, third))
    assert_logged_in(rig, postfix, third)

    alert = received_alert(rig, postfix, user, third)
    body = assert_alert_fields(alert, user, postfix, abroad.address, login_time)
    assert ENABLE_HINT not in body, ("MFA is on: the alert should not invite to enable it\n" +
                                     alert.as_string())
    # Only the unusual login sent mail, also later.
    time.sleep(QUIET_PERIOD)
    assert len(mailbox_messages(user.name)) == 1, explain(rig, postfix)

    page = fotoauthctl(rig, "status", "--user", user.name)
    rows = connection_rows(page)
    assert len(rows) == 3, f"three connections should be listed:\n{page}"
    expected = [(abroad, UNUSUAL_COUNTRY, True, True),
                (second_home, USUAL_COUNTRY, False, False),
                (first_home, USUAL_COUNTRY, False, True)]
    for row, (client, country, unusual, verified) in zip(rows, expected):
        assert re.search(rf"\b{country}\b", row), f"{row!r} should be from {country}\n{page}"
        assert re.search(rf"\b{re.escape(client.address)}\b", row), f"{row!r}\n{page}"
        assert (UNUSUAL_SYMBOL in row) == unusual, f"{row!r}: unusual {unusual}?\n{page}"
        assert (VERIFIED_SYMBOL in row) == verified, f"{row!r}: code checked {verified}?\n{page}"

    status = json.loads(fotoauthctl(rig, "status", "--user", user.name, "--json"))
    seen = [(c["source"], c["country"], c["unusual"], c["verified"])
            for c in status["connections"]]
    assert seen == [(client.address, country, unusual, verified)
                    for client, country, unusual, verified in expected], json.dumps(status)
    for connection in status["connections"]:
        assert key.fingerprint in connection["client"], json.dumps(status)

    history = fotoauthctl(rig, "history", "--user", user.name)
    marked = [line for line in history.splitlines() if UNUSUAL_SYMBOL in line
              and abroad.address in line]
    assert marked, f"the history should mark the login from {abroad.address}:\n{history}"


def test_a_user_without_mfa_gets_an_alert_that_invites_to_enable_it(
        rig, postfix, country_clients, make_user, keyring):
    home, _, abroad = country_clients.clients
    user = make_user()
    key = keyring.make("desktop")
    authorize(user.name, [key])

    at_home = rig.login(user, identity=key.path, client=home, via="key-alone")
    assert not at_home.prompts, explain(rig, postfix, at_home)
    assert_logged_in(rig, postfix, at_home)
    assert_no_mail_for(rig, postfix, user)

    login_time = time.time()
    away = rig.login(user, identity=key.path, client=abroad, via="key-alone")
    assert not away.prompts, explain(rig, postfix, away)
    assert_logged_in(rig, postfix, away)

    alert = received_alert(rig, postfix, user, away)
    body = assert_alert_fields(alert, user, postfix, abroad.address, login_time)
    assert ENABLE_HINT in body, ("MFA is off: the alert should tell how to enable it\n" +
                                 alert.as_string())

    entries = json.loads(fotoauthctl(rig, "history", "--user", user.name, "--json"))["entries"]
    logins = [(e["source"], e["country"], e["unusual"]) for e in entries if e["event"] == "login"]
    assert logins == [(abroad.address, UNUSUAL_COUNTRY, True),
                      (home.address, USUAL_COUNTRY, False)], json.dumps(entries)
