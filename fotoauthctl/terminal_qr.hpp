// Prints a QR code on a text terminal, encoded by libqrencode.
//
// Each character cell shows two modules stacked (upper half block, lower half block, full block
// or blank), which keeps modules about square since a cell is about twice as high as wide. The
// colours are explicit, black modules on a white background, with the quiet zone of four
// modules the standard asks for, so the code scans on light and dark terminal themes alike.
#pragma once

#include <qrencode.h>

#include <optional>
#include <string>
#include <string_view>

namespace fotostudio::ctl {

// Modules of blank margin on every side.
inline constexpr int kQuietZone = 4;

// Width of the drawing in terminal columns, quiet zone included.
int qr_drawing_columns(const QRcode& code) noexcept;

// Appends the drawing to out: one terminal row per two module rows, each row starting with the
// colour escape and ending with a reset and '\n'.
void draw_qr(const QRcode& code, std::string& out);

enum class QrPrinted { Yes, TooWide, CannotEncode };

struct QrResult {
    QrPrinted printed = QrPrinted::CannotEncode;
    int columns = 0;  // the width needed, when known
};

// Encodes text and prints it on stdout, unless the drawing would be wider than max_columns.
// Error correction level L keeps the code small enough for an 80x24 terminal; a screen is not
// smudged like paper. The module data and the drawing are wiped afterwards.
QrResult print_qr(std::string_view text, std::optional<int> max_columns);

}  // namespace fotostudio::ctl
