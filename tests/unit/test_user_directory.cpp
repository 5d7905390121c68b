// The daemon's view of the accounts: the short cache of NSS answers for one login's requests, and
// the shadow file read only when it changed.
#include "test_world.hpp"

namespace {

class CountingUsers final : public UserDirectory {
public:
    std::optional<SystemAccount> lookup(std::string_view name) override
    {
        ++lookups;
        if (name == "alice")
            return SystemAccount{"alice", kAliceUid};
        return std::nullopt;
    }
    std::optional<std::set<std::string>> local_names() override { return std::nullopt; }
    std::optional<std::string> shadow_hash(const std::string&) override { return std::nullopt; }
    std::optional<std::set<std::string>> groups_of(const SystemAccount&) override
    {
        return std::nullopt;
    }
    int lookups = 0;
};

void one_logins_lookups_reach_nss_once_until_the_entry_expires_or_passwd_changes(void**)
{
    CountingUsers inner;
    std::int64_t now = 0;
    CachingUserDirectory cached(
        inner, [&now] { return now; }, 10'000);

    assert_int_equal(cached.lookup("alice")->uid, kAliceUid);
    now += 9'000;
    assert_int_equal(cached.lookup("alice")->uid, kAliceUid);
    assert_int_equal(inner.lookups, 1);

    now += 2'000;  // past its lifetime
    assert_true(cached.lookup("alice").has_value());
    assert_int_equal(inner.lookups, 2);

    cached.forget_cached();  // /etc/passwd changed
    assert_true(cached.lookup("alice").has_value());
    assert_int_equal(inner.lookups, 3);
}

void names_that_do_not_resolve_are_asked_every_time_and_never_kept(void**)
{
    CountingUsers inner;
    CachingUserDirectory cached(inner, [] { return std::int64_t{0}; });
    assert_false(cached.lookup("nobody-here").has_value());
    assert_false(cached.lookup("nobody-here").has_value());
    assert_int_equal(inner.lookups, 2);
}

void the_shadow_file_is_read_again_only_when_its_version_changes(void**)
{
    World world;
    world.users.shadow_version_text = "v1";
    enrol(world, "alice");
    auto preauth = request(proto::MessageType::Preauth, "alice");
    preauth.set(proto::Field::Service, "sshd");
    world.ask(preauth);  // the baseline

    world.users.shadow["alice"] = "$y$j9T$alice$changed";
    world.ask(preauth);  // same version: not read, nothing noticed
    assert_int_equal(world.sessions.requests.size(), 0);

    world.users.shadow_version_text = "v2";
    world.ask(preauth);  // the file changed: the new hash is a password change outside PAM
    assert_int_equal(world.sessions.requests.size(), 1);
}

}  // namespace

int main()
{
    totp::init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            one_logins_lookups_reach_nss_once_until_the_entry_expires_or_passwd_changes),
        cmocka_unit_test(names_that_do_not_resolve_are_asked_every_time_and_never_kept),
        cmocka_unit_test(the_shadow_file_is_read_again_only_when_its_version_changes),
    };
    return cmocka_run_group_tests_name("user_directory", tests, nullptr, nullptr);
}
