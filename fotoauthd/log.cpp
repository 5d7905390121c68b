#include "log.hpp"

#include <systemd/sd-journal.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <vector>

namespace fotoauthd::log {

namespace {

bool g_journal = false;
bool g_debug = false;

// True when stderr is the stream journald gave us (systemd sets JOURNAL_STREAM=dev:inode).
bool stderr_is_journal()
{
    const char* stream = std::getenv("JOURNAL_STREAM");
    if (!stream)
        return false;
    struct stat st {};
    if (fstat(STDERR_FILENO, &st) < 0)
        return false;
    const std::string expected = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    return expected == stream;
}

// Journal message ids of the audit events. Never change one: administrators filter on them.
constexpr AuditEvent kAuditEvents[] = {
    {"account-locked", "7cec2ba23b4645febb83e79aff3af0cc"},
    {"account-retired", "4c21b4f075a743b5b138144113bb94f7"},
    {"account-unlocked", "f1a4200d7f0b4c87879298725a51704a"},
    {"alert-address-changed", "4a94c9c40af84e55bc312d05e970e4a4"},
    {"device-revoked", "e1b2f0943d884e99a9c0ed589065d406"},
    {"device-trusted", "4a3c54f011044d32b2f73da9a16bd749"},
    {"mfa-disabled", "025d43ada6544a80bd33b9b13dc66160"},
    {"mfa-enabled", "6972a808ece3475680161d652b1eb284"},
    {"mode-changed", "3635a70745e240aeadaf055f58b7c450"},
    {"password-changed", "d70cf169040a44c0a52d558a0e827a87"},
    {"password-changed-elsewhere", "9aa7b54e197b46d28ba41f1c9c682f80"},
    {"recovery-code-used", "3eb3d490e70743d6b1562837dedd488d"},
    {"recovery-codes-regenerated", "11d1888911d24aae91e1d6b0ab585336"},
    {"source-blocked", "818cda5e39f14120aab86f106e8d2736"},
    {"source-unblocked", "19930876b8224351977c40feeeafde68"},
    {"unusual-login", "9bcc968de2274f42909e2ee9b82359a0"},
    {"user-blocked", "ed9ffabd57d64626ab731746840bf693"},
    {"unusual-wrong-code", "2930b9c24ead40fba636d75c02ee5105"},
};

const char* level_name(Level level)
{
    switch (level) {
    case Level::Error: return "error";
    case Level::Warning: return "warning";
    case Level::Notice: return "notice";
    case Level::Info: return "info";
    case Level::Debug: return "debug";
    }
    return "?";
}

void send_to_journal(Level level, std::string_view text, std::string_view event,
                     std::initializer_list<Field> fields)
{
    std::vector<std::string> items;
    items.reserve(fields.size() + 3);
    items.push_back("MESSAGE=" + std::string(text));
    items.push_back("PRIORITY=" + std::to_string(static_cast<int>(level)));
    if (!event.empty()) {
        items.push_back("FOTOSTUDIO_EVENT=" + std::string(event));
        if (const auto id = message_id_of(event); !id.empty())
            items.push_back("MESSAGE_ID=" + std::string(id));
    }
    for (const auto& field : fields)
        items.push_back(std::string(field.key) + "=" + field.value);

    std::vector<iovec> vector;
    vector.reserve(items.size());
    for (auto& item : items)
        vector.push_back(iovec{item.data(), item.size()});
    (void)sd_journal_sendv(vector.data(), static_cast<int>(vector.size()));
}

void send_to_stderr(Level level, std::string_view text, std::string_view event,
                    std::initializer_list<Field> fields)
{
    std::string line = level_name(level);
    line += ": ";
    line += text;
    if (!event.empty()) {
        line += " FOTOSTUDIO_EVENT=" + std::string(event);
        if (const auto id = message_id_of(event); !id.empty())
            line += " MESSAGE_ID=" + std::string(id);
    }
    for (const auto& field : fields)
        line += " " + std::string(field.key) + "=" + field.value;
    line += '\n';
    (void)std::fwrite(line.data(), 1, line.size(), stderr);
    (void)std::fflush(stderr);
}

void emit(Level level, std::string_view text, std::string_view event,
          std::initializer_list<Field> fields)
{
    if (level == Level::Debug && !g_debug)
        return;
    if (g_journal)
        send_to_journal(level, text, event, fields);
    else
        send_to_stderr(level, text, event, fields);
}

}  // namespace

void init(bool debug)
{
    g_journal = stderr_is_journal();
    g_debug = debug;
}

void write(Level level, std::string_view text, std::initializer_list<Field> fields)
{
    emit(level, text, {}, fields);
}

void audit(std::string_view event, std::string_view text, std::initializer_list<Field> fields)
{
    emit(Level::Notice, text, event, fields);
}

std::span<const AuditEvent> audit_events()
{
    return kAuditEvents;
}

std::string_view message_id_of(std::string_view event)
{
    for (const auto& known : kAuditEvents)
        if (known.name == event)
            return known.message_id;
    return {};
}

std::string printable(std::string_view text, std::size_t limit)
{
    std::string out;
    out.reserve(std::min(text.size(), limit));
    for (char c : text.substr(0, limit))
        out += (c >= 0x20 && c < 0x7f) ? c : '?';
    if (text.size() > limit)
        out += "...";
    return out;
}

bool Throttle::allow(const std::string& key, std::int64_t now_ms, std::size_t& held_back)
{
    // Bounded: a flood of distinct keys only ever costs this many entries.
    if (windows_.size() > 4096)
        windows_.clear();
    Window& window = windows_[key];
    if (now_ms - window.started_ms >= period_ms_) {
        held_back = window.held_back;
        window = Window{now_ms, 1, 0};
        return true;
    }
    if (window.logged < burst_) {
        ++window.logged;
        held_back = 0;
        return true;
    }
    ++window.held_back;
    return false;
}

}  // namespace fotoauthd::log
