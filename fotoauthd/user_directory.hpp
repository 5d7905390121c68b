// Who a login name is on this machine right now. The daemon resolves every name itself (through
// NSS, like login and sshd do) instead of trusting what a client says about the account.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace fotoauthd {

struct SystemAccount {
    std::string name;
    uid_t uid = 0;
    // A fingerprint of the account's home directory (device, inode, birth time), or empty when
    // the home directory cannot be examined. Together with the uid it tells a user deleted and
    // re-created under the same name from the one that enrolled.
    std::string home_identity;
};

class UserDirectory {
public:
    virtual ~UserDirectory() = default;
    // Nothing when the name is not a plausible login name or does not resolve.
    virtual std::optional<SystemAccount> lookup(std::string_view name) = 0;
};

class NssUserDirectory final : public UserDirectory {
public:
    std::optional<SystemAccount> lookup(std::string_view name) override;
};

// Login names we are willing to pass to NSS: 1 to 256 bytes, printable ASCII, no '/', ':',
// or space, and not "." or "..".
bool is_plausible_login_name(std::string_view name) noexcept;

}  // namespace fotoauthd
