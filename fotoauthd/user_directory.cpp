#include "user_directory.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace fotoauthd {

namespace {

// Examining the home directory must never mount it (autofs) nor follow a link planted there.
std::string home_identity_of(const char* home)
{
    if (!home || home[0] != '/')
        return {};
    struct statx st {};
    const unsigned mask = STATX_INO | STATX_BTIME;
    if (statx(AT_FDCWD, home, AT_NO_AUTOMOUNT | AT_SYMLINK_NOFOLLOW, mask, &st) < 0)
        return {};
    std::string identity = std::to_string(st.stx_dev_major) + ":" +
                           std::to_string(st.stx_dev_minor) + ":" + std::to_string(st.stx_ino);
    if (st.stx_mask & STATX_BTIME)
        identity += ":" + std::to_string(st.stx_btime.tv_sec) + "." +
                    std::to_string(st.stx_btime.tv_nsec);
    return identity;
}

}  // namespace

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
    passwd entry {};
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
    account.home_identity = home_identity_of(found->pw_dir);
    return account;
}

}  // namespace fotoauthd
