// A client connection to fotoauthd, used by the PAM module and by fotoauthctl.
//
// Every operation is bounded by one deadline set when the connection is opened, so a daemon
// that accepts and never answers costs the caller at most that long. The peer is checked with
// SO_PEERCRED before anything is sent: a socket held by anyone but root (or the configured
// daemon account) is never trusted with a user's code.
#pragma once

#include "protocol.hpp"

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

namespace fotostudio::client {

enum class Failure {
    None,
    Connect,        // the socket is missing or nobody listens
    UntrustedPeer,  // the listener is not root nor the configured daemon account
    Timeout,        // the deadline passed
    Io,             // send or receive failed
    Closed,         // the daemon closed the connection without an answer
    Garbage,        // the answer did not decode
};

std::string_view to_string(Failure failure) noexcept;

struct Outcome {
    std::optional<protocol::Message> reply;
    Failure failure = Failure::None;
    std::string detail;  // errno text or decoder error, for the log
};

class Connection {
public:
    Connection() = default;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    Connection(Connection&& other) noexcept;
    Connection& operator=(Connection&& other) noexcept;
    ~Connection();

    // Connects and checks the peer. trusted_uid is the daemon account besides root
    // (pass 0 when only root is trusted).
    Outcome open(const std::string& socket_path, uid_t trusted_uid,
                 std::chrono::milliseconds timeout);

    // Sends one request and waits for its answer within what is left of the deadline.
    Outcome request(const protocol::Message& message);

    // Gives the next requests `timeout` from now: the daemon serves several requests on one
    // connection, and the time a user spends at a prompt must not eat into the next answer's.
    void restart_deadline(std::chrono::milliseconds timeout);

    bool is_open() const noexcept { return fd_ >= 0; }

private:
    bool wait_for(short events, Outcome& outcome);
    // Looks for the answer for a moment without sleeping (never past the deadline); true once
    // the socket is ready, which may also be a hang-up or an error for the wait that follows.
    bool answer_arrived_without_sleeping() const;

    int fd_ = -1;
    std::chrono::steady_clock::time_point deadline_{};
};

}  // namespace fotostudio::client
