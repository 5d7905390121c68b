#!/bin/bash
# Builds fotostudio-auth with AddressSanitizer (and LeakSanitizer) and UndefinedBehaviorSanitizer
# and runs the unit tests and the integration tests against that build: the sanitized daemon,
# the sanitized PAM module inside the sanitized pam-driver, the sanitized fotoauthctl.
# docs/fuzzing.md says what this covers and what it cannot.
#
# Usage: bash scripts/sanitizers.sh   (as root, like scripts/test.sh, for the integration tests)
#
# The build folder is build-asan/ (FOTOSTUDIO_ASAN_BUILD_DIR). Every sanitized program started
# by the integration tests writes its reports into build-asan/sanitizer-reports/ instead of its
# stderr, so that a report of the daemon, whose log the tests throw away, is seen too. The exit
# status is non-zero when a unit or integration test failed or any report was written.
set -u -o pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." || exit 1
TOP=$PWD
BUILD_DIR=$(readlink -m "${FOTOSTUDIO_ASAN_BUILD_DIR:-$TOP/build-asan}")
REPORTS=$BUILD_DIR/sanitizer-reports
PYTHON=/usr/bin/python3

# gcc links its sanitizer runtimes into shared objects too, so the PAM module keeps its
# -z defs link and loads into any sanitized program; undefined behaviour stops the program.
MESON_OPTIONS=(
    "-Db_sanitize=address,undefined"
    "-Dcpp_args=-fno-omit-frame-pointer"
)

# Tests that look at the production shape of the module, not at its behaviour: a sanitized
# module needs libasan and libubsan, and loading it into python (ctypes) aborts because the
# ASan runtime must be the first library of the process. The ordinary run (scripts/test.sh)
# keeps them.
LEFT_OUT=(
    tests/integration/test_pam_module_binary.py
)

step() {
    printf '\n==> %s\n' "$*"
}

configure_and_build() {
    if [[ ! -f $BUILD_DIR/build.ninja ]]; then
        CC=gcc CXX=g++ meson setup "$BUILD_DIR" "${MESON_OPTIONS[@]}" </dev/null || return 1
    fi
    ninja -C "$BUILD_DIR" </dev/null
}

# The options every sanitized program gets; a log path, when given, takes reports off stderr.
sanitizer_options() {
    local log_path=${1:-}
    local asan=detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1
    local ubsan=halt_on_error=1:print_stacktrace=1
    if [[ -n $log_path ]]; then
        asan+=:log_path=$log_path/asan
        ubsan+=:log_path=$log_path/ubsan
    fi
    export ASAN_OPTIONS=$asan UBSAN_OPTIONS=$ubsan
    # A test that preloads a library of its own (libfaketime) must put the ASan runtime first.
    FOTOSTUDIO_PRELOAD_FIRST=$(gcc -print-file-name=libasan.so)
    export FOTOSTUDIO_PRELOAD_FIRST
}

run_unit_tests() {
    sanitizer_options
    # ASan makes the tests that hash recovery codes and use SQLite several times slower.
    meson test -C "$BUILD_DIR" --suite unit --print-errorlogs --timeout-multiplier 10 </dev/null
}

run_integration_tests() {
    # Programs run as test users (runuser) write here too; the sticky bit keeps their files theirs.
    rm -rf "$REPORTS"
    mkdir -p "$REPORTS"
    chmod 1777 "$REPORTS"
    sanitizer_options "$REPORTS"

    local ignore=() name
    for name in "${LEFT_OUT[@]}"; do
        ignore+=(--ignore "$TOP/$name")
    done
    FOTOSTUDIO_BUILD_DIR=$BUILD_DIR "$PYTHON" -m pytest -q -rfEs -p no:cacheprovider \
        --rootdir "$TOP" "${ignore[@]}" "$TOP/tests/integration" </dev/null
}

# Prints every report the sanitized programs wrote; fails when there is one.
check_reports() {
    local reports=()
    mapfile -t reports < <(find "$REPORTS" -type f | sort)
    if ((${#reports[@]} == 0)); then
        echo "No sanitizer reports from the programs the integration tests ran."
        return 0
    fi
    local report
    for report in "${reports[@]}"; do
        printf '\n--- %s\n' "$report"
        cat "$report"
    done
    printf '\n%d sanitizer report(s) in %s\n' "${#reports[@]}" "$REPORTS"
    return 1
}

main() {
    local failed=0

    step "Building with ASan and UBSan in $BUILD_DIR"
    if ! configure_and_build; then
        echo "sanitizers: the build failed"
        return 1
    fi

    # One verdict line per part, for tests/sanitized to read.
    step "Unit tests under ASan and UBSan"
    if run_unit_tests; then echo "sanitizers: unit ok"; else echo "sanitizers: unit FAILED"; failed=1; fi

    step "Integration tests under ASan and UBSan"
    if run_integration_tests; then
        echo "sanitizers: integration ok"
    else
        echo "sanitizers: integration FAILED"
        failed=1
    fi

    step "Sanitizer reports of the daemon, the module, pam-driver and fotoauthctl"
    if check_reports; then echo "sanitizers: reports ok"; else echo "sanitizers: reports FAILED"; failed=1; fi

    if ((failed)); then
        echo "sanitizers: FAILED"
        return 1
    fi
    echo "sanitizers: unit and integration tests passed without a sanitizer report"
}

main
