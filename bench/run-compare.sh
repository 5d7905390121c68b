#!/usr/bin/env bash
# Runs pam_fotostudio and the PAM modules Debian ships side by side (bench/README.md): the same
# driver (pam-bench), the same users, the same machine, one run. Needs root (a private mount
# namespace holds the benchmark's users), the build in build/ (or FOTOSTUDIO_BUILD_DIR) and the
# packages of FOTOSTUDIO_BENCH_PACKAGES (scripts/deps.sh).
#
#   bash bench/run-compare.sh [--populations "1 1000 100000 1000000"] [--tx N] [--out DIR]
#                             [--no-callgrind] [--smoke]
#
# --smoke: fewer recovery codes hashed, fewer concurrency levels, no SQLite timing (bench/smoke.sh).
#
# The users exist only inside `unshare --mount`: a private copy of /etc whose nsswitch.conf adds
# libnss-db ("passwd: files db") and a private /var/lib/misc holding passwd.db, so the system's
# own /etc/passwd, /etc/pam.d and /etc/nsswitch.conf are never changed and nothing is left behind.
# Results go to OUT (default: a new /tmp/fsbench-results-* directory): results.txt (the
# driver's lines), report.md (the tables) and the daemon's logs.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/common.sh
source "$top/bench/common.sh"
build=${FOTOSTUDIO_BUILD_DIR:-$top/build}
populations="1 1000 100000 1000000"
tx=1000
out=
callgrind=1
smoke=0
while (($#)); do
    case $1 in
    --populations) populations=$2; shift 2 ;;
    --tx) tx=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-callgrind) callgrind=0; shift ;;
    --smoke) smoke=1; callgrind=0; shift ;;
    *) echo "usage: $0 [--populations LIST] [--tx N] [--out DIR] [--no-callgrind] [--smoke]" >&2
       exit 2 ;;
    esac
done

if [[ ${FSBENCH_INSIDE:-} != 1 ]]; then
    if ((EUID != 0)); then
        echo "run-compare.sh needs root: it makes a mount namespace and chowns the users' files" >&2
        exit 2
    fi
    for tool in unshare makedb valgrind; do
        command -v "$tool" >/dev/null || { echo "missing $tool (scripts/deps.sh)" >&2; exit 2; }
    done
    out=${out:-$(mktemp -d /tmp/fsbench-results-XXXXXX)}
    mkdir -p "$out"
    export FSBENCH_INSIDE=1 FSBENCH_OUT=$out
    flags=()
    ((callgrind)) || flags+=(--no-callgrind)
    ((smoke)) && flags+=(--smoke)
    exec unshare --mount --propagation private bash "${BASH_SOURCE[0]}" \
        --populations "$populations" --tx "$tx" --out "$out" "${flags[@]}"
fi

# ---- inside the private mount namespace ----
pam_bench=$build/bench/pam-bench
pam_once=$build/bench/pam-once
work=$(mktemp -d /tmp/fsbench-XXXXXX)
chmod 755 "$work"
results=$out/results.txt
: >"$results"
daemon_pid=
cleanup() {
    stop_daemon
    rm -rf "$work"
}
stop_daemon() {
    if [[ -n $daemon_pid ]]; then
        kill "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
        daemon_pid=
    fi
}
trap cleanup EXIT

# A private copy of /etc: the daemon re-reads /etc/passwd whenever a file there is replaced,
# and other work on this machine (useradd in tests) must not reach the measurements.
mkdir -p "$work/nssdb"
cp -a /etc "$work/etc"
sed -i -e 's/^passwd:.*/passwd:         files db/' "$work/etc/nsswitch.conf"
mount --bind "$work/etc" /etc
mount --bind "$work/nssdb" /var/lib/misc

# The benchmark's own limits: high enough that no run meets them (docs/brute-force.md has the
# defaults). Everything else is the default, synchronous=NORMAL in WAL mode included.
daemon_config() {
    bench_daemon_config "$1"
}

start_daemon() {
    local dir=$1
    "$build/fotoauthd/fotoauthd" --config "$dir/fotoauthd.conf" >>"$dir/fotoauthd.log" 2>&1 &
    daemon_pid=$!
    for _ in $(seq 600); do
        [[ -S $dir/run/socket ]] && return 0
        kill -0 "$daemon_pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "fotoauthd did not start; its log:" >&2
    cat "$dir/fotoauthd.log" >&2
    exit 1
}

