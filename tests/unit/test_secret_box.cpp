// Sealing TOTP secrets at rest: only the right key, for the right account, opens a secret, and
// any change to the sealed bytes is noticed. While the key is rotated, a ring of keys opens
// with any of them and seals with the current one only.
#include "secret_box.hpp"

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cmocka_main.hpp"

namespace {

using fotoauthd::KeyRing;
using fotoauthd::SecretBox;
namespace fs = std::filesystem;

std::vector<std::uint8_t> key_of(std::uint8_t byte)
{
    return std::vector<std::uint8_t>(SecretBox::kKeyBytes, byte);
}

// A fresh state directory, removed with everything in it at the end of the test.
class StateDirectory {
public:
    StateDirectory()
    {
        char pattern[] = "/tmp/fotoauthd-keyring-XXXXXX";
        path_ = mkdtemp(pattern);
        // Keys come from the directory only, whatever the environment of the test run.
        unsetenv("CREDENTIALS_DIRECTORY");
    }
    ~StateDirectory() { fs::remove_all(path_); }
    StateDirectory(const StateDirectory&) = delete;
    StateDirectory& operator=(const StateDirectory&) = delete;

    const std::string& path() const { return path_; }
    void write(const std::string& name, const std::vector<std::uint8_t>& bytes) const
    {
        std::ofstream(path_ + "/" + name, std::ios::binary)
            .write(reinterpret_cast<const char*>(bytes.data()),
                   static_cast<std::streamsize>(bytes.size()));
    }

private:
    std::string path_;
};

// The message of the std::runtime_error that loading the ring throws, empty when none.
std::string load_error(const std::string& directory)
{
    try {
        (void)fotoauthd::load_secrets_keys(directory);
    } catch (const std::runtime_error& error) {
        return error.what();
    }
    return "";
}

const std::vector<std::uint8_t> kSecret = {'1', '2', '3', '4', '5', '6', '7', '8', '9', '0',
                                           '1', '2', '3', '4', '5', '6', '7', '8', '9', '0'};

void a_sealed_secret_opens_with_the_same_key_for_the_same_account(void**)
{
    const SecretBox box(std::vector<std::uint8_t>(32, 1));
    const auto sealed = box.seal(kSecret, 42);
    assert_int_equal(sealed.size(), 1 + 12 + kSecret.size() + 16);
    assert_int_equal(sealed[0], SecretBox::kVersion);
    // The clear secret is nowhere in the sealed bytes.
    assert_null(memmem(sealed.data(), sealed.size(), kSecret.data(), 8));
    const auto opened = box.open(sealed, 42);
    assert_true(opened.has_value());
    assert_true(*opened == kSecret);
}

void two_seals_of_one_secret_differ(void**)
{
    const SecretBox box(std::vector<std::uint8_t>(32, 1));
    assert_false(box.seal(kSecret, 42) == box.seal(kSecret, 42));
}

void another_key_another_account_or_a_changed_byte_opens_nothing(void**)
{
    const SecretBox box(std::vector<std::uint8_t>(32, 1));
    const SecretBox other(std::vector<std::uint8_t>(32, 2));
    const auto sealed = box.seal(kSecret, 42);
    assert_false(other.open(sealed, 42).has_value());
    assert_false(box.open(sealed, 43).has_value());
    for (std::size_t i = 0; i < sealed.size(); ++i) {
        auto changed = sealed;
        changed[i] ^= 0x01;
        assert_false(box.open(changed, 42).has_value());
    }
    assert_false(
        box.open(std::vector<std::uint8_t>(sealed.begin(), sealed.end() - 1), 42).has_value());
    assert_false(box.open({}, 42).has_value());
}

void a_key_of_the_wrong_size_is_refused_and_key_ids_tell_keys_apart(void**)
{
    bool refused = false;
    try {
        SecretBox short_key(std::vector<std::uint8_t>(16, 1));
    } catch (const std::invalid_argument&) {
        refused = true;
    }
    assert_true(refused);
    const SecretBox one(std::vector<std::uint8_t>(32, 1));
    const SecretBox two(std::vector<std::uint8_t>(32, 2));
    assert_int_equal(one.key_id().size(), 12);
    assert_string_not_equal(one.key_id().c_str(), two.key_id().c_str());
    assert_string_equal(one.key_id().c_str(),
                        SecretBox(std::vector<std::uint8_t>(32, 1)).key_id().c_str());
}

void a_ring_opens_what_an_older_key_sealed_and_seals_with_the_current_key_only(void**)
{
    const SecretBox old_key(key_of(1));
    const SecretBox new_key(key_of(2));
    const KeyRing ring(key_of(2), {key_of(1)});
    assert_int_equal(ring.other_keys(), 1);
    assert_string_equal(ring.key_id().c_str(), new_key.key_id().c_str());
    assert_string_equal(ring.other_key_ids().c_str(), old_key.key_id().c_str());

    const auto opened_old = ring.open(old_key.seal(kSecret, 42), 42);
    assert_true(opened_old.has_value());
    assert_true(opened_old->secret == kSecret);
    assert_false(opened_old->by_current_key);

    const auto sealed = ring.seal(kSecret, 42);
    assert_false(old_key.open(sealed, 42).has_value());
    assert_true(new_key.open(sealed, 42).has_value());
    const auto opened_new = ring.open(sealed, 42);
    assert_true(opened_new.has_value());
    assert_true(opened_new->by_current_key);
}

void a_ring_opens_nothing_that_none_of_its_keys_sealed_for_that_account(void**)
{
    const KeyRing ring(key_of(2), {key_of(1), key_of(3)});
    assert_false(ring.open(SecretBox(key_of(4)).seal(kSecret, 42), 42).has_value());
    assert_false(ring.open(SecretBox(key_of(1)).seal(kSecret, 42), 43).has_value());
    assert_false(ring.open({}, 42).has_value());
}

void a_copy_of_the_current_key_among_the_others_counts_once(void**)
{
    const KeyRing ring(key_of(2), {key_of(2), key_of(1), key_of(1)});
    assert_int_equal(ring.other_keys(), 1);
    assert_int_equal(KeyRing(key_of(2)).other_keys(), 0);
    assert_string_equal(KeyRing(key_of(2)).other_key_ids().c_str(), "");
}

void the_ring_takes_the_next_and_previous_key_files_when_present(void**)
{
    const StateDirectory state;
    state.write("secrets.key", key_of(2));
    state.write("secrets.key.previous", key_of(1));
    state.write("secrets.key.next", key_of(3));
    const KeyRing ring = fotoauthd::load_secrets_keys(state.path());
    assert_string_equal(ring.key_id().c_str(), SecretBox(key_of(2)).key_id().c_str());
    assert_int_equal(ring.other_keys(), 2);
    for (const std::uint8_t other : {1, 3})
        assert_true(ring.open(SecretBox(key_of(other)).seal(kSecret, 7), 7).has_value());
    assert_false(ring.open(SecretBox(key_of(4)).seal(kSecret, 7), 7).has_value());
}

void a_first_start_creates_the_current_key_and_no_other(void**)
{
    const StateDirectory state;
    const KeyRing ring = fotoauthd::load_secrets_keys(state.path());
    assert_int_equal(ring.other_keys(), 0);
    assert_int_equal(fs::file_size(state.path() + "/secrets.key"), SecretBox::kKeyBytes);
    assert_false(fs::exists(state.path() + "/secrets.key.previous"));
    assert_false(fs::exists(state.path() + "/secrets.key.next"));
    // The next start finds the same key.
    assert_string_equal(fotoauthd::load_secrets_keys(state.path()).key_id().c_str(),
                        ring.key_id().c_str());
}

void a_previous_key_file_of_the_wrong_length_is_a_clear_error(void**)
{
    const StateDirectory state;
    state.write("secrets.key", key_of(2));
    // A key written as hex text by mistake: 64 bytes.
    state.write("secrets.key.previous", std::vector<std::uint8_t>(64, 'a'));
    std::string error = load_error(state.path());
    assert_non_null(strstr(error.c_str(), "secrets.key.previous must hold exactly 32 bytes"));

    state.write("secrets.key.previous", std::vector<std::uint8_t>(31, 1));
    error = load_error(state.path());
    assert_non_null(strstr(error.c_str(), "secrets.key.previous must hold exactly 32 bytes"));

    state.write("secrets.key.previous", {});
    error = load_error(state.path());
    assert_non_null(strstr(error.c_str(), "secrets.key.previous must hold exactly 32 bytes"));
}

// Moving secrets.key aside before installing the new one must not make the daemon create a
// fresh random key: it would seal new enrolments with a key no other server holds.
void an_open_only_key_without_a_current_one_is_refused_and_creates_nothing(void**)
{
    const StateDirectory state;
    state.write("secrets.key.previous", key_of(1));
    const std::string error = load_error(state.path());
    assert_non_null(strstr(error.c_str(), "no current one"));
    assert_false(fs::exists(state.path() + "/secrets.key"));
}

// --reseal-secrets run without the daemon's credentials must not seal with a key of its own.
void without_leave_to_create_a_missing_current_key_is_an_error(void**)
{
    const StateDirectory state;
    bool refused = false;
    try {
        (void)fotoauthd::load_secrets_keys(state.path(), false);
    } catch (const std::runtime_error& error) {
        refused = strstr(error.what(), "no secrets key") != nullptr;
    }
    assert_true(refused);
    assert_false(fs::exists(state.path() + "/secrets.key"));
}

void the_credentials_of_systemd_come_before_the_files(void**)
{
    const StateDirectory state;
    const StateDirectory credentials;
    state.write("secrets.key", key_of(5));
    credentials.write("fotoauthd-secrets-key", key_of(2));
    credentials.write("fotoauthd-secrets-key-previous", key_of(1));
    setenv("CREDENTIALS_DIRECTORY", credentials.path().c_str(), 1);
    const KeyRing ring = fotoauthd::load_secrets_keys(state.path());
    unsetenv("CREDENTIALS_DIRECTORY");
    assert_string_equal(ring.key_id().c_str(), SecretBox(key_of(2)).key_id().c_str());
    assert_string_equal(ring.other_key_ids().c_str(), SecretBox(key_of(1)).key_id().c_str());
}

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_sealed_secret_opens_with_the_same_key_for_the_same_account),
        cmocka_unit_test(two_seals_of_one_secret_differ),
        cmocka_unit_test(another_key_another_account_or_a_changed_byte_opens_nothing),
        cmocka_unit_test(a_key_of_the_wrong_size_is_refused_and_key_ids_tell_keys_apart),
        cmocka_unit_test(a_ring_opens_what_an_older_key_sealed_and_seals_with_the_current_key_only),
        cmocka_unit_test(a_ring_opens_nothing_that_none_of_its_keys_sealed_for_that_account),
        cmocka_unit_test(a_copy_of_the_current_key_among_the_others_counts_once),
        cmocka_unit_test(the_ring_takes_the_next_and_previous_key_files_when_present),
        cmocka_unit_test(a_first_start_creates_the_current_key_and_no_other),
        cmocka_unit_test(a_previous_key_file_of_the_wrong_length_is_a_clear_error),
        cmocka_unit_test(an_open_only_key_without_a_current_one_is_refused_and_creates_nothing),
        cmocka_unit_test(without_leave_to_create_a_missing_current_key_is_an_error),
        cmocka_unit_test(the_credentials_of_systemd_come_before_the_files),
    };
    return cmocka_run_group_tests_name("secret_box", tests, nullptr, nullptr);
}
