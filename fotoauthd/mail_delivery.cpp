#include "mail_delivery.hpp"

#include "alert_mail.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <system_error>
#include <vector>

namespace fotoauthd::mail {

OwnedFd& OwnedFd::operator=(OwnedFd&& other) noexcept
{
    if (this != &other) {
        reset();
        fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
}

OwnedFd::~OwnedFd()
{
    reset();
}

void OwnedFd::reset()
{
    if (fd_ >= 0)
        (void)::close(fd_);
    fd_ = -1;
}

namespace {

constexpr std::size_t kHeardLimit = 512;       // bytes of the child's output kept
constexpr std::size_t kReplyLineLimit = 2048;  // RFC 5321 allows 512; be lenient, not unbounded
constexpr std::size_t kReplyLinesLimit = 100;
constexpr int kConnectTimeoutMs = 10'000;
constexpr int kReplyTimeoutSeconds = 30;

std::string errno_text(int error)
{
    return std::system_category().message(error);
}

// Text from a child or a server made fit for one log line: printable ASCII, lines joined by
// "; ", at most `limit` bytes.
std::string one_printable_line(std::string_view text, std::size_t limit = 300)
{
    std::string out;
    bool line_break = false;
    for (char c : text) {
        if (c == '\n' || c == '\r') {
            line_break = !out.empty();
            continue;
        }
        if (line_break)
            out += "; ";
        line_break = false;
        out += (c >= 0x20 && c < 0x7f) ? c : '?';
        if (out.size() >= limit)
            return out + "...";
    }
    return out;
}

std::string base_name(const std::string& path)
{
    const std::size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool is_host_name(std::string_view text)
{
    return !text.empty() && text.size() <= 253 && std::all_of(text.begin(), text.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '-';
    });
}

// --- in the child ---------------------------------------------------------------------------

bool write_all(int fd, std::string_view data)
{
    while (!data.empty()) {
        const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK) {
            const ssize_t w = ::write(fd, data.data(), data.size());
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return false;
            data.remove_prefix(static_cast<std::size_t>(w));
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return false;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

// The daemon blocks the signals its event loop handles, and the child must not inherit that:
// a blocked SIGTERM would outlive a `systemctl stop`.
void reset_signals()
{
    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int signal_number = 1; signal_number < NSIG; ++signal_number)
        (void)::signal(signal_number, SIG_DFL);
}

// Gives the child `input` as stdin, `output` as stdout and stderr and `report` (when >= 0) as
// fd 3 with close-on-exec, and closes every other descriptor the daemon had: its socket, its
// database. The sources are first moved above 9 so that none is overwritten by another's dup2.
bool arrange_descriptors(int input, int output, int report)
{
    const int high_input = ::fcntl(input, F_DUPFD, 10);
    const int high_output = ::fcntl(output, F_DUPFD, 10);
    const int high_report = report >= 0 ? ::fcntl(report, F_DUPFD, 10) : -1;
    if (high_input < 0 || high_output < 0 || (report >= 0 && high_report < 0))
        return false;
    if (::dup2(high_input, 0) < 0 || ::dup2(high_output, 1) < 0 || ::dup2(high_output, 2) < 0)
        return false;
    if (report >= 0 && ::dup3(high_report, 3, O_CLOEXEC) < 0)
        return false;
    return ::close_range(report >= 0 ? 4 : 3, ~0U, 0) == 0;
}

// The common start of every child: its own process group (so that kill() reaches its children
// too), default signals, the descriptors, and the alarm that ends it if nobody else does.
void prepare_child(int input, int output, int report, unsigned time_limit)
{
    (void)::setpgid(0, 0);
    reset_signals();
    if (!arrange_descriptors(input, output, report))
        ::_exit(126);
    ::alarm(time_limit);
}

// One SMTP reply: its code and its lines without the code.
struct Reply {
    int code = 0;
    std::vector<std::string> lines;
};

class SmtpSession {
public:
    SmtpSession(int fd, std::string& reason) : fd_(fd), reason_(reason) {}

    // Reads one reply, multi-line ones included; false (with the reason) when the server said
    // nothing in time, closed, or sent something that is not an SMTP reply.
    bool read_reply(Reply& reply, std::string_view after)
    {
        reply = Reply{};
        for (std::size_t count = 0; count < kReplyLinesLimit; ++count) {
            std::string line;
            if (!read_line(line, after))
                return false;
            const auto code = reply_code(line);
            if (!code || (reply.code != 0 && *code != reply.code))
                return fail("the answer to " + std::string(after) +
                            " is not an SMTP reply: " + one_printable_line(line, 100));
            reply.code = *code;
            reply.lines.push_back(line.size() > 4 ? line.substr(4) : "");
            if (line.size() == 3 || line[3] == ' ')
                return true;
        }
        return fail("the answer to " + std::string(after) + " has too many lines");
    }

    // Sends a command and reads its reply; false unless the code is one of `expected`.
    bool command(const std::string& text, std::initializer_list<int> expected, Reply& reply)
    {
        const std::string shown = text.substr(0, text.find('\r'));
        if (!send(text, shown) || !read_reply(reply, shown))
            return false;
        if (std::find(expected.begin(), expected.end(), reply.code) != expected.end())
            return true;
        return fail(shown + " was answered " + describe(reply));
    }

    bool send(std::string_view data, std::string_view what)
    {
        if (write_all(fd_, data))
            return true;
        const int error = errno;
        if (error == EAGAIN || error == EWOULDBLOCK)
            return fail("sending " + std::string(what) + " timed out");
        return fail("sending " + std::string(what) + " failed: " + errno_text(error));
    }

    bool fail(std::string reason)
    {
        reason_ = std::move(reason);
        return false;
    }

    static std::string describe(const Reply& reply)
    {
        const std::string text = reply.lines.empty() ? "" : reply.lines.front();
        return std::to_string(reply.code) + " " + one_printable_line(text, 200);
    }

private:
    static std::optional<int> reply_code(const std::string& line)
    {
        if (line.size() < 3 || (line.size() > 3 && line[3] != ' ' && line[3] != '-'))
            return std::nullopt;
        if (line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' || line[2] < '0' ||
            line[2] > '9')
            return std::nullopt;
        return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    }

    bool read_line(std::string& line, std::string_view after)
    {
        while (true) {
            const std::size_t end = buffer_.find('\n');
            if (end != std::string::npos) {
                line = buffer_.substr(0, end);
                buffer_.erase(0, end + 1);
                if (!line.empty() && line.back() == '\r')
                    line.pop_back();
                return true;
            }
            if (buffer_.size() > kReplyLineLimit)
                return fail("the answer to " + std::string(after) + " has an overlong line");

            char chunk[1024];
            const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return fail("no answer to " + std::string(after) + " within " +
                            std::to_string(kReplyTimeoutSeconds) + " s");
            if (n < 0)
                return fail("reading the answer to " + std::string(after) +
                            " failed: " + errno_text(errno));
            if (n == 0)
                return fail("the server closed the connection after " + std::string(after));
            buffer_.append(chunk, static_cast<std::size_t>(n));
        }
    }

    int fd_;
    std::string& reason_;
    std::string buffer_;
};

bool wait_connected(int fd, std::string& error)
{
    pollfd waiting{fd, POLLOUT, 0};
    int ready = 0;
    do {
        ready = ::poll(&waiting, 1, kConnectTimeoutMs);
    } while (ready < 0 && errno == EINTR);
    if (ready == 0) {
        error = "no connection within " + std::to_string(kConnectTimeoutMs / 1000) + " s";
        return false;
    }
    int status = 0;
    socklen_t length = sizeof status;
    if (ready < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &status, &length) < 0)
        status = errno;
    if (status != 0) {
        error = errno_text(status);
        return false;
    }
    return true;
}

// A blocking connection to the relay with send and receive timeouts, or -1 with the reason.
int connect_to_relay(const std::string& host, unsigned port, std::string& reason)
{
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
    if (rc != 0) {
        reason = "cannot resolve the relay's name: " + std::string(::gai_strerror(rc));
        return -1;
    }

    std::string error = "no address";
    int fd = -1;
    for (const addrinfo* address = found; address && fd < 0; address = address->ai_next) {
        fd = ::socket(address->ai_family, address->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                      address->ai_protocol);
        if (fd < 0) {
            error = errno_text(errno);
            continue;
        }
        if (::connect(fd, address->ai_addr, address->ai_addrlen) == 0 ||
            (errno == EINPROGRESS && wait_connected(fd, error)))
            break;
        if (errno != EINPROGRESS)
            error = errno_text(errno);
        (void)::close(fd);
        fd = -1;
    }
    ::freeaddrinfo(found);
    if (fd < 0) {
        reason = "cannot connect: " + error;
        return -1;
    }

    const timeval timeout{kReplyTimeoutSeconds, 0};
    if (::fcntl(fd, F_SETFL, 0) < 0 ||
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) < 0 ||
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout) < 0) {
        reason = "cannot set up the connection: " + errno_text(errno);
        (void)::close(fd);
        return -1;
    }
    return fd;
}

struct SmtpPlan {
    std::string host;
    unsigned port = 25;
    std::string helo_name;
    std::string from;
    std::string recipient;
    std::string data;  // already dot-stuffed and terminated
};

bool offers(const Reply& ehlo, std::string_view keyword)
{
    return std::any_of(ehlo.lines.begin(), ehlo.lines.end(), [&](const std::string& line) {
        return line.size() >= keyword.size() &&
               std::equal(keyword.begin(), keyword.end(), line.begin(),
                          [](char a, char b) {
                              return std::toupper(static_cast<unsigned char>(a)) ==
                                     std::toupper(static_cast<unsigned char>(b));
                          }) &&
               (line.size() == keyword.size() || line[keyword.size()] == ' ');
    });
}

// The SMTP dialogue; false with the reason when any reply is not the expected one.
bool deliver_by_smtp(const SmtpPlan& plan, std::string& reason)
{
    const int fd = connect_to_relay(plan.host, plan.port, reason);
    if (fd < 0)
        return false;
    SmtpSession session(fd, reason);
    Reply reply;

    if (!session.read_reply(reply, "connecting"))
        return false;
    if (reply.code != 220)
        return session.fail("the greeting was " + SmtpSession::describe(reply));

    // A server that does not know EHLO answers 500 or 502; it may still know HELO.
    bool extended = true;
    if (!session.command("EHLO " + plan.helo_name + "\r\n", {250, 500, 502}, reply))
        return false;
    if (reply.code != 250) {
        extended = false;
        if (!session.command("HELO " + plan.helo_name + "\r\n", {250}, reply))
            return false;
    }

    const bool eight_bit = extended && offers(reply, "8BITMIME");
    const std::string body = eight_bit ? " BODY=8BITMIME" : "";
    if (!session.command("MAIL FROM:<" + plan.from + ">" + body + "\r\n", {250}, reply) ||
        !session.command("RCPT TO:<" + plan.recipient + ">\r\n", {250, 251}, reply) ||
        !session.command("DATA\r\n", {354}, reply))
        return false;
    if (!session.send(plan.data, "the message") || !session.read_reply(reply, "the message"))
        return false;
    if (reply.code != 250)
        return session.fail("the message was answered " + SmtpSession::describe(reply));

    // The message is accepted; how the server answers QUIT no longer matters.
    (void)session.command("QUIT\r\n", {221}, reply);
    return true;
}

[[noreturn]] void run_smtp_child(const SmtpPlan& plan, int input, int output, unsigned limit)
{
    prepare_child(input, output, -1, limit);
    // Nothing may unwind out of here: it would run the daemon's own code in the child.
    try {
        std::string reason;
        if (deliver_by_smtp(plan, reason))
            ::_exit(0);
        (void)write_all(2, reason + "\n");
    } catch (const std::exception& error) {
        (void)write_all(2, std::string(error.what()) + "\n");
    } catch (...) {
        (void)write_all(2, "an unknown exception\n");
    }
    ::_exit(1);
}

[[noreturn]] void run_sendmail_child(const char* path, char* const argv[], int input, int output,
                                     int report, unsigned limit)
{
    prepare_child(input, output, report, limit);
    ::execv(path, argv);
    const int error = errno;
    // The parent reads why exec failed from this pipe; if even that fails, the exit status 127
    // still says the program did not run.
    if (::write(3, &error, sizeof error) < 0)
        ::_exit(127);
    ::_exit(127);
}

// --- in the parent --------------------------------------------------------------------------

// The message in an anonymous memory file, read from its start: the child reads it as stdin,
// and writing it here never waits for a reader.
OwnedFd message_file(const std::string& message)
{
    OwnedFd file(::memfd_create("fotoauthd-alert", MFD_CLOEXEC));
    if (file.get() < 0)
        throw std::system_error(errno, std::system_category(), "memfd_create");
    std::string_view rest = message;
    while (!rest.empty()) {
        const ssize_t n = ::write(file.get(), rest.data(), rest.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw std::system_error(errno, std::system_category(), "writing the message");
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    if (::lseek(file.get(), 0, SEEK_SET) < 0)
        throw std::system_error(errno, std::system_category(), "lseek");
    return file;
}

struct Pipe {
    OwnedFd read_end;
    OwnedFd write_end;
};

// A pipe whose read end does not block; both ends close on exec.
Pipe make_pipe()
{
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0)
        throw std::system_error(errno, std::system_category(), "pipe2");
    Pipe made{OwnedFd(fds[0]), OwnedFd(fds[1])};
    if (::fcntl(made.read_end.get(), F_SETFL, O_NONBLOCK) < 0)
        throw std::system_error(errno, std::system_category(), "fcntl");
    return made;
}

OwnedFd dev_null()
{
    OwnedFd file(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (file.get() < 0)
        throw std::system_error(errno, std::system_category(), "/dev/null");
    return file;
}

// Why the envelope cannot be used, or empty when it can.
std::string envelope_problem(const Transport& transport, const std::string& from,
                             const std::string& recipient)
{
    if (!is_plain_address(from))
        return "the sender is not a plain address";
    if (!is_plain_address(recipient) && !is_local_recipient(recipient))
        return "the recipient is neither a plain address nor a local user name";
    if (transport.kind == Transport::Kind::Sendmail &&
        (transport.sendmail_path.empty() || transport.sendmail_path.front() != '/'))
        return "the sendmail path is not absolute";
    if (transport.kind == Transport::Kind::Smtp &&
        (transport.smtp_host.empty() || transport.smtp_port == 0 || transport.smtp_port > 65535))
        return "no SMTP relay is configured";
    return {};
}

pid_t fork_child()
{
    const pid_t pid = ::fork();
    if (pid < 0)
        throw std::system_error(errno, std::system_category(), "fork");
    return pid;
}

}  // namespace

std::string smtp_data(std::string_view message)
{
    std::string out;
    out.reserve(message.size() + message.size() / 32 + 8);
    bool line_start = true;
    for (std::size_t i = 0; i < message.size(); ++i) {
        const char c = message[i];
        if (line_start && c == '.')
            out += '.';
        line_start = false;
        if (c == '\r' || c == '\n') {
            if (c == '\r' && i + 1 < message.size() && message[i + 1] == '\n')
                ++i;
            out += "\r\n";
            line_start = true;
            continue;
        }
        out += c;
    }
    if (!line_start)
        out += "\r\n";
    return out + ".\r\n";
}

Delivery::Delivery(Transport::Kind kind, std::string program, unsigned time_limit, pid_t pid,
                   OwnedFd output, OwnedFd report)
    : kind_(kind), program_(std::move(program)), time_limit_(time_limit), pid_(pid),
      output_(std::move(output)), report_(std::move(report))
{
}

Delivery::Delivery(std::string failure) : state_(State::Failed), failure_(std::move(failure)) {}

std::unique_ptr<Delivery> Delivery::start(const Transport& transport, const std::string& from,
                                          const std::string& recipient, const std::string& message)
{
    const std::string problem = envelope_problem(transport, from, recipient);
    if (!problem.empty())
        return std::unique_ptr<Delivery>(new Delivery("mail not sent: " + problem));

    const unsigned limit = std::max(1U, transport.time_limit_seconds);
    try {
        Pipe output = make_pipe();
        if (transport.kind == Transport::Kind::Smtp) {
            const SmtpPlan plan{transport.smtp_host,
                                transport.smtp_port,
                                is_host_name(transport.helo_name) ? transport.helo_name
                                                                  : "localhost",
                                from,
                                recipient,
                                smtp_data(message)};
            const OwnedFd input = dev_null();
            const pid_t pid = fork_child();
            if (pid == 0)
                run_smtp_child(plan, input.get(), output.write_end.get(), limit);
            (void)::setpgid(pid, pid);
            const std::string program =
                "SMTP to " + transport.smtp_host + ":" + std::to_string(transport.smtp_port);
            return std::unique_ptr<Delivery>(new Delivery(
                Transport::Kind::Smtp, program, limit, pid, std::move(output.read_end), OwnedFd()));
        }

        // Everything the child needs is made before fork: it only arranges descriptors and
        // execs. No `-t`: the recipient comes from here, never from the message's headers.
        const OwnedFd input = message_file(message);
        Pipe report = make_pipe();
        const std::string& path = transport.sendmail_path;
        std::vector<std::string> args = {path, "-i", "-f", from, "--", recipient};
        std::vector<char*> argv;
        for (auto& arg : args)
            argv.push_back(arg.data());
        argv.push_back(nullptr);
        const pid_t pid = fork_child();
        if (pid == 0)
            run_sendmail_child(path.c_str(), argv.data(), input.get(), output.write_end.get(),
                               report.write_end.get(), limit);
        (void)::setpgid(pid, pid);
        return std::unique_ptr<Delivery>(new Delivery(Transport::Kind::Sendmail, base_name(path),
                                                      limit, pid, std::move(output.read_end),
                                                      std::move(report.read_end)));
    } catch (const std::system_error& error) {
        return std::unique_ptr<Delivery>(
            new Delivery("mail not sent: cannot start the delivery: " + std::string(error.what())));
    }
}

Delivery::~Delivery()
{
    kill();
}

void Delivery::collect_output()
{
    if (output_.get() < 0)
        return;
    char chunk[512];
    while (true) {
        const ssize_t n = ::read(output_.get(), chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        const std::size_t room = kHeardLimit - std::min(kHeardLimit, heard_.size());
        heard_.append(chunk, std::min(room, static_cast<std::size_t>(n)));
    }
}

std::string Delivery::exec_failure()
{
    int error = 0;
    if (report_.get() < 0 || ::read(report_.get(), &error, sizeof error) != sizeof error)
        return {};
    return "could not run " + program_ + ": " + errno_text(error);
}

void Delivery::finish(int wait_status)
{
    collect_output();
    output_.reset();
    const std::string exec_error = exec_failure();
    report_.reset();

    const std::string heard = one_printable_line(heard_);
    const std::string detail = heard.empty() ? "" : ": " + heard;
    state_ = State::Failed;
    if (!exec_error.empty()) {
        failure_ = exec_error;
    } else if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) {
        state_ = State::Delivered;
    } else if (WIFEXITED(wait_status) && kind_ == Transport::Kind::Smtp &&
               WEXITSTATUS(wait_status) == 1) {
        // The SMTP child's exit status 1 comes with its reason on stderr.
        failure_ = program_ + " failed" + detail;
    } else if (WIFEXITED(wait_status)) {
        failure_ =
            program_ + " exited with status " + std::to_string(WEXITSTATUS(wait_status)) + detail;
    } else if (WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGALRM) {
        failure_ =
            program_ + " timed out: still running after " + std::to_string(time_limit_) + " s";
    } else if (WIFSIGNALED(wait_status)) {
        failure_ = program_ + " was killed by signal " + std::to_string(WTERMSIG(wait_status)) +
                   " (" + ::strsignal(WTERMSIG(wait_status)) + ")" + detail;
    } else {
        failure_ = program_ + " ended in an unknown way";
    }
}

Delivery::State Delivery::poll()
{
    if (state_ != State::Running)
        return state_;

    collect_output();
    int wait_status = 0;
    pid_t reaped = 0;
    do {
        reaped = ::waitpid(pid_, &wait_status, WNOHANG);
    } while (reaped < 0 && errno == EINTR);
    if (reaped == 0)
        return state_;
    if (reaped < 0) {
        // Someone else reaped it (SIGCHLD ignored, say): its fate is unknown, so not Delivered.
        state_ = State::Failed;
        failure_ = program_ + ": cannot learn how it ended: " + errno_text(errno);
        return state_;
    }
    finish(wait_status);
    return state_;
}

void Delivery::kill()
{
    if (state_ != State::Running)
        return;

    // The whole group: a sendmail that has started a helper of its own takes it along.
    (void)::kill(-pid_, SIGKILL);
    (void)::kill(pid_, SIGKILL);
    int wait_status = 0;
    pid_t reaped = 0;
    do {
        reaped = ::waitpid(pid_, &wait_status, 0);
    } while (reaped < 0 && errno == EINTR);

    if (reaped == pid_ && WIFEXITED(wait_status)) {
        finish(wait_status);  // it ended by itself just before
        return;
    }
    collect_output();
    output_.reset();
    report_.reset();
    state_ = State::Failed;
    failure_ = program_ + " timed out and was stopped";
}

}  // namespace fotoauthd::mail
