#include "brute_force.hpp"

#include "log.hpp"
#include "shared_limits.hpp"
#include "sliding_windows.hpp"

#include <arpa/inet.h>

#include <cstring>
#include <ctime>
#include <map>

namespace fotoauthd {

namespace {

std::string local_time(std::int64_t unix_time)
{
    const auto when = static_cast<time_t>(unix_time);
    struct tm parts {};
    localtime_r(&when, &parts);
    char text[64] = {};
    std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M %Z", &parts);
    return text;
}

std::int64_t seconds_rounded_up(std::int64_t ms)
{
    return (ms + 999) / 1000;
}

bool starts_with(std::string_view text, std::string_view prefix)
{
    return text.substr(0, prefix.size()) == prefix;
}

// A channel as root sees it in the listing. Keys of one type share their first characters, so a
// key is shown by its type and the end of its blob, which is what tells two keys apart.
std::string channel_label(const std::string& channel)
{
    if (!starts_with(channel, "key:"))
        return channel;
    const std::string key = channel.substr(4);
    const auto space = key.find(' ');
    if (space == std::string::npos)
        return "key:" + log::printable(key, 40);
    const std::string blob = key.substr(space + 1);
    const std::string tail = blob.size() > 16 ? blob.substr(blob.size() - 16) : blob;
    return "key:" + log::printable(key.substr(0, space), 40) + " ..." + log::printable(tail, 16);
}

}  // namespace

std::string source_key(std::string_view remote_host)
{
    const std::string host(remote_host);
    in_addr v4{};
    if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
        char text[INET_ADDRSTRLEN] = {};
        inet_ntop(AF_INET, &v4, text, sizeof(text));
        return text;
    }

    in6_addr v6{};
    if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
        if (IN6_IS_ADDR_V4MAPPED(&v6)) {
            std::memcpy(&v4, &v6.s6_addr[12], 4);
            char text[INET_ADDRSTRLEN] = {};
            inet_ntop(AF_INET, &v4, text, sizeof(text));
            return text;
        }
        // One customer usually holds a whole /64: count it as one source.
        std::memset(&v6.s6_addr[8], 0, 8);
        char text[INET6_ADDRSTRLEN] = {};
        inet_ntop(AF_INET6, &v6, text, sizeof(text));
        return std::string(text) + "/64";
    }
    return "host:" + log::printable(remote_host, 255);
}

bool is_console(std::string_view tty, std::string_view remote_host)
{
    if (!remote_host.empty())
        return false;
    if (starts_with(tty, "/dev/"))
        tty.remove_prefix(5);
    if (tty == "console")
        return true;
    for (std::string_view prefix : {"ttyS", "hvc", "tty"}) {
        if (!starts_with(tty, prefix))
            continue;
        const auto number = tty.substr(prefix.size());
        return !number.empty() && number.find_first_not_of("0123456789") == std::string_view::npos;
    }
    return false;
}

// Windows of one kind ("login-source", "code", ...): attempts per key within a sliding window.
class BruteForceGuard::Windows {
public:
    struct Full {
        std::string key;
        std::string label;
        std::int64_t free_at = 0;  // unix time when the window frees
        std::int64_t attempts = 0;
    };

    virtual ~Windows() = default;
    // Milliseconds until the key may make another attempt; 0 when it may now.
    virtual std::int64_t wait_ms(const std::string& key) = 0;
    // Counts an attempt; returns the attempts in the window after it.
    virtual std::int64_t record(const std::string& key, const std::string& label) = 0;
    // Forgets `key`, or every key starting with it; returns how many keys were forgotten.
    virtual std::size_t clear(const std::string& key, bool prefix) = 0;
    virtual std::vector<Full> full_windows() = 0;
    // Takes the configuration's limit again after a reload.
    virtual void reconfigure() = 0;
    // Removes attempts that count nowhere any more from the store; windows kept in this daemon's
    // memory drop them themselves.
    virtual void forget_expired() {}
    // The store these windows are shared through, and their kind and limit as it asks for
    // them; nothing for windows kept in this daemon's memory.
    virtual SharedLimits* shared() { return nullptr; }
    virtual WindowSpec spec() const { return {}; }
};

