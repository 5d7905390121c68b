#!/usr/bin/env bash
# pam_fotostudio with its state in PostgreSQL (fleet mode, docs/fleet.md) beside the SQLite store
# and the peers, in one run on one machine (bench/FLEET.md has a run and its tables):
#
#   1. single client, N enrolled users: pam_permit (the floor), pam_oath and google-authenticator
#      (the peers), pam_fotostudio with `store = sqlite` and with `store = postgresql`, each with
#      right, wrong and replayed codes, through the same driver (pam-bench) and services as
#      bench/run-compare.sh;
#   2. a fleet of two fotoauthd (two sockets, two server names, one database), 32 client
#      processes, 16 on each daemon: right codes of fresh users on each, then every accepted code
#      tried again through the other daemon; then both daemons fed the same users' codes at the
#      same moment, where each code must be accepted once in the fleet, never twice.
#
#   3. the rows the issue's target compares (pam_permit, pam_oath and the PostgreSQL store's right
#      code over TCP and over the database's Unix socket) again in --rounds rounds, each in
#      another order, and the target judged on the median of the rounds: a single run of each
#      moves by 10-30 % with this machine's noise, more than the difference it decides.
#
#   bash bench/fleet.sh [--users N] [--tx N] [--fleet-users N] [--rounds N] [--out DIR] [--smoke]
#                       [--pg-log]
#
# N enrolled users (default 1000), --tx transactions per single-client run (default 500),
# --fleet-users users per daemon in the fleet runs (default 500; the population must hold twice
# as many). A user has one right code per 30-second step, so the runs wait for the next step
# whenever this step's fresh users are spent. --smoke: a few hundred transactions, checking
# counts, not speed (bench/smoke.sh runs it). --pg-log: the PostgreSQL server logs every statement
# with its duration into OUT/postgresql.log (what a login asks of the database; slower).
#
# Needs root and what run-compare.sh needs (a private mount namespace holds the users), plus
# Debian's postgresql-15. The PostgreSQL cluster is private: initdb in the scratch directory,
# listening on 127.0.0.1 and a socket in that directory only, durable as a real deployment
# (fsync = on, synchronous_commit = on), and stopped and removed at the end, even on failure.
# Results go to OUT (default: a new /tmp/fsfleet-results-* directory): results.txt (one line per
# run), report.md (the tables) and the daemons' logs. The exit status is 1 when a run ended
# otherwise than it should (a right code refused, a wrong or replayed code accepted).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/common.sh
source "$top/bench/common.sh"
build=${FOTOSTUDIO_BUILD_DIR:-$top/build}
pg_bin=/usr/lib/postgresql/15/bin
users=1000
tx=500
fleet_users=500
rounds=3
out=
smoke=0
pg_log=0
while (($#)); do
    case $1 in
    --users) users=$2; shift 2 ;;
    --tx) tx=$2; shift 2 ;;
    --fleet-users) fleet_users=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --smoke) smoke=1; users=500; tx=30; fleet_users=48; rounds=0; shift ;;
    --pg-log) pg_log=1; shift ;;
    *) echo "usage: $0 [--users N] [--tx N] [--fleet-users N] [--rounds N] [--out DIR] [--smoke]" \
            "[--pg-log]" >&2
       exit 2 ;;
    esac
done

if [[ ${FSFLEET_INSIDE:-} != 1 ]]; then
    if ((EUID != 0)); then
        echo "fleet.sh needs root: it makes a mount namespace and runs PostgreSQL as postgres" >&2
        exit 2
    fi
    for tool in unshare makedb runuser "$pg_bin/initdb" "$pg_bin/pg_ctl" psql; do
        command -v "$tool" >/dev/null || { echo "missing $tool (scripts/deps.sh)" >&2; exit 2; }
    done
    if ((tx > users || 2 * fleet_users > users)); then
        echo "--tx and twice --fleet-users must fit in --users" >&2
        exit 2
    fi
    out=${out:-$(mktemp -d /tmp/fsfleet-results-XXXXXX)}
    mkdir -p "$out"
    export FSFLEET_INSIDE=1
    flags=()
    ((smoke)) && flags+=(--smoke)
    ((pg_log)) && flags+=(--pg-log)
    exec unshare --mount --propagation private bash "${BASH_SOURCE[0]}" "${flags[@]}" \
        --users "$users" --tx "$tx" --fleet-users "$fleet_users" --rounds "$rounds" --out "$out"
