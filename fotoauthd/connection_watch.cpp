#include "connection_watch.hpp"

#include "alert_mail.hpp"
#include "log.hpp"

#include <stdexcept>

namespace fotoauthd {

ConnectionWatch::ConnectionWatch(const Config& config, Store& store, const Clock& clock,
                                 std::string host_name)
    : config_(config), store_(store), clock_(clock), host_name_(std::move(host_name)),
      countries_(std::make_unique<geoip::CountryDatabase>(config.geoip_database)),
      countries_path_(config.geoip_database)
{
}

void ConnectionWatch::reconfigure()
{
    if (config_.geoip_database == countries_path_)
        return;
    countries_ = std::make_unique<geoip::CountryDatabase>(config_.geoip_database);
    countries_path_ = config_.geoip_database;
}

geoip::Location ConnectionWatch::locate(std::string_view remote_host, bool from_root)
{
    if (!from_root)
        return {};
    return countries_->locate(remote_host, clock_.monotonic_ms());
}

bool ConnectionWatch::is_unusual(std::int64_t account, const geoip::Location& location)
{
    if (location.place != geoip::Place::Country)
        return false;
    const std::string last = store_.last_country(account);
    return !last.empty() && last != location.country;
}

std::string ConnectionWatch::country_label(const geoip::Location& location) const
{
    switch (location.place) {
    case geoip::Place::Local: return "local";
    case geoip::Place::Country: return location.country;
    case geoip::Place::Unknown:
    case geoip::Place::NotListed: break;
    }
    // Without a database nobody looked, except that local and unknown sources need none.
    if (config_.geoip_database.empty() && location.place == geoip::Place::NotListed)
        return {};
    return "unknown";
}

void ConnectionWatch::record_login(std::int64_t account, const SystemAccount& user,
                                   const LoginReport& login)
{
    record(account, user, login, "login", true);
}

void ConnectionWatch::record_wrong_code(std::int64_t account, const SystemAccount& user,
                                        const LoginReport& login)
{
    record(account, user, login, "login-refused", false);
}

void ConnectionWatch::record(std::int64_t account, const SystemAccount& user,
                             const LoginReport& login, const char* event, bool may_move_baseline)
{
    const auto location = locate(login.remote_host, login.from_root);
    const bool unusual = is_unusual(account, location);

    HistoryEntry entry;
    entry.at = clock_.now();
    entry.event = event;
    entry.service = log::printable(login.service, 32);
    entry.source = login.from_root ? log::printable(login.remote_host, 64)
                                   : "local process of uid " + std::to_string(login.caller_uid);
    entry.detail = log::printable(login.detail, 120);
    entry.country = country_label(location);
    entry.client = log::printable(login.client, 120);
    entry.unusual = unusual;
    entry.verified = login.verified;

    const auto alert =
        unusual ? alert_for(account, user, login, location, !may_move_baseline) : std::nullopt;
    store_.record_history(account, entry, config_.history_length, alert ? &*alert : nullptr,
                          config_.outbox_per_user);
    // Only a completed login moves the last known country: failed guesses from abroad must not
    // make the next one look usual.
    if (may_move_baseline && location.place == geoip::Place::Country &&
        store_.last_country(account) != location.country)
        store_.set_last_country(account, location.country);

    if (unusual)
        log::audit(may_move_baseline ? "unusual-login" : "unusual-wrong-code",
                   may_move_baseline ? "Login from an unusual country"
                                     : "Right password, wrong code, from an unusual country",
                   {{"USER", user.name},
                    {"COUNTRY", location.country},
                    {"RHOST", location.address},
                    {"ALERT", alert ? "queued" : "no usable address"}});
}

std::optional<OutboxMail> ConnectionWatch::alert_for(std::int64_t account,
                                                     const SystemAccount& user,
                                                     const LoginReport& login,
                                                     const geoip::Location& location,
                                                     bool wrong_code)
{
    const auto recipient = mail::recipient_for(user.name, store_.alert_address(account),
                                               config_.alert_address_pattern);
    if (!recipient)
        return std::nullopt;

    mail::AlertFacts facts;
    facts.kind = wrong_code ? mail::AlertFacts::Kind::WrongCodeFromUnusualCountry
                            : mail::AlertFacts::Kind::UnusualLogin;
    facts.user = user.name;
    facts.host_name = host_name_;
    facts.country = location.country;
    facts.address = location.address;
    facts.at = clock_.now();
    facts.mfa_enabled = login.mfa_enabled;
    facts.site_url = config_.alert_site_url;
    facts.from = config_.alert_from.empty() ? "fotoauthd@" + host_name_ : config_.alert_from;
    facts.to = *recipient;

    OutboxMail mail;
    try {
        mail.message = mail::build_alert(facts);
    } catch (const std::invalid_argument& error) {
        // A sender the host name made unusable: the login goes on, the reason is logged.
        log::error("Cannot write the alert mail", {{"USER", user.name}, {"ERROR", error.what()}});
        return std::nullopt;
    }
    mail.account = account;
    mail.recipient = *recipient;
    mail.created_at = facts.at;
    mail.next_attempt_at = facts.at;
    return mail;
}

}  // namespace fotoauthd
