// Who a login name is on this machine right now. The daemon resolves every name itself (through
// NSS, like login and sshd do) instead of trusting what a client says about the account.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
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

// The password hash (second field) of `name`'s line in a shadow(5) file: nothing when no line
// names it or the file cannot be read (the account is then not covered by the check of password
// changes outside PAM, as before it has a shadow entry), an empty text for an empty field. The
// file is read in large blocks
// and searched for the name, rather than parsed entry by entry with fgetspent (which asks the
// kernel for its position at every line): this runs once for every account seen after a change.
std::optional<std::string> shadow_hash_in(const std::string& shadow_file, std::string_view name);

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
    // A text that changes whenever the local shadow file may have changed (its inode, size and
    // modification time); nothing when that cannot be told, and callers then read the file.
    virtual std::optional<std::string> shadow_version() { return std::nullopt; }
    // Drops whatever answers a directory keeps (the passwd or group files changed).
    virtual void forget_cached() {}
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
    std::optional<std::string> shadow_version() override;
};

// Keeps the answers of lookup() for a few seconds, so that the requests of one login (preauth,
// the code prompt, the code, the session) resolve the name through NSS once, not four times.
// forget_cached() empties it; the daemon calls it whenever /etc/passwd or /etc/group changes,
// so only accounts of a directory service (LDAP, sssd) can be seen up to `lifetime_ms` late.
// Names that do not resolve are not kept: a spray of made-up names cannot fill it.
class CachingUserDirectory final : public UserDirectory {
public:
    static constexpr std::int64_t kDefaultLifetimeMs = 10'000;
    static constexpr std::size_t kMaxEntries = 4096;

    CachingUserDirectory(UserDirectory& inner, std::function<std::int64_t()> monotonic_ms,
                         std::int64_t lifetime_ms = kDefaultLifetimeMs)
        : inner_(inner), monotonic_ms_(std::move(monotonic_ms)), lifetime_ms_(lifetime_ms)
    {
    }
    std::optional<SystemAccount> lookup(std::string_view name) override;
    std::optional<std::set<std::string>> local_names() override { return inner_.local_names(); }
    std::optional<std::string> shadow_hash(const std::string& name) override
    {
        return inner_.shadow_hash(name);
    }
    std::optional<std::set<std::string>> groups_of(const SystemAccount& account) override
    {
        return inner_.groups_of(account);
    }
    std::optional<std::string> shadow_version() override { return inner_.shadow_version(); }
    void forget_cached() override { entries_.clear(); }

private:
    struct Entry {
        SystemAccount account;
        std::int64_t expires_ms = 0;
    };
    UserDirectory& inner_;
    std::function<std::int64_t()> monotonic_ms_;
    std::int64_t lifetime_ms_;
    std::map<std::string, Entry, std::less<>> entries_;
};

// Login names we are willing to pass to NSS: 1 to 256 bytes, printable ASCII, no '/', ':',
// or space, and not "." or "..".
bool is_plausible_login_name(std::string_view name) noexcept;

}  // namespace fotoauthd
