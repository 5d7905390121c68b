#include "client.hpp"

#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace fotostudio::client {

std::string_view to_string(Failure failure) noexcept
{
    switch (failure) {
    case Failure::None: return "no failure";
    case Failure::Connect: return "cannot connect to fotoauthd";
    case Failure::UntrustedPeer: return "socket is not owned by the daemon account";
    case Failure::Timeout: return "fotoauthd did not answer in time";
    case Failure::Io: return "socket error";
    case Failure::Closed: return "fotoauthd closed the connection";
    case Failure::Garbage: return "fotoauthd sent an unreadable answer";
    }
    return "unknown failure";
}

namespace {

Outcome fail(Failure failure, std::string detail)
{
    Outcome outcome;
    outcome.failure = failure;
    outcome.detail = std::move(detail);
    return outcome;
}

std::string errno_text(int error)
{
    return std::strerror(error);
}

// How long request() looks for the answer before it sleeps in poll(). fotoauthd answers most
// requests within 100 to 300 µs. A process that sleeps that long lets its CPU go idle, and on a
// virtual machine waking an idle CPU costs tens of microseconds on both sides, more than the
// look (bench/README.md, "Waiting for the answer"). The look offers the CPU to others at every
// turn (sched_yield) and ends at the first turn on which another process took it, so on a busy
// machine it takes nothing from the daemon or from other logins.
constexpr auto kLookBeforeSleeping = std::chrono::microseconds(150);
// A turn that took longer than this was spent by another process.
constexpr auto kTurnOfAnotherProcess = std::chrono::microseconds(20);

}  // namespace

Connection::Connection(Connection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), deadline_(other.deadline_)
{
}

Connection& Connection::operator=(Connection&& other) noexcept
{
    if (this != &other) {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = std::exchange(other.fd_, -1);
        deadline_ = other.deadline_;
    }
    return *this;
}

Connection::~Connection()
{
    if (fd_ >= 0)
        ::close(fd_);
}

bool Connection::wait_for(short events, Outcome& outcome)
{
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline_ - std::chrono::steady_clock::now());
        pollfd pfd{fd_, events, 0};
        if (left.count() <= 0) {
            // Less than a millisecond left: what is already there is still taken.
            if (::poll(&pfd, 1, 0) > 0)
                return true;
            outcome = fail(Failure::Timeout, "deadline passed");
            return false;
        }

        const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
        if (ready > 0)
            return true;
        if (ready == 0) {
            outcome = fail(Failure::Timeout, "deadline passed");
            return false;
        }
        if (errno != EINTR) {
            outcome = fail(Failure::Io, errno_text(errno));
            return false;
        }
    }
}

bool Connection::answer_arrived_without_sleeping() const
{
    const auto start = std::chrono::steady_clock::now();
    auto turn = start;
    for (;;) {
        pollfd pfd{fd_, POLLIN, 0};
        // Ready, or an error or hang-up: either way the blocking wait that follows reports it.
        if (::poll(&pfd, 1, 0) != 0)
            return true;
        (void)::sched_yield();
        const auto now = std::chrono::steady_clock::now();
        if (now - turn > kTurnOfAnotherProcess || now - start > kLookBeforeSleeping ||
            now >= deadline_)
            return false;
        turn = now;
    }
}

Outcome Connection::open(const std::string& socket_path, uid_t trusted_uid,
                         std::chrono::milliseconds timeout)
{
    deadline_ = std::chrono::steady_clock::now() + timeout;

    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (socket_path.empty() || socket_path.size() >= sizeof(address.sun_path))
        return fail(Failure::Connect, "socket path is empty or too long");
    std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);

    if (fd_ >= 0)
        ::close(fd_);
    fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0)
        return fail(Failure::Connect, errno_text(errno));

    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) < 0) {
        if (errno != EINPROGRESS && errno != EAGAIN)
            return fail(Failure::Connect, errno_text(errno));
        Outcome outcome;
        if (!wait_for(POLLOUT, outcome))
            return outcome;
        int error = 0;
        socklen_t length = sizeof(error);
        if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length) < 0 || error != 0)
            return fail(Failure::Connect, errno_text(error ? error : errno));
    }

    ucred peer{};
    socklen_t length = sizeof(peer);
    if (::getsockopt(fd_, SOL_SOCKET, SO_PEERCRED, &peer, &length) < 0)
        return fail(Failure::Io, errno_text(errno));
    if (peer.uid != 0 && peer.uid != trusted_uid)
        return fail(Failure::UntrustedPeer, "peer uid " + std::to_string(peer.uid));

    return {};
}

void Connection::restart_deadline(std::chrono::milliseconds timeout)
{
    deadline_ = std::chrono::steady_clock::now() + timeout;
}

Outcome Connection::request(const protocol::Message& message)
{
    if (fd_ < 0)
        return fail(Failure::Io, "not connected");

    std::vector<std::uint8_t> bytes;
    if (!message.encode(bytes))
        return fail(Failure::Io, "request too large to encode");
    // The request may carry a code: wipe the encoded copy on every way out.
    struct Wipe {
        std::vector<std::uint8_t>& bytes;
        ~Wipe() { explicit_bzero(bytes.data(), bytes.size()); }
    } wipe{bytes};

    for (;;) {
        const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (sent == static_cast<ssize_t>(bytes.size()))
            break;
        if (sent >= 0)
            return fail(Failure::Io, "short send");
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return fail(Failure::Io, errno_text(errno));
        Outcome outcome;
        if (!wait_for(POLLOUT, outcome))
            return outcome;
    }

    // One byte more than the largest message, so that an oversized answer is seen as such.
    std::vector<std::uint8_t> buffer(protocol::kMaxMessageSize + 1);
    (void)answer_arrived_without_sleeping();
    for (;;) {
        Outcome outcome;
        if (!wait_for(POLLIN, outcome))
            return outcome;
        const ssize_t received = ::recv(fd_, buffer.data(), buffer.size(), 0);
        if (received == 0)
            return fail(Failure::Closed, "end of stream");
        if (received < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return fail(Failure::Io, errno_text(errno));
        }

        auto decoded = protocol::decode(
            std::span<const std::uint8_t>(buffer.data(), static_cast<std::size_t>(received)));
        // The datagrams may carry codes or recovery codes: leave no copy in freed memory.
        explicit_bzero(buffer.data(), buffer.size());
        if (!decoded.message)
            return fail(Failure::Garbage, std::string(protocol::to_string(decoded.error)));
        if (!protocol::reply_status(*decoded.message))
            return fail(Failure::Garbage, "answer is not a reply with a known status");
        outcome.reply = std::move(decoded.message);
        return outcome;
    }
}

}  // namespace fotostudio::client
