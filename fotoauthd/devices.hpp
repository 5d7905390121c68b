// What a "device" is for trust (docs/devices.md): by default only the SSH public key that
// authenticated before keyboard-interactive, as sshd itself reports it in SSH_AUTH_INFO_0;
// optionally, and with the risks written down, a source address or a console terminal.
// Nothing a client can set is used: the daemon honours these fields only from root callers,
// that is from sshd or login themselves.
#pragma once

#include "config.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace fotoauthd {

struct DeviceIdentity {
    std::string key;    // what the store matches on, e.g. "ssh-key:SHA256:..."
    std::string kind;   // "ssh-key", "address" or "terminal"
    std::string label;  // what the user sees, e.g. "ssh-ed25519 SHA256:..."
};

struct LoginFacts {
    bool from_root = false;
    std::string_view service;
    std::string_view remote_host;
    std::string_view tty;
    std::string_view auth_info;  // sshd's SSH_AUTH_INFO_0
};

// The device of a login, or nothing when the login gives nothing the configuration trusts.
std::optional<DeviceIdentity> identify_device(const LoginFacts& facts, const Config& config);

// The key's fingerprint as ssh-keygen -l shows it ("SHA256:" and unpadded base64 of the SHA-256
// of the decoded blob); nothing when the blob is not base64.
std::optional<std::string> ssh_key_fingerprint(std::string_view base64_blob);

// Whether device trust may ever spare this service the code. sudo and su never.
bool service_may_use_device_trust(std::string_view service, const Config& config);

// Whether the account stage refuses an enrolled user who passed no code on this service.
bool service_requires_code(std::string_view service, const Config& config);

}  // namespace fotoauthd
