// fotoauthctl history [--user NAME] [--ascii]: the account's recent logins (passed and refused,
// with the service, the address and country they came from, and whether a code was checked) and
// security changes (password, verification mode, trusted devices, MFA turned on), newest first,
// as fotoauthd keeps them.
#include "daemon_request.hpp"
#include "exit_codes.hpp"
#include "json_output.hpp"
#include "markers.hpp"
#include "terminal.hpp"
#include "verbs.hpp"

#include <cstdint>
#include <cstdio>
#include <optional>

namespace fotostudio::ctl {

namespace {

// One History request: the newest entries, or those after offset.
int ask_history_page(const Invocation& invocation, const TargetUser& user,
                     std::optional<std::uint64_t> offset, HistoryPage& page)
{
    protocol::Message request(protocol::MessageType::History);
    request.set(protocol::Field::User, user.name);
    if (offset)
        request.set_u64(protocol::Field::Offset, *offset);
    const auto reply = ask_daemon(invocation, request);
    if (!reply)
        return kFailure;
    if (status_of(*reply) != protocol::ReplyStatus::Ok)
        return explain_answer(*reply, user.name);

    // No Entries field means the same as an empty one: nothing happened yet.
    page.entries = reply->get(protocol::Field::Entries).value_or("");
    page.count = reply->get_u64(protocol::Field::Count);
    return kSuccess;
}

}  // namespace

int ask_history(const Invocation& invocation, const TargetUser& user, HistoryList& list)
{
    return collect_history(
        [&](std::optional<std::uint64_t> offset, HistoryPage& page) {
            return ask_history_page(invocation, user, offset, page);
        },
        list);
}

int report_unreadable(std::size_t count)
{
    complain(std::to_string(count) +
             " of the entries fotoauthd sent could not be read; they are shown as they came. "
             "Are fotoauthctl and fotoauthd of the same version?");
    return kFailure;
}

int run_history(const Invocation& invocation)
{
    const auto target = target_user(invocation);
    if (!target.user) {
        complain(target.error);
        return target.failure;
    }

    HistoryList list;
    if (const int status = ask_history(invocation, *target.user, list))
        return status;
    const std::string text =
        invocation.json
            ? history_json(list, target.user->name)
            : render_history(list, *target.user, markers_for_terminal(invocation.ascii));
    std::fputs(text.c_str(), stdout);

    if (!list.unreadable.empty())
        return report_unreadable(list.unreadable.size());
    return kSuccess;
}

}  // namespace fotostudio::ctl
