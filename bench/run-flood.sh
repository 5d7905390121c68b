#!/usr/bin/env bash
# Measures how many login attempts per second fotoauthd's rate limiter decides under a flood from
# many sources, and the daemon's peak memory meanwhile. Uses the build in build/ (or
# FOTOSTUDIO_BUILD_DIR) and a private daemon with the default limits; touches nothing else.
#
#   bash bench/run-flood.sh [REQUESTS] [SOURCES]
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FOTOSTUDIO_BUILD_DIR:-$top/build}
requests=${1:-200000}
sources=${2:-100000}

work=$(mktemp -d /tmp/fsauth-flood-XXXXXX)
chmod 755 "$work"
daemon_pid=
cleanup() {
    [[ -n $daemon_pid ]] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

printf 'socket = %s/run/socket\ndatabase = %s/state/db.sqlite\n' "$work" "$work" >"$work/conf"
"$build/fotoauthd/fotoauthd" --config "$work/conf" >"$work/log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do
    [[ -S $work/run/socket ]] && break
    sleep 0.05
done

echo "== $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), $("$build/fotoauthd/fotoauthd" --version)"
"$build/bench/preauth-flood" --socket "$work/run/socket" --requests "$requests" \
    --sources "$sources" --workers 2
"$build/bench/preauth-flood" --socket "$work/run/socket" --requests $((requests / 4)) \
    --sources "$sources" --workers 2 --fresh
echo "daemon peak memory: $(grep VmHWM "/proc/$daemon_pid/status" | awk '{print $2, $3}')"
