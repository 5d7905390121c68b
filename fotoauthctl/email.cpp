// fotoauthctl email set ADDRESS | email clear | email show [--user NAME]
//
// Where fotoauthd mails its alerts for the account. An address set here replaces the site's
// default (a pattern such as "%u@studio.example", or the local mailbox); clearing it goes back
// to that default. Redirecting the alerts is what someone holding a stolen session would do
// first, so with MFA on a change is confirmed like the other changes to MFA: a current code or
// a recovery code, one try (confirming_code.hpp). Root changing another account's address
// needs none, as for root's other support for an account.
#include "alert_address.hpp"
#include "confirming_code.hpp"
#include "daemon_request.hpp"
#include "exit_codes.hpp"
#include "format.hpp"
#include "json_output.hpp"
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

constexpr char kUnchanged[] = "alerts still go where they went";

std::optional<Message> send_set_email(const Invocation& invocation, const TargetUser& user,
                                      std::string_view address, SecretText* code)
{
    Message request(MessageType::SetEmail);
    request.set(Field::User, user.name);
    request.set(Field::Email, address);
    if (code) {
        request.set(Field::Code, code->text());
        code->wipe();
    }
    auto reply = ask_daemon(invocation, request);
    wipe_field(request, Field::Code);
    return reply;
}

// The code that confirms the change, when one is needed: the account's own MFA is on. Root acting
// for another account, and an account without MFA, send none.
int read_code_if_needed(const Invocation& invocation, const TargetUser& user, SecretText& code,
                        bool& needed)
{
    needed = false;
    if (!user.is_caller)
        return kSuccess;
    if (const int status = ask_enrolled(invocation, user, needed))
        return status;
    if (!needed)
        return kSuccess;
    std::fputs("Confirm with a current code from the app, or with a recovery code.\n", stdout);
    return read_confirming_code(code, kUnchanged);
}

int explain_refusal(const Message& reply, const TargetUser& user)
{
    // BadRequest with a sentence is fotoauthd refusing the address itself, by a rule this
    // fotoauthctl did not know.
    const auto text = reply.get(Field::Text);
    if (status_of(reply) == ReplyStatus::BadRequest && text && !text->empty()) {
        complain("fotoauthd refused the address: " + printable(*text, 300) +
                 " Nothing was changed.");
        return kRefused;
    }
    return explain_code_refusal(reply, user, kUnchanged);
}

int change_address(const Invocation& invocation, const TargetUser& user, std::string_view address,
                   const std::string& outcome)
{
    SecretText code;
    bool code_needed = false;
    if (const int status = read_code_if_needed(invocation, user, code, code_needed))
        return status;

    const auto reply = send_set_email(invocation, user, address, code_needed ? &code : nullptr);
    if (!reply)
        return kFailure;
    if (status_of(*reply) != ReplyStatus::Ok)
        return explain_refusal(*reply, user);
    std::fputs(outcome.c_str(), stdout);
    return kSuccess;
}

}  // namespace

std::string email_set_outcome(std::string_view address, const TargetUser& user)
{
    return "Alerts for " + printable(user.name, 64) + " go to " + printable(address, 254) +
           " from now on.\n";
}

std::string email_clear_outcome(const TargetUser& user)
{
    return "The address set for " + printable(user.name, 64) +
           " is forgotten: alerts go to the site's default now (fotoauthctl email show" +
           (user.is_caller ? std::string() : " --user " + printable(user.name, 64)) +
           " says where).\n";
}

int run_email_set(const Invocation& invocation)
{
    // The parser checked the address already.
    const auto target = target_user(invocation);
    if (!target.user) {
        complain(target.error);
        return target.failure;
    }
    return change_address(invocation, *target.user, invocation.operand,
                          email_set_outcome(invocation.operand, *target.user));
}

int run_email_clear(const Invocation& invocation)
{
    const auto target = target_user(invocation);
    if (!target.user) {
        complain(target.error);
        return target.failure;
    }
    return change_address(invocation, *target.user, "", email_clear_outcome(*target.user));
}

int run_email_show(const Invocation& invocation)
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
    if (invocation.json) {
        std::fputs(alert_address_json(*reply, target.user->name).c_str(), stdout);
        return kSuccess;
    }
    const auto line = describe_alert_address(*reply, *target.user);
    if (!line) {
        complain("fotoauthd did not say where alerts go; is it older than this fotoauthctl?");
        return kFailure;
    }
    std::puts(line->c_str());
    return kSuccess;
}

}  // namespace fotostudio::ctl
