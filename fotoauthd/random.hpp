// Cryptographic randomness from the kernel (getrandom), for secrets, recovery codes and nonces.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace fotoauthd {

// Fills `out` from getrandom(2); throws std::system_error when the kernel fails.
void random_bytes(std::span<std::uint8_t> out);

// `bytes` random bytes as lower-case hex.
std::string random_hex(std::size_t bytes);

// The key in `path`, created with `bytes` random bytes (mode 0600) when the file does not exist.
// Throws std::runtime_error when it cannot be read or has the wrong size.
std::vector<std::uint8_t> load_or_create_key(const std::string& path, std::size_t bytes);

}  // namespace fotoauthd