// Locks after too many wrong codes, per (account, channel).
class BruteForceGuard::Locks {
public:
    virtual ~Locks() = default;
    virtual void load() = 0;
    virtual std::optional<StoredLock> running(std::int64_t account, const std::string& channel) = 0;
    // Locks the channel for the configured length; returns the lock's end (unix time).
    virtual std::int64_t start(std::int64_t account, const std::string& channel,
                               const std::string& user, std::int64_t failures) = 0;
    virtual void count_refused(std::int64_t account, const std::string& channel) = 0;
    // Lifts every lock of the account; returns how many there were.
    virtual std::size_t lift(std::int64_t account) = 0;
    virtual std::vector<StoredLock> running_all() = 0;
};

namespace {

// In this daemon's memory, on its monotonic clock.
class LocalWindows final : public BruteForceGuard::Windows {
public:
    LocalWindows(const Limit& limit, const std::size_t& max_tracked, const Clock& clock)
        : limit_(limit), max_tracked_(max_tracked), clock_(clock), windows_(limit, max_tracked)
    {
    }

    std::int64_t wait_ms(const std::string& key) override
    {
        return windows_.wait_ms(key, clock_.monotonic_ms());
    }
    std::int64_t record(const std::string& key, const std::string& label) override
    {
        const std::int64_t now_ms = clock_.monotonic_ms();
        windows_.record(key, now_ms, label);
        return static_cast<std::int64_t>(windows_.count(key, now_ms));
    }
    std::size_t clear(const std::string& key, bool prefix) override
    {
        if (!prefix)
            return windows_.clear(key) ? 1 : 0;
        return windows_.clear_if([&](const std::string& each) { return starts_with(each, key); });
    }
    std::vector<Full> full_windows() override
    {
        const std::int64_t now = clock_.now();
        const std::int64_t now_ms = clock_.monotonic_ms();
        std::vector<Full> out;
        for (auto& full : windows_.full_windows(now_ms))
            out.push_back({std::move(full.key), std::move(full.label),
                           now + seconds_rounded_up(full.free_at_ms - now_ms),
                           static_cast<std::int64_t>(full.attempts)});
        return out;
    }
    void reconfigure() override { windows_.set_limit(limit_, max_tracked_); }

private:
    const Limit& limit_;  // a member of the running Config, changed in place by a reload
    const std::size_t& max_tracked_;
    const Clock& clock_;
    SlidingWindows windows_;
};

// Attempts that left their window more than a minute ago are removed from a shared store, at
// most this many per window and tick (once a second), by every daemon of the fleet: small
// batches, so that a tick holds the daemon's loop only briefly. The minute keeps the removal
// away from rows that a count running at the same moment still looks at.
constexpr std::int64_t kExpiredMarginMs = 60'000;
constexpr std::size_t kExpiredPerTick = 500;

// In the store the fleet shares, on the store's clock.
class SharedWindows final : public BruteForceGuard::Windows {
public:
    SharedWindows(std::string name, const Limit& limit, SharedLimits& shared)
        : name_(std::move(name)), limit_(limit), shared_(shared)
    {
    }

    std::int64_t wait_ms(const std::string& key) override { return shared_.wait_ms(spec(), key); }
    std::int64_t record(const std::string& key, const std::string& label) override
    {
        return shared_.record_attempt(spec(), key, label);
    }
    std::size_t clear(const std::string& key, bool prefix) override
    {
        return shared_.clear_attempts(spec(), key, prefix);
    }
    std::vector<Full> full_windows() override
    {
        std::vector<Full> out;
        for (auto& full : shared_.full_windows(spec()))
            out.push_back(
                {std::move(full.key), std::move(full.label), full.free_at, full.attempts});
        return out;
    }
    void reconfigure() override {}  // spec() reads the running configuration at every call
    void forget_expired() override
    {
        (void)shared_.forget_expired(spec(), kExpiredMarginMs, kExpiredPerTick);
    }
    SharedLimits* shared() override { return &shared_; }
    WindowSpec spec() const override
    {
        return {name_, static_cast<std::int64_t>(limit_.attempts),
                static_cast<std::int64_t>(limit_.window.count()) * 1000};
    }

private:
    std::string name_;
    const Limit& limit_;
    SharedLimits& shared_;
};

// In this daemon's memory on its monotonic clock, written through to the store with their
// wall-clock end so that a restart finds them again.
class LocalLocks final : public BruteForceGuard::Locks {
public:
    LocalLocks(const Config& config, Store& store, const Clock& clock)
        : config_(config), store_(store), clock_(clock)
    {
    }

