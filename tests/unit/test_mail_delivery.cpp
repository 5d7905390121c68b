// Handing a message to the mail system in a child process: a fake sendmail that records, fails,
// hangs or is missing, and a small SMTP server in a thread of this test on 127.0.0.1.
#include "mail_delivery.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

// cmocka last: its fail() macro would clash with the standard library headers.
#include "cmocka_main.hpp"

namespace mail = fotoauthd::mail;
namespace fs = std::filesystem;
using State = mail::Delivery::State;
using namespace std::chrono_literals;

namespace {

const std::string kFrom = "fotoauthd@studio.example";
const std::string kRecipient = "anna@studio.example";
const std::string kMessage = "From: fotoauthd@studio.example\r\n"
                             "To: anna@studio.example\r\n"
                             "Subject: test\r\n"
                             "\r\n"
                             "first line\r\n"
                             ".a line that starts with a dot\r\n"
                             ".\r\n"
                             "last line\r\n";

// A folder of its own for each test, removed afterwards.
struct Scratch {
    fs::path dir;
    Scratch()
    {
        std::string pattern = (fs::temp_directory_path() / "fsauth-mail-XXXXXX").string();
        assert_non_null(mkdtemp(pattern.data()));
        dir = pattern;
    }
    ~Scratch() { fs::remove_all(dir); }

    // An executable script in the folder; its path.
    std::string script(const std::string& name, const std::string& body,
                       const std::string& interpreter = "/bin/sh") const
    {
        const fs::path path = dir / name;
        std::ofstream(path) << "#!" << interpreter << "\n" << body;
        fs::permissions(path, fs::perms::owner_all);
        return path.string();
    }

    std::string read(const std::string& name) const
    {
        std::ifstream in(dir / name, std::ios::binary);
        std::ostringstream text;
        text << in.rdbuf();
        return text.str();
    }
};

mail::Transport sendmail_at(const std::string& path)
{
    mail::Transport transport;
    transport.kind = mail::Transport::Kind::Sendmail;
    transport.sendmail_path = path;
    return transport;
}

// Polls until the delivery is no longer running or `timeout` passed; the last state.
State wait_for_end(mail::Delivery& delivery, std::chrono::milliseconds timeout = 10s)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    State state = delivery.poll();
    while (state == State::Running && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
        state = delivery.poll();
    }
    return state;
}

std::vector<std::string> split_nul(const std::string& text)
{
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t end = text.find('\0', start);
        parts.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return parts;
}

bool contains(const std::string& text, const std::string& part)
{
    return text.find(part) != std::string::npos;
}

bool process_is_gone(pid_t pid)
{
    return ::kill(pid, 0) < 0 && errno == ESRCH;
}

// Gone, or a zombie waiting for init: either way no longer running.
bool process_has_ended(pid_t pid)
{
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line))
        return true;
    const std::size_t paren = line.rfind(')');
    return paren != std::string::npos && line.size() > paren + 2 && line[paren + 2] == 'Z';
}

void sendmail_gets_exactly_its_argv_and_the_message_on_stdin(void**)
{
    const Scratch scratch;
    const std::string dir = scratch.dir.string();
    const auto path = scratch.script("sendmail", "printf '%s\\0' \"$@\" > " + dir +
                                                     "/argv\n"
                                                     "cat > " +
                                                     dir + "/stdin\n");

    const auto delivery = mail::Delivery::start(sendmail_at(path), kFrom, kRecipient, kMessage);
    assert_int_equal(wait_for_end(*delivery), State::Delivered);
    assert_string_equal(delivery->failure().c_str(), "");

    const std::vector<std::string> expected = {"-i", "-f", kFrom, "--", kRecipient};
    assert_true(split_nul(scratch.read("argv")) == expected);
    assert_true(scratch.read("stdin") == kMessage);
}

