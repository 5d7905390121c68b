#include "lockout_entries.hpp"

#include "format.hpp"

#include <algorithm>
#include <charconv>
#include <optional>

namespace fotostudio::ctl {

namespace {

constexpr std::size_t kFieldsPerEntry = 5;
constexpr std::string_view kTruncatedMark = "truncated";

// Names, addresses and key fragments are short; anything longer is cut so one entry cannot
// push the table off the screen.
constexpr std::size_t kMaxName = 64;
constexpr std::size_t kMaxChannel = 80;
constexpr std::size_t kMaxUnreadable = 200;

using Row = std::vector<std::string>;

std::vector<std::string_view> split_at_tabs(std::string_view line)
{
    std::vector<std::string_view> fields;
    for (;;) {
        const auto tab = line.find('\t');
        fields.push_back(line.substr(0, tab));
        if (tab == std::string_view::npos)
            return fields;
        line.remove_prefix(tab + 1);
    }
}

// Digits only: no sign, no blanks, no overflow.
std::optional<std::uint64_t> parse_number(std::string_view text) noexcept
{
    std::uint64_t value = 0;
    const char* end = text.data() + text.size();
    const auto [stop, error] = std::from_chars(text.data(), end, value);
    if (error != std::errc{} || stop != end)
        return std::nullopt;
    return value;
}

bool read_entry(std::string_view line, LockoutList& list)
{
    const auto fields = split_at_tabs(line);
    if (fields.size() != kFieldsPerEntry || fields[1].empty() || fields[2].empty())
        return false;
    const auto until = parse_number(fields[3]);
    const auto count = parse_number(fields[4]);
    if (!until || !count)
        return false;

    if (fields[0] == "lock") {
        list.locks.push_back({std::string(fields[1]), std::string(fields[2]), *until, *count});
        return true;
    }
    if (fields[0] == "block") {
        list.blocks.push_back({std::string(fields[1]), std::string(fields[2]), *until, *count});
        return true;
    }
    return false;
}

// A line that did not fit, with its tabs made visible, since they are what did not fit.
std::string shown_as_it_came(std::string_view line)
{
    std::string visible;
    for (const char c : line) {
        if (c == '\t')
            visible += "<TAB>";
        else
            visible.push_back(c);
    }
    return printable(visible, kMaxUnreadable);
}

// The columns a text takes on a terminal, counting each UTF-8 character as one.
std::size_t columns_of(std::string_view text) noexcept
{
    return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
}

std::string render_table(const Row& header, const std::vector<Row>& rows)
{
    std::vector<std::size_t> widths(header.size(), 0);
    const auto widen = [&widths](const Row& row) {
        for (std::size_t i = 0; i < row.size(); ++i)
            widths[i] = std::max(widths[i], columns_of(row[i]));
    };
    widen(header);
    std::for_each(rows.begin(), rows.end(), widen);

    std::string text;
    const auto add = [&](const Row& row) {
        std::string line = " ";
        for (std::size_t i = 0; i < row.size(); ++i) {
            line += " " + row[i];
            if (i + 1 < row.size())
                line.append(widths[i] - columns_of(row[i]) + 1, ' ');
        }
        text += line + "\n";
    };
    add(header);
    std::for_each(rows.begin(), rows.end(), add);
    return text;
}

std::string describe_until(std::uint64_t until, std::uint64_t now)
{
    const std::string when = format_local_time(until);
    if (until <= now)
        return when + " (ending now)";
    return when + " (in " + describe_duration(until - now) + ")";
}

std::string render_locks(const std::vector<AccountLock>& locks, std::uint64_t now)
{
    std::vector<Row> rows;
    for (const auto& lock : locks)
        rows.push_back({printable(lock.user, kMaxName), describe_until(lock.until, now),
                        std::to_string(lock.failures), describe_channel(lock.channel)});
    // The channel goes last: a key's text is long, and a last column pads nothing after it.
    return "Locked accounts (too many wrong verification codes):\n" +
           render_table({"USER", "LOCKED UNTIL", "FAILURES", "LOCKED LOGINS"}, rows);
}

std::string render_blocks(const std::vector<LoginBlock>& blocks, std::uint64_t now)
{
    std::vector<Row> rows;
    for (const auto& block : blocks)
        rows.push_back({printable(block.source, kMaxName), describe_until(block.until, now),
                        std::to_string(block.attempts), describe_limit(block.limit)});
    return "Blocked sources (too many login attempts):\n" +
           render_table({"ADDRESS OR USER", "BLOCKED UNTIL", "ATTEMPTS", "LIMIT"}, rows);
}

std::string render_unreadable(const std::vector<std::string>& lines)
{
    std::string text = "Entries of fotoauthd that could not be read, as they came:\n";
    for (const auto& line : lines)
        text += "  " + shown_as_it_came(line) + "\n";
    return text;
}

// Which verb lifts what is listed, for the entries there are.
std::string render_remedies(const LockoutList& list)
{
    const auto of_an_address = [](const LoginBlock& block) {
        return block.limit == "login-source";
    };
    const bool per_address = std::any_of(list.blocks.begin(), list.blocks.end(), of_an_address);
    const bool per_user =
        !list.locks.empty() || !std::all_of(list.blocks.begin(), list.blocks.end(), of_an_address);

    std::string text;
    if (per_user)
        text += "To lift the locks and limits of an account now: fotoauthctl unlock USER\n";
    if (per_address)
        text += "To clear the limit of an address now: fotoauthctl unblock ADDRESS\n";
    return text;
}

}  // namespace

LockoutList parse_lockouts(std::string_view entries)
{
    LockoutList list;
    for (const auto line : split_lines(entries)) {
        if (line == kTruncatedMark)
            list.truncated = true;
        else if (!read_entry(line, list))
            list.unreadable.emplace_back(line);
    }
    return list;
}

std::string describe_channel(std::string_view channel)
{
    if (channel == "password")
        return "password logins";
    if (channel == "console")
        return "console";
    if (channel == "local-user")
        return "checks run as the user";
    if (channel.starts_with("key:") && channel.size() > 4)
        return "key " + printable(channel.substr(4), kMaxChannel);
    // A channel of a newer fotoauthd: its own name says more than a guess would.
    return printable(channel, kMaxChannel);
}

std::string describe_limit(std::string_view limit)
{
    if (limit == "login-source")
        return "logins per address";
    if (limit == "login-user")
        return "logins per account";
    return printable(limit, kMaxChannel);
}

std::string render_lockouts(const LockoutList& list, std::uint64_t now)
{
    std::vector<std::string> sections;
    if (!list.locks.empty())
        sections.push_back(render_locks(list.locks, now));
    if (!list.blocks.empty())
        sections.push_back(render_blocks(list.blocks, now));
    if (!list.unreadable.empty())
        sections.push_back(render_unreadable(list.unreadable));
    if (list.truncated)
        sections.push_back("fotoauthd cut this list short: there are more entries than fit in "
                           "one answer.\n");
    if (sections.empty())
        return "No account is locked and no source is blocked.\n";
    if (!list.nothing_locked())
        sections.push_back(render_remedies(list));

    std::string text;
    for (const auto& section : sections)
        text += (text.empty() ? "" : "\n") + section;
    return text;
}

}  // namespace fotostudio::ctl