    void load() override
    {
        const std::int64_t now = clock_.now();
        const std::int64_t now_ms = clock_.monotonic_ms();
        for (const auto& stored : store_.locks(now)) {
            // A lock never outlasts its configured length, whatever the wall clock said meanwhile.
            const std::int64_t left =
                std::min<std::int64_t>(stored.locked_until - now, config_.lock_duration.count());
            locks_[{stored.account, stored.channel}] =
                Running{stored.name, now + left, now_ms + left * 1000, stored.failures};
        }
    }

    std::optional<StoredLock> running(std::int64_t account, const std::string& channel) override
    {
        const Running* lock = find({account, channel});
        if (!lock)
            return std::nullopt;
        return StoredLock{account, lock->user, channel, lock->locked_until, lock->failures};
    }

    std::int64_t start(std::int64_t account, const std::string& channel, const std::string& user,
                       std::int64_t failures) override
    {
        const std::int64_t until = clock_.now() + config_.lock_duration.count();
        locks_[{account, channel}] = Running{
            user, until, clock_.monotonic_ms() + config_.lock_duration.count() * 1000, failures};
        store_.save_lock({account, user, channel, until, failures});
        return until;
    }

    void count_refused(std::int64_t account, const std::string& channel) override
    {
        Running* lock = find({account, channel});
        if (!lock)
            return;
        ++lock->failures;
        store_.save_lock({account, lock->user, channel, lock->locked_until, lock->failures});
    }

    std::size_t lift(std::int64_t account) override
    {
        std::size_t lifted = 0;
        for (auto it = locks_.begin(); it != locks_.end();) {
            if (it->first.first == account) {
                it = locks_.erase(it);
                ++lifted;
            } else {
                ++it;
            }
        }
        (void)store_.delete_locks(account);
        return lifted;
    }

    std::vector<StoredLock> running_all() override
    {
        std::vector<StoredLock> out;
        const std::int64_t now_ms = clock_.monotonic_ms();
        for (auto it = locks_.begin(); it != locks_.end();) {
            const auto& [key, lock] = *it;
            if (lock.ends_at_ms <= now_ms) {
                store_.delete_lock(key.first, key.second);
                it = locks_.erase(it);
                continue;
            }
            out.push_back({key.first, lock.user, key.second, lock.locked_until, lock.failures});
            ++it;
        }
        return out;
    }

private:
    struct Running {
        std::string user;
        std::int64_t locked_until = 0;  // wall clock, as stored and shown
        std::int64_t ends_at_ms = 0;    // monotonic, what decides
        std::int64_t failures = 0;
    };
    using Key = std::pair<std::int64_t, std::string>;  // account, channel

    Running* find(const Key& key)
    {
        const auto found = locks_.find(key);
        if (found == locks_.end())
            return nullptr;
        if (found->second.ends_at_ms > clock_.monotonic_ms())
            return &found->second;
        store_.delete_lock(key.first, key.second);
        locks_.erase(found);
        return nullptr;
    }

    const Config& config_;
    Store& store_;
    const Clock& clock_;
    std::map<Key, Running> locks_;
};

// In the store the fleet shares: every question goes to it, so a lock or an unlock made by
// another server holds here at once.
class SharedLocks final : public BruteForceGuard::Locks {
public:
    SharedLocks(const Config& config, Store& store, SharedLimits& shared)
        : config_(config), store_(store), shared_(shared)
    {
    }

