#include "mfa_policy.hpp"

#include <algorithm>
#include <ctime>

namespace fotoauthd {

namespace {

constexpr std::string_view kEveryone = "*";

bool is_member_of_any(const std::set<std::string>& groups, const std::vector<std::string>& listed)
{
    return std::any_of(listed.begin(), listed.end(),
                       [&groups](const std::string& name) { return groups.count(name) > 0; });
}

bool lists_everyone(const std::vector<std::string>& listed)
{
    return std::find(listed.begin(), listed.end(), kEveryone) != listed.end();
}

std::string utc_date(std::int64_t unix_time)
{
    const std::time_t seconds = static_cast<std::time_t>(unix_time);
    std::tm parts{};
    gmtime_r(&seconds, &parts);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d", &parts);
    return text;
}

}  // namespace

MfaRequirement mfa_requirement(const Config& config,
                               const std::optional<std::set<std::string>>& groups, std::int64_t now)
{
    if (config.require_mfa_groups.empty())
        return MfaRequirement::Optional;

    bool required = lists_everyone(config.require_mfa_groups);
    if (!groups) {
        required = true;
    } else {
        if (is_member_of_any(*groups, config.mfa_exempt_groups))
            return MfaRequirement::Optional;
        required = required || is_member_of_any(*groups, config.require_mfa_groups);
    }
    if (!required)
        return MfaRequirement::Optional;
    return now < config.require_mfa_grace_until ? MfaRequirement::Grace : MfaRequirement::Required;
}

std::string enrolment_required_sentence(const std::string& user)
{
    return "This account must use two-factor authentication, which is not set up yet. Ask an "
           "administrator to enrol you with: fotoauthctl mfa enable --user " +
           user;
}

std::string grace_warning_sentence(std::int64_t grace_until)
{
    return "Two-factor authentication will be required for this account from " +
           utc_date(grace_until) +
           " (UTC); without it you will not be able to log in. Set it up now with: fotoauthctl "
           "mfa enable";
}

}  // namespace fotoauthd
