#include "answers.hpp"

#include <security/pam_modules.h>

#include <syslog.h>

#include <array>

namespace fotostudio::pam {

namespace {

using protocol::ReplyStatus;

struct Rule {
    Step step;
    ReplyStatus status;
    Verdict verdict;
};

constexpr bool kNamesUser = true;
constexpr bool kAnonymous = false;

// Daemon answer -> PAM code. An answer a step does not list, and every failed exchange (cannot
// connect, timeout, untrusted peer, closed, garbage), is Fail: PAM_AUTHINFO_UNAVAIL in the auth
// stage, PAM_PERM_DENIED in the account stage (PAM_AUTHINFO_UNAVAIL is no account-stage code),
// PAM_SESSION_ERR in the session stage, PAM_AUTHTOK_ERR in the password stage. No failure is
// ever PAM_SUCCESS or PAM_IGNORE: with "required", MFA must not switch itself off because the
// daemon is down or confused.
//
// Unknown and unenrolled users are indistinguishable to whoever types at the prompt: the daemon
// answers NotEnrolled for names that do not resolve, and an UnknownUser answer (from a daemon
// that still sends it) is treated exactly like NotEnrolled. Rows an unknown name can reach never
// log the name: it may be a password typed into the login field.
//
// RateLimited and Locked stop the login with PAM_MAXTRIES, which tells sshd to end the
// connection's authentication instead of offering the next try, and show the daemon's sentence
// (how long to wait, or until when the account is locked and how to get it unlocked).
//
// In the authfail mode the password has already failed, so nothing there ever succeeds: the
// code is asked and checked all the same (the daemon counts a wrong one toward the lock but
// neither accepts nor spends a right one), and the refusal reads exactly as in the code stage.
// On a device the daemon trusts the code stage would not prompt, so neither does authfail: it
// refuses at once with the wrong-code message, and the prompts still do not tell a wrong
// password from a right one.
//
// A right code (AuthVerify) and a trusted device (AuthQuery answering Trusted) both end the
// auth stage the same way: the daemon's nonce goes into FOTOSTUDIO_AUTH, where the account stage
// shows it to the daemon and the session stage redeems it.
// The formatter would scatter these rules; they are laid out by hand, one per paragraph.
// clang-format off
constexpr std::array kRules = {
    // Preauth: may this attempt go on at all? Counted by the daemon when it answers Ok.
    Rule{Step::Preauth, ReplyStatus::Ok,
         {Action::Proceed, PAM_SUCCESS, 0, nullptr, kAnonymous}},
    Rule{Step::Preauth, ReplyStatus::RateLimited,
         {Action::StopDaemonText, PAM_MAXTRIES, LOG_NOTICE,
          "login attempt refused: too many attempts in the window", kAnonymous}},
    Rule{Step::Preauth, ReplyStatus::Locked,
         {Action::StopDaemonText, PAM_MAXTRIES, LOG_NOTICE,
          "login attempt refused: the account is locked after wrong codes", kAnonymous}},
    Rule{Step::Preauth, ReplyStatus::PermissionDenied,
         {Action::Stop, PAM_AUTH_ERR, LOG_ERR,
          "fotoauthd does not let this process act for the user", kAnonymous}},

    // AuthQuery in the code stage: does this user need a code?
    Rule{Step::Query, ReplyStatus::CodeRequired,
         {Action::Proceed, PAM_SUCCESS, 0, nullptr, kAnonymous}},
    Rule{Step::Query, ReplyStatus::Trusted,
         {Action::KeepProof, PAM_SUCCESS, 0, nullptr, kAnonymous}},
    Rule{Step::Query, ReplyStatus::NotEnrolled,
         {Action::Stop, PAM_IGNORE, 0, nullptr, kAnonymous}},
    Rule{Step::Query, ReplyStatus::UnknownUser,
         {Action::Stop, PAM_IGNORE, 0, nullptr, kAnonymous}},
    Rule{Step::Query, ReplyStatus::Locked,
         {Action::StopDaemonText, PAM_MAXTRIES, LOG_NOTICE,
          "login refused: the account is locked after wrong codes", kNamesUser}},
    Rule{Step::Query, ReplyStatus::RateLimited,
         {Action::StopDaemonText, PAM_MAXTRIES, LOG_NOTICE,
          "login attempt refused: too many attempts in the window", kAnonymous}},
    Rule{Step::Query, ReplyStatus::PermissionDenied,
         {Action::Stop, PAM_AUTH_ERR, LOG_ERR,
          "fotoauthd does not let this process act for the user", kAnonymous}},

    // AuthQuery in the authfail mode: as in the code stage, except that a user without MFA
    // fails here (the password did), without a prompt, just as an unknown name does.
    Rule{Step::QueryAfterBadPassword, ReplyStatus::CodeRequired,
         {Action::Proceed, PAM_SUCCESS, 0, nullptr, kAnonymous}},
    Rule{Step::QueryAfterBadPassword, ReplyStatus::Trusted,
         {Action::StopWrongCode, PAM_AUTH_ERR, LOG_NOTICE,
          "password failed on a trusted device; refused without asking the code", kNamesUser}},
    Rule{Step::QueryAfterBadPassword, ReplyStatus::NotEnrolled,
         {Action::Stop, PAM_AUTH_ERR, 0, nullptr, kAnonymous}},
    Rule{Step::QueryAfterBadPassword, ReplyStatus::UnknownUser,
         {Action::Stop, PAM_AUTH_ERR, 0, nullptr, kAnonymous}},
    Rule{Step::QueryAfterBadPassword, ReplyStatus::Locked,
         {Action::StopDaemonText, PAM_MAXTRIES, LOG_NOTICE,
          "login refused: the account is locked after wrong codes", kNamesUser}},
    Rule{Step::QueryAfterBadPassword, ReplyStatus::RateLimited,
         {Action::StopDaemonText, PAM_MAXTRIES, LOG_NOTICE,
          "login attempt refused: too many attempts in the window", kAnonymous}},
    Rule{Step::QueryAfterBadPassword, ReplyStatus::PermissionDenied,
         {Action::Stop, PAM_AUTH_ERR, LOG_ERR,
          "fotoauthd does not let this process act for the user", kAnonymous}},

    // AuthVerify in the code stage. Ok keeps the nonce, which may still fail; when it passes and
    // the answer carries CodesLeft, the code stage also warns that recovery codes run out.
    Rule{Step::Verify, ReplyStatus::Ok, {Action::KeepProof, PAM_SUCCESS, 0, nullptr, kAnonymous}},
    Rule{Step::Verify, ReplyStatus::Rejected,
         {Action::StopWrongCode, PAM_AUTH_ERR, LOG_NOTICE, "wrong or already used code",
          kNamesUser}},
    Rule{Step::Verify, ReplyStatus::NotEnrolled,
         {Action::Stop, PAM_AUTH_ERR, LOG_NOTICE,
          "the user is no longer enrolled; code not checked", kNamesUser}},
    Rule{Step::Verify, ReplyStatus::UnknownUser,
         {Action::Stop, PAM_AUTH_ERR, LOG_NOTICE, "fotoauthd no longer knows the user",
          kAnonymous}},
    Rule{Step::Verify, ReplyStatus::Locked,
         {Action::StopDaemonText, PAM_MAXTRIES, LOG_NOTICE,
          "code not checked: the account is locked after wrong codes", kNamesUser}},
    Rule{Step::Verify, ReplyStatus::RateLimited,
         {Action::StopDaemonText, PAM_MAXTRIES, LOG_NOTICE,
          "code not checked: too many attempts in the window", kNamesUser}},
    Rule{Step::Verify, ReplyStatus::PermissionDenied,
         {Action::Stop, PAM_AUTH_ERR, LOG_ERR,
          "fotoauthd does not let this process act for the user", kNamesUser}},

    // AuthVerify after a failed password: every answer fails. Ok would be a daemon bug; it
    // fails with the same message as Rejected so that the output does not change.
    Rule{Step::VerifyAfterBadPassword, ReplyStatus::Rejected,
         {Action::StopWrongCode, PAM_AUTH_ERR, LOG_NOTICE,
          "password failed; code checked and counted, not accepted", kNamesUser}},
    Rule{Step::VerifyAfterBadPassword, ReplyStatus::Ok,
         {Action::StopWrongCode, PAM_AUTH_ERR, LOG_ERR,
          "fotoauthd accepted a code after a failed password; refused all the same",
          kNamesUser}},
    Rule{Step::VerifyAfterBadPassword, ReplyStatus::NotEnrolled,
         {Action::Stop, PAM_AUTH_ERR, LOG_NOTICE,
          "the user is no longer enrolled; code not checked", kNamesUser}},
    Rule{Step::VerifyAfterBadPassword, ReplyStatus::UnknownUser,
         {Action::Stop, PAM_AUTH_ERR, LOG_NOTICE, "fotoauthd no longer knows the user",
          kAnonymous}},
    Rule{Step::VerifyAfterBadPassword, ReplyStatus::Locked,
         {Action::StopDaemonText, PAM_MAXTRIES, LOG_NOTICE,
          "code not checked: the account is locked after wrong codes", kNamesUser}},
    Rule{Step::VerifyAfterBadPassword, ReplyStatus::RateLimited,
         {Action::StopDaemonText, PAM_MAXTRIES, LOG_NOTICE,
          "code not checked: too many attempts in the window", kNamesUser}},
    Rule{Step::VerifyAfterBadPassword, ReplyStatus::PermissionDenied,
         {Action::Stop, PAM_AUTH_ERR, LOG_ERR,
          "fotoauthd does not let this process act for the user", kNamesUser}},

    // AccountCheck: did this login pass a code or a trusted device, where the service needs
    // one? Rejected is the publickey-only login of an enrolled user: sshd ran no auth stack, so
    // no code was asked; the daemon's sentence tells the user how to log in instead.
    Rule{Step::Account, ReplyStatus::Ok,
         {Action::Proceed, PAM_SUCCESS, 0, nullptr, kAnonymous}},
    Rule{Step::Account, ReplyStatus::NotEnrolled,
         {Action::StopDaemonInfo, PAM_IGNORE, 0, nullptr, kAnonymous}},
    Rule{Step::Account, ReplyStatus::EnrolmentRequired,
         {Action::StopDaemonText, PAM_PERM_DENIED, LOG_NOTICE,
          "login refused: the site's policy requires MFA and the user has not enrolled",
          kNamesUser}},
    Rule{Step::Account, ReplyStatus::UnknownUser,
         {Action::Stop, PAM_IGNORE, 0, nullptr, kAnonymous}},
    Rule{Step::Account, ReplyStatus::Rejected,
         {Action::StopDaemonText, PAM_PERM_DENIED, LOG_NOTICE,
          "login refused: the user is enrolled and this login passed no verification code (for example a publickey-only login)",
          kNamesUser}},

    // SessionOpen: redeem the nonce the auth stage left in FOTOSTUDIO_AUTH.
    Rule{Step::SessionRedeem, ReplyStatus::Ok,
         {Action::Proceed, PAM_SUCCESS, 0, nullptr, kAnonymous}},
    Rule{Step::SessionRedeem, ReplyStatus::Rejected,
         {Action::Stop, PAM_SESSION_ERR, LOG_ERR,
          "session refused: its proof of MFA is unknown, spent or expired", kNamesUser}},

    // SessionOpen without a nonce: fine only for a user with nothing to prove.
    Rule{Step::SessionQuery, ReplyStatus::NotEnrolled,
         {Action::Stop, PAM_IGNORE, 0, nullptr, kAnonymous}},
    Rule{Step::SessionQuery, ReplyStatus::CodeRequired,
         {Action::Stop, PAM_SESSION_ERR, LOG_ERR,
          "session refused: the user is enrolled but the auth stage did not check a code with this module (for example a publickey-only login)",
          kNamesUser}},
    // A trusted device spares the prompt, not the auth stage: that stage would have left a nonce.
    Rule{Step::SessionQuery, ReplyStatus::Trusted,
         {Action::Stop, PAM_SESSION_ERR, LOG_ERR,
          "session refused: the user is enrolled but the auth stage did not run this module (for example a publickey-only login)",
          kNamesUser}},
    Rule{Step::SessionQuery, ReplyStatus::UnknownUser,
         {Action::Stop, PAM_SESSION_ERR, LOG_ERR,
          "session refused: fotoauthd does not know the user", kAnonymous}},

    // PasswordChangeCheck, the preliminary phase of a password change: may it go on? Counted by
    // the daemon when it answers Ok. A refusal here comes before the password module asks or
    // changes anything. PAM_TRY_AGAIN is pam_sm_chauthtok's code for a failed preliminary check
    // (pam_strerror: "Failed preliminary check by password service"); PAM_MAXTRIES would pass
    // through libpam as well, but no password module documents it.
    Rule{Step::PasswordCheck, ReplyStatus::Ok,
         {Action::Proceed, PAM_SUCCESS, 0, nullptr, kAnonymous}},
    Rule{Step::PasswordCheck, ReplyStatus::RateLimited,
         {Action::StopDaemonText, PAM_TRY_AGAIN, LOG_NOTICE,
          "password change refused: too many attempts in the window", kNamesUser}},
    Rule{Step::PasswordCheck, ReplyStatus::UnknownUser,
         {Action::Stop, PAM_USER_UNKNOWN, 0, nullptr, kAnonymous}},
    Rule{Step::PasswordCheck, ReplyStatus::PermissionDenied,
         {Action::Stop, PAM_PERM_DENIED, LOG_ERR,
          "fotoauthd does not let this process act for the user", kAnonymous}},

    // PasswordChanged: the password module has changed the password, and the daemon ends the
    // other sessions and forgets the trusted devices. Any other outcome is FailAfterChange (see
    // failure_verdict): the change cannot be undone, so the user is told what did not happen.
    Rule{Step::PasswordChanged, ReplyStatus::Ok,
         {Action::Proceed, PAM_SUCCESS, 0, nullptr, kAnonymous}},
};

// The verdict for a failed exchange, or an answer the step does not list: a code the stage's
// callers understand as a refusal.
Verdict failure_verdict(Step step) noexcept
{
    switch (step) {
    case Step::Preauth:
    case Step::Query:
    case Step::QueryAfterBadPassword:
    case Step::Verify:
    case Step::VerifyAfterBadPassword: break;
    case Step::Account: return {Action::Fail, PAM_PERM_DENIED, LOG_ERR, nullptr, kAnonymous};
    case Step::SessionRedeem:
    case Step::SessionQuery: return {Action::Fail, PAM_SESSION_ERR, LOG_ERR, nullptr, kAnonymous};
    case Step::PasswordCheck: return {Action::Fail, PAM_AUTHTOK_ERR, LOG_ERR, nullptr, kAnonymous};
    case Step::PasswordChanged:
        // pam_unix got this far, so the name is an account.
        return {Action::FailAfterChange, PAM_AUTHTOK_ERR, LOG_ERR,
                "the password was changed, but the other sessions were not ended and the trusted devices not forgotten",
                kNamesUser};
    }
    return {Action::Fail, PAM_AUTHINFO_UNAVAIL, LOG_ERR, nullptr, kAnonymous};
}

}  // namespace

Verdict judge(Step step, std::optional<protocol::ReplyStatus> status) noexcept
{
    if (status) {
        for (const Rule& rule : kRules) {
            if (rule.step == step && rule.status == *status)
                return rule.verdict;
        }
    }
    return failure_verdict(step);
}

const char* step_name(Step step) noexcept
{
    switch (step) {
    case Step::Preauth: return "Preauth";
    case Step::Query:
    case Step::QueryAfterBadPassword: return "AuthQuery";
    case Step::Verify:
    case Step::VerifyAfterBadPassword: return "AuthVerify";
    case Step::Account: return "AccountCheck";
    case Step::SessionQuery:
    case Step::SessionRedeem: return "SessionOpen";
    case Step::PasswordCheck: return "PasswordChangeCheck";
    case Step::PasswordChanged: return "PasswordChanged";
    }
    return "request";
}

}  // namespace fotostudio::pam
