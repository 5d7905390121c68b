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

// A shadow file written in one go into a private directory, removed with it.
struct ShadowFile {
    std::string dir;
    std::string path;
    explicit ShadowFile(const std::string& text)
    {
        char pattern[] = "/tmp/fsauth-shadow-XXXXXX";
        dir = mkdtemp(pattern);
        path = dir + "/shadow";
        FILE* file = std::fopen(path.c_str(), "w");
        std::fwrite(text.data(), 1, text.size(), file);
        std::fclose(file);
    }
    ~ShadowFile() { std::filesystem::remove_all(dir); }
};

void the_shadow_hash_is_the_second_field_of_the_names_own_line(void**)
{
    const ShadowFile shadow("root:*:20228:0:99999:7:::\n"
                            "al:$y$j9T$al$short:20228:0:99999:7:::\n"
                            "alice:$y$j9T$alice$hash:20228:0:99999:7:::\n"
                            "nopass::20228:0:99999:7:::\n"
                            "short:!\n"
                            "last:$6$last");  // no newline at the end
    assert_string_equal(shadow_hash_in(shadow.path, "alice")->c_str(), "$y$j9T$alice$hash");
    assert_string_equal(shadow_hash_in(shadow.path, "al")->c_str(), "$y$j9T$al$short");
    assert_string_equal(shadow_hash_in(shadow.path, "nopass")->c_str(), "");
    assert_string_equal(shadow_hash_in(shadow.path, "short")->c_str(), "!");
    assert_string_equal(shadow_hash_in(shadow.path, "last")->c_str(), "$6$last");
    // Not a prefix of a name, not a hash, not a missing file.
    assert_false(shadow_hash_in(shadow.path, "ali").has_value());
    assert_false(shadow_hash_in(shadow.path, "$y$j9T$alice$hash").has_value());
    assert_false(shadow_hash_in(shadow.dir + "/missing", "alice").has_value());
}

void a_line_across_read_blocks_is_found_whole(void**)
{
    // The searched line starts before a 16 KiB block boundary and ends after it.
    std::string text;
    for (int i = 0; text.size() < 4 * 16 * 1024 - 20; ++i)
        text += "user" + std::to_string(i) + ":$y$j9T$x$y:20228:0:99999:7:::\n";
    text += "straddler:$y$j9T$straddling$hash-long-enough-to-cross:20228:0:99999:7:::\n";
    text += "after:x:1::::::\n";
    const ShadowFile shadow(text);
    assert_string_equal(shadow_hash_in(shadow.path, "straddler")->c_str(),
                        "$y$j9T$straddling$hash-long-enough-to-cross");
    assert_string_equal(shadow_hash_in(shadow.path, "after")->c_str(), "x");
    assert_string_equal(shadow_hash_in(shadow.path, "user7")->c_str(), "$y$j9T$x$y");
    assert_false(shadow_hash_in(shadow.path, "user").has_value());
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
        cmocka_unit_test(the_shadow_hash_is_the_second_field_of_the_names_own_line),
        cmocka_unit_test(a_line_across_read_blocks_is_found_whole),
    };
    return cmocka_run_group_tests_name("user_directory", tests, nullptr, nullptr);
}
