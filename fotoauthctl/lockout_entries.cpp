#include "lockout_entries.hpp"

#include "entry_table.hpp"
#include "format.hpp"

#include <algorithm>
#include <optional>

namespace fotostudio::ctl {

namespace {

constexpr std::size_t kFieldsPerEntry = 5;

// Names, addresses and key fragments are short; anything longer is cut so one entry cannot
// push the table off the screen.
constexpr std::size_t kMaxName = 64;
constexpr std::size_t kMaxChannel = 80;

bool read_entry(std::string_view line, LockoutList& list)
{
    const auto fields = split_at_tabs(line);
    if (fields.size() != kFieldsPerEntry || fields[1].empty() || fields[2].empty())
        return false;
    const auto until = parse_decimal(fields[3]);
    const auto count = parse_decimal(fields[4]);
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

std::string describe_until(std::uint64_t until, std::uint64_t now)
{
    const std::string when = format_local_time(until);
    if (until <= now)
        return when + " (ending now)";
    return when + " (in " + describe_duration(until - now) + ")";
}

std::string render_locks(const std::vector<AccountLock>& locks, std::uint64_t now)
{
    std::vector<TableRow> rows;
    for (const auto& lock : locks)
        rows.push_back({printable(lock.user, kMaxName), describe_until(lock.until, now),
                        std::to_string(lock.failures), describe_channel(lock.channel)});
    // The channel goes last: a key's text is long, and a last column pads nothing after it.
    return "Locked accounts (too many wrong verification codes):\n" +
           render_table({"USER", "LOCKED UNTIL", "FAILURES", "LOCKED LOGINS"}, rows);
}

std::string render_blocks(const std::vector<LoginBlock>& blocks, std::uint64_t now)
{
    std::vector<TableRow> rows;
    for (const auto& block : blocks)
        rows.push_back({printable(block.source, kMaxName), describe_until(block.until, now),
                        std::to_string(block.attempts), describe_limit(block.limit)});
    return "Blocked sources (too many login attempts):\n" +
           render_table({"ADDRESS OR USER", "BLOCKED UNTIL", "ATTEMPTS", "LIMIT"}, rows);
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
    return parse_entries<LockoutList>(entries, read_entry);
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
