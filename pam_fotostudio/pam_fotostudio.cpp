// pam_fotostudio: asks fotoauthd whether a user needs a one-time code, prompts for it, and lets
// the daemon check it. The module keeps no state and no secret: every decision is the daemon's,
// and the module only maps the daemon's answers to PAM return codes.
//
// The auth stage hands its result to the session stage through the PAM environment variable
// FOTOSTUDIO_AUTH, holding a nonce the daemon issued. sshd runs keyboard-interactive auth in a
// child process and only the PAM environment comes back to the monitor, where the session stack
// runs; the daemon keeps the nonce for two minutes and redeems it once.
#include "conversation.hpp"
#include "daemon.hpp"
#include "options.hpp"

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include <syslog.h>

#include <exception>
#include <optional>
#include <string>
#include <string_view>

namespace fotostudio::pam {

namespace {

using protocol::ReplyStatus;

constexpr const char* kCodePrompt = "Verification code or recovery code: ";
constexpr const char* kWrongCodeMessage = "Wrong or already used code.";
constexpr const char* kNonceVariable = "FOTOSTUDIO_AUTH";

// Nothing legitimate typed at the prompt is longer: a TOTP code has 6 digits, a recovery code 14
// characters. Longer answers are refused without bothering the daemon.
constexpr std::size_t kMaxAnswerLength = 128;
constexpr std::size_t kMaxNonceLength = 256;
constexpr std::size_t kMaxLoggedText = 200;

// Daemon answer -> PAM return code. Whatever is not listed fails closed.
//
//   where                    daemon answer or local event               PAM code
//   -----------------------  -----------------------------------------  ----------------------
//   authenticate             bad option on the PAM line                 PAM_SERVICE_ERR
//                            exception inside the module                PAM_SERVICE_ERR
//                            pam_get_user fails                         its error
//   authenticate, AuthQuery  CodeRequired                               (prompt for the code)
//                            NotEnrolled                                PAM_IGNORE
//                            UnknownUser                                PAM_USER_UNKNOWN
//                            PermissionDenied                           PAM_AUTH_ERR
//                            Ok, BadRequest, InternalError, any other   PAM_AUTHINFO_UNAVAIL
//                            no answer: cannot connect, timeout,        PAM_AUTHINFO_UNAVAIL
//                            untrusted peer, closed, garbage
//   authenticate, prompt     conversation fails or answers NULL         PAM_CONV_ERR
//                            answer empty or over 128 bytes             PAM_AUTH_ERR, not sent
//                            answer equals PAM_AUTHTOK                  PAM_AUTH_ERR, not sent
//   authenticate,            Ok with a well-formed Nonce                PAM_SUCCESS, and
//   AuthVerify                                                          FOTOSTUDIO_AUTH=<nonce>
//                            Ok without a well-formed Nonce             PAM_AUTHINFO_UNAVAIL
//                            pam_putenv of the nonce fails              PAM_SYSTEM_ERR
//                            Rejected                                   PAM_AUTH_ERR
//                            NotEnrolled (disabled meanwhile)           PAM_AUTH_ERR
//                            UnknownUser                                PAM_USER_UNKNOWN
//                            PermissionDenied                           PAM_AUTH_ERR
//                            BadRequest, InternalError, any other,      PAM_AUTHINFO_UNAVAIL
//                            no answer
//   open_session             bad option, exception, no user name        PAM_SESSION_ERR
//   open_session with        Ok                                         PAM_SUCCESS
//   FOTOSTUDIO_AUTH,         Rejected (unknown, spent or stale nonce)   PAM_SESSION_ERR
//   SessionOpen              anything else, no answer                   PAM_SESSION_ERR
//   open_session without     NotEnrolled                                PAM_IGNORE
//   FOTOSTUDIO_AUTH,         CodeRequired (auth stage did not pass      PAM_SESSION_ERR
//   AuthQuery                this module, e.g. publickey-only ssh)
//                            anything else, no answer                   PAM_SESSION_ERR
//   setcred, acct_mgmt, chauthtok, close_session                        PAM_IGNORE
//
// FOTOSTUDIO_AUTH is removed from the PAM environment at the start of open_session, whatever
// follows, and at the start of authenticate, so that a failed retry keeps no earlier proof.
// No failure is ever PAM_SUCCESS or PAM_IGNORE: with "auth required", MFA must not switch itself
// off because the daemon is down or misconfigured. A bad option is PAM_SERVICE_ERR rather than
// PAM_AUTHINFO_UNAVAIL so that a stack tolerating an unreachable daemon
// ([authinfo_unavail=ignore]) still refuses a broken configuration.

const char* request_name(const protocol::Message& request) noexcept
{
    switch (request.type()) {
    case protocol::MessageType::AuthQuery: return "AuthQuery";
    case protocol::MessageType::AuthVerify: return "AuthVerify";
    case protocol::MessageType::SessionOpen: return "SessionOpen";
    default: return "request";
    }
}

// The daemon's sentence as it may appear in a log line: shortened, with control characters
// replaced, so that a broken or hostile listener cannot forge extra lines in the log.
std::string printable(std::string_view text)
{
    std::string shown(text.substr(0, kMaxLoggedText));
    for (char& c : shown) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            c = '?';
    }
    if (text.size() > kMaxLoggedText)
        shown += "...";
    return shown;
}

// Logs why an exchange gave no usable answer (a transport failure, or a status this request
// does not expect) and returns `code`. The daemon's sentence is included: it says what went wrong.
int fail_after_exchange(pam_handle_t* pamh, const protocol::Message& request,
                        const client::Outcome& outcome, int code)
{
    const auto status = status_of(outcome);
    if (!status) {
        pam_syslog(pamh, LOG_ERR, "%s failed: %s (%s)", request_name(request),
                   std::string(client::to_string(outcome.failure)).c_str(), outcome.detail.c_str());
        return code;
    }

    const auto text = printable(outcome.reply->get(protocol::Field::Text).value_or(""));
    pam_syslog(pamh, LOG_ERR, "fotoauthd answered %s to %s: %s",
               std::string(protocol::to_string(*status)).c_str(), request_name(request),
               text.c_str());
    return code;
}

void log_answer_for_debug(pam_handle_t* pamh, const Options& options,
                          const protocol::Message& request, const client::Outcome& outcome)
{
    if (!options.debug)
        return;
    const auto status = status_of(outcome);
    const std::string answer(status ? protocol::to_string(*status)
                                    : client::to_string(outcome.failure));
    pam_syslog(pamh, LOG_DEBUG, "%s: %s", request_name(request), answer.c_str());
}

client::Outcome ask(pam_handle_t* pamh, const Options& options, const protocol::Message& request)
{
    auto outcome = exchange(options, request);
    log_answer_for_debug(pamh, options, request, outcome);
    return outcome;
}

std::optional<std::string> optional_item(pam_handle_t* pamh, int item_type)
{
    const void* item = nullptr;
    if (pam_get_item(pamh, item_type, &item) != PAM_SUCCESS || !item)
        return std::nullopt;
    return std::string(static_cast<const char*>(item));
}

// Fills caller from the PAM items; on failure returns pam_get_user's error, never success.
int read_caller(pam_handle_t* pamh, Caller& caller)
{
    const char* user = nullptr;
    const int status = pam_get_user(pamh, &user, nullptr);
    if (status != PAM_SUCCESS)
        return status;
    if (!user)
        return PAM_SYSTEM_ERR;
    caller.user = user;

    caller.service = optional_item(pamh, PAM_SERVICE).value_or("");
    caller.remote_host = optional_item(pamh, PAM_RHOST);
    caller.tty = optional_item(pamh, PAM_TTY);
    return PAM_SUCCESS;
}

// The daemon makes nonces; anything outside this plain alphabet is not one of them, and must not
// reach an environment variable that a shell might later see.
bool is_plausible_nonce(std::string_view nonce) noexcept
{
    if (nonce.empty() || nonce.size() > kMaxNonceLength)
        return false;
    for (const char c : nonce) {
        const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '+' || c == '/' ||
                           c == '=' || c == '.';
        if (!plain)
            return false;
    }
    return true;
}

// Deletes FOTOSTUDIO_AUTH from the PAM environment (pam_putenv without '=' deletes). Whatever
// it held is spent or superseded by the caller's next step, so a failure is only logged.
void forget_nonce(pam_handle_t* pamh)
{
    if (!pam_getenv(pamh, kNonceVariable))
        return;
    const int status = pam_putenv(pamh, kNonceVariable);
    if (status != PAM_SUCCESS)
        pam_syslog(pamh, LOG_WARNING, "cannot remove %s from the PAM environment: %s, ignoring",
                   kNonceVariable, pam_strerror(pamh, status));
}

// Takes the nonce out of the PAM environment, so that it never reaches the user's shell, and
// returns it.
std::optional<std::string> take_nonce(pam_handle_t* pamh)
{
    const char* value = pam_getenv(pamh, kNonceVariable);
    if (!value)
        return std::nullopt;
    std::string nonce(value);
    forget_nonce(pamh);
    return nonce;
}

// --- auth stage ---

// Returns the PAM code to stop with, or nothing when the user must be asked for a code.
std::optional<int> ask_whether_code_needed(pam_handle_t* pamh, const Options& options,
                                           const Caller& caller)
{
    const auto request = auth_query(caller);
    const auto outcome = ask(pamh, options, request);
    const auto status = status_of(outcome);

    switch (status.value_or(ReplyStatus::InternalError)) {
    case ReplyStatus::CodeRequired: return std::nullopt;
    case ReplyStatus::NotEnrolled: return PAM_IGNORE;
    case ReplyStatus::UnknownUser:
        // The name may be a password typed into the login field: it is not logged.
        pam_syslog(pamh, LOG_NOTICE, "fotoauthd does not know the user");
        return PAM_USER_UNKNOWN;
    case ReplyStatus::PermissionDenied:
        pam_syslog(pamh, LOG_ERR, "fotoauthd does not let this process act for user %s",
                   caller.user.c_str());
        return PAM_AUTH_ERR;
    default: return fail_after_exchange(pamh, request, outcome, PAM_AUTHINFO_UNAVAIL);
    }
}

// Refuses answers that must not be sent to the daemon. Returns the PAM code to stop with, or
// nothing when the answer may be checked.
std::optional<int> refuse_locally(pam_handle_t* pamh, int flags, const Caller& caller,
                                  std::string_view answer)
{
    if (answer.empty() || answer.size() > kMaxAnswerLength) {
        pam_syslog(pamh, LOG_NOTICE, "answer for user %s refused: %s", caller.user.c_str(),
                   answer.empty() ? "empty" : "too long to be a code");
        tell_error(pamh, flags, kWrongCodeMessage);
        return PAM_AUTH_ERR;
    }

    const void* password = nullptr;
    if (pam_get_item(pamh, PAM_AUTHTOK, &password) == PAM_SUCCESS && password &&
        same_secret(answer, static_cast<const char*>(password))) {
        pam_syslog(
            pamh, LOG_WARNING,
            "answer for user %s refused and not sent to fotoauthd: it is the password of an earlier prompt. sshd answers every prompt with the password when KbdInteractiveAuthentication is off; turn it on so that the code prompt reaches the user",
            caller.user.c_str());
        tell_error(pamh, flags, kWrongCodeMessage);
        return PAM_AUTH_ERR;
    }
    return std::nullopt;
}

int remember_nonce(pam_handle_t* pamh, const Caller& caller, const client::Outcome& outcome)
{
    const auto nonce = outcome.reply->get(protocol::Field::Nonce);
    if (!nonce || !is_plausible_nonce(*nonce)) {
        pam_syslog(pamh, LOG_ERR, "fotoauthd accepted the code for user %s but sent %s nonce",
                   caller.user.c_str(), nonce ? "an unusable" : "no");
        return PAM_AUTHINFO_UNAVAIL;
    }

    const std::string assignment = std::string(kNonceVariable) + "=" + std::string(*nonce);
    const int status = pam_putenv(pamh, assignment.c_str());
    if (status != PAM_SUCCESS) {
        pam_syslog(pamh, LOG_ERR, "cannot set %s: %s", kNonceVariable, pam_strerror(pamh, status));
        return PAM_SYSTEM_ERR;
    }
    return PAM_SUCCESS;
}

int verify_code(pam_handle_t* pamh, int flags, const Options& options, const Caller& caller,
                std::string_view code)
{
    // A new connection: the user may have taken minutes to type, and the deadline of the first
    // exchange is long gone.
    const auto request = auth_verify(caller, code);
    const auto outcome = ask(pamh, options, request);
    const auto status = status_of(outcome);

    switch (status.value_or(ReplyStatus::InternalError)) {
    case ReplyStatus::Ok: return remember_nonce(pamh, caller, outcome);
    case ReplyStatus::Rejected:
        pam_syslog(pamh, LOG_NOTICE, "wrong or already used code for user %s", caller.user.c_str());
        tell_error(pamh, flags, kWrongCodeMessage);
        return PAM_AUTH_ERR;
    case ReplyStatus::NotEnrolled:
        pam_syslog(pamh, LOG_NOTICE, "user %s is no longer enrolled; code not checked",
                   caller.user.c_str());
        return PAM_AUTH_ERR;
    case ReplyStatus::UnknownUser:
        pam_syslog(pamh, LOG_NOTICE, "fotoauthd no longer knows the user");
        return PAM_USER_UNKNOWN;
    case ReplyStatus::PermissionDenied:
        pam_syslog(pamh, LOG_ERR, "fotoauthd does not let this process act for user %s",
                   caller.user.c_str());
        return PAM_AUTH_ERR;
    default: return fail_after_exchange(pamh, request, outcome, PAM_AUTHINFO_UNAVAIL);
    }
}

int authenticate(pam_handle_t* pamh, int flags, int argc, const char** argv)
{
    // A proof left by an earlier pass in this transaction must not outlive a failed retry.
    forget_nonce(pamh);

    const auto parsed = parse_options(pamh, argc, argv);
    if (!parsed)
        return PAM_SERVICE_ERR;
    const Options& options = *parsed;

    Caller caller;
    if (const int status = read_caller(pamh, caller); status != PAM_SUCCESS)
        return status;

    if (const auto stop = ask_whether_code_needed(pamh, options, caller))
        return *stop;

    auto prompt = prompt_hidden(pamh, kCodePrompt);
    if (prompt.status != PAM_SUCCESS) {
        pam_syslog(pamh, LOG_ERR, "no answer to the code prompt for user %s", caller.user.c_str());
        return PAM_CONV_ERR;
    }

    if (const auto stop = refuse_locally(pamh, flags, caller, prompt.answer.view()))
        return *stop;

    return verify_code(pamh, flags, options, caller, prompt.answer.view());
}

// --- session stage ---

int redeem_nonce(pam_handle_t* pamh, const Options& options, const Caller& caller,
                 std::string_view nonce)
{
    const auto request = session_open(caller.user, nonce);
    const auto outcome = ask(pamh, options, request);
    const auto status = status_of(outcome);

    switch (status.value_or(ReplyStatus::InternalError)) {
    case ReplyStatus::Ok: return PAM_SUCCESS;
    case ReplyStatus::Rejected:
        pam_syslog(pamh, LOG_ERR,
                   "session for user %s refused: its proof of MFA is unknown, spent or expired",
                   caller.user.c_str());
        return PAM_SESSION_ERR;
    default: return fail_after_exchange(pamh, request, outcome, PAM_SESSION_ERR);
    }
}

// A session without a nonce is fine only for a user who has nothing to prove.
int check_no_proof_needed(pam_handle_t* pamh, const Options& options, const Caller& caller)
{
    const auto request = auth_query(caller);
    const auto outcome = ask(pamh, options, request);
    const auto status = status_of(outcome);

    switch (status.value_or(ReplyStatus::InternalError)) {
    case ReplyStatus::NotEnrolled: return PAM_IGNORE;
    case ReplyStatus::CodeRequired:
        pam_syslog(
            pamh, LOG_ERR,
            "session for user %s refused: the user is enrolled but the auth stage did not check a code with this module (for example a publickey-only login)",
            caller.user.c_str());
        return PAM_SESSION_ERR;
    case ReplyStatus::UnknownUser:
        pam_syslog(pamh, LOG_ERR, "session refused: fotoauthd does not know the user");
        return PAM_SESSION_ERR;
    default: return fail_after_exchange(pamh, request, outcome, PAM_SESSION_ERR);
    }
}

int open_session(pam_handle_t* pamh, int argc, const char** argv)
{
    // Taken out before anything can fail, so that the nonce leaves the PAM environment on every
    // path, a bad option included.
    const auto nonce = take_nonce(pamh);

    const auto options = parse_options(pamh, argc, argv);
    if (!options)
        return PAM_SESSION_ERR;

    Caller caller;
    if (const int status = read_caller(pamh, caller); status != PAM_SUCCESS) {
        pam_syslog(pamh, LOG_ERR, "cannot get the user name: %s", pam_strerror(pamh, status));
        return PAM_SESSION_ERR;
    }

    if (nonce)
        return redeem_nonce(pamh, *options, caller, *nonce);
    return check_no_proof_needed(pamh, *options, caller);
}

// --- the C boundary ---

// Runs one entry point so that no exception escapes into the application's C code: an
// unexpected error is logged and becomes `failure`, which never lets anyone in.
template <typename Body> int run_guarded(pam_handle_t* pamh, int failure, Body&& body) noexcept
{
    try {
        return body();
    } catch (const std::exception& error) {
        pam_syslog(pamh, LOG_CRIT, "unexpected error: %s", error.what());
    } catch (...) {
        pam_syslog(pamh, LOG_CRIT, "unexpected error of an unknown type");
    }
    return failure;
}

}  // namespace

}  // namespace fotostudio::pam

extern "C" {

PAM_EXTERN int pam_sm_authenticate(pam_handle_t* pamh, int flags, int argc, const char** argv)
{
    return fotostudio::pam::run_guarded(pamh, PAM_SERVICE_ERR, [&] {
        return fotostudio::pam::authenticate(pamh, flags, argc, argv);
    });
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t*, int, int, const char**)
{
    return PAM_IGNORE;
}

// No account decision yet: whether a user may log in at all is not this module's call.
PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t*, int, int, const char**)
{
    return PAM_IGNORE;
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t* pamh, int, int argc, const char** argv)
{
    return fotostudio::pam::run_guarded(
        pamh, PAM_SESSION_ERR, [&] { return fotostudio::pam::open_session(pamh, argc, argv); });
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t*, int, int, const char**)
{
    return PAM_IGNORE;
}

// The password stage does not exist yet; until it does, the module stays out of the way.
PAM_EXTERN int pam_sm_chauthtok(pam_handle_t*, int, int, const char**)
{
    return PAM_IGNORE;
}

}  // extern "C"
