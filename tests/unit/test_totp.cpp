// TOTP: the RFC 6238 reference values, what counts as a code, single use of steps, and the
// search beyond the window that measures a phone's clock drift.
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

// Clock drift: the steps beyond the window are looked at only to tell how far the phone is off.
constexpr unsigned kWindow = 1;
constexpr unsigned kSearch = 10;

totp::Match match_with_search(std::int64_t code_step, std::int64_t now, unsigned search,
                              std::int64_t last_accepted_step = -1)
{
    const auto code = totp::code_for_step(kRfcSecret, code_step);
    return totp::match(kRfcSecret, code, now, kWindow, last_accepted_step, search);
}

void a_code_a_few_steps_ahead_is_outside_the_window_with_its_offset(void**)
{
    const std::int64_t now = 1111111109;
    const std::int64_t step = totp::step_of(now);

    const auto match = match_with_search(step + 3, now, kSearch);
    assert_int_equal(match.kind, totp::MatchKind::OutsideWindow);
    assert_int_equal(match.step, step + 3);
    assert_int_equal(match.offset, 3);
}

void a_code_a_few_steps_behind_is_outside_the_window_with_a_negative_offset(void**)
{
    const std::int64_t now = 1111111109;
    const std::int64_t step = totp::step_of(now);

    const auto match = match_with_search(step - 4, now, kSearch);
    assert_int_equal(match.kind, totp::MatchKind::OutsideWindow);
    assert_int_equal(match.step, step - 4);
    assert_int_equal(match.offset, -4);
}

void the_search_reaches_exactly_its_number_of_steps_beyond_the_window(void**)
{
    const std::int64_t now = 1111111109;
    const std::int64_t step = totp::step_of(now);
    const std::int64_t edge = kWindow + kSearch;

    assert_int_equal(match_with_search(step + edge, now, kSearch).kind,
                     totp::MatchKind::OutsideWindow);
    assert_int_equal(match_with_search(step - edge, now, kSearch).kind,
                     totp::MatchKind::OutsideWindow);
    assert_int_equal(match_with_search(step + edge + 1, now, kSearch).kind, totp::MatchKind::Wrong);
    assert_int_equal(match_with_search(step - edge - 1, now, kSearch).kind, totp::MatchKind::Wrong);
    assert_int_equal(match_with_search(step + 12, now, kSearch).kind, totp::MatchKind::Wrong);
}

void without_a_search_a_code_outside_the_window_is_wrong_as_before(void**)
{
    const std::int64_t now = 1111111109;
    const std::int64_t step = totp::step_of(now);

    assert_int_equal(match_with_search(step + 3, now, 0).kind, totp::MatchKind::Wrong);
    assert_int_equal(match_with_search(step - 4, now, 0).kind, totp::MatchKind::Wrong);
    assert_int_equal(match_with_search(step + 2, now, 0).kind, totp::MatchKind::Wrong);
}

void the_search_changes_nothing_inside_the_window(void**)
{
    const std::int64_t now = 1111111109;
    const std::int64_t step = totp::step_of(now);

    for (std::int64_t offset = -1; offset <= 1; ++offset) {
        const auto match = match_with_search(step + offset, now, kSearch);
        assert_int_equal(match.kind, totp::MatchKind::Accepted);
        assert_int_equal(match.step, step + offset);
        assert_int_equal(match.offset, offset);
    }
    assert_int_equal(match_with_search(step, now, kSearch, step).kind, totp::MatchKind::Replayed);
    assert_int_equal(match_with_search(step - 1, now, kSearch, step).kind,
                     totp::MatchKind::Replayed);
    assert_int_equal(match_with_search(step + 1, now, kSearch, step).kind,
                     totp::MatchKind::Accepted);
}

void a_step_outside_the_window_at_or_before_the_last_used_one_gives_no_hint(void**)
{
    const std::int64_t now = 1111111109;
    const std::int64_t step = totp::step_of(now);

    // An old code behind the window, once the store has used a later step: nothing to report.
    assert_int_equal(match_with_search(step - 4, now, kSearch, step).kind, totp::MatchKind::Wrong);
    // A step ahead that is already used (or burned into last_accepted_step) is no news either.
    assert_int_equal(match_with_search(step + 3, now, kSearch, step + 3).kind,
                     totp::MatchKind::Wrong);
    assert_int_equal(match_with_search(step + 3, now, kSearch, step + 5).kind,
                     totp::MatchKind::Wrong);
    // One step after the last used one is still reported.
    assert_int_equal(match_with_search(step + 4, now, kSearch, step + 3).kind,
                     totp::MatchKind::OutsideWindow);
}

