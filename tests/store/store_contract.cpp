// The contract of fotoauthd's Store (fotoauthd/store.hpp), checked against a real backend: the
// one FOTOSTUDIO_STORE names, `sqlite:PATH` (a fresh file is made at PATH) or
// `postgresql:CONNINFO` (an empty database). Every backend must pass the same tests; the few
// that only a shared database needs (claims, reconnecting, timeouts) are skipped for SQLite.
//
// Two store objects, A and B, stand for two daemons (two servers in a fleet, two connections
// to one SQLite file); races between them must have exactly one winner.
#include "postgres_store.hpp"
#include "shared_limits.hpp"
#include "sqlite_store.hpp"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>

#include "cmocka_main.hpp"

using namespace fotoauthd;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;

enum class Backend { Sqlite, Postgres };

struct Environment {
    Backend backend = Backend::Sqlite;
    std::string target;  // the SQLite path or the PostgreSQL connection string
    std::unique_ptr<Store> a;
    std::unique_ptr<Store> b;
};

Environment env;

std::vector<std::uint8_t> secrets_key()
{
    return std::vector<std::uint8_t>(SecretBox::kKeyBytes, 0x5a);
}

std::unique_ptr<Store> open_store(const char* server)
{
    if (env.backend == Backend::Postgres)
        return std::make_unique<PostgresStore>(env.target, secrets_key(), server);
    return std::make_unique<SqliteStore>(env.target, secrets_key());
}

bool postgres()
{
    return env.backend == Backend::Postgres;
}

