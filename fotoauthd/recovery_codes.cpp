#include "recovery_codes.hpp"

#include "random.hpp"
#include "totp.hpp"

#include <crypt.h>

#include <array>
#include <cctype>
#include <cstring>
#include <cstring>
#include <memory>
#include <set>
#include <stdexcept>

namespace fotoauthd::recovery {

namespace {

// yescrypt cost factor. Recovery codes carry 60 bits of entropy, so the hash needs to slow down
// an offline search of a stolen database, not to stretch a weak password; a low cost keeps a
// login that checks ten hashes well under a tenth of a second.
constexpr unsigned long kYescryptCost = 1;

// Reads a symbol the way a person would mean it; 0 when it is not part of the alphabet.
char canonical_symbol(char typed)
{
    const char upper = static_cast<char>(std::toupper(static_cast<unsigned char>(typed)));
    switch (upper) {
    case 'I':
    case 'L': return '1';
    case 'O': return '0';
    default: return kAlphabet.find(upper) == std::string_view::npos ? 0 : upper;
    }
}

}  // namespace

std::string generate()
{
    std::array<std::uint8_t, kSymbols> raw{};
    random_bytes(raw);

    std::string code;
    for (std::size_t i = 0; i < kSymbols; ++i) {
        if (i > 0 && i % 4 == 0)
            code += '-';
        // 256 is a multiple of 32, so the low five bits are uniform.
        code += kAlphabet[raw[i] & 0x1f];
    }
    return code;
}

std::vector<std::string> generate_set()
{
    std::set<std::string> seen;
    std::vector<std::string> codes;
    while (codes.size() < kCodesPerSet) {
        std::string code = generate();
        if (seen.insert(code).second)
            codes.push_back(std::move(code));
    }
    return codes;
}

std::optional<std::string> normalize(std::string_view typed)
{
    if (typed.size() > 32)
        return std::nullopt;

    std::string symbols;
    for (char c : typed) {
        if (c == '-' || c == ' ')
            continue;
        const char symbol = canonical_symbol(c);
        if (symbol == 0)
            return std::nullopt;
        symbols += symbol;
    }
    if (symbols.size() != kSymbols)
        return std::nullopt;
    return symbols;
}

std::string hash(std::string_view normalized)
{
    std::array<std::uint8_t, 16> entropy{};
    random_bytes(entropy);

    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!crypt_gensalt_rn("$y$", kYescryptCost, reinterpret_cast<const char*>(entropy.data()),
                          static_cast<int>(entropy.size()), setting, sizeof(setting)))
        throw std::runtime_error("crypt_gensalt_rn failed for yescrypt");

    auto data = std::make_unique<crypt_data>();
    const std::string phrase(normalized);
    const char* result = crypt_r(phrase.c_str(), setting, data.get());
    if (!result || result[0] == '*')
        throw std::runtime_error("crypt_r failed for yescrypt");
    std::string out(result);
    explicit_bzero(data.get(), sizeof(crypt_data));
    return out;
}

bool verify(std::string_view normalized, const std::string& stored_hash)
{
    auto data = std::make_unique<crypt_data>();
    const std::string phrase(normalized);
    const char* result = crypt_r(phrase.c_str(), stored_hash.c_str(), data.get());
    const bool same =
        result && result[0] != '*' && totp::equal_in_constant_time(result, stored_hash);
    explicit_bzero(data.get(), sizeof(crypt_data));
    return same;
}

}  // namespace fotoauthd::recovery
