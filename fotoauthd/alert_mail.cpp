#include "alert_mail.hpp"

#include "random.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <stdexcept>
#include <utility>

namespace fotoauthd::mail {

namespace {

// Caps on what the facts contribute, in bytes: long enough for any honest value, short enough
// that no header line nears the 998-byte limit of RFC 5322.
constexpr std::size_t kUserLimit = 64;
constexpr std::size_t kHostLimit = 253;
constexpr std::size_t kCountryLimit = 16;
constexpr std::size_t kAddressLimit = 64;
constexpr std::size_t kUrlLimit = 512;
constexpr std::size_t kBodyWidth = 72;

// The raw bytes one RFC 2047 encoded-word carries: 36 bytes are 48 base64 characters, 60 with
// "=?UTF-8?B??=", so that even the first line, after "Subject: ", keeps within the 76 columns
// RFC 2047 allows a line with encoded-words.
constexpr std::size_t kEncodedWordBytes = 36;

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

// The length of the UTF-8 sequence starting at text[i] and its code point, or 0 when the bytes
// there are not valid UTF-8 (overlong forms and surrogates included).
std::size_t utf8_sequence(std::string_view text, std::size_t i, char32_t& code_point)
{
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
    const unsigned char lead = byte(0);
    std::size_t length = 0;
    char32_t minimum = 0;
    if (lead < 0x80) {
        code_point = lead;
        return 1;
    }
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2, minimum = 0x80, code_point = lead & 0x1F;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3, minimum = 0x800, code_point = lead & 0x0F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4, minimum = 0x10000, code_point = lead & 0x07;
    } else {
        return 0;
    }
    if (i + length > text.size())
        return 0;
    for (std::size_t k = 1; k < length; ++k) {
        if ((byte(k) & 0xC0) != 0x80)
            return 0;
        code_point = (code_point << 6) | (byte(k) & 0x3F);
    }
    if (code_point < minimum || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF))
        return 0;
    return length;
}

// C0 and C1 controls, DEL, and the Unicode line and paragraph separators: whatever could end a
// line or steer a terminal.
bool is_control(char32_t code_point)
{
    return code_point < 0x20 || (code_point >= 0x7F && code_point <= 0x9F) ||
           code_point == 0x2028 || code_point == 0x2029;
}

// `text` as one line of valid UTF-8 of at most `limit` bytes (plus "..." when cut): control
// characters are dropped, invalid bytes become U+FFFD, and a cut never splits a character.
std::string one_line(std::string_view text, std::size_t limit)
{
    std::string out;
    for (std::size_t i = 0; i < text.size();) {
        char32_t code_point = 0;
        const std::size_t length = utf8_sequence(text, i, code_point);
        const std::string_view piece = length ? text.substr(i, length) : kReplacement;
        i += length ? length : 1;
        if (length && is_control(code_point))
            continue;
        if (out.size() + piece.size() > limit)
            return out + "...";
        out += piece;
    }
    return out;
}

