// fotoauthctl mfa enable [--mode always|new-device] [--user NAME]
//
// Turns MFA on in two requests: EnrolBegin creates a pending secret, shown as a QR code and as
// text for the authenticator app; EnrolConfirm with a code from the app proves the phone has
// it, activates MFA and returns the recovery codes, which are shown this once.
//
// When MFA is active already, enrolling again replaces the phone. fotoauthd then wants a current
// code or recovery code of the old phone with EnrolBegin, so that someone holding a session
// cannot enrol a phone of their own; the old phone keeps working until the new one is confirmed.
#include "confirming_code.hpp"
#include "daemon_request.hpp"
#include "exit_codes.hpp"
#include "format.hpp"
#include "recovery_codes.hpp"
#include "sensitive.hpp"
#include "terminal.hpp"
#include "terminal_qr.hpp"
#include "verbs.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace fotostudio::ctl {

namespace {

using protocol::Field;
using protocol::Message;
using protocol::MessageType;
using protocol::ReplyStatus;

// Wrong answers accepted at each prompt before giving up.
constexpr int kModeTries = 3;
constexpr int kCodeTries = 3;

constexpr char kModeQuestion[] =
    "How often should a login ask for a code from the app?\n"
    "  1) always      a code at every login\n"
    "  2) new-device  a code only from a device not trusted yet, which the code then trusts\n"
    "                 for 90 days by default; for SSH a device is the public key that logged\n"
    "                 in first (sshd: AuthenticationMethods publickey,keyboard-interactive)\n";

// What EnrolBegin returned, kept while the user is asked for a code.
struct Enrolment {
    SecretText secret;
    SecretText uri;
    std::uint64_t asked_at = 0;    // by our clock, to tell how long the setup lasts
    std::uint64_t expires_at = 0;  // by fotoauthd's clock, which is the same machine's
};

std::uint64_t now() noexcept
{
    return static_cast<std::uint64_t>(std::time(nullptr));
}

// How long the setup lasts in words, or nothing when the clocks disagree.
std::optional<std::string> lifetime(const Enrolment& enrolment)
{
    if (enrolment.expires_at <= enrolment.asked_at)
        return std::nullopt;
    return describe_duration(enrolment.expires_at - enrolment.asked_at);
}

std::optional<Mode> mode_from_answer(std::string_view answer) noexcept
{
    if (answer == "1")
        return Mode::Always;
    if (answer == "2")
        return Mode::NewDevice;
    return parse_mode(answer);
}

std::optional<Mode> ask_mode()
{
    std::fputs(kModeQuestion, stdout);
    SecretText answer;
    for (int tries = 0; tries < kModeTries; ++tries) {
        const LineRead read = prompt_line("Choose 1 or 2: ", answer);
        if (read == LineRead::EndOfInput)
            break;
        remove_blanks(answer.text());
        const auto mode = read == LineRead::Line ? mode_from_answer(answer.text()) : std::nullopt;
        if (mode)
            return mode;
        tell("Please type 1 or 2.");
    }
    complain("no mode was chosen; nothing was changed.");
    return std::nullopt;
}

std::optional<Mode> choose_mode(const Invocation& invocation)
{
    if (invocation.mode)
        return invocation.mode;
    if (!stdin_is_terminal()) {
        complain("the mode cannot be asked for because stdin is not a terminal; give it with "
                 "--mode always or --mode new-device.");
        return std::nullopt;
    }
    return ask_mode();
}

bool is_base32(std::string_view text) noexcept
{
    return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7') || c == '=';
    });
}

// A URI is printed as it is, so it must hold nothing a terminal would act on.
bool is_plain_uri(std::string_view text) noexcept
{
    return text.starts_with("otpauth://") &&
           std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 0x7F; });
}

