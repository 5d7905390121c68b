"""The systemd unit: its confinement score, its syntax, and that the daemon started the way the
end-to-end tests start it (support/unit_confinement.py) really runs with exactly the unit's
capabilities, NoNewPrivileges= and UMask=."""
import re
import subprocess

import pytest

from support.daemon import Daemon
from support.unit_confinement import UNIT, capabilities, service_settings

SOCKET_UNIT = UNIT.with_name("fotoauthd.socket")

# linux/capability.h
CAPABILITY_BITS = {"dac_override": 1, "dac_read_search": 2, "kill": 5}


def exposure(unit):
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)],
                            capture_output=True, text=True, timeout=60)
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    return float(found.group(1))


def test_the_unit_scores_two_or_lower_in_systemd_analyze_security():
    assert exposure(UNIT) <= 2.0


def test_systemd_reads_every_setting_of_both_units():
    result = subprocess.run(["systemd-analyze", "verify", str(UNIT), str(SOCKET_UNIT)],
                            capture_output=True, text=True, timeout=60)
    complaints = [line for line in result.stderr.splitlines()
                  # The binary and the manual page are not installed on a test machine.
                  if "/usr/sbin/fotoauthd" not in line and "man " not in line
                  and "Command 'man" not in line]
    assert complaints == [], result.stderr


def test_the_unit_has_what_the_service_contract_needs():
    settings = service_settings()
    assert settings["Type"] == ["notify"]
    assert settings["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert settings["StateDirectory"] == ["fotoauthd"]
    assert settings["RuntimeDirectory"] == ["fotoauthd"]
    # The settings that would break the daemon (docs/service.md) stay off.
    assert "PrivateUsers" not in settings
    assert settings.get("ProtectProc", ["default"]) == ["default"]


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


@pytest.fixture
def confined():
    daemon = Daemon(confined=True)
    daemon.start()
    yield daemon
    daemon.stop()
    daemon.cleanup()


def test_the_confined_daemon_has_exactly_the_units_capabilities(confined):
    status = proc_status(confined.process.pid)
    expected = 0
    for name in capabilities(service_settings()):
        expected |= 1 << CAPABILITY_BITS[name]
    assert int(status["CapBnd"], 16) == expected
    assert int(status["CapEff"], 16) == expected
    assert status["NoNewPrivs"] == "1"
    assert int(status["Umask"], 8) == 0o077
    # What it creates is private.
    assert confined.database.stat().st_mode & 0o077 == 0
