#include "device_entries.hpp"

#include "entry_table.hpp"
#include "format.hpp"

namespace fotostudio::ctl {

namespace {

constexpr std::size_t kFieldsPerEntry = 6;

// A key's fingerprint with its type is about 70 characters; longer labels are cut so that one
// entry cannot push the table off the screen.
constexpr std::size_t kMaxLabel = 100;
constexpr std::size_t kMaxName = 64;

bool read_entry(std::string_view line, DeviceList& list)
{
    const auto fields = split_at_tabs(line);
    if (fields.size() != kFieldsPerEntry || fields[1].empty() || fields[2].empty())
        return false;
    const auto id = parse_decimal(fields[0]);
    const auto first_used = parse_decimal(fields[3]);
    const auto last_used = parse_decimal(fields[4]);
    const auto expires_at = parse_decimal(fields[5]);
    // `devices forget` takes the id back, and fotoauthd numbers devices from 1.
    if (!id || *id == 0 || !first_used || !last_used || !expires_at)
        return false;

    list.devices.push_back({*id, std::string(fields[1]), std::string(fields[2]), *first_used,
                            *last_used, *expires_at});
    return true;
}

// The end of the commands shown to root acting for another account.
std::string user_option(const TargetUser& user)
{
    if (user.is_caller)
        return {};
    return " --user " + printable(user.name, kMaxName);
}

std::string render_table_of(const DeviceList& list, const TargetUser& user)
{
    std::vector<TableRow> rows;
    for (const auto& device : list.devices)
        rows.push_back({std::to_string(device.id), describe_device(device.kind, device.label),
                        format_local_time(device.first_used), format_local_time(device.last_used),
                        format_local_time(device.expires_at)});
    return "Trusted devices of " + printable(user.name, kMaxName) +
           " (their logins are not asked for a code):\n" +
           render_table({"ID", "WHAT", "FIRST USED", "LAST USED", "TRUSTED UNTIL"}, rows);
}

std::string render_remedies(const TargetUser& user)
{
    const std::string more = user_option(user);
    return "To forget a device: fotoauthctl devices forget ID" + more + "\n" +
           "To forget them all: fotoauthctl devices forget --all" + more + "\n";
}

std::string render_none(const TargetUser& user, TrustSetting setting)
{
    switch (setting) {
    case TrustSetting::NotEnrolled:
        return "No trusted device.\nMFA is not enabled for " + printable(user.name, kMaxName) +
               ".\n";
    case TrustSetting::Always:
        return "No trusted device.\nIn mode always no device is ever trusted: every login asks "
               "for a code.\n";
    case TrustSetting::NewDevice: break;
    }
    return "No trusted device.\n";
}

}  // namespace

DeviceList parse_devices(std::string_view entries)
{
    return parse_entries<DeviceList>(entries, read_entry);
}

std::string describe_device(std::string_view kind, std::string_view label)
{
    const std::string shown = printable(label, kMaxLabel);
    if (kind == "ssh-key")
        return "ssh key " + shown;
    if (kind == "address")
        return "address " + shown;
    if (kind == "terminal")
        return "terminal " + shown;
    return printable(kind, kMaxName) + " " + shown;
}

std::string render_devices(const DeviceList& list, const TargetUser& user, TrustSetting setting)
{
    if (list.devices.empty() && list.unreadable.empty() && !list.truncated)
        return render_none(user, setting);

    std::string text;
    if (!list.devices.empty())
        text += render_table_of(list, user);
    if (!list.unreadable.empty())
        text += (text.empty() ? "" : "\n") + render_unreadable(list.unreadable);
    if (list.truncated)
        text += (text.empty() ? "" : "\n") +
                std::string("fotoauthd cut this list short: there are more devices than fit in "
                            "one answer.\n");
    if (!list.devices.empty())
        text += "\n" + render_remedies(user);
    return text;
}

std::string forget_one_outcome(std::string_view id, std::string_view user, std::uint64_t count)
{
    const std::string shown = printable(id, 24);
    if (count == 0)
        return shown + " is not a trusted device of " + printable(user, kMaxName) + ".";
    return "Forgot device " + shown + ".";
}

std::string forget_all_outcome(std::uint64_t count)
{
    if (count == 0)
        return "There was no trusted device to forget.\n";
    if (count == 1)
        return "Forgot 1 device; the code will be asked again from it.\n";
    return "Forgot " + std::to_string(count) +
           " devices; the code will be asked again from each of them.\n";
}

}  // namespace fotostudio::ctl
