// fotoauthctl recovery-codes regenerate [--user NAME]
//
// Replaces all recovery codes at once with 10 new ones, shown this once: for a user who used
// most of them, or fears someone saw them. A current code or recovery code confirms it
// (confirming_code.hpp), so that a stolen session cannot swap in codes its holder knows.
#include "confirming_code.hpp"
#include "daemon_request.hpp"
#include "exit_codes.hpp"
#include "recovery_codes.hpp"
#include "sensitive.hpp"
#include "terminal.hpp"
#include "verbs.hpp"

#include <cstdio>

namespace fotostudio::ctl {

namespace {

using protocol::Field;
using protocol::Message;
using protocol::MessageType;
using protocol::ReplyStatus;

constexpr char kUnchanged[] = "the old recovery codes still work";

std::optional<Message> send_regenerate(const Invocation& invocation, const TargetUser& user,
                                       SecretText& code)
{
    Message request(MessageType::RegenerateCodes);
    request.set(Field::User, user.name);
    request.set(Field::Code, code.text());
    code.wipe();
    auto reply = ask_daemon(invocation, request);
    wipe_field(request, Field::Code);
    return reply;
}

}  // namespace

int run_regenerate_codes(const Invocation& invocation)
{
    const auto target = target_user(invocation);
    if (!target.user) {
        complain(target.error);
        return target.failure;
    }
    const TargetUser& user = *target.user;

    // Asked first, so that no code is spent on an account without MFA.
    bool enrolled = false;
    if (const int status = ask_enrolled(invocation, user, enrolled))
        return status;
    if (!enrolled) {
        complain(not_enabled_sentence(user));
        return kRefused;
    }

    std::fputs("New recovery codes replace all the old ones: every old code, used or not, stops\n"
               "working at once. Confirm with a current code from the app, or with a recovery\n"
               "code.\n",
               stdout);
    SecretText code;
    if (const int status = read_confirming_code(code, kUnchanged))
        return status;

    auto reply = send_regenerate(invocation, user, code);
    if (!reply)
        return kFailure;
    if (status_of(*reply) != ReplyStatus::Ok)
        return explain_code_refusal(*reply, user, kUnchanged);
    if (!show_recovery_codes(*reply)) {
        complain("the old recovery codes no longer work, but fotoauthd's answer lacks "
                 "well-formed new ones; run 'fotoauthctl recovery-codes regenerate' again.");
        return kFailure;
    }
    return kSuccess;
}

}  // namespace fotostudio::ctl
