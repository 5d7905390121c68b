// The daemon's decisions, driven through Authenticator::handle with a real SQLite file, a fixed
// clock and a user directory the test controls.
#include "test_world.hpp"
#include "recovery_codes.hpp"
#include "totp.hpp"

#include <liboath/oath.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

// cmocka last: its fail() macro would clash with the standard library headers.
#include "cmocka_main.hpp"

namespace {

void an_unenrolled_user_needs_no_code(void**)
{
    World world;
    assert_int_equal(status_of(world.ask(request(proto::MessageType::AuthQuery, "alice"))),
                     proto::ReplyStatus::NotEnrolled);
}

void an_unknown_name_gets_at_login_what_a_user_without_mfa_gets(void**)
{
    // At login nothing may tell a name that does not exist from a user who did not enrol.
    World world;
    for (const char* name : {"mallory", "alice"}) {
        assert_int_equal(status_of(world.ask(request(proto::MessageType::AuthQuery, name))),
                         proto::ReplyStatus::NotEnrolled);
        assert_int_equal(status_of(world.ask(request(proto::MessageType::Preauth, name))),
                         proto::ReplyStatus::Ok);
        assert_int_equal(verify(world, name, "123456"), proto::ReplyStatus::NotEnrolled);
    }
    // Outside a login (the CLI), the name is reported as unknown.
    assert_int_equal(status_of(world.ask(request(proto::MessageType::Status, "mallory"))),
                     proto::ReplyStatus::UnknownUser);
}

void an_enrolled_user_needs_a_code_and_the_right_one_passes_once(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    assert_int_equal(status_of(world.ask(request(proto::MessageType::AuthQuery, "alice"))),
                     proto::ReplyStatus::CodeRequired);

    const auto code = current_code(world, alice);
    assert_int_equal(verify(world, "alice", code), proto::ReplyStatus::Ok);
    assert_int_equal(verify(world, "alice", code), proto::ReplyStatus::Rejected);
}

// The module sends a login's query and code on one connection. The SQLite store reads locally
// and keeps nothing for the next request (a fleet's store does: docs/fleet.md, tested in
// tests/integration/test_fleet_limits.py); the connection's logins go as any others.
void sqlite_keeps_nothing_between_the_requests_of_one_connection(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    ConnectionMemory memory;
    const auto ask = [&](const proto::Message& message) {
        return status_of(world.daemon->handle(Caller{0, kNoSuchPid}, message, &memory));
    };
    const auto code_request = [&](const std::string& code) {
        auto message = request(proto::MessageType::AuthVerify, "alice");
        message.set(proto::Field::Code, code);
        message.set(proto::Field::Service, "sshd");
        return message;
    };
    assert_int_equal(ask(request(proto::MessageType::AuthQuery, "alice")),
                     proto::ReplyStatus::CodeRequired);
    assert_null(memory.reading.get());
    const auto code = current_code(world, alice);
    assert_int_equal(ask(code_request(code)), proto::ReplyStatus::Ok);
    assert_int_equal(ask(request(proto::MessageType::AuthQuery, "alice")),
                     proto::ReplyStatus::CodeRequired);
    assert_int_equal(ask(code_request(code)), proto::ReplyStatus::Rejected);
    assert_int_equal(ask(code_request(current_code(world, alice, 1))), proto::ReplyStatus::Ok);
}

void a_code_stays_used_after_a_daemon_restart(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    const auto code = current_code(world, alice);
    assert_int_equal(verify(world, "alice", code), proto::ReplyStatus::Ok);
    world.restart();
    assert_int_equal(verify(world, "alice", code), proto::ReplyStatus::Rejected);
}

void after_a_newer_step_is_used_an_older_unused_code_is_refused(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    const auto current = current_code(world, alice);
    const auto next = current_code(world, alice, +1);
    assert_int_equal(verify(world, "alice", next), proto::ReplyStatus::Ok);
    assert_int_equal(verify(world, "alice", current), proto::ReplyStatus::Rejected);
}

void the_confirming_code_cannot_also_open_a_login(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    assert_int_equal(verify(world, "alice", current_code(world, alice, -1)),
                     proto::ReplyStatus::Rejected);
}

void a_wrong_or_malformed_code_is_rejected(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    std::string wrong = current_code(world, alice);
    wrong[5] = wrong[5] == '0' ? '1' : '0';
    assert_int_equal(verify(world, "alice", wrong), proto::ReplyStatus::Rejected);
    assert_int_equal(verify(world, "alice", ""), proto::ReplyStatus::Rejected);
    assert_int_equal(verify(world, "alice", std::string(129, '1')), proto::ReplyStatus::Rejected);
    assert_int_equal(verify(world, "alice", " " + current_code(world, alice)),
                     proto::ReplyStatus::Rejected);
    // The right code is still good after all of that.
    assert_int_equal(verify(world, "alice", current_code(world, alice)), proto::ReplyStatus::Ok);
}

void a_recovery_code_works_once_in_any_typed_form(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    std::string lower = alice.recovery_codes[3];
    std::erase(lower, '-');
    for (auto& c : lower)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));

    assert_int_equal(verify(world, "alice", lower), proto::ReplyStatus::Ok);
    assert_int_equal(verify(world, "alice", alice.recovery_codes[3]), proto::ReplyStatus::Rejected);
    assert_int_equal(verify(world, "alice", alice.recovery_codes[4]), proto::ReplyStatus::Ok);

    const auto reply = world.ask(request(proto::MessageType::Status, "alice"));
    assert_int_equal(*reply.get_u64(proto::Field::CodesLeft), 8);
}

