#include "sliding_windows.hpp"

#include <algorithm>

namespace fotoauthd {

namespace {

// How many least-recently-used keys one insertion examines before giving up on eviction.
constexpr int kEvictionProbes = 32;

}  // namespace

SlidingWindows::SlidingWindows(Limit limit, std::size_t max_keys)
    : limit_(limit), window_ms_(limit.window.count() * 1000), max_keys_(max_keys)
{
}

void SlidingWindows::expire(Entry& entry, std::int64_t now_ms) const
{
    const auto first_alive = std::find_if(entry.times.begin(), entry.times.end(),
                                          [&](std::int64_t t) { return t > now_ms - window_ms_; });
    entry.times.erase(entry.times.begin(), first_alive);
}

bool SlidingWindows::is_full(Entry& entry, std::int64_t now_ms) const
{
    expire(entry, now_ms);
    return entry.times.size() >= limit_.attempts;
}

SlidingWindows::Entry* SlidingWindows::find(const std::string& key, std::int64_t now_ms)
{
    const auto it = entries_.find(key);
    if (it == entries_.end())
        return nullptr;
    expire(it->second, now_ms);
    return &it->second;
}

void SlidingWindows::erase(std::unordered_map<std::string, Entry>::iterator it)
{
    lru_.erase(it->second.lru);
    entries_.erase(it);
}

SlidingWindows::Entry* SlidingWindows::make_room_and_insert(const std::string& key,
                                                            std::int64_t now_ms)
{
    for (int probe = 0; entries_.size() >= max_keys_ && probe < kEvictionProbes && !lru_.empty();
         ++probe) {
        const auto victim = entries_.find(lru_.back());
        if (!is_full(victim->second, now_ms)) {
            erase(victim);
            continue;
        }
        // A blocked key stays; look at the next least recently used one.
        lru_.splice(lru_.begin(), lru_, victim->second.lru);
    }
    if (entries_.size() >= max_keys_)
        return nullptr;

    lru_.push_front(key);
    auto [it, inserted] = entries_.emplace(key, Entry{});
    it->second.lru = lru_.begin();
    it->second.times.reserve(std::min<std::size_t>(limit_.attempts, 64));
    return &it->second;
}

std::int64_t SlidingWindows::wait_ms(const std::string& key, std::int64_t now_ms)
{
    Entry* entry = find(key, now_ms);
    if (!entry || entry->times.size() < limit_.attempts)
        return 0;
    // The attempt that frees a place is the oldest of the last `attempts` ones.
    const std::int64_t oldest = entry->times[entry->times.size() - limit_.attempts];
    return std::max<std::int64_t>(1, oldest + window_ms_ - now_ms);
}

bool SlidingWindows::record(const std::string& key, std::int64_t now_ms, const std::string& label)
{
    Entry* entry = find(key, now_ms);
    if (!entry)
        entry = make_room_and_insert(key, now_ms);
    if (!entry)
        return false;  // every tracked key is blocked: this one goes uncounted, see the header

    lru_.splice(lru_.begin(), lru_, entry->lru);
    if (!label.empty())
        entry->label = label;
    entry->times.push_back(now_ms);
    // Only the newest `attempts` times matter for the decision.
    if (entry->times.size() > limit_.attempts)
        entry->times.erase(entry->times.begin(),
                           entry->times.end() - static_cast<std::ptrdiff_t>(limit_.attempts));
    return entry->times.size() >= limit_.attempts;
}

std::size_t SlidingWindows::count(const std::string& key, std::int64_t now_ms)
{
    Entry* entry = find(key, now_ms);
    return entry ? entry->times.size() : 0;
}

bool SlidingWindows::clear(const std::string& key)
{
    const auto it = entries_.find(key);
    if (it == entries_.end())
        return false;
    erase(it);
    return true;
}

std::vector<SlidingWindows::Full> SlidingWindows::full_windows(std::int64_t now_ms)
{
    std::vector<Full> out;
    for (auto& [key, entry] : entries_) {
        if (!is_full(entry, now_ms))
            continue;
        const std::int64_t oldest = entry.times[entry.times.size() - limit_.attempts];
        out.push_back({key, entry.label, oldest + window_ms_, entry.times.size()});
    }
    return out;
}

}  // namespace fotoauthd
