// The clocks, behind an interface so that unit tests can set the time. TOTP steps, lapses and
// timestamps use the wall clock (unix seconds); rate-limit windows and running locks use the
// monotonic clock, so that setting the wall clock neither resets nor extends them.
#pragma once

#include <chrono>
#include <cstdint>

namespace fotoauthd {

class Clock {
public:
    virtual ~Clock() = default;
    virtual std::int64_t now() const = 0;           // seconds since the epoch
    virtual std::int64_t monotonic_ms() const = 0;  // milliseconds since some fixed point
};

class SystemClock final : public Clock {
public:
    std::int64_t now() const override
    {
        return std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }
    std::int64_t monotonic_ms() const override
    {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }
};

}  // namespace fotoauthd
