#include "config.hpp"

#include <libpq-fe.h>

#include <cerrno>
#include <chrono>
#include <charconv>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string_view>

namespace fotoauthd {

namespace {

std::string_view trim(std::string_view text)
{
    const auto first = text.find_first_not_of(" \t\r");
    if (first == std::string_view::npos)
        return {};
    const auto last = text.find_last_not_of(" \t\r");
    return text.substr(first, last - first + 1);
}

// Parses a whole decimal number within [low, high]; the message says what was wrong.
bool parse_number(std::string_view text, std::uint64_t low, std::uint64_t high, std::uint64_t& out,
                  std::string& message)
{
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || text.empty()) {
        message = "expected a whole number";
        return false;
    }
    if (value < low || value > high) {
        message = "must be between " + std::to_string(low) + " and " + std::to_string(high);
        return false;
    }
    out = value;
    return true;
}

bool parse_path(std::string_view text, std::string& out, std::string& message)
{
    if (text.empty() || text.front() != '/') {
        message = "expected an absolute path";
        return false;
    }
    out.assign(text);
    return true;
}

using Setter = std::function<bool(std::string_view, Config&, std::string&)>;

// A setter for a whole number within [low, high], stored through `store`.
template <typename Store> Setter number_setter(std::uint64_t low, std::uint64_t high, Store store)
{
    return [=](std::string_view v, Config& c, std::string& m) {
        std::uint64_t n = 0;
        if (!parse_number(v, low, high, n, m))
            return false;
        store(c, n);
        return true;
    };
}

Setter seconds_setter(std::chrono::seconds Config::*field, std::uint64_t low, std::uint64_t high)
{
    return number_setter(
        low, high, [field](Config& c, std::uint64_t n) { c.*field = std::chrono::seconds(n); });
}

Setter flag_setter(bool Config::*field)
{
    return [field](std::string_view v, Config& c, std::string& m) {
        if (v == "yes" || v == "true") {
            c.*field = true;
            return true;
        }
        if (v == "no" || v == "false") {
            c.*field = false;
            return true;
        }
        m = "expected yes or no";
        return false;
    };
}

// Service names separated by spaces or commas; an empty value is an empty list.
Setter list_setter(std::vector<std::string> Config::*field, const char* what = "service names")
{
    return [field, what](std::string_view v, Config& c, std::string& m) {
        std::vector<std::string> names;
        std::size_t at = 0;
        while (at < v.size()) {
            const auto end = v.find_first_of(" ,\t", at);
            const auto name =
                v.substr(at, end == std::string_view::npos ? v.size() - at : end - at);
            if (!name.empty()) {
                if (name.size() > 64 || name.find_first_of("/:") != std::string_view::npos) {
                    m = std::string(what) + " are at most 64 characters without '/' or ':'";
                    return false;
                }
                names.emplace_back(name);
            }
            if (end == std::string_view::npos)
                break;
            at = end + 1;
        }
        c.*field = std::move(names);
        return true;
    };
}

Setter attempts_setter(Limit Config::*limit)
{
    return number_setter(1, 1000000, [limit](Config& c, std::uint64_t n) {
        (c.*limit).attempts = static_cast<unsigned>(n);
    });
}

Setter window_setter(Limit Config::*limit)
{
    return number_setter(1, 86400, [limit](Config& c, std::uint64_t n) {
        (c.*limit).window = std::chrono::seconds(n);
    });
}

// Text that goes into mail headers or addresses: printable ASCII without spaces or quotes.
bool is_plain_token(std::string_view text)
{
    for (const char c : text)
        if (c <= ' ' || c > '~' || c == '"' || c == '<' || c == '>' || c == ',' || c == ';' ||
            c == '\\' || c == '(' || c == ')')
            return false;
    return true;
}

// An alert address pattern: an address once %u is replaced, e.g. "%u@studio.example".
bool parse_address_pattern(std::string_view v, Config& c, std::string& m)
{
    if (v.empty()) {  // no pattern: local delivery to the user name
        c.alert_address_pattern.clear();
        return true;
    }
    if (v.size() > 128 || !is_plain_token(v) || v.front() == '-' ||
        v.find('@') == std::string_view::npos || v.find('@') != v.rfind('@') ||
        v.find("%u") == std::string_view::npos) {
        m = "expected an address containing %u, such as %u@studio.example";
        return false;
    }
    for (std::size_t at = v.find('%'); at != std::string_view::npos; at = v.find('%', at + 2))
        if (at + 1 >= v.size() || (v[at + 1] != 'u' && v[at + 1] != '%')) {
            m = "only %u (the user name) and %% may follow '%'";
            return false;
        }
    c.alert_address_pattern.assign(v);
    return true;
}

// A libpq connection string ("host=db1,db2 dbname=fotoauthd target_session_attrs=read-write"
// or a postgresql:// URI), checked by libpq's own parser so that a typo stops the daemon at
// start rather than at the first login. libpq's message is not repeated: it quotes the text it
// could not read, which may hold a password and any bytes at all.
bool parse_conninfo(std::string_view v, Config& c, std::string& m)
{
    const std::string text(v);
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(text.c_str(), &error);
    if (!options) {
        PQfreemem(error);
        m = "not a libpq connection string, such as \"host=db1,db2 dbname=fotoauthd "
            "target_session_attrs=read-write\" (docs/fleet.md)";
        return false;
    }
    PQconninfoFree(options);
    c.postgresql = text;
    return true;
}

// A date YYYY-MM-DD, as the unix time of its first second in UTC.
bool parse_date(std::string_view v, std::int64_t& out, std::string& m)
{
    unsigned year = 0, month = 0, day = 0;
    const bool shaped = v.size() == 10 && v[4] == '-' && v[7] == '-';
    const auto number = [&](std::size_t from, std::size_t length, unsigned& value) {
        const auto [end, error] = std::from_chars(v.data() + from, v.data() + from + length, value);
        return error == std::errc() && end == v.data() + from + length;
    };
    if (!shaped || !number(0, 4, year) || !number(5, 2, month) || !number(8, 2, day) ||
        year < 1970 || year > 9999 || month < 1 || month > 12 || day < 1 || day > 31) {
        m = "expected a date as YYYY-MM-DD";
        return false;
    }
    const std::chrono::year_month_day date{std::chrono::year(static_cast<int>(year)),
                                           std::chrono::month(month), std::chrono::day(day)};
    if (!date.ok()) {
        m = "no such date";
        return false;
    }
    out = std::chrono::sys_days(date).time_since_epoch().count() * 86400;
    return true;
}

const std::map<std::string, Setter, std::less<>>& setters()
{
    static const std::map<std::string, Setter, std::less<>> table = {
        {"socket",
         [](std::string_view v, Config& c, std::string& m) {
             // sockaddr_un holds 108 bytes including the terminating NUL.
             if (v.size() > 107) {
                 m = "socket path is longer than 107 bytes";
                 return false;
             }
             return parse_path(v, c.socket_path, m);
         }},
        {"database", [](std::string_view v, Config& c,
                        std::string& m) { return parse_path(v, c.database_path, m); }},
        {"store",
         [](std::string_view v, Config& c, std::string& m) {
             if (v != "sqlite" && v != "postgresql") {
                 m = "expected sqlite or postgresql";
                 return false;
             }
             c.store.assign(v);
             return true;
         }},
        {"postgresql", parse_conninfo},
        {"server_name",
         [](std::string_view v, Config& c, std::string& m) {
             if (v.empty() || v.size() > 64 || !is_plain_token(v)) {
                 m = "expected at most 64 printable characters without spaces or quotes";
                 return false;
             }
             c.server_name.assign(v);
             return true;
         }},
        {"totp_window",
         number_setter(
             0, 10, [](Config& c, std::uint64_t n) { c.totp_window = static_cast<unsigned>(n); })},
        {"enrolment_timeout", seconds_setter(&Config::enrolment_timeout, 60, 86400)},
        {"issuer",
         [](std::string_view v, Config& c, std::string& m) {
             if (v.size() > 64 || v.find_first_of(":\"") != std::string_view::npos) {
                 m = "issuer must be at most 64 characters without ':' or '\"'";
                 return false;
             }
             c.issuer.assign(v);
             return true;
         }},
        {"login_source_attempts", attempts_setter(&Config::login_per_source)},
        {"login_source_window", window_setter(&Config::login_per_source)},
        {"login_user_attempts", attempts_setter(&Config::login_per_user)},
        {"login_user_window", window_setter(&Config::login_per_user)},
        {"code_attempts", attempts_setter(&Config::wrong_codes)},
        {"code_window", window_setter(&Config::wrong_codes)},
        {"password_change_attempts", attempts_setter(&Config::password_changes)},
        {"password_change_window", window_setter(&Config::password_changes)},
        {"lock_duration", seconds_setter(&Config::lock_duration, 1, 604800)},
        {"max_tracked", number_setter(100, 10000000,
                                      [](Config& c, std::uint64_t n) {
                                          c.max_tracked = static_cast<std::size_t>(n);
                                      })},
        {"auth_proof_lifetime", seconds_setter(&Config::auth_proof_lifetime, 5, 3600)},
        {"trusted_device_days", number_setter(1, 3650,
                                              [](Config& c, std::uint64_t n) {
                                                  c.trusted_device_lifetime =
                                                      std::chrono::seconds(n * 86400);
                                              })},
        // The Devices answer lists them all in one message of at most 4096 bytes.
        {"max_devices_per_user", number_setter(1, 30,
                                               [](Config& c, std::uint64_t n) {
                                                   c.max_devices_per_user =
                                                       static_cast<std::size_t>(n);
                                               })},
        {"trust_source_address", flag_setter(&Config::trust_source_address)},
        {"trust_terminal", flag_setter(&Config::trust_terminal)},
        {"device_trust_services", list_setter(&Config::device_trust_services)},
        {"session_manager",
         [](std::string_view v, Config& c, std::string& m) {
             if (v != "auto" && v != "logind" && v != "procfs") {
                 m = "expected auto, logind or procfs";
                 return false;
             }
             c.session_manager.assign(v);
             return true;
         }},
        {"require_code_services", list_setter(&Config::require_code_services)},
        {"totp_drift_search", number_setter(0, 60,
                                            [](Config& c, std::uint64_t n) {
                                                c.totp_drift_search = static_cast<unsigned>(n);
                                            })},
        {"require_mfa_groups", list_setter(&Config::require_mfa_groups, "group names")},
        {"mfa_exempt_groups", list_setter(&Config::mfa_exempt_groups, "group names")},
        {"require_mfa_grace_until",
         [](std::string_view v, Config& c, std::string& m) {
             return parse_date(v, c.require_mfa_grace_until, m);
         }},
        {"geoip_database", [](std::string_view v, Config& c,
                              std::string& m) { return parse_path(v, c.geoip_database, m); }},
        {"history_length",
         number_setter(1, 1000, [](Config& c, std::uint64_t n) { c.history_length = n; })},
        {"alert_address_pattern", parse_address_pattern},
        {"alert_from",
         [](std::string_view v, Config& c, std::string& m) {
             if (v.empty() || v.size() > 128 || !is_plain_token(v) || v.front() == '-' ||
                 v.find('@') == std::string_view::npos) {
                 m = "expected a plain address such as fotoauthd@studio.example";
                 return false;
             }
             c.alert_from.assign(v);
             return true;
         }},
        {"alert_site_url",
         [](std::string_view v, Config& c, std::string& m) {
             if (v.empty()) {  // no site to name in the alert
                 c.alert_site_url.clear();
                 return true;
             }
             if (v.size() > 200 || !is_plain_token(v) ||
                 (!v.starts_with("https://") && !v.starts_with("http://"))) {
                 m = "expected an http:// or https:// URL without spaces";
                 return false;
             }
             c.alert_site_url.assign(v);
             return true;
         }},
        {"sendmail_path", [](std::string_view v, Config& c,
                             std::string& m) { return parse_path(v, c.sendmail_path, m); }},
        {"smtp_relay",
         [](std::string_view v, Config& c, std::string& m) {
             if (v.empty()) {  // alerts go through sendmail
                 c.smtp_relay.clear();
                 return true;
             }
             const auto colon = v.rfind(':');
             std::uint64_t port = 0;
             std::string ignored;
             if (colon == std::string_view::npos || colon == 0 || !is_plain_token(v) ||
                 !parse_number(v.substr(colon + 1), 1, 65535, port, ignored)) {
                 m = "expected HOST:PORT, such as 127.0.0.1:25";
                 return false;
             }
             c.smtp_relay.assign(v);
             return true;
         }},
        {"alert_timeout", seconds_setter(&Config::alert_timeout, 5, 600)},
        {"outbox_per_user",
         number_setter(1, 100, [](Config& c, std::uint64_t n) { c.outbox_per_user = n; })},
    };
    return table;
}

}  // namespace