fi

# ---- inside the private mount namespace ----
declare -A daemon_pids=()
pg_running=0
work=$(mktemp -d /tmp/fsfleet-XXXXXX)

cleanup() {
    local name
    for name in "${!daemon_pids[@]}"; do
        stop_daemon "$name"
    done
    if ((pg_running)); then
        runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/pg/data" -m fast -w stop >/dev/null ||
            true
        ((pg_log)) && cp "$work/pg/server.log" "$out/postgresql.log"
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

chmod 755 "$work"
cd "$work"  # nothing the tools write by accident lands in the checkout
# The binaries measured, copied first: others may rebuild the tree during the run.
bin=$work/bin
mkdir -p "$bin" "$out"
cp "$build/fotoauthd/fotoauthd" "$build/bench/pam-bench" "$build/bench/bench-populate" \
    "$build/pam_fotostudio/pam_fotostudio.so" "$bin/"
built_at=$(date -u -r "$build/fotoauthd/fotoauthd" +%Y-%m-%dT%H:%MZ)
pam_bench=$bin/pam-bench
results=$out/results.txt
: >"$results"

# The same private /etc and libnss-db as run-compare.sh: the users exist only in here.
mkdir -p "$work/nssdb"
# useradd elsewhere on the machine (tests) makes and removes lock files in /etc: a copy that
# met one vanishing is made again.
for attempt in 1 2 3 4 5; do
    rm -rf "$work/etc"
    cp -a /etc "$work/etc" 2>/dev/null && break
    ((attempt < 5)) || { echo "cannot copy /etc" >&2; exit 1; }
    sleep 1
done
sed -i -e 's/^passwd:.*/passwd:         files db/' "$work/etc/nsswitch.conf"
mount --bind "$work/etc" /etc
mount --bind "$work/nssdb" /var/lib/misc

# ---- PostgreSQL ----

free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

start_postgresql() {
    mkdir -p "$work/pg"
    chown postgres: "$work/pg"
    runuser -u postgres -- "$pg_bin/initdb" -D "$work/pg/data" -A trust -U postgres \
        >"$work/pg/initdb.log" 2>&1 || { cat "$work/pg/initdb.log" >&2; exit 1; }
    local logging=
    ((pg_log)) && logging="-c log_min_duration_statement=0 -c log_line_prefix=%m:%p:"
    # Another process may take the free port before the server binds it: try a few.
    local attempt
    for attempt in 1 2 3 4 5; do
        pg_port=$(free_port)
        if runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/pg/data" -l "$work/pg/server.log" \
            -w -t 30 -o "-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1 -c fsync=on \
            -c synchronous_commit=on $logging" start >/dev/null; then
            pg_running=1
            break
        fi
    done
    ((pg_running)) || { cat "$work/pg/server.log" >&2; exit 1; }
    pg_conninfo="host=127.0.0.1 port=$pg_port user=postgres dbname=fotoauthd"
    psql -X -q -v ON_ERROR_STOP=1 -d "host=127.0.0.1 port=$pg_port user=postgres dbname=postgres" \
        -c "CREATE DATABASE fotoauthd"
    echo "postgresql: $("$pg_bin/postgres" --version), $(psql -X -A -t -d "$pg_conninfo" \
        -c "SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings
            WHERE name IN ('fsync', 'synchronous_commit', 'wal_sync_method', 'shared_buffers',
                           'full_page_writes')")" | tee -a "$results"
    ((smoke)) || { measure_fsync; measure_round_trip; }
}

# How fast this disk makes a write durable, in the cluster's folder: each durable commit waits for
# one such flush of the WAL (pg_test_fsync's fdatasync of one 8 kB write; 1 s per method).
measure_fsync() {
    local rate
    rate=$(runuser -u postgres -- "$pg_bin/pg_test_fsync" -s 1 -f "$work/pg/fsync-test" \
        2>/dev/null | awk '/one 8kB write/ { found = 1 }
                           found && $1 == "fdatasync" { print $2 " ops/s, " $4 " µs"; exit }')
    echo "disk: fdatasync of one 8 kB write ${rate:-not measured}" | tee -a "$results"
}

# What one statement costs without any work in it: SELECT 1 over the daemon's kind of connection
# (TCP on 127.0.0.1, the extended protocol of PQexecParams), one client, for 3 s.
measure_round_trip() {
    echo "SELECT 1;" >"$work/select1.sql"
    local latency
    latency=$("$pg_bin/pgbench" -n -M extended -T 3 -f "$work/select1.sql" -h 127.0.0.1 \
        -p "$pg_port" -U postgres fotoauthd 2>/dev/null | awk '/latency average/ { print $4 }')
    echo "postgresql: one round trip (SELECT 1) ${latency:-not measured} ms" | tee -a "$results"
}

# ---- the daemons ----

# The benchmark's own limits, as run-compare.sh sets them: high enough that no run meets them.
daemon_config() {
    local dir=$1 store=$2 name=$3
    bench_daemon_config "$dir"
    if [[ $store == postgresql ]]; then
        printf 'store = postgresql\npostgresql = %s\nserver_name = %s\n' "$pg_conninfo" "$name"
    fi
}

# start_daemon NAME: the daemon of $work/NAME, configured beforehand.
start_daemon() {
    local name=$1 dir=$work/$1
    "$bin/fotoauthd" --config "$dir/fotoauthd.conf" >>"$dir/fotoauthd.log" 2>&1 &
    daemon_pids[$name]=$!
    for _ in $(seq 600); do
        [[ -S $dir/run/socket ]] && return 0
        kill -0 "${daemon_pids[$name]}" 2>/dev/null || break
        sleep 0.05
    done
    echo "fotoauthd $name did not start; its log:" >&2
    cat "$dir/fotoauthd.log" >&2
    exit 1
}

stop_daemon() {
    local name=$1
    [[ -n ${daemon_pids[$name]:-} ]] || return 0
    kill "${daemon_pids[$name]}" 2>/dev/null || true
    wait "${daemon_pids[$name]}" 2>/dev/null || true
    unset "daemon_pids[$name]"
    rm -f "$work/$name/run/socket"
}

# sqlite: the single server as shipped; a and b: the fleet, sharing one database and, as
# docs/fleet.md tells an administrator, the keys of the first server; u: a third server of the
# fleet that reaches the database over its Unix socket (libpq's host= a directory) instead of TCP
# on 127.0.0.1, as a deployment on the database's own machine would (docs/fleet.md).
setup_daemons() {
    local name
    for name in sqlite a b u; do
        mkdir -p "$work/$name"
    done
    daemon_config "$work/sqlite" sqlite sqlite >"$work/sqlite/fotoauthd.conf"
    daemon_config "$work/a" postgresql fleet-a >"$work/a/fotoauthd.conf"
    daemon_config "$work/b" postgresql fleet-b >"$work/b/fotoauthd.conf"
    local tcp=$pg_conninfo
    pg_conninfo="host=$work/pg port=$pg_port user=postgres dbname=fotoauthd"
    daemon_config "$work/u" postgresql fleet-u >"$work/u/fotoauthd.conf"
    pg_conninfo=$tcp

    # First starts create the SQLite schema, the PostgreSQL schema and a's keys.
    start_daemon sqlite
    start_daemon a
    stop_daemon sqlite
    stop_daemon a
    for name in b u; do
        mkdir -p -m 0700 "$work/$name/state"
        cp -p "$work/a/state/secrets.key" "$work/a/state/shadow-digest.key" "$work/$name/state/"
    done
}

populate() {
    local dir=$work/users
    mkdir -p "$dir"
    chmod 755 "$dir"
    # One user with real recovery code hashes is enough: no run here uses recovery codes.
    "$bin/bench-populate" --dir "$dir" --users "$users" --tested 1 \
        --database "$work/sqlite/state/fotoauthd.sqlite" \
        --postgresql "$pg_conninfo" --secrets-key "$work/a/state/secrets.key"
    awk 'BEGIN { FS=":"; OFS=":"; cnt=0 }
         { printf "0%u ", cnt++; print; printf ".%s ", $1; print; printf "=%s ", $3; print }' \
        "$dir/passwd" | makedb -o "$work/nssdb/passwd.db" -
}

write_services() {
    local dir=$work/pam.d users_dir=$work/users
    mkdir -p "$dir"
    echo "auth required pam_permit.so" >"$dir/permit"
    echo "auth required pam_oath.so usersfile=$users_dir/oath-users window=1" >"$dir/oath"
    local ga_secret="$users_dir/ga/\${USER}/.google_authenticator"
    echo "auth required pam_google_authenticator.so secret=$ga_secret" >"$dir/ga"
    local name
    for name in sqlite a b u; do
        echo "auth required $bin/pam_fotostudio.so socket=$work/$name/run/socket" \
            >"$dir/fotostudio-$name"
    done
}

# ---- runs ----

# Fresh users, as in run-compare.sh: a user has one success per 30-second step, so every
# right-code run takes users no earlier run used in this step, and waits for a new step (at
# least 31 s after the pool was first used) when the pool is spent.
pool_next=0 pool_since=0
take_users() {
    local count=$1
    if ((pool_next + count > users)); then
        local now wait_until
        now=$(date +%s)
        wait_until=$(((pool_since + 31 + 29) / 30 * 30))
        ((wait_until > now)) && sleep $((wait_until - now))
        pool_next=0 pool_since=$(date +%s)
    fi
    slice_first=$pool_next
    pool_next=$((pool_next + count))
}

# record LABEL TEXT...: one line of results.txt, in run-compare.sh's format.
record() {
    local label=$1
    shift
    echo "population=$users label=$label $*" | tee -a "$results"
}

# run LABEL -- pam-bench arguments
run() {
    local label=$1
    shift 2
    record "$label" "$("$pam_bench" "$@" || true)"
}

# The database's own counters: transactions committed in fotoauthd's database, WAL flushes to
# disk (each one an fdatasync with these settings) and WAL bytes, cluster-wide.
pg_counters() {
    psql -X -A -t -F ' ' -d "$pg_conninfo" -c "SELECT
        (SELECT xact_commit FROM pg_stat_database WHERE datname = 'fotoauthd'),
        (SELECT wal_sync FROM pg_stat_wal), pg_current_wal_lsn() - '0/0'"
}

# counted LABEL -- pam-bench arguments: a run of the PostgreSQL store, with what it cost the
# database per transaction. Backends publish their counters within a second of going idle.
counted() {
    local label=$1
    shift 2
    local before after line
    before=$(pg_counters)
    line=$("$pam_bench" "$@" || true)
    sleep 2
    after=$(pg_counters)
    record "$label" "$line $(per_transaction "$line" "$before" "$after")"
}

per_transaction() {
    local tx
    tx=$(grep -o ' tx=[0-9]*' <<<"$1" | cut -d= -f2)
    awk -v tx="${tx:-0}" -v before="$2" -v after="$3" 'BEGIN {
        split(before, b, " "); split(after, a, " ")
        if (tx > 0)
            printf "pg_commits_per_tx=%.1f pg_wal_flushes_per_tx=%.2f pg_wal_bytes_per_tx=%.0f",
                   (a[1] - b[1]) / tx, (a[2] - b[2]) / tx, (a[3] - b[3]) / tx }'
}

run_paths() {
    local label=$1 service=$2
    local args=(--confdir "$work/pam.d" --service "$service" --warmup-user 0)
    local runner=run
    [[ $service == fotostudio-[au] ]] && ((!smoke)) && runner=counted
    take_users "$tx"
    $runner "$label right" -- "${args[@]}" --first "$slice_first" --users "$tx" --mode right
    [[ $service == ga ]] && return 0  # its wrong and replayed codes: run-compare.sh
    $runner "$label wrong" -- "${args[@]}" --first 0 --users "$tx" --mode wrong
    take_users "$tx"
    $runner "$label replay" -- "${args[@]}" --first "$slice_first" --users "$tx" --mode replay
}

single_client() {
    run "permit" -- --confdir "$work/pam.d" --service permit --first 0 --users 1 \
        --transactions "$tx"
    run_paths "fotostudio-postgresql" fotostudio-a
    run_paths "fotostudio-sqlite" fotostudio-sqlite
    run_paths "oath" oath
    run_paths "ga" ga
    take_users "$tx"
    local runner=run
    ((smoke)) || runner=counted
    $runner "direct postgresql right (new connection per request)" -- \
        --direct "$work/a/run/socket" --first "$slice_first" --users "$tx" --mode right
    ((smoke)) || over_unix_socket
    ((smoke)) || without_durable_commits
    target_rounds
}

# The database on the same machine reached as a deployment there would usually reach it: over
# the server's Unix socket, through daemon u. Durable, as every other row.
over_unix_socket() {
    take_users "$tx"
    counted "fotostudio-postgresql right, Unix socket" -- \
        --confdir "$work/pam.d" --service fotostudio-u --warmup-user 0 --first "$slice_first" \
        --users "$tx" --mode right
}

# The target's rows again, round after round, each round in another order (the order rotates),
# with pam_permit's floor measured in each round: labels "round N: ...".
target_rounds() {
    local labels=("oath right" "fotostudio-postgresql right" "fotostudio-postgresql right, Unix socket")
    local services=(oath fotostudio-a fotostudio-u)
    local round index each
    for ((round = 1; round <= rounds; round++)); do
        run "round $round: permit" -- --confdir "$work/pam.d" --service permit --first 0 \
            --users 1 --transactions "$tx"
        for ((index = 0; index < 3; index++)); do
            each=$(((index + round - 1) % 3))
            take_users "$tx"
            run "round $round: ${labels[each]}" -- --confdir "$work/pam.d" \
                --service "${services[each]}" --warmup-user 0 --first "$slice_first" \
                --users "$tx" --mode right
        done
    done
}

# What the durable commits cost: the same right-code run with the database's commits not waiting
# for the disk (synchronous_commit = off, fotoauthd's database only), then durable again. Not a
# setting to deploy: an accepted code could be forgotten by a crash of the database server.
without_durable_commits() {
    set_synchronous_commit off
    take_users "$tx"
    counted "fotostudio-postgresql right, synchronous_commit=off (not durable)" -- \
        --confdir "$work/pam.d" --service fotostudio-a --warmup-user 0 --first "$slice_first" \
        --users "$tx" --mode right
    set_synchronous_commit on
}

# The daemon's connection takes the database's setting when it connects: restart it.
set_synchronous_commit() {
    psql -X -q -v ON_ERROR_STOP=1 -d "$pg_conninfo" \
        -c "ALTER DATABASE fotoauthd SET synchronous_commit = $1"
    stop_daemon a
    start_daemon a
}

# pair LABEL FIRST_A FIRST_B: 16 processes on daemon a and 16 on daemon b, started together,
# fleet_users right codes each; their accepted codes in $work/accepted-a and -b.
pair() {
    local label=$1 first_a=$2 first_b=$3 name first before after
    local clients=()
    before=$(pg_counters)
    for name in a b; do
        first=$first_a
        [[ $name == b ]] && first=$first_b
        "$pam_bench" --confdir "$work/pam.d" --service "fotostudio-$name" --warmup-user 0 \
            --first "$first" --users "$fleet_users" --procs 16 --mode right \
            --record "$work/accepted-$name" >"$work/pair-$name.txt" &
        clients+=($!)
    done
    wait "${clients[@]}" || true  # a failed run shows in its counts
    sleep 2
    after=$(pg_counters)
    if [[ $first_a == "$first_b" ]]; then
        # Of the same users, the race decides which daemon lets each one in: only the pair's
        # total is known beforehand (fleet() checks it), not each daemon's share.
        for name in a b; do
            record "$label (shared race), 16 of 32 processes through $name" \
                "$(cat "$work/pair-$name.txt")"
        done
        return 0
    fi
    local total=0 succeeded=0 longest=0
    for name in a b; do
        record "$label right, 16 of 32 processes through $name" "$(cat "$work/pair-$name.txt")"
        total=$((total + $(field tx "$work/pair-$name.txt")))
        succeeded=$((succeeded + $(field success "$work/pair-$name.txt")))
        longest=$(awk -v a="$longest" -v b="$(field seconds "$work/pair-$name.txt")" \
            'BEGIN { print (b > a ? b : a) }')
    done
    local rate
    rate=$(awk -v n="$total" -v s="$longest" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }')
    record "$label right, both daemons" "result target=fleet mode=right procs=32 tx=$total" \
        "seconds=$longest tps=$rate success=$succeeded setup_failures=0" \
        "$(per_transaction " tx=$total" "$before" "$after")"
}

# field KEY FILE: the value of KEY=VALUE in pam-bench's result line (0 when missing).
field() {
    local value
    value=$(grep -o " $1=[0-9.]*" "$2" | head -1 | cut -d= -f2)
    echo "${value:-0}"
}

# replay LABEL NAME FILE: every code of FILE once more through daemon NAME; each success is an
# accepted code the fleet forgot (a lost update).
replay() {
    run "$1" -- --confdir "$work/pam.d" --service "fotostudio-$2" --replay-from "$3" \
        --procs 16 --first 0 --users 1
}

fleet() {
    # For comparison: all 32 processes on one daemon of the fleet.
    take_users "$fleet_users"
    local runner=run
    ((smoke)) || runner=counted
    $runner "fleet one daemon right, 32 processes through a" -- --confdir "$work/pam.d" \
        --service fotostudio-a --warmup-user 0 --first "$slice_first" --users "$fleet_users" \
        --procs 32 --mode right --record "$work/accepted-one"
    replay "fleet lost updates, one daemon's codes through b" b "$work/accepted-one"

    # Different users on the two daemons: every login succeeds, no code passes twice.
    take_users $((2 * fleet_users))
    pair "fleet different users" "$slice_first" $((slice_first + fleet_users))
    replay "fleet lost updates, a's codes through b" b "$work/accepted-a"
    replay "fleet lost updates, b's codes through a" a "$work/accepted-b"

    # The same users on both daemons at the same moment: each code goes in once in the fleet.
    take_users "$fleet_users"
    pair "fleet same users" "$slice_first" "$slice_first"
    local once twice
    once=$(cat "$work/accepted-a" "$work/accepted-b" | cut -d' ' -f1 | sort -u | wc -l)
    twice=$(comm -12 <(sort -u "$work/accepted-a") <(sort -u "$work/accepted-b") | wc -l)
    record "fleet same users right, users let in" \
        "result target=fleet mode=right procs=32 tx=$fleet_users success=$once setup_failures=0"
    record "fleet same users, codes accepted by both daemons" \
        "result target=fleet mode=right procs=32 tx=$fleet_users success=$twice setup_failures=0"
    cat "$work/accepted-a" "$work/accepted-b" >"$work/accepted-both"
    replay "fleet lost updates, same users' codes through a" a "$work/accepted-both"
    replay "fleet lost updates, same users' codes through b" b "$work/accepted-both"
}

# ---- the run ----

# Which source was measured: the commit, and whether the working tree differed from it.
describe_checkout() {
    local commit
    if ! commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null); then
        echo unknown
    elif git -C "$top" diff --quiet HEAD 2>/dev/null; then
        echo "$commit"
    else
        echo "$commit with uncommitted changes"
    fi
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
    "$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
    "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r)," \
    "$("$bin/fotoauthd" --version 2>&1 | head -1)," \
    "commit $(describe_checkout)," \
    "fotoauthd built $built_at," \
    "run $(date -u +%Y-%m-%dT%H:%MZ)" | tee -a "$results"
start_postgresql
setup_daemons
populate
write_services
start_daemon sqlite
start_daemon a
start_daemon b
start_daemon u
pool_since=$(date +%s)
echo "== single client, $users enrolled users, $(date -u +%H:%M:%SZ)" >&2
single_client
echo "== fleet, 2 daemons, 32 processes, $(date -u +%H:%M:%SZ)" >&2
fleet
for name in sqlite a b u; do
    record "daemon-rss $name" "$(grep -E 'VmHWM|VmRSS' "/proc/${daemon_pids[$name]}/status" |
        tr -s ' \t' ' ' | tr '\n' ' ')"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$results"
