// fotoauthd.conf: `key = value` lines, `#` comments, blank lines ignored. Every key has an
// embedded default, so an empty or missing file is a working configuration. Unknown keys and bad
// values are errors naming the file and line, and the daemon refuses to start on any of them.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace fotoauthd {

// One rate limit: at most `attempts` within any `window`.
struct Limit {
    unsigned attempts = 0;
    std::chrono::seconds window{0};
};

struct Config {
    std::string socket_path = "/run/fotoauthd/socket";
    std::string database_path = "/var/lib/fotoauthd/fotoauthd.sqlite";
    // Where the state lives (docs/fleet.md): "sqlite" (the file at database_path) or
    // "postgresql" (the database `postgresql` names, shared by a fleet of servers). With
    // PostgreSQL the keys (secrets.key, shadow-digest.key) still live in database_path's folder.
    std::string store = "sqlite";
    std::string postgresql;  // a libpq connection string; several hosts allowed
    // This daemon's name in the history a fleet shares; empty means this machine's host name.
    std::string server_name;
    // Steps of clock drift accepted on each side of the current 30-second step.
    unsigned totp_window = 1;
    // An enrolment that was not confirmed with a code lapses after this long.
    std::chrono::seconds enrolment_timeout{600};
    // The issuer shown in the authenticator app; empty means this machine's host name.
    std::string issuer;
    // How long the session stage may redeem the proof of a passed auth stage.
    std::chrono::seconds auth_proof_lifetime{120};

    // Brute-force protection (docs/brute-force.md).
    Limit login_per_source{5, std::chrono::seconds(60)};
    Limit login_per_user{10, std::chrono::seconds(600)};
    Limit wrong_codes{5, std::chrono::seconds(300)};
    Limit password_changes{10, std::chrono::seconds(600)};
    std::chrono::seconds lock_duration{3600};
    // How many sources and how many user names each limit tracks at most.
    std::size_t max_tracked = 100000;

    // Trusted devices (docs/devices.md).
    std::chrono::seconds trusted_device_lifetime{90 * 86400};
    std::size_t max_devices_per_user = 20;
    bool trust_source_address = false;  // opt-in: everyone behind one NAT shares an address
    bool trust_terminal = false;        // opt-in: terminal names are reused
    std::vector<std::string> device_trust_services{"sshd"};
    // Services whose account stage refuses an enrolled user who passed no code in this login.
    std::vector<std::string> require_code_services{"sshd"};

    // How a password change ends the user's other sessions: "logind", "procfs" (audit session
    // ids), or "auto" (logind when it runs). docs/password-change.md.
    std::string session_manager = "auto";

    // Clock drift (docs/clock-drift.md): steps looked at beyond the window on each side, to tell
    // a user whose phone's clock is off; 0 turns the hint off.
    unsigned totp_drift_search = 10;

    // Who must use MFA (docs/policy.md). Empty: MFA is optional for everyone. "*" in the list
    // means every user. Members of an exempt group never have to.
    std::vector<std::string> require_mfa_groups;
    std::vector<std::string> mfa_exempt_groups;
    // Until this unix time (0: no grace), a user who must use MFA but has not enrolled is let in
    // with a warning instead of being refused.
    std::int64_t require_mfa_grace_until = 0;

    // Unusual connections (docs/geoip.md, docs/alerts.md).
    std::string geoip_database;  // empty: no country check
    std::size_t history_length = 50;
    // Alert mail: the user's own address if set, else this pattern (%u = the user name), else
    // local delivery to the user name.
    std::string alert_address_pattern;
    std::string alert_from;  // empty: fotoauthd@ this host's name
    std::string alert_site_url;
    std::string sendmail_path = "/usr/sbin/sendmail";
    std::string smtp_relay;  // HOST:PORT; when set, alerts go there by SMTP instead of sendmail
    std::chrono::seconds alert_timeout{60};
    std::size_t outbox_per_user = 10;
};

struct ConfigError {
    std::string file;
    unsigned line = 0;  // 0 when the error is about the file as a whole
    std::string message;
};

struct ConfigResult {
    Config config;
    std::vector<ConfigError> errors;
};

// Parses text as if it were the file `file_name` (used in error messages).
ConfigResult parse_config(const std::string& text, const std::string& file_name);

// Reads and parses a file. A missing file is an error only when `must_exist` is set (a path
// given with --config must exist; the default path may be absent).
ConfigResult load_config(const std::string& path, bool must_exist);

std::string to_string(const ConfigError& error);

}  // namespace fotoauthd
