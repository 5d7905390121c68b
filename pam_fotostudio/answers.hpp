// What each daemon answer means for PAM: the module's one table from (step, answer) to what it
// does next and which PAM code it returns. docs/pam-return-codes.md is its written form.
#pragma once

#include "protocol.hpp"

#include <optional>

namespace fotostudio::pam {

// One exchange with the daemon, named for where in the module it happens.
enum class Step {
    Preauth,                // Preauth: the preauth mode, or the code stage when preauth did not run
    Query,                  // AuthQuery in the code stage
    QueryAfterBadPassword,  // AuthQuery in the authfail mode
    Verify,                 // AuthVerify in the code stage
    VerifyAfterBadPassword,  // AuthVerify with PasswordFailed=1 in the authfail mode
    Account,                 // AccountCheck in the account stage
    SessionRedeem,           // SessionOpen with the nonce of the auth stage
    SessionQuery,            // AuthQuery when a session comes without a nonce
    PasswordCheck,           // PasswordChangeCheck in the preliminary phase of a password change
    PasswordChanged,         // PasswordChanged after the password module changed the password
};

enum class Action {
    Proceed,          // go on with the next step (the prompt); pam_code if it was the last one
    KeepProof,        // the login passed (a right code, or a device the daemon trusts): put the
                      // answer's nonce into the PAM environment for the later stages, and return
                      // pam_code unless that fails
    Stop,             // return pam_code, showing nothing
    StopWrongCode,    // show kWrongCodeMessage, return pam_code
    StopDaemonText,   // show the daemon's sentence (made safe), return pam_code
    StopDaemonInfo,   // show the daemon's sentence, if any, as information; return pam_code
    Fail,             // not an answer this step expects, or no answer: log it, fail closed
    FailAfterChange,  // as Fail, once the password is already changed: also tell the user that
                      // the daemon did not hear of it (kPasswordNotToldMessage)
};

struct Verdict {
    Action action;
    int pam_code;
    int log_priority;        // used only when reason is set
    const char* reason;      // logged as is; nullptr logs nothing
    bool reason_names_user;  // append " (user NAME)": only where the name is known to resolve
};

// One message for a wrong code whether the password before it was right or wrong, so that the
// output never tells which of the two was wrong.
inline constexpr const char* kWrongCodeMessage = "Wrong password or verification code.";

// Shown when the password changed but the daemon could not be told, so the user knows that the
// other sessions are still running.
inline constexpr const char* kPasswordNotToldMessage =
    "The password was changed, but fotoauthd could not be told: other sessions were not ended. Log out of them, or ask an administrator to.";

// The verdict for the daemon's answer (nothing when no usable answer came) at this step.
Verdict judge(Step step, std::optional<protocol::ReplyStatus> status) noexcept;

const char* step_name(Step step) noexcept;

}  // namespace fotostudio::pam
