// Cryptographic randomness from the kernel (getrandom), for secrets, recovery codes and nonces.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace fotoauthd {

// Fills `out` from getrandom(2); throws std::system_error when the kernel fails.
void random_bytes(std::span<std::uint8_t> out);

// `bytes` random bytes as lower-case hex.
std::string random_hex(std::size_t bytes);

}  // namespace fotoauthd
