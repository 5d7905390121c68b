// Sliding-window counters: "at most N attempts within any W seconds" for many keys at once (source
// addresses, user names, account channels), on the monotonic clock.
//
// Memory is bounded: at most `max_keys` keys are tracked. When a new key arrives and the table is
// full, keys whose window is empty go first, then the least recently used key whose window is
// not full. A full window (a blocked source or user) is never evicted; when every tracked key is
// blocked, the new key is not tracked at all and its attempt is allowed, so a flood of new
// sources cannot push out the counters that hold an attacker, nor lock out a newcomer.
#pragma once

#include "config.hpp"

#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace fotoauthd {

class SlidingWindows {
public:
    SlidingWindows(Limit limit, std::size_t max_keys);

    // Milliseconds until the key may make another attempt; 0 when it may now.
    std::int64_t wait_ms(const std::string& key, std::int64_t now_ms);

    // Records an attempt; returns true when the window is full after it.
    bool record(const std::string& key, std::int64_t now_ms, const std::string& label = {});

    // Attempts inside the window now.
    std::size_t count(const std::string& key, std::int64_t now_ms);

    // Forgets a key; returns true when it was tracked.
    bool clear(const std::string& key);

    // Forgets every key for which `match(key)` is true; returns how many.
    template <typename Predicate> std::size_t clear_if(Predicate match);

    struct Full {
        std::string key;
        std::string label;
        std::int64_t free_at_ms = 0;  // when the oldest attempt leaves the window
        std::size_t attempts = 0;
    };
    // Every key whose window is full now.
    std::vector<Full> full_windows(std::int64_t now_ms);

    std::size_t tracked() const { return entries_.size(); }
    // A new limit for the attempts to come, after a configuration reload; the attempts already
    // recorded stay and count against it.
    void set_limit(Limit limit, std::size_t max_keys)
    {
        limit_ = limit;
        window_ms_ = limit.window.count() * 1000;
        max_keys_ = max_keys;
    }
    const Limit& limit() const { return limit_; }

private:
    struct Entry {
        std::vector<std::int64_t> times;  // attempt times in ms, oldest first, at most `attempts`
        std::string label;
        std::list<std::string>::iterator lru;
    };

    void expire(Entry& entry, std::int64_t now_ms) const;
    bool is_full(Entry& entry, std::int64_t now_ms) const;
    Entry* find(const std::string& key, std::int64_t now_ms);
    Entry* make_room_and_insert(const std::string& key, std::int64_t now_ms);
    void erase(std::unordered_map<std::string, Entry>::iterator it);

    Limit limit_;
    std::int64_t window_ms_;
    std::size_t max_keys_;
    std::unordered_map<std::string, Entry> entries_;
    std::list<std::string> lru_;  // most recently used first
};

template <typename Predicate> std::size_t SlidingWindows::clear_if(Predicate match)
{
    std::size_t removed = 0;
    for (auto it = entries_.begin(); it != entries_.end();) {
        auto next = std::next(it);
        if (match(it->first)) {
            erase(it);
            ++removed;
        }
        it = next;
    }
    return removed;
}

}  // namespace fotoauthd