// Copies the secret out of the answer, then wipes the answer's copy.
int take_enrolment(Message& reply, Enrolment& enrolment)
{
    const auto secret = reply.get(Field::Secret);
    const auto uri = reply.get(Field::Uri);
    const auto expires_at = reply.get_u64(Field::ExpiresAt);
    const bool usable = secret && uri && expires_at && is_base32(*secret) && is_plain_uri(*uri);
    if (usable) {
        enrolment.secret.assign(*secret);
        enrolment.uri.assign(*uri);
        enrolment.expires_at = *expires_at;
    }
    wipe_field(reply, Field::Secret);
    wipe_field(reply, Field::Uri);

    if (!usable) {
        complain("fotoauthd's answer lacks a well-formed secret, URI or expiry time.");
        return kFailure;
    }
    return kSuccess;
}

std::optional<Message> send_begin(const Invocation& invocation, const TargetUser& user, Mode mode,
                                  SecretText* old_code, Enrolment& enrolment)
{
    Message request(MessageType::EnrolBegin);
    request.set(Field::User, user.name);
    request.set(Field::Mode, to_string(mode));
    if (old_code) {
        request.set(Field::Code, old_code->text());
        old_code->wipe();
    }

    enrolment.asked_at = now();
    auto reply = ask_daemon(invocation, request);
    wipe_field(request, Field::Code);
    return reply;
}

// The second EnrolBegin of a new phone, with a code of the old one.
int begin_replacement(const Invocation& invocation, const TargetUser& user, Mode mode,
                      Enrolment& enrolment)
{
    constexpr char kUnchanged[] = "the old phone stays in use";
    std::printf("MFA is already active for %s. Enrolling again replaces the phone: the new one\n"
                "takes over once it is confirmed, and the old one works until then.\n"
                "First confirm with a current code from the OLD phone, or with a recovery code.\n",
                printable(user.name, 64).c_str());
    SecretText code;
    if (const int status = read_confirming_code(code, kUnchanged))
        return status;

    auto reply = send_begin(invocation, user, mode, &code, enrolment);
    if (!reply)
        return kFailure;
    if (status_of(*reply) != ReplyStatus::Ok)
        return explain_code_refusal(*reply, user, kUnchanged);
    std::fputs("\n", stdout);
    return take_enrolment(*reply, enrolment);
}

int begin_enrolment(const Invocation& invocation, const TargetUser& user, Mode mode,
                    Enrolment& enrolment)
{
    auto reply = send_begin(invocation, user, mode, nullptr, enrolment);
    if (!reply)
        return kFailure;

    const ReplyStatus status = status_of(*reply);
    if (status == ReplyStatus::AlreadyEnrolled)
        return begin_replacement(invocation, user, mode, enrolment);
    if (status != ReplyStatus::Ok)
        return explain_answer(*reply, user.name);
    return take_enrolment(*reply, enrolment);
}

void show_qr_code(const Enrolment& enrolment)
{
    std::fputs("\nOr scan this QR code with the app:\n", stdout);
    const QrResult qr = print_qr(enrolment.uri.text(), terminal_columns());
    if (qr.printed == QrPrinted::TooWide)
        std::printf("(The QR code needs a terminal %d columns wide: widen this one and start "
                    "again, or type the secret above into the app.)\n",
                    qr.columns);
    else if (qr.printed == QrPrinted::CannotEncode)
        std::fputs("(The QR code could not be drawn: type the secret above into the app.)\n",
                   stdout);
}

// The QR code comes last, right above the prompt, so that it is still in view on a short
// terminal while the phone scans it.
void show_enrolment(const Enrolment& enrolment, const TargetUser& user, Mode mode)
{
    std::printf("Setting up MFA for %s, verification: %s.\n", printable(user.name, 64).c_str(),
                std::string(to_string(mode)).c_str());
    std::printf("This setup lapses at %s", format_local_time(enrolment.expires_at).c_str());
    if (const auto span = lifetime(enrolment))
        std::printf(", %s from now", span->c_str());
    std::fputs(", unless confirmed with a code from the app.\n", stdout);

    std::fputs("\nAdd this account to the authenticator app on the phone by hand (time-based,\n"
               "SHA-1, 6 digits, 30 seconds):\n",
               stdout);
    std::printf("Secret (base32): %s\n", enrolment.secret.text().c_str());
    std::printf("URI: %s\n", enrolment.uri.text().c_str());

    show_qr_code(enrolment);
    flush_and_wipe_stdout();
}

