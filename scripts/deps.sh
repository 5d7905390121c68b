# shellcheck shell=bash disable=SC2034  # the arrays are used by the scripts that source this
# The Debian packages that fotostudio-auth needs, in one place: scripts/install.sh sources this
# file for the build, scripts/test.sh for the build and all the tests. Sourcing it only defines
# names; it installs nothing.

# Building the daemon, the PAM module and the CLI.
FOTOSTUDIO_BUILD_PACKAGES=(
    meson
    ninja-build
    pkg-config
    g++
    libpam0g-dev
    liboath-dev
    libsystemd-dev
    libsqlite3-dev
    libqrencode-dev
    libcrypt-dev
    nettle-dev
    libmaxminddb-dev    # the GeoIP country lookup
    libpq-dev           # the PostgreSQL store of a fleet (docs/fleet.md)
)

# Building and running the tests besides.
FOTOSTUDIO_TEST_PACKAGES=(
    libcmocka-dev       # unit tests
    libpam-wrapper      # integration: the real libpam against private service files
    oathtool            # codes from an independent TOTP implementation
    sqlite3
    python3-pexpect
    python3-pytest
    python3-cryptography  # key rotation: the sealed secrets opened independently of fotoauthd
    openssh-server      # end-to-end: a private sshd
    openssh-client
    iproute2
    procps
    passwd              # useradd, chpasswd: the test users
    clang-format        # the layout check of the C++ sources
    man-db              # the manual pages are rendered by the tests
    dbus-daemon         # integration: a private bus for the stand-in logind
    systemd             # systemd-analyze scores and checks the unit (systemd need not run)
    faketime            # wall-clock jumps seen by the daemon only (never the machine's clock)
    strace              # fault tests: kill the daemon at a chosen system call
    python3-dbus
    python3-gi
    libmaxmind-db-writer-perl  # GeoIP: test databases written by tests/support/make_mmdb.pl
    mmdb-bin            # GeoIP: mmdblookup, to look into a test database by hand
    postfix             # mail alerts: the real MTA; tests/support/postfix.sh preseeds it
    postgresql          # the PostgreSQL store: a private cluster (tests/support/postgres.py)
)

# Fuzzing and the sanitizer runs (scripts/fuzz.sh, scripts/sanitizers.sh, docs/fuzzing.md):
# clang with libFuzzer and its sanitizer runtimes; gcc's ASan and UBSan runtimes come with g++.
FOTOSTUDIO_FUZZ_PACKAGES=(
    clang
    libclang-rt-14-dev  # libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer for clang 14
)

# Building the Debian packages (packaging/build-deb.sh) and testing them (tests/packaging).
FOTOSTUDIO_PACKAGING_PACKAGES=(
    debhelper
    dpkg-dev
    fakeroot
    lintian
)

# Running the benchmarks side by side with the peers (bench/README.md); the test command runs a
# quick smoke run of them (tests/bench).
FOTOSTUDIO_BENCH_PACKAGES=(
    libpam-google-authenticator  # a peer: pam_google_authenticator.so
    libpam-oath                  # a peer: pam_oath.so
    libnss-db                    # the benchmark's million users, hashed, in a private namespace
    valgrind                     # callgrind: instructions per transaction
    util-linux                   # unshare
    linux-perf                   # perf: where the daemon's time goes
    strace                       # strace -c: the system calls of a login
)

FOTOSTUDIO_ALL_PACKAGES=("${FOTOSTUDIO_BUILD_PACKAGES[@]}" "${FOTOSTUDIO_TEST_PACKAGES[@]}"
                         "${FOTOSTUDIO_FUZZ_PACKAGES[@]}" "${FOTOSTUDIO_PACKAGING_PACKAGES[@]}"
                         "${FOTOSTUDIO_BENCH_PACKAGES[@]}")

# Prints the packages among the arguments that are not installed, one per line.
fotostudio_missing_packages() {
    local package status
    for package in "$@"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null)
        if [[ $status != installed ]]; then
            printf '%s\n' "$package"
        fi
    done
}
