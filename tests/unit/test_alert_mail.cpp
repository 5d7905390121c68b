// The alert e-mail: what it tells the user, that nothing in the facts can add a header or a
// recipient, and the address rules that decide where it may go.
#include "alert_mail.hpp"

#include <cstdlib>
#include <ctime>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

// cmocka last: its fail() macro would clash with the standard library headers.
#include "cmocka_main.hpp"

namespace mail = fotoauthd::mail;
using Kind = mail::AlertFacts::Kind;

namespace {

constexpr std::int64_t kWinterEvening = 1796407503;  // 2026-12-04 18:05:03 UTC
constexpr std::int64_t kSummerMorning = 1782900000;  // 2026-07-01 10:00:00 UTC

const std::vector<std::string> kExpectedHeaders = {
    "From",          "To",           "Subject",      "Date",
    "Message-ID",    "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
    "Auto-Submitted"};

mail::AlertFacts sample_facts()
{
    mail::AlertFacts facts;
    facts.kind = Kind::UnusualLogin;
    facts.user = "anna";
    facts.host_name = "studio.example";
    facts.country = "DE";
    facts.address = "203.0.113.7";
    facts.at = kWinterEvening;
    facts.from = "fotoauthd@studio.example";
    facts.to = "anna@studio.example";
    return facts;
}

struct Parsed {
    std::vector<std::pair<std::string, std::string>> headers;  // unfolded, in order
    std::string body;
};

// Splits the message as a mail reader would: header lines up to the first empty line, a line
// starting with a space or tab continuing the previous header.
Parsed parse(const std::string& message)
{
    Parsed parsed;
    const std::size_t end = message.find("\r\n\r\n");
    assert_true(end != std::string::npos);
    parsed.body = message.substr(end + 4);

    const std::string block = message.substr(0, end + 2);
    std::size_t start = 0;
    while (start < block.size()) {
        const std::size_t eol = block.find("\r\n", start);
        const std::string line = block.substr(start, eol - start);
        start = eol + 2;
        if (line.front() == ' ' || line.front() == '\t') {
            assert_false(parsed.headers.empty());
            parsed.headers.back().second += line;
            continue;
        }
        const std::size_t colon = line.find(':');
        assert_true(colon != std::string::npos);
        parsed.headers.emplace_back(line.substr(0, colon), line.substr(colon + 2));
    }
    return parsed;
}

std::vector<std::string> header_names(const Parsed& parsed)
{
    std::vector<std::string> names;
    for (const auto& [name, value] : parsed.headers)
        names.push_back(name);
    return names;
}

std::string header(const Parsed& parsed, const std::string& name)
{
    for (const auto& [key, value] : parsed.headers)
        if (key == name)
            return value;
    return {};
}

bool contains(const std::string& text, const std::string& part)
{
    return text.find(part) != std::string::npos;
}

// Every line ends in CRLF; a lone CR or LF would be a line break some program sees and
// another does not.
void assert_only_crlf_line_ends(const std::string& message)
{
    for (std::size_t i = 0; i < message.size(); ++i) {
        if (message[i] == '\r')
            assert_true(i + 1 < message.size() && message[i + 1] == '\n');
        if (message[i] == '\n')
            assert_true(i > 0 && message[i - 1] == '\r');
    }
}

void use_time_zone(const char* zone)
{
    setenv("TZ", zone, 1);
    tzset();
}

std::string base64_decode(const std::string& text)
{
    static const std::string kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    unsigned bits = 0;
    int count = 0;
    for (char c : text) {
        const std::size_t value = kAlphabet.find(c);
        if (value == std::string::npos)
            continue;
        bits = (bits << 6) | static_cast<unsigned>(value);
        count += 6;
        if (count >= 8) {
            count -= 8;
            out += static_cast<char>((bits >> count) & 0xFF);
        }
    }
    return out;
}

// The text of a header made of RFC 2047 "=?UTF-8?B?...?=" words.
std::string decode_encoded_words(const std::string& value)
{
    std::string out;
    std::size_t start = 0;
    while ((start = value.find("=?UTF-8?B?", start)) != std::string::npos) {
        start += 10;
        const std::size_t end = value.find("?=", start);
        assert_true(end != std::string::npos);
        out += base64_decode(value.substr(start, end - start));
        start = end + 2;
    }
    return out;
}

void the_body_tells_country_address_time_with_zone_server_and_passwd(void**)
{
    use_time_zone("Europe/Berlin");
    const Parsed message = parse(mail::build_alert(sample_facts()));

    assert_true(contains(message.body, "Germany (DE)"));
    assert_true(contains(message.body, "203.0.113.7"));
    assert_true(contains(message.body, "2026-12-04 19:05:03 CET (UTC+0100)"));
    assert_true(contains(message.body, "2026-12-04 18:05:03 UTC"));
    assert_true(contains(message.body, "studio.example"));
    assert_true(contains(message.body, "\r\n    passwd\r\n"));
    assert_true(contains(message.body, "Hello anna,"));
}

void the_time_is_shown_in_the_zone_in_force_on_that_day(void**)
{
    use_time_zone("Europe/Berlin");
    auto facts = sample_facts();
    facts.at = kSummerMorning;
    const Parsed summer = parse(mail::build_alert(facts));
    assert_true(contains(summer.body, "2026-07-01 12:00:00 CEST (UTC+0200)"));
    assert_true(contains(summer.body, "2026-07-01 10:00:00 UTC"));

    use_time_zone("America/New_York");
    const Parsed west = parse(mail::build_alert(facts));
    assert_true(contains(west.body, "2026-07-01 06:00:00 EDT (UTC-0400)"));
}

void the_header_block_has_exactly_the_expected_headers(void**)
{
    const std::string text = mail::build_alert(sample_facts());
    assert_only_crlf_line_ends(text);
    const Parsed message = parse(text);

    assert_true(header_names(message) == kExpectedHeaders);
    assert_string_equal(header(message, "From").c_str(), "fotoauthd@studio.example");
    assert_string_equal(header(message, "To").c_str(), "anna@studio.example");
    assert_string_equal(header(message, "Subject").c_str(),
                        "Security alert: new sign-in to anna@studio.example from Germany (DE)");
    assert_string_equal(header(message, "MIME-Version").c_str(), "1.0");
    assert_string_equal(header(message, "Content-Type").c_str(), "text/plain; charset=utf-8");
    assert_string_equal(header(message, "Content-Transfer-Encoding").c_str(), "8bit");
    assert_string_equal(header(message, "Auto-Submitted").c_str(), "auto-generated");
}

void the_date_header_is_rfc5322_and_now(void**)
{
    use_time_zone("Europe/Berlin");
    const Parsed message = parse(mail::build_alert(sample_facts()));
    const std::string date = header(message, "Date");

    std::tm parsed{};
    const char* end = strptime(date.c_str(), "%a, %d %b %Y %H:%M:%S %z", &parsed);
    assert_non_null(end);
    assert_int_equal(*end, '\0');
    const long offset = parsed.tm_gmtoff;  // timegm() resets it
    const std::int64_t when = timegm(&parsed) - offset;
    const std::int64_t now = std::time(nullptr);
    assert_true(when <= now && when >= now - 60);
}

void every_message_gets_its_own_message_id_on_the_senders_domain(void**)
{
    const Parsed first = parse(mail::build_alert(sample_facts()));
    const Parsed second = parse(mail::build_alert(sample_facts()));
    const std::string id = header(first, "Message-ID");

    assert_true(id.front() == '<' && id.back() == '>');
    assert_true(contains(id, "@studio.example>"));
    assert_string_not_equal(id.c_str(), header(second, "Message-ID").c_str());
}

void the_site_url_appears_only_when_configured(void**)
{
    auto facts = sample_facts();
    const Parsed without = parse(mail::build_alert(facts));
    assert_false(contains(without.body, "https://"));
    assert_false(contains(without.body, "change your password here"));

    facts.site_url = "https://portal.studio.example/password";
    const Parsed with = parse(mail::build_alert(facts));
    assert_true(contains(with.body, "change your password here:\r\n"
                                    "    https://portal.studio.example/password\r\n"));
}

void the_mfa_enable_hint_appears_only_when_mfa_is_off(void**)
{
    auto facts = sample_facts();
    facts.mfa_enabled = false;
    const Parsed off = parse(mail::build_alert(facts));
    assert_true(contains(off.body, "\r\n    fotoauthctl mfa enable\r\n"));
    assert_false(contains(off.body, "lost its trust"));

    facts.mfa_enabled = true;
    const Parsed on = parse(mail::build_alert(facts));
    assert_false(contains(on.body, "fotoauthctl mfa enable"));
    assert_true(contains(on.body, "verification code"));
    assert_true(contains(on.body, "lost its trust"));
}

void a_wrong_code_alert_says_the_password_was_used_with_a_wrong_code(void**)
{
    auto facts = sample_facts();
    facts.kind = Kind::WrongCodeFromUnusualCountry;
    facts.mfa_enabled = true;
    const Parsed message = parse(mail::build_alert(facts));

    assert_string_equal(
        header(message, "Subject").c_str(),
        "Security alert: password of anna@studio.example from Germany (DE) used with a wrong code");
    assert_true(contains(message.body, "wrong verification code"));
    assert_true(contains(message.body, "refused"));
    assert_true(contains(message.body, "\r\n    passwd\r\n"));
}

void an_unknown_country_code_is_shown_as_it_is(void**)
{
    auto facts = sample_facts();
    facts.country = "XK";
    const Parsed message = parse(mail::build_alert(facts));
    assert_true(contains(message.body, "Country:  XK\r\n"));
    assert_string_equal(mail::country_name("US").data(), "United States");
    assert_true(mail::country_name("ZZ").empty());
}

// Each field in turn carries line breaks and a Bcc header: the header block must still be
// exactly ours, and no line anywhere may start with the injected header.
void line_breaks_in_any_field_add_no_header(void**)
{
    const std::vector<std::string> attacks = {
        "x\r\nBcc: eve@evil.example",
        "x\nBcc: eve@evil.example",
        "x\rBcc: eve@evil.example",
        "x\r\n\r\nBcc: eve@evil.example",
        "x\u2028Bcc: eve@evil.example",  // the Unicode line separator
        "x\u0085Bcc: eve@evil.example",  // NEL, a C1 control
        std::string("x\0\nBcc: eve@evil.example", 25),
    };
    std::string mail::AlertFacts::*const fields[] = {
        &mail::AlertFacts::user, &mail::AlertFacts::host_name, &mail::AlertFacts::country,
        &mail::AlertFacts::address, &mail::AlertFacts::site_url};

    for (const auto field : fields) {
        for (const auto& attack : attacks) {
            auto facts = sample_facts();
            facts.*field = attack;
            const std::string text = mail::build_alert(facts);
            assert_only_crlf_line_ends(text);
            const Parsed message = parse(text);
            assert_true(header_names(message) == kExpectedHeaders);
            assert_false(contains("\r\n" + text, "\r\nBcc:"));
            assert_false(contains(text, std::string(1, '\0')));
        }
    }
}

bool is_refused(const mail::AlertFacts& facts)
{
    try {
        (void)mail::build_alert(facts);
    } catch (const std::invalid_argument&) {
        return true;
    }
    return false;
}

void a_sender_or_recipient_that_is_not_a_plain_address_is_refused(void**)
{
    auto facts = sample_facts();
    facts.to = "anna@studio.example\r\nBcc: eve@evil.example";
    assert_true(is_refused(facts));
    facts.to = "anna@studio.example, eve@evil.example";
    assert_true(is_refused(facts));

    facts = sample_facts();
    facts.from = "Fotoauthd <fotoauthd@studio.example>";
    assert_true(is_refused(facts));

    facts = sample_facts();
    facts.to = "anna";  // a local user name is a valid recipient
    assert_false(is_refused(facts));
}

void a_non_ascii_user_name_is_encoded_in_the_subject_and_kept_in_the_body(void**)
{
    auto facts = sample_facts();
    facts.user = "j\xC3\xBCrgen";  // jürgen
    const std::string text = mail::build_alert(facts);
    const Parsed message = parse(text);

    const std::string subject = header(message, "Subject");
    for (char c : subject)
        assert_true(static_cast<unsigned char>(c) < 0x80);
    assert_true(contains(decode_encoded_words(subject),
                         "new sign-in to j\xC3\xBCrgen@studio.example from Germany (DE)"));
    assert_true(contains(message.body, "Hello j\xC3\xBCrgen,"));
}

void text_that_looks_like_an_encoded_word_is_encoded_rather_than_trusted(void**)
{
    auto facts = sample_facts();
    facts.user = "=?UTF-8?B?QWxsIGlzIHdlbGw=?=";  // "All is well"
    const Parsed message = parse(mail::build_alert(facts));
    const std::string decoded = decode_encoded_words(header(message, "Subject"));
    assert_true(contains(decoded, "to =?UTF-8?B?QWxsIGlzIHdlbGw=?=@studio.example"));
}

void bytes_that_are_not_utf8_become_replacement_characters(void**)
{
    auto facts = sample_facts();
    facts.user = "bad\xFF\xC3";
    const Parsed message = parse(mail::build_alert(facts));
    assert_true(contains(message.body, "Hello bad\xEF\xBF\xBD\xEF\xBF\xBD,"));
}

void overlong_values_are_cut_and_no_line_nears_the_limit(void**)
{
    auto facts = sample_facts();
    facts.user = std::string(5000, 'u');
    facts.host_name = std::string(5000, 'h');
    facts.country = std::string(5000, 'c');
    facts.address = std::string(5000, 'a');
    facts.site_url = "https://x.example/" + std::string(5000, 'p');
    const std::string text = mail::build_alert(facts);

    assert_true(text.size() < 8000);
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t eol = text.find("\r\n", start);
        assert_true(eol - start <= 998);
        start = eol + 2;
    }
    assert_true(header_names(parse(text)) == kExpectedHeaders);
}

