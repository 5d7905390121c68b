// The command line of fotoauthctl: options before or after the verb, defaults, every usage
// error explained in words; the rule on whom a caller may act for; the root verbs, their word
// after the verb, and which addresses unblock takes; the device verbs, mfa mode and history;
// mfa disable with its --reason and --yes, and recovery-codes regenerate.
#include "account.hpp"
#include "options.hpp"
#include "verbs.hpp"

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
    assert_int_equal(parse({"--timeout", "600000", "status"}).invocation->timeout.count(), 600000);
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
        {{"mfa", "off"}, "unknown 'mfa' sub-command 'off'; there are: enable, mode, disable"},
        {{"mfa", "disable", "now"}, "unexpected word 'now'"},
        {{"mfa", "disable", "--reason"}, "--reason needs a value"},
        {{"mfa", "disable", "--reason="}, "--reason needs a few words"},
        {{"mfa", "disable", "--reason", "  "}, "--reason needs a few words"},
        {{"mfa", "disable", "--reason", "a", "--reason", "b"}, "--reason is given twice"},
        {{"mfa", "disable", "--yes=no"}, "--yes takes no value"},
        {{"mfa", "disable", "--mode", "always"}, "--mode only applies"},
        {{"status", "--reason", "why"}, "--reason only applies to 'mfa disable'"},
        {{"mfa", "enable", "--yes"}, "--yes only applies to 'mfa disable'"},
        {{"recovery-codes"}, "'recovery-codes' needs a sub-command: regenerate"},
        {{"recovery-codes", "show"}, "unknown 'recovery-codes' sub-command 'show'"},
        {{"recovery-codes", "regenerate", "now"}, "unexpected word 'now'"},
        {{"recovery-codes", "regenerate", "--yes"}, "--yes only applies"},
        {{"recovery-codes", "regenerate", "--all"}, "--all only applies"},
        {{"mfa", "mode"}, "'mfa mode' needs the new mode"},
        {{"mfa", "mode", "sometimes"}, "not 'sometimes'"},
        {{"mfa", "mode", "always", "now"}, "unexpected word 'now'"},
        {{"mfa", "mode", "always", "--mode", "always"}, "--mode only applies to 'mfa enable'"},
        {{"devices", "list"}, "unknown 'devices' sub-command 'list'"},
        {{"devices", "--all"}, "--all only applies to 'devices forget'"},
        {{"status", "--all"}, "--all only applies to 'devices forget'"},
        {{"devices", "forget"}, "needs the ID of a device"},
        {{"devices", "forget", "3", "--all"}, "either a device ID or --all, not both"},
        {{"devices", "forget", "3", "4"}, "unexpected word '4'"},
        {{"devices", "forget", "--all", "extra"}, "either a device ID or --all"},
        {{"devices", "forget", "0"}, "not '0'"},
        {{"devices", "forget", "-3"}, "unknown option '-3'"},
        {{"devices", "forget", "--", "-3"}, "not '-3'"},
        {{"devices", "forget", "SHA256:abc"}, "not 'SHA256:abc'"},
        {{"devices", "forget", "9223372036854775808"}, "not '9223372036854775808'"},
        {{"devices", "forget", "--all=yes"}, "--all takes no value"},
        {{"devices", "--mode", "always"}, "--mode only applies"},
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
        {{"lockouts", "alice"}, "unexpected word 'alice'"},
        {{"lockouts", "--user", "alice"}, "--user does not apply to 'lockouts'"},
        {{"unlock"}, "'unlock' needs the login name"},
        {{"unlock", "alice", "bob"}, "unexpected word 'bob'"},
        {{"unlock", "--user", "alice"}, "needs the login name"},
        {{"unlock", "alice", "--user", "bob"}, "name the account after it"},
        {{"unlock", "alice", "--mode", "always"}, "--mode only applies"},
        {{"unblock"}, "'unblock' needs the IP address"},
        {{"unblock", "example.com"}, "not 'example.com'"},
        {{"unblock", "198.51.100.0/24"}, "not '198.51.100.0/24'"},
        {{"unblock", "198.51.100.9", "198.51.100.10"}, "unexpected word '198.51.100.10'"},
        {{"unblock", "198.51.100.9", "--user", "bob"}, "--user does not apply to 'unblock'"},
    };
    for (const auto& c : cases) {
        const auto parsed = parse(c.words);
        assert_false(parsed.invocation.has_value());
        if (!contains(parsed.error, c.expected))
            fail_msg("expected \"%s\" in \"%s\"", std::string(c.expected).c_str(),
                     parsed.error.c_str());
    }
}

