// The history that `fotoauthctl history` lists and `fotoauthctl status` ends with: fotoauthd's
// Entries text read into values, fetched page by page, and those values laid out as a table for
// people. Pure functions, tested on their own.
//
// fotoauthd keeps the newest entries of each account (logins, refused logins, password changes,
// devices forgotten, mode changes, MFA turned on) and sends them newest first, one line per
// entry, its fields separated by a TAB:
//
//   AT_UNIX  EVENT  SERVICE  SOURCE  DETAIL  COUNTRY  CLIENT  UNUSUAL  VERIFIED
//
// EVENT is e.g. "login" or "password-changed"; SERVICE the PAM service ("sshd") or empty; SOURCE
// the remote host of a login, empty for a local login and for changes; DETAIL a few words, e.g.
// "wrong code" or "recovery code"; COUNTRY an ISO 3166 code such as "FR", "local", "unknown", or
// empty when nobody looked (not a login, or GeoIP off); CLIENT how the login came, e.g. "sshd
// publickey ED25519 SHA256:..., pts/3" or "login tty1"; UNUSUAL "1" for a login from another
// country than the account's usual one; VERIFIED "1" when the login checked a code. A fotoauthd
// older than the country lookup sends the first five fields only; such lines are read too.
//
// When the entries do not fit in one answer, fotoauthd ends the text with a line "truncated" and
// says in Count how many there are; the next page is asked for with Offset. As with the other
// lists, a line that does not fit is kept and shown as it came.
#pragma once

#include "account.hpp"
#include "markers.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fotostudio::ctl {

struct HistoryEntry {
    std::uint64_t at = 0;  // unix time
    std::string event;
    std::string service;  // empty when fotoauthd knows none
    std::string source;   // empty for local logins and for changes
    std::string detail;
    // The last four exist only when the line had nine fields (has_origin).
    bool has_origin = false;
    std::string country;  // "FR", "local", "unknown", or empty when nobody looked
    std::string client;   // how the login came, or empty
    bool unusual = false;
    bool verified = false;
};

struct HistoryList {
    std::vector<HistoryEntry> entries;    // newest first, in fotoauthd's order
    std::vector<std::string> unreadable;  // lines that do not fit, as they came
    bool truncated = false;               // older entries are missing
    std::optional<std::uint64_t> total;   // how many entries the account has, when fotoauthd said
};

// Reads the Entries text. Empty lines are skipped; nothing in it is trusted to be printable.
HistoryList parse_history(std::string_view entries);

// One answer to a History request.
struct HistoryPage {
    std::string entries;                 // its Entries text
    std::optional<std::uint64_t> count;  // its Count; absent from a fotoauthd without paging
};

// Asks fotoauthd for one page: the newest entries when offset is absent, else those after the
// `offset` newest. Returns an exit code; kSuccess with page filled in.
using AskHistoryPage = std::function<int(std::optional<std::uint64_t> offset, HistoryPage& page)>;

// Asks page after page until the account's Count entries are in, fotoauthd stops cutting, or
// an answer brings nothing new; at most a few requests more than Count, so that a daemon that
// keeps answering "truncated" cannot keep fotoauthctl asking. Returns ask's exit code when one
// fails, else kSuccess with list filled in.
int collect_history(const AskHistoryPage& ask, HistoryList& list);

// What happened, in words: "login", "login refused", "password changed"; an event of a newer
// fotoauthd is shown by its own name.
std::string describe_event(std::string_view event);

// The whole history of user as a table with local times, newest first, or "No history yet.".
// Ends with a line end.
std::string render_history(const HistoryList& list, const TargetUser& user, const Markers& markers);

// The command that lists the whole history, as the caller would type it.
std::string history_command(const TargetUser& user);

// The end of the status page: every login (event "login") of list, newest first, under "Last N
// connections" with its date, country, address, client and markers, then the command that shows
// the other events. Ends with a line end.
std::string render_connections(const HistoryList& list, const TargetUser& user,
                               const Markers& markers);

// The sentence on entries that are missing from a cut list, with its line end.
std::string missing_entries_sentence(const HistoryList& list);

}  // namespace fotostudio::ctl
