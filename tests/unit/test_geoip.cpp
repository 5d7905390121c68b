// GeoIP: which remote hosts count as local, unknown or public, and the country database: both
// record schemas, odd and hostile files, replacement by rename on an injected monotonic time, and
// logging each problem once. The databases are written here byte by byte (MmdbFile) so that this
// test needs no writer program and can store records no well-behaved writer would; the
// integration test tests/integration/test_geoip.py uses databases from MaxMind's own writer.
#include "geoip.hpp"
#include "log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cmocka_main.hpp"

using fotoauthd::geoip::classify;
using fotoauthd::geoip::CountryDatabase;
using fotoauthd::geoip::Location;
using fotoauthd::geoip::Place;

namespace {

constexpr std::int64_t kRecheck = CountryDatabase::kRecheckIntervalMs;
constexpr std::string_view kMetadataMarker = "\xAB\xCD\xEFMaxMind.com";

// ---- Writing MaxMind DB files (format 2.0: search tree, 16 zero bytes, data, metadata) ----

// The encoding of one data field: a control byte holding the type and the size (below 29 here),
// an extra byte for the extended types (those above 7), then the payload.
std::string field(int type, std::size_t size, std::string_view payload = {})
{
    std::string out;
    if (type <= 7) {
        out += static_cast<char>((type << 5) | static_cast<int>(size));
    } else {
        out += static_cast<char>(size);
        out += static_cast<char>(type - 7);
    }
    out += payload;
    return out;
}

std::string utf8(std::string_view text)
{
    return field(2, text.size(), text);
}

// An unsigned integer of `type` (5: 16 bits, 6: 32 bits, 9: 64 bits) in as few bytes as it needs.
std::string unsigned_field(int type, std::uint64_t value)
{
    std::string bytes;
    for (; value != 0; value >>= 8)
        bytes.insert(bytes.begin(), static_cast<char>(value & 0xff));
    return field(type, bytes.size(), bytes);
}

std::string map(std::initializer_list<std::pair<std::string_view, std::string>> entries)
{
    std::string out = field(7, entries.size());
    for (const auto& [key, value] : entries)
        out += utf8(key) + value;
    return out;
}

std::string iso_code_record(std::string_view code)
{
    return map({{"country", map({{"iso_code", utf8(code)}})}});
}

std::string country_code_record(std::string_view code)
{
    return map({{"country_code", utf8(code)}});
}

// An IPv4 database (ip_version 4, 24-bit records) that maps networks to records.
class MmdbFile {
public:
    // `record` is the encoded data of the network's record.
    MmdbFile& add(std::uint32_t network, int prefix, std::string record)
    {
        data_offsets_.push_back(data_.size());
        data_ += record;
        insert(network, prefix, Record{Record::Data, data_offsets_.back()});
        return *this;
    }

    // A record whose data pointer lies `beyond` bytes past the end of the data section.
    MmdbFile& add_dangling(std::uint32_t network, int prefix, std::uint32_t beyond)
    {
        insert(network, prefix, Record{Record::Data, data_.size() + beyond});
        return *this;
    }

    std::string bytes() const
    {
        const std::uint32_t node_count = static_cast<std::uint32_t>(nodes_.size());
        std::string out;
        for (const auto& node : nodes_)
            for (const Record& record : node)
                append_24_bits(out, value_of(record, node_count));
        out.append(16, '\0');
        out += data_;
        out += metadata(node_count);
        return out;
    }

    void write(const std::string& path) const { write_file(path, bytes()); }

    static void write_file(const std::string& path, const std::string& content)
    {
        const std::string partial = path + ".partial";
        std::FILE* file = std::fopen(partial.c_str(), "wbe");
        assert_non_null(file);
        assert_int_equal(std::fwrite(content.data(), 1, content.size(), file), content.size());
        assert_int_equal(std::fclose(file), 0);
        // Replaced by rename, as database updaters do.
        assert_int_equal(std::rename(partial.c_str(), path.c_str()), 0);
    }

private:
    struct Record {
        enum Kind { Empty, Node, Data } kind = Empty;
        std::size_t value = 0;  // node index or data offset
    };

    void insert(std::uint32_t network, int prefix, Record leaf)
    {
        if (nodes_.empty())
            nodes_.emplace_back();
        std::size_t node = 0;
        for (int depth = 0; depth < prefix; ++depth) {
            const int bit = (network >> (31 - depth)) & 1;
            if (depth == prefix - 1) {
                nodes_[node][bit] = leaf;
                return;
            }
            if (nodes_[node][bit].kind != Record::Node) {
                nodes_.emplace_back();
                nodes_[node][bit] = Record{Record::Node, nodes_.size() - 1};
            }
            node = nodes_[node][bit].value;
        }
    }