void plain_addresses_are_accepted_and_everything_else_refused(void**)
{
    const char* const accepted[] = {"ok.name+tag@studio.example", "anna@localhost",
                                    "o'brien@studio.example", "a@b", "x_y-z@sub.domain-1.example"};
    for (const char* text : accepted)
        assert_true(mail::is_plain_address(text));

    const std::string longest_local = std::string(64, 'l');
    const std::string long_domain = std::string(63, 'd') + "." + std::string(63, 'd') + "." +
                                    std::string(63, 'd') + "." + std::string(57, 'd');
    assert_true(mail::is_plain_address(longest_local + "@example"));
    assert_int_equal((longest_local + "@" + long_domain).size(), 64 + 1 + 249);
    assert_false(mail::is_plain_address(longest_local + "@" + long_domain));  // 314 bytes
    const std::string exactly_255 = std::string(64, 'l') + "@" + std::string(63, 'd') + "." +
                                    std::string(63, 'd') + "." + std::string(62, 'd');
    assert_int_equal(exactly_255.size(), 255);
    assert_false(mail::is_plain_address(exactly_255));
    assert_true(mail::is_plain_address(exactly_255.substr(1)));  // 254 bytes

    const std::string refused[] = {"-oQ/tmp@x",
                                   "a b@c",
                                   "a@b,c@d",
                                   "<a@b>",
                                   "a@b\n",
                                   "",
                                   "@b",
                                   "a@",
                                   "a@b@c",
                                   "\"a\"@b",
                                   "a;b@c",
                                   "a@b;c",
                                   "a\\b@c",
                                   "a(comment)@b",
                                   "a:b@c",
                                   "a@[127.0.0.1]",
                                   "a@b\r\nBcc: eve@x",
                                   ".a@b",
                                   "a.@b",
                                   "a..b@c",
                                   "a@.b",
                                   "a@b.",
                                   "a@-b",
                                   "a@b_c",
                                   "j\xC3\xBCrgen@studio.example",
                                   std::string("a\0@b", 4),
                                   std::string(65, 'l') + "@b",
                                   "a@b\t",
                                   "a\x7f@b"};
    for (const auto& text : refused)
        assert_false(mail::is_plain_address(text));
}

