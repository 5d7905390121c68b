// Talking to the person at the terminal: errors on stderr, prompts and answers on stdout/stdin.
#pragma once

#include "sensitive.hpp"

#include <optional>
#include <string_view>

namespace fotostudio::ctl {

// Prints "fotoauthctl: <sentence>" on stderr.
void complain(std::string_view sentence);

// Prints sentence on stderr as it is: for hints in a conversation that goes on.
void tell(std::string_view sentence);

bool stdin_is_terminal();

// The width of the terminal on stdout, or nothing when stdout is not a terminal.
std::optional<int> terminal_columns();

enum class LineRead {
    Line,        // line holds what was typed, without the line end
    EndOfInput,  // stdin is closed (Ctrl-D) or failed
    TooLong,     // more than kMaxLine bytes; the rest of the line was skipped
};

inline constexpr std::size_t kMaxLine = 256;

// Prints prompt on stdout (no line end) and reads one line from stdin into line.
LineRead prompt_line(std::string_view prompt, SecretText& line);

}  // namespace fotostudio::ctl
