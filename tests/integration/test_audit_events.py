"""Audit events: every event the daemon's sources log has its fixed journal MESSAGE_ID, listed in
docs/service.md, and the daemon writes it with the event."""
import re

from support.enrolment import enrol
from support.paths import TOP

AUDIT_CALL = re.compile(r'log::audit\(\s*"([a-z-]+)"')
AUDIT_CHOICE = re.compile(r'log::audit\(\s*[^"]*\?\s*"([a-z-]+)"\s*:\s*"([a-z-]+)"')


def events_in_sources():
    found = set()
    for source in (TOP / "fotoauthd").glob("*.cpp"):
        text = source.read_text()
        found |= set(AUDIT_CALL.findall(text))
        for pair in AUDIT_CHOICE.findall(text):
            found |= set(pair)
    return found


def documented_ids():
    table = (TOP / "docs" / "service.md").read_text()
    return dict(re.findall(r"^\| `([a-z-]+)` \| `([0-9a-f]{32})` \|$", table, re.M))


def test_every_audit_event_has_a_unique_documented_message_id():
    events = events_in_sources()
    assert {"mfa-enabled", "unusual-login", "unusual-wrong-code"} <= events
    documented = documented_ids()
    assert events <= set(documented), sorted(events - set(documented))
    assert len(set(documented.values())) == len(documented)
    compiled = (TOP / "fotoauthd" / "log.cpp").read_text()
    for event, message_id in documented.items():
        assert f'{{"{event}", "{message_id}"}}' in compiled, event


def test_the_daemon_logs_the_message_id_with_the_event(daemon, user):
    enrol(daemon.socket, user.name)
    line = next(line for line in daemon.log().splitlines()
                if "FOTOSTUDIO_EVENT=mfa-enabled" in line)
    assert f"MESSAGE_ID={documented_ids()['mfa-enabled']}" in line
