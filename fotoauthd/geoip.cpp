#include "geoip.hpp"

#include "log.hpp"

#include <arpa/inet.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace fotoauthd::geoip {

namespace {

// The longest zone accepted after '%': an interface name (IFNAMSIZ - 1) or an index.
constexpr std::size_t kMaxZoneLength = 15;

// An address with the prefix it must start with to belong to a range.
struct Range4 {
    std::uint32_t network;
    int prefix;
};

constexpr Range4 kLocal4[] = {
    {0x00000000, 32},  // 0.0.0.0, unspecified
    {0x0a000000, 8},   // 10/8, RFC 1918
    {0x64400000, 10},  // 100.64/10, carrier-grade NAT (RFC 6598)
    {0x7f000000, 8},   // 127/8, loopback
    {0xa9fe0000, 16},  // 169.254/16, link-local
    {0xac100000, 12},  // 172.16/12, RFC 1918
    {0xc0a80000, 16},  // 192.168/16, RFC 1918
};

bool in_range(std::uint32_t address, Range4 range)
{
    const std::uint32_t mask = range.prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - range.prefix);
    return (address & mask) == range.network;
}

bool is_local(const in_addr& address)
{
    const std::uint32_t host_order = ntohl(address.s_addr);
    return std::any_of(std::begin(kLocal4), std::end(kLocal4),
                       [&](Range4 range) { return in_range(host_order, range); });
}

bool is_link_local(const in6_addr& address)
{
    return address.s6_addr[0] == 0xfe && (address.s6_addr[1] & 0xc0) == 0x80;
}

bool is_local(const in6_addr& address)
{
    const bool unique_local = (address.s6_addr[0] & 0xfe) == 0xfc;  // fc00::/7
    return IN6_IS_ADDR_LOOPBACK(&address) || IN6_IS_ADDR_UNSPECIFIED(&address) || unique_local ||
           is_link_local(address);
}

std::string text_of(const in_addr& address)
{
    char text[INET_ADDRSTRLEN] = {};
    (void)inet_ntop(AF_INET, &address, text, sizeof(text));
    return text;
}

std::string text_of(const in6_addr& address)
{
    char text[INET6_ADDRSTRLEN] = {};
    (void)inet_ntop(AF_INET6, &address, text, sizeof(text));
    return text;
}

Location judged(const in_addr& address)
{
    return Location{is_local(address) ? Place::Local : Place::NotListed, {}, text_of(address)};
}

Location judged(const in6_addr& address)
{
    if (IN6_IS_ADDR_V4MAPPED(&address)) {
        in_addr v4{};
        std::memcpy(&v4, &address.s6_addr[12], sizeof(v4));
        return judged(v4);
    }
    return Location{is_local(address) ? Place::Local : Place::NotListed, {}, text_of(address)};
}

bool is_plain_zone(std::string_view zone)
{
    const auto plain = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
    };
    return !zone.empty() && zone.size() <= kMaxZoneLength &&
           std::all_of(zone.begin(), zone.end(), plain);
}

// "fe80::1%eth0": only a link-local address has a zone in a login's remote host; anything else
// with a '%' is not an address we can judge.
Location classify_with_zone(std::string_view remote_host, std::size_t percent)
{
    const std::string_view zone = remote_host.substr(percent + 1);
    const std::string address_text(remote_host.substr(0, percent));
    in6_addr v6{};
    if (!is_plain_zone(zone) || inet_pton(AF_INET6, address_text.c_str(), &v6) != 1 ||
        !is_link_local(v6))
        return Location{};
    return Location{Place::Local, {}, text_of(v6) + "%" + std::string(zone)};
}

std::int64_t monotonic_now_ms()
{
    timespec now{};
    (void)clock_gettime(CLOCK_MONOTONIC, &now);
    return std::int64_t{now.tv_sec} * 1000 + now.tv_nsec / 1'000'000;
}

