// What the listing verbs print with --json: one JSON object per run, with unix times and the
// words fotoauthd uses (e.g. "login-refused", "ssh-key") instead of the sentences for people, so
// that scripts need not read the tables. Pure functions, tested on their own.
#pragma once

#include "device_entries.hpp"
#include "history_entries.hpp"
#include "lockout_entries.hpp"
#include "protocol.hpp"

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

// {"user", "entries": [{"at", "event", "service", "source", "detail"}], "truncated"}, ending with
// a line end. Empty service, source and detail stay empty strings.
std::string history_json(const HistoryList& list, std::string_view user);

// {"user", "enrolled", "pending", "active_since", "mode", "recovery_codes_left",
// "trusted_devices", "recent_activity"} for an Ok answer to Status, with null for what an
// account without MFA (or a fotoauthd without device trust) does not have; recent_activity holds
// the newest kRecentEntries entries of history as history_json does. Nothing when the answer
// lacks fields it needs.
std::optional<std::string> status_json(const protocol::Message& reply, std::string_view user,
                                       const HistoryList& history);

}  // namespace fotostudio::ctl
