// One request to fotoauthd and the answers every verb treats alike.
#pragma once

#include "options.hpp"
#include "protocol.hpp"

#include <optional>
#include <string_view>

namespace fotostudio::ctl {

// Sends request on a connection of its own and returns the answer, which is a Reply with a
// known status. A fresh connection per request gives each the full --timeout: the deadline of
// a connection counts from when it opened, and a person may take minutes to type a code between
// two requests. On failure, says why on stderr and returns nothing: exit with kFailure.
std::optional<protocol::Message> ask_daemon(const Invocation& invocation,
                                            const protocol::Message& request);

// The status of an answer returned by ask_daemon.
protocol::ReplyStatus status_of(const protocol::Message& reply) noexcept;

// For an answer the verb has no use for: says on stderr why nothing was done, and returns the
// exit code (kRefused when fotoauthd said no, kFailure when it failed or answered off-topic).
int explain_answer(const protocol::Message& reply, std::string_view user);

// The account's Status answer, when fotoauthd gave one with status ok. Otherwise says why on
// stderr, sets `failure` to the exit code, and returns nothing. Every verb that must know the
// account's state first (status, devices, a mode change, a code confirmation) asks this way.
std::optional<protocol::Message> ask_status(const Invocation& invocation, std::string_view user,
                                            int& failure);

// explain_answer for the root verbs (lockouts, unlock, unblock), whose refusal is about root.
int explain_root_answer(const protocol::Message& reply, std::string_view user);

}  // namespace fotostudio::ctl
