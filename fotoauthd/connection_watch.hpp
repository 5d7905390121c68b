// Where logins come from, and what a login from an unusual country sets off (docs/alerts.md):
// the account's last known country, the country of each login in its history, and the alert
// mail that joins the outbox in the same transaction as the login it is about.
//
// Only root's clients (sshd, login) are believed about the remote host: a user's own process
// could name any address, so its requests are never located, never move the last known country
// and never raise an alert.
#pragma once

#include "clock.hpp"
#include "config.hpp"
#include "geoip.hpp"
#include "store.hpp"
#include "user_directory.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace fotoauthd {

// What the history and the alert need to know about one login.
struct LoginReport {
    std::string service;
    std::string remote_host;  // PAM_RHOST as the client sent it
    std::string client;       // service, method, key fingerprint, terminal (already printable)
    std::string detail;       // how it passed: "verification code", "trusted device ...", ...
    bool from_root = false;   // the request came from a root process (sshd, login)
    unsigned caller_uid = 0;  // the uid of the process that sent the request
    bool verified = false;    // a verification code was checked during this login
    bool mfa_enabled = false;
};

class ConnectionWatch {
public:
    ConnectionWatch(const Config& config, Store& store, const Clock& clock, std::string host_name);

    // Where the source is; Unknown for requests not from root.
    geoip::Location locate(std::string_view remote_host, bool from_root);

    // Whether a login from `location` is from another country than the account's last known
    // one. A first known country, a local or unknown location, and an unlisted address are not.
    bool is_unusual(std::int64_t account, const geoip::Location& location);

    // A completed login: one history entry; from a known country it becomes the last known
    // one, and when that is a change, an alert goes to the outbox with the entry.
    void record_login(std::int64_t account, const SystemAccount& user, const LoginReport& login);

    // A right password followed by a wrong code from an unusual country: the password is known
    // to someone else. Records the refusal and, when unusual, alerts. The baseline stays.
    void record_wrong_code(std::int64_t account, const SystemAccount& user,
                           const LoginReport& login);

    // After a configuration reload: a new geoip_database path is opened.
    void reconfigure();

    // How a location reads in the history: "FR", "local", "unknown", or empty when nobody looked.
    std::string country_label(const geoip::Location& location) const;

private:
    void record(std::int64_t account, const SystemAccount& user, const LoginReport& login,
                const char* event, bool may_move_baseline);
    std::optional<OutboxMail> alert_for(std::int64_t account, const SystemAccount& user,
                                        const LoginReport& login, const geoip::Location& location,
                                        bool wrong_code);

    const Config& config_;
    Store& store_;
    const Clock& clock_;
    std::string host_name_;
    std::unique_ptr<geoip::CountryDatabase> countries_;
    std::string countries_path_;
};

}  // namespace fotoauthd
