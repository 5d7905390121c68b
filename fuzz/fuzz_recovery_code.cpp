// The recovery-code reader (fotoauthd/recovery_codes.hpp normalize) on arbitrary typed text: what
// a user types at the login prompt reaches it unchanged.
//
// It checks the reader's promises: what it accepts is exactly twelve symbols of the alphabet, a
// canonical form reads as itself, and the display form of that code (XXXX-XXXX-XXXX) and its
// lower case are read as the same code.
#include "check.hpp"

#include "recovery_codes.hpp"

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace recovery = fotoauthd::recovery;

namespace {

std::string display_form(const std::string& symbols)
{
    return symbols.substr(0, 4) + "-" + symbols.substr(4, 4) + "-" + symbols.substr(8, 4);
}

std::string lower_case(std::string text)
{
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view typed(reinterpret_cast<const char*>(data), size);
    const auto normalized = recovery::normalize(typed);
    if (!normalized)
        return 0;

    fuzz::require(normalized->size() == recovery::kSymbols, "a code has twelve symbols");
    fuzz::require(
        std::all_of(normalized->begin(), normalized->end(),
                    [](char c) { return recovery::kAlphabet.find(c) != std::string_view::npos; }),
        "a code has symbols of the alphabet only");
    fuzz::require(recovery::normalize(*normalized) == normalized,
                  "a canonical code reads as itself");
    fuzz::require(recovery::normalize(display_form(*normalized)) == normalized,
                  "the display form reads as the same code");
    fuzz::require(recovery::normalize(lower_case(display_form(*normalized))) == normalized,
                  "lower case reads as the same code");
    return 0;
}
