// A password change: its rate limit, what it revokes, whose sessions end, a change made outside
// PAM, and the procfs session ender against real processes with real audit sessions.
#include "test_world.hpp"

#include "sessions.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <fstream>

namespace {

constexpr const char* kKey = "AAAAC3NzaC1lZDI1NTE5AAAAIMRNw0p1CM2IPeKTHHM4khPOu8f1VFRB58hYXHMvwXGo";

// What passwd's PAM stack reports after pam_unix wrote a new hash into the (pretend) shadow file.
proto::Message changed(World& world, const std::string& user, uid_t caller_uid)
{
    world.users.shadow[user] += "-changed";
    auto message = request(proto::MessageType::PasswordChanged, user);
    message.set_u64(proto::Field::CallerUid, caller_uid);
    return message;
}

void trust_key(World& world, const std::string& user)
{
    const auto secret = begin_enrolment(world, user, "new-device");
    auto confirm = request(proto::MessageType::EnrolConfirm, user);
    confirm.set(proto::Field::Code,
                totp::code_for_step(secret, totp::step_of(world.clock.now()) - 1));
    world.ask(confirm);
    proto::Message verify_request(proto::MessageType::AuthVerify);
    verify_request.set(proto::Field::User, user).set(proto::Field::Service, "sshd");
    verify_request.set(proto::Field::Code,
                       totp::code_for_step(secret, totp::step_of(world.clock.now())));
    verify_request.set(proto::Field::AuthInfo, std::string("publickey ssh-ed25519 ") + kKey);
    assert_int_equal(status_of(world.ask(verify_request)), proto::ReplyStatus::Ok);
}

proto::ReplyStatus key_query(World& world, const std::string& user)
{
    auto message = request(proto::MessageType::AuthQuery, user);
    message.set(proto::Field::Service, "sshd");
    message.set(proto::Field::AuthInfo, std::string("publickey ssh-ed25519 ") + kKey);
    return status_of(world.ask(message));
}

void the_eleventh_password_change_within_ten_minutes_is_refused(void**)
{
    World world;
    for (int i = 0; i < 10; ++i)
        assert_int_equal(
            status_of(world.ask(request(proto::MessageType::PasswordChangeCheck, "alice"))),
            proto::ReplyStatus::Ok);
    const auto refused = world.ask(request(proto::MessageType::PasswordChangeCheck, "alice"));
    assert_int_equal(status_of(refused), proto::ReplyStatus::RateLimited);
    assert_true(refused.get(proto::Field::Text)->find("password change") != std::string::npos);
    world.clock.advance(600);
    assert_int_equal(
        status_of(world.ask(request(proto::MessageType::PasswordChangeCheck, "alice"))),
        proto::ReplyStatus::Ok);
}

void changing_ones_own_password_forgets_devices_and_keeps_only_the_callers_session(void**)
{
    World world;
    trust_key(world, "alice");
    assert_int_equal(key_query(world, "alice"), proto::ReplyStatus::Trusted);

    const auto reply = world.ask(changed(world, "alice", kAliceUid));
    assert_int_equal(status_of(reply), proto::ReplyStatus::Ok);
    assert_int_equal(*reply.get_u64(proto::Field::DeviceCount), 1);
    assert_int_equal(key_query(world, "alice"), proto::ReplyStatus::CodeRequired);

    assert_int_equal(world.sessions.requests.size(), 1);
    assert_int_equal(world.sessions.requests[0].uid, kAliceUid);
    assert_int_equal(world.sessions.requests[0].caller_pid, kNoSuchPid);
    assert_true(world.sessions.requests[0].keep_callers_session);
}

void when_root_changes_a_users_password_every_session_of_that_user_ends(void**)
{
    World world;
    enrol(world, "alice");
    world.ask(changed(world, "alice", 0));
    assert_int_equal(world.sessions.requests.size(), 1);
    assert_false(world.sessions.requests[0].keep_callers_session);
}

void a_user_without_mfa_still_has_the_other_sessions_ended(void**)
{
    World world;
    const auto reply = world.ask(changed(world, "bob", kBobUid));
    assert_int_equal(status_of(reply), proto::ReplyStatus::Ok);
    assert_int_equal(world.sessions.requests.size(), 1);
    assert_int_equal(world.sessions.requests[0].uid, kBobUid);
}

void only_root_reports_password_changes_not_even_users_for_themselves(void**)
{
    // A user's own report would have root end processes the user may not signal (sudo'd ones
    // in the same audit session) and hide a reset made outside PAM from the next login.
    World world;
    enrol(world, "alice");
    assert_int_equal(status_of(world.ask(changed(world, "alice", kAliceUid), kAliceUid)),
                     proto::ReplyStatus::PermissionDenied);
    assert_int_equal(status_of(world.ask(changed(world, "alice", kBobUid), kBobUid)),
                     proto::ReplyStatus::PermissionDenied);
    assert_true(world.sessions.requests.empty());
}

void a_report_without_a_new_password_hash_ends_nothing(void**)
{
    World world;
    trust_key(world, "alice");
    const auto reply = world.ask(request(proto::MessageType::PasswordChanged, "alice"));
    assert_int_equal(status_of(reply), proto::ReplyStatus::Ok);
    assert_int_equal(*reply.get_u64(proto::Field::Count), 0);
    assert_true(world.sessions.requests.empty());
    assert_int_equal(key_query(world, "alice"), proto::ReplyStatus::Trusted);
}

void a_replaced_digest_key_takes_the_current_passwords_as_the_new_baseline(void**)
{
    World world;
    trust_key(world, "alice");
    world.ask(request(proto::MessageType::Preauth, "alice"));
    // The database restored without its key: a new key makes every stored digest look changed.
    world.shadow_key.assign(32, 9);
    world.restart();
    world.ask(request(proto::MessageType::Preauth, "alice"));
    assert_true(world.sessions.requests.empty());
    assert_int_equal(key_query(world, "alice"), proto::ReplyStatus::Trusted);
    // And a real change after that is noticed again.
    world.users.shadow["alice"] += "-reset";
    world.ask(request(proto::MessageType::Preauth, "alice"));
    assert_int_equal(world.sessions.requests.size(), 1);
}

void a_password_changed_outside_pam_is_noticed_at_the_next_login(void**)
{
    World world;
    trust_key(world, "alice");
    auto preauth = request(proto::MessageType::Preauth, "alice");
    world.ask(preauth);
    assert_true(world.sessions.requests.empty());

    world.users.shadow["alice"] = "$y$j9T$alice$changed-by-chpasswd";
    world.ask(preauth);
    assert_int_equal(world.sessions.requests.size(), 1);
    assert_false(world.sessions.requests[0].keep_callers_session);
    assert_int_equal(key_query(world, "alice"), proto::ReplyStatus::CodeRequired);

    // Noticed once: the next login finds the new digest stored.
    world.ask(preauth);
    assert_int_equal(world.sessions.requests.size(), 1);
}

void a_password_changed_through_pam_is_not_noticed_a_second_time_at_login(void**)
{
    World world;
    enrol(world, "alice");
    world.users.shadow["alice"] = "$y$j9T$alice$changed-by-passwd";
    world.ask(changed(world, "alice", kAliceUid));
    world.ask(request(proto::MessageType::Preauth, "alice"));
    assert_int_equal(world.sessions.requests.size(), 1);
}

// A process that sets its loginuid (which gives it a new audit session) and waits.
pid_t spawn_session(std::optional<uid_t> loginuid)
{
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    const pid_t child = fork();
    if (child == 0) {
        close(ready[0]);
        if (loginuid) {
            std::ofstream file("/proc/self/loginuid");
            file << *loginuid;
        }
        (void)!write(ready[1], "x", 1);
        for (;;)
            pause();
    }
    close(ready[1]);
    char byte = 0;
    assert_int_equal(read(ready[0], &byte, 1), 1);
    close(ready[0]);
    return child;
}

bool ended_by(pid_t pid, int signal_number)
{
    int status = 0;
    for (int i = 0; i < 200; ++i) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFSIGNALED(status) && WTERMSIG(status) == signal_number;
        usleep(10'000);
    }
    return false;
}

bool still_running(pid_t pid)
{
    int status = 0;
    return waitpid(pid, &status, WNOHANG) == 0;
}

void the_procfs_ender_hits_only_the_users_other_audit_sessions(void**)
{
    const uid_t user = 61000 + static_cast<uid_t>(getpid() % 1000);
    const pid_t caller = spawn_session(user);
    const pid_t other = spawn_session(user);
    const pid_t someone_else = spawn_session(user + 1);
    const pid_t service = spawn_session(std::nullopt);
    if (!audit_session_of(caller)) {
        for (pid_t pid : {caller, other, someone_else, service}) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
        skip();  // this kernel keeps no audit sessions, or this process may not set them
    }
    assert_int_not_equal(*audit_session_of(caller), *audit_session_of(other));

    ProcfsSessionEnder ender;
    assert_int_equal(ender.end_sessions({user, caller, true}), 1);
    assert_true(ended_by(other, SIGTERM));
    assert_true(still_running(caller));
    assert_true(still_running(someone_else));
    assert_true(still_running(service));

    // Without keeping the caller's session, it ends too.
    assert_int_equal(ender.end_sessions({user, caller, false}), 1);
    assert_true(ended_by(caller, SIGTERM));
    for (pid_t pid : {someone_else, service}) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
    }
}