void local_recipients_are_plain_user_names(void**)
{
    for (const char* text : {"anna", "a.b_c-d", "fst1234abcd", "_svc"})
        assert_true(mail::is_local_recipient(text));
    for (const char* text : {"", "-oQ", "a b", "a@b", "a/b", "a\nb", "|cmd", "a,b"})
        assert_false(mail::is_local_recipient(text));
    assert_false(mail::is_local_recipient(std::string(65, 'a')));
}

void the_users_own_address_comes_first_then_the_pattern_then_the_user_name(void**)
{
    assert_string_equal(
        mail::recipient_for("anna", "anna@home.example", "%u@studio.example")->c_str(),
        "anna@home.example");
    assert_string_equal(mail::recipient_for("anna", "", "%u@studio.example")->c_str(),
                        "anna@studio.example");
    assert_string_equal(mail::recipient_for("anna", "", "")->c_str(), "anna");
    assert_string_equal(mail::recipient_for("anna", "", "alerts+%u%%x@studio.example")->c_str(),
                        "alerts+anna%x@studio.example");
}

void a_bad_address_gives_no_recipient_rather_than_a_guess(void**)
{
    // An own address that is not plain does not fall back to the pattern.
    assert_false(
        mail::recipient_for("anna", "a@b, eve@evil.example", "%u@studio.example").has_value());
    // A user name that makes the pattern's result a second address.
    assert_false(mail::recipient_for("eve@evil.example", "", "%u@studio.example").has_value());
    assert_false(mail::recipient_for("bob\r\nBcc: eve@x", "", "%u@studio.example").has_value());
    assert_false(mail::recipient_for("-oQ", "", "").has_value());
    assert_false(mail::recipient_for("a b", "", "").has_value());
    // Unknown or unfinished '%' sequences are configuration mistakes, not literal text.
    assert_false(mail::recipient_for("anna", "", "%n@studio.example").has_value());
    assert_false(mail::recipient_for("anna", "", "anna@studio.example%").has_value());
}

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_body_tells_country_address_time_with_zone_server_and_passwd),
        cmocka_unit_test(the_time_is_shown_in_the_zone_in_force_on_that_day),
        cmocka_unit_test(the_header_block_has_exactly_the_expected_headers),
        cmocka_unit_test(the_date_header_is_rfc5322_and_now),
        cmocka_unit_test(every_message_gets_its_own_message_id_on_the_senders_domain),
        cmocka_unit_test(the_site_url_appears_only_when_configured),
        cmocka_unit_test(the_mfa_enable_hint_appears_only_when_mfa_is_off),
        cmocka_unit_test(a_wrong_code_alert_says_the_password_was_used_with_a_wrong_code),
        cmocka_unit_test(an_unknown_country_code_is_shown_as_it_is),
        cmocka_unit_test(line_breaks_in_any_field_add_no_header),
        cmocka_unit_test(a_sender_or_recipient_that_is_not_a_plain_address_is_refused),
        cmocka_unit_test(a_non_ascii_user_name_is_encoded_in_the_subject_and_kept_in_the_body),
        cmocka_unit_test(text_that_looks_like_an_encoded_word_is_encoded_rather_than_trusted),
        cmocka_unit_test(bytes_that_are_not_utf8_become_replacement_characters),
        cmocka_unit_test(overlong_values_are_cut_and_no_line_nears_the_limit),
        cmocka_unit_test(plain_addresses_are_accepted_and_everything_else_refused),
        cmocka_unit_test(local_recipients_are_plain_user_names),
        cmocka_unit_test(the_users_own_address_comes_first_then_the_pattern_then_the_user_name),
        cmocka_unit_test(a_bad_address_gives_no_recipient_rather_than_a_guess),
    };
    return cmocka_run_group_tests_name("alert_mail", tests, nullptr, nullptr);
}