std::string expired_sentence(const Enrolment& enrolment, const TargetUser& user)
{
    std::string sentence = "the setup expired";
    if (const auto span = lifetime(enrolment))
        sentence += " after " + *span;
    return sentence + " without a code; MFA is not active. Start again with '" +
           enable_command(user) + "'.";
}

int show_activation(Message& reply, Mode mode)
{
    const auto since = reply.get_u64(Field::Since);
    if (!since || !show_recovery_codes(reply)) {
        wipe_field(reply, Field::RecoveryCodes);
        complain("MFA is active, but fotoauthd's answer lacks well-formed recovery codes or the "
                 "activation time; see 'fotoauthctl status'.");
        return kFailure;
    }

    std::printf("MFA: active since %s\n", format_local_time(*since).c_str());
    std::printf("Verification: %s\n", std::string(to_string(mode)).c_str());
    std::printf("From now on, %s.\n", std::string(describe_mode(mode)).c_str());
    flush_and_wipe_stdout();
    return kSuccess;
}

std::optional<Message> send_code(const Invocation& invocation, const TargetUser& user,
                                 const SecretText& code)
{
    Message request(MessageType::EnrolConfirm);
    request.set(Field::User, user.name);
    request.set(Field::Code, code.text());
    auto reply = ask_daemon(invocation, request);
    wipe_field(request, Field::Code);
    return reply;
}

int confirm_enrolment(const Invocation& invocation, const TargetUser& user, Mode mode,
                      const Enrolment& enrolment)
{
    SecretText code;
    for (int tries = 0; tries < kCodeTries; ++tries) {
        const LineRead read = prompt_line("Code from the app: ", code);
        if (read == LineRead::EndOfInput) {
            complain("no code was typed; MFA is not active.");
            return kUsage;
        }
        remove_blanks(code.text());
        if (read == LineRead::TooLong || code.text().empty()) {
            tell("Type the 6-digit code the app shows.");
            continue;
        }

        auto reply = send_code(invocation, user, code);
        code.wipe();
        if (!reply)
            return kFailure;
        switch (status_of(*reply)) {
        case ReplyStatus::Ok: return show_activation(*reply, mode);
        case ReplyStatus::Rejected:
            if (tries + 1 < kCodeTries)
                tell("That code is not right; check the phone's clock and try again.");
            continue;
        case ReplyStatus::NoPendingEnrolment:
            complain(expired_sentence(enrolment, user));
            return kRefused;
        default: return explain_answer(*reply, user.name);
        }
    }
    complain(std::to_string(kCodeTries) +
             " tries without a right code; MFA is not active. Check "
             "that the phone's clock is right, then start again with '" +
             enable_command(user) + "'.");
    return kRefused;
}

}  // namespace

std::string enable_command(const TargetUser& user)
{
    if (user.is_caller)
        return "fotoauthctl mfa enable";
    return "fotoauthctl mfa enable --user " + printable(user.name, 64);
}

int run_mfa_enable(const Invocation& invocation)
{
    const auto target = target_user(invocation);
    if (!target.user) {
        complain(target.error);
        return target.failure;
    }
    const auto mode = choose_mode(invocation);
    if (!mode)
        return kUsage;

    Enrolment enrolment;
    if (const int status = begin_enrolment(invocation, *target.user, *mode, enrolment))
        return status;
    show_enrolment(enrolment, *target.user, *mode);
    enrolment.secret.wipe();
    enrolment.uri.wipe();

    return confirm_enrolment(invocation, *target.user, *mode, enrolment);
}

}  // namespace fotostudio::ctl