    void load() override {}  // nothing is kept here
    std::optional<StoredLock> running(std::int64_t account, const std::string& channel) override
    {
        return shared_.running_lock(account, channel, config_.lock_duration.count());
    }
    std::int64_t start(std::int64_t account, const std::string& channel, const std::string&,
                       std::int64_t failures) override
    {
        return shared_.start_lock(account, channel, config_.lock_duration.count(), failures);
    }
    void count_refused(std::int64_t account, const std::string& channel) override
    {
        shared_.count_lock_refusal(account, channel);
    }
    std::size_t lift(std::int64_t account) override { return store_.delete_locks(account); }
    std::vector<StoredLock> running_all() override { return shared_.running_locks(); }

private:
    const Config& config_;
    Store& store_;
    SharedLimits& shared_;
};

// One attempt to count in one window of a login.
struct Counting {
    BruteForceGuard::Windows& windows;
    std::string key;
    std::string label;
};

// The store all windows of `list` are shared through, when it is one and the same.
SharedLimits* shared_by_all(const std::vector<Counting>& list)
{
    SharedLimits* shared = list.empty() ? nullptr : list.front().windows.shared();
    for (const auto& each : list)
        if (each.windows.shared() != shared)
            shared = nullptr;
    return shared;
}

// Every window's wait first; when none is full, the attempt counted in all of them. Windows
// shared through one store ask it once (SharedLimits::admit), so a login in a fleet costs one
// round trip to the database for its windows, not one per window and question.
Admission admit_in(const std::vector<Counting>& list)
{
    if (SharedLimits* shared = shared_by_all(list)) {
        std::vector<WindowAttempt> attempts;
        for (const auto& each : list)
            attempts.push_back({each.windows.spec(), each.key, each.label});
        return shared->admit(attempts);
    }

    Admission admission;
    for (std::size_t index = 0; index < list.size(); ++index) {
        if (const auto wait = list[index].windows.wait_ms(list[index].key); wait > 0) {
            admission.full = index;
            admission.wait_ms = wait;
            return admission;
        }
    }
    for (const auto& each : list)
        admission.counts.push_back(each.windows.record(each.key, each.label));
    return admission;
}

// Whether `attempts` in a window reach its limit.
bool fills(std::int64_t attempts, const Limit& limit)
{
    return attempts >= static_cast<std::int64_t>(limit.attempts);
}

std::unique_ptr<BruteForceGuard::Windows> make_windows(const char* name, const Limit& limit,
                                                       const Config& config, Store& store,
                                                       const Clock& clock)
{
    if (SharedLimits* shared = store.shared_limits())
        return std::make_unique<SharedWindows>(name, limit, *shared);
    return std::make_unique<LocalWindows>(limit, config.max_tracked, clock);
}

std::unique_ptr<BruteForceGuard::Locks> make_locks(const Config& config, Store& store,
                                                   const Clock& clock)
{
    if (SharedLimits* shared = store.shared_limits())
        return std::make_unique<SharedLocks>(config, store, *shared);
    return std::make_unique<LocalLocks>(config, store, clock);
}

}  // namespace

BruteForceGuard::BruteForceGuard(const Config& config, Store& store, const Clock& clock)
    : config_(config), clock_(clock),
      login_source_(make_windows("login-source", config.login_per_source, config, store, clock)),
      login_user_(make_windows("login-user", config.login_per_user, config, store, clock)),
      wrong_codes_(make_windows("code", config.wrong_codes, config, store, clock)),
      password_changes_(
          make_windows("password-change", config.password_changes, config, store, clock)),
      locks_(make_locks(config, store, clock))
{
}

BruteForceGuard::~BruteForceGuard() = default;

void BruteForceGuard::reconfigure()
{
    for (auto* windows : {&login_source_, &login_user_, &wrong_codes_, &password_changes_})
        (*windows)->reconfigure();
}

void BruteForceGuard::forget_expired()
{
    for (auto* windows : {&login_source_, &login_user_, &wrong_codes_, &password_changes_})
        (*windows)->forget_expired();
}

