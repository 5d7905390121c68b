// The client side of the protocol (shared/client.cpp), against a listener on a real Unix socket
// that answers at once, late, never, or hangs up: the answer is taken whichever way it comes, and
// a daemon that does not answer costs the caller the deadline and no more.
#include "client.hpp"
#include "protocol.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

// cmocka last: its fail() macro would clash with the standard library headers.
#include "cmocka_main.hpp"

namespace client = fotostudio::client;
namespace proto = fotostudio::protocol;
using namespace std::chrono_literals;

namespace {

// What the listener does with each request it receives.
enum class Behaviour { AnswerAtOnce, AnswerAfter5ms, NeverAnswer, HangUp };

struct Listener {
    std::string directory;
    std::string path;
    int fd = -1;
    std::thread thread;

    explicit Listener(Behaviour behaviour, int requests = 1)
    {
        char pattern[] = "/tmp/fs-client-test-XXXXXX";
        directory = ::mkdtemp(pattern);
        path = directory + "/socket";
        fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strcpy(address.sun_path, path.c_str());
        assert_int_equal(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
        assert_int_equal(::listen(fd, 4), 0);
        thread = std::thread([this, behaviour, requests] { serve(behaviour, requests); });
    }

    ~Listener()
    {
        thread.join();
        ::close(fd);
        ::unlink(path.c_str());
        ::rmdir(directory.c_str());
    }

    void serve(Behaviour behaviour, int requests) const
    {
        const int connection = ::accept(fd, nullptr, nullptr);
        if (connection < 0)
            return;
        for (int served = 0; served < requests; ++served) {
            std::vector<std::uint8_t> buffer(proto::kMaxMessageSize);
            if (::recv(connection, buffer.data(), buffer.size(), 0) <= 0)
                break;
            if (behaviour == Behaviour::HangUp)
                break;
            if (behaviour == Behaviour::NeverAnswer) {
                // Holds the connection open past the client's deadline, then goes.
                std::this_thread::sleep_for(400ms);
                break;
            }
            if (behaviour == Behaviour::AnswerAfter5ms)
                std::this_thread::sleep_for(5ms);
            std::vector<std::uint8_t> answer;
            proto::make_reply(proto::ReplyStatus::Ok, "answer " + std::to_string(served))
                .encode(answer);
            (void)::send(connection, answer.data(), answer.size(), MSG_NOSIGNAL);
        }
        ::close(connection);
    }
};

client::Outcome ask(client::Connection& connection)
{
    proto::Message request(proto::MessageType::Status);
    request.set(proto::Field::User, "alice");
    return connection.request(request);
}

std::string text_of(const client::Outcome& outcome)
{
    assert_true(outcome.reply.has_value());
    return std::string(outcome.reply->get(proto::Field::Text).value_or(""));
}

void an_answer_sent_at_once_is_taken(void**)
{
    Listener listener(Behaviour::AnswerAtOnce, 2);
    client::Connection connection;
    assert_int_equal(static_cast<int>(connection.open(listener.path, 0, 2000ms).failure),
                     static_cast<int>(client::Failure::None));
    // Two requests on one connection, as the module sends them.
    assert_string_equal(text_of(ask(connection)).c_str(), "answer 0");
    assert_string_equal(text_of(ask(connection)).c_str(), "answer 1");
}

void an_answer_that_comes_after_the_client_went_to_sleep_is_taken(void**)
{
    // 5 ms is far beyond the moment the client looks for the answer before sleeping.
    Listener listener(Behaviour::AnswerAfter5ms, 2);
    client::Connection connection;
    assert_int_equal(static_cast<int>(connection.open(listener.path, 0, 2000ms).failure),
                     static_cast<int>(client::Failure::None));
    assert_string_equal(text_of(ask(connection)).c_str(), "answer 0");
    assert_string_equal(text_of(ask(connection)).c_str(), "answer 1");
}

void a_daemon_that_never_answers_costs_the_deadline_and_no_more(void**)
{
    Listener listener(Behaviour::NeverAnswer);
    client::Connection connection;
    const auto start = std::chrono::steady_clock::now();
    assert_int_equal(static_cast<int>(connection.open(listener.path, 0, 200ms).failure),
                     static_cast<int>(client::Failure::None));
    const auto outcome = ask(connection);
    const auto waited = std::chrono::steady_clock::now() - start;
    assert_int_equal(static_cast<int>(outcome.failure), static_cast<int>(client::Failure::Timeout));
    assert_false(outcome.reply.has_value());
    assert_true(waited >= 190ms);
    // Not until the listener hangs up at 400 ms: neither the wait nor the look before it runs
    // past the deadline.
    assert_true(waited < 390ms);
}

void a_daemon_that_hangs_up_is_reported_as_closed(void**)
{
    Listener listener(Behaviour::HangUp);
    client::Connection connection;
    assert_int_equal(static_cast<int>(connection.open(listener.path, 0, 2000ms).failure),
                     static_cast<int>(client::Failure::None));
    const auto outcome = ask(connection);
    assert_int_equal(static_cast<int>(outcome.failure), static_cast<int>(client::Failure::Closed));
    assert_false(outcome.reply.has_value());
}

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_answer_sent_at_once_is_taken),
        cmocka_unit_test(an_answer_that_comes_after_the_client_went_to_sleep_is_taken),
        cmocka_unit_test(a_daemon_that_never_answers_costs_the_deadline_and_no_more),
        cmocka_unit_test(a_daemon_that_hangs_up_is_reported_as_closed),
    };
    return cmocka_run_group_tests_name("client", tests, nullptr, nullptr);
}
