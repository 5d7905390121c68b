#include "terminal_qr.hpp"

#include <string.h>

#include <cstdio>
#include <memory>

namespace fotostudio::ctl {

namespace {

// Black foreground on white background. 47 is "white" in the eight-colour set, which some
// palettes show as light grey; 107 (bright white) follows and wins where it is understood.
constexpr std::string_view kRowStart = "\x1b[30;47;107m";
constexpr std::string_view kRowEnd = "\x1b[0m\n";

constexpr std::string_view kUpperHalf = "\u2580";
constexpr std::string_view kLowerHalf = "\u2584";
constexpr std::string_view kFullBlock = "\u2588";
constexpr std::string_view kBlank = " ";

struct QrCodeFree {
    void operator()(QRcode* code) const noexcept
    {
        const auto modules = static_cast<std::size_t>(code->width) * code->width;
        ::explicit_bzero(code->data, modules);
        QRcode_free(code);
    }
};

// Whether the module at (x, y) is dark; the quiet zone around the symbol is light.
bool is_dark(const QRcode& code, int x, int y) noexcept
{
    if (x < 0 || y < 0 || x >= code.width || y >= code.width)
        return false;
    return (code.data[static_cast<std::size_t>(y) * code.width + x] & 1) != 0;
}

std::string_view cell(bool upper_dark, bool lower_dark) noexcept
{
    if (upper_dark && lower_dark)
        return kFullBlock;
    if (upper_dark)
        return kUpperHalf;
    if (lower_dark)
        return kLowerHalf;
    return kBlank;
}

std::size_t drawing_bytes(const QRcode& code) noexcept
{
    const auto columns = static_cast<std::size_t>(qr_drawing_columns(code));
    const std::size_t rows = (columns + 1) / 2;
    return rows * (kRowStart.size() + columns * kFullBlock.size() + kRowEnd.size());
}

}  // namespace

int qr_drawing_columns(const QRcode& code) noexcept
{
    return code.width + 2 * kQuietZone;
}

void draw_qr(const QRcode& code, std::string& out)
{
    const int first = -kQuietZone;
    const int end = code.width + kQuietZone;
    for (int y = first; y < end; y += 2) {
        out += kRowStart;
        for (int x = first; x < end; ++x)
            out += cell(is_dark(code, x, y), is_dark(code, x, y + 1));
        out += kRowEnd;
    }
}

QrResult print_qr(std::string_view text, std::optional<int> max_columns)
{
    // libqrencode wants a NUL-terminated string.
    std::string input;
    input.reserve(text.size() + 1);
    input.assign(text);
    std::unique_ptr<QRcode, QrCodeFree> code(
        QRcode_encodeString(input.c_str(), 0, QR_ECLEVEL_L, QR_MODE_8, 1));
    ::explicit_bzero(input.data(), input.capacity());
    if (!code)
        return {QrPrinted::CannotEncode, 0};

    const int columns = qr_drawing_columns(*code);
    if (max_columns && columns > *max_columns)
        return {QrPrinted::TooWide, columns};

    // Reserved in full, so that no partial copy of the drawing is left behind by a reallocation.
    std::string drawing;
    drawing.reserve(drawing_bytes(*code));
    draw_qr(*code, drawing);
    std::fwrite(drawing.data(), 1, drawing.size(), stdout);
    ::explicit_bzero(drawing.data(), drawing.capacity());
    return {QrPrinted::Yes, columns};
}

}  // namespace fotostudio::ctl
