// fotoauthctl's readers of fotoauthd's Entries text (fotoauthctl/history_entries.hpp,
// lockout_entries.hpp, device_entries.hpp) and the tables made of them, on arbitrary text: the
// text comes from whatever answers on the socket path, and ends up on the user's terminal.
//
// Input layout (FuzzedDataProvider, which takes numbers from the end of the input): the last byte
// picks the list (history, lockouts, devices) and the markers, the eight before it are the
// current time for the lockouts' "in N minutes", the rest from the start is the text.
//
// It checks the readers' promises: every non-empty line ends up either read, kept as
// unreadable, or as the "truncated" mark; and the rendered tables hold no control character but
// the line end (no escape sequence, no C1 control), whatever the text held.
#include "check.hpp"

#include "device_entries.hpp"
#include "format.hpp"
#include "history_entries.hpp"
#include "lockout_entries.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ctl = fotostudio::ctl;

namespace {

const ctl::TargetUser kUser{"alice", true};

// Lines are all accounted for: read, unreadable, or the mark of a cut list.
template <typename List>
void check_accounting(std::string_view text, const List& list, std::size_t read)
{
    std::size_t lines = 0, marks = 0;
    for (const auto line : ctl::split_lines(text)) {
        ++lines;
        marks += line == "truncated" ? 1 : 0;
    }
    fuzz::require(read + list.unreadable.size() + marks == lines, "every line is accounted for");
    fuzz::require(list.truncated == (marks > 0), "a truncated mark sets truncated");
}

// No C0 control but the line end, no DEL, no C1 control in its UTF-8 form: nothing that a
// terminal would take as a command.
void check_terminal_safe(const std::string& shown)
{
    for (std::size_t i = 0; i < shown.size(); ++i) {
        const auto byte = static_cast<unsigned char>(shown[i]);
        fuzz::require(byte >= 0x20 || byte == '\n', "no control character reaches the terminal");
        fuzz::require(byte != 0x7F, "no DEL reaches the terminal");
        if (byte == 0xC2 && i + 1 < shown.size()) {
            const auto next = static_cast<unsigned char>(shown[i + 1]);
            fuzz::require(next < 0x80 || next > 0x9F, "no C1 control reaches the terminal");
        }
    }
}

void history(std::string_view text, const ctl::Markers& markers)
{
    const ctl::HistoryList list = ctl::parse_history(text);
    check_accounting(text, list, list.entries.size());
    check_terminal_safe(ctl::render_history(list, kUser, markers));
    check_terminal_safe(ctl::render_connections(list, kUser, markers));
    check_terminal_safe(ctl::missing_entries_sentence(list));
    for (const auto& entry : list.entries)
        check_terminal_safe(ctl::describe_event(entry.event));
}

void lockouts(std::string_view text, std::uint64_t now)
{
    const ctl::LockoutList list = ctl::parse_lockouts(text);
    check_accounting(text, list, list.locks.size() + list.blocks.size());
    check_terminal_safe(ctl::render_lockouts(list, now));
    for (const auto& lock : list.locks)
        check_terminal_safe(ctl::describe_channel(lock.channel));
    for (const auto& block : list.blocks)
        check_terminal_safe(ctl::describe_limit(block.limit));
}

void devices(std::string_view text, ctl::TrustSetting setting)
{
    const ctl::DeviceList list = ctl::parse_devices(text);
    check_accounting(text, list, list.devices.size());
    check_terminal_safe(ctl::render_devices(list, kUser, setting));
    for (const auto& device : list.devices)
        check_terminal_safe(ctl::describe_device(device.kind, device.label));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    FuzzedDataProvider input(data, size);
    const auto choice = input.ConsumeIntegral<std::uint8_t>();
    const auto now = input.ConsumeIntegral<std::uint64_t>();
    const std::string text = input.ConsumeRemainingBytesAsString();

    const ctl::Markers& markers = choice & 0x10 ? ctl::kSymbolMarkers : ctl::kPlainMarkers;
    switch (choice % 3) {
    case 0: history(text, markers); break;
    case 1: lockouts(text, now); break;
    default: devices(text, static_cast<ctl::TrustSetting>((choice >> 2) % 3)); break;
    }
    return 0;
}
