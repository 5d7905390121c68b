#include "user_directory.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <stdio.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <vector>

namespace fotoauthd {

bool is_plausible_login_name(std::string_view name) noexcept
{
    if (name.empty() || name.size() > 256 || name == "." || name == "..")
        return false;
    for (char c : name)
        if (c <= 0x20 || c >= 0x7f || c == '/' || c == ':')
            return false;
    return true;
}

std::optional<SystemAccount> NssUserDirectory::lookup(std::string_view name)
{
    if (!is_plausible_login_name(name))
        return std::nullopt;

    const std::string key(name);
    long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
    std::vector<char> buffer(hint > 0 ? static_cast<std::size_t>(hint) : 4096);
    passwd entry{};
    passwd* found = nullptr;
    for (;;) {
        const int rc = getpwnam_r(key.c_str(), &entry, buffer.data(), buffer.size(), &found);
        if (rc == ERANGE && buffer.size() < (1u << 20)) {
            buffer.resize(buffer.size() * 2);
            continue;
        }
        if (rc != 0 || !found)
            return std::nullopt;
        break;
    }

    SystemAccount account;
    account.name = found->pw_name;
    account.uid = found->pw_uid;
    return account;
}

std::optional<std::set<std::string>> local_login_names(const std::string& passwd_file)
{
    FILE* file = fopen(passwd_file.c_str(), "re");
    if (!file)
        return std::nullopt;
    std::set<std::string> names;
    errno = 0;
    while (const passwd* entry = fgetpwent(file))
        names.insert(entry->pw_name);
    const bool complete = errno == 0 || errno == ENOENT;
    fclose(file);
    if (!complete)
        return std::nullopt;
    return names;
}

std::optional<std::string> shadow_hash_in(const std::string& shadow_file, std::string_view name)
{
    const int fd = ::open(shadow_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return std::nullopt;
    char block[16 * 1024];
    std::string text;  // the lines not searched yet: the last, unfinished one of the last block
    std::optional<std::string> hash;
    // Looks at one whole line; true when it is the name's.
    const auto matches = [&](std::string_view line) {
        if (line.size() <= name.size() || line[name.size()] != ':' || !line.starts_with(name))
            return false;
        const std::string_view rest = line.substr(name.size() + 1);
        hash = std::string(rest.substr(0, rest.find(':')));
        return true;
    };
    bool found = false;
    for (;;) {
        const ssize_t got = ::read(fd, block, sizeof(block));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            ::close(fd);
            return std::nullopt;
        }
        if (got == 0) {
            found = !text.empty() && matches(text);  // a last line without its newline
            break;
        }
        text.append(block, static_cast<std::size_t>(got));
        std::size_t start = 0;
        for (std::size_t newline; (newline = text.find('\n', start)) != std::string::npos;
             start = newline + 1) {
            if (matches(std::string_view(text).substr(start, newline - start))) {
                found = true;
                break;
            }
        }
        if (found)
            break;
        text.erase(0, start);
    }
    ::close(fd);
    if (!found)
        return std::nullopt;
    return hash;
}

std::optional<std::string> NssUserDirectory::shadow_hash(const std::string& name)
{
    // Only the local file: a password changed in a directory service is that service's business.
    return shadow_hash_in("/etc/shadow", name);
}

namespace {

// The primary group of the account as NSS sees it now.
std::optional<gid_t> primary_group(const SystemAccount& account)
{
    std::vector<char> buffer(16384);
    passwd entry{};
    passwd* found = nullptr;
    if (getpwnam_r(account.name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 ||
        !found || found->pw_uid != account.uid)
        return std::nullopt;
    return found->pw_gid;
}

std::optional<std::string> group_name(gid_t gid)
{
    std::vector<char> buffer(16384);
    for (int tries = 0; tries < 4; ++tries) {
        group entry{};
        group* found = nullptr;
        const int error = getgrgid_r(gid, &entry, buffer.data(), buffer.size(), &found);
        if (error == ERANGE) {
            buffer.resize(buffer.size() * 4);
            continue;
        }
        if (error != 0 || !found)
            return std::nullopt;
        return std::string(found->gr_name);
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::set<std::string>> NssUserDirectory::groups_of(const SystemAccount& account)
{
    const auto primary = primary_group(account);
    if (!primary)
        return std::nullopt;

    int count = 64;
    std::vector<gid_t> gids(static_cast<std::size_t>(count));
    if (getgrouplist(account.name.c_str(), *primary, gids.data(), &count) < 0) {
        if (count <= 0 || count > 65536)
            return std::nullopt;
        gids.resize(static_cast<std::size_t>(count));
        if (getgrouplist(account.name.c_str(), *primary, gids.data(), &count) < 0)
            return std::nullopt;
    }
    gids.resize(static_cast<std::size_t>(count));

    std::set<std::string> names;
    for (const gid_t gid : gids) {
        // A gid without a name cannot be listed in the configuration, so it changes nothing.
        if (auto name = group_name(gid))
            names.insert(std::move(*name));
    }
    return names;
}

std::optional<std::string> NssUserDirectory::shadow_version()
{
    struct stat file {};
    if (stat("/etc/shadow", &file) != 0)
        return std::nullopt;
    return std::to_string(file.st_dev) + ":" + std::to_string(file.st_ino) + ":" +
           std::to_string(file.st_size) + ":" + std::to_string(file.st_mtim.tv_sec) + "." +
           std::to_string(file.st_mtim.tv_nsec);
}

std::optional<SystemAccount> CachingUserDirectory::lookup(std::string_view name)
{
    const std::int64_t now = monotonic_ms_();
    if (const auto found = entries_.find(name); found != entries_.end()) {
        if (found->second.expires_ms > now)
            return found->second.account;
        entries_.erase(found);
    }
    auto account = inner_.lookup(name);
    if (account) {
        if (entries_.size() >= kMaxEntries)
            entries_.clear();
        entries_[std::string(name)] = Entry{*account, now + lifetime_ms_};
    }
    return account;
}

}  // namespace fotoauthd