for name in sqlite a b u; do
    stop_daemon "$name"
    cp "$work/$name/fotoauthd.log" "$out/fotoauthd-$name.log"
done

# The tables, and the exit status: every run must have ended as it should.
status=0
python3 - "$results" >"$out/report.md" <<'PY' || status=$?
import re
import sys

rows, notes = [], []
for line in open(sys.argv[1]):
    line = line.strip()
    if not line.startswith("population="):
        notes.append(line)
        continue
    rest = line.split(" label=", 1)[1]
    label = re.split(r" (?:result|VmHWM|VmRSS)", rest)[0]
    fields = dict(re.findall(r"(\S+?)=(\S+)", rest[len(label):]))
    rows.append((label, fields))
timed = {label: f for label, f in rows if "tps" in f}
permit = timed.get("permit")


def cost(label, key):
    """A configuration's time per transaction beyond pam_permit's, in µs; in a round, beyond
    that round's pam_permit."""
    match = re.match(r"(round \d+: )", label)
    floor = timed.get(match.group(1) + "permit") if match else permit
    if not floor or label not in timed:
        return None
    return float(timed[label][key]) - float(floor[key])


rounds = sorted({int(m.group(1)) for label in timed if (m := re.match(r"round (\d+): ", label))})


def median_of_rounds(row):
    """The median over the rounds of a row's mean module cost, and the costs of each round."""
    each = [cost(f"round {n}: {row}", "mean_us") for n in rounds]
    each = [c for c in each if c is not None]
    if not each:
        return None, []
    ordered = sorted(each)
    middle = len(ordered) // 2
    median = (ordered[middle] if len(ordered) % 2
              else (ordered[middle - 1] + ordered[middle]) / 2)
    return median, each