write_services() {
    local dir=$1
    mkdir -p "$dir/pam.d"
    echo "auth required pam_permit.so" >"$dir/pam.d/permit"
    echo "auth required pam_google_authenticator.so secret=$dir/ga/\${USER}/.google_authenticator" >"$dir/pam.d/ga"
    echo "auth required pam_oath.so usersfile=$dir/oath-users window=1" >"$dir/pam.d/oath"
    echo "auth required $build/pam_fotostudio/pam_fotostudio.so socket=$dir/run/socket" \
        >"$dir/pam.d/fotostudio"
}

# Enrols N users everywhere; the last T are the ones logged in.
populate() {
    local dir=$1 n=$2 tested=$3
    mkdir -p "$dir"
    chmod 755 "$dir"
    daemon_config "$dir" >"$dir/fotoauthd.conf"
    start_daemon "$dir"  # creates the database in the daemon's own schema
    stop_daemon
    "$build/bench/bench-populate" --dir "$dir" --users "$n" --tested "$tested" \
        --database "$dir/state/fotoauthd.sqlite"
    awk 'BEGIN { FS=":"; OFS=":"; cnt=0 }
         { printf "0%u ", cnt++; print; printf ".%s ", $1; print; printf "=%s ", $3; print }' \
        "$dir/passwd" | makedb -o "$work/nssdb/passwd.db" -
    write_services "$dir"
}

# Hands out slices of the tested users, so that no run logs in a user whose current step (or,
# for google-authenticator, whose 30-second rate window) an earlier run has used. When the
# pool is spent, waits for a new step at least 31 s after the pool was first used.
pool_first=0 pool_size=0 pool_next=0 pool_since=0
reset_pool() {
    pool_first=$1 pool_size=$2 pool_next=0 pool_since=$(date +%s)
}
take_users() {
    local count=$1
    if ((count > pool_size)); then
        echo "asked for $count fresh users of a pool of $pool_size" >&2
        exit 1
    fi
    if ((pool_next + count > pool_size)); then
        local now wait_until
        now=$(date +%s)
        wait_until=$(((pool_since + 31 + 29) / 30 * 30))
        ((wait_until > now)) && sleep $((wait_until - now))
        pool_next=0 pool_since=$(date +%s)
    fi
    slice_first=$((pool_first + pool_next))
    pool_next=$((pool_next + count))
}

# run LABEL POPULATION -- pam-bench arguments: runs and records one line of results.
run() {
    local label=$1 population=$2
    shift 3
    local line
    line=$("$pam_bench" "$@") || true
    echo "population=$population label=$label $line" | tee -a "$results"
}

# The three paths and the recovery code, for one service; right-code runs take fresh users.
run_paths() {
    local dir=$1 n=$2 service=$3 count=$4
    local args=(--confdir "$dir/pam.d" --service "$service" "${warm[@]}")
    take_users "$count"
    run "$service right" "$n" -- "${args[@]}" --first "$slice_first" --users "$count" --mode right
    if [[ $service == ga ]]; then
        # google-authenticator counts every attempt toward RATE_LIMIT 3 30: the first three
        # wrong codes of a user within 30 s are checked, a fourth is refused unchecked.
        # A few hundred users, so that all four attempts of each fall within its 30 s.
        local few=$((count < 300 ? count : 300))
        take_users "$few"
        run "ga wrong (checked)" "$n" -- "${args[@]}" --first "$slice_first" --users "$few" \
            --transactions $((few * 3)) --mode wrong
        run "ga wrong (rate-limited)" "$n" -- "${args[@]}" --first "$slice_first" \
            --users "$few" --mode wrong
    else
        run "$service wrong" "$n" -- "${args[@]}" --first "$pool_first" --users "$count" \
            --mode wrong
    fi
    take_users "$count"
    run "$service replay" "$n" -- "${args[@]}" --first "$slice_first" --users "$count" \
        --mode replay
    case $service in
    fotostudio)
        # Each user has ten codes and each run spends one of the last users' (bench-populate
        # hashes real codes for those only).
        run "$service recovery" "$n" -- "${args[@]}" --first "$((n - recovery_users))" \
            --users "$recovery_users" --mode recovery --slot "$recovery_slot" ;;
    ga)
        take_users "$count"
        run "$service recovery" "$n" -- "${args[@]}" --first "$slice_first" --users "$count" \
            --mode recovery --scratch --slot "$recovery_slot" ;;
    esac
}