bool is_ascii(std::string_view text)
{
    return std::all_of(text.begin(), text.end(),
                       [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

std::string base64(std::string_view bytes)
{
    static constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
        std::uint32_t group = 0;
        for (std::size_t k = 0; k < 3; ++k)
            group = (group << 8) | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0);
        for (std::size_t k = 0; k < 4; ++k)
            out += k <= n ? kAlphabet[(group >> (18 - 6 * k)) & 0x3F] : '=';
    }
    return out;
}

// A header value of cleaned UTF-8 text: as it is when it is ASCII, else as RFC 2047
// encoded-words on folded lines. ASCII that looks like an encoded-word is encoded too, so that
// a user name cannot make a mail reader display text we did not write.
std::string header_text(const std::string& clean)
{
    if (is_ascii(clean) && clean.find("=?") == std::string::npos)
        return clean;

    std::string out;
    for (std::size_t i = 0; i < clean.size();) {
        std::size_t end = i;
        char32_t ignored = 0;
        while (end < clean.size()) {
            const std::size_t length = utf8_sequence(clean, end, ignored);
            if (end + length - i > kEncodedWordBytes)
                break;
            end += length;
        }
        if (!out.empty())
            out += "\r\n ";
        out += "=?UTF-8?B?" + base64(std::string_view(clean).substr(i, end - i)) + "?=";
        i = end;
    }
    return out;
}

std::string two_digits(int value)
{
    return {static_cast<char>('0' + value / 10 % 10), static_cast<char>('0' + value % 10)};
}

// "+0100" for one hour east of UTC.
std::string utc_offset(long seconds)
{
    const char sign = seconds < 0 ? '-' : '+';
    const long minutes = (seconds < 0 ? -seconds : seconds) / 60;
    return sign + two_digits(static_cast<int>(minutes / 60 % 100)) +
           two_digits(static_cast<int>(minutes % 60));
}

std::tm local_time(std::int64_t at)
{
    const std::time_t t = static_cast<std::time_t>(at);
    std::tm tm{};
    if (!localtime_r(&t, &tm))
        throw std::runtime_error("the time cannot be converted to local time");
    return tm;
}

std::tm utc_time(std::int64_t at)
{
    const std::time_t t = static_cast<std::time_t>(at);
    std::tm tm{};
    if (!gmtime_r(&t, &tm))
        throw std::runtime_error("the time cannot be converted to UTC");
    return tm;
}

std::string iso_date_time(const std::tm& tm)
{
    std::array<char, 32> text{};
    const std::size_t n = std::strftime(text.data(), text.size(), "%Y-%m-%d %H:%M:%S", &tm);
    return std::string(text.data(), n);
}

// The RFC 5322 date in the local zone, with English names whatever the locale.
std::string rfc5322_date(std::int64_t at)
{
    static constexpr std::array<std::string_view, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                              "Thu", "Fri", "Sat"};
    static constexpr std::array<std::string_view, 12> kMonths = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const std::tm tm = local_time(at);
    return std::string(kDays[tm.tm_wday]) + ", " + two_digits(tm.tm_mday) + " " +
           std::string(kMonths[tm.tm_mon]) + " " + std::to_string(tm.tm_year + 1900) + " " +
           two_digits(tm.tm_hour) + ":" + two_digits(tm.tm_min) + ":" + two_digits(tm.tm_sec) +
           " " + utc_offset(tm.tm_gmtoff);
}

// "2026-12-04 19:05:03 CET (UTC+0100)": the zone abbreviation alone is ambiguous, the offset
// alone unfamiliar.
std::string local_time_text(std::int64_t at)
{
    const std::tm tm = local_time(at);
    const std::string zone = one_line(tm.tm_zone ? tm.tm_zone : "", 16);
    return iso_date_time(tm) + " " + (zone.empty() ? "" : zone + " ") + "(UTC" +
           utc_offset(tm.tm_gmtoff) + ")";
}

std::string utc_time_text(std::int64_t at)
{
    return iso_date_time(utc_time(at)) + " UTC";
}

bool is_domain(std::string_view text)
{
    if (text.empty() || text.size() > 253)
        return false;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t dot = std::min(text.find('.', start), text.size());
        const std::string_view label = text.substr(start, dot - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
            return false;
        for (char c : label)
            if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-'))
                return false;
        start = dot + 1;
    }
    return true;
}

bool is_atom_char(char c)
{
    static constexpr std::string_view kSpecials = "!#$%&'*+-/=?^_`{|}~";
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x80 && (std::isalnum(byte) || kSpecials.find(c) != std::string_view::npos);
}

bool is_dot_atom(std::string_view text)
{
    if (text.empty() || text.front() == '.' || text.back() == '.' ||
        text.find("..") != std::string_view::npos)
        return false;
    return std::all_of(text.begin(), text.end(),
                       [](char c) { return c == '.' || is_atom_char(c); });
}

std::string message_id(const AlertFacts& facts)
{
    const std::size_t at = facts.from.rfind('@');
    std::string domain = at == std::string::npos ? "" : facts.from.substr(at + 1);
    if (!is_domain(domain))
        domain = is_domain(facts.host_name) ? facts.host_name : "localhost";
    return "<" + random_hex(16) + ".fotoauthd@" + domain + ">";
}

// Words of `text` filled into lines of at most kBodyWidth columns; a longer word (a URL) keeps
// a line of its own.
std::string paragraph(std::string_view text)
{
    std::string out;
    std::size_t line_length = 0;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find(' ', start);
        if (end == std::string_view::npos)
            end = text.size();
        const std::string_view word = text.substr(start, end - start);
        start = end + 1;
        if (word.empty())
            continue;
        if (line_length > 0 && line_length + 1 + word.size() > kBodyWidth) {
            out += "\r\n";
            line_length = 0;
        } else if (line_length > 0) {
            out += ' ';
            ++line_length;
        }
        out += word;
        line_length += word.size();
    }
    return out + "\r\n\r\n";
}

