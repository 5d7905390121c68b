// fotoauthctl status [--user NAME] [--ascii]: the account's security page. Whether MFA is
// active, since when, in which mode, how many devices are trusted and how many recovery codes
// are left (with a warning when few are), or how to turn it on; where alerts go; whether the
// site requires MFA and until when it lets a login in without; a warning when the server's clock
// is not synchronised (codes are then refused); then every login fotoauthd keeps, newest first,
// with its country, address and client, so that a login the user did not make stands out.
#include "alert_address.hpp"
#include "daemon_request.hpp"
#include "exit_codes.hpp"
#include "format.hpp"
#include "json_output.hpp"
#include "markers.hpp"
#include "terminal.hpp"
#include "verbs.hpp"

#include <cstdint>
#include <cstdio>

namespace fotostudio::ctl {

namespace {

using protocol::Field;
using protocol::Message;

// The line about trusted devices, with the verb that lists them when the mode trusts devices.
// Nothing from a fotoauthd older than device trust, which does not send the count.
std::string render_device_count(const Message& reply, std::string_view mode, const TargetUser& user)
{
    const auto count = reply.get_u64(Field::DeviceCount);
    if (!count)
        return {};
    std::string line = "Trusted devices: " + std::to_string(*count);
    if (parse_mode(mode) == Mode::NewDevice)
        line += " (listed by 'fotoauthctl devices" +
                (user.is_caller ? std::string() : " --user " + printable(user.name, 64)) + "')";
    return line + "\n";
}

// Few recovery codes left: the user should make new ones before the phone is lost, not after.
constexpr std::uint64_t kFewCodesLeft = 2;

std::string render_low_codes_warning(std::uint64_t codes_left, const TargetUser& user)
{
    if (codes_left > kFewCodesLeft)
        return {};
    return "Only " + std::to_string(codes_left) + " recovery code" + (codes_left == 1 ? "" : "s") +
           " left: make new ones with fotoauthctl recovery-codes regenerate" +
           (user.is_caller ? std::string() : " --user " + printable(user.name, 64)) + "\n";
}

std::string optional_line(const std::optional<std::string>& line)
{
    return line ? *line + "\n" : std::string();
}

// What the site's group policy says about user, for an account with MFA or without.
std::string render_policy(const Message& reply, bool enrolled)
{
    if (reply.get_u8(Field::MfaRequired).value_or(0) != 1)
        return {};
    if (enrolled)
        return "The site requires MFA for this account.\n";
    if (const auto grace = reply.get_u64(Field::GraceUntil))
        return "The site requires MFA for this account; logins without it are let in until " +
               format_local_time(*grace) + ".\n";
    return "The site requires MFA for this account; logins without it are refused.\n";
}

// Codes are computed from the time: a server clock that drifted makes right codes look wrong.
std::string render_clock_warning(const Message& reply)
{
    if (reply.get_u8(Field::ClockSynced).value_or(1) != 0)
        return {};
    return "Warning: the server's clock is not synchronised, so right codes may be refused. "
           "Root should check NTP (timedatectl status).\n";
}

std::optional<std::string> render_active(const Message& reply, const TargetUser& user)
{
    const auto since = reply.get_u64(Field::Since);
    const auto mode = reply.get(Field::Mode);
    const auto codes_left = reply.get_u64(Field::CodesLeft);
    if (!since || !mode || !codes_left)
        return std::nullopt;

    return "MFA: active since " + format_local_time(*since) + "\n" +
           "Verification: " + printable(*mode, 32) + "\n" +
           render_device_count(reply, *mode, user) +
           "Recovery codes left: " + std::to_string(*codes_left) + "\n" +
           render_low_codes_warning(*codes_left, user) + render_policy(reply, true);
}

std::string render_inactive(const Message& reply, const TargetUser& user)
{
    std::string text = "MFA: not enabled\n";
    if (reply.get_u8(Field::Pending).value_or(0) == 1)
        text += "An enrolment is pending: it was started but not yet confirmed with a code from "
                "the app.\n";
    text += render_policy(reply, false);
    text += "To enable MFA, run: " + enable_command(user) + "\n";
    return text;
}

constexpr std::string_view kMissingFields =
    "fotoauthd answered the status request without the fields it needs.";

// The status and its recent activity as one JSON object. Unlike the table, nothing is printed
// before the history arrives, so that stdout holds either the whole object or nothing.
int print_status_json(const Invocation& invocation, const Message& reply, const TargetUser& user)
{
    HistoryList history;
    if (const int status = ask_history(invocation, user, history))
        return status;
    const auto text = status_json(reply, user.name, history);
    if (!text) {
        complain(kMissingFields);
        return kFailure;
    }
    std::fputs(text->c_str(), stdout);
    if (!history.unreadable.empty())
        return report_unreadable(history.unreadable.size());
    return kSuccess;
}

}  // namespace

std::optional<std::string> render_status(const Message& reply, const TargetUser& user)
{
    const auto enrolled = reply.get_u8(Field::Enrolled);
    if (!enrolled || *enrolled > 1)
        return std::nullopt;

    const auto state = *enrolled == 1 ? render_active(reply, user) : render_inactive(reply, user);
    if (!state)
        return std::nullopt;
    return *state + optional_line(describe_alert_address(reply, user)) +
           render_clock_warning(reply);
}

int run_status(const Invocation& invocation)
{
    const auto target = target_user(invocation);
    if (!target.user) {
        complain(target.error);
        return target.failure;
    }

    int failure = kFailure;
    const auto reply = ask_status(invocation, target.user->name, failure);
    if (!reply)
        return failure;

    if (invocation.json)
        return print_status_json(invocation, *reply, *target.user);

    const auto text = render_status(*reply, *target.user);
    if (!text) {
        complain(kMissingFields);
        return kFailure;
    }
    std::fputs(text->c_str(), stdout);

    // Asked after the status is printed: when only the history fails, the status still shows.
    HistoryList history;
    if (const int status = ask_history(invocation, *target.user, history))
        return status;
    const Markers& markers = markers_for_terminal(invocation.ascii);
    std::fputs(("\n" + render_connections(history, *target.user, markers)).c_str(), stdout);
    if (!history.unreadable.empty())
        return report_unreadable(history.unreadable.size());
    return kSuccess;
}

}  // namespace fotostudio::ctl
