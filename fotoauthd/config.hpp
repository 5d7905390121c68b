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
