// fotoauthctl: the command line of fotostudio-auth. Parses the command line and hands it to the
// verb; every verb speaks to fotoauthd over its socket and never touches its database.
#include "account.hpp"
#include "build_config.hpp"
#include "exit_codes.hpp"
#include "options.hpp"
#include "sensitive.hpp"
#include "terminal.hpp"
#include "verbs.hpp"

#include <unistd.h>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

namespace {

using namespace fotostudio::ctl;

int run(const Invocation& invocation)
{
    if (is_root_verb(invocation.verb)) {
        if (const auto refusal = refusal_unless_root(::getuid(), invocation.verb)) {
            complain(*refusal);
            return kUsage;
        }
    }

    switch (invocation.verb) {
    case Verb::Help: {
        const auto text = invocation.help_topic == "email" ? email_help_text() : help_text();
        std::fwrite(text.data(), 1, text.size(), stdout);
        return kSuccess;
    }
    case Verb::Version: std::puts("fotoauthctl " FOTOSTUDIO_VERSION); return kSuccess;
    case Verb::MfaEnable: return run_mfa_enable(invocation);
    case Verb::MfaMode: return run_mfa_mode(invocation);
    case Verb::MfaDisable: return run_mfa_disable(invocation);
    case Verb::RegenerateCodes: return run_regenerate_codes(invocation);
    case Verb::Status: return run_status(invocation);
    case Verb::History: return run_history(invocation);
    case Verb::Devices: return run_devices(invocation);
    case Verb::DevicesForget: return run_devices_forget(invocation);
    case Verb::Lockouts: return run_lockouts(invocation);
    case Verb::Unlock: return run_unlock(invocation);
    case Verb::Unblock: return run_unblock(invocation);
    case Verb::EmailSet: return run_email_set(invocation);
    case Verb::EmailClear: return run_email_clear(invocation);
    case Verb::EmailShow: return run_email_show(invocation);
    }
    return kUsage;
}

}  // namespace

int main(int argc, char** argv)
{
    use_own_stdout_buffer();

    const std::vector<std::string_view> args(argv + 1, argv + argc);
    const auto parsed = parse_command_line(args);
    if (!parsed.invocation) {
        complain(parsed.error + " Try 'fotoauthctl --help'.");
        return kUsage;
    }

    try {
        const int status = run(*parsed.invocation);
        flush_and_wipe_stdout();
        return status;
    } catch (const std::exception& error) {
        // Only allocation failures and the like end up here; the verbs handle the rest.
        complain(std::string("stopped: ") + error.what());
        return kFailure;
    }
}
