// Sealing TOTP secrets at rest: only the right key, for the right account, opens a secret, and
// any change to the sealed bytes is noticed.
#include "secret_box.hpp"

#include <cstring>
#include <stdexcept>
#include <vector>

#include "cmocka_main.hpp"

namespace {

using fotoauthd::SecretBox;

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

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_sealed_secret_opens_with_the_same_key_for_the_same_account),
        cmocka_unit_test(two_seals_of_one_secret_differ),
        cmocka_unit_test(another_key_another_account_or_a_changed_byte_opens_nothing),
        cmocka_unit_test(a_key_of_the_wrong_size_is_refused_and_key_ids_tell_keys_apart),
    };
    return cmocka_run_group_tests_name("secret_box", tests, nullptr, nullptr);
}
