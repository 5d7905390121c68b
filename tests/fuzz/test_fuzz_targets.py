"""The libFuzzer targets of fuzz/ (docs/fuzzing.md), each run for a fixed time by scripts/fuzz.sh,
as one test case each: a crash, a leak, a sanitizer report, a hang or a broken property fails
that target's case and leaves its input under fuzz/crashes/.

FOTOSTUDIO_FUZZ_SECONDS sets the time per target (60 by default, as in CI)."""
import os
import re
import subprocess

import pytest

from support.paths import TOP

TARGETS = sorted(path.stem for path in (TOP / "fuzz").glob("fuzz_*.cpp"))
SECONDS = os.environ.get("FOTOSTUDIO_FUZZ_SECONDS", "60")


@pytest.fixture(scope="module")
def fuzz_run():
    result = subprocess.run(["bash", str(TOP / "scripts" / "fuzz.sh"), SECONDS],
                            capture_output=True, text=True, timeout=3600)
    lines = {}
    for line in result.stdout.splitlines():
        found = re.match(r"^(fuzz_\w+)\s+(\S+) runs\s+(.*)$", line)
        if found:
            lines[found.group(1)] = (found.group(2), found.group(3))
    return result, lines


def test_every_target_has_a_seed_corpus():
    for target in TARGETS:
        corpus = TOP / "fuzz" / "corpus" / target
        assert corpus.is_dir() and any(corpus.iterdir()), f"{target} has no seed corpus"


@pytest.mark.parametrize("target", TARGETS)
def test_the_target_runs_its_time_without_a_finding(fuzz_run, target):
    result, lines = fuzz_run
    assert target in lines, result.stdout + result.stderr
    runs, outcome = lines[target]
    assert outcome == "ok", f"{target}: {outcome}\n{result.stdout}"
    assert runs.isdigit() and int(runs) > 1000, f"{target} ran only {runs} inputs"
