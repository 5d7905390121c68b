#include "clock_drift.hpp"

#include "totp.hpp"

namespace fotoauthd::drift {

namespace {

constexpr std::uint64_t kMinute = 60;
constexpr std::uint64_t kHour = 60 * kMinute;
constexpr std::uint64_t kDay = 24 * kHour;
constexpr std::uint64_t kYear = 365 * kDay;

// The size of an offset in seconds, without overflow for any int64 (capped just past a year,
// which is all that the wording needs).
std::uint64_t seconds_off(std::int64_t offset)
{
    const std::uint64_t steps =
        offset < 0 ? 0 - static_cast<std::uint64_t>(offset) : static_cast<std::uint64_t>(offset);
    const std::uint64_t cap = kYear / totp::kStepSeconds + 1;
    return (steps < cap ? steps : cap) * totp::kStepSeconds;
}

std::string count_of(std::uint64_t amount, const char* unit)
{
    std::string text = "about " + std::to_string(amount) + " " + unit;
    if (amount != 1)
        text += 's';
    return text;
}

std::uint64_t rounded(std::uint64_t seconds, std::uint64_t unit)
{
    return (seconds + unit / 2) / unit;
}

// "about 1 minute" up to "about 119 minutes", then hours up to two days, then days up to a
// year: small numbers that a reader takes in at once and that never look like a code.
std::string how_far(std::int64_t offset)
{
    const std::uint64_t seconds = seconds_off(offset);
    const std::uint64_t minutes = rounded(seconds, kMinute);
    // The smallest offset, one step of 30 s, rounds up to "about 1 minute".
    if (minutes < 120)
        return count_of(minutes, "minute");
    const std::uint64_t hours = rounded(seconds, kHour);
    if (hours < 48)
        return count_of(hours, "hour");
    if (seconds <= kYear)
        return count_of(rounded(seconds, kDay), "day");
    return "more than a year";
}

}  // namespace

DriftRecord observe(const DriftRecord& before, std::int64_t offset, std::int64_t now)
{
    const std::int64_t change = offset - before.offset;
    const std::int64_t gap = now - before.at;
    // A gap below zero means the server's clock went back: start over rather than guess.
    const bool consistent = before.seen > 0 && change >= -1 && change <= 1 && gap >= 0 &&
                            gap <= kConsistentWithinSeconds;
    return DriftRecord{offset, consistent ? before.seen + 1 : 1, now};
}

DriftRecord settle()
{
    return DriftRecord{};
}

bool worth_a_hint(const DriftRecord& record)
{
    return record.seen >= kHintAfter;
}

std::string hint_for(const DriftRecord& record)
{
    const std::string advice =
        "check that its time is set automatically (network time), then use a new code.";
    if (record.offset == 0)
        return "Your authenticator app's clock seems to be off: " + advice;
    const char* direction = record.offset > 0 ? "ahead" : "behind";
    return "Your authenticator app's clock seems to be " + how_far(record.offset) + " " +
           direction + ": " + advice;
}

}  // namespace fotoauthd::drift
