#include "clock_sync.hpp"

#include "log.hpp"

#include <sys/timex.h>

namespace fotoauthd {

namespace {

// The kernel adds 500 us per second to maxerror after the last update from a time daemon and
// gives up on the clock at 16 s (NTP_PHASE_LIMIT). The STA_UNSYNC flag and the TIME_ERROR
// result are not used: chronyd without `rtcsync` keeps STA_UNSYNC set on purpose, so that the
// kernel leaves the hardware clock alone, while it disciplines the system clock; reading the
// flag would warn for ever on such a host and disagree with timedatectl.
constexpr long kMaxErrorLimitUs = 16000000;

}  // namespace

bool KernelClockSync::synchronised()
{
    // modes = 0 only reads; setting anything would need CAP_SYS_TIME, which we never want here.
    struct timex state {};
    state.modes = 0;
    if (adjtimex(&state) < 0)
        return false;
    return state.maxerror < kMaxErrorLimitUs;
}

bool ClockSyncWatch::due(std::int64_t monotonic_ms) const
{
    return !last_read_ms_ || monotonic_ms - *last_read_ms_ >= kIntervalMs;
}

void ClockSyncWatch::check(std::int64_t monotonic_ms)
{
    if (!due(monotonic_ms))
        return;

    last_read_ms_ = monotonic_ms;
    const bool was = synchronised_;
    synchronised_ = source_.synchronised();

    if (was && !synchronised_)
        log::warning(
            "The system clock is not synchronised with a time server: verification codes may be refused; enable time synchronisation (timedatectl set-ntp true, chrony or ntpd)");
    else if (!was && synchronised_)
        log::info("The system clock is synchronised again");
}

}  // namespace fotoauthd
