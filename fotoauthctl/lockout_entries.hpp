// The list that `fotoauthctl lockouts` shows: fotoauthd's Entries text read into values, and
// those values laid out as tables for people. Pure functions, tested on their own.
//
// fotoauthd sends one line per entry, its fields separated by a TAB:
//
//   lock   USER     CHANNEL                       UNTIL_UNIX  FAILURES
//   block  SOURCE   login-source | login-user     UNTIL_UNIX  ATTEMPTS
//
// A lock stops the logins of one channel of an account: "password" (logins that began with a
// password), "console", "local-user", or "key:TYPE BLOB-START..." (logins that began with that
// SSH key). A block is a login window that is full right now, of a source address or of a user.
// When the entries do not fit in one answer, fotoauthd ends the text with a line "truncated".
// The text comes from another program: a line that does not fit is kept and shown as it came,
// so that a broken or newer daemon is visible instead of hidden or fatal.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fotostudio::ctl {

struct AccountLock {
    std::string user;
    std::string channel;  // as fotoauthd spells it, e.g. "password" or "key:ssh-ed25519 AAAA..."
    std::uint64_t until = 0;     // unix time
    std::uint64_t failures = 0;  // wrong codes, and attempts refused while locked
};

struct LoginBlock {
    std::string source;       // an address (IPv6: its /64) or, for the per-user limit, a user
    std::string limit;        // "login-source" or "login-user"
    std::uint64_t until = 0;  // unix time
    std::uint64_t attempts = 0;
};

struct LockoutList {
    std::vector<AccountLock> locks;
    std::vector<LoginBlock> blocks;
    std::vector<std::string> unreadable;  // lines that fit neither form, as they came
    bool truncated = false;               // fotoauthd left entries out

    bool nothing_locked() const noexcept { return locks.empty() && blocks.empty(); }
};

// Reads the Entries text. Empty lines are skipped; nothing in it is trusted to be printable.
LockoutList parse_lockouts(std::string_view entries);

// Which logins a lock stops, in words: "password logins", "console", "key ssh-ed25519 AAAA...".
// "local-user" is the channel of checks asked for by the user's own programs (not root's).
std::string describe_channel(std::string_view channel);

// Which limit a block is, in words: "logins per address", "logins per account".
std::string describe_limit(std::string_view limit);

// The tables, with times in the local zone and how far away they are from now (unix time);
// or the sentence that nothing is locked. Ends with a line end.
std::string render_lockouts(const LockoutList& list, std::uint64_t now);

}  // namespace fotostudio::ctl
