#!/usr/bin/env bash
# Installs fotostudio-auth from this checkout and starts fotoauthd with its embedded defaults
# (SQLite in /var/lib/fotoauthd, socket /run/fotoauthd/socket).
#
#   sudo ./scripts/install.sh
#
# Installs the build dependencies with apt, builds a release in build-release/, installs the
# module, the daemon, the CLI, the systemd units and an example configuration (an existing
# /etc/fotostudio/fotoauthd.conf is never overwritten), then starts the daemon: through systemd
# when systemd runs the machine, else as a background process with its log in
# /var/log/fotoauthd.log. It changes no /etc/pam.d file: README.md shows how to protect sshd.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

if [[ $(id -u) -ne 0 ]]; then
    echo "install.sh: run as root (it installs packages and a PAM module)" >&2
    exit 1
fi

# shellcheck source=deps.sh
source scripts/deps.sh

echo "==> Installing build dependencies"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${FOTOSTUDIO_BUILD_PACKAGES[@]}" >/dev/null

echo "==> Building"
if [[ ! -f build-release/build.ninja ]]; then
    meson setup build-release --prefix=/usr --buildtype=release -Dtests=false >/dev/null
fi
ninja -C build-release >/dev/null

echo "==> Installing"
meson install -C build-release --quiet >/dev/null
install -d -m 0755 /etc/fotostudio
if [[ ! -e /etc/fotostudio/fotoauthd.conf ]]; then
    install -m 0644 etc/fotoauthd.conf /etc/fotostudio/fotoauthd.conf
fi
/usr/sbin/fotoauthd --check-config

echo "==> Starting fotoauthd"
if [[ -d /run/systemd/system ]]; then
    systemctl daemon-reload
    systemctl enable --quiet fotoauthd.socket fotoauthd.service
    systemctl restart fotoauthd.socket fotoauthd.service
else
    # No systemd as PID 1 (a container, a minimal system): run it as a background process.
    pidfile=/run/fotoauthd.pid
    if [[ -f $pidfile ]]; then
        start-stop-daemon --stop --quiet --retry 10 --pidfile "$pidfile" --remove-pidfile \
            --exec /usr/sbin/fotoauthd || true
    fi
    start-stop-daemon --start --background --make-pidfile --pidfile "$pidfile" \
        --output /var/log/fotoauthd.log --exec /usr/sbin/fotoauthd
fi

# Ask the daemon itself: a socket file alone may be left over from a daemon that crashed.
answered=no
for _ in $(seq 50); do
    if /usr/bin/fotoauthctl --timeout 1000 status --user root >/dev/null 2>&1; then
        answered=yes
        break
    fi
    sleep 0.1
done
if [[ $answered != yes ]]; then
    echo "install.sh: fotoauthd does not answer; see /var/log/fotoauthd.log or journalctl -u fotoauthd" >&2
    exit 1
fi
echo "==> fotoauthd is running. Next: protect sshd and enrol (README.md)."
