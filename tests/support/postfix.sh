# shellcheck shell=bash
# Installs Postfix without its interactive questions, for the mail delivery tests. Postfix's
# package asks for the kind of mail setup on installation; a test machine has no one to answer,
# and the default answer ("Internet Site") would configure it to listen on every interface.
# Sourcing this file only defines the function; scripts/test.sh calls it before its apt install.

# Answers Postfix's installation questions with "Local only" and this host's name, then installs
# postfix unless it is installed already. Returns apt-get's status.
install_postfix_quietly() {
    if [[ $(dpkg-query -W -f='${db:Status-Status}' postfix 2>/dev/null) == installed ]]; then
        return 0
    fi

    local as_root=()
    if ((EUID != 0)); then
        as_root=(sudo --preserve-env=DEBIAN_FRONTEND)
    fi

    local mailname
    mailname=$(hostname)
    "${as_root[@]}" debconf-set-selections <<SELECTIONS || return 1
postfix postfix/main_mailer_type select Local only
postfix postfix/mailname string $mailname
postfix postfix/destinations string \$myhostname, localhost.localdomain, localhost
postfix postfix/protocols select ipv4
SELECTIONS

    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends \
        postfix </dev/null
}
