// fotoauthctl mfa disable [--user NAME --reason TEXT] [--yes]
//
// Turns MFA off: fotoauthd removes the secret, the recovery codes and every trusted device, and
// logins ask for the password alone. Asked twice, because a slip or a stolen session would hurt:
// a typed "yes", then a current code or recovery code, one try (confirming_code.hpp).
//
// Root may do it for a user who lost both phone and recovery codes, once their identity is
// checked some other way: then no code is asked, but a reason is required, which fotoauthd writes
// to the audit log and the account's history.
#include "confirming_code.hpp"
#include "daemon_request.hpp"
#include "exit_codes.hpp"
#include "format.hpp"
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

constexpr char kUnchanged[] = "MFA stays on";

// A script run by root answers no question; a person at a terminal always does, --yes or not.
bool wants_question(const Invocation& invocation)
{
    return !invocation.yes || stdin_is_terminal();
}

bool confirmed(const TargetUser& user)
{
    SecretText answer;
    const std::string prompt = "Turn off MFA for " + printable(user.name, 64) + "? Type yes: ";
    return prompt_line(prompt, answer) == LineRead::Line && answer.text() == "yes";
}

std::optional<Message> send_disable(const Invocation& invocation, const TargetUser& user,
                                    SecretText* code)
{
    Message request(MessageType::DisableMfa);
    request.set(Field::User, user.name);
    if (code) {
        request.set(Field::Code, code->text());
        code->wipe();
    } else {
        request.set(Field::Text, *invocation.reason);
    }
    auto reply = ask_daemon(invocation, request);
    wipe_field(request, Field::Code);
    return reply;
}

// The user's own MFA (root's too) is turned off with a code; root's support for another account
// with a reason instead.
int send_with_code_or_reason(const Invocation& invocation, const TargetUser& user,
                             std::optional<Message>& reply)
{
    if (!user.is_caller) {
        reply = send_disable(invocation, user, nullptr);
        return kSuccess;
    }
    std::fputs("Confirm with a current code from the app, or with a recovery code.\n", stdout);
    SecretText code;
    if (const int status = read_confirming_code(code, kUnchanged))
        return status;
    reply = send_disable(invocation, user, &code);
    return kSuccess;
}

}  // namespace

std::optional<std::string> disable_usage_error(const Invocation& invocation, const TargetUser& user)
{
    if (!user.is_caller && !invocation.reason)
        return "root turning off the MFA of another account must say why with --reason TEXT "
               "(for the audit log and the account's history), after checking who asks.";
    if (user.is_caller && invocation.reason)
        return "--reason is for root turning off the MFA of another account; your own MFA is "
               "turned off with a code from the app or a recovery code.";
    return std::nullopt;
}

int run_mfa_disable(const Invocation& invocation)
{
    const auto target = target_user(invocation);
    if (!target.user) {
        complain(target.error);
        return target.failure;
    }
    const TargetUser& user = *target.user;
    if (const auto error = disable_usage_error(invocation, user)) {
        complain(*error + " Try 'fotoauthctl --help'.");
        return kUsage;
    }

    bool enrolled = false;
    if (const int status = ask_enrolled(invocation, user, enrolled))
        return status;
    if (!enrolled) {
        complain("MFA is not enabled for " + printable(user.name, 64) +
                 "; there is nothing to turn off.");
        return kRefused;
    }

    std::fputs("Turning MFA off removes its secret, its recovery codes and every trusted device;\n"
               "logins then ask for the password alone.\n",
               stdout);
    if (wants_question(invocation) && !confirmed(user)) {
        std::fputs("Nothing changed.\n", stdout);
        return kRefused;
    }

    std::optional<Message> reply;
    if (const int status = send_with_code_or_reason(invocation, user, reply))
        return status;
    if (!reply)
        return kFailure;
    if (status_of(*reply) != ReplyStatus::Ok)
        return explain_code_refusal(*reply, user, kUnchanged);
    std::printf("MFA is off for %s; its secret, recovery codes and trusted devices are gone.\n",
                printable(user.name, 64).c_str());
    return kSuccess;
}

}  // namespace fotostudio::ctl
