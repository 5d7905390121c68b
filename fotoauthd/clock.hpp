// The wall clock, behind an interface so that unit tests can set the time. TOTP steps, lapses and
// timestamps all use unix seconds from here.
#pragma once

#include <chrono>
#include <cstdint>

namespace fotoauthd {

class Clock {
public:
    virtual ~Clock() = default;
    virtual std::int64_t now() const = 0;  // seconds since the epoch
};

class SystemClock final : public Clock {
public:
    std::int64_t now() const override
    {
        return std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }
};

}  // namespace fotoauthd
