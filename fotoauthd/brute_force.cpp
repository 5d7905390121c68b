#include "brute_force.hpp"

#include "log.hpp"

#include <arpa/inet.h>

#include <cstring>
#include <ctime>

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

BruteForceGuard::BruteForceGuard(const Config& config, Store& store, const Clock& clock)
    : config_(config), store_(store), clock_(clock),
      login_source_(config.login_per_source, config.max_tracked),
      login_user_(config.login_per_user, config.max_tracked),
      wrong_codes_(config.wrong_codes, config.max_tracked),
      password_changes_(config.password_changes, config.max_tracked)
{
}

void BruteForceGuard::reconfigure()
{
    login_source_.set_limit(config_.login_per_source, config_.max_tracked);
    login_user_.set_limit(config_.login_per_user, config_.max_tracked);
    wrong_codes_.set_limit(config_.wrong_codes, config_.max_tracked);
    password_changes_.set_limit(config_.password_changes, config_.max_tracked);
}

void BruteForceGuard::load_locks()
{
    const std::int64_t now = clock_.now();
    const std::int64_t now_ms = clock_.monotonic_ms();
    for (const auto& stored : store_.locks(now)) {
        // A lock never outlasts its configured length, whatever the wall clock said meanwhile.
        const std::int64_t left =
            std::min<std::int64_t>(stored.locked_until - now, config_.lock_duration.count());
        locks_[{stored.account, stored.channel}] =
            RunningLock{stored.name, now + left, now_ms + left * 1000, stored.failures};
    }
}

std::string BruteForceGuard::code_key(std::int64_t account, const std::string& channel)
{
    return std::to_string(account) + "\t" + channel;
}

BruteForceGuard::RunningLock* BruteForceGuard::running_lock(const LockKey& key)
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

Verdict BruteForceGuard::locked_verdict(const RunningLock& lock) const
{
    Verdict verdict;
    verdict.kind = Verdict::Kind::Locked;
    verdict.locked_until = lock.locked_until;
    verdict.text = "This account is locked after too many wrong verification codes until " +
                   local_time(lock.locked_until) +
                   ". An administrator can unlock it sooner with `fotoauthctl unlock " + lock.user +
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
    const RunningLock* lock = running_lock({*attempt.account, attempt.channel});
    if (!lock)
        return std::nullopt;
    return locked_verdict(*lock);
}

void BruteForceGuard::count_refused(const Attempt& attempt)
{
    if (!attempt.account)
        return;
    RunningLock* lock = running_lock({*attempt.account, attempt.channel});
    if (!lock)
        return;
    ++lock->failures;
    store_.save_lock(
        {*attempt.account, lock->user, attempt.channel, lock->locked_until, lock->failures});
}

Verdict BruteForceGuard::admit_login(const Attempt& attempt)
{
    if (auto lock = current_lock(attempt)) {
        count_refused(attempt);
        return *lock;
    }

    const std::int64_t now_ms = clock_.monotonic_ms();
    if (!attempt.source.empty()) {
        if (const auto wait = login_source_.wait_ms(attempt.source, now_ms); wait > 0)
            return rate_limited(wait, "Too many login attempts from your address.");
    }
    // The per-user window is kept apart for each channel, so that guessing over the password
    // path cannot hold the owner's key logins or the console back.
    const std::string user_key = attempt.user + "\t" + attempt.channel;
    if (const auto wait = login_user_.wait_ms(user_key, now_ms); wait > 0)
        return rate_limited(wait, "Too many login attempts for this account.");

    if (!attempt.source.empty() &&
        login_source_.record(attempt.source, now_ms, attempt.source_label))
        log::audit("source-blocked", "Login limit reached for a source address",
                   {{"RHOST", attempt.source_label}, {"REASON", "login-source-limit"}});
    const std::string label =
        (attempt.user_resolves ? attempt.user : "(a name that does not resolve)") +
        (attempt.channel == "password" ? "" : " (" + channel_label(attempt.channel) + ")");
    if (login_user_.record(user_key, now_ms, label))
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
    const auto wait =
        wrong_codes_.wait_ms(code_key(*attempt.account, attempt.channel), clock_.monotonic_ms());
    if (wait > 0)
        return rate_limited(wait, "Too many wrong verification codes.");
    return {};
}

