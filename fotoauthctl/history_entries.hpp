// The history that `fotoauthctl history` lists and `fotoauthctl status` ends with: fotoauthd's
// Entries text read into values, and those values laid out as a table for people. Pure
// functions, tested on their own.
//
// fotoauthd keeps the newest entries of each account (logins, refused logins, password changes,
// devices forgotten, mode changes, MFA turned on) and sends them newest first, one line per
// entry, its fields separated by a TAB:
//
//   AT_UNIX  EVENT  SERVICE  SOURCE  DETAIL
//
// EVENT is e.g. "login" or "password-changed"; SERVICE the PAM service ("sshd") or empty; SOURCE
// the remote host of a login, empty for a local login and for changes; DETAIL a few words, e.g.
// "wrong code" or "recovery code". When the entries do not fit in one answer, fotoauthd ends the
// text with a line "truncated". As with the other lists, a line that does not fit is kept and
// shown as it came.
#pragma once

#include "account.hpp"

#include <cstddef>
#include <cstdint>
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
};

struct HistoryList {
    std::vector<HistoryEntry> entries;    // newest first, in fotoauthd's order
    std::vector<std::string> unreadable;  // lines that do not fit, as they came
    bool truncated = false;               // fotoauthd left older entries out
};

// Reads the Entries text. Empty lines are skipped; nothing in it is trusted to be printable.
HistoryList parse_history(std::string_view entries);

// What happened, in words: "login", "login refused", "password changed"; an event of a newer
// fotoauthd is shown by its own name.
std::string describe_event(std::string_view event);

// The whole history of user as a table with local times, newest first, or "No history yet.".
// Ends with a line end.
std::string render_history(const HistoryList& list, const TargetUser& user);

// How many entries the status page shows.
inline constexpr std::size_t kRecentEntries = 5;

// The end of the status page: the newest kRecentEntries entries under "Recent activity:" and the
// command that lists them all. Ends with a line end.
std::string render_recent_activity(const HistoryList& list, const TargetUser& user);

}  // namespace fotostudio::ctl
