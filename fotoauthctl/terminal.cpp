#include "terminal.hpp"

#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>

namespace fotostudio::ctl {

namespace {

void skip_rest_of_line()
{
    int c;
    do
        c = std::getchar();
    while (c != '\n' && c != EOF);
}

}  // namespace

void complain(std::string_view sentence)
{
    std::fflush(stdout);
    std::fprintf(stderr, "fotoauthctl: %.*s\n", static_cast<int>(sentence.size()), sentence.data());
}

void tell(std::string_view sentence)
{
    std::fflush(stdout);
    std::fprintf(stderr, "%.*s\n", static_cast<int>(sentence.size()), sentence.data());
}

bool stdin_is_terminal()
{
    return ::isatty(STDIN_FILENO) == 1;
}

std::optional<int> terminal_columns()
{
    winsize size{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) < 0 || size.ws_col == 0)
        return std::nullopt;
    return size.ws_col;
}

LineRead prompt_line(std::string_view prompt, SecretText& line)
{
    std::fwrite(prompt.data(), 1, prompt.size(), stdout);
    std::fflush(stdout);

    // One byte for the line end and one for fgets' NUL besides the longest line accepted.
    char buffer[kMaxLine + 2];
    const bool got = std::fgets(buffer, sizeof(buffer), stdin) != nullptr;
    const std::size_t length = got ? ::strlen(buffer) : 0;
    const bool complete = length > 0 && buffer[length - 1] == '\n';

    LineRead result = LineRead::Line;
    if (!got)
        result = LineRead::EndOfInput;
    else if (!complete && length > kMaxLine)
        result = LineRead::TooLong;
    else
        line.assign(std::string_view(buffer, complete ? length - 1 : length));
    ::explicit_bzero(buffer, sizeof(buffer));

    if (result == LineRead::TooLong)
        skip_rest_of_line();
    if (result == LineRead::EndOfInput)
        std::fputc('\n', stdout);
    return result;
}

}  // namespace fotostudio::ctl
