// fotoauthctl unlock USER (root): lifts every lock of the account (on password logins, on each
// SSH key, on local logins) before it would end by itself, and clears its counts of wrong codes
// and of login attempts, so that its owner can log in at once.
#include "daemon_request.hpp"
#include "exit_codes.hpp"
#include "format.hpp"
#include "terminal.hpp"
#include "verbs.hpp"

#include <cstdio>

namespace fotostudio::ctl {

std::string unlock_outcome(std::string_view user, std::uint64_t count)
{
    const std::string name = printable(user, 64);
    if (count == 0)
        return name + " was not locked.\n";
    return "Unlocked " + name + " (" + std::to_string(count) +
           (count == 1 ? " lock lifted).\n" : " locks lifted).\n");
}

int run_unlock(const Invocation& invocation)
{
    protocol::Message request(protocol::MessageType::Unlock);
    request.set(protocol::Field::User, invocation.operand);
    const auto reply = ask_daemon(invocation, request);
    if (!reply)
        return kFailure;
    if (status_of(*reply) != protocol::ReplyStatus::Ok)
        return explain_root_answer(*reply, invocation.operand);

    const auto count = reply->get_u64(protocol::Field::Count);
    if (!count) {
        complain("fotoauthd answered the unlock request without saying how many locks it lifted.");
        return kFailure;
    }
    std::fputs(unlock_outcome(invocation.operand, *count).c_str(), stdout);
    return kSuccess;
}

}  // namespace fotostudio::ctl