std::string country_text(const std::string& code)
{
    if (code.empty())
        return "unknown";
    const std::string_view name = country_name(code);
    return name.empty() ? code : std::string(name) + " (" + code + ")";
}

// The values as they go into the message: each one line, valid UTF-8, capped.
struct CleanFacts {
    std::string user, host, country, address, url;
};

CleanFacts clean(const AlertFacts& facts)
{
    return {one_line(facts.user, kUserLimit), one_line(facts.host_name, kHostLimit),
            one_line(facts.country, kCountryLimit), one_line(facts.address, kAddressLimit),
            one_line(facts.site_url, kUrlLimit)};
}

std::string subject(const AlertFacts& facts, const CleanFacts& clean)
{
    const std::string where =
        clean.user + "@" + clean.host + " from " + country_text(clean.country);
    if (facts.kind == AlertFacts::Kind::WrongCodeFromUnusualCountry)
        return "Security alert: password of " + where + " used with a wrong code";
    return "Security alert: new sign-in to " + where;
}

std::string what_happened(const AlertFacts& facts, const CleanFacts& clean)
{
    if (facts.kind == AlertFacts::Kind::WrongCodeFromUnusualCountry)
        return paragraph("The right password of your account " + clean.user + " on " + clean.host +
                         " was just entered from a country the account is not usually used "
                         "from, followed by a wrong verification code. That sign-in was refused.");
    return paragraph("Someone just signed in to your account " + clean.user + " on " + clean.host +
                     " from a country the account is not usually used from.");
}

std::string details(std::int64_t at, const CleanFacts& clean)
{
    const std::string address = clean.address.empty() ? "unknown" : clean.address;
    std::string text;
    text += "    Country:  " + country_text(clean.country) + "\r\n";
    text += "    Address:  " + address + "\r\n";
    text += "    Time:     " + local_time_text(at) + "\r\n";
    text += "              " + utc_time_text(at) + "\r\n";
    text += "    Server:   " + clean.host + "\r\n\r\n";
    return text;
}

std::string what_to_do(const CleanFacts& clean)
{
    const std::string change =
        "If it was not you, someone else knows your password (or holds one of your SSH keys: "
        "remove any key you do not know from ~/.ssh/authorized_keys). Change the password at "
        "once: sign in to " +
        clean.host + " and run the command";
    std::string text = paragraph("If this was you, on a journey for instance, there is nothing "
                                 "to do.");
    text += paragraph(change);
    text += "    passwd\r\n\r\n";
    if (!clean.url.empty())
        text += "You can also change your password here:\r\n    " + clean.url + "\r\n\r\n";
    return text;
}

std::string about_codes(const AlertFacts& facts)
{
    if (!facts.mfa_enabled)
        return paragraph("Your account is protected by its password or SSH key alone. To have a "
                         "verification code from an authenticator app asked for at every "
                         "sign-in, sign in and run the command") +
               "    fotoauthctl mfa enable\r\n\r\n";
    if (facts.kind == AlertFacts::Kind::WrongCodeFromUnusualCountry)
        return paragraph("The verification code from your authenticator app was asked for "
                         "because of the unusual country, and kept the sign-in out.");
    return paragraph("Because of the unusual country the verification code from your "
                     "authenticator app was asked for, even if the device was trusted before; "
                     "such a device has lost its trust and will be asked for the code again.");
}

void check_envelope(const AlertFacts& facts)
{
    if (!is_plain_address(facts.from))
        throw std::invalid_argument("the alert's sender is not a plain address");
    if (!is_plain_address(facts.to) && !is_local_recipient(facts.to))
        throw std::invalid_argument("the alert's recipient is not a plain address or user name");
}

}  // namespace

std::string build_alert(const AlertFacts& facts)
{
    check_envelope(facts);
    const CleanFacts values = clean(facts);

    std::string message;
    message += "From: " + facts.from + "\r\n";
    message += "To: " + facts.to + "\r\n";
    message += "Subject: " + header_text(subject(facts, values)) + "\r\n";
    message += "Date: " + rfc5322_date(std::time(nullptr)) + "\r\n";
    message += "Message-ID: " + message_id(facts) + "\r\n";
    message += "MIME-Version: 1.0\r\n";
    message += "Content-Type: text/plain; charset=utf-8\r\n";
    message += "Content-Transfer-Encoding: 8bit\r\n";
    message += "Auto-Submitted: auto-generated\r\n";
    message += "\r\n";

    message += "Hello " + values.user + ",\r\n\r\n";
    message += what_happened(facts, values);
    message += details(facts.at, values);
    message += what_to_do(values);
    message += about_codes(facts);
    message += "-- \r\nSent automatically by fotoauthd on " + values.host + ".\r\n";
    return message;
}

