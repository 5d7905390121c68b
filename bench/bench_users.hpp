// The benchmark's users, shared by the population writer (bench-populate) and the driver
// (pam-bench), so that both derive the same names, secrets and recovery codes from an index
// without any file passing between them.
//
// User i is named "fsb" followed by i in seven digits; its TOTP secret is the 20 ASCII bytes
// "fsb-secret-NNNNNNNNN"; its recovery codes (ours: 10 of "XXXX-XXXX-XXXX") and scratch codes
// (google-authenticator: 5 of 8 digits) come from a fixed mixing function of (i, slot). Nothing
// here is secret: these accounts exist only inside the benchmark's mount namespace.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace fsbench {

inline constexpr std::size_t kSecretBytes = 20;
inline constexpr int kRecoveryCodes = 10;
inline constexpr int kScratchCodes = 5;
// The first uid of the benchmark's users: far above any real account's.
inline constexpr std::uint32_t kFirstUid = 3'000'000;
// Same alphabet as fotoauthd's recovery codes.
inline constexpr std::string_view kRecoveryAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

inline std::string user_name(long index)
{
    char name[32];
    std::snprintf(name, sizeof(name), "fsb%07ld", index);
    return name;
}

inline std::string secret_of(long index)
{
    char secret[32];
    std::snprintf(secret, sizeof(secret), "fsb-secret-%09ld", index);
    return std::string(secret, kSecretBytes);
}

// splitmix64: a well-spread 64-bit value from (index, slot).
inline std::uint64_t mix(long index, int slot)
{
    std::uint64_t x = static_cast<std::uint64_t>(index) * 0x9e3779b97f4a7c15ULL +
                      static_cast<std::uint64_t>(slot) * 0xbf58476d1ce4e5b9ULL + 1;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

inline std::string recovery_code(long index, int slot)
{
    std::uint64_t bits = mix(index, slot);
    std::string code;
    for (int i = 0; i < 12; ++i) {
        if (i > 0 && i % 4 == 0)
            code += '-';
        code += kRecoveryAlphabet[bits & 0x1f];
        bits >>= 5;
    }
    return code;
}

inline std::string scratch_code(long index, int slot)
{
    return std::to_string(10'000'000 + mix(index, 100 + slot) % 90'000'000);
}

}  // namespace fsbench