def expected(label, f):
    if label.endswith("permit") or re.search(r"\bright\b", label):
        return int(f["tx"])
    return 0


print("\n".join(f"    {note}" for note in notes))
print()
def database(f):
    """What a transaction cost the database: commits, WAL flushes (fdatasync), WAL bytes."""
    if "pg_commits_per_tx" not in f:
        return ""
    return (f"{f['pg_commits_per_tx']} / {f['pg_wal_flushes_per_tx']} /"
            f" {f['pg_wal_bytes_per_tx']}")


print("| configuration, path | per s | mean µs | p50 µs | p99 µs | module cost mean / p50 µs"
      " | succeeded | PostgreSQL per tx: commits / WAL flushes / WAL bytes |")
print("|---|---|---|---|---|---|---|---|")
for label, f in rows:
    if "tps" not in f or label.startswith("fleet"):
        continue
    mean, p50 = cost(label, "mean_us"), cost(label, "p50_us")
    spent = "(floor)" if label.endswith("permit") else f"{mean:.0f} / {p50:.0f}"
    print(f"| {label} | {float(f['tps']):.0f} | {float(f['mean_us']):.0f} |"
          f" {float(f['p50_us']):.0f} | {float(f['p99_us']):.0f} | {spent} |"
          f" {f['success']} of {f['tx']} | {database(f)} |")

