// A daemon for unit tests: the real Authenticator on a real SQLite file in a temporary folder,
// with a clock and a user directory that the test controls, and helpers to enrol and verify.
// Include cmocka_main.hpp after this header.
#pragma once

#include "authenticator.hpp"
#include "sqlite_store.hpp"
#include "totp.hpp"

#include <liboath/oath.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cmocka_main.hpp"

namespace proto = fotostudio::protocol;
using namespace fotoauthd;

namespace {

constexpr uid_t kAliceUid = 1001;
constexpr uid_t kBobUid = 1002;
// The peer's pid: one no process can have (above the kernel's pid_max), so that what the daemon
// reads from /proc about the peer comes from the request, not from a stranger.
constexpr pid_t kNoSuchPid = 2147483000;

class FixedClock final : public Clock {
public:
    std::int64_t now() const override { return value; }
    std::int64_t monotonic_ms() const override { return mono_ms; }
    // Moves both clocks, as time passing does.
    void advance(std::int64_t seconds)
    {
        value += seconds;
        mono_ms += seconds * 1000;
    }
    std::int64_t value = 1'800'000'000;
    std::int64_t mono_ms = 5'000'000;
};

class FakeUsers final : public UserDirectory {
public:
    std::optional<SystemAccount> lookup(std::string_view name) override
    {
        const auto found = accounts.find(std::string(name));
        if (found == accounts.end())
            return std::nullopt;
        return found->second;
    }
    std::optional<std::string> shadow_hash(const std::string& name) override
    {
        const auto found = shadow.find(name);
        if (found == shadow.end())
            return std::nullopt;
        return found->second;
    }
    std::optional<std::set<std::string>> local_names() override
    {
        if (!passwd_readable)
            return std::nullopt;
        return local;
    }
    std::optional<std::set<std::string>> groups_of(const SystemAccount& account) override
    {
        if (!groups_readable)
            return std::nullopt;
        const auto found = groups.find(account.name);
        return found == groups.end() ? std::set<std::string>{} : found->second;
    }
    std::optional<std::string> shadow_version() override { return shadow_version_text; }
    std::map<std::string, SystemAccount> accounts;
    std::optional<std::string> shadow_version_text;       // nothing: the daemon always reads
    std::map<std::string, std::set<std::string>> groups;  // the pretend group database
    bool groups_readable = true;
    std::set<std::string> local;                // the names in the pretend /etc/passwd
    std::map<std::string, std::string> shadow;  // the pretend /etc/shadow
    bool passwd_readable = true;
};

// Records what the daemon asked to end instead of ending anything.
class RecordingSessionEnder final : public SessionEnder {
public:
    std::size_t end_sessions(const EndSessionsRequest& request) override
    {
        requests.push_back(request);
        return 1;
    }
    const char* name() const override { return "recording"; }
    std::vector<EndSessionsRequest> requests;
};

// The server clock's synchronisation as the test sets it.
class FakeClockSync final : public ClockSync {
public:
    bool synchronised() override { return in_sync; }
    bool in_sync = true;
};

struct World {
    std::filesystem::path dir;
    Config config;
    FixedClock clock;
    FakeUsers users;
    RecordingSessionEnder sessions;
    FakeClockSync clock_sync;
    std::vector<std::uint8_t> shadow_key = std::vector<std::uint8_t>(32, 7);
    std::vector<std::uint8_t> secrets_key = std::vector<std::uint8_t>(32, 9);
    std::unique_ptr<SqliteStore> store;
    std::unique_ptr<Authenticator> daemon;

    World()
    {
        char pattern[] = "/tmp/fsauth-unit-XXXXXX";
        dir = mkdtemp(pattern);
        users.accounts["alice"] = SystemAccount{"alice", kAliceUid};
        users.accounts["bob"] = SystemAccount{"bob", kBobUid};
        users.local = {"alice", "bob"};
        users.shadow = {{"alice", "$y$j9T$alice$hash"}, {"bob", "$y$j9T$bob$hash"}};
        restart();
    }
    ~World() { std::filesystem::remove_all(dir); }

