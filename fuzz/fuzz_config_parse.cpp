// The configuration parser (fotoauthd/config.hpp) on arbitrary file contents. The file is
// root's, but a broken or half-written one must end in error lines, never in a crash, and the
// daemon logs those lines: they must point into the file and stay short whatever the file holds.
#include "check.hpp"

#include "config.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

namespace {

constexpr const char* kFileName = "fuzz.conf";

// The longest message an error may carry: its sentence plus a key cut to 40 bytes, never a
// whole line of the file (a value may be a secret typed into the wrong key).
constexpr std::size_t kLongestMessage = 160;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string text(reinterpret_cast<const char*>(data), size);
    const fotoauthd::ConfigResult result = fotoauthd::parse_config(text, kFileName);

    // getline counts a last line without a line end too.
    const auto lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
    for (const auto& error : result.errors) {
        fuzz::require(error.file == kFileName, "an error names the file");
        fuzz::require(error.line >= 1 && error.line <= lines, "an error names a line of the file");
        fuzz::require(error.message.size() <= kLongestMessage, "an error message stays short");
        (void)fotoauthd::to_string(error);
    }

    if (result.errors.empty()) {
        const auto& config = result.config;
        fuzz::require(config.totp_window <= 10 && config.totp_drift_search <= 60,
                      "the code windows stay within their documented bounds");
        fuzz::require(config.issuer.size() <= 64, "the issuer stays within 64 bytes");
        fuzz::require(config.socket_path.starts_with('/') && config.database_path.starts_with('/'),
                      "the socket and database are absolute paths");
    }
    return 0;
}
