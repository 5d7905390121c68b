# Sourced by the benchmark scripts (run-compare.sh, fleet.sh, daemon-cost.sh); defines functions
# only.

# bench_daemon_config DIR: the fotoauthd.conf of a benchmark daemon whose socket and state are in
# DIR, with the rate limits raised so that no run meets them (bench/README.md says so beside its
# tables). Everything else is the default, synchronous=NORMAL in WAL mode included.
bench_daemon_config() {
    cat <<CONF
socket = $1/run/socket
database = $1/state/fotoauthd.sqlite
login_source_attempts = 1000000
login_source_window = 1
login_user_attempts = 1000000
login_user_window = 1
code_attempts = 1000000
code_window = 1
max_tracked = 10000000
CONF
}
