#include "recovery_codes.hpp"

#include "format.hpp"
#include "sensitive.hpp"

#include <algorithm>
#include <cstdio>
#include <string_view>
#include <vector>

namespace fotostudio::ctl {

namespace {

// Checked before printing, so that nothing a terminal would act on reaches it.
bool is_recovery_code(std::string_view code) noexcept
{
    return !code.empty() && std::all_of(code.begin(), code.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '-';
    });
}

void print_recovery_codes(const std::vector<std::string_view>& codes)
{
    std::fputs("\nRecovery codes (shown only once):\n", stdout);
    for (const auto code : codes)
        std::printf("  %.*s\n", static_cast<int>(code.size()), code.data());
    std::fputs("\n"
               "These codes will not be shown again: store them offline, in a password manager\n"
               "or on paper. If the phone is lost, type one of them at the code prompt instead\n"
               "of a code from the app; each code works only once.\n"
               "\n",
               stdout);
}

}  // namespace

bool show_recovery_codes(protocol::Message& reply)
{
    SecretText codes_text;
    if (const auto codes = reply.get(protocol::Field::RecoveryCodes))
        codes_text.assign(*codes);
    wipe_field(reply, protocol::Field::RecoveryCodes);

    const auto codes = split_lines(codes_text.text());
    if (codes.empty() || !std::all_of(codes.begin(), codes.end(), is_recovery_code))
        return false;
    print_recovery_codes(codes);
    // The codes are in stdout's buffer now; codes_text wipes its own copy when it goes.
    flush_and_wipe_stdout();
    return true;
}

}  // namespace fotostudio::ctl