ConfigResult parse_config(const std::string& text, const std::string& file_name)
{
    ConfigResult result;
    std::istringstream lines(text);
    std::string raw;
    unsigned number = 0;

    while (std::getline(lines, raw)) {
        ++number;
        const std::string_view line = trim(raw);
        if (line.empty() || line.front() == '#')
            continue;

        const auto equals = line.find('=');
        if (equals == std::string_view::npos) {
            result.errors.push_back({file_name, number, "expected `key = value`"});
            continue;
        }
        const std::string_view key = trim(line.substr(0, equals));
        const std::string_view value = trim(line.substr(equals + 1));

        const auto& table = setters();
        const auto setter = table.find(key);
        if (setter == table.end()) {
            result.errors.push_back(
                {file_name, number, "unknown key `" + std::string(key.substr(0, 40)) + "`"});
            continue;
        }
        std::string message;
        if (!setter->second(value, result.config, message))
            result.errors.push_back({file_name, number, std::string(key) + ": " + message});
    }
    // Said once the lines are read, since the two keys may come in any order; a connection
    // string with an error of its own has been reported already.
    if (result.errors.empty() && result.config.store == "postgresql" &&
        result.config.postgresql.empty())
        result.errors.push_back(
            {file_name, 0, "store = postgresql needs `postgresql = CONNINFO` (docs/fleet.md)"});
    return result;
}

ConfigResult load_config(const std::string& path, bool must_exist)
{
    std::ifstream file(path);
    if (!file) {
        ConfigResult result;
        if (must_exist || errno != ENOENT)
            result.errors.push_back({path, 0, std::strerror(errno)});
        return result;
    }
    std::ostringstream text;
    text << file.rdbuf();
    return parse_config(text.str(), path);
}

std::string to_string(const ConfigError& error)
{
    if (error.line == 0)
        return error.file + ": " + error.message;
    return error.file + ":" + std::to_string(error.line) + ": " + error.message;
}

}  // namespace fotoauthd
