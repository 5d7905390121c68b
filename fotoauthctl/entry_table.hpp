// The tab-separated lines that fotoauthd sends in an Entries field, read with the same care by
// every verb that lists something (lockouts, devices, history), and the aligned tables made of
// them.
// Pure functions, tested through the verbs' own tests.
#pragma once

#include "format.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fotostudio::ctl {

// The fields of one line; a line without a tab is one field, and "a\t" is two.
std::vector<std::string_view> split_at_tabs(std::string_view line);

// A whole number of digits only: no sign, no blanks, no overflow.
std::optional<std::uint64_t> parse_decimal(std::string_view text) noexcept;

// The last line of a listing fotoauthd had to cut to fit one message.
inline constexpr std::string_view kTruncatedMark = "truncated";

// Reads an Entries field line by line: `read_entry(line, list)` adds a line it understands and
// returns false for one it does not, which is kept in `list.unreadable` as it came; a final
// "truncated" line sets `list.truncated`.
template <typename List, typename ReadEntry>
List parse_entries(std::string_view entries, ReadEntry read_entry)
{
    List list;
    for (const auto line : split_lines(entries)) {
        if (line == kTruncatedMark)
            list.truncated = true;
        else if (!read_entry(line, list))
            list.unreadable.emplace_back(line);
    }
    return list;
}

using TableRow = std::vector<std::string>;

// How many columns a terminal takes to show text: one per UTF-8 character, two for the wide
// ones (East Asian scripts, emoji such as the lock marker).
std::size_t display_columns(std::string_view text) noexcept;

// The header and rows in columns two blanks apart, each line indented by two and ended by a line
// end, without blanks at its end. The cells must already be printable; they are aligned by
// display_columns.
std::string render_table(const TableRow& header, const std::vector<TableRow>& rows);

// The section that shows lines of fotoauthd which could not be read, as they came, tabs shown as
// "<TAB>" since they are what did not fit, and made printable. Ends with a line end.
std::string render_unreadable(const std::vector<std::string>& lines);

}  // namespace fotostudio::ctl
