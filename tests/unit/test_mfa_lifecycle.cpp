// MFA over its life: new recovery codes, turning MFA off, enrolling a new phone, and the warning
// when few recovery codes are left. Every change needs a current code; a wrong one changes nothing.
#include "test_world.hpp"

namespace {

proto::Message with_code(proto::MessageType type, const std::string& user, const std::string& code)
{
    auto message = request(type, user);
    message.set(proto::Field::Code, code);
    return message;
}

std::vector<std::string> codes_of(const proto::Message& reply)
{
    std::vector<std::string> codes;
    std::istringstream lines(std::string(*reply.get(proto::Field::RecoveryCodes)));
    for (std::string line; std::getline(lines, line);)
        codes.push_back(line);
    return codes;
}

void regenerating_needs_a_current_code_and_voids_every_old_recovery_code(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    const auto refused = world.ask(
        with_code(proto::MessageType::RegenerateCodes, "alice", wrong_code(world, alice)));
    assert_int_equal(status_of(refused), proto::ReplyStatus::Rejected);
    assert_false(refused.has(proto::Field::RecoveryCodes));

    const auto fresh = world.ask(
        with_code(proto::MessageType::RegenerateCodes, "alice", current_code(world, alice)));
    assert_int_equal(status_of(fresh), proto::ReplyStatus::Ok);
    const auto codes = codes_of(fresh);
    assert_int_equal(codes.size(), 10);
    assert_int_equal(verify(world, "alice", alice.recovery_codes[0]), proto::ReplyStatus::Rejected);
    assert_int_equal(verify(world, "alice", codes[0]), proto::ReplyStatus::Ok);
}

void a_user_turns_mfa_off_with_a_code_and_a_wrong_code_changes_nothing(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    assert_int_equal(status_of(world.ask(with_code(proto::MessageType::DisableMfa, "alice",
                                                   wrong_code(world, alice)),
                                         kAliceUid)),
                     proto::ReplyStatus::Rejected);
    assert_int_equal(status_of(world.ask(request(proto::MessageType::AuthQuery, "alice"))),
                     proto::ReplyStatus::CodeRequired);
    // A user's own request without a code is not a support request.
    assert_int_equal(
        status_of(world.ask(request(proto::MessageType::DisableMfa, "alice"), kAliceUid)),
        proto::ReplyStatus::BadRequest);

    assert_int_equal(status_of(world.ask(with_code(proto::MessageType::DisableMfa, "alice",
                                                   alice.recovery_codes[5]),
                                         kAliceUid)),
                     proto::ReplyStatus::Ok);
    assert_int_equal(status_of(world.ask(request(proto::MessageType::AuthQuery, "alice"))),
                     proto::ReplyStatus::NotEnrolled);
    const auto status = world.ask(request(proto::MessageType::Status, "alice"));
    assert_int_equal(*status.get_u8(proto::Field::Enrolled), 0);
}

void root_turns_mfa_off_for_a_user_only_with_a_reason_which_the_history_keeps(void**)
{
    World world;
    enrol(world, "alice");
    assert_int_equal(status_of(world.ask(request(proto::MessageType::DisableMfa, "alice"))),
                     proto::ReplyStatus::BadRequest);
    auto support = request(proto::MessageType::DisableMfa, "alice");
    support.set(proto::Field::Text, "lost phone and codes; identity checked by ticket 4711");
    assert_int_equal(status_of(world.ask(support)), proto::ReplyStatus::Ok);
    assert_int_equal(status_of(world.ask(request(proto::MessageType::AuthQuery, "alice"))),
                     proto::ReplyStatus::NotEnrolled);

    const auto history = world.ask(request(proto::MessageType::History, "alice"));
    assert_true(history.get(proto::Field::Entries)
                    ->find("mfa-disabled\t\t\tby root: lost phone and codes") != std::string::npos);
}

void root_turns_mfa_off_for_another_uid_zero_account_with_a_reason_and_checks_a_code_it_sends(
    void**)
{
    World world;
    world.users.accounts["toor"] = SystemAccount{"toor", 0};
    world.users.local.insert("toor");
    const auto toor = enrol(world, "toor");

    auto wrong = request(proto::MessageType::DisableMfa, "toor");
    wrong.set(proto::Field::Code, wrong_code(world, toor));
    assert_int_equal(status_of(world.ask(wrong)), proto::ReplyStatus::Rejected);
    assert_int_equal(status_of(world.ask(request(proto::MessageType::AuthQuery, "toor"))),
                     proto::ReplyStatus::CodeRequired);

    auto support = request(proto::MessageType::DisableMfa, "toor");
    support.set(proto::Field::Text, "second root account retired; ticket 4712");
    assert_int_equal(status_of(world.ask(support)), proto::ReplyStatus::Ok);
    assert_int_equal(status_of(world.ask(request(proto::MessageType::AuthQuery, "toor"))),
                     proto::ReplyStatus::NotEnrolled);
}

void enrolling_a_new_phone_needs_a_code_of_the_old_one(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    auto begin = request(proto::MessageType::EnrolBegin, "alice");
    begin.set(proto::Field::Mode, "always");
    assert_int_equal(status_of(world.ask(begin)), proto::ReplyStatus::AlreadyEnrolled);
    begin.set(proto::Field::Code, wrong_code(world, alice));
    assert_int_equal(status_of(world.ask(begin)), proto::ReplyStatus::Rejected);

    begin.set(proto::Field::Code, alice.recovery_codes[0]);
    const auto started = world.ask(begin);
    assert_int_equal(status_of(started), proto::ReplyStatus::Ok);
    // The old phone keeps working until the new one is confirmed.
    assert_int_equal(verify(world, "alice", current_code(world, alice)), proto::ReplyStatus::Ok);

    char* raw = nullptr;
    size_t length = 0;
    const auto secret_text = *started.get(proto::Field::Secret);
    oath_base32_decode(secret_text.data(), secret_text.size(), &raw, &length);
    const std::vector<std::uint8_t> secret(raw, raw + length);
    std::free(raw);
    auto confirm = request(proto::MessageType::EnrolConfirm, "alice");
    confirm.set(proto::Field::Code, totp::code_for_step(secret, totp::step_of(world.clock.now())));
    assert_int_equal(status_of(world.ask(confirm)), proto::ReplyStatus::Ok);
    // Now the old phone's codes are worthless.
    world.clock.advance(30);
    assert_int_equal(verify(world, "alice", current_code(world, alice)),
                     proto::ReplyStatus::Rejected);
}

void a_login_with_two_or_fewer_recovery_codes_left_says_how_many(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    for (int i = 0; i < 7; ++i)
        assert_int_equal(verify(world, "alice", alice.recovery_codes[i]), proto::ReplyStatus::Ok);
    auto login = request(proto::MessageType::AuthVerify, "alice");
    login.set(proto::Field::Code, alice.recovery_codes[7]);
    const auto two_left = world.ask(login);
    assert_int_equal(*two_left.get_u64(proto::Field::CodesLeft), 2);

    World fresh;
    const auto bob = enrol(fresh, "bob");
    auto plain = request(proto::MessageType::AuthVerify, "bob");
    plain.set(proto::Field::Code, current_code(fresh, bob));
    assert_false(fresh.ask(plain).has(proto::Field::CodesLeft));
}

}  // namespace

int main()
{
    totp::init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(regenerating_needs_a_current_code_and_voids_every_old_recovery_code),
        cmocka_unit_test(a_user_turns_mfa_off_with_a_code_and_a_wrong_code_changes_nothing),
        cmocka_unit_test(root_turns_mfa_off_for_a_user_only_with_a_reason_which_the_history_keeps),
        cmocka_unit_test(
            root_turns_mfa_off_for_another_uid_zero_account_with_a_reason_and_checks_a_code_it_sends),
        cmocka_unit_test(enrolling_a_new_phone_needs_a_code_of_the_old_one),
        cmocka_unit_test(a_login_with_two_or_fewer_recovery_codes_left_says_how_many),
    };
    return cmocka_run_group_tests_name("mfa_lifecycle", tests, nullptr, nullptr);
}
