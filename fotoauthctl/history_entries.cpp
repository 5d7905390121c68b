#include "history_entries.hpp"

#include "entry_table.hpp"
#include "exit_codes.hpp"
#include "format.hpp"

#include <algorithm>
#include <cstddef>
#include <utility>

namespace fotostudio::ctl {

namespace {

constexpr std::size_t kFieldsOfOldEntry = 5;
constexpr std::size_t kFieldsPerEntry = 9;

// fotoauthd cuts services to 32 bytes, sources to 64, details to 120 and clients to 120 (each
// plus "..."); the same bounds here keep one entry of a broken daemon from pushing the table off
// the screen.
constexpr std::size_t kMaxName = 64;
constexpr std::size_t kMaxEvent = 40;
constexpr std::size_t kMaxService = 32;
constexpr std::size_t kMaxSource = 70;
constexpr std::size_t kMaxDetail = 125;
constexpr std::size_t kMaxCountry = 16;
constexpr std::size_t kMaxClient = 125;

// Paging: requests beyond one per entry, and a ceiling on Count, so that the number of requests
// stays small whatever a broken daemon claims.
constexpr std::uint64_t kSpareRequests = 3;
constexpr std::uint64_t kMostEntriesPaged = 10000;

// What an empty field shows, so that every row has a word in every column.
constexpr std::string_view kNothing = "-";

std::optional<bool> parse_flag(std::string_view text) noexcept
{
    if (text == "1")
        return true;
    if (text == "0")
        return false;
    return std::nullopt;
}

bool read_origin(const std::vector<std::string_view>& fields, HistoryEntry& entry)
{
    const auto unusual = parse_flag(fields[7]);
    const auto verified = parse_flag(fields[8]);
    if (!unusual || !verified)
        return false;
    entry.has_origin = true;
    entry.country = fields[5];
    entry.client = fields[6];
    entry.unusual = *unusual;
    entry.verified = *verified;
    return true;
}

bool read_entry(std::string_view line, HistoryList& list)
{
    const auto fields = split_at_tabs(line);
    if ((fields.size() != kFieldsPerEntry && fields.size() != kFieldsOfOldEntry) ||
        fields[1].empty())
        return false;
    const auto at = parse_decimal(fields[0]);
    if (!at)
        return false;

    HistoryEntry entry;
    entry.at = *at;
    entry.event = fields[1];
    entry.service = fields[2];
    entry.source = fields[3];
    entry.detail = fields[4];
    if (fields.size() == kFieldsPerEntry && !read_origin(fields, entry))
        return false;
    list.entries.push_back(std::move(entry));
    return true;
}

std::string cell(std::string_view text, std::size_t max_bytes)
{
    if (text.empty())
        return std::string(kNothing);
    return printable(text, max_bytes);
}

std::string unusual_cell(const HistoryEntry& entry, const Markers& markers)
{
    return std::string(entry.unusual ? markers.unusual : "");
}

std::string verified_cell(const HistoryEntry& entry, const Markers& markers)
{
    return std::string(entry.verified ? markers.verified : "");
}

std::string render_table_of(const std::vector<HistoryEntry>& entries, const Markers& markers)
{
    std::vector<TableRow> rows;
    for (const auto& entry : entries)
        rows.push_back({format_local_time_with_seconds(entry.at), describe_event(entry.event),
                        cell(entry.service, kMaxService), cell(entry.source, kMaxSource),
                        cell(entry.country, kMaxCountry), unusual_cell(entry, markers),
                        verified_cell(entry, markers), cell(entry.detail, kMaxDetail)});
    // The detail goes last: it is the longest, and a last column pads nothing after it.
    return render_table({"WHEN", "WHAT", "SERVICE", "FROM", "COUNTRY",
                         std::string(markers.unusual_header), std::string(markers.verified_header),
                         "DETAIL"},
                        rows);
}

// How a login came: the client fotoauthd describes, or at least the service.
std::string client_cell(const HistoryEntry& entry)
{
    if (!entry.client.empty())
        return printable(entry.client, kMaxClient);
    return cell(entry.service, kMaxService);
}

std::string render_connection_table(const std::vector<HistoryEntry>& logins, const Markers& markers)
{
    std::vector<TableRow> rows;
    for (const auto& entry : logins)
        rows.push_back({format_local_time(entry.at), cell(entry.country, kMaxCountry),
                        cell(entry.source, kMaxSource), client_cell(entry),
                        unusual_cell(entry, markers), verified_cell(entry, markers)});
    return render_table({"DATE", "COUNTRY", "IP ADDRESS", "CLIENT",
                         std::string(markers.unusual_header), std::string(markers.verified_header)},
                        rows);
}

std::string connections_title(std::size_t count)
{
    if (count == 0)
        return "No connections yet.\n";
    if (count == 1)
        return "Last connection:\n";
    return "Last " + std::to_string(count) + " connections, newest first:\n";
}

std::uint64_t lines_received(const HistoryList& list) noexcept
{
    return list.entries.size() + list.unreadable.size();
}

void append_page(HistoryList& list, HistoryList&& page)
{
    std::move(page.entries.begin(), page.entries.end(), std::back_inserter(list.entries));
    std::move(page.unreadable.begin(), page.unreadable.end(), std::back_inserter(list.unreadable));
    list.truncated = page.truncated;
}

}  // namespace

HistoryList parse_history(std::string_view entries)
{
    return parse_entries<HistoryList>(entries, read_entry);
}

int collect_history(const AskHistoryPage& ask, HistoryList& list)
{
    HistoryPage page;
    if (const int status = ask(std::nullopt, page))
        return status;
    list = parse_history(page.entries);
    // A fotoauthd without paging sends no Count and would not understand an Offset.
    if (!page.count)
        return kSuccess;

    const std::uint64_t total = *page.count;
    list.total = total;
    const std::uint64_t most_requests = std::min(total, kMostEntriesPaged) + kSpareRequests;
    // The offset counts entries from the newest, so a login recorded between two requests
    // shifts the next page by one: that entry is shown twice, which is better than one lost.
    for (std::uint64_t asked = 1;
         list.truncated && lines_received(list) < total && asked < most_requests; ++asked) {
        HistoryPage next;
        if (const int status = ask(lines_received(list), next))
            return status;
        auto more = parse_history(next.entries);
        if (lines_received(more) == 0)
            break;
        append_page(list, std::move(more));
    }
    list.truncated = lines_received(list) < total;
    return kSuccess;
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
        {"mfa-disabled", "MFA disabled"},
        {"recovery-codes-regenerated", "recovery codes regenerated"},
        {"alert-address-changed", "alert address changed"},
    };
    const auto known = std::find_if(std::begin(kWords), std::end(kWords),
                                    [event](const auto& words) { return words.first == event; });
    if (known != std::end(kWords))
        return std::string(known->second);
    // An event of a newer fotoauthd: its own name says more than a guess would.
    return printable(event, kMaxEvent);
}