print()
print("| fleet run (2 daemons, one database) | per s | p50 µs | p99 µs | succeeded |"
      " PostgreSQL per tx: commits / WAL flushes / WAL bytes |")
print("|---|---|---|---|---|---|")
for label, f in rows:
    if label.startswith("fleet"):
        rate = f"{float(f['tps']):.0f}" if "tps" in f else ""
        p50 = f"{float(f['p50_us']):.0f}" if "p50_us" in f else ""
        p99 = f"{float(f['p99_us']):.0f}" if "p99_us" in f else ""
        print(f"| {label} | {rate} | {p50} | {p99} | {f['success']} of {f['tx']} |"
              f" {database(f)} |")



def ended_otherwise(label, f):
    """A run that did not end as it must; the race's per-daemon shares have no expectation."""
    if "success" not in f or "(shared race)" in label:
        return False
    return (int(f["tx"]) == 0 or int(f["success"]) != expected(label, f)
            or f.get("setup_failures", "0") != "0")


failures = [f"{label}: {f['success']} of {f['tx']} succeeded, expected {expected(label, f)}"
            for label, f in rows if ended_otherwise(label, f)]
peers = [cost(f"{peer} right", "mean_us") for peer in ("oath", "ga")]
peers = [c for c in peers if c is not None]
pg = cost("fotostudio-postgresql right", "mean_us")
sq = cost("fotostudio-sqlite right", "mean_us")
unix = cost("fotostudio-postgresql right, Unix socket", "mean_us")
single_cheaper = min(peers) if peers else None
if rounds:
    # The PostgreSQL target is judged on the rounds' medians (google-authenticator, always far
    # slower, is not in the rounds).
    print()
    print(f"| right code, module cost mean µs, {len(rounds)} rounds | "
          + " | ".join(f"round {n}" for n in rounds) + " | median |")
    print("|---|" + "---|" * (len(rounds) + 1))
    medians = {}
    for row in ("oath right", "fotostudio-postgresql right",
                "fotostudio-postgresql right, Unix socket"):
        medians[row], each = median_of_rounds(row)
        if medians[row] is not None:
            print(f"| {row} | " + " | ".join(f"{c:.0f}" for c in each)
                  + f" | {medians[row]:.0f} |")
    if None not in medians.values():
        ga = cost("ga right", "mean_us")
        peers = [medians["oath right"]] + ([ga] if ga is not None else [])
        pg = medians["fotostudio-postgresql right"]
        unix = medians["fotostudio-postgresql right, Unix socket"]
