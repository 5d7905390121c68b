// Recovery codes: format, entropy, uniqueness, normalisation of what people type, and hashing.
#include "recovery_codes.hpp"

#include <array>
#include <set>
#include <string>

// cmocka last: its fail() macro would clash with the standard library headers.
#include "cmocka_main.hpp"

namespace recovery = fotoauthd::recovery;

namespace {

bool has_display_format(const std::string& code)
{
    if (code.size() != 14 || code[4] != '-' || code[9] != '-')
        return false;
    for (std::size_t i = 0; i < code.size(); ++i) {
        if (i == 4 || i == 9)
            continue;
        if (recovery::kAlphabet.find(code[i]) == std::string_view::npos)
            return false;
    }
    return true;
}

void a_set_has_ten_distinct_codes_in_the_display_format(void**)
{
    const auto codes = recovery::generate_set();
    assert_int_equal(codes.size(), 10);
    const std::set<std::string> distinct(codes.begin(), codes.end());
    assert_int_equal(distinct.size(), 10);
    for (const auto& code : codes)
        assert_true(has_display_format(code));
}

void every_symbol_of_the_alphabet_appears_about_equally_often(void**)
{
    // 2,000 codes give 24,000 symbols, 750 expected per symbol. A generator that used fewer than
    // five random bits per symbol, or a biased mapping, falls far outside these bounds.
    std::array<int, 32> counts{};
    std::set<std::string> seen;
    for (int i = 0; i < 2000; ++i) {
        const auto code = recovery::generate();
        seen.insert(code);
        for (char c : code)
            if (c != '-')
                ++counts[recovery::kAlphabet.find(c)];
    }
    assert_int_equal(seen.size(), 2000);
    for (int count : counts) {
        assert_true(count > 600);
        assert_true(count < 900);
    }
}

void typed_codes_are_normalised_with_or_without_dashes_in_either_case(void**)
{
    assert_string_equal(recovery::normalize("ABCD-EFGH-JKMN")->c_str(), "ABCDEFGHJKMN");
    assert_string_equal(recovery::normalize("abcdefghjkmn")->c_str(), "ABCDEFGHJKMN");
    assert_string_equal(recovery::normalize("abcd efgh jkmn")->c_str(), "ABCDEFGHJKMN");
    // Look-alike letters are read as the digits the alphabet has instead.
    assert_string_equal(recovery::normalize("o1l0-IIII-0000")->c_str(), "011011110000");
}

void text_that_cannot_be_a_recovery_code_is_refused(void**)
{
    assert_false(recovery::normalize("").has_value());
    assert_false(recovery::normalize("123456").has_value());
    assert_false(recovery::normalize("ABCD-EFGH-JKM").has_value());
    assert_false(recovery::normalize("ABCD-EFGH-JKMNP").has_value());
    assert_false(recovery::normalize("ABCD-EFGH-JKM!").has_value());
    assert_false(recovery::normalize("ABCD-EFGH-JKMU").has_value());  // U is not in the alphabet
    assert_false(recovery::normalize(std::string(100, 'A')).has_value());
}

void a_hash_verifies_its_own_code_only(void**)
{
    const auto code = recovery::generate();
    const auto normalized = *recovery::normalize(code);
    const auto hash = recovery::hash(normalized);

    assert_true(hash.rfind("$y$", 0) == 0);
    assert_true(hash.find(normalized) == std::string::npos);
    assert_true(recovery::verify(normalized, hash));

    std::string other = normalized;
    other[11] = other[11] == 'Z' ? 'Y' : 'Z';
    assert_false(recovery::verify(other, hash));
    assert_false(recovery::verify(normalized, "$y$garbage"));
}

void the_same_code_hashes_differently_each_time(void**)
{
    const auto normalized = *recovery::normalize("ABCD-EFGH-JKMN");
    assert_string_not_equal(recovery::hash(normalized).c_str(), recovery::hash(normalized).c_str());
}

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_set_has_ten_distinct_codes_in_the_display_format),
        cmocka_unit_test(every_symbol_of_the_alphabet_appears_about_equally_often),
        cmocka_unit_test(typed_codes_are_normalised_with_or_without_dashes_in_either_case),
        cmocka_unit_test(text_that_cannot_be_a_recovery_code_is_refused),
        cmocka_unit_test(a_hash_verifies_its_own_code_only),
        cmocka_unit_test(the_same_code_hashes_differently_each_time),
    };
    return cmocka_run_group_tests_name("recovery_codes", tests, nullptr, nullptr);
}
