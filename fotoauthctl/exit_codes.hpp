// The exit status of fotoauthctl, one meaning each, so that scripts can tell a wrong code from a
// missing daemon.
#pragma once

namespace fotostudio::ctl {

enum ExitCode : int {
    kSuccess = 0,  // the verb did what was asked
    kRefused = 1,  // fotoauthd said no: wrong code, already enrolled, unknown user, ...
    kUsage = 2,    // the command line or the answers typed at a prompt were not usable
    kFailure = 3,  // fotoauthd is unreachable or untrusted, failed, or answered nonsense
};

}  // namespace fotostudio::ctl
