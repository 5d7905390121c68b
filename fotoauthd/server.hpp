// The socket side of fotoauthd: an sd-event loop that accepts connections on the listening
// socket, reads one bounded datagram at a time, hands decoded requests to the Authenticator and
// sends the answer back. Single-threaded: one request is a handful of microseconds of HMAC and
// one small SQLite transaction, so a second thread would buy contention, not speed.
#pragma once

#include "authenticator.hpp"
#include "log.hpp"

#include <systemd/sd-event.h>

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

namespace fotoauthd {

// The listening socket: the one systemd passed (socket activation), or one bound at `path`.
// Throws std::runtime_error with the reason on failure.
struct ListeningSocket {
    int fd = -1;
    std::string bound_path;  // set when the daemon bound it itself, and so removes it at exit
};
ListeningSocket open_listening_socket(const std::string& path);

class Server {
public:
    // `reload` runs on SIGHUP (systemctl reload), between two requests; connections stay open.
    Server(Authenticator& authenticator, int listen_fd, std::function<void()> reload = {});
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Runs until SIGTERM or SIGINT; returns the exit status for main().
    int run();

    // Limits that keep one misbehaving client from starving the others. Connections of users
    // other than root may take only half of the slots, at most kMaxPerUser each, so that
    // sshd and login (root) always find a place; no connection lives longer than kMaxLifetime,
    // however busy it keeps itself.
    static constexpr std::size_t kMaxConnections = 512;
    static constexpr std::size_t kMaxUnprivileged = kMaxConnections / 2;
    static constexpr std::size_t kMaxPerUser = 16;
    static constexpr std::chrono::seconds kIdleTimeout{30};
    static constexpr std::chrono::seconds kMaxLifetime{120};

private:
    struct Connection;

    static int on_accept(sd_event_source* source, int fd, uint32_t events, void* data);
    static int on_readable(sd_event_source* source, int fd, uint32_t events, void* data);
    static int on_idle(sd_event_source* source, uint64_t usec, void* data);
    static int on_tick(sd_event_source* source, uint64_t usec, void* data);
    static int on_hangup(sd_event_source* source, const struct signalfd_siginfo* info, void* data);
    static int on_etc_changed(sd_event_source* source, const struct inotify_event* event,
                              void* data);

    void accept_one();
    void serve(Connection& connection);
    void close_connection(int fd);
    void arm_idle_timer(Connection& connection);

    std::function<void()> reload_;
    Authenticator& authenticator_;
    int listen_fd_;
    sd_event* event_ = nullptr;
    sd_event_source* listen_source_ = nullptr;
    sd_event_source* passwd_source_ = nullptr;
    sd_event_source* tick_source_ = nullptr;
    bool has_room_for(uid_t uid) const;

    // One byte more than the largest message, so that an oversized one is seen as such. A
    // member rather than a local: zeroing 4 KiB for every request showed in the profile.
    std::array<std::uint8_t, fotostudio::protocol::kMaxMessageSize + 1> receive_buffer_{};
    std::unordered_map<int, std::unique_ptr<Connection>> connections_;
    std::unordered_map<uid_t, std::size_t> per_uid_;
    std::size_t unprivileged_ = 0;
    log::Throttle refusal_log_{5, 60'000};
};

}  // namespace fotoauthd
