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

struct Options {
    std::string socket_path;              // socket=PATH
    std::chrono::milliseconds timeout{};  // timeout=MS, the deadline of each daemon exchange
    uid_t trusted_uid = 0;                // daemon_user=NAME; root is always trusted
    bool debug = false;                   // debug
};

// Returns nothing, after logging why, when an option is unknown or its value is not usable.
// The caller then fails closed: a typo on the PAM line must not switch MFA off.
std::optional<Options> parse_options(pam_handle_t* pamh, int argc, const char** argv);

}  // namespace fotostudio::pam