// The daemon's socket and database must not leak into the mail program, nor its blocked
// signals (a blocked SIGTERM would survive `systemctl stop`). The fake sendmail is a Perl script
// because the shell clears its signal mask when it starts, which would hide what it inherited.
void sendmail_inherits_no_descriptor_and_no_blocked_signal(void**)
{
    const Scratch scratch;
    const std::string dir = scratch.dir.string();
    // Deliberately without O_CLOEXEC, and at a number the interpreter does not use for itself.
    int leaky[2];
    assert_int_equal(::pipe(leaky), 0);
    const int high = ::fcntl(leaky[1], F_DUPFD, 57);
    assert_int_equal(high, 57);
    std::string body = R"(my $report = 'DIR/report';
{ local $/; my $ignored = <STDIN>; }
open(my $out, '>', $report) or die;
print $out (-e '/proc/self/fd/57' ? "open\n" : "closed\n");
open(my $status, '<', '/proc/self/status') or die;
print $out grep { /^SigBlk/ } <$status>;
)";
    body.replace(body.find("DIR"), 3, dir);
    const auto path = scratch.script("sendmail", body, "/usr/bin/perl");

    sigset_t term, previous;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    assert_int_equal(sigprocmask(SIG_BLOCK, &term, &previous), 0);
    const auto delivery = mail::Delivery::start(sendmail_at(path), kFrom, kRecipient, kMessage);
    assert_int_equal(sigprocmask(SIG_SETMASK, &previous, nullptr), 0);
    ::close(leaky[0]);
    ::close(leaky[1]);
    ::close(high);

    assert_int_equal(wait_for_end(*delivery), State::Delivered);
    assert_string_equal(scratch.read("report").c_str(), "closed\nSigBlk:\t0000000000000000\n");
}

void sendmail_failing_with_status_75_is_failed_with_the_status_and_its_words(void**)
{
    const Scratch scratch;
    const auto path =
        scratch.script("sendmail", "cat > /dev/null\n"
                                   "echo 'sendmail: fatal: queue file write error' >&2\n"
                                   "exit 75\n");

    const auto delivery = mail::Delivery::start(sendmail_at(path), kFrom, kRecipient, kMessage);
    assert_int_equal(wait_for_end(*delivery), State::Failed);
    assert_string_equal(delivery->failure().c_str(),
                        "sendmail exited with status 75: sendmail: fatal: queue file write error");
}

