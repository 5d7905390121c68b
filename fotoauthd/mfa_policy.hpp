// Who must use MFA (docs/policy.md). MFA is optional unless fotoauthd.conf lists groups in
// require_mfa_groups; members of a group in mfa_exempt_groups never have to. A user who must
// but has not enrolled is refused at the account stage, or, until require_mfa_grace_until, let
// in with a warning that says how to enrol.
#pragma once

#include "config.hpp"

#include <cstdint>
#include <optional>
#include <set>
#include <string>

namespace fotoauthd {

enum class MfaRequirement {
    Optional,  // the user may go without MFA
    Grace,     // the user must enrol, and is let in with a warning until the grace ends
    Required,  // the user must have MFA to log in
};

// What the policy asks of a user in `groups` at `now`. Groups that could not be read (nothing)
// count as matching every required group and no exempt one: a broken directory must not waive
// the policy.
MfaRequirement mfa_requirement(const Config& config,
                               const std::optional<std::set<std::string>>& groups,
                               std::int64_t now);

// The sentence a user who must enrol reads at login.
std::string enrolment_required_sentence(const std::string& user);
std::string grace_warning_sentence(std::int64_t grace_until);

}  // namespace fotoauthd