    // A new daemon on the same database, as after a restart.
    void restart()
    {
        daemon.reset();
        store.reset();
        store = std::make_unique<SqliteStore>((dir / "state" / "db.sqlite").string(), secrets_key);
        daemon = std::make_unique<Authenticator>(config, *store, users, clock, sessions, shadow_key,
                                                 &clock_sync);
    }

    proto::Message ask(proto::Message request, uid_t peer = 0)
    {
        return daemon->handle(Caller{peer, kNoSuchPid}, request);
    }
};

[[maybe_unused]] proto::ReplyStatus status_of(const proto::Message& reply)
{
    const auto status = proto::reply_status(reply);
    assert_true(status.has_value());
    return *status;
}

[[maybe_unused]] proto::Message request(proto::MessageType type, const std::string& user)
{
    proto::Message message(type);
    message.set(proto::Field::User, user);
    return message;
}

std::vector<std::uint8_t> decode_base32(std::string_view text)
{
    char* out = nullptr;
    size_t length = 0;
    assert_int_equal(oath_base32_decode(text.data(), text.size(), &out, &length), OATH_OK);
    std::vector<std::uint8_t> secret(out, out + length);
    std::free(out);
    return secret;
}

struct Enrolled {
    std::vector<std::uint8_t> secret;
    std::vector<std::string> recovery_codes;
};

[[maybe_unused]] std::vector<std::uint8_t> begin_enrolment(World& world, const std::string& user,
                                                           const char* mode = "always")
{
    auto begin = request(proto::MessageType::EnrolBegin, user);
    begin.set(proto::Field::Mode, mode);
    const auto reply = world.ask(begin);
    assert_int_equal(status_of(reply), proto::ReplyStatus::Ok);
    return decode_base32(*reply.get(proto::Field::Secret));
}

// Enrols `user`, confirming with the code of the step before the current one, so that the
// current and next steps stay free for the test.
[[maybe_unused]] Enrolled enrol(World& world, const std::string& user)
{
    Enrolled result;
    result.secret = begin_enrolment(world, user);

    auto confirm = request(proto::MessageType::EnrolConfirm, user);
    const auto step = totp::step_of(world.clock.now());
    confirm.set(proto::Field::Code, totp::code_for_step(result.secret, step - 1));
    const auto reply = world.ask(confirm);
    assert_int_equal(status_of(reply), proto::ReplyStatus::Ok);

    std::istringstream lines(std::string(*reply.get(proto::Field::RecoveryCodes)));
    for (std::string line; std::getline(lines, line);)
        result.recovery_codes.push_back(line);
    assert_int_equal(result.recovery_codes.size(), 10);
    return result;
}

[[maybe_unused]] proto::ReplyStatus verify(World& world, const std::string& user,
                                           const std::string& code, uid_t peer = 0)
{
    auto message = request(proto::MessageType::AuthVerify, user);
    message.set(proto::Field::Code, code);
    message.set(proto::Field::Service, "sshd");
    return status_of(world.ask(message, peer));
}

[[maybe_unused]] std::string current_code(World& world, const Enrolled& enrolled, int offset = 0)
{
    return totp::code_for_step(enrolled.secret, totp::step_of(world.clock.now()) + offset);
}

// A code that is not right at any step the daemon would accept now.
[[maybe_unused]] std::string wrong_code(World& world, const Enrolled& enrolled)
{
    const auto step = totp::step_of(world.clock.now());
    for (int candidate = 0;; ++candidate) {
        char text[16];
        std::snprintf(text, sizeof(text), "%06d", candidate);
        bool right = false;
        // Wide of the window and of the drift search, so that it never reads as a drifted code.
        for (int offset = -12; offset <= 12; ++offset)
            right = right || totp::code_for_step(enrolled.secret, step + offset) == text;
        if (!right)
            return text;
    }
}

}  // namespace