void a_process_that_ignores_sigterm_gets_sigkill_after_the_grace_time(void**)
{
    const uid_t user = 62000 + static_cast<uid_t>(getpid() % 1000);
    const pid_t stubborn = fork();
    if (stubborn == 0) {
        signal(SIGTERM, SIG_IGN);
        std::ofstream("/proc/self/loginuid") << user;
        for (;;)
            pause();
    }
    usleep(100'000);
    if (!audit_session_of(stubborn)) {
        kill(stubborn, SIGKILL);
        waitpid(stubborn, nullptr, 0);
        skip();
    }
    ProcfsSessionEnder ender;
    assert_int_equal(ender.end_sessions({user, 0, false}), 1);
    usleep(200'000);
    assert_true(still_running(stubborn));
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now().time_since_epoch())
                         .count();
    ender.tick(now + ProcfsSessionEnder::kGraceMs + 1);
    assert_true(ended_by(stubborn, SIGKILL));
}

}  // namespace

int main()
{
    totp::init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_eleventh_password_change_within_ten_minutes_is_refused),
        cmocka_unit_test(
            changing_ones_own_password_forgets_devices_and_keeps_only_the_callers_session),
        cmocka_unit_test(when_root_changes_a_users_password_every_session_of_that_user_ends),
        cmocka_unit_test(a_user_without_mfa_still_has_the_other_sessions_ended),
        cmocka_unit_test(only_root_reports_password_changes_not_even_users_for_themselves),
        cmocka_unit_test(a_report_without_a_new_password_hash_ends_nothing),
        cmocka_unit_test(a_replaced_digest_key_takes_the_current_passwords_as_the_new_baseline),
        cmocka_unit_test(a_password_changed_outside_pam_is_noticed_at_the_next_login),
        cmocka_unit_test(a_password_changed_through_pam_is_not_noticed_a_second_time_at_login),
        cmocka_unit_test(the_procfs_ender_hits_only_the_users_other_audit_sessions),
        cmocka_unit_test(a_process_that_ignores_sigterm_gets_sigkill_after_the_grace_time),
    };
    return cmocka_run_group_tests_name("password_change", tests, nullptr, nullptr);
}
