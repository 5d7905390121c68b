// Brute-force protection: sliding windows, locks and their ends, the channels a lock applies
// to, and the bounds on memory, with an injected clock.
#include "test_world.hpp"

#include "brute_force.hpp"
#include "sliding_windows.hpp"

namespace {

using std::chrono::seconds;

void a_window_allows_its_attempts_then_refuses_until_the_oldest_leaves(void**)
{
    SlidingWindows windows(Limit{3, seconds(60)}, 100);
    std::int64_t now = 1'000'000;
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(windows.wait_ms("a", now), 0);
        windows.record("a", now);
        now += 10'000;
    }
    // Attempts at 0 s, 10 s and 20 s: the first leaves the window at 60 s.
    assert_int_equal(windows.wait_ms("a", now), 30'000);
    assert_int_equal(windows.wait_ms("b", now), 0);
    now += 30'000;
    assert_int_equal(windows.wait_ms("a", now), 0);
}

void refused_attempts_do_not_extend_the_wait(void**)
{
    SlidingWindows windows(Limit{2, seconds(10)}, 100);
    windows.record("a", 0);
    windows.record("a", 1000);
    // Somebody keeps asking while refused; only recorded attempts move the window.
    for (std::int64_t t = 2000; t < 10'000; t += 500)
        assert_true(windows.wait_ms("a", t) > 0);
    assert_int_equal(windows.wait_ms("a", 10'000), 0);
}

void a_flood_of_new_keys_never_evicts_a_blocked_key_and_memory_stays_bounded(void**)
{
    SlidingWindows windows(Limit{2, seconds(60)}, 100);
    windows.record("attacker", 0);
    windows.record("attacker", 1);
    for (int i = 0; i < 100'000; ++i)
        windows.record("flood-" + std::to_string(i), 2 + i / 1000);
    assert_true(windows.tracked() <= 100);
    assert_true(windows.wait_ms("attacker", 200) > 0);
    // A newcomer is still let in.
    assert_int_equal(windows.wait_ms("newcomer", 200), 0);
}

void when_every_tracked_key_is_blocked_a_new_key_goes_uncounted_rather_than_refused(void**)
{
    SlidingWindows windows(Limit{1, seconds(60)}, 100);
    for (int i = 0; i < 100; ++i)
        assert_true(windows.record("blocked-" + std::to_string(i), 0));
    assert_false(windows.record("newcomer", 1));
    assert_int_equal(windows.wait_ms("newcomer", 1), 0);
    for (int i = 0; i < 100; ++i)
        assert_true(windows.wait_ms("blocked-" + std::to_string(i), 1) > 0);
}

void sources_are_counted_per_ipv4_address_and_per_ipv6_slash_64(void**)
{
    assert_string_equal(source_key("198.51.100.7").c_str(), "198.51.100.7");
    assert_string_equal(source_key("::ffff:198.51.100.7").c_str(), "198.51.100.7");
    assert_string_equal(source_key("2001:db8:1:2:aaaa::1").c_str(), "2001:db8:1:2::/64");
    assert_string_equal(source_key("2001:db8:1:2:ffff::9").c_str(), "2001:db8:1:2::/64");
    assert_string_equal(source_key("client.example").c_str(), "host:client.example");
    assert_string_equal(source_key("bad\nname").c_str(), "host:bad?name");
}

void only_a_terminal_of_the_machine_itself_is_the_console(void**)
{
    assert_true(is_console("tty1", ""));
    assert_true(is_console("/dev/tty1", ""));
    assert_true(is_console("/dev/ttyS0", ""));
    assert_true(is_console("console", ""));
    assert_false(is_console("tty1", "198.51.100.7"));
    assert_false(is_console("/dev/pts/3", ""));
    assert_false(is_console("ssh", ""));
    assert_false(is_console("tty", ""));
    assert_false(is_console("ttyX1", ""));
    assert_false(is_console("", ""));
}

proto::Message preauth_from(const std::string& user, const std::string& rhost)
{
    auto message = request(proto::MessageType::Preauth, user);
    message.set(proto::Field::Service, "sshd");
    if (!rhost.empty())
        message.set(proto::Field::RemoteHost, rhost);
    return message;
}

void the_sixth_login_from_one_address_within_a_minute_is_refused(void**)
{
    World world;
    for (int i = 0; i < 5; ++i)
        assert_int_equal(
            status_of(world.ask(preauth_from(i % 2 ? "alice" : "bob", "198.51.100.7"))),
            proto::ReplyStatus::Ok);
    const auto refused = world.ask(preauth_from("alice", "198.51.100.7"));
    assert_int_equal(status_of(refused), proto::ReplyStatus::RateLimited);
    assert_int_equal(*refused.get_u64(proto::Field::RetryAfter), 60);
    assert_true(refused.get(proto::Field::Text)->find("from your address") != std::string::npos);
    assert_int_equal(status_of(world.ask(preauth_from("alice", "198.51.100.8"))),
                     proto::ReplyStatus::Ok);

    world.clock.advance(60);
    assert_int_equal(status_of(world.ask(preauth_from("alice", "198.51.100.7"))),
                     proto::ReplyStatus::Ok);
}

void the_eleventh_login_for_one_user_is_refused_until_the_window_allows_never_locked(void**)
{
    World world;
    for (int i = 0; i < 10; ++i)
        assert_int_equal(
            status_of(world.ask(preauth_from("alice", "198.51.100." + std::to_string(i)))),
            proto::ReplyStatus::Ok);
    const auto refused = world.ask(preauth_from("alice", "198.51.100.77"));
    assert_int_equal(status_of(refused), proto::ReplyStatus::RateLimited);
    assert_true(refused.get(proto::Field::Text)->find("for this account") != std::string::npos);
    // Unknown names are counted and refused the same way, with the same words.
    for (int i = 0; i < 10; ++i)
        world.ask(preauth_from("mallory", "198.51.101." + std::to_string(i)));
    const auto unknown = world.ask(preauth_from("mallory", "198.51.101.77"));
    assert_int_equal(status_of(unknown), proto::ReplyStatus::RateLimited);
    assert_true(*unknown.get(proto::Field::Text) == *refused.get(proto::Field::Text));

    world.clock.advance(600);
    assert_int_equal(status_of(world.ask(preauth_from("alice", "198.51.100.77"))),
                     proto::ReplyStatus::Ok);
}

void guessing_over_the_password_path_does_not_hold_back_key_logins_or_the_console(void**)
{
    World world;
    for (int i = 0; i < 10; ++i)
        world.ask(preauth_from("alice", "198.51.100." + std::to_string(i)));
    assert_int_equal(status_of(world.ask(preauth_from("alice", "198.51.100.99"))),
                     proto::ReplyStatus::RateLimited);

    auto key_login = preauth_from("alice", "203.0.113.5");
    key_login.set(proto::Field::AuthInfo, "publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOwn\n");
    assert_int_equal(status_of(world.ask(key_login)), proto::ReplyStatus::Ok);
    auto console = preauth_from("alice", "");
    console.set(proto::Field::Tty, "/dev/tty1");
    assert_int_equal(status_of(world.ask(console)), proto::ReplyStatus::Ok);
}

void a_caller_that_is_not_root_counts_under_its_own_uid_not_the_address_it_names(void**)
{
    World world;
    for (int i = 0; i < 8; ++i)
        world.ask(preauth_from("alice", "198.51.100.7"), kAliceUid);
    assert_int_equal(status_of(world.ask(preauth_from("bob", "198.51.100.7"))),
                     proto::ReplyStatus::Ok);
}

void five_wrong_codes_lock_the_account_for_an_hour_then_it_unlocks_by_itself(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    for (int i = 0; i < 5; ++i)
        assert_int_equal(verify(world, "alice", wrong_code(world, alice)),
                         proto::ReplyStatus::Rejected);

    const auto locked = world.ask(preauth_from("alice", "198.51.100.7"));
    assert_int_equal(status_of(locked), proto::ReplyStatus::Locked);
    assert_int_equal(*locked.get_u64(proto::Field::LockedUntil), world.clock.now() + 3600);
    assert_true(locked.get(proto::Field::Text)->find("fotoauthctl unlock alice") !=
                std::string::npos);
    assert_int_equal(verify(world, "alice", current_code(world, alice)),
                     proto::ReplyStatus::Locked);

    world.clock.advance(3599);
    assert_int_equal(verify(world, "alice", current_code(world, alice)),
                     proto::ReplyStatus::Locked);
    world.clock.advance(1);
    assert_int_equal(verify(world, "alice", current_code(world, alice)), proto::ReplyStatus::Ok);
}

void setting_the_wall_clock_neither_lifts_nor_extends_a_running_lock(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    for (int i = 0; i < 5; ++i)
        verify(world, "alice", wrong_code(world, alice));

    world.clock.value += 7200;  // the wall clock jumps two hours ahead
    assert_int_equal(verify(world, "alice", current_code(world, alice)),
                     proto::ReplyStatus::Locked);
    world.clock.value -= 7200 + 86400;  // and then a day back
    world.clock.mono_ms += 3600 * 1000;
    world.clock.value += 86400;
    assert_int_equal(verify(world, "alice", current_code(world, alice)), proto::ReplyStatus::Ok);
}

void a_lock_survives_a_daemon_restart_with_the_time_it_had_left(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    for (int i = 0; i < 5; ++i)
        verify(world, "alice", wrong_code(world, alice));
    world.clock.advance(1000);
    world.clock.mono_ms = 42;  // a new boot starts the monotonic clock afresh
    world.restart();
    assert_int_equal(verify(world, "alice", current_code(world, alice)),
                     proto::ReplyStatus::Locked);
    world.clock.advance(2600);
    assert_int_equal(verify(world, "alice", current_code(world, alice)), proto::ReplyStatus::Ok);
}

void wrong_codes_after_a_wrong_password_count_and_a_right_one_is_not_used_up(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    auto after_bad_password = [&](const std::string& code) {
        auto message = request(proto::MessageType::AuthVerify, "alice");
        message.set(proto::Field::Code, code).set_u8(proto::Field::PasswordFailed, 1);
        return status_of(world.ask(message));
    };
    const auto right = current_code(world, alice);
    assert_int_equal(after_bad_password(right), proto::ReplyStatus::Rejected);
    assert_int_equal(after_bad_password(alice.recovery_codes[0]), proto::ReplyStatus::Rejected);
    // Neither was used up.
    assert_int_equal(verify(world, "alice", right), proto::ReplyStatus::Ok);
    assert_int_equal(verify(world, "alice", alice.recovery_codes[0]), proto::ReplyStatus::Ok);

    for (int i = 0; i < 5; ++i)
        assert_int_equal(after_bad_password(wrong_code(world, alice)),
                         proto::ReplyStatus::Rejected);
    assert_int_equal(verify(world, "alice", current_code(world, alice, +1)),
                     proto::ReplyStatus::Locked);
}

proto::ReplyStatus verify_on(World& world, const std::string& code, const char* tty,
                             const char* auth_info)
{
    auto message = request(proto::MessageType::AuthVerify, "alice");
    message.set(proto::Field::Code, code).set(proto::Field::Tty, tty);
    if (auth_info)
        message.set(proto::Field::AuthInfo, auth_info);
    return status_of(world.ask(message));
}

void a_lock_earned_by_password_logins_leaves_the_console_and_key_logins_open(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    for (int i = 0; i < 5; ++i)
        verify_on(world, wrong_code(world, alice), "ssh", nullptr);
    assert_int_equal(verify_on(world, current_code(world, alice), "ssh", nullptr),
                     proto::ReplyStatus::Locked);

    const char* key =
        "publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey\\nkeyboard-interactive\\n";
    assert_int_equal(verify_on(world, current_code(world, alice), "ssh", key),
                     proto::ReplyStatus::Ok);
    assert_int_equal(verify_on(world, alice.recovery_codes[1], "tty1", nullptr),
                     proto::ReplyStatus::Ok);
}

void the_console_is_slowed_by_its_own_window_but_never_locked(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    for (int i = 0; i < 5; ++i)
        verify_on(world, wrong_code(world, alice), "tty1", nullptr);
    assert_int_equal(verify_on(world, current_code(world, alice), "tty1", nullptr),
                     proto::ReplyStatus::RateLimited);
    // Remote logins were not touched by the console's wrong codes.
    assert_int_equal(verify_on(world, current_code(world, alice), "ssh", nullptr),
                     proto::ReplyStatus::Ok);
    world.clock.advance(300);
    assert_int_equal(verify_on(world, alice.recovery_codes[2], "tty1", nullptr),
                     proto::ReplyStatus::Ok);
}

void root_can_list_and_lift_locks_and_blocks_and_users_cannot(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    for (int i = 0; i < 5; ++i)
        verify(world, "alice", wrong_code(world, alice));
    for (int i = 0; i < 5; ++i)
        world.ask(preauth_from("bob", "2001:db8::1"));

    const auto listing = world.ask(proto::Message(proto::MessageType::Lockouts));
    const std::string entries(*listing.get(proto::Field::Entries));
    assert_true(entries.find("lock\talice\tpassword\t") != std::string::npos);
    assert_true(entries.find("\t5") != std::string::npos);
    assert_true(entries.find("block\t2001:db8::/64\tlogin-source\t") != std::string::npos);

    assert_int_equal(status_of(world.ask(proto::Message(proto::MessageType::Lockouts), kBobUid)),
                     proto::ReplyStatus::PermissionDenied);
    assert_int_equal(status_of(world.ask(request(proto::MessageType::Unlock, "alice"), kAliceUid)),
                     proto::ReplyStatus::PermissionDenied);

    const auto unlocked = world.ask(request(proto::MessageType::Unlock, "alice"));
    assert_int_equal(*unlocked.get_u64(proto::Field::Count), 1);
    assert_int_equal(verify(world, "alice", current_code(world, alice)), proto::ReplyStatus::Ok);

    proto::Message unblock(proto::MessageType::Unblock);
    unblock.set(proto::Field::RemoteHost, "2001:db8::77");
    assert_int_equal(*world.ask(unblock).get_u64(proto::Field::Count), 1);
    assert_int_equal(status_of(world.ask(preauth_from("bob", "2001:db8::1"))),
                     proto::ReplyStatus::Ok);
    unblock.set(proto::Field::RemoteHost, "not-an-address");
    assert_int_equal(status_of(world.ask(unblock)), proto::ReplyStatus::BadRequest);
}

// The module's code stage without a preauth line sends one AuthQuery with CountAttempt instead of
// Preauth then AuthQuery: it must count and refuse exactly as Preauth does, for enrolled users,
// users without MFA and names that do not resolve alike.
proto::Message counted_query_from(const std::string& user, const std::string& rhost)
{
    auto message = preauth_from(user, rhost);
    proto::Message query(proto::MessageType::AuthQuery);
    for (const auto field : {proto::Field::User, proto::Field::Service, proto::Field::RemoteHost})
        if (const auto value = message.get(field))
            query.set(field, *value);
    query.set_u8(proto::Field::CountAttempt, 1);
    return query;
}

void a_query_that_counts_the_attempt_is_limited_and_locked_as_preauth_is(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    // Five from one address: the sixth is refused, whoever it names.
    const char* names[] = {"alice", "bob", "mallory", "alice", "bob"};
    const proto::ReplyStatus expected[] = {
        proto::ReplyStatus::CodeRequired, proto::ReplyStatus::NotEnrolled,
        proto::ReplyStatus::NotEnrolled, proto::ReplyStatus::CodeRequired,
        proto::ReplyStatus::NotEnrolled};
    for (int i = 0; i < 5; ++i)
        assert_int_equal(status_of(world.ask(counted_query_from(names[i], "198.51.100.7"))),
                         expected[i]);
    for (const char* name : {"alice", "bob", "mallory"}) {
        const auto refused = world.ask(counted_query_from(name, "198.51.100.7"));
        assert_int_equal(status_of(refused), proto::ReplyStatus::RateLimited);
        assert_int_equal(*refused.get_u64(proto::Field::RetryAfter), 60);
    }
    // A query without CountAttempt (a preauth line counted already) adds nothing to the window.
    auto plain = counted_query_from("alice", "198.51.100.8");
    proto::Message uncounted(proto::MessageType::AuthQuery);
    uncounted.set(proto::Field::User, "alice");
    uncounted.set(proto::Field::Service, "sshd");
    uncounted.set(proto::Field::RemoteHost, "198.51.100.8");
    for (int i = 0; i < 8; ++i)
        assert_int_equal(status_of(world.ask(uncounted)), proto::ReplyStatus::CodeRequired);
    assert_int_equal(status_of(world.ask(plain)), proto::ReplyStatus::CodeRequired);

    // A locked account is refused with the lock's answer, before any prompt.
    for (int i = 0; i < 5; ++i)
        verify(world, "alice", wrong_code(world, alice));
    const auto locked = world.ask(counted_query_from("alice", "198.51.100.9"));
    assert_int_equal(status_of(locked), proto::ReplyStatus::Locked);
    assert_int_equal(*locked.get_u64(proto::Field::LockedUntil), world.clock.now() + 3600);
}

void every_attempt_refused_by_the_lock_is_counted_once(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    for (int i = 0; i < 50; ++i)
        verify(world, "alice", wrong_code(world, alice));
    const auto listing = world.ask(proto::Message(proto::MessageType::Lockouts));
    const std::string entries(*listing.get(proto::Field::Entries));
    assert_true(entries.find("lock\talice\tpassword\t") != std::string::npos);
    assert_true(entries.substr(entries.rfind('\t')) == "\t50");
    assert_int_equal(std::count(entries.begin(), entries.end(), '\n'), 0);
}

}  // namespace

int main()
{
    totp::init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_window_allows_its_attempts_then_refuses_until_the_oldest_leaves),
        cmocka_unit_test(refused_attempts_do_not_extend_the_wait),
        cmocka_unit_test(a_flood_of_new_keys_never_evicts_a_blocked_key_and_memory_stays_bounded),
        cmocka_unit_test(
            when_every_tracked_key_is_blocked_a_new_key_goes_uncounted_rather_than_refused),
        cmocka_unit_test(sources_are_counted_per_ipv4_address_and_per_ipv6_slash_64),
        cmocka_unit_test(only_a_terminal_of_the_machine_itself_is_the_console),
        cmocka_unit_test(a_query_that_counts_the_attempt_is_limited_and_locked_as_preauth_is),
        cmocka_unit_test(the_sixth_login_from_one_address_within_a_minute_is_refused),
        cmocka_unit_test(
            the_eleventh_login_for_one_user_is_refused_until_the_window_allows_never_locked),
        cmocka_unit_test(
            guessing_over_the_password_path_does_not_hold_back_key_logins_or_the_console),
        cmocka_unit_test(
            a_caller_that_is_not_root_counts_under_its_own_uid_not_the_address_it_names),
        cmocka_unit_test(five_wrong_codes_lock_the_account_for_an_hour_then_it_unlocks_by_itself),
        cmocka_unit_test(setting_the_wall_clock_neither_lifts_nor_extends_a_running_lock),
        cmocka_unit_test(a_lock_survives_a_daemon_restart_with_the_time_it_had_left),
        cmocka_unit_test(wrong_codes_after_a_wrong_password_count_and_a_right_one_is_not_used_up),
        cmocka_unit_test(a_lock_earned_by_password_logins_leaves_the_console_and_key_logins_open),
        cmocka_unit_test(the_console_is_slowed_by_its_own_window_but_never_locked),
        cmocka_unit_test(root_can_list_and_lift_locks_and_blocks_and_users_cannot),
        cmocka_unit_test(every_attempt_refused_by_the_lock_is_counted_once),
    };
    return cmocka_run_group_tests_name("brute_force", tests, nullptr, nullptr);
}
