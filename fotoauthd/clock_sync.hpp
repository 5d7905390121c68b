// Whether the server's own clock is synchronised (docs/clock-drift.md). TOTP codes are only as
// good as both clocks: a server clock that drifts makes every user's codes fail at once, so the
// daemon warns in its log and on the status page.
#pragma once

#include <cstdint>
#include <optional>

namespace fotoauthd {

class ClockSync {
public:
    virtual ~ClockSync() = default;
    virtual bool synchronised() = 0;
};

// The kernel's view, decided as timedatectl decides "System clock synchronized" (NTPSynchronized,
// systemd 243 and later): adjtimex() in read-only mode (modes = 0), synchronised while the
// kernel's maximum error estimate is below 16 s. Never changes the clock. A failed call counts
// as not synchronised.
class KernelClockSync final : public ClockSync {
public:
    bool synchronised() override;
};

// Called from the daemon's 1-second tick: reads `source` at the first check and then at most
// once a minute, warns in the log once each time the clock is found unsynchronised and says so
// once when it is synchronised again. Until the first check it reports synchronised, so that a
// daemon that has not looked yet does not alarm anyone.
class ClockSyncWatch {
public:
    static constexpr std::int64_t kIntervalMs = 60 * 1000;

    explicit ClockSyncWatch(ClockSync& source) : source_(source) {}

    void check(std::int64_t monotonic_ms);

    // The last reading, for the Status answer.
    bool synchronised() const { return synchronised_; }

private:
    bool due(std::int64_t monotonic_ms) const;

    ClockSync& source_;
    std::optional<std::int64_t> last_read_ms_;
    bool synchronised_ = true;
};

}  // namespace fotoauthd