# The first login of a process: sshd runs each connection's login in a new process, which loads
# the modules (and the libraries they need) again. pam-bench --fresh-process forks and executes
# pam-once, a program with libpam and libc alone, for every transaction; right codes, against
# pam_permit in the same way.
run_fresh() {
    local dir=$1 n=$2 count=$3 service
    local args=(--confdir "$dir/pam.d" --fresh-process "$pam_once")
    run "permit (fresh process)" "$n" -- "${args[@]}" --service permit --first 0 --users 1 \
        --transactions "$count"
    for service in fotostudio ga oath; do
        take_users "$count"
        run "$service right (fresh process)" "$n" -- "${args[@]}" --service "$service" \
            --first "$slice_first" --users "$count" --mode right
    done
}

# Concurrency: P client processes at once, right codes of fresh users; then every accepted code
# is tried again, and each one that passes again is an update the module lost.
run_concurrency() {
    local dir=$1 n=$2 service=$3 count=$4
    local procs list="1 2 8 32"
    ((smoke)) && list="1 8"
    for procs in $list; do
        take_users "$count"
        run "$service right, $procs processes" "$n" -- --confdir "$dir/pam.d" --service "$service" \
            "${warm[@]}" --first "$slice_first" --users "$count" --procs "$procs" --mode right \
            --record "$work/accepted"
        run "$service lost updates, $procs processes" "$n" -- --confdir "$dir/pam.d" \
            --service "$service" --replay-from "$work/accepted" --first 0 --users 1
    done
}

# Instructions of the client process per transaction (callgrind counts pam_transaction only).
run_callgrind() {
    local dir=$1 n=$2 service=$3 count=$4
    local mode=right
    [[ $service == permit ]] && mode=wrong
    take_users "$count"
    rm -f "$work"/callgrind.out.*
    # The transactions run in a forked worker: one output file per process, added up.
    valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out.%p" --collect-atstart=no \
        --toggle-collect='*pam_transaction*' "$pam_bench" --confdir "$dir/pam.d" \
        --service "$service" --first "$slice_first" --users "$count" --mode "$mode" \
        >"$work/callgrind.txt" 2>"$work/callgrind.err" || true
    local total
    total=$(awk '/^summary:/ { sum += $2 } END { print sum + 0 }' "$work"/callgrind.out.*)
    echo "population=$n label=callgrind $service target=$service ir_total=$total tx=$count" \
        "ir_per_tx=$((total / count)) $(grep '^result' "$work/callgrind.txt" | cut -d' ' -f2-)" |
        tee -a "$results"
}

# The used step must survive kill -9 of the daemon: log in, kill, restart, try the same codes.
check_kill9() {
    local dir=$1 n=$2
    take_users 50
    run "fotostudio right before kill -9" "$n" -- --confdir "$dir/pam.d" --service fotostudio \
        --first "$slice_first" --users 50 --mode right --record "$work/accepted"
    kill -9 "$daemon_pid"
    wait "$daemon_pid" 2>/dev/null || true
    daemon_pid=
    rm -f "$dir/run/socket"
    start_daemon "$dir"
    run "fotostudio replay after kill -9" "$n" -- --confdir "$dir/pam.d" --service fotostudio \
        --replay-from "$work/accepted" --first 0 --users 1
}

# What making a recovery code's use survive a power loss costs: the daemon's UPDATE as an
# autocommit transaction in WAL mode, with synchronous=NORMAL (the daemon's) and FULL, on a
# copy of this population's database on the same file system.
measure_sync() {
    local dir=$1 n=$2
    cp "$dir/state/fotoauthd.sqlite" "$work/sync-copy.sqlite"
    python3 - "$work/sync-copy.sqlite" "$n" <<'PY' | tee -a "$results"
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode = WAL")
db.execute("SELECT COUNT(*) FROM recovery_codes WHERE id <= 1000").fetchone()
for mode in ("NORMAL", "FULL", "NORMAL", "FULL"):
    db.execute(f"PRAGMA synchronous = {mode}")
    ids = [row[0] for row in db.execute("SELECT id FROM recovery_codes LIMIT 300")]
    start = time.perf_counter()
    for i in ids:
        db.execute("UPDATE recovery_codes SET used_at = ? WHERE id = ? AND used_at IS NULL",
                   (int(time.time()), i))
        db.execute("UPDATE recovery_codes SET used_at = NULL WHERE id = ?", (i,))
    per = (time.perf_counter() - start) / (2 * len(ids)) * 1e6
    print(f"population={sys.argv[2]} label=sqlite-commit synchronous={mode} us_per_commit={per:.1f}")
PY
    rm -f "$work"/sync-copy.sqlite*
}