void mfa_mode_takes_the_new_mode_as_a_word(void**)
{
    for (const auto mode : {ctl::Mode::Always, ctl::Mode::NewDevice}) {
        const std::string spelled(ctl::to_string(mode));
        const auto parsed = parse({"mfa", "mode", spelled, "--user", "bob"});
        assert_true(parsed.invocation.has_value());
        assert_int_equal(parsed.invocation->verb, ctl::Verb::MfaMode);
        assert_int_equal(*parsed.invocation->mode, mode);
        assert_string_equal(parsed.invocation->user->c_str(), "bob");
    }
}

void devices_lists_and_devices_forget_takes_an_id_or_all(void**)
{
    const auto list = parse({"devices", "--user", "bob"});
    assert_true(list.invocation.has_value());
    assert_int_equal(list.invocation->verb, ctl::Verb::Devices);
    assert_string_equal(list.invocation->user->c_str(), "bob");

    const auto one = parse({"devices", "forget", "12"});
    assert_true(one.invocation.has_value());
    assert_int_equal(one.invocation->verb, ctl::Verb::DevicesForget);
    assert_string_equal(one.invocation->operand.c_str(), "12");
    assert_false(one.invocation->all);

    // --all may come anywhere, like every option.
    const auto all = parse({"--all", "devices", "forget", "--user=bob"});
    assert_true(all.invocation.has_value());
    assert_int_equal(all.invocation->verb, ctl::Verb::DevicesForget);
    assert_true(all.invocation->all);
    assert_true(all.invocation->operand.empty());
    assert_string_equal(all.invocation->user->c_str(), "bob");
}

void a_device_id_is_a_positive_whole_number_that_fits_the_daemons_ids(void**)
{
    for (const auto id : {"1", "12", "9223372036854775807"})
        if (!ctl::is_device_id(id))
            fail_msg("refused the id \"%s\"", id);
    for (const auto text : {"", "0", "-1", "+1", " 1", "1 ", "1.0", "0x1", "one",
                            "9223372036854775808", "SHA256:abc"})
        if (ctl::is_device_id(text))
            fail_msg("accepted \"%s\" as a device id", text);
}

void the_help_names_the_device_verbs_and_mfa_mode(void**)
{
    const std::string help(ctl::help_text());
    assert_true(contains(help, "  mfa mode MODE "));
    assert_true(contains(help, "  devices "));
    assert_true(contains(help, "  devices forget ID\n"));
    assert_true(contains(help, "  devices forget --all\n"));
    assert_true(contains(help, "AuthenticationMethods publickey,keyboard-interactive"));
}

void mfa_disable_takes_a_reason_and_yes_for_root_scripts(void**)
{
    const auto own = parse({"mfa", "disable"});
    assert_true(own.invocation.has_value());
    assert_int_equal(own.invocation->verb, ctl::Verb::MfaDisable);
    assert_false(own.invocation->reason.has_value());
    assert_false(own.invocation->yes);

    const auto support = parse({"mfa", "--yes", "disable", "--user", "bob",
                                "--reason=lost phone and codes, passport checked"});
    assert_true(support.invocation.has_value());
    assert_int_equal(support.invocation->verb, ctl::Verb::MfaDisable);
    assert_string_equal(support.invocation->user->c_str(), "bob");
    assert_string_equal(support.invocation->reason->c_str(),
                        "lost phone and codes, passport checked");
    assert_true(support.invocation->yes);
    assert_string_equal(std::string(ctl::verb_name(ctl::Verb::MfaDisable)).c_str(), "mfa disable");
    assert_false(ctl::is_root_verb(ctl::Verb::MfaDisable));
}

void recovery_codes_regenerate_is_a_verb_for_any_account(void**)
{
    const auto parsed = parse({"recovery-codes", "regenerate", "--user", "bob"});
    assert_true(parsed.invocation.has_value());
    assert_int_equal(parsed.invocation->verb, ctl::Verb::RegenerateCodes);
    assert_string_equal(parsed.invocation->user->c_str(), "bob");
    assert_string_equal(std::string(ctl::verb_name(ctl::Verb::RegenerateCodes)).c_str(),
                        "recovery-codes regenerate");
    assert_false(ctl::is_root_verb(ctl::Verb::RegenerateCodes));
}

void root_must_give_a_reason_for_another_account_and_nobody_for_their_own(void**)
{
    ctl::Invocation without_reason;
    ctl::Invocation with_reason;
    with_reason.reason = "lost phone and codes";
    const ctl::TargetUser other{"bob", false};
    const ctl::TargetUser self{"alice", true};

    const auto missing = ctl::disable_usage_error(without_reason, other);
    assert_true(missing.has_value());
    assert_true(contains(*missing, "--reason TEXT"));
    const auto needless = ctl::disable_usage_error(with_reason, self);
    assert_true(needless.has_value());
    assert_true(contains(*needless, "with a code"));
    assert_false(ctl::disable_usage_error(with_reason, other).has_value());
    assert_false(ctl::disable_usage_error(without_reason, self).has_value());
}

