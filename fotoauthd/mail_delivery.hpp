// Handing one message to the mail system, in a child process, so that a slow or hanging mail
// transfer agent never holds up the daemon's event loop.
//
// Two transports: the local sendmail program (`SENDMAIL -i -f FROM -- RECIPIENT`, the message
// on stdin, never `-t`, no shell), or plain SMTP to a relay (no TLS, no authentication: meant
// for a relay on this host or a trusted network). The child runs in its own process group, with
// every descriptor but its stdin, stdout and stderr closed and a time limit of its own; its
// first output lines are kept for the failure sentence.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace fotoauthd::mail {

struct Transport {
    enum class Kind { Sendmail, Smtp } kind = Kind::Sendmail;
    std::string sendmail_path = "/usr/sbin/sendmail";
    std::string smtp_host;  // a host name or an IP address
    unsigned smtp_port = 25;
    std::string helo_name;  // this host's name; "localhost" when empty or not a host name
    // The child ends itself (SIGALRM) after this long, even if the caller never calls kill().
    unsigned time_limit_seconds = 120;
};

// A descriptor closed by its destructor.
class OwnedFd {
public:
    OwnedFd() = default;
    explicit OwnedFd(int fd) : fd_(fd) {}
    OwnedFd(OwnedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    OwnedFd& operator=(OwnedFd&& other) noexcept;
    OwnedFd(const OwnedFd&) = delete;
    OwnedFd& operator=(const OwnedFd&) = delete;
    ~OwnedFd();

    int get() const { return fd_; }
    void reset();

private:
    int fd_ = -1;
};

// One child process delivering one message.
class Delivery {
public:
    enum class State { Running, Delivered, Failed };

    // Starts the child and returns at once. Never returns null and never throws for a bad
    // address or a failing system call: the result is then already Failed, with the reason.
    static std::unique_ptr<Delivery> start(const Transport& transport, const std::string& from,
                                           const std::string& recipient,
                                           const std::string& message);

    Delivery(const Delivery&) = delete;
    Delivery& operator=(const Delivery&) = delete;
    ~Delivery();  // kills and reaps a child still running

    // Non-blocking; reaps the child when it has ended. Never throws.
    State poll();

    // Why it failed, as a sentence ("sendmail exited with status 75: ..."); empty otherwise.
    std::string failure() const { return failure_; }

    // SIGKILL to the child's whole process group, then reaps it: for a delivery past its
    // deadline. The state becomes Failed ("... timed out") unless the child had ended already.
    void kill();

    // The child's process id (its process group too), or -1 when none was started.
    pid_t pid() const { return pid_; }

private:
    Delivery(Transport::Kind kind, std::string program, unsigned time_limit, pid_t pid,
             OwnedFd output, OwnedFd report);
    explicit Delivery(std::string failure);

    void collect_output();
    void finish(int wait_status);
    std::string exec_failure();

    Transport::Kind kind_ = Transport::Kind::Sendmail;
    std::string program_;  // "sendmail" or "SMTP to HOST:PORT", for the failure sentence
    unsigned time_limit_ = 0;
    pid_t pid_ = -1;
    OwnedFd output_;     // the child's stdout and stderr, non-blocking
    OwnedFd report_;     // sendmail only: the errno of a failed exec, non-blocking
    std::string heard_;  // the beginning of that output
    State state_ = State::Running;
    std::string failure_;
};

// The message as SMTP DATA carries it: every line ended by CRLF (a bare CR or LF becomes one),
// a line starting with '.' gets another, and the terminating ".\r\n" appended.
std::string smtp_data(std::string_view message);

}  // namespace fotoauthd::mail
