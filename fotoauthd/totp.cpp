#include "totp.hpp"

#include <liboath/oath.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>

namespace fotoauthd::totp {

void init()
{
    const int rc = oath_init();
    if (rc != OATH_OK)
        throw std::runtime_error(std::string("liboath: ") + oath_strerror(rc));
}

std::int64_t step_of(std::int64_t unix_time) noexcept
{
    return unix_time / static_cast<std::int64_t>(kStepSeconds);
}

std::string code_for_step(std::span<const std::uint8_t> secret, std::int64_t step, unsigned digits)
{
    char output[16] = {};
    const auto when = static_cast<time_t>(step * static_cast<std::int64_t>(kStepSeconds));
    const int rc = oath_totp_generate(reinterpret_cast<const char*>(secret.data()), secret.size(),
                                      when, kStepSeconds, 0, digits, output);
    if (rc != OATH_OK)
        throw std::runtime_error(std::string("liboath: ") + oath_strerror(rc));
    return std::string(output, digits);
}

bool is_code_shape(std::string_view text) noexcept
{
    if (text.size() != kDigits)
        return false;
    for (char c : text)
        if (c < '0' || c > '9')
            return false;
    return true;
}

bool equal_in_constant_time(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size())
        return false;
    unsigned char difference = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
        difference |= static_cast<unsigned char>(a[i] ^ b[i]);
    return difference == 0;
}

namespace {

std::int64_t distance(std::int64_t a, std::int64_t b) noexcept
{
    return a > b ? a - b : b - a;
}

// Keeps the best match seen so far, in the order Accepted, Replayed, OutsideWindow. Steps are
// fed in ascending order. Among accepted steps the latest wins: when the same six digits are
// the code of two steps in the window, accepting the later one uses up both, so the digits are
// not accepted a second time. Outside the window the step nearest to now wins.
class BestMatch {
public:
    explicit BestMatch(std::int64_t current) : current_(current) {}

    void inside(std::int64_t step, bool replayed)
    {
        const MatchKind kind = replayed ? MatchKind::Replayed : MatchKind::Accepted;
        const bool later_accepted = kind == MatchKind::Accepted && best_.kind == kind;
        if (rank(kind) < rank(best_.kind) || later_accepted)
            take(kind, step);
    }

    void outside(std::int64_t step)
    {
        const bool better_kind = rank(MatchKind::OutsideWindow) < rank(best_.kind);
        const bool nearer = best_.kind == MatchKind::OutsideWindow &&
                            distance(step, current_) < distance(best_.step, current_);
        if (better_kind || nearer)
            take(MatchKind::OutsideWindow, step);
    }

    Match result() const { return best_; }

private:
    static int rank(MatchKind kind) noexcept { return static_cast<int>(kind); }

    void take(MatchKind kind, std::int64_t step)
    {
        best_.kind = kind;
        best_.step = step;
        best_.offset = step - current_;
    }

    std::int64_t current_;
    Match best_;
};

}  // namespace

Match match(std::span<const std::uint8_t> secret, std::string_view code, std::int64_t now,
            unsigned window, std::int64_t last_accepted_step, unsigned drift_search)
{
    if (!is_code_shape(code))
        return Match{};

    const std::int64_t current = step_of(now);
    const auto reach = static_cast<std::int64_t>(window);
    const auto search = static_cast<std::int64_t>(drift_search);
    BestMatch best(current);
    for (std::int64_t step = current - reach - search; step <= current + reach + search; ++step) {
        if (!equal_in_constant_time(code_for_step(secret, step), code))
            continue;
        const bool used = step <= last_accepted_step;
        if (distance(step, current) <= reach)
            best.inside(step, used);
        else if (!used)
            best.outside(step);
    }
    return best.result();
}

std::string base32(std::span<const std::uint8_t> secret)
{
    char* out = nullptr;
    size_t length = 0;
    const int rc = oath_base32_encode(reinterpret_cast<const char*>(secret.data()), secret.size(),
                                      &out, &length);
    if (rc != OATH_OK)
        throw std::runtime_error(std::string("liboath: ") + oath_strerror(rc));
    std::unique_ptr<char, decltype(&std::free)> owner(out, &std::free);
    std::string text(out, length);
    while (!text.empty() && text.back() == '=')
        text.pop_back();
    return text;
}

}  // namespace fotoauthd::totp