// Two steps `distance` apart that share a code, from the RFC secret. Six digits repeat by
// chance: a pair within a few steps turns up every few hundred thousand steps, so this search
// takes a fraction of a second.
struct SharedCode {
    std::int64_t first;
    std::int64_t distance;
};

SharedCode find_two_steps_with_one_code(std::size_t nearest, std::size_t farthest)
{
    const std::int64_t start = totp::step_of(1111111109);
    std::vector<std::string> codes;
    for (std::int64_t step = start; step < start + 20000000; ++step) {
        codes.push_back(totp::code_for_step(kRfcSecret, step));
        const auto last = codes.size() - 1;
        for (std::size_t distance = nearest; distance <= farthest && distance <= last; ++distance)
            if (codes[last - distance] == codes[last])
                return {step - static_cast<std::int64_t>(distance),
                        static_cast<std::int64_t>(distance)};
    }
    fail_msg("no two nearby steps share a code");
    return {};
}

void the_same_digits_valid_for_two_steps_in_the_window_are_accepted_only_once(void**)
{
    // Regression: the earlier step used to be accepted, which left the later one, with the same
    // digits, open for a second login with the code just typed.
    const auto shared = find_two_steps_with_one_code(1, 1);
    const auto code = totp::code_for_step(kRfcSecret, shared.first);
    const std::int64_t now = shared.first * totp::kStepSeconds;

    const auto first_use = totp::match(kRfcSecret, code, now, kWindow, -1);
    assert_int_equal(first_use.kind, totp::MatchKind::Accepted);
    assert_int_equal(first_use.step, shared.first + 1);

    const auto second_use = totp::match(kRfcSecret, code, now, kWindow, first_use.step, kSearch);
    assert_int_equal(second_use.kind, totp::MatchKind::Replayed);
}

void a_code_valid_inside_the_window_wins_over_the_same_code_outside_it(void**)
{
    const auto shared = find_two_steps_with_one_code(2, 9);
    const auto code = totp::code_for_step(kRfcSecret, shared.first);
    assert_string_equal(code.c_str(),
                        totp::code_for_step(kRfcSecret, shared.first + shared.distance).c_str());
    const std::int64_t now = shared.first * totp::kStepSeconds;

    const auto accepted = totp::match(kRfcSecret, code, now, kWindow, -1, kSearch);
    assert_int_equal(accepted.kind, totp::MatchKind::Accepted);
    assert_int_equal(accepted.offset, 0);

    // Used already: a replay, not a hint about the later step with the same code.
    const auto replayed = totp::match(kRfcSecret, code, now, kWindow, shared.first, kSearch);
    assert_int_equal(replayed.kind, totp::MatchKind::Replayed);
}

void outside_the_window_the_match_nearest_to_now_is_reported(void**)
{
    const auto shared = find_two_steps_with_one_code(2, 9);
    const auto code = totp::code_for_step(kRfcSecret, shared.first);
    const std::int64_t later = shared.first + shared.distance;

    // Now two steps before the first: both ahead, the first is nearer.
    const auto ahead = totp::match(kRfcSecret, code, (shared.first - 2) * totp::kStepSeconds,
                                   kWindow, -1, kSearch);
    assert_int_equal(ahead.kind, totp::MatchKind::OutsideWindow);
    assert_int_equal(ahead.offset, 2);

    // Now two steps after the later one: both behind, the later is nearer.
    const auto behind =
        totp::match(kRfcSecret, code, (later + 2) * totp::kStepSeconds, kWindow, -1, kSearch);
    assert_int_equal(behind.kind, totp::MatchKind::OutsideWindow);
    assert_int_equal(behind.offset, -2);
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
        cmocka_unit_test(a_code_a_few_steps_ahead_is_outside_the_window_with_its_offset),
        cmocka_unit_test(a_code_a_few_steps_behind_is_outside_the_window_with_a_negative_offset),
        cmocka_unit_test(the_search_reaches_exactly_its_number_of_steps_beyond_the_window),
        cmocka_unit_test(without_a_search_a_code_outside_the_window_is_wrong_as_before),
        cmocka_unit_test(the_search_changes_nothing_inside_the_window),
        cmocka_unit_test(a_step_outside_the_window_at_or_before_the_last_used_one_gives_no_hint),
        cmocka_unit_test(the_same_digits_valid_for_two_steps_in_the_window_are_accepted_only_once),
        cmocka_unit_test(a_code_valid_inside_the_window_wins_over_the_same_code_outside_it),
        cmocka_unit_test(outside_the_window_the_match_nearest_to_now_is_reported),
        cmocka_unit_test(a_wrong_code_is_wrong),
        cmocka_unit_test(the_base32_secret_matches_rfc4648),
        cmocka_unit_test(constant_time_comparison_tells_equal_from_different),
    };
    return cmocka_run_group_tests_name("totp", tests, nullptr, nullptr);
}
