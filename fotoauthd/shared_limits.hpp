// Rate-limit windows and locks kept in a store that several daemons share (docs/fleet.md).
//
// On one server the windows live in the daemon's memory on its monotonic clock. In a fleet, an
// attempt counted on one server must count on every other, and a lock earned on one must hold
// on all at once; the servers' monotonic clocks cannot be compared, so the store counts and
// times everything itself, on its own clock, and serialises the attempts on one key so that the
// counts from all servers add up exactly (the attempt that fills a window is seen by exactly one
// server). Nothing here is cached: every question goes to the store.
#pragma once

#include "store.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace fotoauthd {

// One kind of window: its name in the store ("login-source", "code", ...) and its limit.
struct WindowSpec {
    std::string name;
    std::int64_t attempts = 0;
    std::int64_t window_ms = 0;

    bool operator==(const WindowSpec&) const = default;
};

// One attempt as one window sees it: admit() counts it in several at once.
struct WindowAttempt {
    WindowSpec spec;
    std::string key;
    std::string label;

    bool operator==(const WindowAttempt&) const = default;
};

// What a request will ask the limits right after it reads its account, said before the reading
// (read_ahead()), so that a store that reads an account in one round trip can answer it in that
// same round trip. Nothing is decided differently, only in fewer round trips: a store that
// cannot answer early ignores it, and the request asks as it always does.
struct ReadAhead {
    // wait_ms() of the window `account_window`, whose key is the account's id followed by
    // `key_after_account` (the wrong-code window of one channel).
    std::optional<WindowSpec> account_window;
    std::string key_after_account;
    // admit() of these attempts, made in the reading unless the account read (by name, with the
    // uid given to the reading) is enrolled and a lock of it runs: admit_login() asks which lock
    // first and then counts by itself, exactly as without the read-ahead.
    std::vector<WindowAttempt> admission;
};

// What admit() decided. When a window was full, `full` is its index in the list, `wait_ms` how
// long it stays full, and nothing was counted anywhere; otherwise `counts` holds, for each
// window of the list, the attempts it holds after this one.
struct Admission {
    std::optional<std::size_t> full;
    std::int64_t wait_ms = 0;
    std::vector<std::int64_t> counts;
};

// A window that is full now.
struct SharedFullWindow {
    std::string key;
    std::string label;
    std::int64_t free_in_ms = 0;  // until its oldest counted attempt leaves it
    std::int64_t free_at = 0;     // the same moment in unix time (the store's clock)
    std::int64_t attempts = 0;
};

// What holds a right code back, checked in the statement that uses its step
// (advance_last_step_unless_held()): a lock of the account's channel, and the channel's
// wrong-code window, as admit_code() asks them.
struct StepHold {
    std::string channel;
    WindowSpec window;
    std::string key;  // the window's key: the account's id and the channel
};

enum class StepUse {
    Used,     // the step is recorded as used: the code passes
    NotUsed,  // a replay, a burned step, a lost race or another enrolment: not recorded
    Held,     // a lock or a full window: nothing was looked at or changed
};

class SharedLimits {
public:
    virtual ~SharedLimits() = default;

    // Milliseconds until `key` may make another attempt; 0 when it may now.
    virtual std::int64_t wait_ms(const WindowSpec& spec, const std::string& key) = 0;
    // Counts an attempt and returns how many attempts the window holds after it. Attempts
    // beyond the limit are not kept: the count never exceeds `spec.attempts`.
    virtual std::int64_t record_attempt(const WindowSpec& spec, const std::string& key,
                                        const std::string& label) = 0;
    // wait_ms() of every window of `attempts` first, then record_attempt() in all of them when
    // none was full, as one round trip to the store.
    virtual Admission admit(const std::vector<WindowAttempt>& attempts) = 0;
    // Said before a request reads its account (Store::account_for()); holds for that reading
    // only. The answers are taken by the same request's wait_ms() and admit() when asked with
    // exactly the same windows and keys; a pre-counted admission must be asked for, since it
    // was counted already.
    virtual void read_ahead(ReadAhead ahead) = 0;
    // Forgets the attempts of `key` (or of every key starting with it, with `prefix`); returns
    // how many keys had attempts.
    virtual std::size_t clear_attempts(const WindowSpec& spec, const std::string& key,
                                       bool prefix) = 0;
    virtual std::vector<SharedFullWindow> full_windows(const WindowSpec& spec) = 0;
    // Removes at most `most` attempts of the window that left it more than `margin_ms` ago (they
    // count nowhere any more); returns how many. The daemons call it once a second, so that
    // counting an attempt never has to.
    virtual std::size_t forget_expired(const WindowSpec& spec, std::int64_t margin_ms,
                                       std::size_t most) = 0;

    // The lock of (account, channel) while it runs on the store's clock. A lock that would run
    // longer than `longest_s` from now (the store's clock was set back) is cut to that first.
    virtual std::optional<StoredLock> running_lock(std::int64_t account, const std::string& channel,
                                                   std::int64_t longest_s) = 0;
    // Locks (account, channel) for `duration_s` from the store's now; returns the lock's end.
    virtual std::int64_t start_lock(std::int64_t account, const std::string& channel,
                                    std::int64_t duration_s, std::int64_t failures) = 0;
    // Counts one more attempt refused by a running lock.
    virtual void count_lock_refusal(std::int64_t account, const std::string& channel) = 0;
    // Every lock running now on the store's clock, with the account's name.
    virtual std::vector<StoredLock> running_locks() = 0;

    // Store::advance_last_step() made only when neither a lock of (account, hold.channel) runs
    // nor the window hold.window of hold.key is full, both on the store's clock, in the same
    // statement: admit_code() and the single use in one round trip, for a request that read
    // nothing of its own (Store::resume_reading()). Held changes nothing; the request then asks
    // the limits one by one, which tells which lock or window holds it, and counts what they
    // count.
    virtual StepUse advance_last_step_unless_held(std::int64_t account, std::int64_t active_since,
                                                  std::int64_t step, const StepHold& hold) = 0;
};

}  // namespace fotoauthd
