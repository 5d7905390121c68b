#include "json_output.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace fotostudio::ctl {

namespace {

using protocol::Field;

// The length of the valid UTF-8 character at the start of text (2 to 4 bytes), or 0 when it is
// not one: a stray continuation byte, an overlong form, a surrogate or beyond U+10FFFF, all of
// which a strict JSON reader refuses.
std::size_t utf8_length(std::string_view text) noexcept
{
    const auto byte = [text](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char lead = byte(0);
    std::size_t length = 0;
    unsigned char low = 0x80;  // the range of the second byte, narrower after some leads
    unsigned char high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF)
        length = 2;
    else if (lead >= 0xE0 && lead <= 0xEF)
        length = 3;
    else if (lead >= 0xF0 && lead <= 0xF4)
        length = 4;
    if (length == 0 || text.size() < length)
        return 0;
    if (lead == 0xE0)
        low = 0xA0;
    else if (lead == 0xED)
        high = 0x9F;
    else if (lead == 0xF0)
        low = 0x90;
    else if (lead == 0xF4)
        high = 0x8F;

    if (byte(1) < low || byte(1) > high)
        return 0;
    for (std::size_t i = 2; i < length; ++i)
        if ((byte(i) & 0xC0) != 0x80)
            return 0;
    return length;
}

std::string escaped_byte(unsigned char byte)
{
    static constexpr char kHex[] = "0123456789abcdef";
    return std::string("\\u00") + kHex[byte >> 4] + kHex[byte & 0x0F];
}

std::string number(std::uint64_t value)
{
    return std::to_string(value);
}

std::string boolean(bool value)
{
    return value ? "true" : "false";
}

// The members are given as "\"name\":value" texts, in order.
std::string object(const std::vector<std::string>& members)
{
    std::string text = "{";
    for (const auto& member : members)
        text += (text.size() > 1 ? "," : "") + member;
    return text + "}";
}

std::string array(const std::vector<std::string>& items)
{
    std::string text = "[";
    for (const auto& item : items)
        text += (text.size() > 1 ? "," : "") + item;
    return text + "]";
}

std::string member(std::string_view name, const std::string& value)
{
    return json_string(name) + ":" + value;
}

std::string optional_text(std::optional<std::string_view> value)
{
    return value ? json_string(*value) : "null";
}

// For a field of a newer fotoauthd: null when the line or the answer came without it.
std::string optional_boolean(std::optional<bool> value)
{
    return value ? boolean(*value) : "null";
}

std::optional<bool> flag_of(const protocol::Message& reply, Field field)
{
    const auto value = reply.get_u8(field);
    if (!value)
        return std::nullopt;
    return *value != 0;
}

// The members a line of nine fields has beyond the first five; null for an older line.
std::vector<std::string> origin_members(const HistoryEntry& entry)
{
    const auto text_if_known = [&entry](const std::string& value) {
        return entry.has_origin ? json_string(value) : "null";
    };
    const auto flag_if_known = [&entry](bool value) {
        return entry.has_origin ? boolean(value) : "null";
    };
    return {member("country", text_if_known(entry.country)),
            member("client", text_if_known(entry.client)),
            member("unusual", flag_if_known(entry.unusual)),
            member("verified", flag_if_known(entry.verified))};
}

std::string entry_json(const HistoryEntry& entry)
{
    std::vector<std::string> members = {
        member("at", number(entry.at)), member("event", json_string(entry.event)),
        member("service", json_string(entry.service)), member("source", json_string(entry.source)),
        member("detail", json_string(entry.detail))};
    for (auto& origin : origin_members(entry))
        members.push_back(std::move(origin));
    return object(members);
}

std::string entries_json(const std::vector<HistoryEntry>& entries, std::size_t most)
{
    std::vector<std::string> items;
    for (std::size_t i = 0; i < std::min(entries.size(), most); ++i)
        items.push_back(entry_json(entries[i]));
    return array(items);
}

std::string connections_json(const std::vector<HistoryEntry>& entries)
{
    std::vector<std::string> items;
    for (const auto& entry : entries)
        if (entry.event == "login")
            items.push_back(entry_json(entry));
    return array(items);
}

// Where alerts go, as the Status answer says: empty means none can be sent.
std::vector<std::string> alert_members(const protocol::Message& reply)
{
    const auto address = reply.get(Field::Email);
    const auto source = reply.get(Field::EmailSource);
    const bool sendable = address && !address->empty();
    return {member("alert_address", sendable ? json_string(*address) : "null"),
            member("alert_address_source",
                   sendable && source && !source->empty() ? json_string(*source) : "null")};
}

std::string optional_number(std::optional<std::uint64_t> value)
{
    return value ? number(*value) : "null";
}

}  // namespace

