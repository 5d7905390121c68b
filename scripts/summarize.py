#!/usr/bin/python3
"""Counts the test cases of every layer that scripts/test.sh ran and prints one summary line.

Inputs:
  --unit MESON_LOG RUNS_DIR   the --logbase path of `meson test --suite unit` (meson appends the
                              wrapper's name and .json to it), and the folder where
                              scripts/run-cmocka-test.sh put one sub-folder (cmocka XML,
                              command, exit status) per test program it ran
  --pytest NAME JUNIT EXIT    one pytest run: a name for the layer, its --junitxml file and its
                              exit status (repeatable)
  --broken-step NAME          a step before the tests (install, build) failed

The last line printed is exactly "N passed, M failed" with ", K skipped" appended when K > 0.
A layer that crashed or reported no test counts as one failed case, never as zero tests, so that
a broken harness cannot look like a green run. Exit status: 0 when nothing failed and at least
one case passed, 1 otherwise.
"""
import argparse
import json
import re
import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

MESON_GOOD_RESULTS = {"OK", "EXPECTEDFAIL"}
MESON_SKIP_RESULT = "SKIP"


@dataclass
class Tally:
    layer: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    problems: list = field(default_factory=list)

    def fail(self, what, why):
        self.failed += 1
        self.problems.append(f"{what}: {why}")

    def line(self):
        return f"{self.layer}: {counts_text(self.passed, self.failed, self.skipped)}"


def counts_text(passed, failed, skipped):
    text = f"{passed} passed, {failed} failed"
    return text + (f", {skipped} skipped" if skipped else "")


def first_line(text):
    lines = (text or "").strip().splitlines()
    return lines[0][:200] if lines else "(no message)"


def count_testcases(root, tally, prefix=""):
    """Adds each <testcase> under root to the tally; returns how many there were."""
    cases = list(root.iter("testcase"))
    for case in cases:
        name = "::".join(part for part in (case.get("classname"), case.get("name", "?")) if part)
        name = prefix + name
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is not None:
            tally.fail(name, first_line(bad.get("message") or bad.text))
        elif case.find("skipped") is not None:
            tally.skipped += 1
        else:
            tally.passed += 1
    return len(cases)


def parse_cmocka_xml(path):
    """cmocka appends a whole document per group when the file name has no %g: accept that."""
    text = path.read_text(errors="replace")
    text = re.sub(r"<\?xml[^>]*\?>", "", text)
    return ElementTree.fromstring(f"<all>{text}</all>")


def read_unit_runs(runs_dir):
    """Maps each command that the wrapper ran to the list of its run folders."""
    runs = {}
    for run in sorted(runs_dir.glob("run-*")):
        command_file = run / "command"
        if not command_file.exists():
            continue
        command = tuple(command_file.read_bytes().decode(errors="replace").split("\0")[:-1])
        runs.setdefault(command, []).append(run)
    return runs


def tally_unit_run(tally, test_name, run):
    """Adds the cases of one test program's run; returns whether it added a failure."""
    status_file = run / "exit-status"
    if not status_file.exists():
        tally.fail(test_name, "killed before it finished (timeout?)")
        return True
    status = int(status_file.read_text().strip() or "-1")

    failed_before = tally.failed
    cases = 0
    for xml_file in sorted(run.glob("*.xml")):
        try:
            cases += count_testcases(parse_cmocka_xml(xml_file), tally, f"{test_name} :: ")
        except ElementTree.ParseError as error:
            tally.fail(test_name, f"unreadable cmocka XML {xml_file.name}: {error}")

    if cases == 0:
        tally.fail(test_name, f"reported no cmocka case (exit status {status})")
    elif status != 0 and tally.failed == failed_before:
        tally.fail(test_name, f"exit status {status} although every case it reported passed")
    return tally.failed > failed_before


def tally_unit(meson_logbase, runs_dir):
    tally = Tally("unit")
    meson_logs = sorted(meson_logbase.parent.glob(f"{meson_logbase.name}*.json"))
    if not meson_logs:
        tally.fail("meson test", "wrote no log: no unit test ran (none in suite 'unit'?)")
        return tally

    runs = read_unit_runs(runs_dir)
    tests = [json.loads(line) for line in meson_logs[0].read_text().splitlines() if line.strip()]
    if not tests:
        tally.fail("meson test", "ran no unit test (is any test declared with suite 'unit'?)")
    for test in tests:
        name = test.get("name", "?")
        if test.get("result") == MESON_SKIP_RESULT:
            tally.skipped += 1
            continue
        run = find_run(runs, test.get("command") or [])
        if run is None:
            tally.fail(name, f"meson says {test.get('result')}, but the program never started")
            continue
        failure_recorded = tally_unit_run(tally, name, run)
        if test.get("result") not in MESON_GOOD_RESULTS and not failure_recorded:
            tally.fail(name, f"meson says {test.get('result')}")
    return tally


def find_run(runs, meson_command):
    """meson's command is the wrapper followed by the test's own: match on that tail."""
    for command, folders in runs.items():
        if folders and tuple(meson_command[-len(command):]) == command:
            return folders.pop(0)
    return None


def tally_pytest(layer, junit, exit_status):
    tally = Tally(layer)
    try:
        root = ElementTree.parse(junit).getroot()
    except (OSError, ElementTree.ParseError) as error:
        tally.fail(f"pytest {layer}", f"crashed, no readable results (exit {exit_status}): {error}")
        return tally

    if count_testcases(root, tally) == 0:
        tally.fail(f"pytest {layer}", f"collected no test (exit {exit_status})")
    elif exit_status != 0 and tally.failed == 0:
        tally.fail(f"pytest {layer}", f"exit status {exit_status} without a failed case")
    return tally


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unit", nargs=2, metavar=("MESON_LOG", "RUNS_DIR"), type=Path)
    parser.add_argument("--pytest", nargs=3, action="append", default=[],
                        metavar=("NAME", "JUNIT", "EXIT"))
    parser.add_argument("--broken-step", action="append", default=[])
    return parser.parse_args()


def main():
    arguments = parse_arguments()
    tallies = []
    if arguments.broken_step:
        broken = Tally("setup")
        for step in arguments.broken_step:
            broken.fail(step, "failed, so the tests after it did not run")
        tallies.append(broken)
    if arguments.unit:
        tallies.append(tally_unit(*arguments.unit))
    for name, junit, exit_status in arguments.pytest:
        tallies.append(tally_pytest(name, Path(junit), int(exit_status)))

    print()
    for tally in tallies:
        print(tally.line())
        for problem in tally.problems:
            print(f"  FAILED {problem}")

    passed = sum(t.passed for t in tallies)
    failed = sum(t.failed for t in tallies)
    skipped = sum(t.skipped for t in tallies)
    print(counts_text(passed, failed, skipped))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