// One SQL statement through the backend's own client, beside the store: what an administrator
// or an attacker with the database (not the key) sees. Returns the first column of the first
// row, or "" when there is none.
std::string raw_sql(const std::string& sql)
{
    std::string first;
    if (postgres()) {
        PGconn* conn = PQconnectdb(env.target.c_str());
        assert_int_equal(PQstatus(conn), CONNECTION_OK);
        PGresult* result = PQexec(conn, sql.c_str());
        const auto status = PQresultStatus(result);
        if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
            fail_msg("%s: %s", sql.c_str(), PQerrorMessage(conn));
        if (status == PGRES_TUPLES_OK && PQntuples(result) > 0 && !PQgetisnull(result, 0, 0))
            first = PQgetvalue(result, 0, 0);
        PQclear(result);
        PQfinish(conn);
        return first;
    }
    sqlite3* db = nullptr;
    assert_int_equal(sqlite3_open(env.target.c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 2000);
    char* error = nullptr;
    const auto keep_first = [](void* out, int columns, char** values, char**) {
        auto& text = *static_cast<std::string*>(out);
        if (text.empty() && columns > 0 && values[0])
            text = values[0];
        return 0;
    };
    if (sqlite3_exec(db, sql.c_str(), keep_first, &first, &error) != SQLITE_OK)
        fail_msg("%s: %s", sql.c_str(), error);
    sqlite3_close(db);
    return first;
}

std::int64_t account(Store& store, const std::string& name, uid_t uid = 2000)
{
    auto id = store.account_for({name, uid, true}, kNow, true);
    assert_true(id.has_value());
    return *id;
}

std::vector<std::uint8_t> bytes(const std::string& text)
{
    return std::vector<std::uint8_t>(text.begin(), text.end());
}

std::vector<std::string> ten_hashes(const std::string& prefix)
{
    std::vector<std::string> hashes;
    for (int i = 0; i < 10; ++i)
        hashes.push_back(prefix + std::to_string(i));
    return hashes;
}

// An enrolled account: pending, then activated at step 100 with ten recovery codes.
std::int64_t enrolled(const std::string& name, const std::string& secret = "12345678901234567890")
{
    const auto id = account(*env.a, name);
    env.a->save_pending_enrolment(id, {bytes(secret), VerificationMode::Always, kNow});
    assert_true(env.a->activate_enrolment(id, 100, ten_hashes(name + "-hash-"), kNow));
    return id;
}

// advance_last_step() for the enrolment the account has now, as the daemon calls it with the
// enrolment it read.
bool advance(Store& store, std::int64_t id, std::int64_t step)
{
    const auto enrolment = store.active_enrolment(id);
    assert_true(enrolment.has_value());
    return store.advance_last_step(id, enrolment->active_since, step);
}

HistoryEntry entry(std::int64_t at, const std::string& event)
{
    HistoryEntry e;
    e.at = at;
    e.event = event;
    e.service = "sshd";
    e.source = "198.51.100.7";
    e.detail = "code";
    e.country = "NL";
    e.client = "sshd publickey";
    e.unusual = true;
    e.verified = true;
    return e;
}

void account_is_created_once_and_found_again(void**)
{
    bool retired = true;
    const auto id = env.a->account_for({"ann", 2001, true}, kNow, true, &retired);
    assert_true(id.has_value());
    assert_false(retired);

    // The other daemon finds the same account, and never a second one.
    assert_int_equal(*env.b->account_for({"ann", 2001, true}, kNow, true), *id);
    assert_int_equal(*env.a->account_for({"ann", 2001, true}, kNow, false), *id);
    assert_false(env.a->account_for({"nobody-here", 2002, true}, kNow, false).has_value());

    const auto local = env.a->local_accounts();
    assert_true(std::any_of(local.begin(), local.end(),
                            [&](const LocalAccount& a) { return a.id == *id && a.name == "ann"; }));
    // In a fleet a local account is the business of the server whose /etc/passwd held it: the
    // others, which may not have the name, must never retire it as deleted.
    const auto elsewhere = env.b->local_accounts();
    assert_int_equal(std::any_of(elsewhere.begin(), elsewhere.end(),
                                 [&](const LocalAccount& a) { return a.id == *id; }),
                     !postgres());
}

// Runs `mine` here and `theirs` on another thread, started together, as two daemons would.
// An exception of the other thread is rethrown here, so that it fails the test, not the program.
template <typename Mine, typename Theirs> void at_once(Mine mine, Theirs theirs)
{
    std::atomic<bool> go{false};
    std::exception_ptr failure;
    std::thread other([&] {
        while (!go) {
        }
        try {
            theirs();
        } catch (...) {
            failure = std::current_exception();
        }
    });
    go = true;
    try {
        mine();
    } catch (...) {
        other.join();
        throw;
    }
    other.join();
    if (failure)
        std::rethrow_exception(failure);
}

void accounts_created_at_once_by_two_daemons_are_one(void**)
{
    // One SQLite file has one daemon, which handles one request at a time: only servers of a
    // fleet can create an account at the same moment.
    if (!postgres())
        skip();
    for (int round = 0; round < 10; ++round) {
        const std::string name = "twin" + std::to_string(round);
        std::int64_t first = 0, second = 0;
        at_once(
            [&] {
                first = *env.a->account_for({name, 2100, true}, kNow, true);
            },
            [&] {
                second = *env.b->account_for({name, 2100, true}, kNow, true);
            });
        assert_int_equal(first, second);
    }
}

void a_name_with_another_uid_retires_the_old_account(void**)
{
    const auto old_id = enrolled("bob");
    env.a->record_history(old_id, entry(kNow, "login"), 50);

    bool retired = false;
    const auto new_id = env.b->account_for({"bob", 2999, true}, kNow + 10, true, &retired);
    assert_true(retired);
    assert_true(new_id.has_value());
    assert_int_not_equal(*new_id, old_id);

    // The re-created user inherits nothing: no secret, no codes; the old history stays.
    assert_false(env.a->active_enrolment(old_id).has_value());
    assert_true(env.a->unused_recovery_codes(old_id).empty());
    assert_false(env.a->active_enrolment(*new_id).has_value());
    assert_int_equal(env.a->history(old_id).size(), 1);
    const auto local = env.a->local_accounts();
    assert_false(std::any_of(local.begin(), local.end(),
                             [&](const LocalAccount& a) { return a.id == old_id; }));
}

void retire_wipes_the_secrets_and_the_local_listing(void**)
{
    const auto id = enrolled("cleo");
    env.a->save_lock({id, "", "code", kNow + 600, 5});
    env.a->retire(id, kNow);

    assert_false(env.a->active_enrolment(id).has_value());
    assert_true(env.a->unused_recovery_codes(id).empty());
    const auto running = env.a->locks(kNow);
    assert_true(std::none_of(running.begin(), running.end(),
                             [&](const StoredLock& l) { return l.account == id; }));
    // The name is free again: the next account under it is a new one.
    assert_int_not_equal(account(*env.a, "cleo"), id);
}

void a_pending_enrolment_is_replaced_and_deleted(void**)
{
    const auto id = account(*env.a, "dora");
    assert_false(env.a->pending_enrolment(id).has_value());

    env.a->save_pending_enrolment(id,
                                  {bytes("first-secret-aaaaaaa"), VerificationMode::Always, kNow});
    env.b->save_pending_enrolment(
        id, {bytes("second-secret-bbbbbb"), VerificationMode::NewDevice, kNow + 5});
    const auto pending = env.a->pending_enrolment(id);
    assert_true(pending.has_value());
    assert_true(pending->secret == bytes("second-secret-bbbbbb"));
    assert_int_equal(static_cast<int>(pending->mode),
                     static_cast<int>(VerificationMode::NewDevice));
    assert_int_equal(pending->created_at, kNow + 5);

    env.a->delete_pending_enrolment(id);
    assert_false(env.b->pending_enrolment(id).has_value());
}

void activation_moves_the_pending_secret_once(void**)
{
    const auto id = account(*env.a, "emil");
    env.a->trust_device(id, {0, "198.51.100.9", "address", "", kNow, kNow, kNow + 1000}, 20);
    env.a->save_pending_enrolment(
        id, {bytes("emil-secret-12345678"), VerificationMode::NewDevice, kNow});

    assert_true(env.a->activate_enrolment(id, 4242, ten_hashes("emil-"), kNow + 1));
    // A second confirmation (another server, the same moment) finds nothing pending.
    assert_false(env.b->activate_enrolment(id, 4243, ten_hashes("other-"), kNow + 2));

    const auto active = env.b->active_enrolment(id);
    assert_true(active.has_value());
    assert_true(active->secret == bytes("emil-secret-12345678"));
    assert_int_equal(active->last_step, 4242);
    assert_int_equal(active->active_since, kNow + 1);
    assert_int_equal(static_cast<int>(active->mode), static_cast<int>(VerificationMode::NewDevice));
    assert_false(env.a->pending_enrolment(id).has_value());
    assert_int_equal(env.a->unused_recovery_codes(id).size(), 10);
    assert_true(env.a->devices(id, kNow).empty());
}

void only_a_newer_step_is_accepted(void**)
{
    const auto id = enrolled("fay");
    assert_true(advance(*env.a, id, 101));
    assert_false(advance(*env.a, id, 101));
    assert_false(advance(*env.b, id, 101));
    assert_false(advance(*env.b, id, 100));
    assert_true(advance(*env.b, id, 103));
    assert_false(advance(*env.a, id, 102));
    assert_int_equal(env.a->active_enrolment(id)->last_step, 103);
}

void a_step_read_with_a_replaced_enrolment_is_not_recorded_against_the_new_one(void**)
{
    const auto id = enrolled("ida");
    const auto old_enrolment = env.a->active_enrolment(id);
    assert_true(old_enrolment.has_value());
    // Server b re-enrols the account while server a still holds what it read before.
    env.b->save_pending_enrolment(id,
                                  {bytes("ida-second-secret-00"), VerificationMode::Always, kNow});
    assert_true(env.b->activate_enrolment(id, 120, ten_hashes("ida2-"), kNow + 60));
    assert_false(env.a->advance_last_step(id, old_enrolment->active_since, 130));
    const auto now_active = env.b->active_enrolment(id);
    assert_int_equal(now_active->active_since, kNow + 60);
    assert_int_equal(now_active->last_step, 120);
    // With the enrolment as it is now, the step is recorded.
    assert_true(env.a->advance_last_step(id, now_active->active_since, 130));
    assert_int_equal(env.b->active_enrolment(id)->last_step, 130);
}

void two_logins_racing_with_one_code_have_one_winner(void**)
{
    const auto id = enrolled("gus");
    for (std::int64_t step = 200; step < 230; ++step) {
        bool won_a = false, won_b = false;
        at_once([&] { won_a = advance(*env.a, id, step); },
                [&] { won_b = advance(*env.b, id, step); });
        assert_true(won_a != won_b);
    }
}

void a_burned_step_is_never_accepted(void**)
{
    const auto id = enrolled("hal");
    env.a->burn_step(id, 150);
    env.b->burn_step(id, 150);  // burning twice is harmless
    assert_false(advance(*env.b, id, 150));
    assert_int_equal(env.a->active_enrolment(id)->last_step, 100);
    assert_true(advance(*env.a, id, 151));
}

void a_recovery_code_is_spent_once(void**)
{
    const auto id = enrolled("ida");
    auto codes = env.a->unused_recovery_codes(id);
    assert_int_equal(codes.size(), 10);
    assert_string_equal(codes[0].hash.substr(0, 9).c_str(), "ida-hash-");

    // Two servers at once: one wins.
    for (int i = 0; i < 5; ++i) {
        bool spent_a = false, spent_b = false;
        at_once([&] { spent_a = env.a->spend_recovery_code(codes[i].id, kNow); },
                [&] { spent_b = env.b->spend_recovery_code(codes[i].id, kNow); });
        assert_true(spent_a != spent_b);
    }
    assert_false(env.a->spend_recovery_code(codes[0].id, kNow + 1));
    assert_int_equal(env.b->unused_recovery_codes(id).size(), 5);
    assert_int_equal(env.b->count_unused_recovery_codes(id), 5);

    // New codes replace every old one, used or not.
    env.a->replace_recovery_codes(id, {"new-1", "new-2"}, kNow);
    const auto fresh = env.b->unused_recovery_codes(id);
    assert_int_equal(fresh.size(), 2);
    assert_false(env.a->spend_recovery_code(codes[9].id, kNow));
    assert_true(env.a->spend_recovery_code(fresh[1].id, kNow));
    assert_int_equal(env.b->unused_recovery_codes(id).size(), 1);
    assert_int_equal(env.a->count_unused_recovery_codes(id), 1);
    assert_int_equal(env.a->count_unused_recovery_codes(id + 1000), 0);
}

void locks_are_saved_replaced_listed_and_lifted(void**)
{
    const auto id = account(*env.a, "jon");
    env.a->save_lock({id, "", "code", kNow + 600, 5});
    env.b->save_lock({id, "", "code", kNow + 900, 7});
    env.a->save_lock({id, "", "password", kNow + 300, 3});

    auto running = env.b->locks(kNow);
    std::erase_if(running, [&](const StoredLock& l) { return l.account != id; });
    assert_int_equal(running.size(), 2);
    const auto code = std::find_if(running.begin(), running.end(),
                                   [](const StoredLock& l) { return l.channel == "code"; });
    assert_true(code != running.end());
    assert_string_equal(code->name.c_str(), "jon");
    assert_int_equal(code->locked_until, kNow + 900);
    assert_int_equal(code->failures, 7);

    // A lock that ran out is no longer listed.
    auto later = env.a->locks(kNow + 400);
    std::erase_if(later, [&](const StoredLock& l) { return l.account != id; });
    assert_int_equal(later.size(), 1);

    env.a->delete_lock(id, "password");
    assert_int_equal(env.b->delete_locks(id), 1);
    assert_int_equal(env.a->delete_locks(id), 0);
}

void devices_expire_and_the_least_recently_used_go_first(void**)
{
    const auto id = account(*env.a, "kim");
    env.a->trust_device(id, {0, "dev-1", "address", "one", kNow, kNow + 1, kNow + 1000}, 2);
    env.a->trust_device(id, {0, "dev-2", "address", "two", kNow, kNow + 2, kNow + 1000}, 2);
    env.b->touch_device(env.a->trusted_device(id, "dev-1", kNow)->id, kNow + 3);
    env.b->trust_device(id, {0, "dev-3", "terminal", "three", kNow, kNow + 4, kNow + 1000}, 2);

    auto listed = env.a->devices(id, kNow);
    assert_int_equal(listed.size(), 2);
    assert_string_equal(listed[0].device.c_str(), "dev-3");  // most recently used first
    assert_string_equal(listed[1].device.c_str(), "dev-1");
    assert_string_equal(listed[0].label.c_str(), "three");
    assert_string_equal(listed[0].kind.c_str(), "terminal");
    assert_false(env.a->trusted_device(id, "dev-2", kNow).has_value());

    // Past its end a device is not trusted, nor listed.
    assert_false(env.a->trusted_device(id, "dev-3", kNow + 1000).has_value());
    assert_true(env.a->devices(id, kNow + 1000).empty());

    // Trusting one anew extends it; expired ones go when another is trusted.
    env.a->trust_device(id, {0, "dev-1", "address", "one", kNow + 2000, kNow + 2000, kNow + 5000},
                        2);
    listed = env.a->devices(id, 0);
    assert_int_equal(listed.size(), 1);
    assert_string_equal(listed[0].device.c_str(), "dev-1");
    assert_int_equal(listed[0].expires_at, kNow + 5000);

    env.a->trust_device(id, {0, "dev-4", "address", "", kNow + 2001, kNow + 2001, kNow + 5000}, 2);
    assert_int_equal(env.b->forget_devices(id, env.a->trusted_device(id, "dev-4", kNow)->id), 1);
    assert_int_equal(env.b->forget_devices(id, std::nullopt), 1);
    assert_true(env.a->devices(id, 0).empty());
}

void history_keeps_the_newest_entries_with_their_server(void**)
{
    const auto id = account(*env.a, "lea");
    for (int i = 0; i < 7; ++i)
        (i % 2 ? env.b : env.a)
            ->record_history(id, entry(kNow + i, "login-" + std::to_string(i)), 5);

    const auto kept = env.a->history(id);
    assert_int_equal(kept.size(), 5);
    assert_string_equal(kept[0].event.c_str(), "login-6");
    assert_string_equal(kept[4].event.c_str(), "login-2");
    assert_int_equal(kept[0].at, kNow + 6);
    assert_string_equal(kept[0].service.c_str(), "sshd");
    assert_string_equal(kept[0].source.c_str(), "198.51.100.7");
    assert_string_equal(kept[0].detail.c_str(), "code");
    assert_string_equal(kept[0].country.c_str(), "NL");
    assert_string_equal(kept[0].client.c_str(), "sshd publickey");
    assert_true(kept[0].unusual);
    assert_true(kept[0].verified);

    // In a fleet each entry says which server recorded it; SQLite has one server only.
    assert_string_equal(kept[0].server.c_str(), postgres() ? "server-a" : "");
    assert_string_equal(kept[1].server.c_str(), postgres() ? "server-b" : "");

    auto explicit_server = entry(kNow + 8, "password-changed");
    explicit_server.unusual = false;
    explicit_server.verified = false;
    explicit_server.server = "named-here";
    env.a->record_history(id, explicit_server, 5);
    const auto newest = env.b->history(id).front();
    assert_false(newest.unusual);
    assert_false(newest.verified);
    if (postgres())
        assert_string_equal(newest.server.c_str(), "named-here");
}

void the_outbox_is_bounded_and_retried(void**)
{
    const auto id = account(*env.a, "max");
    const auto other = account(*env.a, "nia");
    assert_int_equal(env.a->outbox_size(), 0);
    for (int i = 0; i < 5; ++i) {
        const OutboxMail mail{
            0, id, "max@studio.example", "mail " + std::to_string(i), kNow + i, kNow + i, 0};
        env.a->record_history(id, entry(kNow + i, "login"), 50, &mail, 3);
    }
    const OutboxMail to_nia{0, other, "nia@studio.example", "for nia", kNow, kNow + 100, 0};
    env.b->record_history(other, entry(kNow, "login"), 50, &to_nia, 3);
    // The account's oldest mails beyond the bound were dropped; the other account's stays.
    assert_int_equal(env.a->outbox_size(), 4);

    assert_false(env.a->next_mail(kNow + 1).has_value());
    auto due = env.a->next_mail(kNow + 10);
    assert_true(due.has_value());
    assert_string_equal(due->message.c_str(), "mail 2");
    assert_string_equal(due->recipient.c_str(), "max@studio.example");
    assert_int_equal(due->account, id);
    assert_int_equal(due->created_at, kNow + 2);
    assert_int_equal(due->attempts, 0);

    env.a->mail_failed(due->id, kNow + 500);
    env.a->mail_sent(env.a->next_mail(kNow + 10)->id);  // mail 3
    env.a->mail_sent(env.a->next_mail(kNow + 10)->id);  // mail 4
    assert_false(env.a->next_mail(kNow + 10).has_value());

    // After a restart, every waiting mail is due at once.
    env.b->mail_due_by(kNow + 20);
    auto first = env.a->next_mail(kNow + 20);
    assert_true(first.has_value());
    assert_string_equal(first->message.c_str(), "mail 2");
    assert_int_equal(first->attempts, 1);
    env.a->mail_sent(first->id);
    auto second = env.a->next_mail(kNow + 20);
    assert_true(second.has_value());
    assert_string_equal(second->message.c_str(), "for nia");
    env.a->mail_sent(second->id);
    assert_int_equal(env.b->outbox_size(), 0);
}

void a_mail_is_handed_to_one_server_only(void**)
{
    if (!postgres())
        skip();  // one SQLite daemon has nobody to share its outbox with
    const auto id = account(*env.a, "ola");
    const OutboxMail mail{0, id, "ola@studio.example", "once", kNow, kNow, 0};
    env.a->record_history(id, entry(kNow, "login"), 50, &mail, 3);

    const auto taken = env.a->next_mail(kNow);
    assert_true(taken.has_value());
    assert_false(env.b->next_mail(kNow).has_value());
    assert_false(env.a->next_mail(kNow + 60).has_value());
    // A restart of the other server does not take the claim away.
    env.b->mail_due_by(kNow + 60);
    assert_false(env.b->next_mail(kNow + 60).has_value());

    // A failed attempt gives the mail up; any server may retry it when it is due.
    env.a->mail_failed(taken->id, kNow + 120);
    assert_false(env.b->next_mail(kNow + 60).has_value());
    const auto retried = env.b->next_mail(kNow + 120);
    assert_true(retried.has_value());
    assert_int_equal(retried->id, taken->id);
    env.b->mail_sent(retried->id);

    // A server that died while sending loses its claim after a while.
    env.a->record_history(id, entry(kNow, "login"), 50, &mail, 3);
    assert_true(env.a->next_mail(kNow).has_value());
    assert_false(env.b->next_mail(kNow + 600).has_value());
    const auto orphan = env.b->next_mail(kNow + 3600);
    assert_true(orphan.has_value());
    env.b->mail_sent(orphan->id);
}

void account_settings_are_kept_per_account(void**)
{
    const auto id = account(*env.a, "pia");
    const auto other = account(*env.a, "quin");
    assert_string_equal(env.a->alert_address(id).c_str(), "");
    assert_string_equal(env.a->last_country(id).c_str(), "");
    assert_string_equal(env.a->shadow_digest(id).c_str(), "");
    assert_int_equal(env.a->drift(id).offset, 0);

    env.a->set_alert_address(id, "pia@studio.example");
    env.a->set_last_country(id, "DE");
    env.a->set_shadow_digest(id, "digest-of-pia");
    env.a->set_drift(id, {-3, 2, kNow});

    assert_string_equal(env.b->alert_address(id).c_str(), "pia@studio.example");
    assert_string_equal(env.b->last_country(id).c_str(), "DE");
    // The digest of the password hash is what each server saw in its own shadow file: shared
    // with the other connection to one SQLite file, kept per server in a fleet (docs/fleet.md).
    assert_string_equal(env.a->shadow_digest(id).c_str(), "digest-of-pia");
    assert_string_equal(env.b->shadow_digest(id).c_str(), postgres() ? "" : "digest-of-pia");
    if (postgres()) {
        env.b->set_shadow_digest(id, "digest-of-pia-at-b");
        assert_string_equal(env.a->shadow_digest(id).c_str(), "digest-of-pia");
        assert_string_equal(env.b->shadow_digest(id).c_str(), "digest-of-pia-at-b");
    }
    const auto drift = env.b->drift(id);
    assert_int_equal(drift.offset, -3);
    assert_int_equal(drift.seen, 2);
    assert_int_equal(drift.at, kNow);

    assert_string_equal(env.b->alert_address(other).c_str(), "");
    assert_string_equal(env.b->last_country(other).c_str(), "");
    assert_string_equal(env.b->shadow_digest(other).c_str(), "");
    assert_int_equal(env.b->drift(other).seen, 0);
}

void mode_changes_and_disabling_removes_everything(void**)
{
    const auto id = enrolled("rex");
    env.a->set_mode(id, VerificationMode::NewDevice);
    assert_int_equal(static_cast<int>(env.b->active_enrolment(id)->mode),
                     static_cast<int>(VerificationMode::NewDevice));

    env.a->trust_device(id, {0, "dev", "address", "", kNow, kNow, kNow + 1000}, 20);
    env.a->burn_step(id, 500);
    env.a->save_pending_enrolment(id,
                                  {bytes("next-secret-00000000"), VerificationMode::Always, kNow});
    env.b->delete_enrolment(id);

    assert_false(env.a->active_enrolment(id).has_value());
    assert_false(env.a->pending_enrolment(id).has_value());
    assert_true(env.a->unused_recovery_codes(id).empty());
    assert_true(env.a->devices(id, kNow).empty());
    // Enrolled again, the burned step of the old secret no longer counts.
    env.a->save_pending_enrolment(id,
                                  {bytes("next-secret-00000000"), VerificationMode::Always, kNow});
    assert_true(env.a->activate_enrolment(id, 400, ten_hashes("rex2-"), kNow));
    assert_true(advance(*env.a, id, 500));
}

std::string hex(const std::string& text)
{
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (const unsigned char c : text) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::string file_text(const std::string& path)
{
    std::ifstream file(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

void secrets_are_sealed_and_bound_to_their_account(void**)
{
    const std::string canary = "CANARY-SECRET-0xF00D";
    const auto id = enrolled("sam", canary);
    const auto other = enrolled("tia");
    const auto pending_only = account(*env.a, "uma");
    env.a->save_pending_enrolment(pending_only, {bytes(canary), VerificationMode::Always, kNow});

    if (postgres()) {
        const auto stored = raw_sql("SELECT string_agg(encode(secret, 'hex'), ',') FROM "
                                    "(SELECT secret FROM enrolments UNION ALL "
                                    "SELECT secret FROM pending_enrolments) s");
        assert_false(stored.empty());
        assert_true(stored.find(hex(canary)) == std::string::npos);
    } else {
        const auto all = file_text(env.target) + file_text(env.target + "-wal");
        assert_true(all.size() > 0);
        assert_true(all.find(canary) == std::string::npos);
    }
    assert_true(env.b->active_enrolment(id)->secret == bytes(canary));

    // A sealed secret copied into another account's row does not open there: the store fails
    // (closed) rather than hand out a secret that is not this account's.
    raw_sql("UPDATE enrolments SET secret = (SELECT secret FROM enrolments WHERE account_id = " +
            std::to_string(id) + ") WHERE account_id = " + std::to_string(other));
    bool refused = false;
    try {
        (void)env.a->active_enrolment(other);
    } catch (const StoreError&) {
        refused = true;
    }
    assert_true(refused);
    env.a->delete_enrolment(other);
}

void a_newer_schema_is_refused(void**)
{
    const bool pg = postgres();
    const int current = pg ? PostgresStore::schema_version() : SqliteStore::schema_version();
    const std::string version =
        raw_sql(pg ? "SELECT version FROM fotoauthd_schema" : "PRAGMA user_version");
    assert_int_equal(std::atoi(version.c_str()), current);

    raw_sql(pg ? "UPDATE fotoauthd_schema SET version = 99" : "PRAGMA user_version = 99");
    bool refused = false;
    try {
        (void)open_store("server-c");
    } catch (const StoreError& error) {
        refused = std::string(error.what()).find("newer") != std::string::npos;
    }
    raw_sql((pg ? "UPDATE fotoauthd_schema SET version = " : "PRAGMA user_version = ") +
            std::to_string(current));
    assert_true(refused);
    (void)open_store("server-c");  // the right version opens again
}

void a_connection_the_server_ended_is_opened_again_before_the_next_call(void**)
{
    if (!postgres())
        skip();  // SQLite has no connection to lose
    const auto id = enrolled("vic");
    (void)env.a->drift(id);
    // Waits until the sessions are gone (PostgreSQL 14 and newer wait up to the timeout).
    raw_sql("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            "WHERE application_name = 'fotoauthd' AND pid <> pg_backend_pid()");

    // The server ended the sessions while the stores were idle: each store notices before it
    // sends anything and connects again, so not even the next call fails.
    for (Store* store : {env.a.get(), env.b.get()})
        assert_true(store->active_enrolment(id).has_value());
    assert_true(advance(*env.b, id, 300));
    assert_int_equal(env.a->active_enrolment(id)->last_step, 300);
}

void a_slow_database_fails_the_call_within_the_deadline(void**)
{
    if (!postgres())
        skip();  // SQLite's own busy timeout is the daemon's business (sqlite_store.cpp)
    const auto id = enrolled("wes");
    PGconn* holder = PQconnectdb(env.target.c_str());
    assert_int_equal(PQstatus(holder), CONNECTION_OK);
    PQclear(PQexec(holder, "BEGIN"));
    PGresult* held =
        PQexec(holder,
               ("SELECT 1 FROM enrolments WHERE account_id = " + std::to_string(id) + " FOR UPDATE")
                   .c_str());
    assert_int_equal(PQresultStatus(held), PGRES_TUPLES_OK);
    PQclear(held);

    const auto started = std::chrono::steady_clock::now();
    bool failed = false;
    try {
        (void)advance(*env.a, id, 120);
    } catch (const StoreError&) {
        failed = true;
    }
    const auto took = std::chrono::steady_clock::now() - started;
    PQclear(PQexec(holder, "ROLLBACK"));
    PQfinish(holder);

    assert_true(failed);
    assert_true(took < std::chrono::milliseconds(3000));
    // Nothing was half done: the step is still free once the lock is gone.
    assert_true(advance(*env.a, id, 120));
}

// What a request asks about an account after looking it up (the PostgreSQL store reads it all
// with the lookup): the rows as they were when the request began, and then its own writes.
void a_request_reads_the_account_as_it_is_and_then_its_own_writes(void**)
{
    const auto id = enrolled("reader");
    const AccountKey key{"reader", 2000, true};
    // Written through the other server before the request.
    assert_true(advance(*env.b, id, 150));
    env.b->set_drift(id, {2, 3, kNow});
    assert_true(env.b->spend_recovery_code(env.b->unused_recovery_codes(id).front().id, kNow));

    env.a->begin_request();
    assert_true(env.a->account_for(key, kNow, false) == std::optional<std::int64_t>(id));
    auto enrolment = env.a->active_enrolment(id);
    assert_true(enrolment.has_value());
    assert_int_equal(enrolment->last_step, 150);
    assert_true(enrolment->secret == bytes("12345678901234567890"));
    assert_int_equal(env.a->drift(id).offset, 2);
    assert_int_equal(env.a->count_unused_recovery_codes(id), 9);

    // Its own writes are seen by what it asks next.
    assert_false(advance(*env.a, id, 150));
    assert_true(advance(*env.a, id, 151));
    assert_int_equal(env.a->active_enrolment(id)->last_step, 151);
    assert_true(env.a->spend_recovery_code(env.a->unused_recovery_codes(id).front().id, kNow));
    assert_int_equal(env.a->count_unused_recovery_codes(id), 8);
    env.a->set_drift(id, {0, 0, 0});
    assert_int_equal(env.a->drift(id).seen, 0);
    env.a->end_request(true);

    // Once the request is over nothing it read stands in for the rows.
    assert_true(advance(*env.b, id, 160));
    assert_int_equal(env.a->active_enrolment(id)->last_step, 160);
    env.b->delete_enrolment(id);
    env.a->begin_request();
    assert_true(env.a->account_for(key, kNow, false) == std::optional<std::int64_t>(id));
    assert_false(env.a->active_enrolment(id).has_value());
    assert_int_equal(env.a->count_unused_recovery_codes(id), 0);
    env.a->end_request(true);
}

// ---- Rate limits and locks shared by a fleet, on the database's clock (shared_limits.hpp) ----

// A lock running when a request begins, or started in it, is seen by the request.
void a_request_sees_the_locks_running_before_it_and_its_own(void**)
{
    if (!postgres())
        skip();
    const auto id = enrolled("locked-reader");
    const AccountKey key{"locked-reader", 2000, true};
    SharedLimits& a = *env.a->shared_limits();
    SharedLimits& b = *env.b->shared_limits();

    env.a->begin_request();
    assert_true(env.a->account_for(key, kNow, false).has_value());
    assert_false(a.running_lock(id, "password", 3600).has_value());
    (void)a.start_lock(id, "password", 3600, 5);
    assert_true(a.running_lock(id, "password", 3600).has_value());
    env.a->end_request(true);

    env.b->begin_request();
    assert_true(env.b->account_for(key, kNow, false).has_value());
    const auto seen = b.running_lock(id, "password", 3600);
    assert_true(seen.has_value());
    assert_int_equal(seen->failures, 5);
    assert_false(b.running_lock(id, "console", 3600).has_value());
    env.b->end_request(true);
}

// The database's own clock, in unix seconds.
std::int64_t database_now()
{
    return std::stoll(raw_sql("SELECT floor(extract(epoch FROM clock_timestamp()))::bigint"));
}

// The counts two servers saw for attempts on one key: together, every count from 1 up exactly
// once, so that exactly one of them saw the attempt that filled the window.
void assert_every_count_seen_once(const std::vector<std::int64_t>& seen_a,
                                  const std::vector<std::int64_t>& seen_b)
{
    std::vector<std::int64_t> all = seen_a;
    all.insert(all.end(), seen_b.begin(), seen_b.end());
    std::sort(all.begin(), all.end());
    for (std::size_t i = 0; i < all.size(); ++i)
        assert_int_equal(all[i], static_cast<std::int64_t>(i + 1));
}

void attempts_from_two_daemons_add_up_exactly(void**)
{
    // One SQLite daemon counts in its own memory (brute_force.cpp): nothing is shared.
    if (!postgres()) {
        assert_null(env.a->shared_limits());
        skip();
    }
    SharedLimits& a = *env.a->shared_limits();
    SharedLimits& b = *env.b->shared_limits();
    const WindowSpec spec{"code", 40, 600'000};

    // Twenty attempts through each server at the same time: every count from 1 to 40 is seen
    // exactly once, so exactly one server sees the attempt that fills the window.
    std::vector<std::int64_t> seen_a, seen_b;
    at_once(
        [&] {
            for (int i = 0; i < 20; ++i)
                seen_a.push_back(a.record_attempt(spec, "7\tpassword", ""));
        },
        [&] {
            for (int i = 0; i < 20; ++i)
                seen_b.push_back(b.record_attempt(spec, "7\tpassword", ""));
        });
    assert_every_count_seen_once(seen_a, seen_b);

    // Full now, for both servers, for at most one window; more attempts are not kept.
    const auto wait = b.wait_ms(spec, "7\tpassword");
    assert_true(wait > 590'000 && wait <= 600'000);
    assert_int_equal(a.record_attempt(spec, "7\tpassword", ""), 40);
    assert_string_equal(raw_sql("SELECT count(*) FROM attempts WHERE key = '7\tpassword'").c_str(),
                        "40");
    assert_int_equal(a.wait_ms(spec, "8\tpassword"), 0);
}

void a_window_frees_itself_and_is_cleared_by_key_or_prefix(void**)
{
    if (!postgres())
        skip();
    SharedLimits& a = *env.a->shared_limits();
    SharedLimits& b = *env.b->shared_limits();
    const WindowSpec short_window{"login-source", 2, 1'000};
    assert_int_equal(a.record_attempt(short_window, "198.51.100.9", "198.51.100.9"), 1);
    assert_int_equal(b.record_attempt(short_window, "198.51.100.9", "198.51.100.9"), 2);
    const auto wait = a.wait_ms(short_window, "198.51.100.9");
    assert_true(wait > 0 && wait <= 1'000);
    const auto full = b.full_windows(short_window);
    assert_int_equal(full.size(), 1);
    assert_string_equal(full[0].key.c_str(), "198.51.100.9");
    assert_int_equal(full[0].attempts, 2);
    assert_true(full[0].free_at >= database_now() && full[0].free_at <= database_now() + 2);
    std::this_thread::sleep_for(std::chrono::milliseconds(1'100));
    assert_int_equal(a.wait_ms(short_window, "198.51.100.9"), 0);
    assert_true(b.full_windows(short_window).empty());
    assert_int_equal(a.record_attempt(short_window, "198.51.100.9", "198.51.100.9"), 1);

    // Root's unlock clears every channel of an account (a prefix); unblock one source (a key).
    const WindowSpec codes{"code", 3, 600'000};
    for (const char* key : {"9\tpassword", "9\tkey:ssh-ed25519 AAAA", "90\tpassword"})
        (void)a.record_attempt(codes, key, "");
    assert_int_equal(b.clear_attempts(codes, "9\t", true), 2);
    assert_int_equal(a.wait_ms(codes, "9\tpassword"), 0);
    assert_string_equal(raw_sql("SELECT count(*) FROM attempts WHERE window_name = 'code' "
                                "AND key = '90\tpassword'")
                            .c_str(),
                        "1");
    assert_int_equal(b.clear_attempts(short_window, "198.51.100.9", false), 1);
    assert_int_equal(b.clear_attempts(short_window, "198.51.100.9", false), 0);
}

void expired_attempts_are_removed_in_batches_and_only_they(void**)
{
    if (!postgres())
        skip();
    SharedLimits& a = *env.a->shared_limits();
    SharedLimits& b = *env.b->shared_limits();
    const WindowSpec short_window{"login-user", 10, 1'000};
    const WindowSpec long_window{"code", 10, 600'000};
    for (int i = 0; i < 3; ++i)
        (void)a.record_attempt(short_window, "erin\tpassword", "erin");
    (void)a.record_attempt(long_window, "12\tpassword", "");
    std::this_thread::sleep_for(std::chrono::milliseconds(1'100));
    (void)b.record_attempt(short_window, "erin\tpassword", "erin");  // inside its window

    // A minute's margin: none of these left their window that long ago.
    assert_int_equal(b.forget_expired(short_window, 60'000, 100), 0);
    // Without the margin the three old ones go, at most `most` at a time; the new one stays.
    assert_int_equal(b.forget_expired(short_window, 0, 2), 2);
    assert_int_equal(a.forget_expired(short_window, 0, 100), 1);
    assert_int_equal(a.forget_expired(short_window, 0, 100), 0);
    assert_string_equal(raw_sql("SELECT count(*) FROM attempts WHERE window_name = 'login-user' "
                                "AND key = 'erin\tpassword'")
                            .c_str(),
                        "1");
    assert_int_equal(a.wait_ms(short_window, "erin\tpassword"), 0);
    // Another window's attempts are not touched.
    assert_int_equal(a.forget_expired(long_window, 0, 100), 0);
    assert_string_equal(
        raw_sql("SELECT count(*) FROM attempts WHERE window_name = 'code' AND key = '12\tpassword'")
            .c_str(),
        "1");
}

void an_admission_counts_in_every_window_or_in_none(void**)
{
    if (!postgres())
        skip();
    SharedLimits& a = *env.a->shared_limits();
    SharedLimits& b = *env.b->shared_limits();
    const WindowSpec source{"login-source", 3, 600'000};
    const WindowSpec user{"login-user", 2, 600'000};
    const auto count_of = [](const std::string& window, const std::string& key) {
        return std::stoll(raw_sql("SELECT count(*) FROM attempts WHERE window_name = '" + window +
                                  "' AND key = '" + key + "'"));
    };

    // Counted in both windows, through either server.
    auto admitted =
        a.admit({{source, "198.51.100.4", "198.51.100.4"}, {user, "ann\tpassword", "ann"}});
    assert_false(admitted.full.has_value());
    assert_true(admitted.counts == std::vector<std::int64_t>({1, 1}));
    admitted = b.admit({{source, "198.51.100.4", "198.51.100.4"}, {user, "ann\tpassword", "ann"}});
    assert_true(admitted.counts == std::vector<std::int64_t>({2, 2}));

    // Ann's window is full: refused with its wait, and counted in neither window.
    admitted = a.admit({{source, "198.51.100.4", "198.51.100.4"}, {user, "ann\tpassword", "ann"}});
    assert_true(admitted.full == std::optional<std::size_t>(1));
    assert_true(admitted.wait_ms > 590'000 && admitted.wait_ms <= 600'000);
    assert_true(admitted.counts.empty());
    assert_int_equal(count_of("login-source", "198.51.100.4"), 2);
    assert_int_equal(count_of("login-user", "ann\tpassword"), 2);

    // Another name from the same address fills the address's window; the next is refused by it.
    admitted = b.admit({{source, "198.51.100.4", "198.51.100.4"}, {user, "bob\tpassword", "bob"}});
    assert_true(admitted.counts == std::vector<std::int64_t>({3, 1}));
    admitted = a.admit({{source, "198.51.100.4", "198.51.100.4"}, {user, "cy\tpassword", "cy"}});
    assert_true(admitted.full == std::optional<std::size_t>(0));
    assert_int_equal(count_of("login-user", "cy\tpassword"), 0);

    // One window alone; a window without a limit is never full.
    admitted = a.admit({{user, "dee\tpassword", "dee"}});
    assert_true(admitted.counts == std::vector<std::int64_t>({1}));
    const WindowSpec unlimited{"login-user", 0, 600'000};
    for (int i = 0; i < 3; ++i)
        assert_false(a.admit({{unlimited, "eve\tpassword", "eve"}}).full.has_value());

    // Admissions racing through both servers add up exactly, as single counts do.
    const WindowSpec wide{"login-user", 40, 600'000};
    std::vector<std::int64_t> seen_a, seen_b;
    at_once(
        [&] {
            for (int i = 0; i < 20; ++i)
                seen_a.push_back(a.admit({{wide, "fay\tpassword", "fay"}}).counts.at(0));
        },
        [&] {
            for (int i = 0; i < 20; ++i)
                seen_b.push_back(b.admit({{wide, "fay\tpassword", "fay"}}).counts.at(0));
        });
    assert_every_count_seen_once(seen_a, seen_b);
    assert_true(a.admit({{wide, "fay\tpassword", "fay"}}).full.has_value());
}

// What a request says it will ask the limits after reading its account (ReadAhead) is answered
// in the reading's statement: the same answers as asking afterwards, an attempt counted once,
// nothing counted while a lock of the enrolled account runs, and a wait read again once the
// request has counted.
void a_read_ahead_answers_as_the_limits_would_and_counts_once(void**)
{
    if (!postgres())
        skip();
    SharedLimits& a = *env.a->shared_limits();
    SharedLimits& b = *env.b->shared_limits();
    const auto id = enrolled("ahead");
    const AccountKey key{"ahead", 2000, true};
    const WindowSpec source{"login-source", 5, 600'000};
    const WindowSpec user{"login-user", 2, 600'000};
    const std::vector<WindowAttempt> login{{source, "198.51.100.9", "198.51.100.9"},
                                           {user, "ahead\tpassword", "ahead"}};
    const auto count_of = [](const std::string& window, const std::string& key_text) {
        return std::stoll(raw_sql("SELECT count(*) FROM attempts WHERE window_name = '" + window +
                                  "' AND key = '" + key_text + "'"));
    };
    const auto request = [&](Store& store, SharedLimits& limits, ReadAhead ahead,
                             const AccountKey& whom) {
        store.begin_request();
        limits.read_ahead(std::move(ahead));
        auto found = store.account_for(whom, kNow, false);
        return found;
    };

    // Counted by the reading itself, and admit() then takes that count instead of counting again.
    assert_true(request(*env.a, a, {std::nullopt, {}, login}, key) ==
                std::optional<std::int64_t>(id));
    assert_int_equal(count_of("login-user", "ahead\tpassword"), 1);
    auto admitted = a.admit(login);
    assert_true(admitted.counts == std::vector<std::int64_t>({1, 1}));
    env.a->end_request(true);
    assert_int_equal(count_of("login-user", "ahead\tpassword"), 1);
    assert_int_equal(count_of("login-source", "198.51.100.9"), 1);

    // Through the other server, counting on; then the user's window is full: refused with its
    // wait, counted nowhere.
    (void)request(*env.b, b, {std::nullopt, {}, login}, key);
    assert_true(b.admit(login).counts == std::vector<std::int64_t>({2, 2}));
    env.b->end_request(true);
    (void)request(*env.a, a, {std::nullopt, {}, login}, key);
    admitted = a.admit(login);
    assert_true(admitted.full == std::optional<std::size_t>(1));
    assert_true(admitted.wait_ms > 590'000 && admitted.wait_ms <= 600'000);
    env.a->end_request(true);
    assert_int_equal(count_of("login-source", "198.51.100.9"), 2);

    // A name no account has is counted all the same.
    const std::vector<WindowAttempt> stranger{{user, "nobody-ahead\tpassword", "nobody-ahead"}};
    assert_false(
        request(*env.a, a, {std::nullopt, {}, stranger}, {"nobody-ahead", 2001, true}).has_value());
    assert_true(a.admit(stranger).counts == std::vector<std::int64_t>({1}));
    env.a->end_request(true);
    assert_int_equal(count_of("login-user", "nobody-ahead\tpassword"), 1);

    // While a lock of the enrolled account runs, the reading counts nothing: the request asks
    // which lock runs and, when it is another channel's, counts once by itself.
    (void)b.start_lock(id, "console", 3600, 5);
    const std::vector<WindowAttempt> other{{user, "ahead\tkey:ssh-ed25519 AAAA", "ahead (key)"}};
    (void)request(*env.a, a, {std::nullopt, {}, other}, key);
    assert_int_equal(count_of("login-user", "ahead\tkey:ssh-ed25519 AAAA"), 0);
    assert_false(a.running_lock(id, "key:ssh-ed25519 AAAA", 3600).has_value());
    assert_true(a.admit(other).counts == std::vector<std::int64_t>({1}));
    env.a->end_request(true);
    assert_int_equal(count_of("login-user", "ahead\tkey:ssh-ed25519 AAAA"), 1);
    (void)env.a->delete_locks(id);

    // The wait of the account's wrong-code window, read with the account: as wait_ms() answers.
    const WindowSpec codes{"code", 3, 600'000};
    const std::string code_key = std::to_string(id) + "\tpassword";
    (void)b.record_attempt(codes, code_key, {});
    (void)b.record_attempt(codes, code_key, {});
    (void)request(*env.a, a, {codes, "\tpassword", {}}, key);
    assert_int_equal(a.wait_ms(codes, code_key), 0);
    // The request's own count makes it ask again: the window is full now.
    assert_int_equal(a.record_attempt(codes, code_key, {}), 3);
    const auto wait = a.wait_ms(codes, code_key);
    assert_true(wait > 590'000 && wait <= 600'000);
    env.a->end_request(true);
    (void)request(*env.b, b, {codes, "\tpassword", {}}, key);
    const auto read = b.wait_ms(codes, code_key);
    assert_true(read > 590'000 && read <= 600'000);
    // Another channel's window is asked as before.
    assert_int_equal(b.wait_ms(codes, std::to_string(id) + "\tconsole"), 0);
    env.b->end_request(true);

    // The same name with another uid is not that account (the request retires it, as any
    // lookup does): a lock of the old account holds nothing back.
    (void)b.start_lock(id, "console", 3600, 5);
    const std::vector<WindowAttempt> impostor{{user, "ahead\tconsole", "ahead"}};
    assert_false(
        request(*env.a, a, {std::nullopt, {}, impostor}, {"ahead", 2999, true}).has_value());
    assert_int_equal(count_of("login-user", "ahead\tconsole"), 1);
    assert_true(a.admit(impostor).counts == std::vector<std::int64_t>({1}));
    env.a->end_request(true);
    assert_int_equal(count_of("login-user", "ahead\tconsole"), 1);
}

// A login's AuthQuery keeps its reading for the AuthVerify on the same connection
// (Store::keep_reading()): the later request sees the secret as read, and its single use,
// checked against a lock and the code window in the same statement, decides on the rows as they
// are now, whatever another server did in between.
void a_kept_reading_serves_a_later_request_and_its_use_decides_on_current_rows(void**)
{
    if (!postgres())
        skip();
    SharedLimits& a = *env.a->shared_limits();
    SharedLimits& b = *env.b->shared_limits();
    const auto id = enrolled("keeper");
    const AccountKey key{"keeper", 2000, true};
    const WindowSpec codes{"code", 3, 600'000};
    const auto hold = [&](const std::string& channel) {
        return StepHold{channel, codes, std::to_string(id) + "\t" + channel};
    };
    const auto last_step = [&] {
        return std::stoll(
            raw_sql("SELECT last_step FROM enrolments WHERE account_id = " + std::to_string(id)));
    };

    // Nothing to keep without a reading of the account in the request.
    env.a->begin_request();
    assert_null(env.a->keep_reading(id).get());
    assert_true(env.a->account_for(key, kNow, false) == std::optional<std::int64_t>(id));
    const auto kept = env.a->keep_reading(id);
    assert_non_null(kept.get());
    assert_null(env.a->keep_reading(id + 1000).get());
    env.a->end_request(true);
    const std::int64_t since = env.a->active_enrolment(id)->active_since;

    // Another server uses step 150 and a recovery code, and the phone's drift is recorded.
    assert_true(advance(*env.b, id, 150));
    assert_true(env.b->spend_recovery_code(env.b->unused_recovery_codes(id).front().id, kNow));
    env.b->set_drift(id, {2, 3, kNow});

    env.a->begin_request();
    assert_true(env.a->resume_reading(*kept));
    auto enrolment = env.a->active_enrolment(id);
    assert_true(enrolment.has_value());
    assert_true(enrolment->secret == bytes("12345678901234567890"));
    assert_int_equal(enrolment->last_step, 100);  // as the query read it
    // A step the other server passed already is not recorded, whatever the reading said.
    assert_true(a.advance_last_step_unless_held(id, since, 140, hold("password")) ==
                StepUse::NotUsed);
    assert_int_equal(last_step(), 150);
    assert_true(a.advance_last_step_unless_held(id, since, 160, hold("password")) == StepUse::Used);
    assert_int_equal(last_step(), 160);
    // After the use the request sees the rows as the statement read them.
    assert_int_equal(env.a->active_enrolment(id)->last_step, 160);
    assert_int_equal(env.a->count_unused_recovery_codes(id), 9);
    assert_int_equal(env.a->drift(id).seen, 3);
    env.a->end_request(true);

    // A lock started through the other server holds its channel, and only that one. The
    // request asks the database whether a lock runs, whatever the kept reading saw.
    (void)b.start_lock(id, "password", 3600, 5);
    env.a->begin_request();
    assert_true(env.a->resume_reading(*kept));
    assert_true(a.running_lock(id, "password", 3600).has_value());
    assert_true(a.advance_last_step_unless_held(id, since, 170, hold("password")) == StepUse::Held);
    assert_int_equal(last_step(), 160);
    assert_true(a.advance_last_step_unless_held(id, since, 170, hold("key:SHA256:x")) ==
                StepUse::Used);
    env.a->end_request(true);

    // A full code window holds its channel; an unlimited window holds nothing.
    for (int i = 0; i < 3; ++i)
        (void)b.record_attempt(codes, std::to_string(id) + "\tconsole", "");
    env.a->begin_request();
    assert_true(env.a->resume_reading(*kept));
    assert_true(a.advance_last_step_unless_held(id, since, 180, hold("console")) == StepUse::Held);
    StepHold unlimited = hold("console");
    unlimited.window.attempts = 0;
    assert_true(a.advance_last_step_unless_held(id, since, 180, unlimited) == StepUse::Used);
    assert_int_equal(last_step(), 180);
    env.a->end_request(true);

    // Enrolled again through the other server: a code of the kept, old enrolment is not
    // recorded against the new one.
    env.b->save_pending_enrolment(
        id, {bytes("another secret 12345"), VerificationMode::Always, kNow + 60});
    assert_true(env.b->activate_enrolment(id, 100, ten_hashes("keeper-new-"), kNow + 60));
    env.a->begin_request();
    assert_true(env.a->resume_reading(*kept));
    assert_true(a.advance_last_step_unless_held(id, since, 190, hold("key:SHA256:x")) ==
                StepUse::NotUsed);
    assert_int_equal(last_step(), 100);
    // Reading the account again ends the resumed reading: the request sees the new secret.
    assert_true(env.a->account_for(key, kNow, false) == std::optional<std::int64_t>(id));
    assert_true(env.a->active_enrolment(id)->secret == bytes("another secret 12345"));
    env.a->end_request(true);

    // Outside a request nothing is resumed.
    assert_false(env.a->resume_reading(*kept));
}

void a_lock_holds_on_every_server_on_the_database_clock(void**)
{
    if (!postgres())
        skip();
    SharedLimits& a = *env.a->shared_limits();
    SharedLimits& b = *env.b->shared_limits();
    const auto id = account(*env.a, "lockee");
    assert_false(b.running_lock(id, "password", 3600).has_value());

    const auto until = a.start_lock(id, "password", 3600, 5);
    const auto now = database_now();
    assert_true(until >= now + 3599 && until <= now + 3601);
    const auto seen = b.running_lock(id, "password", 3600);
    assert_true(seen.has_value());
    assert_int_equal(seen->locked_until, until);
    assert_string_equal(seen->name.c_str(), "lockee");
    assert_false(b.running_lock(id, "console", 3600).has_value());

    // Refusals counted by both servers add up.
    at_once(
        [&] {
            for (int i = 0; i < 10; ++i)
                a.count_lock_refusal(id, "password");
        },
        [&] {
            for (int i = 0; i < 10; ++i)
                b.count_lock_refusal(id, "password");
        });
    assert_int_equal(b.running_lock(id, "password", 3600)->failures, 25);
    const auto listed = a.running_locks();
    assert_true(std::any_of(listed.begin(), listed.end(), [&](const StoredLock& lock) {
        return lock.account == id && lock.name == "lockee" && lock.failures == 25;
    }));

    // A lock written while the database's clock ran a day ahead is cut to its length.
    raw_sql("UPDATE locks SET locked_until = locked_until + 86400 WHERE account_id = " +
            std::to_string(id));
    const auto cut = b.running_lock(id, "password", 3600);
    assert_true(cut.has_value() && cut->locked_until <= database_now() + 3600);
    assert_int_equal(std::stoll(raw_sql("SELECT locked_until FROM locks WHERE account_id = " +
                                        std::to_string(id))),
                     cut->locked_until);

    // An unlock through either server clears it for both.
    assert_int_equal(env.b->delete_locks(id), 1);
    assert_false(a.running_lock(id, "password", 3600).has_value());

    // An ended lock holds nobody and leaves the listing.
    (void)a.start_lock(id, "password", 1, 5);
    std::this_thread::sleep_for(std::chrono::milliseconds(2'100));
    assert_false(b.running_lock(id, "password", 3600).has_value());
    const auto after = a.running_locks();
    assert_true(std::none_of(after.begin(), after.end(),
                             [&](const StoredLock& lock) { return lock.account == id; }));
}

// Rotating the secrets key (docs/secrets.md): a store holding the new key and the old one opens
// every secret, reseals each once with the new key, and the old key alone opens none after.
void a_new_key_reseals_every_secret_once(void**)
{
    const std::string secret = "ROTATE-ME-0123456789";
    const auto id = enrolled("rex", secret);
    const auto waiting = account(*env.a, "roz");
    env.a->save_pending_enrolment(waiting, {bytes(secret), VerificationMode::Always, kNow});
    const auto total =
        static_cast<std::size_t>(std::stoll(raw_sql("SELECT (SELECT count(*) FROM enrolments) + "
                                                    "(SELECT count(*) FROM pending_enrolments)")));

    const std::vector<std::uint8_t> new_key(SecretBox::kKeyBytes, 0x6b);
    const auto open_with = [&](KeyRing keys) -> std::unique_ptr<Store> {
        if (postgres())
            return std::make_unique<PostgresStore>(env.target, std::move(keys), "server-c");
        return std::make_unique<SqliteStore>(env.target, std::move(keys));
    };
    auto rotated = open_with(KeyRing(new_key, {secrets_key()}));
    assert_true(rotated->active_enrolment(id)->secret == bytes(secret));

    const auto first = rotated->reseal_secrets();
    assert_int_equal(first.resealed, total);
    assert_int_equal(first.already_current, 0);
    const auto again = rotated->reseal_secrets();
    assert_int_equal(again.resealed, 0);
    assert_int_equal(again.already_current, total);

    // The old key alone opens nothing now (fails closed); the new one alone opens everything.
    bool refused = false;
    try {
        (void)env.a->active_enrolment(id);
    } catch (const StoreError&) {
        refused = true;
    }
    assert_true(refused);
    auto only_new = open_with(KeyRing(new_key));
    assert_true(only_new->active_enrolment(id)->secret == bytes(secret));
    assert_true(only_new->pending_enrolment(waiting)->secret == bytes(secret));

    // Back to the old key for the tests that follow.
    only_new.reset();
    rotated = open_with(KeyRing(secrets_key(), {new_key}));
    assert_int_equal(rotated->reseal_secrets().resealed, total);
    assert_true(env.a->active_enrolment(id)->secret == bytes(secret));
}

int open_both(void**)
{
    const char* spec = std::getenv("FOTOSTUDIO_STORE");
    const std::string text = spec ? spec : "";
    if (text.starts_with("sqlite:")) {
        env.backend = Backend::Sqlite;
        env.target = text.substr(7);
        for (const char* suffix : {"", "-wal", "-shm"})
            (void)unlink((env.target + suffix).c_str());
    } else if (text.starts_with("postgresql:")) {
        env.backend = Backend::Postgres;
        env.target = text.substr(11);
    } else {
        std::fprintf(stderr, "set FOTOSTUDIO_STORE=sqlite:PATH or postgresql:CONNINFO\n");
        return -1;
    }
    try {
        env.a = open_store("server-a");
        env.b = open_store("server-b");
    } catch (const StoreError& error) {
        std::fprintf(stderr, "cannot open the store: %s\n", error.what());
        return -1;
    }
    return 0;
}

int close_both(void**)
{
    env.a.reset();
    env.b.reset();
    return 0;
}

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(account_is_created_once_and_found_again),
        cmocka_unit_test(accounts_created_at_once_by_two_daemons_are_one),
        cmocka_unit_test(a_name_with_another_uid_retires_the_old_account),
        cmocka_unit_test(retire_wipes_the_secrets_and_the_local_listing),
        cmocka_unit_test(a_pending_enrolment_is_replaced_and_deleted),
        cmocka_unit_test(activation_moves_the_pending_secret_once),
        cmocka_unit_test(only_a_newer_step_is_accepted),
        cmocka_unit_test(a_step_read_with_a_replaced_enrolment_is_not_recorded_against_the_new_one),
        cmocka_unit_test(two_logins_racing_with_one_code_have_one_winner),
        cmocka_unit_test(a_burned_step_is_never_accepted),
        cmocka_unit_test(a_recovery_code_is_spent_once),
        cmocka_unit_test(locks_are_saved_replaced_listed_and_lifted),
        cmocka_unit_test(devices_expire_and_the_least_recently_used_go_first),
        cmocka_unit_test(history_keeps_the_newest_entries_with_their_server),
        cmocka_unit_test(the_outbox_is_bounded_and_retried),
        cmocka_unit_test(a_mail_is_handed_to_one_server_only),
        cmocka_unit_test(account_settings_are_kept_per_account),
        cmocka_unit_test(mode_changes_and_disabling_removes_everything),
        cmocka_unit_test(secrets_are_sealed_and_bound_to_their_account),
        cmocka_unit_test(a_newer_schema_is_refused),
        cmocka_unit_test(a_connection_the_server_ended_is_opened_again_before_the_next_call),
        cmocka_unit_test(a_slow_database_fails_the_call_within_the_deadline),
        cmocka_unit_test(attempts_from_two_daemons_add_up_exactly),
        cmocka_unit_test(a_window_frees_itself_and_is_cleared_by_key_or_prefix),
        cmocka_unit_test(expired_attempts_are_removed_in_batches_and_only_they),
        cmocka_unit_test(an_admission_counts_in_every_window_or_in_none),
        cmocka_unit_test(a_request_reads_the_account_as_it_is_and_then_its_own_writes),
        cmocka_unit_test(a_request_sees_the_locks_running_before_it_and_its_own),
        cmocka_unit_test(a_read_ahead_answers_as_the_limits_would_and_counts_once),
        cmocka_unit_test(a_kept_reading_serves_a_later_request_and_its_use_decides_on_current_rows),
        cmocka_unit_test(a_lock_holds_on_every_server_on_the_database_clock),
        cmocka_unit_test(a_new_key_reseals_every_secret_once),
    };
    return cmocka_run_group_tests(tests, open_both, close_both);
}
