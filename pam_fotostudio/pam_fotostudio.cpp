// pam_fotostudio: asks fotoauthd whether a login attempt may go on and whether the user needs a
// one-time code, prompts for it, and lets the daemon check it. The module keeps no state and no
// secret: every decision, every counter and every lock is the daemon's, and the module only maps
// the daemon's answers to PAM return codes (answers.cpp holds that table).
//
// Like pam_faillock, one auth stack uses the module up to three times (options.hpp, Mode):
//
//   auth  requisite                     pam_fotostudio.so preauth
//   auth  [success=1 default=ignore]    pam_unix.so
//   auth  [default=die]                 pam_fotostudio.so authfail
//   auth  required                      pam_fotostudio.so
//
// `preauth` lets the daemon refuse a rate-limited source or user, or a locked account, before
// the password module can be tried at all. `authfail` runs only when the password failed: it
// asks for the code all the same, so that the prompts do not tell a right password from a wrong
// one, and the daemon counts a wrong code toward the lock. The code stage (no mode) does the
// real check. A stack of the code stage alone still gets the login limits: its AuthQuery asks
// the daemon to count the attempt (CountAttempt) when no `preauth` line ran before it in the
// same pam_authenticate call.
//
// A user in the `new-device` mode is not asked for the code on a device the daemon trusts (the
// SSH key that authenticated before keyboard-interactive, by default): the daemon's answer to the
// question then carries the proof itself. The daemon alone decides what a device is, from what
// sshd reports; the module only forwards SSH_AUTH_INFO_0.
//
// The auth stage hands its result to the later stages through the PAM environment variable
// FOTOSTUDIO_AUTH, holding a nonce the daemon issued. sshd runs keyboard-interactive auth in a
// child process and only the PAM environment comes back to the monitor, where the session stack
// runs; the daemon keeps the nonce for two minutes and redeems it once. The account stage shows
// the nonce to the daemon without redeeming it: an enrolled user whose login passed no code (a
// public key alone, where sshd runs no auth stack) is refused there, on the services the daemon's
// configuration names. The session stage redeems it.
//
// With `require_key` the preauth line refuses, before anything else, a login whose first method
// was not a public key (sshd's SSH_AUTH_INFO_0): for stacks where the key replaces the password
// (etc/pam.d/sshd-fotostudio-keys), so that a mistaken AuthenticationMethods cannot let anyone
// in with keyboard-interactive alone.
//
// In the password stack the module stands first and last (etc/pam.d/common-password-fotostudio):
//
//   password  requisite                   pam_fotostudio.so preauth
//   password  [success=1 default=ignore]  pam_unix.so obscure yescrypt
//   password  requisite                   pam_deny.so
//   password  required                    pam_fotostudio.so
//
// libpam walks the stack twice. In the preliminary phase the `preauth` line lets the daemon
// count the attempt against the password-change limit and refuse it; in the update phase the
// last line, reached only when pam_unix really changed the password, tells the daemon, which
// ends the user's other sessions and forgets the trusted devices. Each line ignores the other
// phase.
#include "answers.hpp"
#include "conversation.hpp"
#include "daemon.hpp"
#include "options.hpp"

#include <cxxabi.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include <syslog.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

