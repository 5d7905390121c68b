// Single-use recovery codes: `XXXX-XXXX-XXXX`, 12 symbols of a 32-symbol alphabet (60 bits).
// Only a salted yescrypt hash of each code is stored; the clear codes exist once, in the answer
// to the enrolment confirmation.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fotoauthd::recovery {

inline constexpr std::size_t kCodesPerSet = 10;
inline constexpr std::size_t kSymbols = 12;

// The alphabet leaves out I, L, O and U so that a code read aloud or from paper is unambiguous.
inline constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

// One new code in display form, `XXXX-XXXX-XXXX`.
std::string generate();

// A set of kCodesPerSet distinct codes.
std::vector<std::string> generate_set();

// What the user typed, reduced to the 12 canonical symbols: dashes and spaces between groups
// dropped, lower case raised, and the look-alikes i/l read as 1 and o as 0. Nothing when the
// text cannot be a recovery code.
std::optional<std::string> normalize(std::string_view typed);

// A salted one-way hash of a normalized code, in crypt(3) form.
std::string hash(std::string_view normalized);

// True when `normalized` is the code behind `stored_hash`.
bool verify(std::string_view normalized, const std::string& stored_hash);

}  // namespace fotoauthd::recovery