lost = sum(int(f["success"]) for label, f in rows if "lost updates" in label or "by both" in label)
print()
print("| target | measured | met |")
print("|---|---|---|")
if peers and pg is not None and sq is not None:
    cheaper = min(peers)
    basis = f" (median of {len(rounds)} rounds)" if rounds else ""
    print(f"| PostgreSQL right-code module cost below the cheaper peer's{basis} | {pg:.0f} µs vs"
          f" {cheaper:.0f} µs | {'yes' if pg < cheaper else '**no**'} |")
    if unix is not None:
        print(f"| the same over the database's Unix socket | {unix:.0f} µs vs {cheaper:.0f} µs |"
              f" {'yes' if unix < cheaper else '**no**'} |")
    print(f"| SQLite right-code module cost ≤ 1/3 of the cheaper peer's | {sq:.0f} µs vs"
          f" {single_cheaper / 3:.0f} µs allowed |"
          f" {'yes' if sq <= single_cheaper / 3 else '**no**'} |")
fleet_ok = not [x for x in failures if x.startswith("fleet")]
print(f"| 32 clients on two daemons: every right code in, none accepted twice |"
      f" {lost} accepted again, {'all' if fleet_ok else 'not all'} runs as expected |"
      f" {'yes' if fleet_ok and lost == 0 else '**no**'} |")
print()
for failure in failures:
    print(f"FAIL {failure}")
checked = sum(1 for _, f in rows if "success" in f)
print(f"{checked - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures or checked == 0 else 0)
PY
cat "$out/report.md"
exit "$status"
