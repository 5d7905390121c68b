// TOTP: the RFC 6238 reference values, what counts as a code, and single use of steps.
#include "totp.hpp"

#include <string>
#include <vector>

// cmocka last: its fail() macro would clash with the standard library headers.
#include "cmocka_main.hpp"

namespace totp = fotoauthd::totp;

namespace {

// RFC 6238 Appendix B uses the ASCII secret "12345678901234567890" for SHA-1.
const std::vector<std::uint8_t> kRfcSecret = {'1', '2', '3', '4', '5', '6', '7', '8', '9', '0',
                                              '1', '2', '3', '4', '5', '6', '7', '8', '9', '0'};

void rfc6238_appendix_b_sha1_vectors_are_reproduced(void**)
{
    struct Vector {
        std::int64_t time;
        const char* code;
    };
    const Vector vectors[] = {
        {59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
        {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"},
    };
    for (const auto& vector : vectors) {
        const std::string code = totp::code_for_step(kRfcSecret, totp::step_of(vector.time), 8);
        assert_string_equal(code.c_str(), vector.code);
    }
}

void six_digit_codes_are_the_last_six_digits_of_the_rfc_values(void**)
{
    // Dynamic truncation takes the value modulo 10^digits, so the 6-digit code is the tail.
    assert_string_equal(totp::code_for_step(kRfcSecret, totp::step_of(59)).c_str(), "287082");
    assert_string_equal(totp::code_for_step(kRfcSecret, totp::step_of(1111111109)).c_str(),
                        "081804");
}

void only_exactly_six_ascii_digits_count_as_a_code(void**)
{
    assert_true(totp::is_code_shape("123456"));
    assert_true(totp::is_code_shape("000000"));
    assert_false(totp::is_code_shape("12345"));
    assert_false(totp::is_code_shape("1234567"));
    assert_false(totp::is_code_shape(" 123456"));
    assert_false(totp::is_code_shape("123 456"));
    assert_false(totp::is_code_shape("+12345"));
    assert_false(totp::is_code_shape("-12345"));
    assert_false(totp::is_code_shape("12345\n"));
    assert_false(totp::is_code_shape(""));
    // Fullwidth digits (U+FF11..) and Arabic-Indic digits are not codes, whatever they mean.
    assert_false(totp::is_code_shape(
        "\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93\xef\xbc\x94\xef\xbc\x95\xef\xbc\x96"));
    assert_false(totp::is_code_shape("\xd9\xa1\xd9\xa2\xd9\xa3"));
}

void a_code_within_the_drift_window_is_accepted_with_its_step(void**)
{
    const std::int64_t now = 1111111109;
    const std::int64_t step = totp::step_of(now);
    for (std::int64_t offset = -1; offset <= 1; ++offset) {
        const auto code = totp::code_for_step(kRfcSecret, step + offset);
        const auto match = totp::match(kRfcSecret, code, now, 1, -1);
        assert_int_equal(match.kind, totp::MatchKind::Accepted);
        assert_int_equal(match.step, step + offset);
    }
}

void a_code_outside_the_drift_window_is_wrong(void**)
{
    const std::int64_t now = 1111111109;
    const std::int64_t step = totp::step_of(now);
    const auto early = totp::code_for_step(kRfcSecret, step - 2);
    const auto late = totp::code_for_step(kRfcSecret, step + 2);
    assert_int_equal(totp::match(kRfcSecret, early, now, 1, -1).kind, totp::MatchKind::Wrong);
    assert_int_equal(totp::match(kRfcSecret, late, now, 1, -1).kind, totp::MatchKind::Wrong);
    // A wider window configured by the administrator reaches them.
    assert_int_equal(totp::match(kRfcSecret, late, now, 2, -1).kind, totp::MatchKind::Accepted);
}

void a_used_step_and_every_earlier_step_are_refused_as_replays(void**)
{
    const std::int64_t now = 1111111109;
    const std::int64_t step = totp::step_of(now);
    const auto current = totp::code_for_step(kRfcSecret, step);
    const auto previous = totp::code_for_step(kRfcSecret, step - 1);
    const auto next = totp::code_for_step(kRfcSecret, step + 1);

    assert_int_equal(totp::match(kRfcSecret, current, now, 1, step).kind,
                     totp::MatchKind::Replayed);
    assert_int_equal(totp::match(kRfcSecret, previous, now, 1, step).kind,
                     totp::MatchKind::Replayed);
    assert_int_equal(totp::match(kRfcSecret, next, now, 1, step).kind, totp::MatchKind::Accepted);
}

void a_wrong_code_is_wrong(void**)
{
    const std::int64_t now = 1111111109;
    const auto right = totp::code_for_step(kRfcSecret, totp::step_of(now));
    std::string wrong = right;
    wrong[0] = wrong[0] == '9' ? '0' : static_cast<char>(wrong[0] + 1);
    assert_int_equal(totp::match(kRfcSecret, wrong, now, 1, -1).kind, totp::MatchKind::Wrong);
    assert_int_equal(totp::match(kRfcSecret, "12345a", now, 1, -1).kind, totp::MatchKind::Wrong);
}

void the_base32_secret_matches_rfc4648(void**)
{
    // RFC 4648 section 10: "foobar" is MZXW6YTBOI======; padding is dropped.
    const std::vector<std::uint8_t> foobar = {'f', 'o', 'o', 'b', 'a', 'r'};
    assert_string_equal(totp::base32(foobar).c_str(), "MZXW6YTBOI");
    assert_string_equal(totp::base32(kRfcSecret).c_str(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
}

void constant_time_comparison_tells_equal_from_different(void**)
{
    assert_true(totp::equal_in_constant_time("123456", "123456"));
    assert_false(totp::equal_in_constant_time("123456", "123457"));
    assert_false(totp::equal_in_constant_time("123456", "12345"));
}

}  // namespace

int main()
{
    totp::init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc6238_appendix_b_sha1_vectors_are_reproduced),
        cmocka_unit_test(six_digit_codes_are_the_last_six_digits_of_the_rfc_values),
        cmocka_unit_test(only_exactly_six_ascii_digits_count_as_a_code),
        cmocka_unit_test(a_code_within_the_drift_window_is_accepted_with_its_step),
        cmocka_unit_test(a_code_outside_the_drift_window_is_wrong),
        cmocka_unit_test(a_used_step_and_every_earlier_step_are_refused_as_replays),
        cmocka_unit_test(a_wrong_code_is_wrong),
        cmocka_unit_test(the_base32_secret_matches_rfc4648),
        cmocka_unit_test(constant_time_comparison_tells_equal_from_different),
    };
    return cmocka_run_group_tests_name("totp", tests, nullptr, nullptr);
}
