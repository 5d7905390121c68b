// What the listing verbs print with --json: one JSON object per run, with unix times and the
// words fotoauthd uses (e.g. "login-refused", "ssh-key") instead of the sentences for people, so
// that scripts need not read the tables. Pure functions, tested on their own.
#pragma once

#include "device_entries.hpp"
#include "history_entries.hpp"
#include "lockout_entries.hpp"
#include "protocol.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace fotostudio::ctl {

// text as a JSON string with its quotes: '"' and '\' escaped, control characters (and DEL) as
// \u00XX, valid UTF-8 kept as it is, and any byte that is not part of valid UTF-8 replaced by
// \ufffd, so that the output always parses.
std::string json_string(std::string_view text);

// {"user", "devices": [{"id", "kind", "label", "first_used", "last_used", "expires"}],
// "truncated"}, ending with a line end.
std::string devices_json(const DeviceList& list, std::string_view user);

// {"locks": [{"user", "channel", "until", "failures"}], "blocks": [{"source", "limit", "until",
// "attempts"}], "truncated"}, ending with a line end.
std::string lockouts_json(const LockoutList& list);

// {"user", "entries": [{"at", "event", "service", "source", "detail", "country", "client",
// "unusual", "verified"}], "truncated"}, ending with a line end. Empty service, source and
// detail stay empty strings; the last four are null for an entry of a fotoauthd older than the
// country lookup, unusual and verified are booleans otherwise.
std::string history_json(const HistoryList& list, std::string_view user);

// How many entries of all kinds "recent_activity" of status_json holds, for scripts written
// before the status page listed connections.
inline constexpr std::size_t kRecentEntries = 5;

// {"user", "enrolled", "pending", "active_since", "mode", "recovery_codes_left",
// "trusted_devices", "alert_address", "alert_address_source", "clock_synced", "mfa_required",
// "grace_until", "connections", "recent_activity", "history_truncated"} for an Ok answer to
// Status, with null for what an account without MFA (or an older fotoauthd) does not have, and
// for an alert address when none can be sent. connections holds every login of history, its
// entries as history_json has them; recent_activity its newest kRecentEntries entries of any
// kind. Nothing when the answer lacks fields it needs.
std::optional<std::string> status_json(const protocol::Message& reply, std::string_view user,
                                       const HistoryList& history);

// {"user", "alert_address", "alert_address_source"} for an Ok answer to Status, as status_json
// has them, ending with a line end.
std::string alert_address_json(const protocol::Message& reply, std::string_view user);

}  // namespace fotostudio::ctl
