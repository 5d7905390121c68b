#include "history_entries.hpp"

#include "entry_table.hpp"
#include "format.hpp"

#include <algorithm>
#include <cstddef>
#include <utility>

namespace fotostudio::ctl {

namespace {

constexpr std::size_t kFieldsPerEntry = 5;

// fotoauthd cuts services to 32 bytes, sources to 64 and details to 120 (each plus "..."); the
// same bounds here keep one entry of a broken daemon from pushing the table off the screen.
constexpr std::size_t kMaxName = 64;
constexpr std::size_t kMaxEvent = 40;
constexpr std::size_t kMaxService = 32;
constexpr std::size_t kMaxSource = 70;
constexpr std::size_t kMaxDetail = 125;

// What an empty field shows, so that every row has a word in every column.
constexpr std::string_view kNothing = "-";

bool read_entry(std::string_view line, HistoryList& list)
{
    const auto fields = split_at_tabs(line);
    if (fields.size() != kFieldsPerEntry || fields[1].empty())
        return false;
    const auto at = parse_decimal(fields[0]);
    if (!at)
        return false;

    list.entries.push_back({*at, std::string(fields[1]), std::string(fields[2]),
                            std::string(fields[3]), std::string(fields[4])});
    return true;
}

std::string cell(std::string_view text, std::size_t max_bytes)
{
    if (text.empty())
        return std::string(kNothing);
    return printable(text, max_bytes);
}

std::string render_table_of(const std::vector<HistoryEntry>& entries)
{
    std::vector<TableRow> rows;
    for (const auto& entry : entries)
        rows.push_back({format_local_time_with_seconds(entry.at), describe_event(entry.event),
                        cell(entry.service, kMaxService), cell(entry.source, kMaxSource),
                        cell(entry.detail, kMaxDetail)});
    // The detail goes last: it is the longest, and a last column pads nothing after it.
    return render_table({"WHEN", "WHAT", "SERVICE", "FROM", "DETAIL"}, rows);
}

// The command that lists the whole history, as the caller would type it.
std::string history_command(const TargetUser& user)
{
    std::string command = "fotoauthctl history";
    if (!user.is_caller)
        command += " --user " + printable(user.name, kMaxName);
    return command;
}

}  // namespace

HistoryList parse_history(std::string_view entries)
{
    return parse_entries<HistoryList>(entries, read_entry);
}

std::string describe_event(std::string_view event)
{
    static constexpr std::pair<std::string_view, std::string_view> kWords[] = {
        {"login", "login"},
        {"login-refused", "login refused"},
        {"password-changed", "password changed"},
        {"devices-forgotten", "devices forgotten"},
        {"mode-changed", "mode changed"},
        {"mfa-enabled", "MFA enabled"},
    };
    const auto known = std::find_if(std::begin(kWords), std::end(kWords),
                                    [event](const auto& words) { return words.first == event; });
    if (known != std::end(kWords))
        return std::string(known->second);
    // An event of a newer fotoauthd: its own name says more than a guess would.
    return printable(event, kMaxEvent);
}

std::string render_history(const HistoryList& list, const TargetUser& user)
{
    if (list.entries.empty() && list.unreadable.empty() && !list.truncated)
        return "No history yet.\n";

    std::string text;
    if (!list.entries.empty())
        text += "History of " + printable(user.name, kMaxName) + ", newest first:\n" +
                render_table_of(list.entries);
    if (!list.unreadable.empty())
        text += (text.empty() ? "" : "\n") + render_unreadable(list.unreadable);
    if (list.truncated)
        text += (text.empty() ? "" : "\n") +
                std::string("fotoauthd cut this list short: the older entries did not fit in one "
                            "answer.\n");
    return text;
}

std::string render_recent_activity(const HistoryList& list, const TargetUser& user)
{
    if (list.entries.empty() && list.unreadable.empty())
        return "Recent activity: none yet.\n";

    std::string text = "Recent activity:\n";
    if (!list.entries.empty()) {
        const auto newest = list.entries.begin();
        const auto shown = std::min(list.entries.size(), kRecentEntries);
        text += render_table_of({newest, newest + static_cast<std::ptrdiff_t>(shown)});
    }
    if (!list.unreadable.empty())
        text += render_unreadable(list.unreadable);
    return text + "The whole history: " + history_command(user) + "\n";
}

}  // namespace fotostudio::ctl
