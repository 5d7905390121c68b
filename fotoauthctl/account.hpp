// Whom fotoauthctl acts for: the caller, or, for root only, the account named with --user.
// fotoauthd enforces the same rule on the peer's uid; checking here first gives a clear message.
#pragma once

#include "exit_codes.hpp"
#include "options.hpp"

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace fotostudio::ctl {

struct TargetUser {
    std::string name;
    bool is_caller = true;  // false when root acts for another account
};

struct TargetChoice {
    std::optional<TargetUser> user;
    ExitCode failure = kSuccess;  // set, with error, when there is no user
    std::string error;
};

// The decision alone, from the caller's uid and login name and the --user value.
TargetChoice choose_user(uid_t caller_uid, std::string_view caller_name,
                         const std::optional<std::string>& requested);

// The login name of uid from the user database, or nothing when it has none.
std::optional<std::string> login_name_of(uid_t uid);

// choose_user for the real caller (getuid()).
TargetChoice target_user(const Invocation& invocation);

// For a root verb (options.hpp): nothing when the caller is root, else the sentence that refuses
// it. fotoauthd refuses these requests from other uids too; refusing here first gives a plain
// message without a round trip.
std::optional<std::string> refusal_unless_root(uid_t caller_uid, Verb verb);

}  // namespace fotostudio::ctl