// Exactly two ASCII letters, upper-cased; anything else (another type, length or character) is
// no country code.
std::optional<std::string> two_letters(const MMDB_entry_data_s& value)
{
    if (value.type != MMDB_DATA_TYPE_UTF8_STRING || value.data_size != 2)
        return std::nullopt;

    std::string code(value.utf8_string, 2);
    for (char& c : code) {
        if (c >= 'a' && c <= 'z')
            c = static_cast<char>(c - 'a' + 'A');
        else if (c < 'A' || c > 'Z')
            return std::nullopt;
    }
    return code;
}

// "ZZ" and "XX" are what several databases write for "unknown country". Taken as a country, every
// such login would seem to come from one and the same place.
bool is_unknown_marker(std::string_view code)
{
    return code == "ZZ" || code == "XX";
}

}  // namespace

std::string_view to_string(Place place)
{
    switch (place) {
    case Place::Local: return "local";
    case Place::Unknown: return "unknown";
    case Place::NotListed: return "not-listed";
    case Place::Country: return "country";
    }
    return "unknown";
}

Location classify(std::string_view remote_host)
{
    // A NUL would end the text early for inet_pton: "1.2.3.4\0junk" is no address.
    if (remote_host.empty() || remote_host.find('\0') != std::string_view::npos)
        return Location{};

    const std::size_t percent = remote_host.find('%');
    if (percent != std::string_view::npos)
        return classify_with_zone(remote_host, percent);

    const std::string text(remote_host);
    in_addr v4{};
    if (inet_pton(AF_INET, text.c_str(), &v4) == 1)
        return judged(v4);
    in6_addr v6{};
    if (inet_pton(AF_INET6, text.c_str(), &v6) == 1)
        return judged(v6);
    return Location{};
}

bool CountryDatabase::FileIdentity::operator==(const FileIdentity& other) const
{
    return exists == other.exists && device == other.device && inode == other.inode &&
           size == other.size && modified.tv_sec == other.modified.tv_sec &&
           modified.tv_nsec == other.modified.tv_nsec;
}

void CountryDatabase::Closer::operator()(MMDB_s* database) const
{
    MMDB_close(database);
    delete database;
}

CountryDatabase::CountryDatabase(std::string path) : path_(std::move(path))
{
    if (!path_.empty())
        load_if_replaced();
}

CountryDatabase::~CountryDatabase() = default;

Location CountryDatabase::locate(std::string_view remote_host)
{
    return locate(remote_host, monotonic_now_ms());
}

Location CountryDatabase::locate(std::string_view remote_host, std::int64_t now_ms)
{
    Location location = classify(remote_host);
    if (location.place != Place::NotListed || path_.empty())
        return location;

    recheck_if_due(now_ms);
    if (!database_)
        return location;

    if (auto country = lookup_country(location.address)) {
        location.place = Place::Country;
        location.country = std::move(*country);
    }
    return location;
}

void CountryDatabase::recheck_if_due(std::int64_t now_ms)
{
    if (last_check_ms_ && now_ms - *last_check_ms_ < kRecheckIntervalMs)
        return;
    last_check_ms_ = now_ms;
    load_if_replaced();
}

// Looks at the file once; opens it when it is not the one loaded, and was not already found
// unusable in this very state.
void CountryDatabase::load_if_replaced()
{
    FileIdentity identity;
    struct stat st {};
    const int stat_error = stat(path_.c_str(), &st) == 0 ? 0 : errno;
    if (stat_error == 0)
        identity = FileIdentity{true, st.st_dev, st.st_ino, st.st_size, st.st_mtim};

    if ((database_ && identity == loaded_) || (tried_ && identity == *tried_))
        return;
    tried_ = identity;

    if (stat_error != 0) {
        complain("Cannot read the GeoIP database", std::strerror(stat_error));
        return;
    }
    // A FIFO or a device would block or mislead MMDB_open; only a plain file is a database.
    if (!S_ISREG(st.st_mode)) {
        complain("The GeoIP database is not a regular file", "wrong file type");
        return;
    }
    if (open_file(identity))
        loaded_ = identity;
}