void a_hanging_sendmail_stays_running_until_killed_and_leaves_nothing_behind(void**)
{
    const Scratch scratch;
    const std::string dir = scratch.dir.string();
    const auto path = scratch.script("sendmail", "sleep 60 &\n"
                                                 "echo $! > " +
                                                     dir +
                                                     "/sleeper\n"
                                                     "wait\n");

    const auto delivery = mail::Delivery::start(sendmail_at(path), kFrom, kRecipient, kMessage);
    const pid_t pid = delivery->pid();
    assert_true(pid > 0);
    for (int i = 0; i < 30; ++i) {
        assert_int_equal(delivery->poll(), State::Running);
        std::this_thread::sleep_for(10ms);
    }
    for (int i = 0; i < 500 && scratch.read("sleeper").empty(); ++i)
        std::this_thread::sleep_for(10ms);
    const pid_t sleeper = std::stoi(scratch.read("sleeper"));

    const auto before = std::chrono::steady_clock::now();
    delivery->kill();
    assert_true(std::chrono::steady_clock::now() - before < 2s);

    assert_int_equal(delivery->poll(), State::Failed);
    assert_string_equal(delivery->failure().c_str(), "sendmail timed out and was stopped");
    assert_true(process_is_gone(pid));
    // sendmail's own child went with it: kill() signals the whole process group.
    const auto deadline = std::chrono::steady_clock::now() + 2s;
    while (!process_has_ended(sleeper) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(10ms);
    assert_true(process_has_ended(sleeper));
}

void a_sendmail_past_its_own_time_limit_ends_by_itself(void**)
{
    const Scratch scratch;
    const auto path = scratch.script("sendmail", "exec sleep 60\n");
    auto transport = sendmail_at(path);
    transport.time_limit_seconds = 1;

    const auto delivery = mail::Delivery::start(transport, kFrom, kRecipient, kMessage);
    assert_int_equal(wait_for_end(*delivery, 5s), State::Failed);
    assert_string_equal(delivery->failure().c_str(), "sendmail timed out: still running after 1 s");
}

void dropping_a_running_delivery_kills_and_reaps_its_child(void**)
{
    const Scratch scratch;
    const auto path = scratch.script("sendmail", "exec sleep 60\n");

    auto delivery = mail::Delivery::start(sendmail_at(path), kFrom, kRecipient, kMessage);
    const pid_t pid = delivery->pid();
    assert_int_equal(delivery->poll(), State::Running);
    delivery.reset();
    assert_true(process_is_gone(pid));
}

void a_missing_sendmail_is_failed_with_a_clear_sentence(void**)
{
    const auto delivery = mail::Delivery::start(sendmail_at("/nonexistent/fsauth/sendmail"), kFrom,
                                                kRecipient, kMessage);
    assert_int_equal(wait_for_end(*delivery), State::Failed);
    assert_string_equal(delivery->failure().c_str(),
                        "could not run sendmail: No such file or directory");
}

void a_bad_envelope_or_path_fails_without_starting_anything(void**)
{
    const Scratch scratch;
    const std::string dir = scratch.dir.string();
    const auto path = scratch.script("sendmail", "touch " + dir + "/ran\n");

    const std::vector<std::pair<std::string, std::string>> envelopes = {
        {kFrom, "-oQ/tmp@x"},
        {kFrom, "anna@studio.example, eve@evil.example"},
        {kFrom, "anna\nBcc: eve@evil.example"},
        {"-f@x", kRecipient},
        {"", kRecipient},
    };
    for (const auto& [from, recipient] : envelopes) {
        const auto delivery = mail::Delivery::start(sendmail_at(path), from, recipient, kMessage);
        assert_int_equal(delivery->poll(), State::Failed);
        assert_int_equal(delivery->pid(), -1);
        assert_true(contains(delivery->failure(), "mail not sent: "));
    }

    const auto relative =
        mail::Delivery::start(sendmail_at("sendmail"), kFrom, kRecipient, kMessage);
    assert_int_equal(relative->poll(), State::Failed);
    assert_string_equal(relative->failure().c_str(),
                        "mail not sent: the sendmail path is not absolute");
    assert_false(fs::exists(scratch.dir / "ran"));
}

void smtp_data_ends_lines_in_crlf_and_doubles_leading_dots(void**)
{
    assert_string_equal(mail::smtp_data("a\r\n.b\r\n.\r\nc").c_str(),
                        "a\r\n..b\r\n..\r\nc\r\n.\r\n");
    assert_string_equal(mail::smtp_data("a\n.b\rc\r\n").c_str(), "a\r\n..b\r\nc\r\n.\r\n");
    assert_string_equal(mail::smtp_data(".start").c_str(), "..start\r\n.\r\n");
    assert_string_equal(mail::smtp_data("").c_str(), ".\r\n");
}

// --- SMTP ---------------------------------------------------------------------------------

// One-connection SMTP server on 127.0.0.1 in a thread: answers each command by its verb from
// `replies` and records everything it received. A verb without a reply is never answered.
class FakeSmtpServer {
public:
    explicit FakeSmtpServer(std::map<std::string, std::string> replies)
        : replies_(std::move(replies))
    {
        listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(listener_ >= 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address),
                         0);
        socklen_t length = sizeof address;
        assert_int_equal(::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length),
                         0);
        port_ = ntohs(address.sin_port);
        assert_int_equal(::listen(listener_, 1), 0);
        thread_ = std::thread([this] { serve(); });
    }

    ~FakeSmtpServer()
    {
        stop_ = true;
        if (thread_.joinable())
            thread_.join();
        ::close(listener_);
    }

    unsigned port() const { return port_; }

    // What the client sent; waits for the connection to end.
    std::string transcript()
    {
        stop_ = true;
        if (thread_.joinable())
            thread_.join();
        return received_;
    }

