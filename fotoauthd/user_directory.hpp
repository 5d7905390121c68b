// Who a login name is on this machine right now. The daemon resolves every name itself (through
// NSS, like login and sshd do) instead of trusting what a client says about the account.
#pragma once

#include <sys/types.h>

#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace fotoauthd {

struct SystemAccount {
    std::string name;
    uid_t uid = 0;
};

// The login names in a passwd(5) file (the local accounts, /etc/passwd); nothing when the file
// cannot be read, which callers must take as "unknown", never as "nobody".
std::optional<std::set<std::string>> local_login_names(const std::string& passwd_file);

class UserDirectory {
public:
    virtual ~UserDirectory() = default;
    // Nothing when the name is not a plausible login name or does not resolve.
    virtual std::optional<SystemAccount> lookup(std::string_view name) = 0;
    // The names of the local accounts (/etc/passwd); nothing when that cannot be read.
    virtual std::optional<std::set<std::string>> local_names() = 0;
    // The password hash in the local shadow file; nothing for accounts without a local entry.
    virtual std::optional<std::string> shadow_hash(const std::string& name) = 0;
    // The names of the account's groups, its primary group included; nothing when they cannot
    // be read (callers of a policy must then assume the strictest answer).
    virtual std::optional<std::set<std::string>> groups_of(const SystemAccount& account) = 0;
};

class NssUserDirectory final : public UserDirectory {
public:
    std::optional<SystemAccount> lookup(std::string_view name) override;
    std::optional<std::set<std::string>> local_names() override
    {
        return local_login_names("/etc/passwd");
    }
    std::optional<std::string> shadow_hash(const std::string& name) override;
    std::optional<std::set<std::string>> groups_of(const SystemAccount& account) override;
};

// Login names we are willing to pass to NSS: 1 to 256 bytes, printable ASCII, no '/', ':',
// or space, and not "." or "..".
bool is_plausible_login_name(std::string_view name) noexcept;

}  // namespace fotoauthd
