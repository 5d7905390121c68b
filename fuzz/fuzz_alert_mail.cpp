// The alert mail (fotoauthd/alert_mail.hpp): build_alert, is_plain_address, is_local_recipient
// and recipient_for on arbitrary facts. The user name, the reverse-resolved host, the source
// address and a user's own alert address may all come from someone hostile.
//
// Input layout (FuzzedDataProvider, in the order it consumes them): the kind, MFA on or off, the
// sign-in time, whether To is picked by recipient_for, then the strings user, host name,
// country, address, site URL, From, To (or the user's own address), the address pattern.
//
// It checks the builder's promises: recipient_for only ever picks an address that the rules
// accept; build_alert refuses exactly the envelopes the rules refuse; and a built message ends
// every line with CRLF, has exactly its nine headers in ASCII with no line over 998 bytes, and
// is valid UTF-8 without control characters, so nothing in the facts can add a header line or
// a recipient.
#include "check.hpp"

#include "alert_mail.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mail = fotoauthd::mail;

namespace {

constexpr std::size_t kLongestLine = 998;  // RFC 5322, without the CRLF

const std::map<std::string_view, int> kHeaderNames = {
    {"From", 0},           {"To", 0},
    {"Subject", 0},        {"Date", 0},
    {"Message-ID", 0},     {"MIME-Version", 0},
    {"Content-Type", 0},   {"Content-Transfer-Encoding", 0},
    {"Auto-Submitted", 0},
};

bool deliverable(std::string_view to)
{
    return mail::is_plain_address(to) || mail::is_local_recipient(to);
}

// A strict UTF-8 check (no overlong forms, no surrogates, nothing above U+10FFFF), written apart
// from the builder's own so that one mistake cannot hide in both.
bool is_valid_utf8(std::string_view text)
{
    std::size_t i = 0;
    while (i < text.size()) {
        const auto lead = static_cast<unsigned char>(text[i]);
        std::size_t length = 0;
        unsigned low = 0x80, high = 0xBF;  // the allowed range of the second byte
        if (lead < 0x80)
            length = 1;
        else if (lead >= 0xC2 && lead <= 0xDF)
            length = 2;
        else if (lead == 0xE0)
            length = 3, low = 0xA0;
        else if (lead == 0xED)
            length = 3, high = 0x9F;
        else if (lead >= 0xE1 && lead <= 0xEF)
            length = 3;
        else if (lead == 0xF0)
            length = 4, low = 0x90;
        else if (lead == 0xF4)
            length = 4, high = 0x8F;
        else if (lead >= 0xF1 && lead <= 0xF3)
            length = 4;
        else
            return false;
        if (i + length > text.size())
            return false;
        for (std::size_t k = 1; k < length; ++k) {
            const auto byte = static_cast<unsigned char>(text[i + k]);
            const bool in_range = k == 1 ? byte >= low && byte <= high : (byte & 0xC0) == 0x80;
            if (!in_range)
                return false;
        }
        i += length;
    }
    return true;
}

// Lines split at CRLF; false when a CR or LF stands anywhere else.
bool split_crlf(std::string_view text, std::vector<std::string_view>& lines)
{
    while (!text.empty()) {
        const std::size_t end = text.find("\r\n");
        if (end == std::string_view::npos)
            return false;
        const std::string_view line = text.substr(0, end);
        if (line.find_first_of("\r\n") != std::string_view::npos)
            return false;
        lines.push_back(line);
        text.remove_prefix(end + 2);
    }
    return true;
}

bool has_control(std::string_view line)
{
    for (char c : line) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7F)
            return true;
    }
    return false;
}

void check_headers(const std::vector<std::string_view>& lines, std::size_t& body_start)
{
    std::map<std::string_view, int> seen = kHeaderNames;
    std::size_t i = 0;
    for (; i < lines.size() && !lines[i].empty(); ++i) {
        const std::string_view line = lines[i];
        for (char c : line)
            fuzz::require(static_cast<unsigned char>(c) < 0x80, "headers are ASCII");
        if (line.front() == ' ')
            continue;  // a folded Subject
        const std::size_t colon = line.find(": ");
        fuzz::require(colon != std::string_view::npos, "a header line is NAME: VALUE");
        const auto known = seen.find(line.substr(0, colon));
        fuzz::require(known != seen.end(), "only the builder's own headers");
        ++known->second;
    }
    for (const auto& [name, count] : seen)
        fuzz::require(count == 1, "each header exactly once");
    fuzz::require(i < lines.size(), "an empty line ends the headers");
    body_start = i + 1;
}

void check_message(const std::string& message)
{
    std::vector<std::string_view> lines;
    fuzz::require(split_crlf(message, lines), "every line ends with CRLF, no bare CR or LF");
    fuzz::require(is_valid_utf8(message), "the message is valid UTF-8");
    for (const auto line : lines) {
        fuzz::require(line.size() <= kLongestLine, "no line longer than 998 bytes");
        fuzz::require(!has_control(line), "no control characters");
    }
    std::size_t body_start = 0;
    check_headers(lines, body_start);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    FuzzedDataProvider input(data, size);
    mail::AlertFacts facts;
    facts.kind = input.ConsumeBool() ? mail::AlertFacts::Kind::UnusualLogin
                                     : mail::AlertFacts::Kind::WrongCodeFromUnusualCountry;
    facts.mfa_enabled = input.ConsumeBool();
    facts.at = input.ConsumeIntegral<std::int64_t>();
    const bool to_from_rules = input.ConsumeBool();
    facts.user = input.ConsumeRandomLengthString(300);
    facts.host_name = input.ConsumeRandomLengthString(300);
    facts.country = input.ConsumeRandomLengthString(40);
    facts.address = input.ConsumeRandomLengthString(100);
    facts.site_url = input.ConsumeRandomLengthString(600);
    facts.from = input.ConsumeRandomLengthString(300);
    const std::string own_address = input.ConsumeRandomLengthString(300);
    const std::string pattern = input.ConsumeRemainingBytesAsString();

    const auto picked = mail::recipient_for(facts.user, own_address, pattern);
    fuzz::require(!picked || deliverable(*picked), "recipient_for picks only deliverable names");
    fuzz::require(own_address.empty() || !picked || *picked == own_address,
                  "a user's own address is used as it is or not at all");
    if (to_from_rules && !picked)
        return 0;
    facts.to = to_from_rules ? *picked : own_address;

    const bool envelope_ok = mail::is_plain_address(facts.from) && deliverable(facts.to);
    std::string message;
    try {
        message = mail::build_alert(facts);
    } catch (const std::invalid_argument&) {
        fuzz::require(!envelope_ok, "build_alert refuses only a bad envelope");
        return 0;
    } catch (const std::runtime_error&) {
        // A sign-in time that no calendar can show (years beyond 2^31): the daemon passes now.
        return 0;
    }
    fuzz::require(envelope_ok, "build_alert refuses a bad envelope");
    check_message(message);
    return 0;
}
