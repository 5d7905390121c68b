#include "secret_box.hpp"

#include "random.hpp"

#include <nettle/chacha-poly1305.h>
#include <nettle/sha2.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace fotoauthd {

namespace {

constexpr char kCredentialName[] = "fotoauthd-secrets-key";

// What the tag also covers: which secret of which account this is.
std::string associated_data(std::int64_t account)
{
    return "fotoauthd totp secret, account " + std::to_string(account);
}

void start(chacha_poly1305_ctx& context, const std::vector<std::uint8_t>& key,
           const std::uint8_t* nonce, std::int64_t account)
{
    chacha_poly1305_set_key(&context, key.data());
    chacha_poly1305_set_nonce(&context, nonce);
    const std::string data = associated_data(account);
    chacha_poly1305_update(&context, data.size(),
                           reinterpret_cast<const std::uint8_t*>(data.data()));
}

std::vector<std::uint8_t> read_credential(const std::string& path)
{
    std::ifstream file(path, std::ios::binary);
    std::vector<std::uint8_t> key((std::istreambuf_iterator<char>(file)),
                                  std::istreambuf_iterator<char>());
    if (!file.eof() && file.fail())
        throw std::runtime_error("cannot read the credential " + path);
    if (key.size() != SecretBox::kKeyBytes)
        throw std::runtime_error("the credential " + path + " must hold exactly 32 bytes");
    return key;
}

}  // namespace

SecretBox::SecretBox(std::vector<std::uint8_t> key) : key_(std::move(key))
{
    if (key_.size() != kKeyBytes)
        throw std::invalid_argument("a secrets key has 32 bytes");
}

SecretBox::~SecretBox()
{
    // The key must not outlive the box in freed memory.
    explicit_bzero(key_.data(), key_.size());
}

std::vector<std::uint8_t> SecretBox::seal(std::span<const std::uint8_t> secret,
                                          std::int64_t account) const
{
    std::vector<std::uint8_t> sealed(1 + kNonceBytes + secret.size() + kTagBytes);
    sealed[0] = kVersion;
    std::uint8_t* nonce = sealed.data() + 1;
    random_bytes({nonce, kNonceBytes});

    chacha_poly1305_ctx context;
    start(context, key_, nonce, account);
    chacha_poly1305_encrypt(&context, secret.size(), nonce + kNonceBytes, secret.data());
    chacha_poly1305_digest(&context, kTagBytes, nonce + kNonceBytes + secret.size());
    explicit_bzero(&context, sizeof(context));
    return sealed;
}

std::optional<std::vector<std::uint8_t>> SecretBox::open(std::span<const std::uint8_t> sealed,
                                                         std::int64_t account) const
{
    if (sealed.size() < 1 + kNonceBytes + kTagBytes || sealed[0] != kVersion)
        return std::nullopt;
    const std::uint8_t* nonce = sealed.data() + 1;
    const std::size_t length = sealed.size() - 1 - kNonceBytes - kTagBytes;
    const std::uint8_t* ciphertext = nonce + kNonceBytes;

    chacha_poly1305_ctx context;
    start(context, key_, nonce, account);
    std::vector<std::uint8_t> secret(length);
    chacha_poly1305_decrypt(&context, length, secret.data(), ciphertext);
    std::uint8_t tag[kTagBytes];
    chacha_poly1305_digest(&context, kTagBytes, tag);
    explicit_bzero(&context, sizeof(context));

    // Compared without an early exit.
    std::uint8_t difference = 0;
    for (std::size_t i = 0; i < kTagBytes; ++i)
        difference |= static_cast<std::uint8_t>(tag[i] ^ ciphertext[length + i]);
    if (difference != 0) {
        explicit_bzero(secret.data(), secret.size());
        return std::nullopt;
    }
    return secret;
}

std::string SecretBox::key_id() const
{
    sha256_ctx context;
    sha256_init(&context);
    static constexpr char kLabel[] = "fotoauthd secrets key id";
    sha256_update(&context, sizeof(kLabel) - 1, reinterpret_cast<const std::uint8_t*>(kLabel));
    sha256_update(&context, key_.size(), key_.data());
    std::uint8_t digest[SHA256_DIGEST_SIZE];
    sha256_digest(&context, sizeof(digest), digest);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id;
    for (int i = 0; i < 6; ++i) {
        id += kHex[digest[i] >> 4];
        id += kHex[digest[i] & 0x0f];
    }
    return id;
}

std::vector<std::uint8_t> load_secrets_key(const std::string& state_directory)
{
    if (const char* credentials = std::getenv("CREDENTIALS_DIRECTORY");
        credentials && *credentials) {
        const std::string path = std::string(credentials) + "/" + kCredentialName;
        std::ifstream probe(path);
        if (probe.good())
            return read_credential(path);
    }
    return load_or_create_key(state_directory + "/secrets.key", SecretBox::kKeyBytes);
}

}  // namespace fotoauthd
