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

Match match(std::span<const std::uint8_t> secret, std::string_view code, std::int64_t now,
            unsigned window, std::int64_t last_accepted_step)
{
    Match result;
    if (!is_code_shape(code))
        return result;

    const std::int64_t current = step_of(now);
    const auto reach = static_cast<std::int64_t>(window);
    bool replayed = false;
    for (std::int64_t step = current - reach; step <= current + reach; ++step) {
        if (!equal_in_constant_time(code_for_step(secret, step), code))
            continue;
        if (step > last_accepted_step && result.kind != MatchKind::Accepted) {
            result.kind = MatchKind::Accepted;
            result.step = step;
        } else if (step <= last_accepted_step) {
            replayed = true;
            if (result.kind != MatchKind::Accepted)
                result.step = step;
        }
    }
    if (result.kind != MatchKind::Accepted && replayed)
        result.kind = MatchKind::Replayed;
    return result;
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