private:
    void serve()
    {
        pollfd waiting{listener_, POLLIN, 0};
        while (::poll(&waiting, 1, 100) == 0)
            if (stop_)
                return;
        const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0)
            return;
        answer("greeting", fd);
        bool in_data = false;
        std::string line;
        while (read_line(fd, line)) {
            if (in_data) {
                if (line == ".\r\n") {
                    in_data = false;
                    answer(".", fd);
                }
                continue;
            }
            const std::string verb =
                line.substr(0, std::min(line.find_first_of(" \r"), std::size_t{4}));
            if (!answer(verb, fd))
                continue;
            in_data = verb == "DATA" && replies_.at(verb).rfind("354", 0) == 0;
            if (verb == "QUIT")
                break;
        }
        ::close(fd);
    }

    bool answer(const std::string& verb, int fd)
    {
        const auto reply = replies_.find(verb);
        if (reply == replies_.end())
            return false;
        return ::send(fd, reply->second.data(), reply->second.size(), MSG_NOSIGNAL) > 0;
    }

    // One line with its end; false when the client closed or the test is over.
    bool read_line(int fd, std::string& line)
    {
        line.clear();
        while (true) {
            pollfd readable{fd, POLLIN, 0};
            const int ready = ::poll(&readable, 1, 100);
            if (ready == 0) {
                if (stop_)
                    return false;
                continue;
            }
            char c = 0;
            if (ready < 0 || ::recv(fd, &c, 1, 0) != 1)
                return false;
            received_ += c;
            line += c;
            if (c == '\n')
                return true;
        }
    }

    std::map<std::string, std::string> replies_;
    int listener_ = -1;
    unsigned port_ = 0;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::string received_;
};

const std::map<std::string, std::string> kWillingServer = {
    {"greeting", "220 smtp.test ESMTP ready\r\n"},
    {"EHLO", "250-smtp.test greets you\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 10240000\r\n"},
    {"HELO", "250 smtp.test\r\n"},
    {"MAIL", "250 2.1.0 Ok\r\n"},
    {"RCPT", "250 2.1.5 Ok\r\n"},
    {"DATA", "354 End data with <CR><LF>.<CR><LF>\r\n"},
    {".", "250 2.0.0 Ok: queued as 4AB12\r\n"},
    {"QUIT", "221 2.0.0 Bye\r\n"},
};

mail::Transport smtp_at(unsigned port)
{
    mail::Transport transport;
    transport.kind = mail::Transport::Kind::Smtp;
    transport.smtp_host = "127.0.0.1";
    transport.smtp_port = port;
    transport.helo_name = "mail.studio.example";
    return transport;
}

void smtp_delivers_after_a_multi_line_ehlo_with_the_message_dot_stuffed(void**)
{
    FakeSmtpServer server(kWillingServer);
    const auto delivery =
        mail::Delivery::start(smtp_at(server.port()), kFrom, kRecipient, kMessage);
    assert_int_equal(wait_for_end(*delivery), State::Delivered);

    const std::string expected = "EHLO mail.studio.example\r\n"
                                 "MAIL FROM:<fotoauthd@studio.example> BODY=8BITMIME\r\n"
                                 "RCPT TO:<anna@studio.example>\r\n"
                                 "DATA\r\n" +
                                 mail::smtp_data(kMessage) + "QUIT\r\n";
    assert_string_equal(server.transcript().c_str(), expected.c_str());
    assert_true(contains(expected, "\r\n..a line that starts with a dot\r\n..\r\nlast line\r\n"));
}

void smtp_falls_back_to_helo_when_ehlo_is_unknown(void**)
{
    auto replies = kWillingServer;
    replies["EHLO"] = "502 5.5.2 Error: command not recognized\r\n";
    FakeSmtpServer server(replies);
    const auto delivery =
        mail::Delivery::start(smtp_at(server.port()), kFrom, kRecipient, kMessage);
    assert_int_equal(wait_for_end(*delivery), State::Delivered);

    const std::string transcript = server.transcript();
    assert_true(transcript.rfind("EHLO mail.studio.example\r\nHELO mail.studio.example\r\n"
                                 "MAIL FROM:<fotoauthd@studio.example>\r\n",
                                 0) == 0);
}

void smtp_refusing_the_recipient_is_failed_with_the_servers_answer(void**)
{
    auto replies = kWillingServer;
    replies["RCPT"] = "550 5.1.1 <anna@studio.example>: Recipient address rejected\r\n";
    FakeSmtpServer server(replies);
    const auto delivery =
        mail::Delivery::start(smtp_at(server.port()), kFrom, kRecipient, kMessage);
    assert_int_equal(wait_for_end(*delivery), State::Failed);
    const std::string expected = "SMTP to 127.0.0.1:" + std::to_string(server.port()) +
                                 " failed: RCPT TO:<anna@studio.example> was answered 550 5.1.1 "
                                 "<anna@studio.example>: Recipient address rejected";
    assert_string_equal(delivery->failure().c_str(), expected.c_str());
    assert_false(contains(server.transcript(), "DATA"));
}

