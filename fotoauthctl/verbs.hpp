// The verbs of fotoauthctl, one file each. Each returns the exit status (exit_codes.hpp).
#pragma once

#include "account.hpp"
#include "history_entries.hpp"
#include "options.hpp"
#include "protocol.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fotostudio::ctl {

// fotoauthctl mfa enable: mfa_enable.cpp
int run_mfa_enable(const Invocation& invocation);

// The command that turns MFA on for user, as the user (or root) would type it.
std::string enable_command(const TargetUser& user);

// fotoauthctl mfa mode always|new-device: mfa_mode.cpp
int run_mfa_mode(const Invocation& invocation);

// What mfa mode prints once fotoauthd changed the mode, with how many trusted devices it forgot
// when it said so.
std::string mode_change_outcome(Mode mode, std::optional<std::uint64_t> forgotten);

// fotoauthctl mfa disable [--user NAME --reason TEXT] [--yes]: mfa_disable.cpp
int run_mfa_disable(const Invocation& invocation);

// Why mfa disable cannot go on for user as invoked (root for another account without --reason,
// or --reason for one's own account), or nothing.
std::optional<std::string> disable_usage_error(const Invocation& invocation,
                                               const TargetUser& user);

// fotoauthctl recovery-codes regenerate: recovery_codes_regenerate.cpp
int run_regenerate_codes(const Invocation& invocation);

// fotoauthctl status: status.cpp
int run_status(const Invocation& invocation);

// The top of the security page for an Ok answer to Status (MFA, mode, devices, recovery codes,
// policy, alert address, clock warning), or nothing when fields are missing.
std::optional<std::string> render_status(const protocol::Message& reply, const TargetUser& user);

// fotoauthctl history: history.cpp
int run_history(const Invocation& invocation);

// Asks fotoauthd for the history of user into list. On failure says why on stderr and returns
// the exit code; kSuccess otherwise.
int ask_history(const Invocation& invocation, const TargetUser& user, HistoryList& list);

// What a verb says on stderr and returns after printing a list with lines it could not read.
int report_unreadable(std::size_t count);

// fotoauthctl devices, devices forget ID|--all: devices.cpp
int run_devices(const Invocation& invocation);
int run_devices_forget(const Invocation& invocation);

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

// fotoauthctl email set ADDRESS | clear | show: email.cpp
int run_email_set(const Invocation& invocation);
int run_email_clear(const Invocation& invocation);
int run_email_show(const Invocation& invocation);

// What email set and email clear print once fotoauthd made the change, with the line end.
std::string email_set_outcome(std::string_view address, const TargetUser& user);
std::string email_clear_outcome(const TargetUser& user);

}  // namespace fotostudio::ctl
