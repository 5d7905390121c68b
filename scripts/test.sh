#!/bin/bash
# Builds fotostudio-auth and runs all of its tests:
#   unit         cmocka programs, through `meson test --suite unit`
#   integration  the real libpam and the real daemon (pytest, tests/integration)
#   e2e          a private real sshd and the real ssh client (pytest, tests/e2e)
#   packaging    the Debian packages built, checked by lintian, installed and removed in a
#                private copy of this machine (pytest, tests/packaging)
#   bench        a quick run of the benchmark harness against every peer, counting results
#                (bench/smoke.sh, through tests/bench)
#   fuzz         each libFuzzer target of fuzz/ for 60 s with ASan and UBSan (scripts/fuzz.sh,
#                through tests/fuzz)
#   sanitized    the unit and integration tests again, built with ASan and UBSan
#                (scripts/sanitizers.sh, through tests/sanitized)
#
# Usage: bash scripts/test.sh   (from any folder; as root, since the integration and end-to-end
# tests create users and PAM services: without root they are reported as skipped)
#
# The last line of output counts the test cases of all layers: "N passed, M failed", followed by
# ", K skipped" when some were skipped. The exit status is 0 only when nothing failed and at
# least one test passed. FOTOSTUDIO_BUILD_DIR chooses another build folder than build/.
set -u -o pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." || exit 1
TOP=$PWD
BUILD_DIR=$(readlink -m "${FOTOSTUDIO_BUILD_DIR:-$TOP/build}")
RESULTS=$BUILD_DIR/test-results
# Debian's interpreter, which has python3-pytest and python3-pexpect; another python3 (pyenv)
# may come first on PATH.
PYTHON=/usr/bin/python3
# meson names its logs of the unit tests after this, plus the wrapper's name.
UNIT_LOGBASE=unit-testlog

export FOTOSTUDIO_BUILD_DIR=$BUILD_DIR
export DEBIAN_FRONTEND=noninteractive

step() {
    printf '\n==> %s\n' "$*"
}

install_dependencies() {
    # shellcheck source=scripts/deps.sh
    source "$TOP/scripts/deps.sh"
    local missing
    mapfile -t missing < <(fotostudio_missing_packages "${FOTOSTUDIO_ALL_PACKAGES[@]}")
    if ((${#missing[@]} == 0)); then
        echo "All ${#FOTOSTUDIO_ALL_PACKAGES[@]} needed packages are installed."
        return 0
    fi

    local as_root=()
    if ((EUID != 0)); then
        if ! command -v sudo >/dev/null; then
            echo "error: only root can install these missing packages: ${missing[*]}" >&2
            return 1
        fi
        as_root=(sudo --preserve-env=DEBIAN_FRONTEND)
    fi

    echo "Installing: ${missing[*]}"
    # Postfix asks questions on installation: postfix.sh answers them first ("Local only").
    "${as_root[@]}" apt-get update -qq </dev/null &&
        { source "$TOP/tests/support/postfix.sh" && install_postfix_quietly; } &&
        "${as_root[@]}" apt-get install -y -qq --no-install-recommends \
            "${FOTOSTUDIO_ALL_PACKAGES[@]}" </dev/null
}

# The GeoIP tests fetch one real public country database with npm. Machines of this kind come
# with Node.js and npm; where npm is missing, Debian's package provides it.
install_npm_if_missing() {
    command -v npm >/dev/null && return 0
    echo "Installing: npm"
    local as_root=()
    ((EUID != 0)) && as_root=(sudo --preserve-env=DEBIAN_FRONTEND)
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends npm </dev/null
}

configure_and_build() {
    if [[ ! -f $BUILD_DIR/build.ninja ]]; then
        if [[ -f $BUILD_DIR/meson-private/coredata.dat ]]; then
            meson setup --reconfigure "$BUILD_DIR" </dev/null || return 1
        else
            meson setup "$BUILD_DIR" </dev/null || return 1
        fi
    fi
    ninja -C "$BUILD_DIR" </dev/null
}

run_unit_tests() {
    mkdir -p "$RESULTS/unit"
    rm -f "$BUILD_DIR/meson-logs/$UNIT_LOGBASE"*
    FOTOSTUDIO_UNIT_RESULTS=$RESULTS/unit \
        meson test -C "$BUILD_DIR" --suite unit --print-errorlogs --logbase "$UNIT_LOGBASE" \
        --wrapper "$(printf '%q' "$TOP/scripts/run-cmocka-test.sh")" </dev/null
}

# Runs one folder of pytest tests; its results go to $RESULTS/pytest-NAME.xml.
run_pytest() {
    local name=$1
    "$PYTHON" -m pytest -v -rfEs -p no:cacheprovider --rootdir "$TOP" \
        --junitxml "$RESULTS/pytest-$name.xml" -o junit_suite_name="$name" \
        "$TOP/tests/$name" </dev/null
}

main() {
    local summary=("$PYTHON" "$TOP/scripts/summarize.py")

    step "Installing the packages the build and the tests need"
    if ! install_dependencies || ! install_npm_if_missing; then
        if [[ ! -x $PYTHON ]]; then
            # A brand-new machine may lack python3 until the install works.
            printf '\nsetup: installing packages failed\n0 passed, 1 failed\n'
            return 1
        fi
        "${summary[@]}" --broken-step "installing packages"
        return
    fi

    step "Building in $BUILD_DIR"
    if ! configure_and_build; then
        "${summary[@]}" --broken-step "build"
        return
    fi

    rm -rf "$RESULTS"
    mkdir -p "$RESULTS"

    step "Unit tests"
    run_unit_tests
    summary+=(--unit "$BUILD_DIR/meson-logs/$UNIT_LOGBASE" "$RESULTS/unit")

    local layer status
    for layer in integration e2e packaging bench fuzz sanitized; do
        step "Tests: $layer"
        run_pytest "$layer"
        status=$?
        summary+=(--pytest "$layer" "$RESULTS/pytest-$layer.xml" "$status")
    done

    step "Summary"
    "${summary[@]}"
}

main
