// The command line of fotoauthctl, parsed into a plain value without touching the system, so
// that the parsing can be tested on its own.
//
//   fotoauthctl [--socket PATH] [--timeout MS] [--json] VERB [--user NAME] [VERB OPTIONS]
//   fotoauthctl [--socket PATH] [--timeout MS] lockouts | unlock USER | unblock ADDRESS
//
// where VERB is "mfa enable [--mode MODE]", "mfa mode MODE", "mfa disable [--reason TEXT]
// [--yes]", "recovery-codes regenerate", "status [--ascii]", "history [--ascii]", "devices",
// "devices forget ID", "devices forget --all", "email set ADDRESS", "email clear" or
// "email show".
//
// Options are accepted before or after the verb, as "--name value" or "--name=value".
#pragma once

#include "protocol.hpp"

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace fotostudio::ctl {

enum class Verb {
    Help,
    Version,
    MfaEnable,
    MfaMode,
    MfaDisable,
    RegenerateCodes,
    Status,
    History,
    Devices,
    DevicesForget,
    Lockouts,
    Unlock,
    Unblock,
    EmailSet,
    EmailClear,
    EmailShow,
};

// How often a login asks for a code once MFA is active.
enum class Mode { Always, NewDevice };

// The spelling on the wire and on the command line: "always" or "new-device".
std::string_view to_string(Mode mode) noexcept;
std::optional<Mode> parse_mode(std::string_view text) noexcept;

inline constexpr std::chrono::milliseconds kDefaultTimeout{10000};
// Longer than any sane wait for a local daemon; a typo such as an extra zero is caught.
inline constexpr std::chrono::milliseconds kMaxTimeout{600000};

struct Invocation {
    Verb verb = Verb::Help;
    std::string socket_path{protocol::kDefaultSocketPath};
    std::chrono::milliseconds timeout = kDefaultTimeout;
    std::optional<std::string> user;    // --user: whom to act for (root only, unless oneself)
    std::optional<Mode> mode;           // --mode of "mfa enable" (asked for when absent), or the
                                        // MODE of "mfa mode"
    std::string operand;                // the USER of unlock, the ADDRESS of unblock, the ID of
                                        // "devices forget", the ADDRESS of "email set", as typed
    bool all = false;                   // --all of "devices forget"
    std::optional<std::string> reason;  // --reason of "mfa disable": why root turns off the MFA
                                        // of another account, for its history and the audit log
    bool yes = false;                   // --yes of "mfa disable": no question when stdin is not
                                        // a terminal (for scripts)
    bool json = false;                  // --json: one JSON object on stdout instead of the table
                                        // (status, history, devices, lockouts, email show)
    bool ascii = false;                 // --ascii: plain markers instead of symbols (status,
                                        // history)
    std::string help_topic;             // "email" for the help of the email verbs, else empty
};

struct ParsedCommandLine {
    std::optional<Invocation> invocation;
    std::string error;  // a sentence for the user when there is no invocation
};

// The verb as typed on the command line, e.g. "mfa enable".
std::string_view verb_name(Verb verb) noexcept;

// Verbs that print what fotoauthd holds, and so can print it as JSON (--json).
bool prints_data(Verb verb) noexcept;

// Verbs about the whole machine (locks and login limits) that only root may run.
bool is_root_verb(Verb verb) noexcept;

// True for a device id as `fotoauthctl devices` lists it: a whole number from 1 to 2^63-1,
// digits only.
bool is_device_id(std::string_view text) noexcept;

// True for a numeric IPv4 or IPv6 address as inet_pton reads it, without a prefix length or
// host name: what fotoauthd accepts as the source of a login.
bool is_ip_address(std::string_view text);

// What unblock sends for the address typed: the address itself, or for an IPv6 network as
// `fotoauthctl lockouts` lists it ("2001:db8:1:2::/64") its first address, which fotoauthd counts
// under the same /64. Nothing when the text is neither.
std::optional<std::string> address_to_unblock(std::string_view typed);

// args are the words after the program name.
ParsedCommandLine parse_command_line(std::span<const std::string_view> args);

// The text of --help.
std::string_view help_text() noexcept;

// The text of --help after "email": the email verbs in detail.
std::string_view email_help_text() noexcept;

}  // namespace fotostudio::ctl
