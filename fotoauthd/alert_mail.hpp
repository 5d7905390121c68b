// The security alert e-mail: the message text, and the rules for the addresses it may go to.
//
// Every value in AlertFacts may come from someone hostile (a user name, a reverse-resolved host,
// a configured URL with a typo), so nothing from it can add a header line or a recipient:
// header values are cleaned of control characters and capped, and From and To must pass the
// address rules below. Non-ASCII text in the Subject is encoded as RFC 2047 encoded-words
// (UTF-8, base64); in the body it stays UTF-8 (8bit). Bytes that are not valid UTF-8 become
// U+FFFD everywhere.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fotoauthd::mail {

struct AlertFacts {
    enum class Kind {
        UnusualLogin,                // a sign-in succeeded from a country unusual for the user
        WrongCodeFromUnusualCountry  // the password was right, the code wrong, the country unusual
    } kind = Kind::UnusualLogin;
    std::string user;       // the login name (resolved, but still treated as hostile text)
    std::string host_name;  // this server's name
    std::string country;    // ISO 3166 code, e.g. "DE"
    std::string address;    // the source IP address as text
    std::int64_t at = 0;    // unix time of the sign-in
    bool mfa_enabled = false;
    std::string site_url;  // optional: where to change the password, from the configuration
    std::string from;      // the header and envelope sender, e.g. "fotoauthd@HOST"
    std::string to;        // the recipient: an address or a local user name
};

// The whole message with CRLF line ends, ready for sendmail or SMTP DATA (not yet dot-stuffed).
// The Date header is the time of the call, in the daemon's local zone. Throws
// std::invalid_argument when `from` is not a plain address or `to` is neither a plain address
// nor a local recipient: the caller picks them with recipient_for() and the configuration check.
std::string build_alert(const AlertFacts& facts);

// True for a plain address local@domain and nothing more: at most 254 bytes, one '@', a
// dot-atom local part (letters, digits, the RFC 5322 atom specials, single dots inside) of at
// most 64 bytes, a domain of dot-separated labels of letters, digits and inner hyphens. Anything
// a mail program could read as a second address, a comment, an option or a display name (spaces,
// control characters, quotes, angle brackets, commas, semicolons, colons, backslashes,
// parentheses, a leading '-') is refused. Also the rule for `fotoauthctl email set`.
bool is_plain_address(std::string_view text);

// True for a local recipient, a user name for local delivery: 1 to 64 bytes of [A-Za-z0-9._-],
// not starting with '-'.
bool is_local_recipient(std::string_view text);

// Where an alert for `user` goes: `own_address` when the user set one; else `pattern` with %u
// replaced by the user name and %% by %; else the user name itself. Nothing when the chosen
// result is neither a plain address nor a local recipient, or the pattern has another '%'
// sequence: a bad address is never replaced by a guess.
std::optional<std::string> recipient_for(std::string_view user, std::string_view own_address,
                                         std::string_view pattern);

// The English name of a common ISO 3166 country code ("DE" -> "Germany"); empty when unknown.
std::string_view country_name(std::string_view code);

}  // namespace fotoauthd::mail