std::string missing_entries_sentence(const HistoryList& list)
{
    if (!list.total)
        return "fotoauthd cut this list short: the older entries did not fit in one answer.\n";
    return "fotoauthd sent " + std::to_string(lines_received(list)) + " of the account's " +
           std::to_string(*list.total) + " entries; the older ones are missing.\n";
}

std::string render_history(const HistoryList& list, const TargetUser& user, const Markers& markers)
{
    if (list.entries.empty() && list.unreadable.empty() && !list.truncated)
        return "No history yet.\n";

    std::string text;
    if (!list.entries.empty())
        text += "History of " + printable(user.name, kMaxName) + ", newest first:\n" +
                render_table_of(list.entries, markers) + "  " + std::string(markers.legend) + "\n";
    if (!list.unreadable.empty())
        text += (text.empty() ? "" : "\n") + render_unreadable(list.unreadable);
    if (list.truncated)
        text += (text.empty() ? "" : "\n") + missing_entries_sentence(list);
    return text;
}

std::string history_command(const TargetUser& user)
{
    std::string command = "fotoauthctl history";
    if (!user.is_caller)
        command += " --user " + printable(user.name, kMaxName);
    return command;
}

std::string render_connections(const HistoryList& list, const TargetUser& user,
                               const Markers& markers)
{
    std::vector<HistoryEntry> logins;
    std::copy_if(list.entries.begin(), list.entries.end(), std::back_inserter(logins),
                 [](const HistoryEntry& entry) { return entry.event == "login"; });

    std::string text = connections_title(logins.size());
    if (!logins.empty())
        text +=
            render_connection_table(logins, markers) + "  " + std::string(markers.legend) + "\n";
    if (!list.unreadable.empty())
        text += render_unreadable(list.unreadable);
    if (list.truncated)
        text += missing_entries_sentence(list);
    return text + "Refused logins and changes to the account: " + history_command(user) + "\n";
}

}  // namespace fotostudio::ctl