    static std::uint32_t value_of(const Record& record, std::uint32_t node_count)
    {
        switch (record.kind) {
        case Record::Node: return static_cast<std::uint32_t>(record.value);
        case Record::Data: return node_count + 16 + static_cast<std::uint32_t>(record.value);
        case Record::Empty: return node_count;
        }
        return node_count;
    }

    static void append_24_bits(std::string& out, std::uint32_t value)
    {
        out += static_cast<char>((value >> 16) & 0xff);
        out += static_cast<char>((value >> 8) & 0xff);
        out += static_cast<char>(value & 0xff);
    }

    static std::string metadata(std::uint32_t node_count)
    {
        return std::string(kMetadataMarker) +
               map({{"node_count", unsigned_field(6, node_count)},
                    {"record_size", unsigned_field(5, 24)},
                    {"ip_version", unsigned_field(5, 4)},
                    {"database_type", utf8("unit-test-Country")},
                    {"languages", field(11, 0)},
                    {"binary_format_major_version", unsigned_field(5, 2)},
                    {"binary_format_minor_version", unsigned_field(5, 0)},
                    {"build_epoch", unsigned_field(9, 1'700'000'000)},
                    {"description", map({})}});
    }

    std::vector<std::array<Record, 2>> nodes_;
    std::string data_;
    std::vector<std::size_t> data_offsets_;
};

constexpr std::uint32_t ipv4(int a, int b, int c, int d)
{
    return (std::uint32_t(a) << 24) | (std::uint32_t(b) << 16) | (std::uint32_t(c) << 8) |
           std::uint32_t(d);
}

// ---- Test surroundings ----

struct TempDir {
    TempDir()
    {
        char pattern[] = "/tmp/fsauth-geoip-XXXXXX";
        const char* made = mkdtemp(pattern);
        assert_non_null(made);
        path = made;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string file(std::string_view name) const { return path + "/" + std::string(name); }
    std::string path;
};

// What the code under test writes to stderr (where log lines go outside the journal) while it
// lives.
class StderrCapture {
public:
    StderrCapture()
    {
        std::fflush(stderr);
        saved_ = dup(STDERR_FILENO);
        char pattern[] = "/tmp/fsauth-geoip-stderr-XXXXXX";
        capture_ = mkostemp(pattern, O_CLOEXEC);
        assert_true(saved_ >= 0 && capture_ >= 0);
        unlink(pattern);
        assert_int_equal(dup2(capture_, STDERR_FILENO), STDERR_FILENO);
    }
    ~StderrCapture() { restore(); }

    // Everything written so far.
    std::string text()
    {
        std::fflush(stderr);
        std::string out;
        char buffer[4096];
        ssize_t got;
        off_t at = 0;
        while ((got = pread(capture_, buffer, sizeof(buffer), at)) > 0) {
            out.append(buffer, static_cast<std::size_t>(got));
            at += got;
        }
        return out;
    }

    int count(std::string_view needle)
    {
        const std::string all = text();
        int found = 0;
        for (auto at = all.find(needle); at != std::string::npos; at = all.find(needle, at + 1))
            ++found;
        return found;
    }

private:
    void restore()
    {
        if (saved_ < 0)
            return;
        std::fflush(stderr);
        dup2(saved_, STDERR_FILENO);
        close(saved_);
        close(capture_);
        saved_ = -1;
    }
    int saved_ = -1;
    int capture_ = -1;
};

void expect_place(std::string_view host, Place place, std::string_view address)
{
    const Location location = classify(host);
    if (location.place != place || location.address != address || !location.country.empty())
        fail_msg("\"%s\": got %s \"%s\", expected %s \"%s\"", std::string(host).c_str(),
                 std::string(to_string(location.place)).c_str(), location.address.c_str(),
                 std::string(to_string(place)).c_str(), std::string(address).c_str());
}

void expect_local(std::string_view host)
{
    expect_place(host, Place::Local, host);
}

void expect_public(std::string_view host)
{
    expect_place(host, Place::NotListed, host);
}

void expect_unknown(std::string_view host)
{
    expect_place(host, Place::Unknown, "");
}

void expect_country(CountryDatabase& database, std::string_view host, std::int64_t now_ms,
                    std::string_view country)
{
    const Location location = database.locate(host, now_ms);
    if (location.place != Place::Country || location.country != country)
        fail_msg("\"%s\": got %s \"%s\", expected country \"%s\"", std::string(host).c_str(),
                 std::string(to_string(location.place)).c_str(), location.country.c_str(),
                 std::string(country).c_str());
}

void expect_not_listed(CountryDatabase& database, std::string_view host, std::int64_t now_ms)
{
    const Location location = database.locate(host, now_ms);
    if (location.place != Place::NotListed || !location.country.empty())
        fail_msg("\"%s\": got %s \"%s\", expected not listed", std::string(host).c_str(),
                 std::string(to_string(location.place)).c_str(), location.country.c_str());
}

MmdbFile france_and_germany()
{
    MmdbFile file;
    file.add(ipv4(198, 51, 100, 0), 25, iso_code_record("FR"));
    file.add(ipv4(198, 51, 100, 128), 25, iso_code_record("DE"));
    return file;
}

// ---- classify() ----

void private_ipv4_ranges_are_local_up_to_their_last_address_and_not_one_beyond(void**)
{
    expect_local("10.0.0.0");
    expect_local("10.255.255.255");
    expect_public("9.255.255.255");
    expect_public("11.0.0.0");

    expect_public("172.15.255.255");
    expect_local("172.16.0.0");
    expect_local("172.31.255.255");
    expect_public("172.32.0.0");

    expect_public("192.167.255.255");
    expect_local("192.168.0.0");
    expect_local("192.168.255.255");
    expect_public("192.169.0.0");
}

void loopback_link_local_cgnat_and_unspecified_ipv4_are_local(void**)
{
    expect_local("127.0.0.1");
    expect_local("127.255.255.255");
    expect_public("128.0.0.0");

    expect_public("169.253.255.255");
    expect_local("169.254.0.0");
    expect_local("169.254.255.255");
    expect_public("169.255.0.0");

    expect_public("100.63.255.255");
    expect_local("100.64.0.0");
    expect_local("100.127.255.255");
    expect_public("100.128.0.0");

    expect_local("0.0.0.0");
    expect_public("198.51.100.7");
}

void ipv6_loopback_unique_local_link_local_and_unspecified_are_local(void**)
{
    expect_local("::1");
    expect_local("::");
    expect_public("::2");

    expect_public("fbff:ffff::1");
    expect_local("fc00::");
    expect_local("fd12:3456::1");
    expect_local("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    expect_public("fe00::1");

    expect_local("fe80::");
    expect_local("febf:ffff::1");
    expect_public("fec0::1");
    expect_public("2001:db8:1::5");
}

void ipv6_addresses_are_shown_in_their_short_lower_case_form(void**)
{
    expect_place("2001:DB8:0:0:0:0:0:5", Place::NotListed, "2001:db8::5");
    expect_place("FE80:0::1", Place::Local, "fe80::1");
}

void an_ipv4_mapped_ipv6_address_is_judged_and_shown_as_its_ipv4_address(void**)
{
    expect_place("::ffff:10.1.2.3", Place::Local, "10.1.2.3");
    expect_place("::ffff:198.51.100.7", Place::NotListed, "198.51.100.7");
    expect_place("::FFFF:c633:6407", Place::NotListed, "198.51.100.7");
    expect_place("::ffff:127.0.0.1", Place::Local, "127.0.0.1");
}

void a_link_local_address_with_a_plain_zone_is_local_and_other_zones_are_unknown(void**)
{
    expect_place("fe80::1%eth0", Place::Local, "fe80::1%eth0");
    expect_place("FE80::1%3", Place::Local, "fe80::1%3");
    expect_place("fe80::1%br-lan.5", Place::Local, "fe80::1%br-lan.5");

    expect_unknown("2001:db8::1%eth0");
    expect_unknown("fd00::1%eth0");
    expect_unknown("10.1.2.3%eth0");
    expect_unknown("fe80::1%");
    expect_unknown("fe80::1%eth0%eth1");
    expect_unknown("fe80::1%eth 0");
    expect_unknown("fe80::1%a-name-far-too-long");
}

void names_and_anything_that_is_not_exactly_an_address_are_unknown_and_never_resolved(void**)
{
    expect_unknown("");
    expect_unknown("UNKNOWN");
    expect_unknown("localhost");
    expect_unknown("client.example");
    expect_unknown("1.2.3.4\n");
    expect_unknown("1.2.3.4 ");
    expect_unknown(" 1.2.3.4");
    expect_unknown("1.2.3");
    expect_unknown("1.2.3.4.5");
    expect_unknown("01.2.3.4");
    expect_unknown("1.2.3.256");
    expect_unknown("0x7f.0.0.1");
    expect_unknown("[::1]");
    expect_unknown("::1/128");
    expect_unknown("1.2.3.4:22");
    expect_unknown(std::string_view("1.2.3.4\0junk", 12));
    expect_unknown(std::string(300, '1'));
}

// ---- CountryDatabase ----

void without_a_configured_database_public_addresses_are_not_listed_and_nothing_is_logged(void**)
{
    StderrCapture log;
    CountryDatabase database("");
    assert_false(database.usable());
    expect_not_listed(database, "198.51.100.7", 0);
    expect_not_listed(database, "2001:db8:1::5", kRecheck * 10);
    assert_int_equal(static_cast<int>(database.locate("10.1.2.3", 0).place),
                     static_cast<int>(Place::Local));
    assert_int_equal(static_cast<int>(database.locate("client.example", 0).place),
                     static_cast<int>(Place::Unknown));
    assert_string_equal(log.text().c_str(), "");
}

void both_record_schemas_give_the_country_in_upper_case(void**)
{
    TempDir dir;
    MmdbFile file;
    file.add(ipv4(198, 51, 100, 0), 25, iso_code_record("FR"));
    file.add(ipv4(198, 51, 100, 128), 25, country_code_record("de"));
    file.add(ipv4(203, 0, 113, 0), 24, country_code_record("JP"));
    file.write(dir.file("db.mmdb"));

    CountryDatabase database(dir.file("db.mmdb"));
    assert_true(database.usable());
    expect_country(database, "198.51.100.7", 0, "FR");
    expect_country(database, "::ffff:198.51.100.7", 0, "FR");
    expect_country(database, "198.51.100.200", 0, "DE");
    expect_country(database, "203.0.113.9", 0, "JP");
    expect_not_listed(database, "192.0.2.1", 0);

    const Location location = database.locate("::ffff:198.51.100.7", 0);
    assert_string_equal(location.address.c_str(), "198.51.100.7");
}

void local_and_unknown_sources_are_never_looked_up_even_when_the_database_lists_them(void**)
{
    TempDir dir;
    MmdbFile file;
    file.add(ipv4(10, 0, 0, 0), 8, iso_code_record("FR"));
    file.add(ipv4(127, 0, 0, 0), 8, iso_code_record("FR"));
    file.write(dir.file("db.mmdb"));

    CountryDatabase database(dir.file("db.mmdb"));
    for (const char* host : {"10.1.2.3", "127.0.0.1", "::ffff:10.1.2.3"}) {
        const Location location = database.locate(host, 0);
        assert_int_equal(static_cast<int>(location.place), static_cast<int>(Place::Local));
        assert_string_equal(location.country.c_str(), "");
    }
    const Location name = database.locate("UNKNOWN", 0);
    assert_int_equal(static_cast<int>(name.place), static_cast<int>(Place::Unknown));
}

void a_value_that_is_not_two_ascii_letters_is_not_listed_and_logged_once(void**)
{
    TempDir dir;
    MmdbFile file;
    file.add(ipv4(198, 51, 100, 0), 28, iso_code_record("FRA"));
    file.add(ipv4(198, 51, 100, 16), 28, country_code_record("F"));
    file.add(ipv4(198, 51, 100, 32), 28, country_code_record("F1"));
    file.add(ipv4(198, 51, 100, 48), 28, country_code_record("\xc3\x89"));  // É: two bytes
    file.add(ipv4(198, 51, 100, 64), 28, map({{"country_code", unsigned_field(6, 33)}}));
    file.add(ipv4(198, 51, 100, 80), 28, map({{"country", utf8("FR")}}));
    file.add(ipv4(198, 51, 100, 96), 28, map({{"country", map({{"iso_code", map({})}})}}));
    file.add(ipv4(198, 51, 100, 112), 28, field(4, 2, "FR"));  // bytes, not a map
    file.add(ipv4(198, 51, 100, 128), 28, country_code_record("ZZ"));
    file.add(ipv4(198, 51, 100, 144), 28, iso_code_record("XX"));
    file.add(ipv4(198, 51, 100, 160), 28, map({}));
    file.add(ipv4(198, 51, 100, 176), 28, country_code_record("NL"));
    file.write(dir.file("db.mmdb"));

    StderrCapture log;
    CountryDatabase database(dir.file("db.mmdb"));
    for (int last = 1; last < 176; last += 16)
        expect_not_listed(database, "198.51.100." + std::to_string(last), 0);
    expect_country(database, "198.51.100.177", 0, "NL");
    assert_int_equal(log.count("warning:"), 1);
    assert_int_equal(log.count("not two letters"), 1);
}

void a_missing_empty_or_random_file_gives_not_listed_and_is_logged_once(void**)
{
    TempDir dir;
    MmdbFile::write_file(dir.file("empty.mmdb"), "");
    std::mt19937 random(5);
    std::string noise(64 * 1024, '\0');
    for (char& c : noise)
        c = static_cast<char>(random() & 0xff);
    MmdbFile::write_file(dir.file("noise.mmdb"), noise);
    // Random bytes in front of valid metadata: the tree and the data are garbage.
    const std::string good = france_and_germany().bytes();
    MmdbFile::write_file(dir.file("noise-with-metadata.mmdb"),
                         noise + good.substr(good.find(kMetadataMarker)));

    for (const char* name :
         {"missing.mmdb", "empty.mmdb", "noise.mmdb", "noise-with-metadata.mmdb"}) {
        StderrCapture log;
        CountryDatabase database(dir.file(name));
        std::int64_t now = 0;
        for (int i = 0; i < 20; ++i, now += kRecheck) {
            const Location location = database.locate("198.51.100." + std::to_string(i), now);
            assert_int_equal(static_cast<int>(location.place), static_cast<int>(Place::NotListed));
        }
        if (log.count("warning:") != 1)
            fail_msg("%s: expected one warning, got: %s", name, log.text().c_str());
    }
}

void a_directory_or_a_fifo_is_refused_without_blocking(void**)
{
    TempDir dir;
    assert_int_equal(mkfifo(dir.file("fifo").c_str(), 0600), 0);
    for (const char* name : {"fifo", "."}) {
        StderrCapture log;
        CountryDatabase database(dir.file(name));
        assert_false(database.usable());
        expect_not_listed(database, "198.51.100.7", 0);
        assert_int_equal(log.count("not a regular file"), 1);
    }
}

void a_database_replaced_by_rename_is_used_from_the_first_check_after_the_interval(void**)
{
    TempDir dir;
    const std::string path = dir.file("country.mmdb");
    france_and_germany().write(path);
    CountryDatabase database(path);
    const std::int64_t start = 7'000'000;
    expect_country(database, "198.51.100.7", start, "FR");

    MmdbFile replacement;
    replacement.add(ipv4(198, 51, 100, 0), 24, country_code_record("BE"));
    replacement.write(path);

    expect_country(database, "198.51.100.7", start + kRecheck - 1, "FR");
    expect_country(database, "198.51.100.7", start + kRecheck, "BE");
    expect_country(database, "198.51.100.200", start + kRecheck, "BE");
}

void a_replacement_that_cannot_be_opened_leaves_the_old_database_in_use_and_is_logged_once(void**)
{
    TempDir dir;
    const std::string path = dir.file("country.mmdb");
    france_and_germany().write(path);
    StderrCapture log;
    CountryDatabase database(path);
    std::int64_t now = 0;

    MmdbFile::write_file(path, "not a database");
    for (int i = 0; i < 5; ++i, now += kRecheck)
        expect_country(database, "198.51.100.7", now, "FR");
    // Broken again, differently: still the same unfixed problem.
    MmdbFile::write_file(path, "");
    for (int i = 0; i < 5; ++i, now += kRecheck)
        expect_country(database, "198.51.100.7", now, "FR");
    assert_true(database.usable());
    assert_int_equal(log.count("warning:"), 1);
    assert_int_equal(log.count("keeping the one loaded before"), 1);
}

void a_problem_is_logged_again_only_after_a_usable_database_was_loaded_in_between(void**)
{
    TempDir dir;
    const std::string path = dir.file("country.mmdb");
    StderrCapture log;
    CountryDatabase database(path);  // not there yet
    std::int64_t now = 0;
    expect_not_listed(database, "198.51.100.7", now);
    assert_false(database.usable());

    france_and_germany().write(path);
    now += kRecheck;
    expect_country(database, "198.51.100.7", now, "FR");
    assert_true(database.usable());

    assert_int_equal(unlink(path.c_str()), 0);
    now += kRecheck;
    expect_country(database, "198.51.100.7", now, "FR");
    now += kRecheck;
    expect_country(database, "198.51.100.7", now, "FR");

    assert_int_equal(log.count("warning:"), 2);
    assert_int_equal(log.count("logins go on without countries"), 1);
    assert_int_equal(log.count("keeping the one loaded before"), 1);
}

void hostile_databases_give_not_listed_and_never_crash(void**)
{
    TempDir dir;
    const std::string path = dir.file("hostile.mmdb");

    MmdbFile dangling;
    dangling.add(ipv4(198, 51, 100, 0), 24, iso_code_record("FR"));
    dangling.add_dangling(ipv4(203, 0, 113, 0), 24, 1'000'000);
    dangling.add(ipv4(192, 0, 2, 0), 24, field(7, 20));  // a map of 20 entries, none there
    dangling.add(ipv4(192, 0, 3, 0), 24, field(1, 0, std::string(1, '\x10')));  // pointer
    dangling.write(path);
    {
        CountryDatabase database(path);
        expect_country(database, "198.51.100.7", 0, "FR");
        expect_not_listed(database, "203.0.113.9", 0);
        expect_not_listed(database, "192.0.2.1", 0);
        expect_not_listed(database, "192.0.3.1", 0);
    }

    // Well-formed metadata in front of which tree and data are flipped at random, a few bytes
    // at a time: each file must open or be refused, and every lookup must come back.
    const std::string good = france_and_germany().bytes();
    const std::size_t metadata_at = good.find(kMetadataMarker);
    std::mt19937 random(1789);
    for (int round = 0; round < 300; ++round) {
        std::string bytes = good;
        for (int flip = 0; flip < 4; ++flip)
            bytes[random() % metadata_at] = static_cast<char>(random() & 0xff);
        MmdbFile::write_file(path, bytes);
        StderrCapture log;
        CountryDatabase database(path);
        for (int last = 0; last < 256; last += 51) {
            const Location location = database.locate("198.51.100." + std::to_string(last), 0);
            assert_true(location.place == Place::Country || location.place == Place::NotListed);
            if (location.place == Place::Country)
                assert_int_equal(location.country.size(), 2);
        }
    }
}

}  // namespace

int main()
{
    // Log lines go to stderr, where the tests read them.
    unsetenv("JOURNAL_STREAM");
    fotoauthd::log::init(false);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(private_ipv4_ranges_are_local_up_to_their_last_address_and_not_one_beyond),
        cmocka_unit_test(loopback_link_local_cgnat_and_unspecified_ipv4_are_local),
        cmocka_unit_test(ipv6_loopback_unique_local_link_local_and_unspecified_are_local),
        cmocka_unit_test(ipv6_addresses_are_shown_in_their_short_lower_case_form),
        cmocka_unit_test(an_ipv4_mapped_ipv6_address_is_judged_and_shown_as_its_ipv4_address),
        cmocka_unit_test(
            a_link_local_address_with_a_plain_zone_is_local_and_other_zones_are_unknown),
        cmocka_unit_test(
            names_and_anything_that_is_not_exactly_an_address_are_unknown_and_never_resolved),
        cmocka_unit_test(
            without_a_configured_database_public_addresses_are_not_listed_and_nothing_is_logged),
        cmocka_unit_test(both_record_schemas_give_the_country_in_upper_case),
        cmocka_unit_test(
            local_and_unknown_sources_are_never_looked_up_even_when_the_database_lists_them),
        cmocka_unit_test(a_value_that_is_not_two_ascii_letters_is_not_listed_and_logged_once),
        cmocka_unit_test(a_missing_empty_or_random_file_gives_not_listed_and_is_logged_once),
        cmocka_unit_test(a_directory_or_a_fifo_is_refused_without_blocking),
        cmocka_unit_test(
            a_database_replaced_by_rename_is_used_from_the_first_check_after_the_interval),
        cmocka_unit_test(
            a_replacement_that_cannot_be_opened_leaves_the_old_database_in_use_and_is_logged_once),
        cmocka_unit_test(
            a_problem_is_logged_again_only_after_a_usable_database_was_loaded_in_between),
        cmocka_unit_test(hostile_databases_give_not_listed_and_never_crash),
    };
    return cmocka_run_group_tests_name("geoip", tests, nullptr, nullptr);
}
