// Brute-force protection: login limits per source and per user name, a limit on wrong codes per
// account channel with hour-long locks, and a password-change limit (docs/brute-force.md).
//
// Where the counts live depends on the store:
// - One daemon alone (SQLite): windows live in memory on the monotonic clock (a daemon restart
//   starts them afresh). Locks are also written to the store with their wall-clock end, and
//   reloaded at start; within one run a lock ends on the monotonic clock, so setting the wall
//   clock neither lifts nor extends it. The daemon is single-threaded, so every count is exact
//   however many logins run in parallel.
// - A fleet sharing one database (PostgreSQL): windows and locks live in the database, counted
//   and timed on the database server's clock, so that the servers' counts add up and a lock or
//   an unlock on one server holds on all at once (shared_limits.hpp, docs/fleet.md).
#pragma once

#include "clock.hpp"
#include "config.hpp"
#include "shared_limits.hpp"
#include "store.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fotoauthd {

// Where an attempt comes from, as far as the limits care.
struct Attempt {
    std::string user;  // login name as resolved, or as given when it does not resolve
    bool user_resolves = false;
    std::optional<std::int64_t> account;  // the enrolled account, when there is one
    std::string source;                   // window key of the source; empty when there is no source
    std::string source_label;             // the source as shown to root
    std::string channel;                  // "password", "console", "local-user" or "key:..."
};

struct Verdict {
    enum class Kind { Allowed, RateLimited, Locked };
    Kind kind = Kind::Allowed;
    std::int64_t retry_after = 0;   // seconds, when RateLimited
    std::int64_t locked_until = 0;  // unix time, when Locked
    std::string text;               // what the user is told

    bool allowed() const { return kind == Kind::Allowed; }
};

class BruteForceGuard {
public:
    // The store decides where counts live: its shared_limits() when it has them, else memory.
    BruteForceGuard(const Config& config, Store& store, const Clock& clock);
    ~BruteForceGuard();
    BruteForceGuard(const BruteForceGuard&) = delete;
    BruteForceGuard& operator=(const BruteForceGuard&) = delete;

    // Takes the limits of a reloaded configuration; attempts already counted stay counted, and
    // running locks keep their end.
    void reconfigure();

    // Reads the locks that were running when the daemon stopped.
    void load_locks();

    // Once a second, from the daemon's tick: removes from a shared store the attempts that
    // count nowhere any more (nothing to do for windows in memory).
    void forget_expired();

    // A login attempt before the password is tried: refused while the account's channel is
    // locked or either login window is full; otherwise counted in both windows.
    Verdict admit_login(const Attempt& attempt);

    // Said before the account of an attempt is read (Store::account_for()), when admit_login()
    // or admit_code() follows that reading in the same request: a store shared by a fleet then
    // answers the limits in the reading's round trip (SharedLimits::read_ahead()). Nothing is
    // decided differently; with limits in memory these do nothing.
    void read_ahead_login(const Attempt& attempt);
    void read_ahead_code(const Attempt& attempt);

    // Before a code is checked: refused while locked, or while the channel's code window is full.
    Verdict admit_code(const Attempt& attempt);

    // A right code's step used, in a store shared by a fleet, only when admit_code() would have
    // let the code be tried, in one statement (SharedLimits::advance_last_step_unless_held()),
    // for a request that read nothing of its own. Nothing when the limits live in memory: the
    // caller then asks admit_code() and Store::advance_last_step() as usual. Held means a lock
    // or a full window: the caller asks admit_code(), which tells which and counts the refusal.
    std::optional<StepUse> use_step_unless_held(const Attempt& attempt, std::int64_t active_since,
                                                std::int64_t step);

    // A wrong code: counted; the one that fills the window locks the channel (not the console).
    void record_wrong_code(const Attempt& attempt);

    // Whether the channel is locked now (without counting anything).
    std::optional<Verdict> current_lock(const Attempt& attempt);

    // Counts an attempt the lock refused, for the administrator's listing.
    void count_refused(const Attempt& attempt);

    // Root's tools: lift every lock of an account and clear its windows; clear a source's window.
    std::size_t unlock(std::int64_t account, const std::string& user);
    std::size_t unblock(const std::string& source);

    // Lockouts listing lines (docs/protocol.md).
    std::vector<std::string> listing();

    // The password-change limit, per user name (the password stage arrives with its own issue).
    Verdict admit_password_change(const std::string& user);

    // How attempts are counted and locks held: in this daemon, or in a store shared by a fleet.
    class Windows;
    class Locks;

private:
    Verdict locked_verdict(const StoredLock& lock) const;
    Verdict rate_limited(std::int64_t wait_ms, const char* what) const;
    static std::string code_key(std::int64_t account, const std::string& channel);
    // The key of the account's wrong-code window without the account's id in front.
    static std::string code_key_after_account(const std::string& channel);

    const Config& config_;
    const Clock& clock_;
    std::unique_ptr<Windows> login_source_;
    std::unique_ptr<Windows> login_user_;
    std::unique_ptr<Windows> wrong_codes_;
    std::unique_ptr<Windows> password_changes_;
    std::unique_ptr<Locks> locks_;
};

// The window key of a remote host as sshd reports it: an IPv4 address as is, an IPv6 address by
// its /64 (an IPv4-mapped one as the IPv4 address), anything else (a host name) as text.
std::string source_key(std::string_view remote_host);

// True for the local console: a virtual terminal, serial line or /dev/console, with no remote host.
bool is_console(std::string_view tty, std::string_view remote_host);

}  // namespace fotoauthd
