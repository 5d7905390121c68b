// The code that confirms a change to an account's MFA after enrolment (mfa mode, mfa disable,
// recovery-codes regenerate, enrolling a new phone): a current code from the app, or a recovery
// code, so that whoever finds a session left open cannot weaken the account's MFA. There is one
// try: fotoauthd counts a wrong code here toward the account's lock like a wrong code at a login.
#pragma once

#include "account.hpp"
#include "options.hpp"
#include "protocol.hpp"
#include "sensitive.hpp"

#include <string>
#include <string_view>

namespace fotostudio::ctl {

// Asks fotoauthd whether MFA is active for user. On failure says why and returns the exit code.
int ask_enrolled(const Invocation& invocation, const TargetUser& user, bool& enrolled);

// Reads one code at "Code from the app: ", without blanks. On failure (end of input, nothing or
// too much typed) says why, ending with unchanged (a clause such as "MFA stays on"), and returns
// the exit code; kSuccess otherwise.
int read_confirming_code(SecretText& code, std::string_view unchanged);

// For an answer other than Ok to a request that carried such a code: says why nothing was done,
// ending with unchanged, and returns the exit code.
int explain_code_refusal(const protocol::Message& reply, const TargetUser& user,
                         std::string_view unchanged);

// "MFA is not enabled for NAME." and how to turn it on.
std::string not_enabled_sentence(const TargetUser& user);

}  // namespace fotostudio::ctl
