// The verbs of fotoauthctl, one file each. Each returns the exit status (exit_codes.hpp).
#pragma once

#include "account.hpp"
#include "options.hpp"
#include "protocol.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fotostudio::ctl {

// fotoauthctl mfa enable: mfa_enable.cpp
int run_mfa_enable(const Invocation& invocation);

// The command that turns MFA on for user, as the user (or root) would type it.
std::string enable_command(const TargetUser& user);

// fotoauthctl status: status.cpp
int run_status(const Invocation& invocation);

// The text status prints for an Ok answer to Status, or nothing when fields are missing.
std::optional<std::string> render_status(const protocol::Message& reply, const TargetUser& user);

// fotoauthctl lockouts (root): lockouts.cpp
int run_lockouts(const Invocation& invocation);

// fotoauthctl unlock USER (root): unlock.cpp
int run_unlock(const Invocation& invocation);

// The sentence unlock prints when fotoauthd lifted count locks of user (none: it was not locked).
std::string unlock_outcome(std::string_view user, std::uint64_t count);

// fotoauthctl unblock ADDRESS (root): unblock.cpp
int run_unblock(const Invocation& invocation);

// The sentence unblock prints when fotoauthd cleared count login windows of address.
std::string unblock_outcome(std::string_view address, std::uint64_t count);

}  // namespace fotostudio::ctl