void smtp_refusing_the_message_after_data_is_failed(void**)
{
    auto replies = kWillingServer;
    replies["."] = "554 5.7.1 Message rejected\r\n";
    FakeSmtpServer server(replies);
    const auto delivery =
        mail::Delivery::start(smtp_at(server.port()), kFrom, kRecipient, kMessage);
    assert_int_equal(wait_for_end(*delivery), State::Failed);
    assert_true(contains(delivery->failure(), "the message was answered 554 5.7.1"));
}

void smtp_garbage_instead_of_a_reply_is_failed(void**)
{
    auto replies = kWillingServer;
    replies["greeting"] = "HTTP/1.1 400 Bad Request\r\n";
    FakeSmtpServer server(replies);
    const auto delivery =
        mail::Delivery::start(smtp_at(server.port()), kFrom, kRecipient, kMessage);
    assert_int_equal(wait_for_end(*delivery), State::Failed);
    assert_true(contains(delivery->failure(), "is not an SMTP reply: HTTP/1.1 400 Bad Request"));
}

void smtp_with_nobody_listening_is_failed(void**)
{
    unsigned closed_port = 0;
    {
        FakeSmtpServer gone({});  // takes a free port, then gives it back
        closed_port = gone.port();
    }
    const auto delivery = mail::Delivery::start(smtp_at(closed_port), kFrom, kRecipient, kMessage);
    assert_int_equal(wait_for_end(*delivery), State::Failed);
    assert_true(contains(delivery->failure(), "cannot connect: Connection refused"));
}

void smtp_server_that_never_answers_is_stopped_by_the_time_limit(void**)
{
    auto replies = kWillingServer;
    replies.erase("MAIL");  // accepts, greets, answers EHLO, then says nothing more
    FakeSmtpServer server(replies);
    auto transport = smtp_at(server.port());
    transport.time_limit_seconds = 1;

    const auto before = std::chrono::steady_clock::now();
    const auto delivery = mail::Delivery::start(transport, kFrom, kRecipient, kMessage);
    assert_int_equal(wait_for_end(*delivery, 5s), State::Failed);
    assert_true(std::chrono::steady_clock::now() - before < 3s);
    assert_true(contains(delivery->failure(), "timed out: still running after 1 s"));
}

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sendmail_gets_exactly_its_argv_and_the_message_on_stdin),
        cmocka_unit_test(sendmail_inherits_no_descriptor_and_no_blocked_signal),
        cmocka_unit_test(sendmail_failing_with_status_75_is_failed_with_the_status_and_its_words),
        cmocka_unit_test(a_hanging_sendmail_stays_running_until_killed_and_leaves_nothing_behind),
        cmocka_unit_test(a_sendmail_past_its_own_time_limit_ends_by_itself),
        cmocka_unit_test(dropping_a_running_delivery_kills_and_reaps_its_child),
        cmocka_unit_test(a_missing_sendmail_is_failed_with_a_clear_sentence),
        cmocka_unit_test(a_bad_envelope_or_path_fails_without_starting_anything),
        cmocka_unit_test(smtp_data_ends_lines_in_crlf_and_doubles_leading_dots),
        cmocka_unit_test(smtp_delivers_after_a_multi_line_ehlo_with_the_message_dot_stuffed),
        cmocka_unit_test(smtp_falls_back_to_helo_when_ehlo_is_unknown),
        cmocka_unit_test(smtp_refusing_the_recipient_is_failed_with_the_servers_answer),
        cmocka_unit_test(smtp_refusing_the_message_after_data_is_failed),
        cmocka_unit_test(smtp_garbage_instead_of_a_reply_is_failed),
        cmocka_unit_test(smtp_with_nobody_listening_is_failed),
        cmocka_unit_test(smtp_server_that_never_answers_is_stopped_by_the_time_limit),
    };
    return cmocka_run_group_tests_name("mail_delivery", tests, nullptr, nullptr);
}