bool CountryDatabase::open_file(const FileIdentity& identity)
{
    auto opened = std::unique_ptr<MMDB_s, Closer>(new MMDB_s{});
    errno = 0;
    const int status = MMDB_open(path_.c_str(), MMDB_MODE_MMAP, opened.get());
    if (status != MMDB_SUCCESS) {
        const int saved_errno = errno;
        // A failed MMDB_open frees what it allocated (MMDB_open(3)): it must not be closed.
        delete opened.release();
        const bool system_error = status == MMDB_FILE_OPEN_ERROR || status == MMDB_IO_ERROR;
        const std::string reason =
            system_error && saved_errno != 0
                ? std::string(MMDB_strerror(status)) + ": " + std::strerror(saved_errno)
                : MMDB_strerror(status);
        complain("Cannot open the GeoIP database", reason);
        return false;
    }

    const MMDB_metadata_s& metadata = opened->metadata;
    log::info("GeoIP database loaded",
              {{"GEOIP_DATABASE", path_},
               {"GEOIP_TYPE", log::printable(metadata.database_type ? metadata.database_type : "")},
               {"GEOIP_BUILT", std::to_string(metadata.build_epoch)},
               {"GEOIP_SIZE", std::to_string(identity.size)}});
    database_ = std::move(opened);
    complained_ = false;
    lookup_complained_ = false;
    return true;
}

void CountryDatabase::complain(std::string_view what, std::string_view reason)
{
    if (complained_)
        return;
    complained_ = true;

    const std::string text = std::string(what) + (database_ ? ", keeping the one loaded before"
                                                            : ", logins go on without countries");
    log::warning(text, {{"GEOIP_DATABASE", path_}, {"REASON", std::string(reason)}});
}

void CountryDatabase::complain_about_lookup(std::string_view what, std::string_view reason)
{
    if (lookup_complained_)
        return;
    lookup_complained_ = true;
    log::warning(std::string(what) + ", such addresses count as not listed",
                 {{"GEOIP_DATABASE", path_}, {"REASON", std::string(reason)}});
}

std::optional<std::string> CountryDatabase::lookup_country(const std::string& address)
{
    sockaddr_storage storage{};
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1)
        v4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1)
        v6->sin6_family = AF_INET6;
    else
        return std::nullopt;

    int error = MMDB_SUCCESS;
    MMDB_lookup_result_s result =
        MMDB_lookup_sockaddr(database_.get(), reinterpret_cast<sockaddr*>(&storage), &error);
    if (error == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR) {
        complain_about_lookup("The GeoIP database lists no IPv6 addresses", MMDB_strerror(error));
        return std::nullopt;
    }
    if (error != MMDB_SUCCESS) {
        complain_about_lookup("A GeoIP lookup failed", MMDB_strerror(error));
        return std::nullopt;
    }
    if (!result.found_entry)
        return std::nullopt;

    return country_of(result.entry);
}

// MaxMind and DB-IP write {"country": {"iso_code": "FR"}}, ip-location-db {"country_code": "FR"}.
// The first path the record holds decides; a record that holds neither lists no country.
std::optional<std::string> CountryDatabase::country_of(MMDB_entry_s& entry)
{
    static const char* const kIsoCode[] = {"country", "iso_code", nullptr};
    static const char* const kCountryCode[] = {"country_code", nullptr};

    for (const char* const* path : {kIsoCode, kCountryCode}) {
        MMDB_entry_data_s value{};
        const int status = MMDB_aget_value(&entry, &value, path);
        if (status == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR ||
            (status == MMDB_SUCCESS && !value.has_data))
            continue;
        if (status != MMDB_SUCCESS) {
            complain_about_lookup("A GeoIP record cannot be read", MMDB_strerror(status));
            return std::nullopt;
        }

        auto code = two_letters(value);
        if (!code) {
            complain_about_lookup("A GeoIP record holds a country code that is not two letters",
                                  "unusable value");
            return std::nullopt;
        }
        if (is_unknown_marker(*code))
            return std::nullopt;
        return code;
    }
    return std::nullopt;
}

}  // namespace fotoauthd::geoip
