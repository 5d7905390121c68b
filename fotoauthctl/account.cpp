#include "account.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace fotostudio::ctl {

TargetChoice choose_user(uid_t caller_uid, std::string_view caller_name,
                         const std::optional<std::string>& requested)
{
    TargetChoice choice;
    if (!requested || *requested == caller_name) {
        choice.user = TargetUser{std::string(caller_name), true};
    } else if (caller_uid == 0) {
        choice.user = TargetUser{*requested, false};
    } else {
        choice.failure = kUsage;
        choice.error = "only root may act for another account with --user; leave --user out "
                       "to manage your own MFA.";
    }
    return choice;
}

std::optional<std::string> login_name_of(uid_t uid)
{
    const long suggested = ::sysconf(_SC_GETPW_R_SIZE_MAX);
    std::vector<char> buffer(suggested > 0 ? static_cast<std::size_t>(suggested) : 4096);
    for (;;) {
        passwd entry{};
        passwd* found = nullptr;
        const int error = ::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found);
        if (error == ERANGE && buffer.size() < 1024 * 1024) {
            buffer.resize(buffer.size() * 2);
            continue;
        }
        if (error != 0 || !found)
            return std::nullopt;
        return std::string(found->pw_name);
    }
}

std::optional<std::string> refusal_unless_root(uid_t caller_uid, Verb verb)
{
    if (caller_uid == 0)
        return std::nullopt;
    return "'" + std::string(verb_name(verb)) +
           "' is for root only: locks and login limits "
           "concern every account on this machine. Run it as root, for example with sudo.";
}

TargetChoice target_user(const Invocation& invocation)
{
    const uid_t uid = ::getuid();
    const auto name = login_name_of(uid);
    if (!name) {
        TargetChoice choice;
        choice.failure = kFailure;
        choice.error = "uid " + std::to_string(uid) +
                       " has no entry in the user database, so "
                       "there is no account to act for.";
        return choice;
    }
    return choose_user(uid, *name, invocation.user);
}

}  // namespace fotostudio::ctl