void another_users_recovery_code_does_not_open_an_account(void**)
{
    World world;
    enrol(world, "alice");
    const auto bob = enrol(world, "bob");
    assert_int_equal(verify(world, "alice", bob.recovery_codes[0]), proto::ReplyStatus::Rejected);
}

void an_unconfirmed_enrolment_never_protects_logins(void**)
{
    World world;
    begin_enrolment(world, "alice");
    assert_int_equal(status_of(world.ask(request(proto::MessageType::AuthQuery, "alice"))),
                     proto::ReplyStatus::NotEnrolled);
    const auto reply = world.ask(request(proto::MessageType::Status, "alice"));
    assert_int_equal(*reply.get_u8(proto::Field::Enrolled), 0);
    assert_int_equal(*reply.get_u8(proto::Field::Pending), 1);
}

void an_enrolment_lapses_after_ten_minutes(void**)
{
    World world;
    const auto secret = begin_enrolment(world, "alice");
    world.clock.advance(600);

    auto confirm = request(proto::MessageType::EnrolConfirm, "alice");
    confirm.set(proto::Field::Code, totp::code_for_step(secret, totp::step_of(world.clock.now())));
    assert_int_equal(status_of(world.ask(confirm)), proto::ReplyStatus::NoPendingEnrolment);
    assert_int_equal(status_of(world.ask(request(proto::MessageType::AuthQuery, "alice"))),
                     proto::ReplyStatus::NotEnrolled);
}

void a_wrong_confirming_code_leaves_the_enrolment_pending(void**)
{
    World world;
    const auto secret = begin_enrolment(world, "alice");
    auto confirm = request(proto::MessageType::EnrolConfirm, "alice");
    confirm.set(proto::Field::Code, "000000");
    const bool lucky = totp::code_for_step(secret, totp::step_of(world.clock.now())) == "000000";
    if (!lucky)
        assert_int_equal(status_of(world.ask(confirm)), proto::ReplyStatus::Rejected);
    assert_int_equal(status_of(world.ask(request(proto::MessageType::AuthQuery, "alice"))),
                     proto::ReplyStatus::NotEnrolled);
}

void an_active_enrolment_is_not_replaced_by_a_new_one(void**)
{
    World world;
    enrol(world, "alice");
    auto begin = request(proto::MessageType::EnrolBegin, "alice");
    begin.set(proto::Field::Mode, "always");
    assert_int_equal(status_of(world.ask(begin)), proto::ReplyStatus::AlreadyEnrolled);
}

void an_unknown_mode_is_a_bad_request(void**)
{
    World world;
    auto begin = request(proto::MessageType::EnrolBegin, "alice");
    begin.set(proto::Field::Mode, "sometimes");
    assert_int_equal(status_of(world.ask(begin)), proto::ReplyStatus::BadRequest);
}

void status_reports_since_mode_and_codes_left(void**)
{
    World world;
    auto begin = request(proto::MessageType::EnrolBegin, "alice");
    begin.set(proto::Field::Mode, "new-device");
    const auto secret = decode_base32(*world.ask(begin).get(proto::Field::Secret));
    auto confirm = request(proto::MessageType::EnrolConfirm, "alice");
    confirm.set(proto::Field::Code, totp::code_for_step(secret, totp::step_of(world.clock.now())));
    assert_int_equal(status_of(world.ask(confirm)), proto::ReplyStatus::Ok);

    const auto reply = world.ask(request(proto::MessageType::Status, "alice"));
    assert_int_equal(*reply.get_u8(proto::Field::Enrolled), 1);
    assert_int_equal(*reply.get_u64(proto::Field::Since), world.clock.now());
    assert_true(*reply.get(proto::Field::Mode) == "new-device");
    assert_int_equal(*reply.get_u64(proto::Field::CodesLeft), 10);
}

