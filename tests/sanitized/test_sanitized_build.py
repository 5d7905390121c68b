"""The daemon, the module, pam-driver, fotoauthctl and the unit tests built with AddressSanitizer
and UndefinedBehaviorSanitizer (scripts/sanitizers.sh, docs/fuzzing.md): the unit suite and the
integration tests pass with them, and no sanitized program wrote a report (a leak, an overflow,
undefined behaviour). Which tests cannot run sanitized is listed in docs/fuzzing.md."""
import re
import subprocess

import pytest

from support.paths import TOP


@pytest.fixture(scope="module")
def sanitized_run():
    result = subprocess.run(["bash", str(TOP / "scripts" / "sanitizers.sh")], capture_output=True,
                            text=True, timeout=3600)
    verdicts = dict(re.findall(r"^sanitizers: (unit|integration|reports) (ok|FAILED)$",
                               result.stdout, re.M))
    return result, verdicts


@pytest.mark.parametrize("part", ["unit", "integration", "reports"])
def test_the_sanitized_build_passes(sanitized_run, part):
    result, verdicts = sanitized_run
    tail = "\n".join((result.stdout + result.stderr).splitlines()[-80:])
    assert verdicts.get(part) == "ok", f"{part}: {verdicts.get(part)}\n{tail}"
