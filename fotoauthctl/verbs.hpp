// The verbs of fotoauthctl, one file each. Each returns the exit status (exit_codes.hpp).
#pragma once

#include "account.hpp"
#include "options.hpp"
#include "protocol.hpp"

#include <optional>
#include <string>

namespace fotostudio::ctl {

// fotoauthctl mfa enable: mfa_enable.cpp
int run_mfa_enable(const Invocation& invocation);

// The command that turns MFA on for user, as the user (or root) would type it.
std::string enable_command(const TargetUser& user);

// fotoauthctl status: status.cpp
int run_status(const Invocation& invocation);

// The text status prints for an Ok answer to Status, or nothing when fields are missing.
std::optional<std::string> render_status(const protocol::Message& reply, const TargetUser& user);

}  // namespace fotostudio::ctl
