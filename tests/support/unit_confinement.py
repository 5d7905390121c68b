"""The confinement of etc/systemd/fotoauthd.service, applied without systemd.

The test machines have no systemd as PID 1, so the end-to-end tests start fotoauthd under the
unit's own capability bounding set, NoNewPrivileges= and UMask= with setpriv(1), read from the
unit file itself: a capability the unit drops and the daemon needs makes an end-to-end test fail.
The unit's file-system, namespace, address and system-call settings need systemd and stay
untested here (docs/service.md lists them).
"""
import configparser
import os
from pathlib import Path

UNIT = Path(__file__).resolve().parents[2] / "etc" / "systemd" / "fotoauthd.service"


def service_settings(unit=UNIT):
    """The [Service] section as {key: [values]} (a key may repeat in a unit file)."""
    settings = {}
    section = None
    for raw in unit.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        if section == "Service" and "=" in line:
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def capabilities(settings):
    """The capability names setpriv wants ('dac_read_search', ...), from CapabilityBoundingSet=."""
    names = []
    for value in settings.get("CapabilityBoundingSet", []):
        names += [word.lower().removeprefix("cap_") for word in value.split()]
    return names


def setpriv_prefix(unit=UNIT):
    """The command prefix that starts a program as the unit would confine it."""
    settings = service_settings(unit)
    if settings.get("User", ["root"])[-1] not in ("root", "0"):
        raise NotImplementedError("the unit runs as another user; extend setpriv_prefix")
    bounding = ",".join(["-all"] + [f"+{name}" for name in capabilities(settings)])
    prefix = ["setpriv", f"--bounding-set={bounding}", "--inh-caps=-all"]
    if settings.get("NoNewPrivileges", ["no"])[-1] in ("yes", "true", "1", "on"):
        prefix.append("--no-new-privs")
    return prefix + ["--"]


def unit_umask(unit=UNIT):
    """The UMask= of the unit as a number (systemd's default 0022 when unset)."""
    return int(service_settings(unit).get("UMask", ["0022"])[-1], 8)


def apply_umask(unit=UNIT):
    """A preexec_fn for subprocess that sets the unit's umask."""
    mask = unit_umask(unit)
    return lambda: os.umask(mask)
