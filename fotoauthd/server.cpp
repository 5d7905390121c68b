#include "server.hpp"

#include "log.hpp"

#include <systemd/sd-daemon.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace fotoauthd {

namespace proto = fotostudio::protocol;

struct Server::Connection {
    Server* server = nullptr;
    int fd = -1;
    Caller caller;
    ConnectionMemory memory;  // from one request to the next (authenticator.hpp)
    sd_event_source* io = nullptr;
    sd_event_source* idle = nullptr;
    std::chrono::steady_clock::time_point end_of_life;

    ~Connection()
    {
        sd_event_source_disable_unref(io);
        sd_event_source_disable_unref(idle);
        if (fd >= 0)
            ::close(fd);
    }
};

namespace {

std::string errno_text(int error)
{
    return std::strerror(error);
}

std::int64_t monotonic_now_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void make_parent_directory(const std::string& path)
{
    const auto slash = path.rfind('/');
    if (slash == std::string::npos || slash == 0)
        return;
    const std::string directory = path.substr(0, slash);
    // The socket's directory must be reachable by every user (screen lockers and fotoauthctl
    // connect as the user); the daemon checks each peer's credentials instead.
    if (mkdir(directory.c_str(), 0755) == 0) {
        // The daemon's umask is 077; the mode asked of mkdir is cut by it, so set it again.
        if (chmod(directory.c_str(), 0755) < 0)
            throw std::runtime_error("cannot open up " + directory + ": " + errno_text(errno));
    } else if (errno != EEXIST) {
        throw std::runtime_error("cannot create " + directory + ": " + errno_text(errno));
    }

    // Whoever can write to the directory can replace the socket with one of their own.
    struct stat st {};
    if (lstat(directory.c_str(), &st) < 0)
        throw std::runtime_error("cannot examine " + directory + ": " + errno_text(errno));
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022) != 0)
        throw std::runtime_error(directory + " must be a directory owned by the daemon's user "
                                             "that nobody else can write to");
}

// True when something already answers on `address`: then another fotoauthd runs there.
bool someone_listens(const sockaddr_un& address)
{
    const int probe = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (probe < 0)
        return false;
    const bool answered =
        ::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
    ::close(probe);
    return answered;
}

}  // namespace

ListeningSocket open_listening_socket(const std::string& path)
{
    const int passed = sd_listen_fds(1);
    if (passed < 0)
        throw std::runtime_error("sd_listen_fds: " + errno_text(-passed));
    if (passed > 1)
        throw std::runtime_error("systemd passed more than one socket; expected one");
    if (passed == 1) {
        const int fd = SD_LISTEN_FDS_START;
        if (sd_is_socket_unix(fd, SOCK_SEQPACKET, 1, nullptr, 0) <= 0)
            throw std::runtime_error("the socket systemd passed is not a listening "
                                     "SOCK_SEQPACKET Unix socket");
        log::info("Using the socket passed by systemd");
        return {fd, {}};
    }

    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof(address.sun_path))
        throw std::runtime_error("socket path too long: " + path);
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);

    make_parent_directory(path);
    struct stat st {};
    if (lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            throw std::runtime_error(path + " exists and is not a socket; not replacing it");
        if (someone_listens(address))
            throw std::runtime_error("another fotoauthd already listens on " + path);
        (void)unlink(path.c_str());
    }

    const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        throw std::runtime_error("socket: " + errno_text(errno));
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) < 0 ||
        chmod(path.c_str(), 0666) < 0 || ::listen(fd, SOMAXCONN) < 0) {
        const int error = errno;
        ::close(fd);
        throw std::runtime_error("cannot listen on " + path + ": " + errno_text(error));
    }
    return {fd, path};
}

Server::Server(Authenticator& authenticator, int listen_fd, std::function<void()> reload)
    : reload_(std::move(reload)), authenticator_(authenticator), listen_fd_(listen_fd)
{
    int rc = sd_event_default(&event_);
    if (rc < 0)
        throw std::runtime_error("sd_event_default: " + errno_text(-rc));

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    // A null handler makes sd-event leave the loop when the signal arrives.
    (void)sd_event_add_signal(event_, nullptr, SIGTERM, nullptr, nullptr);
    (void)sd_event_add_signal(event_, nullptr, SIGINT, nullptr, nullptr);
    (void)sd_event_add_signal(event_, nullptr, SIGHUP, &Server::on_hangup, this);
    signal(SIGPIPE, SIG_IGN);

    rc = sd_event_add_io(event_, &listen_source_, listen_fd_, EPOLLIN, &Server::on_accept, this);
    if (rc < 0)
        throw std::runtime_error("sd_event_add_io: " + errno_text(-rc));

    // Delayed work (a SIGKILL a few seconds after a SIGTERM) runs from a once-a-second timer.
    rc = sd_event_add_time_relative(event_, &tick_source_, CLOCK_MONOTONIC, 1'000'000, 100'000,
                                    &Server::on_tick, this);
    if (rc < 0)
        throw std::runtime_error("sd_event_add_time_relative: " + errno_text(-rc));
    (void)sd_event_source_set_enabled(tick_source_, SD_EVENT_ON);

    // useradd and userdel replace /etc/passwd by renaming a new file over it.
    rc = sd_event_add_inotify(event_, &passwd_source_, "/etc", IN_MOVED_TO | IN_CLOSE_WRITE,
                              &Server::on_etc_changed, this);
    if (rc < 0)
        log::warning("Cannot watch /etc/passwd; deleted accounts are noticed at the next start",
                     {{"ERROR", errno_text(-rc)}});
}

