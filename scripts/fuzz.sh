#!/bin/bash
# Builds the libFuzzer targets of fuzz/ with clang, AddressSanitizer and UndefinedBehaviorSanitizer
# and runs each of them for a while on a copy of its seed corpus (docs/fuzzing.md).
#
# Usage: bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   SECONDS_PER_TARGET  how long each target runs (default 60)
#   TARGET              only these targets, e.g. fuzz_config_parse (default: all of fuzz/)
#
# Two targets run at a time (FOTOSTUDIO_FUZZ_JOBS changes that). One line per target tells its
# executions and its outcome. The exit status is non-zero when any target crashed, leaked, broke
# a property or made a sanitizer report; the input that did it is saved under fuzz/crashes/ and
# the line says how to run it again. The build folder is build-fuzz/ (FOTOSTUDIO_FUZZ_BUILD_DIR);
# the logs and the grown corpora are kept in it, under fuzz-logs/ and fuzz-work/.
set -u -o pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." || exit 1
TOP=$PWD
BUILD_DIR=$(readlink -m "${FOTOSTUDIO_FUZZ_BUILD_DIR:-$TOP/build-fuzz}")
JOBS=${FOTOSTUDIO_FUZZ_JOBS:-2}
SECONDS_PER_TARGET=${1:-60}
shift $(($# > 0 ? 1 : 0))
CRASH_DIR=$TOP/fuzz/crashes
LOG_DIR=$BUILD_DIR/fuzz-logs
WORK_DIR=$BUILD_DIR/fuzz-work

# Every file is compiled with the sanitizers and the fuzzer's coverage instrumentation, so that
# the product's own libraries steer the fuzzer; the targets add the fuzzer's main at link time.
# Any undefined behaviour stops the run: a report that let the run go on would be easy to miss.
MESON_OPTIONS=(
    -Dfuzzing=true
    -Dtests=false
    "-Db_sanitize=address,undefined"
    -Db_lundef=false
    "-Dcpp_args=-fsanitize=fuzzer-no-link -fno-sanitize-recover=all -fno-omit-frame-pointer"
)

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:symbolize=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:symbolize=1

targets_in_tree() {
    local source
    for source in "$TOP"/fuzz/fuzz_*.cpp; do
        basename "$source" .cpp
    done
}

configure_and_build() {
    local targets=("$@")
    if [[ ! -f $BUILD_DIR/build.ninja ]]; then
        CC=clang CXX=clang++ meson setup "$BUILD_DIR" "${MESON_OPTIONS[@]}" </dev/null || return 1
    fi
    # Only the targets: the PAM module cannot be linked with -z defs against clang's
    # sanitizer runtimes, which clang links into executables only.
    ninja -C "$BUILD_DIR" "${targets[@]/#/fuzz/}" </dev/null
}

# Runs one target; its log is $LOG_DIR/TARGET.log.
run_target() {
    local target=$1
    local work=$WORK_DIR/$target
    local options=(
        -max_total_time="$SECONDS_PER_TARGET"
        -timeout=10            # seconds for one input: a hang is a finding too
        -rss_limit_mb=2048
        -print_final_stats=1
        -artifact_prefix="$CRASH_DIR/$target-"
    )
    if [[ -f $TOP/fuzz/$target.dict ]]; then
        options+=(-dict="$TOP/fuzz/$target.dict")
    fi

    mkdir -p "$work"
    cp -n "$TOP/fuzz/corpus/$target"/* "$work"/ 2>/dev/null
    "$BUILD_DIR/fuzz/$target" "${options[@]}" "$work" >"$LOG_DIR/$target.log" 2>&1
}

# What the log of a finished target says, in one line.
summarize_target() {
    local target=$1 status=$2
    local log=$LOG_DIR/$target.log
    local runs
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if ((status == 0)); then
        printf '%-24s %12s runs  ok\n' "$target" "${runs:-?}"
        return 0
    fi

    local what artifact
    what=$(grep -m 1 -o -E 'ERROR: [A-Za-z]+Sanitizer: [-a-z0-9_]+|runtime error: .*|fuzz: property broken: .*|ERROR: libFuzzer: [-a-z ]+' "$log")
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    printf '%-24s %12s runs  FAILED: %s\n' "$target" "${runs:-?}" "${what:-exit status $status}"
    if [[ -n $artifact ]]; then
        printf '%-24s again: %s %s\n' "" "${BUILD_DIR#"$TOP"/}/fuzz/$target" "${artifact#"$TOP"/}"
    fi
    printf '%-24s log: %s\n' "" "$log"
    return 1
}

main() {
    local targets=("$@")
    if ((${#targets[@]} == 0)); then
        mapfile -t targets < <(targets_in_tree)
    fi

    echo "==> Building ${#targets[@]} fuzz targets in $BUILD_DIR"
    if ! configure_and_build "${targets[@]}"; then
        echo "fuzz: the build failed"
        return 1
    fi

    mkdir -p "$CRASH_DIR" "$LOG_DIR"
    echo "==> Running each for $SECONDS_PER_TARGET s, $JOBS at a time"
    local -A pid_of=() status_of=()
    local target running
    for target in "${targets[@]}"; do
        while running=$(jobs -rp | wc -l) && ((running >= JOBS)); do
            wait -n
        done
        run_target "$target" &
        pid_of[$target]=$!
    done

    local failed=0
    for target in "${targets[@]}"; do
        wait "${pid_of[$target]}"
        status_of[$target]=$?
        summarize_target "$target" "${status_of[$target]}" || failed=1
    done
    if ((failed)); then
        echo "fuzz: FAILED (inputs under ${CRASH_DIR#"$TOP"/}/, docs/fuzzing.md says what to do)"
        return 1
    fi
    echo "fuzz: all ${#targets[@]} targets ran $SECONDS_PER_TARGET s without a finding"
}

main "$@"
