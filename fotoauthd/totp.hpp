// TOTP (RFC 6238) on top of liboath: HMAC-SHA-1, 30-second steps, 6 digits. This file decides
// which typed text counts as a code and which step it matches; the store makes a match single use.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace fotoauthd::totp {

inline constexpr unsigned kStepSeconds = 30;
inline constexpr unsigned kDigits = 6;

// Must run once before any other call (it initialises liboath).
void init();

// The step that contains `unix_time`.
std::int64_t step_of(std::int64_t unix_time) noexcept;

// The code of `step` for `secret`, with `digits` digits (6 for logins; RFC test vectors use 8).
std::string code_for_step(std::span<const std::uint8_t> secret, std::int64_t step,
                          unsigned digits = kDigits);

// True only for exactly six ASCII digits '0'..'9' (no spaces, signs, or other Unicode digits).
bool is_code_shape(std::string_view text) noexcept;

// Compares two equal-length strings without an early exit.
bool equal_in_constant_time(std::string_view a, std::string_view b) noexcept;

// In order of precedence: when a code matches several steps, the first kind here is reported.
enum class MatchKind { Accepted, Replayed, OutsideWindow, Wrong };

struct Match {
    MatchKind kind = MatchKind::Wrong;
    std::int64_t step = 0;    // the matching step, when Accepted, Replayed or OutsideWindow
    std::int64_t offset = 0;  // that step minus the current step (positive: the phone is ahead)
};

// Checks `code` against every step within `window` steps of now. A step at or before
// `last_accepted_step` never counts as Accepted (it reports Replayed), so neither a used code
// nor any code older than it can be used again.
//
// With `drift_search` > 0, the `drift_search` steps beyond the window on each side are checked
// too: a code that is not valid inside the window but matches one of them is OutsideWindow (a
// refusal that tells how far the phone's clock is off; the caller burns that step so that it is
// never accepted later). Steps out there at or before `last_accepted_step` are ignored: the
// past that the store already used gives no hint. When several steps match, inside the window
// wins (the latest unused step there, so that the same digits are not accepted twice), then the
// one nearest to now.
//
// All candidate steps of one call are computed and compared, so the time taken does not depend on
// which one matched. The daemon calls it first without the drift search and again with it only
// for a code the window did not accept: the time then tells accepted from refused, which the
// answer tells anyway, and nothing about which step or how far off.
Match match(std::span<const std::uint8_t> secret, std::string_view code, std::int64_t now,
            unsigned window, std::int64_t last_accepted_step, unsigned drift_search = 0);

// Base32 (RFC 4648, no padding needed for 20 bytes) for manual entry and the otpauth URI.
std::string base32(std::span<const std::uint8_t> secret);

}  // namespace fotoauthd::totp
