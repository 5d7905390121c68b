// The address fotoauthd mails alerts to (a login from an unusual country, MFA changes): the rule
// for an address a user may set with `fotoauthctl email set`, and the sentence that says where
// alerts go. Pure functions, tested on their own.
//
// The rule is fotoauthd's own, checked here first for a clear message: printable ASCII without
// blanks, quotes or any of <>,;\(), exactly one '@' with text on both sides, not starting with
// '-' (sendmail would read it as an option), at most 254 bytes (the longest SMTP path).
#pragma once

#include "account.hpp"
#include "protocol.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace fotostudio::ctl {

inline constexpr std::size_t kMaxAlertAddress = 254;

// Why text is not an address fotoauthd takes, as a clause ("it starts with '-'"), or nothing
// when it is one.
std::optional<std::string> alert_address_problem(std::string_view text);

// Where alerts for user go, from an Ok answer to Status, as one line: "Alerts go to
// bob@studio.example (set by you)", "... (the site's default pattern)", "Alerts go to the local
// mailbox of bob on this server", or that none can be sent and how to set an address. Nothing
// from a fotoauthd older than alerts, which sends no Email field.
std::optional<std::string> describe_alert_address(const protocol::Message& reply,
                                                  const TargetUser& user);

// The command that sets the alert address of user, as the caller would type it.
std::string email_set_command(const TargetUser& user);

}  // namespace fotostudio::ctl
