// The command line of fotoauthctl, parsed into a plain value without touching the system, so
// that the parsing can be tested on its own.
//
//   fotoauthctl [--socket PATH] [--timeout MS] VERB [--user NAME] [VERB OPTIONS]
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

enum class Verb { Help, Version, MfaEnable, Status };

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
    std::optional<std::string> user;  // --user: whom to act for (root only, unless oneself)
    std::optional<Mode> mode;         // --mode of "mfa enable"; asked for when absent
};

struct ParsedCommandLine {
    std::optional<Invocation> invocation;
    std::string error;  // a sentence for the user when there is no invocation
};

// args are the words after the program name.
ParsedCommandLine parse_command_line(std::span<const std::string_view> args);

// The text of --help.
std::string_view help_text() noexcept;

}  // namespace fotostudio::ctl