int Server::on_tick(sd_event_source* source, uint64_t, void* data)
{
    auto* server = static_cast<Server*>(data);
    server->authenticator_.tick();
    (void)sd_event_source_set_enabled(server->listen_source_, SD_EVENT_ON);
    (void)sd_event_source_set_time_relative(source, 1'000'000);
    return 0;
}

int Server::on_hangup(sd_event_source*, const struct signalfd_siginfo*, void* data)
{
    auto* server = static_cast<Server*>(data);
    if (!server->reload_)
        return 0;
    (void)sd_notify(0, "RELOADING=1\nSTATUS=Reloading the configuration");
    try {
        server->reload_();
    } catch (const std::exception& error) {
        log::error("Configuration reload failed", {{"ERROR", error.what()}});
    }
    (void)sd_notify(0, "READY=1\nSTATUS=Serving logins");
    return 0;
}

int Server::on_etc_changed(sd_event_source*, const struct inotify_event* event, void* data)
{
    if (event->len > 0 && std::strcmp(event->name, "passwd") == 0)
        static_cast<Server*>(data)->authenticator_.forget_deleted_local_accounts();
    return 0;
}

Server::~Server()
{
    connections_.clear();
    sd_event_source_disable_unref(listen_source_);
    sd_event_source_disable_unref(passwd_source_);
    sd_event_source_disable_unref(tick_source_);
    sd_event_unref(event_);
}

int Server::run()
{
    (void)sd_notify(0, "READY=1\nSTATUS=Serving logins");
    log::info("fotoauthd is ready");
    const int rc = sd_event_loop(event_);
    (void)sd_notify(0, "STOPPING=1");
    if (rc < 0) {
        log::error("Event loop failed", {{"ERROR", errno_text(-rc)}});
        return 1;
    }
    log::info("fotoauthd stopped");
    return 0;
}

int Server::on_accept(sd_event_source*, int, uint32_t, void* data)
{
    static_cast<Server*>(data)->accept_one();
    return 0;
}

int Server::on_readable(sd_event_source*, int, uint32_t, void* data)
{
    auto* connection = static_cast<Connection*>(data);
    connection->server->serve(*connection);
    return 0;
}

int Server::on_idle(sd_event_source*, uint64_t, void* data)
{
    auto* connection = static_cast<Connection*>(data);
    connection->server->close_connection(connection->fd);
    return 0;
}

void Server::accept_one()
{
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        const int error = errno;
        if (error == EAGAIN || error == EINTR || error == ECONNABORTED)
            return;
        // Out of descriptors: stop accepting until the next tick instead of spinning on a
        // listening socket that stays readable.
        if (error == EMFILE || error == ENFILE)
            (void)sd_event_source_set_enabled(listen_source_, SD_EVENT_OFF);
        std::size_t held_back = 0;
        if (refusal_log_.allow("accept", monotonic_now_ms(), held_back))
            log::warning("accept failed, ignoring",
                         {{"ERROR", errno_text(error)}, {"HELD_BACK", std::to_string(held_back)}});
        return;
    }
    ucred peer{};
    socklen_t length = sizeof(peer);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) < 0) {
        log::warning("Cannot read the peer's credentials, closing", {{"ERROR", errno_text(errno)}});
        ::close(fd);
        return;
    }
    if (!has_room_for(peer.uid)) {
        std::size_t held_back = 0;
        if (refusal_log_.allow("connections:" + std::to_string(peer.uid), monotonic_now_ms(),
                               held_back))
            log::warning(
                "Too many open connections for this peer, closing a new one",
                {{"PEER_UID", std::to_string(peer.uid)}, {"HELD_BACK", std::to_string(held_back)}});
        ::close(fd);
        return;
    }

    auto connection = std::make_unique<Connection>();
    connection->server = this;
    connection->fd = fd;
    connection->caller = Caller{peer.uid, peer.pid};
    connection->end_of_life = std::chrono::steady_clock::now() + kMaxLifetime;
    const int rc = sd_event_add_io(event_, &connection->io, fd, EPOLLIN, &Server::on_readable,
                                   connection.get());
    if (rc < 0) {
        log::warning("Cannot watch a new connection, closing", {{"ERROR", errno_text(-rc)}});
        return;
    }
    arm_idle_timer(*connection);
    connections_.emplace(fd, std::move(connection));
    ++per_uid_[peer.uid];
    if (peer.uid != 0)
        ++unprivileged_;
}