void BruteForceGuard::load_locks()
{
    locks_->load();
}

std::string BruteForceGuard::code_key(std::int64_t account, const std::string& channel)
{
    return std::to_string(account) + code_key_after_account(channel);
}

std::string BruteForceGuard::code_key_after_account(const std::string& channel)
{
    return "\t" + channel;
}

Verdict BruteForceGuard::locked_verdict(const StoredLock& lock) const
{
    Verdict verdict;
    verdict.kind = Verdict::Kind::Locked;
    verdict.locked_until = lock.locked_until;
    verdict.text = "This account is locked after too many wrong verification codes until " +
                   local_time(lock.locked_until) +
                   ". An administrator can unlock it sooner with `fotoauthctl unlock " + lock.name +
                   "`.";
    return verdict;
}

Verdict BruteForceGuard::rate_limited(std::int64_t wait_ms, const char* what) const
{
    Verdict verdict;
    verdict.kind = Verdict::Kind::RateLimited;
    verdict.retry_after = seconds_rounded_up(wait_ms);
    verdict.text = std::string(what) + " Wait " + std::to_string(verdict.retry_after) +
                   " seconds and try again.";
    return verdict;
}

std::optional<Verdict> BruteForceGuard::current_lock(const Attempt& attempt)
{
    if (!attempt.account)
        return std::nullopt;
    const auto lock = locks_->running(*attempt.account, attempt.channel);
    if (!lock)
        return std::nullopt;
    return locked_verdict(*lock);
}

void BruteForceGuard::count_refused(const Attempt& attempt)
{
    if (attempt.account)
        locks_->count_refused(*attempt.account, attempt.channel);
}

namespace {

// The windows a login attempt counts in: its source's (when it has one), then its user name's.
// The per-user window is kept apart for each channel, so that guessing over the password path
// cannot hold the owner's key logins or the console back.
std::vector<Counting> login_windows(const Attempt& attempt, BruteForceGuard::Windows& by_source,
                                    BruteForceGuard::Windows& by_user)
{
    const std::string user_key = attempt.user + "\t" + attempt.channel;
    const std::string label =
        (attempt.user_resolves ? attempt.user : "(a name that does not resolve)") +
        (attempt.channel == "password" ? "" : " (" + channel_label(attempt.channel) + ")");
    std::vector<Counting> windows;
    if (!attempt.source.empty())
        windows.push_back({by_source, attempt.source, attempt.source_label});
    windows.push_back({by_user, user_key, label});
    return windows;
}

}  // namespace

void BruteForceGuard::read_ahead_login(const Attempt& attempt)
{
    if (!login_user_->shared())
        return;  // windows in memory: nothing to say ahead
    const auto windows = login_windows(attempt, *login_source_, *login_user_);
    if (SharedLimits* shared = shared_by_all(windows)) {
        ReadAhead ahead;
        for (const auto& each : windows)
            ahead.admission.push_back({each.windows.spec(), each.key, each.label});
        shared->read_ahead(std::move(ahead));
    }
}

void BruteForceGuard::read_ahead_code(const Attempt& attempt)
{
    if (SharedLimits* shared = wrong_codes_->shared()) {
        ReadAhead ahead;
        ahead.account_window = wrong_codes_->spec();
        ahead.key_after_account = code_key_after_account(attempt.channel);
        shared->read_ahead(std::move(ahead));
    }
}

Verdict BruteForceGuard::admit_login(const Attempt& attempt)
{
    if (auto lock = current_lock(attempt)) {
        count_refused(attempt);
        return *lock;
    }

    const bool by_source = !attempt.source.empty();
    const auto windows = login_windows(attempt, *login_source_, *login_user_);
    const std::string& label = windows.back().label;
    const Admission admission = admit_in(windows);
    if (admission.full)
        return rate_limited(admission.wait_ms, by_source && *admission.full == 0
                                                   ? "Too many login attempts from your address."
                                                   : "Too many login attempts for this account.");
    if (by_source && fills(admission.counts.front(), config_.login_per_source))
        log::audit("source-blocked", "Login limit reached for a source address",
                   {{"RHOST", attempt.source_label}, {"REASON", "login-source-limit"}});
    if (fills(admission.counts.back(), config_.login_per_user))
        log::audit(
            "user-blocked", "Login limit reached for a user name",
            {{"USER", label}, {"RHOST", attempt.source_label}, {"REASON", "login-user-limit"}});
    return {};
}

