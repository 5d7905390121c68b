// fotoauthctl unblock ADDRESS (root): clears the login window of a source address, so that
// logins from it are no longer refused for having made too many attempts. fotoauthd counts IPv6
// sources per /64 network, so any address of that network clears it, and the network as
// `lockouts` lists it ("2001:db8::/64") is accepted too. The address was checked when the
// command line was read.
#include "daemon_request.hpp"
#include "exit_codes.hpp"
#include "format.hpp"
#include "terminal.hpp"
#include "verbs.hpp"

#include <cstdio>

namespace fotostudio::ctl {

std::string unblock_outcome(std::string_view address, std::uint64_t count)
{
    const std::string shown = printable(address, 64);
    if (count == 0)
        return shown + " was not blocked.\n";
    return "Cleared the login limit of " + shown + " (" + std::to_string(count) +
           (count == 1 ? " window).\n" : " windows).\n");
}

int run_unblock(const Invocation& invocation)
{
    protocol::Message request(protocol::MessageType::Unblock);
    request.set(protocol::Field::RemoteHost,
                address_to_unblock(invocation.operand).value_or(invocation.operand));
    const auto reply = ask_daemon(invocation, request);
    if (!reply)
        return kFailure;
    if (status_of(*reply) != protocol::ReplyStatus::Ok)
        return explain_root_answer(*reply, {});

    const auto count = reply->get_u64(protocol::Field::Count);
    if (!count) {
        complain("fotoauthd answered the unblock request without saying how many login windows "
                 "it cleared.");
        return kFailure;
    }
    std::fputs(unblock_outcome(invocation.operand, *count).c_str(), stdout);
    return kSuccess;
}

}  // namespace fotostudio::ctl
