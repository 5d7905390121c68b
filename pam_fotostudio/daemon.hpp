// The module's requests to fotoauthd, each on a fresh connection with its own deadline.
#pragma once

#include "client.hpp"
#include "options.hpp"
#include "protocol.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace fotostudio::pam {

// Who is logging in, as the application described it.
struct Caller {
    std::string user;
    std::string service;
    std::optional<std::string> remote_host;
    std::optional<std::string> tty;
};

protocol::Message auth_query(const Caller& caller);
protocol::Message auth_verify(const Caller& caller, std::string_view code);
protocol::Message session_open(std::string_view user, std::string_view nonce);

// Connects, checks that the listener is root or the daemon account, sends the request and
// waits for its answer, all within options.timeout.
client::Outcome exchange(const Options& options, const protocol::Message& request);

// The daemon's status, or nothing when the exchange failed before an answer arrived.
std::optional<protocol::ReplyStatus> status_of(const client::Outcome& outcome) noexcept;

}  // namespace fotostudio::pam
