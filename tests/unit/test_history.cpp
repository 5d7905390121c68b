// The history of an account: what is recorded, newest first, and never more than 50 entries.
#include "test_world.hpp"

namespace {

std::vector<std::string> history_lines(World& world, const std::string& user)
{
    const auto reply = world.ask(request(proto::MessageType::History, user));
    assert_int_equal(status_of(reply), proto::ReplyStatus::Ok);
    std::vector<std::string> lines;
    std::istringstream text(std::string(*reply.get(proto::Field::Entries)));
    for (std::string line; std::getline(text, line);)
        lines.push_back(line);
    return lines;
}

bool has(const std::string& line, const std::string& part)
{
    return line.find(part) != std::string::npos;
}

void logins_refusals_and_password_changes_are_recorded_newest_first(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    auto verify_request = request(proto::MessageType::AuthVerify, "alice");
    verify_request.set(proto::Field::Service, "sshd").set(proto::Field::RemoteHost, "198.51.100.7");
    verify_request.set(proto::Field::Code, wrong_code(world, alice));
    world.ask(verify_request);
    world.clock.advance(1);
    verify_request.set(proto::Field::Code, current_code(world, alice));
    const auto passed = world.ask(verify_request);
    // The login is recorded when sshd opens the session with the auth stage's proof.
    auto session = request(proto::MessageType::SessionOpen, "alice");
    session.set(proto::Field::Service, "sshd").set(proto::Field::RemoteHost, "198.51.100.7");
    session.set(proto::Field::Nonce, *passed.get(proto::Field::Nonce));
    assert_int_equal(status_of(world.ask(session)), proto::ReplyStatus::Ok);
    world.clock.advance(1);
    world.users.shadow["alice"] = "$y$j9T$alice$new";
    world.ask(request(proto::MessageType::PasswordChanged, "alice"));

    const auto lines = history_lines(world, "alice");
    assert_int_equal(lines.size(), 4);
    assert_true(has(lines[0], "\tpassword-changed\t"));
    assert_true(has(lines[0], "by uid 0; 1 sessions ended, 0 devices forgotten"));
    assert_true(has(lines[1], "\tlogin\tsshd\t198.51.100.7\tverification code"));
    assert_true(has(lines[2], "\tlogin-refused\tsshd\t198.51.100.7\twrong code"));
    assert_true(has(lines[3], "\tmfa-enabled\t"));
    assert_true(lines[0].rfind(std::to_string(world.clock.now()) + "\t", 0) == 0);
}

void the_history_keeps_the_newest_fifty_entries_and_another_user_sees_none_of_them(void**)
{
    World world;
    world.config.wrong_codes.attempts = 1000;  // this test is about the history, not the limits
    world.restart();
    const auto alice = enrol(world, "alice");
    for (int i = 0; i < 60; ++i)
        verify(world, "alice", wrong_code(world, alice));
    const auto lines = history_lines(world, "alice");
    // Fifty are kept; one message may hold fewer, and then says it was cut.
    assert_true(lines.size() <= 51);
    assert_true(lines.size() >= 30);
    for (std::size_t i = 0; i + 1 < lines.size(); ++i)
        assert_true(has(lines[i], "\tlogin-refused\t"));
    assert_int_equal(status_of(world.ask(request(proto::MessageType::History, "alice"), kBobUid)),
                     proto::ReplyStatus::PermissionDenied);
    assert_int_equal(history_lines(world, "bob").size(), 0);
}

void a_users_own_process_cannot_write_a_made_up_source_into_the_history(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    auto verify_request = request(proto::MessageType::AuthVerify, "alice");
    verify_request.set(proto::Field::Service, "sshd").set(proto::Field::RemoteHost, "203.0.113.66");
    verify_request.set(proto::Field::Code, wrong_code(world, alice));
    world.ask(verify_request, kAliceUid);
    const auto lines = history_lines(world, "alice");
    assert_false(has(lines[0], "203.0.113.66"));
    assert_true(has(lines[0], "local process of uid 1001"));
}

void a_retired_account_leaves_its_history_behind(void**)
{
    World world;
    enrol(world, "alice");
    world.users.accounts["alice"].uid = 3001;
    world.ask(request(proto::MessageType::Status, "alice"));
    assert_int_equal(history_lines(world, "alice").size(), 0);
}

}  // namespace

int main()
{
    totp::init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(logins_refusals_and_password_changes_are_recorded_newest_first),
        cmocka_unit_test(
            the_history_keeps_the_newest_fifty_entries_and_another_user_sees_none_of_them),
        cmocka_unit_test(a_users_own_process_cannot_write_a_made_up_source_into_the_history),
        cmocka_unit_test(a_retired_account_leaves_its_history_behind),
    };
    return cmocka_run_group_tests_name("history", tests, nullptr, nullptr);
}
