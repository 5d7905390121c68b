// The two markers of a login in the tables of `fotoauthctl status` and `fotoauthctl history`:
// one for a login from a country other than the account's usual one, one for a login that
// checked a verification code. A terminal whose locale speaks UTF-8 gets the symbols; any other
// (LC_ALL=C, a serial console) or --ascii gets plain text, documented in fotoauthctl(1).
#pragma once

#include <string_view>

namespace fotostudio::ctl {

struct Markers {
    std::string_view unusual_header;  // the column's header
    std::string_view unusual;         // the cell of an unusual login
    std::string_view verified_header;
    std::string_view verified;  // the cell of a login that checked a code
    std::string_view legend;    // one line that explains both, without a line end
};

inline constexpr Markers kSymbolMarkers{
    "\u26a0", "\u26a0", "\U0001f512", "\U0001f512",
    "\u26a0 from another country than the account's usual one; \U0001f512 a code was checked"};

inline constexpr Markers kPlainMarkers{
    "!", "!", "CODE", "yes",
    "! from another country than the account's usual one; CODE yes: a code was checked"};

// The markers for this terminal: the symbols when the locale's character set is UTF-8 and
// plain_wanted (--ascii) is false. Sets the program's LC_CTYPE from the environment.
const Markers& markers_for_terminal(bool plain_wanted);

}  // namespace fotostudio::ctl
