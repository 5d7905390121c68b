// Text helpers of fotoauthctl: times and lists for people, and words from elsewhere made safe
// to print on a terminal. Pure functions, tested on their own.
#pragma once

#include "options.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fotostudio::ctl {

// "YYYY-MM-DD HH:MM ZONE" in the local time zone (TZ), e.g. "2026-12-04 16:41 CET".
std::string format_local_time(std::uint64_t unix_time);

// The same with the seconds, "2026-12-04 16:41:07 CET": for a history, where a refused and a
// passed login often fall in one minute.
std::string format_local_time_with_seconds(std::uint64_t unix_time);

// A span of time in words, rounded to the unit that reads best: "45 seconds", "10 minutes",
// "24 hours".
std::string describe_duration(std::uint64_t seconds);

// The non-empty lines of text, without their line ends.
std::vector<std::string_view> split_lines(std::string_view text);

// text with control characters (which could move the cursor or retitle the terminal) replaced
// by '?', cut to at most max_bytes bytes on a character boundary and marked "..." when cut.
std::string printable(std::string_view text, std::size_t max_bytes);

// Removes, in place, the blanks people put between digit groups of a code they type. In place,
// so that a typed code never lands in a buffer its owner does not wipe.
void remove_blanks(std::string& typed) noexcept;

// What the mode means for a login, in a phrase that may span three lines.
std::string_view describe_mode(Mode mode) noexcept;

}  // namespace fotostudio::ctl
