// Sealing the TOTP secrets at rest (docs/secrets.md). The database holds each secret encrypted
// and authenticated with ChaCha20-Poly1305 under a key that only the daemons hold (a root-only
// key file next to the database, or a systemd credential), so that a copy of the database alone,
// a backup or a dump, does not give away anyone's second factor.
//
// A sealed secret is: version byte 0x01, a 12-byte random nonce, the ciphertext, the 16-byte
// tag. The associated data names the account the secret belongs to, so a sealed secret copied
// into another account's row does not open there.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace fotoauthd {

class SecretBox {
public:
    static constexpr std::size_t kKeyBytes = 32;
    static constexpr std::uint8_t kVersion = 1;
    static constexpr std::size_t kNonceBytes = 12;
    static constexpr std::size_t kTagBytes = 16;

    // Throws std::invalid_argument unless the key has kKeyBytes bytes.
    explicit SecretBox(std::vector<std::uint8_t> key);
    ~SecretBox();
    SecretBox(const SecretBox&) = delete;
    SecretBox& operator=(const SecretBox&) = delete;

    std::vector<std::uint8_t> seal(std::span<const std::uint8_t> secret,
                                   std::int64_t account) const;
    // Nothing when the text was not sealed with this key for this account, or was altered.
    std::optional<std::vector<std::uint8_t>> open(std::span<const std::uint8_t> sealed,
                                                  std::int64_t account) const;

    // A short, non-secret name of the key (the first bytes of a hash of it), for the log: tells
    // which key a database was sealed with without revealing it.
    std::string key_id() const;

private:
    std::vector<std::uint8_t> key_;
};

// The key the daemon seals with: the systemd credential `fotoauthd-secrets-key` when systemd
// passes one ($CREDENTIALS_DIRECTORY), else the file `secrets.key` in `state_directory`, created
// with 32 random bytes (mode 0600) when missing.
std::vector<std::uint8_t> load_secrets_key(const std::string& state_directory);

}  // namespace fotoauthd
