// fotoauthctl lockouts (root): the accounts locked after too many wrong verification codes and
// the sources (addresses, or accounts under the per-account limit) whose login attempts are
// refused right now, with when each ends.
#include "daemon_request.hpp"
#include "exit_codes.hpp"
#include "json_output.hpp"
#include "lockout_entries.hpp"
#include "terminal.hpp"
#include "verbs.hpp"

#include <cstdio>
#include <ctime>

namespace fotostudio::ctl {

int run_lockouts(const Invocation& invocation)
{
    const auto reply = ask_daemon(invocation, protocol::Message(protocol::MessageType::Lockouts));
    if (!reply)
        return kFailure;
    if (status_of(*reply) != protocol::ReplyStatus::Ok)
        return explain_root_answer(*reply, {});

    // No Entries field means the same as an empty one: nothing is locked.
    const auto list = parse_lockouts(reply->get(protocol::Field::Entries).value_or(""));
    const auto now = static_cast<std::uint64_t>(std::time(nullptr));
    const std::string text = invocation.json ? lockouts_json(list) : render_lockouts(list, now);
    std::fputs(text.c_str(), stdout);

    if (!list.unreadable.empty()) {
        const std::string count = std::to_string(list.unreadable.size());
        complain(count + " of the entries fotoauthd sent could not be read; they are shown as "
                         "they came. Are fotoauthctl and fotoauthd of the same version?");
        return kFailure;
    }
    return kSuccess;
}

}  // namespace fotostudio::ctl
