#include "entry_table.hpp"

#include "format.hpp"

#include <algorithm>
#include <charconv>
#include <utility>

namespace fotostudio::ctl {

namespace {

constexpr std::size_t kMaxUnreadable = 200;

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

// The code point of the UTF-8 character that starts at text[i], and its length in bytes. Bytes
// that are not valid UTF-8 count as one character each, as a terminal shows them.
std::pair<char32_t, std::size_t> code_point_at(std::string_view text, std::size_t i) noexcept
{
    const auto byte = [text](std::size_t at) { return static_cast<unsigned char>(text[at]); };
    const unsigned char lead = byte(i);
    const std::size_t length = lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    if (length == 1 || i + length > text.size())
        return {lead, 1};
    char32_t point = lead & (0x7F >> length);
    for (std::size_t k = 1; k < length; ++k) {
        if ((byte(i + k) & 0xC0) != 0x80)
            return {lead, 1};
        point = (point << 6) | (byte(i + k) & 0x3F);
    }
    return {point, length};
}

// Characters a terminal draws two columns wide: the East Asian wide ranges and the emoji
// pictographs, among them the lock that marks a verified login.
bool is_wide(char32_t point) noexcept
{
    static constexpr std::pair<char32_t, char32_t> kWide[] = {
        {0x1100, 0x115F},   {0x2E80, 0x303E},   {0x3041, 0xA4CF},   {0xAC00, 0xD7A3},
        {0xF900, 0xFAFF},   {0xFE30, 0xFE4F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},
        {0x1F300, 0x1F64F}, {0x1F900, 0x1F9FF}, {0x20000, 0x3FFFD},
    };
    return std::any_of(std::begin(kWide), std::end(kWide), [point](const auto& range) {
        return point >= range.first && point <= range.second;
    });
}

}  // namespace

std::size_t display_columns(std::string_view text) noexcept
{
    std::size_t columns = 0;
    for (std::size_t i = 0; i < text.size();) {
        const auto [point, length] = code_point_at(text, i);
        columns += is_wide(point) ? 2 : 1;
        i += length;
    }
    return columns;
}

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

std::optional<std::uint64_t> parse_decimal(std::string_view text) noexcept
{
    std::uint64_t value = 0;
    const char* end = text.data() + text.size();
    const auto [stop, error] = std::from_chars(text.data(), end, value);
    if (error != std::errc{} || stop != end)
        return std::nullopt;
    return value;
}

std::string render_table(const TableRow& header, const std::vector<TableRow>& rows)
{
    std::vector<std::size_t> widths(header.size(), 0);
    const auto widen = [&widths](const TableRow& row) {
        for (std::size_t i = 0; i < row.size(); ++i)
            widths[i] = std::max(widths[i], display_columns(row[i]));
    };
    widen(header);
    std::for_each(rows.begin(), rows.end(), widen);

    std::string text;
    const auto add = [&](const TableRow& row) {
        std::string line = " ";
        for (std::size_t i = 0; i < row.size(); ++i) {
            line += " " + row[i];
            if (i + 1 < row.size())
                line.append(widths[i] - display_columns(row[i]) + 1, ' ');
        }
        // An empty last cell (a marker not set) would leave blanks at the end of the line.
        line.erase(line.find_last_not_of(' ') + 1);
        text += line + "\n";
    };
    add(header);
    std::for_each(rows.begin(), rows.end(), add);
    return text;
}

std::string render_unreadable(const std::vector<std::string>& lines)
{
    std::string text = "Entries of fotoauthd that could not be read, as they came:\n";
    for (const auto& line : lines)
        text += "  " + shown_as_it_came(line) + "\n";
    return text;
}

}  // namespace fotostudio::ctl
