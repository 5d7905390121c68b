#include "store.hpp"

namespace fotoauthd {

const char* to_string(VerificationMode mode) noexcept
{
    return mode == VerificationMode::NewDevice ? "new-device" : "always";
}

std::optional<VerificationMode> parse_mode(std::string_view text) noexcept
{
    if (text == "always")
        return VerificationMode::Always;
    if (text == "new-device")
        return VerificationMode::NewDevice;
    return std::nullopt;
}

}  // namespace fotoauthd
