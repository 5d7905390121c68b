// The site's MFA policy (who must enrol, the grace period) and the phone-clock drift at login:
// what the daemon answers and what it keeps.
#include "test_world.hpp"

namespace {

proto::Message account_check(World& world, const std::string& user)
{
    auto message = request(proto::MessageType::AccountCheck, user);
    message.set(proto::Field::Service, "sshd");
    return world.ask(message);
}

void without_listed_groups_mfa_stays_optional(void**)
{
    World world;
    world.users.groups["alice"] = {"staff"};
    const auto reply = account_check(world, "alice");
    assert_int_equal(status_of(reply), proto::ReplyStatus::NotEnrolled);
    assert_false(reply.has(proto::Field::Text));
    assert_int_equal(
        *world.ask(request(proto::MessageType::Status, "alice")).get_u8(proto::Field::MfaRequired),
        0);
}

void a_member_of_a_required_group_without_mfa_is_refused_with_how_to_enrol(void**)
{
    World world;
    world.config.require_mfa_groups = {"admins"};
    world.users.groups["alice"] = {"alice", "admins"};
    world.users.groups["bob"] = {"bob", "staff"};
    world.restart();

    const auto alice = account_check(world, "alice");
    assert_int_equal(status_of(alice), proto::ReplyStatus::EnrolmentRequired);
    assert_non_null(strstr(std::string(*alice.get(proto::Field::Text)).c_str(),
                           "fotoauthctl mfa enable --user alice"));
    // Not in the group: optional, as before.
    assert_int_equal(status_of(account_check(world, "bob")), proto::ReplyStatus::NotEnrolled);

    // Once enrolled, the policy is met.
    const auto enrolled = enrol(world, "alice");
    (void)enrolled;
    auto check = request(proto::MessageType::AccountCheck, "alice");
    check.set(proto::Field::Service, "login");
    assert_int_equal(status_of(world.ask(check)), proto::ReplyStatus::Ok);
}

void an_exempt_group_wins_and_a_star_requires_everyone(void**)
{
    World world;
    world.config.require_mfa_groups = {"*"};
    world.config.mfa_exempt_groups = {"robots"};
    world.users.groups["alice"] = {"alice"};
    world.users.groups["bob"] = {"bob", "robots"};
    world.restart();
    assert_int_equal(status_of(account_check(world, "alice")),
                     proto::ReplyStatus::EnrolmentRequired);
    assert_int_equal(status_of(account_check(world, "bob")), proto::ReplyStatus::NotEnrolled);
}

void unreadable_groups_never_waive_the_policy(void**)
{
    World world;
    world.config.require_mfa_groups = {"admins"};
    world.config.mfa_exempt_groups = {"robots"};
    world.users.groups_readable = false;
    world.restart();
    assert_int_equal(status_of(account_check(world, "bob")), proto::ReplyStatus::EnrolmentRequired);
}

void during_the_grace_period_the_user_is_let_in_with_a_warning_and_refused_after(void**)
{
    World world;
    world.config.require_mfa_groups = {"admins"};
    world.config.require_mfa_grace_until = world.clock.now() + 86400;
    world.users.groups["alice"] = {"admins"};
    world.restart();

    const auto during = account_check(world, "alice");
    assert_int_equal(status_of(during), proto::ReplyStatus::NotEnrolled);
    const std::string warning(*during.get(proto::Field::Text));
    assert_non_null(strstr(warning.c_str(), "fotoauthctl mfa enable"));
    assert_non_null(strstr(warning.c_str(), "will be required"));
    assert_int_equal(*during.get_u64(proto::Field::GraceUntil),
                     world.config.require_mfa_grace_until);
    const auto status = world.ask(request(proto::MessageType::Status, "alice"));
    assert_int_equal(*status.get_u8(proto::Field::MfaRequired), 1);
    assert_int_equal(*status.get_u64(proto::Field::GraceUntil),
                     world.config.require_mfa_grace_until);

    world.clock.advance(86400);
    assert_int_equal(status_of(account_check(world, "alice")),
                     proto::ReplyStatus::EnrolmentRequired);
}

proto::Message verify_reply(World& world, const std::string& code)
{
    auto message = request(proto::MessageType::AuthVerify, "alice");
    message.set(proto::Field::Service, "sshd").set(proto::Field::Code, code);
    return world.ask(message);
}

void a_code_from_outside_the_window_fails_and_its_step_is_burned(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    // The phone runs three steps (90 s) ahead.
    const auto early = current_code(world, alice, 3);
    const auto first = verify_reply(world, early);
    assert_int_equal(status_of(first), proto::ReplyStatus::Rejected);
    assert_false(first.has(proto::Field::Hint));  // once is no pattern yet

    // When that step comes, its code is still refused: the refusal may not leak a future code.
    world.clock.advance(3 * 30);
    assert_int_equal(status_of(verify_reply(world, early)), proto::ReplyStatus::Rejected);
    // The step after it works as usual.
    world.clock.advance(30);
    assert_int_equal(status_of(verify_reply(world, current_code(world, alice))),
                     proto::ReplyStatus::Ok);
}

void repeated_consistent_drift_brings_the_hint_about_the_phones_clock(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    // Well after the enrolment's code, so that the phone's steps are all unused.
    world.clock.advance(10 * 30);
    assert_false(verify_reply(world, current_code(world, alice, -4)).has(proto::Field::Hint));
    world.clock.advance(30);
    const auto second = verify_reply(world, current_code(world, alice, -4));
    assert_int_equal(status_of(second), proto::ReplyStatus::Rejected);
    assert_true(second.has(proto::Field::Hint));
    const std::string hint(*second.get(proto::Field::Hint));
    assert_non_null(strstr(hint.c_str(), "behind"));
    assert_non_null(strstr(hint.c_str(), "automatically"));
    assert_non_null(strstr(hint.c_str(), "2 minutes"));

    // A right code inside the window settles it: the next stray code starts counting anew.
    assert_int_equal(status_of(verify_reply(world, current_code(world, alice))),
                     proto::ReplyStatus::Ok);
    world.clock.advance(30);
    assert_false(verify_reply(world, current_code(world, alice, -4)).has(proto::Field::Hint));
}

void inconsistent_offsets_and_random_wrong_codes_bring_no_hint(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    world.clock.advance(10 * 30);
    verify_reply(world, current_code(world, alice, 5));
    world.clock.advance(30);
    assert_false(verify_reply(world, current_code(world, alice, -5)).has(proto::Field::Hint));
    world.clock.advance(30);
    assert_false(verify_reply(world, wrong_code(world, alice)).has(proto::Field::Hint));
}

void the_drift_search_can_be_turned_off(void**)
{
    World world;
    world.config.totp_drift_search = 0;
    world.restart();
    const auto alice = enrol(world, "alice");
    const auto early = current_code(world, alice, 3);
    verify_reply(world, early);
    world.clock.advance(30);
    assert_false(verify_reply(world, current_code(world, alice, 3)).has(proto::Field::Hint));
    // Without the search nothing is burned: the early code works when its step comes.
    world.clock.advance(2 * 30);
    assert_int_equal(status_of(verify_reply(world, early)), proto::ReplyStatus::Ok);
}

void the_status_says_when_the_server_clock_is_not_synchronised(void**)
{
    World world;
    assert_int_equal(
        *world.ask(request(proto::MessageType::Status, "alice")).get_u8(proto::Field::ClockSynced),
        1);
    world.clock_sync.in_sync = false;
    world.restart();
    assert_int_equal(
        *world.ask(request(proto::MessageType::Status, "alice")).get_u8(proto::Field::ClockSynced),
        0);
}

}  // namespace

int main()
{
    totp::init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(without_listed_groups_mfa_stays_optional),
        cmocka_unit_test(a_member_of_a_required_group_without_mfa_is_refused_with_how_to_enrol),
        cmocka_unit_test(an_exempt_group_wins_and_a_star_requires_everyone),
        cmocka_unit_test(unreadable_groups_never_waive_the_policy),
        cmocka_unit_test(
            during_the_grace_period_the_user_is_let_in_with_a_warning_and_refused_after),
        cmocka_unit_test(a_code_from_outside_the_window_fails_and_its_step_is_burned),
        cmocka_unit_test(repeated_consistent_drift_brings_the_hint_about_the_phones_clock),
        cmocka_unit_test(inconsistent_offsets_and_random_wrong_codes_bring_no_hint),
        cmocka_unit_test(the_drift_search_can_be_turned_off),
        cmocka_unit_test(the_status_says_when_the_server_clock_is_not_synchronised),
    };
    return cmocka_run_group_tests_name("policy_and_drift", tests, nullptr, nullptr);
}
