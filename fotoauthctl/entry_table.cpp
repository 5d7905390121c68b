#include "entry_table.hpp"

#include "format.hpp"

#include <algorithm>
#include <charconv>

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

std::size_t columns_of(std::string_view text) noexcept
{
    return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
}

}  // namespace

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
            widths[i] = std::max(widths[i], columns_of(row[i]));
    };
    widen(header);
    std::for_each(rows.begin(), rows.end(), widen);

    std::string text;
    const auto add = [&](const TableRow& row) {
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

std::string render_unreadable(const std::vector<std::string>& lines)
{
    std::string text = "Entries of fotoauthd that could not be read, as they came:\n";
    for (const auto& line : lines)
        text += "  " + shown_as_it_came(line) + "\n";
    return text;
}

}  // namespace fotostudio::ctl
