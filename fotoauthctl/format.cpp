#include "format.hpp"

#include <algorithm>
#include <ctime>
#include <limits>

namespace fotostudio::ctl {

namespace {

bool is_continuation_byte(unsigned char byte) noexcept
{
    return (byte & 0xC0) == 0x80;
}

// C0 controls and DEL; C1 controls are handled by the caller because in UTF-8 they take two
// bytes (0xC2 0x80 to 0xC2 0x9F), and some terminals obey them.
bool is_control_byte(unsigned char byte) noexcept
{
    return byte < 0x20 || byte == 0x7F;
}

std::size_t cut_point(std::string_view text, std::size_t max_bytes) noexcept
{
    std::size_t cut = max_bytes;
    while (cut > 0 && is_continuation_byte(static_cast<unsigned char>(text[cut])))
        --cut;
    return cut;
}

std::string format_local(std::uint64_t unix_time, const char* format)
{
    const auto latest = static_cast<std::uint64_t>(std::numeric_limits<std::time_t>::max());
    const auto seconds = static_cast<std::time_t>(std::min(unix_time, latest));

    std::tm local{};
    char text[64];
    if (!::localtime_r(&seconds, &local) || std::strftime(text, sizeof(text), format, &local) == 0)
        return "unix time " + std::to_string(unix_time);
    return text;
}

}  // namespace

std::string format_local_time(std::uint64_t unix_time)
{
    return format_local(unix_time, "%Y-%m-%d %H:%M %Z");
}

std::string format_local_time_with_seconds(std::uint64_t unix_time)
{
    return format_local(unix_time, "%Y-%m-%d %H:%M:%S %Z");
}

std::string describe_duration(std::uint64_t seconds)
{
    if (seconds < 2 * 60)
        return std::to_string(seconds) + (seconds == 1 ? " second" : " seconds");
    if (seconds < 2 * 3600)
        return std::to_string((seconds + 30) / 60) + " minutes";
    return std::to_string((seconds + 1800) / 3600) + " hours";
}

std::vector<std::string_view> split_lines(std::string_view text)
{
    std::vector<std::string_view> lines;
    while (!text.empty()) {
        const auto end = std::min(text.find('\n'), text.size());
        std::string_view line = text.substr(0, end);
        if (line.ends_with('\r'))
            line.remove_suffix(1);
        if (!line.empty())
            lines.push_back(line);
        text.remove_prefix(std::min(end + 1, text.size()));
    }
    return lines;
}

std::string printable(std::string_view text, std::size_t max_bytes)
{
    const bool cut = text.size() > max_bytes;
    if (cut)
        text = text.substr(0, cut_point(text, max_bytes));

    std::string out;
    out.reserve(text.size() + 3);
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto byte = static_cast<unsigned char>(text[i]);
        const auto following = i + 1 < text.size() ? static_cast<unsigned char>(text[i + 1]) : 0;
        if (byte == 0xC2 && following >= 0x80 && following <= 0x9F) {
            out.push_back('?');
            ++i;
        } else {
            out.push_back(is_control_byte(byte) ? '?' : static_cast<char>(byte));
        }
    }
    if (cut)
        out += "...";
    return out;
}

void remove_blanks(std::string& typed) noexcept
{
    const auto is_blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    typed.erase(std::remove_if(typed.begin(), typed.end(), is_blank), typed.end());
}

std::string_view describe_mode(Mode mode) noexcept
{
    if (mode == Mode::Always)
        return "a code is asked for at every login";
    return "a code is asked for only from a device not trusted yet, which the\n"
           "code then trusts for 90 days by default; for SSH a device is the public key\n"
           "that logged in first (sshd: AuthenticationMethods publickey,keyboard-interactive)";
}

}  // namespace fotostudio::ctl