bench_population() {
    local n=$1 last=$2
    local dir=$work/p$n
    local tested=$((n < 20000 ? n : 20000))
    recovery_users=$((n < 1000 ? n : 1000))
    ((smoke && recovery_users > 30)) && recovery_users=30
    echo "== $n enrolled users, $(date -u +%H:%M:%SZ)" >&2
    populate "$dir" "$n" "$recovery_users"
    start_daemon "$dir"
    reset_pool $((n - tested)) "$tested"
    recovery_slot=0
    warm=()
    ((n > tested)) && warm=(--warmup-user 0)
    local count=$((tested < tx ? tested : tx))
    # pam_oath reads and rewrites its whole users file on every login: bounded by time instead.
    local oath_count=$((20000000 / n))
    oath_count=$((oath_count > count ? count : oath_count < 20 ? 20 : oath_count))

    run "permit" "$n" -- --confdir "$dir/pam.d" --service permit --first 0 --users 1 \
        --transactions "$tx"
    if ((n == 1)); then
        # One user has one success per 30-second step: only the paths that succeed nowhere.
        local service
        for service in fotostudio oath ga; do
            run "$service wrong" "$n" -- --confdir "$dir/pam.d" --service "$service" --first 0 \
                --users 1 --transactions "$([[ $service == oath ]] && echo 200 || echo "$tx")" \
                --mode wrong
        done
    else
        run_paths "$dir" "$n" fotostudio "$count"
        run_paths "$dir" "$n" ga "$count"
        run_paths "$dir" "$n" oath "$oath_count"
        run_fresh "$dir" "$n" "$((oath_count < 200 ? oath_count : 200))"
        run "direct wrong (new connection per request)" "$n" -- --direct "$dir/run/socket" \
            --first "$pool_first" --users "$count" --mode wrong
        run "direct wrong (one connection)" "$n" -- --direct "$dir/run/socket" --one-connection \
            --first "$pool_first" --users "$count" --mode wrong
        take_users "$count"
        run "direct right (new connection per request)" "$n" -- --direct "$dir/run/socket" \
            --first "$slice_first" --users "$count" --mode right
        take_users "$count"
        run "direct right (one connection)" "$n" -- --direct "$dir/run/socket" --one-connection \
            --first "$slice_first" --users "$count" --mode right
        if ((callgrind && !callgrind_done)); then
            local service
            for service in permit fotostudio ga oath; do
                run_callgrind "$dir" "$n" "$service" 100
            done
            callgrind_done=1
        fi
        if ((last)); then
            run_concurrency "$dir" "$n" fotostudio "$((count * 2 <= tested ? count * 2 : count))"
            run_concurrency "$dir" "$n" ga "$count"
            run_concurrency "$dir" "$n" oath "$oath_count"
            check_kill9 "$dir" "$n"
            ((smoke)) || measure_sync "$dir" "$n"
        fi
    fi
    echo "population=$n label=daemon-rss $(grep -E 'VmHWM|VmRSS' "/proc/$daemon_pid/status" |
        tr -s ' \t' ' ' | tr '\n' ' ')" | tee -a "$results"
    stop_daemon
    cp "$dir/fotoauthd.log" "$out/fotoauthd-$n.log"
    rm -rf "$dir"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
    "$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
    "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r)," \
    "$("$build/fotoauthd/fotoauthd" --version 2>&1 | head -1)" | tee -a "$results"
callgrind_done=0
last_population=${populations##* }
for n in $populations; do
    bench_population "$n" "$([[ $n == "$last_population" ]] && echo 1 || echo 0)"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$results"
python3 "$top/bench/report.py" "$results" >"$out/report.md"
cat "$out/report.md"