bool Server::has_room_for(uid_t uid) const
{
    if (connections_.size() >= kMaxConnections)
        return false;
    if (uid == 0)
        return true;
    const auto mine = per_uid_.find(uid);
    return unprivileged_ < kMaxUnprivileged &&
           (mine == per_uid_.end() || mine->second < kMaxPerUser);
}

void Server::arm_idle_timer(Connection& connection)
{
    // Idle for kIdleTimeout, but never past the end of the connection's life.
    const auto left = connection.end_of_life - std::chrono::steady_clock::now();
    const auto wait = std::max(std::chrono::steady_clock::duration::zero(),
                               std::min<std::chrono::steady_clock::duration>(kIdleTimeout, left));
    const auto usec = std::chrono::duration_cast<std::chrono::microseconds>(wait).count();
    if (connection.idle) {
        (void)sd_event_source_set_time_relative(connection.idle, static_cast<uint64_t>(usec));
        (void)sd_event_source_set_enabled(connection.idle, SD_EVENT_ONESHOT);
        return;
    }
    (void)sd_event_add_time_relative(event_, &connection.idle, CLOCK_MONOTONIC,
                                     static_cast<uint64_t>(usec), 0, &Server::on_idle, &connection);
}

void Server::serve(Connection& connection)
{
    auto& buffer = receive_buffer_;
    const ssize_t received = ::recv(connection.fd, buffer.data(), buffer.size(), 0);
    if (received < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (received <= 0) {
        close_connection(connection.fd);
        return;
    }

    const auto decoded = proto::decode(
        std::span<const std::uint8_t>(buffer.data(), static_cast<std::size_t>(received)));
    proto::Message reply = proto::make_reply(proto::ReplyStatus::BadRequest);
    bool keep_open = true;
    if (!decoded.message || decoded.message->type() == proto::MessageType::Reply) {
        const std::string_view reason = decoded.message
                                            ? std::string_view("a reply sent as a request")
                                            : proto::to_string(decoded.error);
        std::size_t held_back = 0;
        const auto now_ms = monotonic_now_ms();
        if (refusal_log_.allow("malformed:" + std::to_string(connection.caller.uid), now_ms,
                               held_back))
            log::warning("Malformed request, closing the connection",
                         {{"ERROR", std::string(reason)},
                          {"PEER_UID", std::to_string(connection.caller.uid)},
                          {"PEER_PID", std::to_string(connection.caller.pid)},
                          {"HELD_BACK", std::to_string(held_back)}});
        reply = proto::make_reply(proto::ReplyStatus::BadRequest, reason);
        keep_open = false;
    } else {
        reply = authenticator_.handle(connection.caller, *decoded.message, &connection.memory);
    }

    std::vector<std::uint8_t> bytes;
    if (!reply.encode(bytes)) {
        // Every answer is built to fit; one that does not is a bug, answered as an error.
        log::error("An answer did not fit into one message, answering internal-error",
                   {{"PEER_UID", std::to_string(connection.caller.uid)}});
        (void)proto::make_reply(proto::ReplyStatus::InternalError, "answer too large")
            .encode(bytes);
    }
    if (::send(connection.fd, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL) !=
        static_cast<ssize_t>(bytes.size())) {
        // A client that does not read its answers is not waited for.
        keep_open = false;
    }
    // Requests carry codes and answers may carry a secret or recovery codes. recv wrote only
    // `received` bytes; the rest holds zeros or what an earlier request left there, wiped then.
    explicit_bzero(buffer.data(), static_cast<std::size_t>(received));
    explicit_bzero(bytes.data(), bytes.size());

    if (keep_open)
        arm_idle_timer(connection);
    else
        close_connection(connection.fd);
}

void Server::close_connection(int fd)
{
    const auto found = connections_.find(fd);
    if (found == connections_.end())
        return;
    const uid_t uid = found->second->caller.uid;
    if (--per_uid_[uid] == 0)
        per_uid_.erase(uid);
    if (uid != 0)
        --unprivileged_;
    connections_.erase(found);
}

}  // namespace fotoauthd
