#include "alert_address.hpp"

#include "format.hpp"

#include <algorithm>

namespace fotostudio::ctl {

namespace {

using protocol::Field;

constexpr std::size_t kMaxShown = 254;
constexpr std::size_t kMaxName = 64;

bool is_forbidden(char c) noexcept
{
    constexpr std::string_view kSpecial = "\"<>,;\\()";
    return c <= ' ' || c > '~' || kSpecial.find(c) != std::string_view::npos;
}

// The other account's name in "--user NAME", for root acting for it.
std::string for_whom(const TargetUser& user)
{
    return user.is_caller ? std::string() : " --user " + printable(user.name, kMaxName);
}

std::string who_set_it(const TargetUser& user)
{
    return user.is_caller ? "set by you" : "set for " + printable(user.name, kMaxName);
}

}  // namespace

std::optional<std::string> alert_address_problem(std::string_view text)
{
    if (text.empty())
        return "it is empty";
    if (text.size() > kMaxAlertAddress)
        return "it is longer than " + std::to_string(kMaxAlertAddress) + " bytes";
    if (text.front() == '-')
        return "it starts with '-'";
    if (std::any_of(text.begin(), text.end(), is_forbidden))
        return "it holds a blank, a double quote, a character outside ASCII or one of <>,;\\()";
    const auto at = text.find('@');
    if (at == std::string_view::npos || at != text.rfind('@'))
        return "it needs exactly one '@'";
    if (at == 0 || at + 1 == text.size())
        return "it needs a name before the '@' and a domain after it";
    return std::nullopt;
}

std::optional<std::string> describe_alert_address(const protocol::Message& reply,
                                                  const TargetUser& user)
{
    const auto address = reply.get(Field::Email);
    if (!address)
        return std::nullopt;
    if (address->empty())
        return "Alerts: none can be sent, as no address is known. Set one with: " +
               email_set_command(user) + " ADDRESS";

    const std::string shown = printable(*address, kMaxShown);
    const auto source = reply.get(Field::EmailSource).value_or("");
    if (source == "local")
        return "Alerts go to the local mailbox of " + shown + " on this server";
    if (source == "user")
        return "Alerts go to " + shown + " (" + who_set_it(user) + ")";
    if (source == "pattern")
        return "Alerts go to " + shown + " (the site's default pattern)";
    return "Alerts go to " + shown;
}

std::string email_set_command(const TargetUser& user)
{
    return "fotoauthctl email set" + for_whom(user);
}

}  // namespace fotostudio::ctl
