// Logging: to the journal with structured fields when stderr is connected to journald, else one
// line per entry on stderr. Security events go through audit(), which always carries the event
// name in the field FOTOSTUDIO_EVENT so that they can be filtered. Never pass a code, a secret
// or a user name that did not resolve; pass text a client sent only through printable().
#pragma once

#include <cstdint>
#include <initializer_list>
#include <unordered_map>
#include <string>
#include <span>
#include <string_view>

namespace fotoauthd::log {

enum class Level { Error = 3, Warning = 4, Notice = 5, Info = 6, Debug = 7 };

struct Field {
    std::string_view key;  // upper case, journal field name rules
    std::string value;
};

void init(bool debug);

void write(Level level, std::string_view text, std::initializer_list<Field> fields = {});

inline void error(std::string_view text, std::initializer_list<Field> fields = {})
{
    write(Level::Error, text, fields);
}
inline void warning(std::string_view text, std::initializer_list<Field> fields = {})
{
    write(Level::Warning, text, fields);
}
inline void info(std::string_view text, std::initializer_list<Field> fields = {})
{
    write(Level::Info, text, fields);
}
inline void debug(std::string_view text, std::initializer_list<Field> fields = {})
{
    write(Level::Debug, text, fields);
}

// A security event (MFA enabled, recovery code used, ...), logged at notice level with the
// fields FOTOSTUDIO_EVENT=event and MESSAGE_ID= the event's journal message id, so that
// `journalctl MESSAGE_ID=...` finds every event of one kind (docs/service.md lists them).
void audit(std::string_view event, std::string_view text, std::initializer_list<Field> fields);

struct AuditEvent {
    std::string_view name;
    std::string_view message_id;  // 32 lower-case hex digits, fixed for all releases
};
// Every audit event the daemon logs; an event not listed here has no message id.
std::span<const AuditEvent> audit_events();
std::string_view message_id_of(std::string_view event);

// Keeps one peer from flooding the log: at most `burst` messages per key (say, a peer uid) in
// each `period`. allow() says whether to log this one; the first message let through after some
// were held back carries their number in `held_back`, so that nothing vanishes without a trace.
class Throttle {
public:
    Throttle(unsigned burst, std::int64_t period_ms) : burst_(burst), period_ms_(period_ms) {}
    bool allow(const std::string& key, std::int64_t now_ms, std::size_t& held_back);

private:
    struct Window {
        std::int64_t started_ms = 0;
        unsigned logged = 0;
        std::size_t held_back = 0;
    };
    unsigned burst_;
    std::int64_t period_ms_;
    std::unordered_map<std::string, Window> windows_;
};

// Client-supplied text made safe for a log line: at most `limit` bytes, anything outside
// printable ASCII replaced by '?'.
std::string printable(std::string_view text, std::size_t limit = 64);

}  // namespace fotoauthd::log
