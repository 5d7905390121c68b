#include "secret_box.hpp"

#include "random.hpp"

#include <nettle/chacha-poly1305.h>
#include <nettle/sha2.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace fotoauthd {

namespace {

constexpr char kCredentialName[] = "fotoauthd-secrets-key";
constexpr char kFileName[] = "secrets.key";
// The keys that only open, by role: the one the fleet moves to, the one it moves from.
constexpr const char* kOtherRoles[] = {"next", "previous"};

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

// The key in `path`, or nothing when there is no such file. Exactly 32 raw bytes: a key written
// as text (hex, base64) is refused rather than taken for another key.
std::optional<std::vector<std::uint8_t>> read_key_if_present(const std::string& path)
{
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT)
        return std::nullopt;
    if (fd < 0)
        throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));

    // One byte more than a key, to notice a longer file.
    std::vector<std::uint8_t> key(SecretBox::kKeyBytes + 1);
    std::size_t got = 0;
    int error = 0;
    while (got < key.size()) {
        const ssize_t n = read(fd, key.data() + got, key.size() - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            error = errno;
        if (n <= 0)
            break;
        got += static_cast<std::size_t>(n);
    }
    close(fd);
    if (error != 0 || got != SecretBox::kKeyBytes) {
        explicit_bzero(key.data(), key.size());
        if (error != 0)
            throw std::runtime_error("cannot read " + path + ": " + std::strerror(error));
        throw std::runtime_error(path +
                                 " must hold exactly 32 bytes, the raw key (docs/secrets.md)");
    }
    key.pop_back();
    return key;
}

// One key of the ring: the credential `credential` when systemd passes it, else the file `file`
// in the state directory.
std::optional<std::vector<std::uint8_t>>
find_key(const std::string& state_directory, const std::string& credential, const std::string& file)
{
    if (const char* credentials = std::getenv("CREDENTIALS_DIRECTORY");
        credentials && *credentials) {
        if (auto key = read_key_if_present(std::string(credentials) + "/" + credential))
            return key;
    }
    return read_key_if_present(state_directory + "/" + file);
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

KeyRing::KeyRing(std::vector<std::uint8_t> current)
{
    boxes_.push_back(std::make_unique<SecretBox>(std::move(current)));
}

KeyRing::KeyRing(std::vector<std::uint8_t> current, std::vector<std::vector<std::uint8_t>> others)
    : KeyRing(std::move(current))
{
    for (auto& key : others) {
        auto box = std::make_unique<SecretBox>(std::move(key));
        const bool known = std::any_of(boxes_.begin(), boxes_.end(), [&](const auto& held) {
            return held->key_id() == box->key_id();
        });
        if (!known)
            boxes_.push_back(std::move(box));
    }
}

std::vector<std::uint8_t> KeyRing::seal(std::span<const std::uint8_t> secret,
                                        std::int64_t account) const
{
    return boxes_.front()->seal(secret, account);
}

std::optional<KeyRing::Opened> KeyRing::open(std::span<const std::uint8_t> sealed,
                                             std::int64_t account) const
{
    for (std::size_t i = 0; i < boxes_.size(); ++i) {
        if (auto secret = boxes_[i]->open(sealed, account))
            return Opened{std::move(*secret), i == 0};
    }
    return std::nullopt;
}

std::string KeyRing::key_id() const
{
    return boxes_.front()->key_id();
}

std::string KeyRing::other_key_ids() const
{
    std::string ids;
    for (std::size_t i = 1; i < boxes_.size(); ++i)
        ids += (i == 1 ? "" : ", ") + boxes_[i]->key_id();
    return ids;
}

KeyRing load_secrets_keys(const std::string& state_directory, bool create)
{
    std::vector<std::vector<std::uint8_t>> others;
    std::vector<std::string> other_names;
    for (const std::string role : kOtherRoles) {
        if (auto key = find_key(state_directory, std::string(kCredentialName) + "-" + role,
                                std::string(kFileName) + "." + role)) {
            others.push_back(std::move(*key));
            other_names.push_back(role);
        }
    }

    auto current = find_key(state_directory, kCredentialName, kFileName);
    if (!current && !others.empty())
        throw std::runtime_error("a " + other_names.front() + " secrets key exists but no " +
                                 "current one (" + state_directory + "/" + kFileName +
                                 "): finish installing the keys (docs/secrets.md)");
    if (!current && !create)
        throw std::runtime_error("no secrets key: neither " + state_directory + "/" + kFileName +
                                 " nor the credential " + kCredentialName);
    if (!current)
        current = load_or_create_key(state_directory + "/" + kFileName, SecretBox::kKeyBytes);

    return KeyRing(std::move(*current), std::move(others));
}

}  // namespace fotoauthd
