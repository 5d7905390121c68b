// The command line of fotoauthctl: options before or after the verb, defaults, every usage
// error explained in words; and the rule on whom a caller may act for.
#include "account.hpp"
#include "options.hpp"

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

// Last: cmocka defines a fail() macro that would break <ios>, which <chrono> pulls in.
#include "cmocka_main.hpp"

namespace ctl = fotostudio::ctl;

namespace {

ctl::ParsedCommandLine parse(std::initializer_list<std::string_view> words)
{
    const std::vector<std::string_view> args(words);
    return ctl::parse_command_line(args);
}

bool contains(const std::string& text, std::string_view part)
{
    return text.find(part) != std::string::npos;
}

void a_bare_verb_gets_the_documented_defaults(void**)
{
    const auto parsed = parse({"status"});
    assert_true(parsed.invocation.has_value());
    assert_int_equal(parsed.invocation->verb, ctl::Verb::Status);
    assert_string_equal(parsed.invocation->socket_path.c_str(), "/run/fotoauthd/socket");
    assert_int_equal(parsed.invocation->timeout.count(), 10000);
    assert_false(parsed.invocation->user.has_value());
    assert_false(parsed.invocation->mode.has_value());
}

void options_are_read_before_and_after_the_verb_with_or_without_an_equals_sign(void**)
{
    const auto parsed = parse({"--socket", "/tmp/s", "mfa", "--timeout=2500", "enable",
                               "--mode=new-device", "--user", "bob"});
    assert_true(parsed.invocation.has_value());
    assert_int_equal(parsed.invocation->verb, ctl::Verb::MfaEnable);
    assert_string_equal(parsed.invocation->socket_path.c_str(), "/tmp/s");
    assert_int_equal(parsed.invocation->timeout.count(), 2500);
    assert_string_equal(parsed.invocation->user->c_str(), "bob");
    assert_int_equal(*parsed.invocation->mode, ctl::Mode::NewDevice);
}

void both_modes_are_understood_and_spelled_back_the_same(void**)
{
    for (const auto mode : {ctl::Mode::Always, ctl::Mode::NewDevice}) {
        const std::string spelled(ctl::to_string(mode));
        const auto parsed = parse({"mfa", "enable", "--mode", spelled});
        assert_true(parsed.invocation.has_value());
        assert_int_equal(*parsed.invocation->mode, mode);
    }
}

void help_and_version_are_verbs_of_their_own(void**)
{
    assert_int_equal(parse({"--help"}).invocation->verb, ctl::Verb::Help);
    assert_int_equal(parse({"-h"}).invocation->verb, ctl::Verb::Help);
    assert_int_equal(parse({"help"}).invocation->verb, ctl::Verb::Help);
    assert_int_equal(parse({"status", "--help"}).invocation->verb, ctl::Verb::Help);
    assert_int_equal(parse({"--version"}).invocation->verb, ctl::Verb::Version);
}

void the_timeout_range_ends_are_accepted(void**)
{
    assert_int_equal(parse({"--timeout", "1", "status"}).invocation->timeout.count(), 1);
    assert_int_equal(parse({"--timeout", "600000", "status"}).invocation->timeout.count(),
                     600000);
}

void a_double_dash_ends_the_options(void**)
{
    const auto parsed = parse({"--", "status"});
    assert_true(parsed.invocation.has_value());
    assert_int_equal(parsed.invocation->verb, ctl::Verb::Status);
    assert_false(parse({"status", "--", "--user"}).invocation.has_value());
}

void every_usage_error_is_refused_with_a_sentence_naming_the_problem(void**)
{
    struct Case {
        std::initializer_list<std::string_view> words;
        std::string_view expected;
    };
    const Case cases[] = {
        {{}, "no verb"},
        {{"mfa"}, "needs a sub-command"},
        {{"mfa", "disable"}, "'disable'"},
        {{"frobnicate"}, "unknown verb 'frobnicate'"},
        {{"status", "extra"}, "unexpected word 'extra'"},
        {{"status", "--mode", "always"}, "--mode only applies"},
        {{"mfa", "enable", "--mode", "sometimes"}, "'sometimes'"},
        {{"--timeout", "0", "status"}, "--timeout"},
        {{"--timeout", "600001", "status"}, "--timeout"},
        {{"--timeout", "-5", "status"}, "--timeout"},
        {{"--timeout", "12ms", "status"}, "'12ms'"},
        {{"--timeout", "", "status"}, "--timeout"},
        {{"status", "--user"}, "--user needs a value"},
        {{"status", "--user="}, "--user needs a login name"},
        {{"--socket=", "status"}, "--socket needs a path"},
        {{"status", "--user", "a", "--user", "b"}, "--user is given twice"},
        {{"status", "--frob"}, "unknown option '--frob'"},
        {{"status", "-x"}, "unknown option '-x'"},
        {{"--help=yes"}, "--help takes no value"},
    };
    for (const auto& c : cases) {
        const auto parsed = parse(c.words);
        assert_false(parsed.invocation.has_value());
        if (!contains(parsed.error, c.expected))
            fail_msg("expected \"%s\" in \"%s\"", std::string(c.expected).c_str(),
                     parsed.error.c_str());
    }
}

void a_word_quoted_back_in_an_error_cannot_drive_the_terminal(void**)
{
    const auto parsed = parse({"\x1b]0;owned\x07"});
    assert_false(parsed.invocation.has_value());
    assert_false(contains(parsed.error, "\x1b"));
    assert_false(contains(parsed.error, "\x07"));
}

void without_user_option_the_caller_acts_for_itself(void**)
{
    const auto choice = ctl::choose_user(1000, "alice", std::nullopt);
    assert_true(choice.user.has_value());
    assert_string_equal(choice.user->name.c_str(), "alice");
    assert_true(choice.user->is_caller);
}

void a_user_may_name_itself(void**)
{
    const auto choice = ctl::choose_user(1000, "alice", std::string("alice"));
    assert_true(choice.user.has_value());
    assert_true(choice.user->is_caller);
}

void only_root_may_act_for_another_account(void**)
{
    const auto refused = ctl::choose_user(1000, "alice", std::string("bob"));
    assert_false(refused.user.has_value());
    assert_int_equal(refused.failure, ctl::kUsage);
    assert_true(contains(refused.error, "only root"));

    const auto allowed = ctl::choose_user(0, "root", std::string("bob"));
    assert_true(allowed.user.has_value());
    assert_string_equal(allowed.user->name.c_str(), "bob");
    assert_false(allowed.user->is_caller);
}

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_bare_verb_gets_the_documented_defaults),
        cmocka_unit_test(options_are_read_before_and_after_the_verb_with_or_without_an_equals_sign),
        cmocka_unit_test(both_modes_are_understood_and_spelled_back_the_same),
        cmocka_unit_test(help_and_version_are_verbs_of_their_own),
        cmocka_unit_test(the_timeout_range_ends_are_accepted),
        cmocka_unit_test(a_double_dash_ends_the_options),
        cmocka_unit_test(every_usage_error_is_refused_with_a_sentence_naming_the_problem),
        cmocka_unit_test(a_word_quoted_back_in_an_error_cannot_drive_the_terminal),
        cmocka_unit_test(without_user_option_the_caller_acts_for_itself),
        cmocka_unit_test(a_user_may_name_itself),
        cmocka_unit_test(only_root_may_act_for_another_account),
    };
    return cmocka_run_group_tests_name("fotoauthctl options", tests, nullptr, nullptr);
}
