#!/usr/bin/env bash
# What one login costs fotoauthd itself, counted rather than timed, so that a change can be judged
# on a machine other work keeps busy: the daemon's instructions per right-code and per wrong-code
# login (callgrind, counters zeroed after a warm-up and dumped after the run) and its system
# calls per login (strace -c). The logins are pam-bench --direct --one-connection: Preauth,
# AuthQuery and AuthVerify on one connection, as the module sends them. Needs root, valgrind and
# strace; like run-compare.sh the users exist only in a private mount namespace (libnss-db).
#
#   bash bench/daemon-cost.sh [--users N] [--logins L] [--out DIR]
#
# Every right-code login takes a user no earlier login of this run used, so N must be at least
# 3 * L + 100. Writes callgrind.right, callgrind.wrong (callgrind_annotate reads them) and
# strace.txt into DIR, and prints one summary line per measurement; last, what resolving a new
# user's name through NSS costs alone (nss-lookup), timed.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/common.sh
source "$top/bench/common.sh"
build=${FOTOSTUDIO_BUILD_DIR:-$top/build}
users=4000
logins=300
out=
while (($#)); do
    case $1 in
    --users) users=$2; shift 2 ;;
    --logins) logins=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--users N] [--logins L] [--out DIR]" >&2; exit 2 ;;
    esac
done
if ((users < 3 * logins + 100)); then
    echo "--users must be at least 3 * --logins + 100" >&2
    exit 2
fi

if [[ ${FSBENCH_INSIDE:-} != 1 ]]; then
    if ((EUID != 0)); then
        echo "daemon-cost.sh needs root: it makes a mount namespace" >&2
        exit 2
    fi
    for tool in unshare makedb valgrind callgrind_control strace; do
        command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
    done
    out=${out:-$(mktemp -d /tmp/fsbench-cost-XXXXXX)}
    mkdir -p "$out"
    export FSBENCH_INSIDE=1
    exec unshare --mount --propagation private bash "${BASH_SOURCE[0]}" --users "$users" \
        --logins "$logins" --out "$out"
fi

# ---- inside the private mount namespace ----
pam_bench=$build/bench/pam-bench
work=$(mktemp -d /tmp/fsbench-cost-work-XXXXXX)
chmod 755 "$work"
dir=$work/p
daemon_pid=
stop_daemon() {
    if [[ -n $daemon_pid ]]; then
        kill "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
        daemon_pid=
    fi
}
trap 'stop_daemon; rm -rf "$work"' EXIT

mkdir -p "$work/nssdb" "$dir"
chmod 755 "$dir"
cp -a /etc "$work/etc"
sed -i -e 's/^passwd:.*/passwd:         files db/' "$work/etc/nsswitch.conf"
mount --bind "$work/etc" /etc
mount --bind "$work/nssdb" /var/lib/misc

# The limits of run-compare.sh: high enough that no login meets them.
bench_daemon_config "$dir" >"$dir/fotoauthd.conf"

# start_daemon [WRAPPER...]: the daemon, under the wrapper when one is given.
start_daemon() {
    rm -f "$dir/run/socket"
    "$@" "$build/fotoauthd/fotoauthd" --config "$dir/fotoauthd.conf" >>"$out/fotoauthd.log" 2>&1 &
    daemon_pid=$!
    for _ in $(seq 1200); do
        [[ -S $dir/run/socket ]] && return 0
        kill -0 "$daemon_pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "fotoauthd did not start; see $out/fotoauthd.log" >&2
    exit 1
}

start_daemon
stop_daemon
"$build/bench/bench-populate" --dir "$dir" --users "$users" --tested 10 \
    --database "$dir/state/fotoauthd.sqlite" >/dev/null
awk 'BEGIN { FS=":"; OFS=":"; cnt=0 }
     { printf "0%u ", cnt++; print; printf ".%s ", $1; print; printf "=%s ", $3; print }' \
    "$dir/passwd" | makedb -o "$work/nssdb/passwd.db" -

# Users 0..49 are the warm-up's; right-code logins then take the next unused ones.
next_user=50
# logins MODE COUNT: COUNT logins, right ones of users not used before, wrong ones of users 0...
logins() {
    local first=0
    if [[ $1 == right ]]; then
        first=$next_user
        next_user=$((next_user + $2))
    fi
    "$pam_bench" --direct "$dir/run/socket" --one-connection --first "$first" --users "$2" \
        --mode "$1"
}

# Instructions: counters zeroed after a warm-up (the first lookups, SQLite's page cache).
start_daemon valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.%p"
"$pam_bench" --direct "$dir/run/socket" --one-connection --first 0 --users 50 --mode right \
    >/dev/null
logins wrong 50 >/dev/null
for mode in right wrong; do
    callgrind_control --zero "$daemon_pid" >/dev/null 2>&1
    logins "$mode" "$logins" >"$out/run-$mode.txt"
    callgrind_control --dump="$mode" "$daemon_pid" >/dev/null 2>&1
    dump=$(grep -l "^desc: Trigger: dump $mode\$" "$work"/callgrind.*.* | head -1)
    cp "$dump" "$out/callgrind.$mode"
    total=$(awk '/^(summary|totals):/ { print $2; exit }' "$out/callgrind.$mode")
    echo "$mode-code logins: $((total / logins)) daemon instructions per login" \
        "($(grep -o 'success=[0-9]*' "$out/run-$mode.txt") of $logins)"
done
stop_daemon

# System calls, of right-code logins on a daemon without valgrind.
start_daemon
strace -q -c -f -p "$daemon_pid" -o "$out/strace.txt" &
strace_pid=$!
sleep 1
logins right "$logins" >/dev/null
kill -INT "$strace_pid"
wait "$strace_pid" || true
stop_daemon
awk -v n="$logins" '$NF == "total" { printf "system calls per right-code login: %.1f\n", $4 / n }' \
    "$out/strace.txt"

# Resolving a name the daemon has not seen for ten seconds, apart from everything else: the
# users this script has not logged in yet, in a process of their own.
"$build/bench/nss-lookup" --first "$next_user" --users "$logins" >"$out/nss-lookup.txt"
awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^mean_us=/) { sub("mean_us=", "", $i); m = $i } }
     END { printf "NSS lookup of a user not seen before: %s µs\n", m }' "$out/nss-lookup.txt"
echo "details in $out"