void BruteForceGuard::record_wrong_code(const Attempt& attempt)
{
    if (!attempt.account)
        return;
    const std::string key = code_key(*attempt.account, attempt.channel);
    const bool full = wrong_codes_.record(key, clock_.monotonic_ms());
    // The console is never locked: its own window is all that slows it down.
    if (!full || attempt.channel == "console")
        return;

    const auto failures = static_cast<std::int64_t>(wrong_codes_.count(key, clock_.monotonic_ms()));
    const std::int64_t until = clock_.now() + config_.lock_duration.count();
    RunningLock lock{attempt.user, until,
                     clock_.monotonic_ms() + config_.lock_duration.count() * 1000, failures};
    locks_[{*attempt.account, attempt.channel}] = lock;
    store_.save_lock({*attempt.account, attempt.user, attempt.channel, until, failures});
    log::audit("account-locked", "Account locked after too many wrong verification codes",
               {{"USER", attempt.user},
                {"RHOST", attempt.source_label},
                {"CHANNEL", log::printable(attempt.channel, 40)},
                {"REASON", "code-limit"},
                {"LOCKED_UNTIL", std::to_string(until)}});
}

std::size_t BruteForceGuard::unlock(std::int64_t account, const std::string& user)
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
    const std::string prefix = std::to_string(account) + "\t";
    wrong_codes_.clear_if([&](const std::string& key) { return starts_with(key, prefix); });
    login_user_.clear_if([&](const std::string& key) { return starts_with(key, user + "\t"); });
    log::audit("account-unlocked", "Account unlocked by root",
               {{"USER", user}, {"LOCKS", std::to_string(lifted)}});
    return lifted;
}

std::size_t BruteForceGuard::unblock(const std::string& source)
{
    const std::size_t cleared = login_source_.clear(source) ? 1 : 0;
    log::audit("source-unblocked", "Source login limit cleared by root",
               {{"RHOST", source}, {"WINDOWS", std::to_string(cleared)}});
    return cleared;
}

std::vector<std::string> BruteForceGuard::listing()
{
    std::vector<std::string> lines;
    const std::int64_t now = clock_.now();
    const std::int64_t now_ms = clock_.monotonic_ms();
    for (auto it = locks_.begin(); it != locks_.end();) {
        const auto& [key, lock] = *it;
        if (lock.ends_at_ms <= now_ms) {
            store_.delete_lock(key.first, key.second);
            it = locks_.erase(it);
            continue;
        }
        lines.push_back("lock\t" + lock.user + "\t" + channel_label(key.second) + "\t" +
                        std::to_string(lock.locked_until) + "\t" + std::to_string(lock.failures));
        ++it;
    }
    const auto add_full = [&](SlidingWindows& windows, const char* kind) {
        for (const auto& full : windows.full_windows(now_ms)) {
            const std::int64_t until = now + seconds_rounded_up(full.free_at_ms - now_ms);
            lines.push_back(std::string("block\t") + (full.label.empty() ? full.key : full.label) +
                            "\t" + kind + "\t" + std::to_string(until) + "\t" +
                            std::to_string(full.attempts));
        }
    };
    add_full(login_source_, "login-source");
    add_full(login_user_, "login-user");
    return lines;
}

Verdict BruteForceGuard::admit_password_change(const std::string& user)
{
    const std::int64_t now_ms = clock_.monotonic_ms();
    if (const auto wait = password_changes_.wait_ms(user, now_ms); wait > 0)
        return rate_limited(wait, "Too many password change attempts.");
    password_changes_.record(user, now_ms);
    return {};
}

}  // namespace fotoauthd