void the_uri_names_issuer_user_and_secret(void**)
{
    World world;
    world.config.issuer = "Studio North";
    world.restart();
    auto begin = request(proto::MessageType::EnrolBegin, "alice");
    begin.set(proto::Field::Mode, "always");
    const auto reply = world.ask(begin);
    const std::string uri(*reply.get(proto::Field::Uri));
    const std::string secret(*reply.get(proto::Field::Secret));
    assert_int_equal(secret.size(), 32);  // 160 bits in base32
    assert_string_equal(uri.c_str(), ("otpauth://totp/Studio%20North:alice?secret=" + secret +
                                      "&issuer=Studio%20North&algorithm=SHA1&digits=6&period=30")
                                         .c_str());
}

void a_user_may_act_only_for_itself_and_root_for_anyone(void**)
{
    World world;
    enrol(world, "alice");
    assert_int_equal(status_of(world.ask(request(proto::MessageType::Status, "alice"), kAliceUid)),
                     proto::ReplyStatus::Ok);
    assert_int_equal(status_of(world.ask(request(proto::MessageType::Status, "alice"), kBobUid)),
                     proto::ReplyStatus::PermissionDenied);
    assert_int_equal(status_of(world.ask(request(proto::MessageType::Status, "bob"), 0)),
                     proto::ReplyStatus::Ok);

    auto begin = request(proto::MessageType::EnrolBegin, "alice");
    begin.set(proto::Field::Mode, "always");
    assert_int_equal(status_of(world.ask(begin, kBobUid)), proto::ReplyStatus::PermissionDenied);
}

void a_user_recreated_with_another_uid_does_not_inherit_the_secret(void**)
{
    World world;
    enrol(world, "alice");
    world.users.accounts["alice"].uid = 2001;
    assert_int_equal(status_of(world.ask(request(proto::MessageType::AuthQuery, "alice"))),
                     proto::ReplyStatus::NotEnrolled);
    // Changing back does not resurrect the retired account either.
    world.users.accounts["alice"].uid = kAliceUid;
    assert_int_equal(status_of(world.ask(request(proto::MessageType::AuthQuery, "alice"))),
                     proto::ReplyStatus::NotEnrolled);
}

void a_local_user_deleted_and_created_again_with_the_same_uid_starts_without_mfa(void**)
{
    World world;
    enrol(world, "alice");
    // userdel: the name leaves /etc/passwd, and the daemon is told that the file changed.
    world.users.local.erase("alice");
    world.users.accounts.erase("alice");
    world.daemon->forget_deleted_local_accounts();
    // useradd: the same name, and here even the same uid, comes back.
    world.users.local.insert("alice");
    world.users.accounts["alice"] = SystemAccount{"alice", kAliceUid};
    world.daemon->forget_deleted_local_accounts();
    assert_int_equal(status_of(world.ask(request(proto::MessageType::AuthQuery, "alice"))),
                     proto::ReplyStatus::NotEnrolled);
}

void a_passwd_file_that_cannot_be_read_never_drops_an_enrolment(void**)
{
    World world;
    enrol(world, "alice");
    world.users.passwd_readable = false;
    world.daemon->forget_deleted_local_accounts();
    world.restart();
    assert_int_equal(status_of(world.ask(request(proto::MessageType::AuthQuery, "alice"))),
                     proto::ReplyStatus::CodeRequired);
}

void an_account_from_a_directory_service_is_not_judged_by_etc_passwd(void**)
{
    World world;
    world.users.local.erase("bob");  // bob comes from LDAP, say
    enrol(world, "bob");
    world.daemon->forget_deleted_local_accounts();
    world.restart();
    assert_int_equal(status_of(world.ask(request(proto::MessageType::AuthQuery, "bob"))),
                     proto::ReplyStatus::CodeRequired);
}

proto::Message session(const std::string& user, std::string_view nonce)
{
    auto message = request(proto::MessageType::SessionOpen, user);
    message.set(proto::Field::Nonce, nonce);
    return message;
}

void the_auth_proof_opens_one_session_of_its_own_user_before_it_expires(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    enrol(world, "bob");

    auto verify_request = request(proto::MessageType::AuthVerify, "alice");
    verify_request.set(proto::Field::Code, current_code(world, alice));
    const auto passed = world.ask(verify_request);
    const std::string nonce(*passed.get(proto::Field::Nonce));
    assert_int_equal(nonce.size(), 32);

    assert_int_equal(status_of(world.ask(session("bob", nonce))), proto::ReplyStatus::Rejected);
    assert_int_equal(status_of(world.ask(session("alice", nonce))), proto::ReplyStatus::Ok);
    assert_int_equal(status_of(world.ask(session("alice", nonce))), proto::ReplyStatus::Rejected);
    assert_int_equal(status_of(world.ask(session("alice", "00112233"))),
                     proto::ReplyStatus::Rejected);

    verify_request.set(proto::Field::Code, current_code(world, alice, +1));
    const std::string late(*world.ask(verify_request).get(proto::Field::Nonce));
    world.clock.advance(121);
    assert_int_equal(status_of(world.ask(session("alice", late))), proto::ReplyStatus::Rejected);
}

