// Where a login comes from, as a country: the PAM remote host (an address, never resolved) looked
// up in a MaxMind DB file (.mmdb) such as GeoLite2-Country, GeoIP2-City, DB-IP or ip-location-db.
// docs/geoip.md says what each answer means to the daemon.
//
// Addresses are parsed with inet_pton only, so a host name is never sent to DNS. Only a zone is
// set aside before parsing: an IPv6 link-local address with a zone ("fe80::1%eth0", as sshd
// reports a login over a link-local address) is Local; a zone on any other address, or a zone
// that is not a plain interface name or number, makes the host Unknown.
// An IPv4-mapped IPv6 address ("::ffff:198.51.100.7") is judged and shown as its IPv4 address.
//
// Not thread-safe: the daemon is single-threaded and owns one CountryDatabase.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct MMDB_s;
struct MMDB_entry_s;

namespace fotoauthd::geoip {

enum class Place {
    Local,      // loopback, RFC 1918, link-local, CGNAT 100.64/10, IPv6 ::1, fc00::/7,
                // fe80::/10, unspecified (0.0.0.0, ::): the login did not cross the internet
    Unknown,    // no address: empty, "UNKNOWN", a host name, anything not an IP literal
    NotListed,  // a public address the database does not list, or no usable database
    Country,    // found: `country` holds the ISO 3166-1 alpha-2 code, upper case
};

struct Location {
    Place place = Place::Unknown;
    std::string country;  // only for Place::Country
    std::string address;  // the address as normalised text (mapped IPv4 as plain IPv4), or empty
};

// "local", "unknown", "not-listed" or "country".
std::string_view to_string(Place place);

// What kind of source this is, without any database.
Location classify(std::string_view remote_host);

// A country database file, reopened when the file is replaced (by rename, as the weekly updaters
// do). A database that cannot be used makes every public address NotListed and is logged once,
// until a usable one has been loaded again.
class CountryDatabase {
public:
    // How often locate() looks whether the file was replaced: one stat() per interval at most.
    static constexpr std::int64_t kRecheckIntervalMs = 5000;

    // An empty path turns GeoIP off: nothing is opened and nothing is ever logged.
    explicit CountryDatabase(std::string path);
    ~CountryDatabase();
    CountryDatabase(const CountryDatabase&) = delete;
    CountryDatabase& operator=(const CountryDatabase&) = delete;

    // `now_ms` is a monotonic time in milliseconds (Clock::monotonic_ms); the overload without it
    // reads CLOCK_MONOTONIC.
    Location locate(std::string_view remote_host, std::int64_t now_ms);
    Location locate(std::string_view remote_host);

    // A database is open now.
    bool usable() const { return database_ != nullptr; }

private:
    // What tells one file from its replacement.
    struct FileIdentity {
        bool exists = false;
        dev_t device = 0;
        ino_t inode = 0;
        off_t size = 0;
        timespec modified{};
        bool operator==(const FileIdentity& other) const;
    };

    struct Closer {
        void operator()(MMDB_s* database) const;
    };

    void recheck_if_due(std::int64_t now_ms);
    void load_if_replaced();
    bool open_file(const FileIdentity& identity);
    void complain(std::string_view what, std::string_view reason);
    std::optional<std::string> lookup_country(const std::string& address);
    std::optional<std::string> country_of(MMDB_entry_s& entry);
    void complain_about_lookup(std::string_view what, std::string_view reason);

    std::string path_;
    std::unique_ptr<MMDB_s, Closer> database_;
    FileIdentity loaded_;                // the file behind database_
    std::optional<FileIdentity> tried_;  // the last file looked at, usable or not
    std::optional<std::int64_t> last_check_ms_;
    bool complained_ = false;         // a problem with the file was logged and not yet fixed
    bool lookup_complained_ = false;  // a lookup error was logged for the open database
};

}  // namespace fotoauthd::geoip
