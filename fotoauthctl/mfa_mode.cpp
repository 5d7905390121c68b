// fotoauthctl mfa mode always|new-device [--user NAME]
//
// Changes how often a login asks for a code. A current code from the app, or a recovery code,
// confirms the change, so that whoever finds a session left open cannot weaken the account's
// MFA. There is one try: fotoauthd counts a wrong code here toward the account's lock like a
// wrong code at a login. Changing to always makes fotoauthd forget every trusted device.
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

constexpr char kNothingChanged[] = "the verification mode was not changed";

std::string not_enrolled_sentence(const TargetUser& user)
{
    return "MFA is not enabled for " + printable(user.name, 64) +
           ", so there is no "
           "verification mode to change. To enable it: " +
           enable_command(user);
}

// The account's mode now, asked first so that no code is spent on a change that changes
// nothing, nor asked for an account without MFA.
int ask_current_mode(const Invocation& invocation, const TargetUser& user, Mode& current)
{
    int failure = kFailure;
    const auto reply = ask_status(invocation, user.name, failure);
    if (!reply)
        return failure;

    const auto enrolled = reply->get_u8(Field::Enrolled);
    if (enrolled == 0) {
        complain(not_enrolled_sentence(user));
        return kRefused;
    }
    const auto mode = parse_mode(reply->get(Field::Mode).value_or(""));
    if (enrolled != 1 || !mode) {
        complain("fotoauthd answered the status request without the fields it needs.");
        return kFailure;
    }
    current = *mode;
    return kSuccess;
}

std::optional<Message> send_mode_change(const Invocation& invocation, const TargetUser& user,
                                        Mode mode, SecretText& code)
{
    Message request(MessageType::SetMode);
    request.set(Field::User, user.name);
    request.set(Field::Mode, to_string(mode));
    request.set(Field::Code, code.text());
    code.wipe();
    auto reply = ask_daemon(invocation, request);
    wipe_field(request, Field::Code);
    return reply;
}

int explain_refusal(const Message& reply, const TargetUser& user)
{
    if (status_of(reply) == ReplyStatus::NotEnrolled) {
        complain(not_enrolled_sentence(user));
        return kRefused;
    }
    return explain_code_refusal(reply, user, kNothingChanged);
}

}  // namespace

std::string mode_change_outcome(Mode mode, std::optional<std::uint64_t> forgotten)
{
    if (mode == Mode::NewDevice)
        return "Verification mode is now new-device (a code only from a device not trusted "
               "yet).\n";

    std::string sentence = "Verification mode is now always (every login asks for a code)";
    if (forgotten == 0)
        sentence += "; no device was trusted";
    else if (forgotten == 1)
        sentence += "; 1 trusted device was forgotten";
    else if (forgotten)
        sentence += "; " + std::to_string(*forgotten) + " trusted devices were forgotten";
    return sentence + ".\n";
}

int run_mfa_mode(const Invocation& invocation)
{
    const auto target = target_user(invocation);
    if (!target.user) {
        complain(target.error);
        return target.failure;
    }
    const TargetUser& user = *target.user;
    if (!invocation.mode)
        return kUsage;  // the parser always sets the mode of this verb
    const Mode wanted = *invocation.mode;

    Mode current = Mode::Always;
    if (const int status = ask_current_mode(invocation, user, current))
        return status;
    if (current == wanted) {
        std::printf("The verification mode of %s is already %s; nothing was changed.\n",
                    printable(user.name, 64).c_str(), std::string(to_string(wanted)).c_str());
        return kSuccess;
    }

    std::printf("Changing the verification mode of %s from %s to %s.\n"
                "Confirm with a current code from the app, or with a recovery code.\n",
                printable(user.name, 64).c_str(), std::string(to_string(current)).c_str(),
                std::string(to_string(wanted)).c_str());
    SecretText code;
    if (const int status = read_confirming_code(code, kNothingChanged))
        return status;

    const auto reply = send_mode_change(invocation, user, wanted, code);
    if (!reply)
        return kFailure;
    if (status_of(*reply) != ReplyStatus::Ok)
        return explain_refusal(*reply, user);
    std::fputs(mode_change_outcome(wanted, reply->get_u64(Field::Count)).c_str(), stdout);
    return kSuccess;
}

}  // namespace fotostudio::ctl