namespace fotostudio::pam {

namespace {

using protocol::ReplyStatus;

constexpr const char* kCodePrompt = "Verification code or recovery code: ";
constexpr const char* kNonceVariable = "FOTOSTUDIO_AUTH";
constexpr const char* kAuthInfoVariable = "SSH_AUTH_INFO_0";
// pam_set_data name of the mark `preauth` leaves for the code stage of the same call.
constexpr const char* kPreauthMark = "fotostudio-preauth-ran";

// Shown when the daemon refuses a login without saying why (it normally sends a sentence).
constexpr const char* kLockedFallback =
    "This account is locked after too many wrong verification codes.";
constexpr const char* kRateLimitedFallback = "Too many login attempts. Wait and try again.";
constexpr const char* kNeedsCodeFallback = "This account needs a verification code to log in.";
constexpr const char* kPasswordChangesFallback =
    "Too many password change attempts. Wait and try again.";
constexpr const char* kKeyRequiredMessage =
    "This server accepts logins only with a public key first.";
// Ends the warning after a login when few recovery codes are left.
constexpr const char* kRegenerateHint = "Make new ones with: fotoauthctl recovery-codes regenerate";
// The first line of SSH_AUTH_INFO_0 when the login's first method was a public key.
constexpr std::string_view kPublicKeyMethod = "publickey ";

// Nothing legitimate typed at the prompt is longer: a TOTP code has 6 digits, a recovery code 14
// characters. Longer answers are refused without bothering the daemon.
constexpr std::size_t kMaxAnswerLength = 128;
constexpr std::size_t kMaxNonceLength = 256;
constexpr std::size_t kMaxLoggedText = 200;
// A key line of SSH_AUTH_INFO_0 is under 1 KiB even for RSA-8192; a certificate can be longer.
// Cutting the value keeps the request within one datagram, and the cut is the same on every
// login with that key, so the daemon still tells one key's logins from another's.
constexpr std::size_t kMaxAuthInfoLength = 2048;

// What the module does on its own, before or between the daemon's answers (answers.cpp has the
// table for those):
//
//   authenticate, any mode   bad option on the PAM line                 PAM_SERVICE_ERR
//                            exception inside the module                PAM_SERVICE_ERR
//                            pam_get_user fails                         its error
//   preauth with require_key SSH_AUTH_INFO_0 not starting "publickey "  PAM_AUTH_ERR, shown
//                                                                       and logged, before
//                                                                       pam_get_user or a request
//   code stage, authfail     conversation fails or answers NULL         PAM_CONV_ERR
//   (the prompt)             answer empty or over 128 bytes             PAM_AUTH_ERR, not sent
//                            answer equals PAM_AUTHTOK                  PAM_AUTH_ERR, not sent
//   code stage: AuthVerify   Ok or Trusted without a well-formed Nonce  PAM_AUTHINFO_UNAVAIL
//   Ok, AuthQuery Trusted    pam_putenv of the nonce fails              PAM_SYSTEM_ERR
//   code stage: AuthVerify   CodesLeft in the answer (the daemon sends  PAM_SUCCESS, and "Only N
//   Ok, nonce kept           it when 2 or fewer recovery codes remain)  recovery codes are left."
//                                                                       as PAM_TEXT_INFO
//   acct_mgmt                bad option, exception, no user name        PAM_PERM_DENIED
//                            FOTOSTUDIO_AUTH not a plausible nonce      sent without a nonce
//   open_session             bad option, exception, no user name        PAM_SESSION_ERR
//   setcred                                                             PAM_SUCCESS
//   close_session                                                       PAM_IGNORE
//   chauthtok, either line   bad option (authfail, require_key too),    PAM_AUTHTOK_ERR (a bad
//                            exception, neither phase flag              option already in the
//                                                                       preliminary phase)
//                            no user name                               PAM_AUTHTOK_ERR; in the
//                                                                       update phase of the last
//                                                                       line with the not-told
//                                                                       message
//                            preauth line, update phase                 PAM_IGNORE
//                            last line, preliminary phase               PAM_IGNORE
//   chauthtok, last line     PasswordChanged Ok                         PAM_SUCCESS, and the
//                                                                       counts as PAM_TEXT_INFO
//
// FOTOSTUDIO_AUTH is removed from the PAM environment at the start of open_session, whatever
// follows, and at the start of authenticate, so that a failed retry keeps no earlier proof;
// acct_mgmt leaves it where it is.
// A bad option is PAM_SERVICE_ERR rather than PAM_AUTHINFO_UNAVAIL so that a stack tolerating
// an unreachable daemon ([authinfo_unavail=ignore]) still refuses a broken configuration.

// Who is logging in, and how the module was asked to work, for one call.
struct Login {
    pam_handle_t* pamh;
    int flags;
    const Options& options;
    const Caller& caller;
    // The call's connection to the daemon, shared by its requests.
    DaemonLink& daemon;
};

// The outcome of one exchange after the table judged it: either go on (with the daemon's
// answer), or stop with pam_code: a refusal already shown and logged, or a passed login whose
// nonce is already kept (the answer comes along, for what else it carries).
struct Judged {
    bool proceed;
    int pam_code;
    std::optional<protocol::Message> reply;
};

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

// Logs, in one line, why an exchange gave no usable answer (a transport failure, or a status
// this step does not expect) and what that leaves undone (the verdict's reason, if any). The
// daemon's sentence is included: it says what went wrong.
void log_failed_exchange(const Login& login, Step step, const client::Outcome& outcome,
                         const Verdict& verdict)
{
    std::string line;
    if (const auto status = status_of(outcome)) {
        line = "fotoauthd answered " + std::string(protocol::to_string(*status)) + " to " +
               step_name(step) + ": " +
               printable(outcome.reply->get(protocol::Field::Text).value_or(""));
    } else {
        line = std::string(step_name(step)) +
               " failed: " + std::string(client::to_string(outcome.failure)) + " (" +
               outcome.detail + ")";
    }

    if (verdict.reason) {
        line += std::string("; ") + verdict.reason;
        if (verdict.reason_names_user)
            line += " (user " + login.caller.user + ")";
    }
    pam_syslog(login.pamh, verdict.log_priority, "%s", line.c_str());
}

void log_answer_for_debug(const Login& login, Step step, const client::Outcome& outcome)
{
    if (!login.options.debug)
        return;
    const auto status = status_of(outcome);
    const std::string answer(status ? protocol::to_string(*status)
                                    : client::to_string(outcome.failure));
    pam_syslog(login.pamh, LOG_DEBUG, "%s: %s", step_name(step), answer.c_str());
}

void log_reason(const Login& login, const Verdict& verdict)
{
    if (!verdict.reason)
        return;
    if (verdict.reason_names_user)
        pam_syslog(login.pamh, verdict.log_priority, "%s (user %s)", verdict.reason,
                   login.caller.user.c_str());
    else
        pam_syslog(login.pamh, verdict.log_priority, "%s", verdict.reason);
}

// What to show when the daemon refuses without a sentence of its own.
const char* fallback_text(Step step, std::optional<ReplyStatus> status) noexcept
{
    if (step == Step::PasswordCheck)
        return kPasswordChangesFallback;
    if (status == ReplyStatus::Locked)
        return kLockedFallback;
    if (status == ReplyStatus::Rejected)
        return kNeedsCodeFallback;
    return kRateLimitedFallback;
}

// Shows the daemon's reason for refusing a login (how long to wait, until when the account is
// locked, how to log in with a code), made safe for the user's terminal.
void show_daemon_text(const Login& login, Step step, const protocol::Message& reply)
{
    const auto text = reply.get(protocol::Field::Text);
    if (text && !text->empty()) {
        tell_error(login.pamh, login.flags, displayable(*text).c_str());
        return;
    }
    tell_error(login.pamh, login.flags, fallback_text(step, protocol::reply_status(reply)));
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

// Keeps the daemon's proof that this login passed, for the account and session stages. Without a
// usable nonce the login fails here, closed, rather than later without a reason.
int remember_nonce(const Login& login, Step step, const protocol::Message& reply)
{
    pam_handle_t* pamh = login.pamh;
    const auto nonce = reply.get(protocol::Field::Nonce);
    if (!nonce || !is_plausible_nonce(*nonce)) {
        const auto status = protocol::reply_status(reply);
        pam_syslog(pamh, LOG_ERR, "fotoauthd answered %s to %s for user %s but sent %s nonce",
                   std::string(status ? protocol::to_string(*status) : "?").c_str(),
                   step_name(step), login.caller.user.c_str(), nonce ? "an unusable" : "no");
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

// Sends one request on the call's connection, with a deadline of its own (the user may have
// taken minutes at a prompt), and acts on the table's verdict for the answer.
Judged consult(const Login& login, Step step, const protocol::Message& request)
{
    auto outcome = login.daemon.exchange(request);
    log_answer_for_debug(login, step, outcome);
    const Verdict verdict = judge(step, status_of(outcome));

    switch (verdict.action) {
    case Action::Proceed: return {true, verdict.pam_code, std::move(outcome.reply)};
    case Action::KeepProof: {
        const int kept = remember_nonce(login, step, *outcome.reply);
        return {false, kept, std::move(outcome.reply)};
    }
    case Action::Stop: break;
    case Action::StopWrongCode:
        tell_error(login.pamh, login.flags, kWrongCodeMessage);
        // Advice beside the refusal, such as a phone whose clock is off (docs/clock-drift.md).
        if (const auto hint =
                outcome.reply ? outcome.reply->get(protocol::Field::Hint) : std::nullopt;
            hint && !hint->empty())
            tell_info(login.pamh, login.flags, displayable(*hint).c_str());
        break;
    case Action::StopDaemonText: show_daemon_text(login, step, *outcome.reply); break;
    case Action::StopDaemonInfo:
        if (const auto text = outcome.reply->get(protocol::Field::Text); text && !text->empty())
            tell_info(login.pamh, login.flags, displayable(*text).c_str());
        break;
    case Action::FailAfterChange:
        tell_error(login.pamh, login.flags, kPasswordNotToldMessage);
        [[fallthrough]];
    case Action::Fail:
        log_failed_exchange(login, step, outcome, verdict);
        return {false, verdict.pam_code, std::nullopt};
    }
    log_reason(login, verdict);
    return {false, verdict.pam_code, std::nullopt};
}

std::optional<std::string> optional_item(pam_handle_t* pamh, int item_type)
{
    const void* item = nullptr;
    if (pam_get_item(pamh, item_type, &item) != PAM_SUCCESS || !item)
        return std::nullopt;
    return std::string(static_cast<const char*>(item));
}

std::optional<std::string> auth_info(pam_handle_t* pamh)
{
    const char* value = pam_getenv(pamh, kAuthInfoVariable);
    if (!value)
        return std::nullopt;
    return std::string(value, ::strnlen(value, kMaxAuthInfoLength));
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
    caller.auth_info = auth_info(pamh);
    return PAM_SUCCESS;
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

// --- the mark that preauth ran ---

void free_mark(pam_handle_t*, void* data, int)
{
    std::free(data);
}

// Leaves the user's name as the mark, so that the code stage knows the attempt is counted. A
// failure only costs a second count of the same attempt, so it is logged and nothing more.
void leave_preauth_mark(pam_handle_t* pamh, const Caller& caller)
{
    char* name = ::strdup(caller.user.c_str());
    const int status = name ? pam_set_data(pamh, kPreauthMark, name, free_mark) : PAM_BUF_ERR;
    if (status != PAM_SUCCESS) {
        std::free(name);
        pam_syslog(pamh, LOG_WARNING,
                   "cannot mark that preauth ran: %s; the code stage will ask the daemon again",
                   pam_strerror(pamh, status));
    }
}

// Whether preauth ran for this user since the mark was last taken. Taking it (replacing it with
// nothing) limits it to one pam_authenticate call: sshd calls it again for every retry, and each
// retry must be counted, by a `preauth` line or by the code stage.
bool take_preauth_mark(pam_handle_t* pamh, const Caller& caller)
{
    const void* data = nullptr;
    if (pam_get_data(pamh, kPreauthMark, &data) != PAM_SUCCESS || !data)
        return false;
    const bool same_user = caller.user == static_cast<const char*>(data);
    (void)pam_set_data(pamh, kPreauthMark, nullptr, nullptr);
    return same_user;
}

// "1 other session", "2 other sessions": what the daemon reports, as a person would say it.
std::string counted(std::uint64_t count, const char* one, const char* many)
{
    return std::to_string(count) + " " + (count == 1 ? one : many);
}

// --- auth stage ---

// Refuses answers that must not be sent to the daemon. Returns the PAM code to stop with, or
// nothing when the answer may be checked.
std::optional<int> refuse_locally(const Login& login, std::string_view answer)
{
    pam_handle_t* pamh = login.pamh;
    if (answer.empty() || answer.size() > kMaxAnswerLength) {
        pam_syslog(pamh, LOG_NOTICE, "answer for user %s refused: %s", login.caller.user.c_str(),
                   answer.empty() ? "empty" : "too long to be a code");
        tell_error(pamh, login.flags, kWrongCodeMessage);
        return PAM_AUTH_ERR;
    }

    const void* password = nullptr;
    if (pam_get_item(pamh, PAM_AUTHTOK, &password) == PAM_SUCCESS && password &&
        same_secret(answer, static_cast<const char*>(password))) {
        pam_syslog(
            pamh, LOG_WARNING,
            "answer for user %s refused and not sent to fotoauthd: it is the password of an earlier prompt. sshd answers every prompt with the password when KbdInteractiveAuthentication is off; turn it on so that the code prompt reaches the user",
            login.caller.user.c_str());
        tell_error(pamh, login.flags, kWrongCodeMessage);
        return PAM_AUTH_ERR;
    }
    return std::nullopt;
}

// The preauth mode: may this attempt go on? Never prompts.
int check_attempt_allowed(const Login& login)
{
    const auto judged = consult(login, Step::Preauth, preauth(login.caller));
    if (judged.proceed)
        leave_preauth_mark(login.pamh, login.caller);
    return judged.pam_code;
}

// Prompts for the code and checks it at `verify` (Verify, or VerifyAfterBadPassword).
Judged ask_and_check_code(const Login& login, Step verify)
{
    auto prompt = prompt_hidden(login.pamh, kCodePrompt);
    if (prompt.status != PAM_SUCCESS) {
        pam_syslog(login.pamh, LOG_ERR, "no answer to the code prompt for user %s",
                   login.caller.user.c_str());
        return {false, PAM_CONV_ERR, std::nullopt};
    }

    if (const auto stop = refuse_locally(login, prompt.answer.view()))
        return {false, *stop, std::nullopt};

    const bool password_failed = verify == Step::VerifyAfterBadPassword;
    return consult(login, verify, auth_verify(login.caller, prompt.answer.view(), password_failed));
}

// After a right code, tells the user that the recovery codes are running out, when the daemon
// says so (it sends CodesLeft only then): new ones are easy to make now, and impossible once the
// phone is lost too. Only a warning: the login has passed either way.
void warn_if_few_codes_left(const Login& login, const protocol::Message& reply)
{
    const auto left = reply.get_u64(protocol::Field::CodesLeft);
    if (!left)
        return;
    const std::string how_many =
        *left == 0 ? "No recovery codes are left. "
                   : "Only " + counted(*left, "recovery code is", "recovery codes are") + " left. ";
    tell_info(login.pamh, login.flags, (how_many + kRegenerateHint).c_str());
}

// The code stage: the attempt is counted (by a preauth line before, or here), then the user is
// asked for a code if enrolled and the device is not trusted. Either way a passed login leaves
// the daemon's nonce for the account and session stages (consult keeps it).
int check_code(const Login& login)
{
    // Without a preauth line before, the query counts the attempt itself (as Preauth would).
    const bool counted = take_preauth_mark(login.pamh, login.caller);
    const auto query = consult(login, Step::Query, auth_query(login.caller, false, !counted));
    if (!query.proceed)
        return query.pam_code;

    const auto verified = ask_and_check_code(login, Step::Verify);
    if (verified.proceed) {
        // The table ends every answer at this step; should one go on, no nonce was kept.
        pam_syslog(login.pamh, LOG_CRIT, "the answer table let a code pass without keeping it");
        return PAM_AUTHINFO_UNAVAIL;
    }

    if (verified.pam_code == PAM_SUCCESS && verified.reply)
        warn_if_few_codes_left(login, *verified.reply);
    return verified.pam_code;
}

// The authfail mode: the password failed, so this never succeeds; an enrolled user is asked for
// the code all the same, as the code stage would ask (not on a trusted device), and the daemon
// counts a wrong one.
int check_code_after_bad_password(const Login& login)
{
    // The code stage will not run in this call; a mark left for it must not reach the next one.
    (void)take_preauth_mark(login.pamh, login.caller);

    const auto query =
        consult(login, Step::QueryAfterBadPassword, auth_query(login.caller, true, false));
    if (!query.proceed)
        return query.pam_code;

    const auto verified = ask_and_check_code(login, Step::VerifyAfterBadPassword);
    if (verified.proceed) {
        // The table lets nothing proceed at this step; should it ever, this still fails.
        pam_syslog(login.pamh, LOG_CRIT, "the answer table let a code pass after a bad password");
        return PAM_AUTH_ERR;
    }
    return verified.pam_code;
}

// Whether sshd reports a public key as this login's first method: SSH_AUTH_INFO_0 then begins
// with the line "publickey TYPE BLOB". sshd sets it only with ExposeAuthInfo yes.
bool first_method_was_a_key(pam_handle_t* pamh)
{
    const char* value = pam_getenv(pamh, kAuthInfoVariable);
    if (!value)
        return false;
    const std::string_view info(value, ::strnlen(value, kMaxAuthInfoLength));
    const std::string_view first_line = info.substr(0, info.find('\n'));
    return first_line.size() > kPublicKeyMethod.size() && first_line.starts_with(kPublicKeyMethod);
}

// require_key: a login that did not start with a public key is refused before any prompt and
// before the daemon counts anything. The name is not logged: nothing has checked it yet.
int refuse_login_without_key(pam_handle_t* pamh, int flags)
{
    pam_syslog(
        pamh, LOG_NOTICE,
        "login refused: require_key is set and SSH_AUTH_INFO_0 names no public key as the first method; sshd needs ExposeAuthInfo yes and AuthenticationMethods publickey,keyboard-interactive");
    tell_error(pamh, flags, kKeyRequiredMessage);
    return PAM_AUTH_ERR;
}

int authenticate(pam_handle_t* pamh, int flags, int argc, const char** argv)
{
    // A proof left by an earlier pass in this transaction must not outlive a failed retry.
    forget_nonce(pamh);

    const auto parsed = parse_options(pamh, argc, argv);
    if (!parsed)
        return PAM_SERVICE_ERR;
    if (parsed->require_key && !first_method_was_a_key(pamh))
        return refuse_login_without_key(pamh, flags);

    Caller caller;
    if (const int status = read_caller(pamh, caller); status != PAM_SUCCESS)
        return status;

    DaemonLink daemon(*parsed);
    const Login login{pamh, flags, *parsed, caller, daemon};
    switch (parsed->mode) {
    case Mode::Preauth: return check_attempt_allowed(login);
    case Mode::Authfail: return check_code_after_bad_password(login);
    case Mode::Code: break;
    }
    return check_code(login);
}

// --- account stage ---

// The nonce the auth stage left, when it looks like one. Anything else is no proof, and is not
// sent: it could not be redeemed, and a huge value would not even fit into a request.
std::optional<std::string_view> proof_of_auth_stage(pam_handle_t* pamh)
{
    const char* value = pam_getenv(pamh, kNonceVariable);
    if (!value)
        return std::nullopt;
    if (!is_plausible_nonce(value)) {
        pam_syslog(pamh, LOG_WARNING, "%s holds no usable nonce, ignoring it", kNonceVariable);
        return std::nullopt;
    }
    return std::string_view(value);
}

// Whether this login passed a code or a trusted device where the daemon's configuration asks for
// one: sshd runs no auth stack for a publickey-only login, so the account stage is where an
// enrolled user's such login is refused. The nonce is only shown to the daemon, never removed:
// the session stage redeems it.
int check_account(pam_handle_t* pamh, int flags, int argc, const char** argv)
{
    const auto options = parse_options(pamh, argc, argv);
    if (!options)
        return PAM_PERM_DENIED;

    Caller caller;
    if (const int status = read_caller(pamh, caller); status != PAM_SUCCESS) {
        pam_syslog(pamh, LOG_ERR, "cannot get the user name: %s", pam_strerror(pamh, status));
        return PAM_PERM_DENIED;
    }

    DaemonLink daemon(*options);
    const Login login{pamh, flags, *options, caller, daemon};
    return consult(login, Step::Account, account_check(caller, proof_of_auth_stage(pamh))).pam_code;
}

// --- session stage ---

int open_session(pam_handle_t* pamh, int flags, int argc, const char** argv)
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

    // A session without a nonce is fine only for a user who has nothing to prove.
    DaemonLink daemon(*options);
    const Login login{pamh, flags, *options, caller, daemon};
    if (nonce)
        return consult(login, Step::SessionRedeem, session_open(caller, *nonce)).pam_code;
    return consult(login, Step::SessionQuery, session_open(caller, std::nullopt)).pam_code;
}

// --- password stage ---

// The preliminary phase, on the `preauth` line: the daemon counts the attempt against the
// password-change limit, or refuses it with a sentence saying how long to wait.
int check_password_change_allowed(const Login& login)
{
    return consult(login, Step::PasswordCheck, password_change_check(login.caller)).pam_code;
}

// Tells the user what the change set off, when the daemon said: a password change that throws
// other people out of the account should not pass unnoticed.
void tell_what_the_change_ended(const Login& login, const protocol::Message& reply)
{
    const auto sessions = reply.get_u64(protocol::Field::Count);
    const auto devices = reply.get_u64(protocol::Field::DeviceCount);
    if (!sessions || !devices)
        return;
    const std::string text = counted(*sessions, "other session", "other sessions") +
                             " of this account ended; " +
                             counted(*devices, "trusted device", "trusted devices") + " forgotten.";
    tell_info(login.pamh, login.flags, text.c_str());
}

// The update phase, on the last line: pam_unix has changed the password, so the daemon must end
// the other sessions and forget the devices. Nothing can undo the change any more; a failure is
// told to the user (consult shows kPasswordNotToldMessage) and fails the change all the same, so
// that passwd does not report a plain success.
int report_password_changed(const Login& login)
{
    const auto judged =
        consult(login, Step::PasswordChanged, password_changed(login.caller, ::getuid()));
    if (judged.proceed && judged.reply)
        tell_what_the_change_ended(login, *judged.reply);
    return judged.pam_code;
}

// A failure of the last line in the update phase before the daemon could be asked: the
// password is changed all the same, so the user is told, as after a failed exchange.
int fail_after_change(pam_handle_t* pamh, int flags, const char* why)
{
    pam_syslog(
        pamh, LOG_ERR,
        "%s; the password was changed, but the other sessions were not ended and the trusted devices not forgotten",
        why);
    tell_error(pamh, flags, kPasswordNotToldMessage);
    return PAM_AUTHTOK_ERR;
}

// Options the password stack cannot use.
bool usable_in_password_stack(pam_handle_t* pamh, const Options& options)
{
    if (options.mode == Mode::Authfail || options.require_key) {
        pam_syslog(pamh, LOG_ERR,
                   "options authfail and require_key have no meaning in the password stack");
        return false;
    }
    return true;
}

int change_password(pam_handle_t* pamh, int flags, int argc, const char** argv)
{
    const bool preliminary = (flags & PAM_PRELIM_CHECK) != 0;
    const bool update = (flags & PAM_UPDATE_AUTHTOK) != 0;
    if (preliminary == update) {
        pam_syslog(pamh, LOG_ERR, "pam_chauthtok called with %s phase flag",
                   preliminary ? "both the preliminary and the update" : "no");
        return PAM_AUTHTOK_ERR;
    }

    // libpam runs the update phase only when every line passed the preliminary one, so a bad
    // option stops the change there, before pam_unix changes anything.
    const auto options = parse_options(pamh, argc, argv);
    if (!options || !usable_in_password_stack(pamh, *options))
        return PAM_AUTHTOK_ERR;
    const bool first_line = options->mode == Mode::Preauth;
    if (first_line != preliminary)
        return PAM_IGNORE;

    Caller caller;
    if (const int status = read_caller(pamh, caller); status != PAM_SUCCESS) {
        const std::string why =
            std::string("cannot get the user name: ") + pam_strerror(pamh, status);
        if (update)
            return fail_after_change(pamh, flags, why.c_str());
        pam_syslog(pamh, LOG_ERR, "%s", why.c_str());
        return PAM_AUTHTOK_ERR;
    }

    DaemonLink daemon(*options);
    const Login login{pamh, flags, *options, caller, daemon};
    return preliminary ? check_password_change_allowed(login) : report_password_changed(login);
}

// --- the C boundary ---

// Runs one entry point so that no exception escapes into the application's C code: an
// unexpected error is logged and becomes `failure`, which never lets anyone in.
//
// One unwinding must go on: a threaded application may cancel the thread while it waits in the
// module (at the code prompt, in the application's own conversation function, or on the
// daemon's socket), or the conversation may call pthread_exit. The C library then unwinds the
// thread's stack to its end; our destructors run on the way (the socket is closed, the typed
// code wiped), and stopping it here would make the C library abort the whole process.
//
// That unwinding carries no C++ object, so the handler's reference is bound to nothing; it is
// never used. The undefined-behaviour sanitizer would report the binding itself, and is left
// out of this one function (the body it calls is checked as everywhere).
template <typename Body>
__attribute__((no_sanitize_undefined)) int run_guarded(pam_handle_t* pamh, int failure, Body&& body)
{
    try {
        return body();
    } catch (abi::__forced_unwind&) {
        throw;
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

// The module sets no credentials, but says so with success, not PAM_IGNORE: pam_setcred walks
// the auth lines again, and in the recommended stack a user without MFA has no line but preauth
// that counts as a success (the password module's `success=1` jump does not). Ignoring here
// would leave libpam with no module that said yes, and sshd would refuse the login after
// "Accepted" with "pam_setcred(): Permission denied".
PAM_EXTERN int pam_sm_setcred(pam_handle_t*, int, int, const char**)
{
    return PAM_SUCCESS;
}

// Every failure here is PAM_PERM_DENIED: PAM_AUTHINFO_UNAVAIL means nothing to the account
// stage, and a stack that let an unknown code through would let a publickey-only login in.
PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t* pamh, int flags, int argc, const char** argv)
{
    return fotostudio::pam::run_guarded(pamh, PAM_PERM_DENIED, [&] {
        return fotostudio::pam::check_account(pamh, flags, argc, argv);
    });
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t* pamh, int flags, int argc, const char** argv)
{
    return fotostudio::pam::run_guarded(pamh, PAM_SESSION_ERR, [&] {
        return fotostudio::pam::open_session(pamh, flags, argc, argv);
    });
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t*, int, int, const char**)
{
    return PAM_IGNORE;
}

// Every failure here is PAM_AUTHTOK_ERR, a code pam_chauthtok documents; the rate limit is
// PAM_TRY_AGAIN (answers.cpp).
PAM_EXTERN int pam_sm_chauthtok(pam_handle_t* pamh, int flags, int argc, const char** argv)
{
    return fotostudio::pam::run_guarded(pamh, PAM_AUTHTOK_ERR, [&] {
        return fotostudio::pam::change_password(pamh, flags, argc, argv);
    });
}

}  // extern "C"
