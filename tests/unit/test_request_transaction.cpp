// One request, one SQLite transaction (Store::begin_request / end_request): what a request
// changed commits before its answer leaves, a failed request leaves nothing half done, and a
// recovery code spent inside a request is on disk at once, whatever happens to the rest of it.
#include "test_world.hpp"

#include <sqlite3.h>

namespace {

std::int64_t account_of(World& world, const char* name, uid_t uid)
{
    const auto account =
        world.store->account_for(AccountKey{name, uid, false}, world.clock.now(), false);
    assert_true(account.has_value());
    return *account;
}

StoredLock lock_of(std::int64_t account, const char* channel = "password")
{
    StoredLock lock;
    lock.account = account;
    lock.channel = channel;
    lock.locked_until = 4'000'000'000;
    lock.failures = 5;
    return lock;
}

// A second connection to the same file, as another process (sqlite3 .backup) would see it.
std::unique_ptr<SqliteStore> reader_of(World& world)
{
    return std::make_unique<SqliteStore>((world.dir / "state" / "db.sqlite").string(),
                                         world.secrets_key);
}

void a_request_that_fails_leaves_none_of_its_changes(void**)
{
    World world;
    enrol(world, "alice");
    const auto alice = account_of(world, "alice", kAliceUid);

    world.store->begin_request();
    world.store->save_lock(lock_of(alice));
    // A store method with a transaction of its own becomes a part of the request's.
    world.store->replace_recovery_codes(alice, {"only-one"}, world.clock.now());
    assert_int_equal(world.store->count_unused_recovery_codes(alice), 1);
    world.store->end_request(false);

    assert_true(world.store->locks(world.clock.now()).empty());
    assert_int_equal(world.store->count_unused_recovery_codes(alice), 10);
}

void a_request_that_succeeds_is_on_disk_when_it_ends(void**)
{
    World world;
    enrol(world, "alice");
    const auto alice = account_of(world, "alice", kAliceUid);
    const auto other = reader_of(world);

    world.store->begin_request();
    world.store->save_lock(lock_of(alice));
    assert_true(other->locks(world.clock.now()).empty());  // not before the request ends
    world.store->end_request(true);

    assert_int_equal(other->locks(world.clock.now()).size(), 1);
    world.restart();
    assert_int_equal(world.store->locks(world.clock.now()).size(), 1);
}

void a_recovery_code_spent_in_a_request_stays_spent_even_when_the_request_fails(void**)
{
    World world;
    enrol(world, "alice");
    const auto alice = account_of(world, "alice", kAliceUid);
    const auto codes = world.store->unused_recovery_codes(alice);
    const auto other = reader_of(world);

    world.store->begin_request();
    world.store->save_lock(lock_of(alice));  // before the spend: committed with it
    assert_true(world.store->spend_recovery_code(codes[0].id, world.clock.now()));
    // Committed (with synchronous = FULL) before the request goes on.
    assert_int_equal(other->count_unused_recovery_codes(alice), 9);
    world.store->save_lock(lock_of(alice, "console"));  // after the spend: part of the request
    world.store->end_request(false);

    assert_int_equal(world.store->count_unused_recovery_codes(alice), 9);
    assert_false(world.store->spend_recovery_code(codes[0].id, world.clock.now()));
    const auto locks = world.store->locks(world.clock.now());
    assert_int_equal(locks.size(), 1);
    assert_string_equal(locks[0].channel.c_str(), "password");
}

void a_login_through_the_daemon_commits_its_used_step(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    const auto code = current_code(world, alice);
    assert_int_equal(verify(world, "alice", code), proto::ReplyStatus::Ok);

    // The answer has left: another connection sees the step used, and a restart refuses it.
    const auto other = reader_of(world);
    const auto account = account_of(world, "alice", kAliceUid);
    assert_int_equal(other->active_enrolment(account)->last_step, totp::step_of(world.clock.now()));
    world.restart();
    assert_int_equal(verify(world, "alice", code), proto::ReplyStatus::Rejected);
}

void a_request_while_another_process_holds_the_write_lock_still_reads_and_answers(void**)
{
    World world;
    enrol(world, "alice");
    const auto alice = account_of(world, "alice", kAliceUid);
    sqlite3* holder = nullptr;
    assert_int_equal(sqlite3_open((world.dir / "state" / "db.sqlite").string().c_str(), &holder),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(holder, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);

    // No waiting for the lock at the start: the request runs statement by statement.
    world.store->begin_request();
    assert_int_equal(world.store->count_unused_recovery_codes(alice), 10);
    world.store->end_request(true);
    assert_true(world.store->active_enrolment(alice).has_value());

    assert_int_equal(sqlite3_exec(holder, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(holder);
    world.store->begin_request();  // and the next request has its transaction again
    world.store->save_lock(lock_of(alice));
    world.store->end_request(true);
    assert_int_equal(reader_of(world)->locks(world.clock.now()).size(), 1);
}

}  // namespace

int main()
{
    totp::init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_request_that_fails_leaves_none_of_its_changes),
        cmocka_unit_test(a_request_that_succeeds_is_on_disk_when_it_ends),
        cmocka_unit_test(
            a_recovery_code_spent_in_a_request_stays_spent_even_when_the_request_fails),
        cmocka_unit_test(a_login_through_the_daemon_commits_its_used_step),
        cmocka_unit_test(
            a_request_while_another_process_holds_the_write_lock_still_reads_and_answers),
    };
    return cmocka_run_group_tests_name("request_transaction", tests, nullptr, nullptr);
}
