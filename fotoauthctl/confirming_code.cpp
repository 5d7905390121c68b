#include "confirming_code.hpp"

#include "daemon_request.hpp"
#include "exit_codes.hpp"
#include "format.hpp"
#include "terminal.hpp"
#include "verbs.hpp"

#include <cctype>

namespace fotostudio::ctl {

namespace {

using protocol::Field;
using protocol::Message;
using protocol::ReplyStatus;

std::string sentence_case(std::string_view clause)
{
    std::string sentence(clause);
    if (!sentence.empty())
        sentence[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(sentence[0])));
    return sentence;
}

}  // namespace

std::string not_enabled_sentence(const TargetUser& user)
{
    return "MFA is not enabled for " + printable(user.name, 64) +
           ". To enable it: " + enable_command(user);
}

int ask_enrolled(const Invocation& invocation, const TargetUser& user, bool& enrolled)
{
    int failure = kFailure;
    const auto reply = ask_status(invocation, user.name, failure);
    if (!reply)
        return failure;

    const auto flag = reply->get_u8(Field::Enrolled);
    if (!flag || *flag > 1) {
        complain("fotoauthd answered the status request without the fields it needs.");
        return kFailure;
    }
    enrolled = *flag == 1;
    return kSuccess;
}

int read_confirming_code(SecretText& code, std::string_view unchanged)
{
    const LineRead read = prompt_line("Code from the app: ", code);
    if (read == LineRead::EndOfInput) {
        complain("no code was typed; " + std::string(unchanged) + ".");
        return kUsage;
    }
    remove_blanks(code.text());
    if (read == LineRead::TooLong || code.text().empty()) {
        complain("that is not a code; " + std::string(unchanged) + ".");
        return kUsage;
    }
    return kSuccess;
}

int explain_code_refusal(const Message& reply, const TargetUser& user, std::string_view unchanged)
{
    const auto text = reply.get(Field::Text);
    switch (status_of(reply)) {
    case ReplyStatus::Rejected:
        complain("that code is wrong or was used already; " + std::string(unchanged) +
                 ". Wrong codes count toward locking the account.");
        return kRefused;
    case ReplyStatus::Locked:
    case ReplyStatus::RateLimited:
        // fotoauthd's sentence says which limit was reached and until when.
        complain((text && !text->empty() ? printable(*text, 300)
                                         : std::string("too many attempts for now.")) +
                 " " + sentence_case(unchanged) + ".");
        return kRefused;
    case ReplyStatus::NotEnrolled: complain(not_enabled_sentence(user)); return kRefused;
    default: return explain_answer(reply, user.name);
    }
}

}  // namespace fotostudio::ctl