void requests_without_their_fields_are_bad_requests(void**)
{
    World world;
    enrol(world, "alice");
    assert_int_equal(status_of(world.ask(proto::Message(proto::MessageType::AuthQuery))),
                     proto::ReplyStatus::BadRequest);
    assert_int_equal(status_of(world.ask(request(proto::MessageType::AuthVerify, "alice"))),
                     proto::ReplyStatus::BadRequest);
    // A session without the auth stage's proof: an enrolled user's is refused.
    assert_int_equal(status_of(world.ask(request(proto::MessageType::SessionOpen, "alice"))),
                     proto::ReplyStatus::CodeRequired);
    assert_int_equal(status_of(world.ask(request(proto::MessageType::Reply, "alice"))),
                     proto::ReplyStatus::BadRequest);
}

void a_broken_database_answers_internal_error_never_success(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    // Another process drops the table under the daemon's feet.
    sqlite3* db = nullptr;
    assert_int_equal(sqlite3_open((world.dir / "state" / "db.sqlite").c_str(), &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP TABLE enrolments", nullptr, nullptr, nullptr),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(verify(world, "alice", current_code(world, alice)),
                     proto::ReplyStatus::InternalError);
}

void the_database_directory_is_private_and_the_schema_versioned(void**)
{
    World world;
    struct stat st {};
    assert_int_equal(stat((world.dir / "state").c_str(), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    world.store.reset();
    world.daemon.reset();
    sqlite3* db = nullptr;
    assert_int_equal(sqlite3_open((world.dir / "state" / "db.sqlite").c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(stmt, 0), SqliteStore::schema_version());
    sqlite3_finalize(stmt);
    // A database from a newer release is refused rather than misread.
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr),
                     SQLITE_OK);
    sqlite3_close(db);
    bool refused = false;
    try {
        SqliteStore newer((world.dir / "state" / "db.sqlite").string(), world.secrets_key);
    } catch (const StoreError&) {
        refused = true;
    }
    assert_true(refused);
}

}  // namespace

int main()
{
    totp::init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_unenrolled_user_needs_no_code),
        cmocka_unit_test(an_unknown_name_gets_at_login_what_a_user_without_mfa_gets),
        cmocka_unit_test(an_enrolled_user_needs_a_code_and_the_right_one_passes_once),
        cmocka_unit_test(sqlite_keeps_nothing_between_the_requests_of_one_connection),
        cmocka_unit_test(a_code_stays_used_after_a_daemon_restart),
        cmocka_unit_test(after_a_newer_step_is_used_an_older_unused_code_is_refused),
        cmocka_unit_test(the_confirming_code_cannot_also_open_a_login),
        cmocka_unit_test(a_wrong_or_malformed_code_is_rejected),
        cmocka_unit_test(a_recovery_code_works_once_in_any_typed_form),
        cmocka_unit_test(another_users_recovery_code_does_not_open_an_account),
        cmocka_unit_test(an_unconfirmed_enrolment_never_protects_logins),
        cmocka_unit_test(an_enrolment_lapses_after_ten_minutes),
        cmocka_unit_test(a_wrong_confirming_code_leaves_the_enrolment_pending),
        cmocka_unit_test(an_active_enrolment_is_not_replaced_by_a_new_one),
        cmocka_unit_test(an_unknown_mode_is_a_bad_request),
        cmocka_unit_test(status_reports_since_mode_and_codes_left),
        cmocka_unit_test(the_uri_names_issuer_user_and_secret),
        cmocka_unit_test(a_user_may_act_only_for_itself_and_root_for_anyone),
        cmocka_unit_test(a_user_recreated_with_another_uid_does_not_inherit_the_secret),
        cmocka_unit_test(
            a_local_user_deleted_and_created_again_with_the_same_uid_starts_without_mfa),
        cmocka_unit_test(a_passwd_file_that_cannot_be_read_never_drops_an_enrolment),
        cmocka_unit_test(an_account_from_a_directory_service_is_not_judged_by_etc_passwd),
        cmocka_unit_test(the_auth_proof_opens_one_session_of_its_own_user_before_it_expires),
        cmocka_unit_test(requests_without_their_fields_are_bad_requests),
        cmocka_unit_test(a_broken_database_answers_internal_error_never_success),
        cmocka_unit_test(the_database_directory_is_private_and_the_schema_versioned),
    };
    return cmocka_run_group_tests_name("authenticator", tests, nullptr, nullptr);
}
