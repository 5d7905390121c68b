// The QR code fotoauthctl draws on the terminal: read back cell by cell, the drawing holds
// every module libqrencode produced, dark as dark, inside a light quiet zone of four modules,
// in explicit colours on every row.
#include "terminal_qr.hpp"

#include <qrencode.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

// Last: cmocka defines a fail() macro that would break <ios>, which <chrono> pulls in.
#include "cmocka_main.hpp"

namespace ctl = fotostudio::ctl;

namespace {

constexpr std::string_view kUri =
    "otpauth://totp/studio:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=studio"
    "&algorithm=SHA1&digits=6&period=30";

// Escapes the drawing must use: black on white, then back to the terminal's own colours.
constexpr std::string_view kBlackOnWhite = "\x1b[30;47;107m";
constexpr std::string_view kReset = "\x1b[0m";

struct Free {
    void operator()(QRcode* code) const noexcept { QRcode_free(code); }
};
using Code = std::unique_ptr<QRcode, Free>;

Code encode(std::string_view text)
{
    const std::string input(text);
    Code code(QRcode_encodeString(input.c_str(), 0, QR_ECLEVEL_L, QR_MODE_8, 1));
    assert_non_null(code.get());
    return code;
}

// The drawing read back as a grid of modules (true = dark), quiet zone included.
std::vector<std::vector<bool>> read_back(std::string_view drawing, int columns)
{
    std::vector<std::vector<bool>> grid;
    while (!drawing.empty()) {
        const auto end = drawing.find('\n');
        assert_true(end != std::string_view::npos);
        std::string_view row = drawing.substr(0, end);
        drawing.remove_prefix(end + 1);

        assert_true(row.starts_with(kBlackOnWhite));
        assert_true(row.ends_with(kReset));
        row.remove_prefix(kBlackOnWhite.size());
        row.remove_suffix(kReset.size());

        std::vector<bool> upper, lower;
        while (!row.empty()) {
            const auto take = [&row](std::string_view glyph) {
                if (!row.starts_with(glyph))
                    return false;
                row.remove_prefix(glyph.size());
                return true;
            };
            if (take(" ")) {
                upper.push_back(false), lower.push_back(false);
            } else if (take("\u2580")) {
                upper.push_back(true), lower.push_back(false);
            } else if (take("\u2584")) {
                upper.push_back(false), lower.push_back(true);
            } else if (take("\u2588")) {
                upper.push_back(true), lower.push_back(true);
            } else {
                fail_msg("unexpected bytes in a QR row");
            }
        }
        assert_int_equal(upper.size(), columns);
        grid.push_back(upper);
        grid.push_back(lower);
    }
    return grid;
}

void every_module_is_drawn_where_it_belongs_inside_a_light_quiet_zone(void**)
{
    const Code code = encode(kUri);
    const int columns = ctl::qr_drawing_columns(*code);
    assert_int_equal(columns, code->width + 8);  // the standard asks for four modules a side

    std::string drawing;
    ctl::draw_qr(*code, drawing);
    const auto grid = read_back(drawing, columns);
    // Two modules per terminal row; an odd count leaves a light half row at the bottom.
    assert_int_equal(grid.size(), static_cast<std::size_t>(columns + 1));

    for (int y = 0; y < static_cast<int>(grid.size()); ++y) {
        for (int x = 0; x < columns; ++x) {
            const int mx = x - ctl::kQuietZone;
            const int my = y - ctl::kQuietZone;
            const bool inside = mx >= 0 && my >= 0 && mx < code->width && my < code->width;
            const bool dark = inside && (code->data[my * code->width + mx] & 1);
            if (grid[y][x] != dark)
                fail_msg("module (%d, %d) drawn %s", mx, my, dark ? "light" : "dark");
        }
    }
}

void a_drawing_wider_than_the_terminal_is_not_printed(void**)
{
    const Code code = encode(kUri);
    const auto result = ctl::print_qr(kUri, 20);
    assert_int_equal(result.printed, ctl::QrPrinted::TooWide);
    assert_int_equal(result.columns, ctl::qr_drawing_columns(*code));
}

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_module_is_drawn_where_it_belongs_inside_a_light_quiet_zone),
        cmocka_unit_test(a_drawing_wider_than_the_terminal_is_not_printed),
    };
    return cmocka_run_group_tests_name("fotoauthctl QR code", tests, nullptr, nullptr);
}
