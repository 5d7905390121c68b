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
#include <memory>
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

// The keys of one daemon while the secrets key is being replaced (docs/secrets.md, "Rotating
// the secrets key"): the current key seals, the others only open. A secret sealed with an older
// key, or with the next key that other servers of a fleet already seal with, still opens here,
// so that no login is refused while the servers change keys one by one.
class KeyRing {
public:
    // A ring of one key, the usual case. Throws std::invalid_argument as SecretBox does. Not
    // explicit: wherever one key is given (the stores' tests), a ring of it is what is meant.
    KeyRing(std::vector<std::uint8_t> current);
    // `others` only open; a copy of the current key among them is dropped.
    KeyRing(std::vector<std::uint8_t> current, std::vector<std::vector<std::uint8_t>> others);

    struct Opened {
        std::vector<std::uint8_t> secret;
        // False when another key than the current one opened it: a reseal would change it.
        bool by_current_key = true;
    };

    std::vector<std::uint8_t> seal(std::span<const std::uint8_t> secret,
                                   std::int64_t account) const;
    // Nothing when no key of the ring opens it for this account.
    std::optional<Opened> open(std::span<const std::uint8_t> sealed, std::int64_t account) const;

    // The current key's id (SecretBox::key_id).
    std::string key_id() const;
    // The ids of the keys that only open, separated by ", " (empty when there are none).
    std::string other_key_ids() const;
    // How many keys only open (0 when no rotation is under way).
    std::size_t other_keys() const { return boxes_.size() - 1; }

private:
    // The current key first. Boxes are neither copied nor moved: the ring moves the pointers.
    std::vector<std::unique_ptr<SecretBox>> boxes_;
};

// The key ring of the daemon, each key looked up first as a systemd credential (when systemd
// passes credentials, $CREDENTIALS_DIRECTORY) and then as a file in `state_directory`:
// - current, seals and opens: credential `fotoauthd-secrets-key`, file `secrets.key`; with
//   `create`, the file is created with 32 random bytes (mode 0600) when no key exists yet;
// - next and previous, open only: `fotoauthd-secrets-key-next` / `secrets.key.next` and
//   `fotoauthd-secrets-key-previous` / `secrets.key.previous`, used when present.
// Throws std::runtime_error naming the file when a key does not have exactly 32 bytes, or when
// there is no current key and it may not be created: without `create`, or when an open-only key
// exists (a half-done rotation: a fresh current key would seal new enrolments with a key no
// other server has).
KeyRing load_secrets_keys(const std::string& state_directory, bool create = true);

}  // namespace fotoauthd
