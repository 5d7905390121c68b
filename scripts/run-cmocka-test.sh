#!/bin/bash
# Runs one unit test for scripts/test.sh, as `meson test --wrapper`, so that cmocka writes the
# result of each case as XML into a folder of its own under $FOTOSTUDIO_UNIT_RESULTS.
#
# A folder per run is needed because cmocka names its XML file after the test group (%g), and
# most test programs call their group "tests": a second program would find the file taken and
# print its results to stderr instead. The folder also holds the command, so that
# scripts/summarize.py can match it with meson's own record of the test.
set -u

run_dir=$(mktemp -d "${FOTOSTUDIO_UNIT_RESULTS:?set by scripts/test.sh}/run-XXXXXX") || exit 1
printf '%s\0' "$@" >"$run_dir/command"

CMOCKA_MESSAGE_OUTPUT=xml CMOCKA_XML_FILE="$run_dir/%g.xml" "$@"
status=$?
echo "$status" >"$run_dir/exit-status"
exit "$status"