void the_help_names_mfa_disable_recovery_codes_and_their_options(void**)
{
    const std::string help(ctl::help_text());
    assert_true(contains(help, "  mfa disable "));
    assert_true(contains(help, "  mfa disable --user NAME --reason TEXT\n"));
    assert_true(contains(help, "  recovery-codes regenerate\n"));
    assert_true(contains(help, "  --reason TEXT "));
    assert_true(contains(help, "  --yes "));
    assert_true(contains(help, "replace the phone"));
}

void history_is_a_verb_for_any_account_that_takes_user_and_nothing_else(void**)
{
    const auto own = parse({"history"});
    assert_true(own.invocation.has_value());
    assert_int_equal(own.invocation->verb, ctl::Verb::History);
    assert_false(own.invocation->user.has_value());
    const auto other = parse({"history", "--user", "bob"});
    assert_true(other.invocation.has_value());
    assert_string_equal(other.invocation->user->c_str(), "bob");
    assert_false(ctl::is_root_verb(ctl::Verb::History));

    assert_true(contains(parse({"history", "bob"}).error, "unexpected word 'bob'"));
    assert_true(contains(parse({"history", "--all"}).error, "--all only applies"));
    assert_true(contains(parse({"history", "--mode", "always"}).error, "--mode only applies"));
    assert_true(contains(std::string(ctl::help_text()), "  history "));
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

void the_root_verbs_take_their_object_as_the_word_after_them(void**)
{
    const auto lockouts = parse({"--socket", "/tmp/s", "lockouts"});
    assert_true(lockouts.invocation.has_value());
    assert_int_equal(lockouts.invocation->verb, ctl::Verb::Lockouts);
    assert_string_equal(lockouts.invocation->socket_path.c_str(), "/tmp/s");

    const auto unlock = parse({"unlock", "alice", "--timeout=500"});
    assert_true(unlock.invocation.has_value());
    assert_int_equal(unlock.invocation->verb, ctl::Verb::Unlock);
    assert_string_equal(unlock.invocation->operand.c_str(), "alice");
    assert_int_equal(unlock.invocation->timeout.count(), 500);

    // A login name that starts with a dash can still be given after "--".
    const auto dashed = parse({"unlock", "--", "-odd"});
    assert_true(dashed.invocation.has_value());
    assert_string_equal(dashed.invocation->operand.c_str(), "-odd");

    const auto unblock = parse({"unblock", "2001:db8::1"});
    assert_true(unblock.invocation.has_value());
    assert_int_equal(unblock.invocation->verb, ctl::Verb::Unblock);
    assert_string_equal(unblock.invocation->operand.c_str(), "2001:db8::1");
}

void the_help_names_the_root_verbs_and_what_they_take(void**)
{
    const std::string help(ctl::help_text());
    assert_true(contains(help, "  lockouts "));
    assert_true(contains(help, "  unlock USER "));
    assert_true(contains(help, "  unblock ADDRESS "));
}

void only_the_new_verbs_about_locks_are_root_verbs(void**)
{
    assert_true(ctl::is_root_verb(ctl::Verb::Lockouts));
    assert_true(ctl::is_root_verb(ctl::Verb::Unlock));
    assert_true(ctl::is_root_verb(ctl::Verb::Unblock));
    assert_false(ctl::is_root_verb(ctl::Verb::Status));
    assert_false(ctl::is_root_verb(ctl::Verb::MfaEnable));
    assert_false(ctl::is_root_verb(ctl::Verb::MfaMode));
    assert_false(ctl::is_root_verb(ctl::Verb::Devices));
    assert_false(ctl::is_root_verb(ctl::Verb::DevicesForget));
    assert_false(ctl::is_root_verb(ctl::Verb::Help));
}

void unblock_takes_numeric_ipv4_and_ipv6_addresses_only(void**)
{
    for (const auto address :
         {"198.51.100.9", "0.0.0.0", "255.255.255.255", "::1", "::", "2001:db8::1",
          "2001:0db8:0000:0000:0000:0000:0000:0001", "::ffff:198.51.100.9", "FE80::1"})
        if (!ctl::is_ip_address(address))
            fail_msg("refused the address \"%s\"", address);

    for (const auto text :
         {"", "198.51.100", "198.51.100.256", "198.51.100.9.1", "198.51.100.9 ", " 198.51.100.9",
          "198.51.100.9/32", "2001:db8::/64", "2001:db8:::1", "fe80::1%eth0", "localhost",
          "example.com", "0x7f.0.0.1", "[::1]", "1.2.3.4:22"})
        if (ctl::is_ip_address(text))
            fail_msg("accepted \"%s\" as an address", text);

    // A NUL ends the text for inet_pton; what follows it must not slip through unseen.
    assert_false(ctl::is_ip_address(std::string_view("198.51.100.9\0junk", 17)));
}

void unblock_also_takes_an_ipv6_network_as_lockouts_lists_it(void**)
{
    assert_string_equal(ctl::address_to_unblock("198.51.100.9")->c_str(), "198.51.100.9");
    assert_string_equal(ctl::address_to_unblock("2001:db8::1")->c_str(), "2001:db8::1");
    assert_string_equal(ctl::address_to_unblock("2001:db8:1:2::/64")->c_str(), "2001:db8:1:2::");

    const auto parsed = parse({"unblock", "2001:db8:1:2::/64"});
    assert_true(parsed.invocation.has_value());
    assert_string_equal(parsed.invocation->operand.c_str(), "2001:db8:1:2::/64");

    for (const auto text : {"/64", "198.51.100.0/64", "2001:db8::/48", "2001:db8::/640",
                            "2001:db8::/64/64", "host:example.com", "uid:1000"})
        if (ctl::address_to_unblock(text))
            fail_msg("accepted \"%s\" to unblock", text);
}

void a_root_verb_is_refused_to_others_with_a_sentence_naming_it(void**)
{
    assert_false(ctl::refusal_unless_root(0, ctl::Verb::Unlock).has_value());

    const auto refusal = ctl::refusal_unless_root(1000, ctl::Verb::Unblock);
    assert_true(refusal.has_value());
    assert_true(contains(*refusal, "'unblock' is for root only"));
}

void json_applies_to_the_verbs_that_print_data_and_is_a_usage_error_elsewhere(void**)
{
    for (const auto verb : {"status", "history", "devices", "lockouts"}) {
        const auto before = parse({"--json", verb});
        assert_true(before.invocation.has_value());
        assert_true(before.invocation->json);
        assert_true(parse({verb, "--json"}).invocation->json);
        assert_false(parse({verb}).invocation->json);
    }
    assert_true(parse({"history", "--user", "bob", "--json"}).invocation->json);

    const std::vector<std::vector<std::string_view>> changing = {
        {"mfa", "enable"},          {"mfa", "mode", "always"},
        {"mfa", "disable"},         {"recovery-codes", "regenerate"},
        {"devices", "forget", "3"}, {"devices", "forget", "--all"},
        {"unlock", "bob"},          {"unblock", "198.51.100.9"},
    };
    for (auto words : changing) {
        words.push_back("--json");
        const auto parsed = ctl::parse_command_line(words);
        assert_false(parsed.invocation.has_value());
        assert_true(contains(parsed.error, "--json only applies to"));
    }
    assert_true(contains(parse({"status", "--json=yes"}).error, "--json takes no value"));
    assert_true(contains(std::string(ctl::help_text()), "  --json "));
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
        cmocka_unit_test(mfa_mode_takes_the_new_mode_as_a_word),
        cmocka_unit_test(devices_lists_and_devices_forget_takes_an_id_or_all),
        cmocka_unit_test(a_device_id_is_a_positive_whole_number_that_fits_the_daemons_ids),
        cmocka_unit_test(the_help_names_the_device_verbs_and_mfa_mode),
        cmocka_unit_test(mfa_disable_takes_a_reason_and_yes_for_root_scripts),
        cmocka_unit_test(recovery_codes_regenerate_is_a_verb_for_any_account),
        cmocka_unit_test(root_must_give_a_reason_for_another_account_and_nobody_for_their_own),
        cmocka_unit_test(the_help_names_mfa_disable_recovery_codes_and_their_options),
        cmocka_unit_test(history_is_a_verb_for_any_account_that_takes_user_and_nothing_else),
        cmocka_unit_test(a_word_quoted_back_in_an_error_cannot_drive_the_terminal),
        cmocka_unit_test(without_user_option_the_caller_acts_for_itself),
        cmocka_unit_test(a_user_may_name_itself),
        cmocka_unit_test(only_root_may_act_for_another_account),
        cmocka_unit_test(the_root_verbs_take_their_object_as_the_word_after_them),
        cmocka_unit_test(the_help_names_the_root_verbs_and_what_they_take),
        cmocka_unit_test(only_the_new_verbs_about_locks_are_root_verbs),
        cmocka_unit_test(unblock_takes_numeric_ipv4_and_ipv6_addresses_only),
        cmocka_unit_test(unblock_also_takes_an_ipv6_network_as_lockouts_lists_it),
        cmocka_unit_test(a_root_verb_is_refused_to_others_with_a_sentence_naming_it),
        cmocka_unit_test(json_applies_to_the_verbs_that_print_data_and_is_a_usage_error_elsewhere),
    };
    return cmocka_run_group_tests_name("fotoauthctl options", tests, nullptr, nullptr);
}
