// The options on the module's PAM line, parsed afresh on every call.
//
// One process (sshd, a display manager) runs many PAM transactions, possibly with different
// service files, so nothing here is kept between calls.
#pragma once

#include <security/pam_modules.h>

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

namespace fotostudio::pam {

// Which part of the auth stack this line is, like pam_faillock's modes. The recommended sshd
// stanza runs `preauth` before the password module, `authfail` only when the password failed,
// and the code stage (no mode word) last. In the password stack `preauth` marks the first line
// (the password-change limit) and no mode the last one (after the change); `authfail` means
// nothing there. The account and session stages ignore the mode.
enum class Mode {
    Code,      // ask for a code and let the daemon check it (runs Preauth first when needed)
    Preauth,   // ask the daemon whether this login attempt may go on at all; never prompts
    Authfail,  // the password failed: ask for a code all the same, count it, never accept it
};

struct Options {
    Mode mode = Mode::Code;               // preauth | authfail | neither
    std::string socket_path;              // socket=PATH
    std::chrono::milliseconds timeout{};  // timeout=MS, the deadline of each daemon exchange
    uid_t trusted_uid = 0;                // daemon_user=NAME; root is always trusted
    bool debug = false;                   // debug
    // require_key (only with preauth): refuse every login whose first method, as sshd reports it
    // in SSH_AUTH_INFO_0, was not a public key, before asking the daemon anything.
    bool require_key = false;
};

// Returns nothing, after logging why, when an option is unknown or its value is not usable.
// The caller then fails closed: a typo on the PAM line must not switch MFA off.
std::optional<Options> parse_options(pam_handle_t* pamh, int argc, const char** argv);

}  // namespace fotostudio::pam
