#include "devices.hpp"

#include "brute_force.hpp"
#include "log.hpp"

#include <nettle/base64.h>
#include <nettle/sha2.h>

#include <algorithm>
#include <vector>

namespace fotoauthd {

namespace {

bool is_listed(std::string_view service, const std::vector<std::string>& services)
{
    return std::find(services.begin(), services.end(), service) != services.end();
}

// Services that raise privileges inside a session: trust in the device the session came from
// says nothing about the person typing now.
bool raises_privileges(std::string_view service)
{
    for (std::string_view name :
         {"sudo", "sudo-i", "su", "su-l", "runuser", "runuser-l", "doas", "pkexec", "polkit-1"})
        if (service == name)
            return true;
    return false;
}

}  // namespace

std::optional<std::string> ssh_key_fingerprint(std::string_view base64_blob)
{
    if (base64_blob.empty() || base64_blob.size() > 16384)
        return std::nullopt;

    std::vector<std::uint8_t> blob(BASE64_DECODE_LENGTH(base64_blob.size()));
    base64_decode_ctx decoder;
    base64_decode_init(&decoder);
    std::size_t length = blob.size();
    if (!base64_decode_update(&decoder, &length, blob.data(), base64_blob.size(),
                              base64_blob.data()) ||
        !base64_decode_final(&decoder) || length == 0)
        return std::nullopt;

    std::uint8_t digest[SHA256_DIGEST_SIZE];
    sha256_ctx hash;
    sha256_init(&hash);
    sha256_update(&hash, length, blob.data());
    sha256_digest(&hash, sizeof(digest), digest);

    std::string text(BASE64_ENCODE_RAW_LENGTH(sizeof(digest)), '\0');
    base64_encode_raw(text.data(), sizeof(digest), digest);
    while (!text.empty() && text.back() == '=')
        text.pop_back();
    return "SHA256:" + text;
}

std::optional<DeviceIdentity> identify_device(const LoginFacts& facts, const Config& config)
{
    if (!facts.from_root)
        return std::nullopt;

    // "publickey TYPE BLOB" on the first line: the key that authenticated before this method.
    const std::string_view first = facts.auth_info.substr(0, facts.auth_info.find('\n'));
    if (first.substr(0, 10) == "publickey ") {
        const std::string_view rest = first.substr(10);
        const auto space = rest.find(' ');
        if (space == std::string_view::npos)
            return std::nullopt;
        const auto fingerprint = ssh_key_fingerprint(rest.substr(space + 1));
        if (!fingerprint)
            return std::nullopt;
        const std::string type = log::printable(rest.substr(0, space), 40);
        return DeviceIdentity{"ssh-key:" + *fingerprint, "ssh-key", type + " " + *fingerprint};
    }

    const std::string service = log::printable(facts.service, 40);
    if (config.trust_source_address && !facts.remote_host.empty()) {
        const std::string source = source_key(facts.remote_host);
        return DeviceIdentity{"address:" + source + "|" + service, "address",
                              source + " " + service};
    }
    if (config.trust_terminal && is_console(facts.tty, facts.remote_host)) {
        const std::string tty = log::printable(facts.tty, 40);
        return DeviceIdentity{"terminal:" + tty + "|" + service, "terminal", tty + " " + service};
    }
    return std::nullopt;
}

bool service_may_use_device_trust(std::string_view service, const Config& config)
{
    return !raises_privileges(service) && is_listed(service, config.device_trust_services);
}

bool service_requires_code(std::string_view service, const Config& config)
{
    return !raises_privileges(service) && is_listed(service, config.require_code_services);
}

}  // namespace fotoauthd