std::string json_string(std::string_view text)
{
    std::string out = "\"";
    for (std::size_t i = 0; i < text.size();) {
        const auto byte = static_cast<unsigned char>(text[i]);
        if (byte == '"' || byte == '\\') {
            out += '\\';
            out += static_cast<char>(byte);
        } else if (byte < 0x20 || byte == 0x7F) {
            out += escaped_byte(byte);
        } else if (byte >= 0x80) {
            const std::size_t length = utf8_length(text.substr(i));
            out += length == 0 ? std::string("\\ufffd") : std::string(text.substr(i, length));
            i += std::max<std::size_t>(length, 1);
            continue;
        } else {
            out += static_cast<char>(byte);
        }
        ++i;
    }
    return out + "\"";
}

std::string devices_json(const DeviceList& list, std::string_view user)
{
    std::vector<std::string> devices;
    for (const auto& device : list.devices)
        devices.push_back(
            object({member("id", number(device.id)), member("kind", json_string(device.kind)),
                    member("label", json_string(device.label)),
                    member("first_used", number(device.first_used)),
                    member("last_used", number(device.last_used)),
                    member("expires", number(device.expires_at))}));
    return object({member("user", json_string(user)), member("devices", array(devices)),
                   member("truncated", boolean(list.truncated))}) +
           "\n";
}

std::string lockouts_json(const LockoutList& list)
{
    std::vector<std::string> locks;
    for (const auto& lock : list.locks)
        locks.push_back(object(
            {member("user", json_string(lock.user)), member("channel", json_string(lock.channel)),
             member("until", number(lock.until)), member("failures", number(lock.failures))}));
    std::vector<std::string> blocks;
    for (const auto& block : list.blocks)
        blocks.push_back(object(
            {member("source", json_string(block.source)), member("limit", json_string(block.limit)),
             member("until", number(block.until)), member("attempts", number(block.attempts))}));
    return object({member("locks", array(locks)), member("blocks", array(blocks)),
                   member("truncated", boolean(list.truncated))}) +
           "\n";
}

std::string history_json(const HistoryList& list, std::string_view user)
{
    return object({member("user", json_string(user)),
                   member("entries", entries_json(list.entries, list.entries.size())),
                   member("truncated", boolean(list.truncated))}) +
           "\n";
}

std::optional<std::string> status_json(const protocol::Message& reply, std::string_view user,
                                       const HistoryList& history)
{
    const auto enrolled = reply.get_u8(Field::Enrolled);
    if (!enrolled || *enrolled > 1)
        return std::nullopt;

    // The same fields as the table needs: an account with MFA has all three.
    std::optional<std::uint64_t> since;
    std::optional<std::string_view> mode;
    std::optional<std::uint64_t> codes_left;
    if (*enrolled == 1) {
        since = reply.get_u64(Field::Since);
        mode = reply.get(Field::Mode);
        codes_left = reply.get_u64(Field::CodesLeft);
        if (!since || !mode || !codes_left)
            return std::nullopt;
    }

    std::vector<std::string> members = {
        member("user", json_string(user)),
        member("enrolled", boolean(*enrolled == 1)),
        member("pending", boolean(reply.get_u8(Field::Pending).value_or(0) == 1)),
        member("active_since", optional_number(since)),
        member("mode", optional_text(mode)),
        member("recovery_codes_left", optional_number(codes_left)),
        member("trusted_devices", optional_number(reply.get_u64(Field::DeviceCount)))};
    for (auto& alert : alert_members(reply))
        members.push_back(std::move(alert));
    members.push_back(member("clock_synced", optional_boolean(flag_of(reply, Field::ClockSynced))));
    members.push_back(member("mfa_required", optional_boolean(flag_of(reply, Field::MfaRequired))));
    members.push_back(member("grace_until", optional_number(reply.get_u64(Field::GraceUntil))));
    members.push_back(member("connections", connections_json(history.entries)));
    members.push_back(member("recent_activity", entries_json(history.entries, kRecentEntries)));
    members.push_back(member("history_truncated", boolean(history.truncated)));
    return object(members) + "\n";
}

std::string alert_address_json(const protocol::Message& reply, std::string_view user)
{
    std::vector<std::string> members = {member("user", json_string(user))};
    for (auto& alert : alert_members(reply))
        members.push_back(std::move(alert));
    return object(members) + "\n";
}

}  // namespace fotostudio::ctl