bool is_plain_address(std::string_view text)
{
    if (text.size() > 254)
        return false;
    const std::size_t at = text.find('@');
    if (at == std::string_view::npos || text.find('@', at + 1) != std::string_view::npos)
        return false;
    const std::string_view local = text.substr(0, at);
    return is_dot_atom(local) && local.size() <= 64 && local.front() != '-' &&
           is_domain(text.substr(at + 1));
}

bool is_local_recipient(std::string_view text)
{
    if (text.empty() || text.size() > 64 || text.front() == '-')
        return false;
    return std::all_of(text.begin(), text.end(), [](char c) {
        const auto byte = static_cast<unsigned char>(c);
        return byte < 0x80 && (std::isalnum(byte) || c == '.' || c == '_' || c == '-');
    });
}

namespace {

// The pattern with %u and %% replaced; nothing for any other '%' sequence.
std::optional<std::string> expand(std::string_view pattern, std::string_view user)
{
    std::string out;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] != '%') {
            out += pattern[i];
            continue;
        }
        if (i + 1 == pattern.size())
            return std::nullopt;
        const char what = pattern[++i];
        if (what == 'u')
            out += user;
        else if (what == '%')
            out += '%';
        else
            return std::nullopt;
    }
    return out;
}

std::optional<std::string> if_deliverable(std::optional<std::string> candidate)
{
    if (candidate && (is_plain_address(*candidate) || is_local_recipient(*candidate)))
        return candidate;
    return std::nullopt;
}

}  // namespace

std::optional<std::string> recipient_for(std::string_view user, std::string_view own_address,
                                         std::string_view pattern)
{
    if (!own_address.empty())
        return is_plain_address(own_address) ? std::optional<std::string>(own_address)
                                             : std::nullopt;
    if (!pattern.empty())
        return if_deliverable(expand(pattern, user));
    return if_deliverable(std::string(user));
}

std::string_view country_name(std::string_view code)
{
    static constexpr std::pair<std::string_view, std::string_view> kNames[] = {
        {"AR", "Argentina"},      {"AT", "Austria"},     {"AU", "Australia"},
        {"BE", "Belgium"},        {"BG", "Bulgaria"},    {"BR", "Brazil"},
        {"BY", "Belarus"},        {"CA", "Canada"},      {"CH", "Switzerland"},
        {"CN", "China"},          {"CZ", "Czechia"},     {"DE", "Germany"},
        {"DK", "Denmark"},        {"EE", "Estonia"},     {"EG", "Egypt"},
        {"ES", "Spain"},          {"FI", "Finland"},     {"FR", "France"},
        {"GB", "United Kingdom"}, {"GR", "Greece"},      {"HK", "Hong Kong"},
        {"HR", "Croatia"},        {"HU", "Hungary"},     {"ID", "Indonesia"},
        {"IE", "Ireland"},        {"IL", "Israel"},      {"IN", "India"},
        {"IR", "Iran"},           {"IS", "Iceland"},     {"IT", "Italy"},
        {"JP", "Japan"},          {"KP", "North Korea"}, {"KR", "South Korea"},
        {"LI", "Liechtenstein"},  {"LT", "Lithuania"},   {"LU", "Luxembourg"},
        {"LV", "Latvia"},         {"MX", "Mexico"},      {"NG", "Nigeria"},
        {"NL", "Netherlands"},    {"NO", "Norway"},      {"NZ", "New Zealand"},
        {"PL", "Poland"},         {"PT", "Portugal"},    {"RO", "Romania"},
        {"RS", "Serbia"},         {"RU", "Russia"},      {"SE", "Sweden"},
        {"SG", "Singapore"},      {"SI", "Slovenia"},    {"SK", "Slovakia"},
        {"TR", "Turkey"},         {"TW", "Taiwan"},      {"UA", "Ukraine"},
        {"US", "United States"},  {"VN", "Vietnam"},     {"ZA", "South Africa"},
    };
    for (const auto& [known, name] : kNames)
        if (known == code)
            return name;
    return {};
}

}  // namespace fotoauthd::mail
