// The TOTP code reader (fotoauthd/totp.hpp is_code_shape and match) on arbitrary typed text,
// secrets, clocks and windows.
//
// Input layout (FuzzedDataProvider, in the order it consumes them): window 0-3, drift search
// 0-12, the current time, the last accepted step as an offset from the current step, a secret of
// 1-64 bytes, then the typed code.
// The window and drift search stay small because match() computes one HMAC per candidate step.
//
// It checks match()'s promises: only six ASCII digits can match; an Accepted or Replayed step
// lies inside the window, an OutsideWindow step beyond it but within the drift search; the
// reported step's code is the typed code; nothing at or before the last accepted step is
// Accepted; and the code of the current step is Accepted unless that step was already used (then it
// is Replayed, or Accepted for a later unused step that happens to have the same digits).
#include "check.hpp"

#include "totp.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace totp = fotoauthd::totp;

namespace {

// liboath's HMAC works on times from the epoch onwards; the daemon's clock never goes before it.
constexpr std::int64_t kLatestTime = std::int64_t{1} << 40;

bool is_six_digits(const std::string& text)
{
    if (text.size() != 6)
        return false;
    for (char c : text)
        if (c < '0' || c > '9')
            return false;
    return true;
}

std::int64_t distance(std::int64_t a, std::int64_t b)
{
    return a > b ? a - b : b - a;
}

void check_match(const totp::Match& found, const std::vector<std::uint8_t>& secret,
                 const std::string& code, std::int64_t now, unsigned window, unsigned drift,
                 std::int64_t last_accepted)
{
    const std::int64_t current = totp::step_of(now);
    if (found.kind == totp::MatchKind::Wrong)
        return;
    fuzz::require(is_six_digits(code), "only six digits match");
    fuzz::require(found.offset == found.step - current, "the offset is the step minus now");
    fuzz::require(totp::code_for_step(secret, found.step) == code, "the step's code was typed");

    const std::int64_t away = distance(found.step, current);
    switch (found.kind) {
    case totp::MatchKind::Accepted:
        fuzz::require(away <= window, "an accepted step lies inside the window");
        fuzz::require(found.step > last_accepted, "a used step is never accepted");
        break;
    case totp::MatchKind::Replayed:
        fuzz::require(away <= window, "a replayed step lies inside the window");
        fuzz::require(found.step <= last_accepted, "a replayed step was used");
        break;
    case totp::MatchKind::OutsideWindow:
        fuzz::require(away > window && away <= window + drift,
                      "a drift hint lies beyond the window and within the search");
        fuzz::require(found.step > last_accepted, "a used step gives no drift hint");
        break;
    case totp::MatchKind::Wrong: break;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static const bool initialised = (totp::init(), true);
    (void)initialised;

    FuzzedDataProvider input(data, size);
    const unsigned window = input.ConsumeIntegralInRange<unsigned>(0, 3);
    const unsigned drift = input.ConsumeIntegralInRange<unsigned>(0, 12);
    const std::int64_t now = input.ConsumeIntegralInRange<std::int64_t>(0, kLatestTime);
    const std::int64_t last_accepted =
        totp::step_of(now) + input.ConsumeIntegralInRange<std::int64_t>(-20, 20);
    const std::vector<std::uint8_t> secret =
        input.ConsumeBytes<std::uint8_t>(input.ConsumeIntegralInRange<std::size_t>(1, 64));
    const std::string code = input.ConsumeRemainingBytesAsString();
    if (secret.empty())
        return 0;

    fuzz::require(totp::is_code_shape(code) == is_six_digits(code),
                  "a code's shape is six ASCII digits");

    const totp::Match found = totp::match(secret, code, now, window, last_accepted, drift);
    check_match(found, secret, code, now, window, drift, last_accepted);

    // The code the phone shows right now, typed instead.
    const std::int64_t current = totp::step_of(now);
    const std::string right = totp::code_for_step(secret, current);
    const totp::Match expected = totp::match(secret, right, now, window, last_accepted, drift);
    check_match(expected, secret, right, now, window, drift, last_accepted);
    if (current > last_accepted)
        fuzz::require(expected.kind == totp::MatchKind::Accepted, "the current code is accepted");
    else  // Replayed, or Accepted for a later unused step of the window with the same digits
        fuzz::require(expected.kind == totp::MatchKind::Replayed ||
                          expected.kind == totp::MatchKind::Accepted,
                      "a used current code is refused as replayed");
    return 0;
}