Verdict BruteForceGuard::admit_code(const Attempt& attempt)
{
    if (auto lock = current_lock(attempt)) {
        count_refused(attempt);
        return *lock;
    }
    if (!attempt.account)
        return {};
    const auto wait = wrong_codes_->wait_ms(code_key(*attempt.account, attempt.channel));
    if (wait > 0)
        return rate_limited(wait, "Too many wrong verification codes.");
    return {};
}

std::optional<StepUse> BruteForceGuard::use_step_unless_held(const Attempt& attempt,
                                                             std::int64_t active_since,
                                                             std::int64_t step)
{
    SharedLimits* shared = wrong_codes_->shared();
    if (!shared || !attempt.account)
        return std::nullopt;
    return shared->advance_last_step_unless_held(
        *attempt.account, active_since, step,
        StepHold{attempt.channel, wrong_codes_->spec(),
                 code_key(*attempt.account, attempt.channel)});
}

void BruteForceGuard::record_wrong_code(const Attempt& attempt)
{
    if (!attempt.account)
        return;
    const std::int64_t failures =
        wrong_codes_->record(code_key(*attempt.account, attempt.channel), {});
    // The console is never locked: its own window is all that slows it down. Only the attempt
    // that fills the window locks: the count is exact, in a fleet too, so exactly one server
    // sees it reach the limit.
    if (!fills(failures, config_.wrong_codes) || attempt.channel == "console")
        return;

    const std::int64_t until =
        locks_->start(*attempt.account, attempt.channel, attempt.user, failures);
    log::audit("account-locked", "Account locked after too many wrong verification codes",
               {{"USER", attempt.user},
                {"RHOST", attempt.source_label},
                {"CHANNEL", log::printable(attempt.channel, 40)},
                {"REASON", "code-limit"},
                {"LOCKED_UNTIL", std::to_string(until)}});
}

std::size_t BruteForceGuard::unlock(std::int64_t account, const std::string& user)
{
    const std::size_t lifted = locks_->lift(account);
    wrong_codes_->clear(std::to_string(account) + "\t", true);
    login_user_->clear(user + "\t", true);
    log::audit("account-unlocked", "Account unlocked by root",
               {{"USER", user}, {"LOCKS", std::to_string(lifted)}});
    return lifted;
}

std::size_t BruteForceGuard::unblock(const std::string& source)
{
    const std::size_t cleared = login_source_->clear(source, false);
    log::audit("source-unblocked", "Source login limit cleared by root",
               {{"RHOST", source}, {"WINDOWS", std::to_string(cleared)}});
    return cleared;
}

std::vector<std::string> BruteForceGuard::listing()
{
    std::vector<std::string> lines;
    for (const auto& lock : locks_->running_all())
        lines.push_back("lock\t" + lock.name + "\t" + channel_label(lock.channel) + "\t" +
                        std::to_string(lock.locked_until) + "\t" + std::to_string(lock.failures));
    const auto add_full = [&](Windows& windows, const char* kind) {
        for (const auto& full : windows.full_windows())
            lines.push_back(std::string("block\t") + (full.label.empty() ? full.key : full.label) +
                            "\t" + kind + "\t" + std::to_string(full.free_at) + "\t" +
                            std::to_string(full.attempts));
    };
    add_full(*login_source_, "login-source");
    add_full(*login_user_, "login-user");
    return lines;
}

Verdict BruteForceGuard::admit_password_change(const std::string& user)
{
    if (const auto wait = password_changes_->wait_ms(user); wait > 0)
        return rate_limited(wait, "Too many password change attempts.");
    password_changes_->record(user, {});
    return {};
}

}  // namespace fotoauthd
