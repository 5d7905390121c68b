// `fotoauthctl email set|clear|show`: which addresses are taken (fotoauthd's rule, checked here
// first so that a bad one is refused with a reason before any code is asked), the command line of
// the three verbs and their help, the sentence that says where alerts go, and its JSON.
#include "alert_address.hpp"
#include "json_output.hpp"
#include "options.hpp"
#include "protocol.hpp"
#include "verbs.hpp"

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

// Last: cmocka defines a fail() macro that would break <ios>, which <chrono> pulls in.
#include "cmocka_main.hpp"

namespace ctl = fotostudio::ctl;
namespace proto = fotostudio::protocol;

namespace {

const ctl::TargetUser kBob{"bob", true};
const ctl::TargetUser kBobForRoot{"bob", false};

ctl::ParsedCommandLine parse(std::initializer_list<std::string_view> words)
{
    const std::vector<std::string_view> args(words);
    return ctl::parse_command_line(args);
}

bool contains(const std::string& text, std::string_view part)
{
    return text.find(part) != std::string::npos;
}

void plain_addresses_are_taken(void**)
{
    const std::string longest = std::string(64, 'a') + "@" + std::string(189, 'b');
    assert_int_equal(longest.size(), 254);
    for (const std::string& address :
         {std::string("bob@studio.example"), std::string("b.o-b+alerts@mail.studio.example"),
          std::string("o'brien@studio.example"), std::string("x@y"), longest}) {
        if (const auto problem = ctl::alert_address_problem(address))
            fail_msg("refused \"%s\": %s", address.c_str(), problem->c_str());
    }
}

void every_address_that_is_not_plain_is_refused_with_its_reason(void**)
{
    struct Case {
        std::string address;
        std::string_view reason;
    };
    const std::vector<Case> cases = {
        {"", "empty"},
        {"-oQ@x", "starts with '-'"},
        {"-bob@studio.example", "starts with '-'"},
        {"bob", "exactly one '@'"},
        {"bob@studio@example", "exactly one '@'"},
        {"@studio.example", "a name before the '@'"},
        {"bob@", "a domain after it"},
        {"bob smith@studio.example", "a blank"},
        {"bob@studio.example\n", "a blank"},
        {"bob\t@studio.example", "a blank"},
        {"\"bob\"@studio.example", "a double quote"},
        {"Bob <bob@studio.example>", "<>"},
        {"bob@studio.example,eve@evil.example", "<>,;"},
        {"bob@studio.example;eve", "<>,;"},
        {"bob\\@studio.example", "\\"},
        {"bob(x)@studio.example", "()"},
        {"b\xc3\xb6"
         "b@studio.example",
         "outside ASCII"},
        {"bob@studio.example\x7f", "outside ASCII"},
        {std::string(64, 'a') + "@" + std::string(190, 'b'), "longer than 254 bytes"},
    };
    for (const auto& [address, reason] : cases) {
        const auto problem = ctl::alert_address_problem(address);
        if (!problem)
            fail_msg("taken: \"%s\"", address.c_str());
        if (!contains(*problem, reason))
            fail_msg("\"%s\" refused for \"%s\", not \"%.*s\"", address.c_str(), problem->c_str(),
                     static_cast<int>(reason.size()), reason.data());
    }
}

void the_three_email_verbs_are_parsed_with_user_and_json(void**)
{
    const auto set = parse({"email", "set", "bob@studio.example", "--user", "bob"});
    assert_true(set.invocation.has_value());
    assert_int_equal(set.invocation->verb, ctl::Verb::EmailSet);
    assert_string_equal(set.invocation->operand.c_str(), "bob@studio.example");
    assert_string_equal(set.invocation->user->c_str(), "bob");

    assert_int_equal(parse({"email", "clear"}).invocation->verb, ctl::Verb::EmailClear);
    const auto show = parse({"--json", "email", "show"});
    assert_int_equal(show.invocation->verb, ctl::Verb::EmailShow);
    assert_true(show.invocation->json);

    // "--" lets an address that starts with '-' reach the check, which refuses it.
    const auto dashed = parse({"email", "set", "--", "-oQ@x"});
    assert_false(dashed.invocation.has_value());
    assert_true(contains(dashed.error, "'-oQ@x' is not a plain e-mail address: it starts with "
                                       "'-'. Nothing was changed."));
}

void misuse_of_the_email_verbs_is_explained(void**)
{
    struct Case {
        std::initializer_list<std::string_view> words;
        std::string_view error;
    };
    const Case cases[] = {
        {{"email"}, "'email' needs a sub-command: set, clear or show."},
        {{"email", "send"}, "unknown 'email' sub-command 'send'; there are: set, clear, show."},
        {{"email", "set"}, "'email set' needs the address alerts should go to"},
        {{"email", "set", ""}, "to go back to the site's default, use 'email clear'"},
        {{"email", "set", "a@b", "c@d"}, "unexpected word 'c@d'."},
        {{"email", "clear", "a@b"}, "unexpected word 'a@b'."},
        {{"email", "set", "bob"}, "'bob' is not a plain e-mail address: it needs exactly one '@'"},
        // Read as an option, an address starting with '-' is still named as the problem.
        {{"email", "set", "-oQ@x"},
         "unknown option '-oQ@x'; an alert address cannot start "
         "with '-'."},
        {{"email", "set", "a@b", "--json"}, "--json only applies to"},
        {{"email", "clear", "--json"}, "--json only applies to"},
        {{"email", "show", "--ascii"}, "--ascii only applies to 'status' and 'history'."},
    };
    for (const auto& [words, error] : cases) {
        const auto parsed = parse(words);
        if (parsed.invocation)
            fail_msg("accepted: %s", std::string(*words.begin()).c_str());
        if (!contains(parsed.error, error))
            fail_msg("said \"%s\", not \"%.*s\"", parsed.error.c_str(),
                     static_cast<int>(error.size()), error.data());
    }
}

void help_after_email_is_the_help_of_the_email_verbs(void**)
{
    for (const auto words : {std::initializer_list<std::string_view>{"email", "--help"},
                             {"email", "set", "--help"},
                             {"--help", "email", "show"}}) {
        const auto parsed = parse(words);
        assert_int_equal(parsed.invocation->verb, ctl::Verb::Help);
        assert_string_equal(parsed.invocation->help_topic.c_str(), "email");
    }
    assert_true(parse({"status", "--help"}).invocation->help_topic.empty());

    const std::string help(ctl::email_help_text());
    for (const auto part : {"email set ADDRESS", "email clear", "email show", "--user NAME"})
        assert_true(contains(help, part));
    const std::string general(ctl::help_text());
    for (const auto part :
         {"  email set ADDRESS\n", "  email clear ", "  email show ", "  --ascii "})
        assert_true(contains(general, part));
}

void the_ascii_flag_applies_to_status_and_history(void**)
{
    assert_true(parse({"status", "--ascii"}).invocation->ascii);
    assert_true(parse({"--ascii", "history"}).invocation->ascii);
    assert_false(parse({"status"}).invocation->ascii);
    assert_true(contains(parse({"devices", "--ascii"}).error, "--ascii only applies"));
    assert_true(contains(parse({"status", "--ascii=1"}).error, "--ascii takes no value"));
}

proto::Message status_with_address(std::string_view address, std::string_view source)
{
    proto::Message reply = proto::make_reply(proto::ReplyStatus::Ok);
    reply.set_u8(proto::Field::Enrolled, 0).set(proto::Field::Email, address);
    reply.set(proto::Field::EmailSource, source);
    return reply;
}

void where_alerts_go_is_said_in_words_for_each_source(void**)
{
    const auto line = [](std::string_view address, std::string_view source,
                         const ctl::TargetUser& user) {
        return *ctl::describe_alert_address(status_with_address(address, source), user);
    };
    assert_string_equal(line("bob@studio.example", "user", kBob).c_str(),
                        "Alerts go to bob@studio.example (set by you)");
    assert_string_equal(line("bob@studio.example", "user", kBobForRoot).c_str(),
                        "Alerts go to bob@studio.example (set for bob)");
    assert_string_equal(line("bob@studio.example", "pattern", kBob).c_str(),
                        "Alerts go to bob@studio.example (the site's default pattern)");
    assert_string_equal(line("bob", "local", kBob).c_str(),
                        "Alerts go to the local mailbox of bob on this server");
    assert_string_equal(line("bob@x", "later", kBob).c_str(), "Alerts go to bob@x");
    assert_string_equal(line("", "", kBob).c_str(),
                        "Alerts: none can be sent, as no address is known. Set one with: "
                        "fotoauthctl email set ADDRESS");
    // From the daemon, yet never trusted to be printable.
    assert_string_equal(line("bob\x1b[2J@x", "user", kBob).c_str(),
                        "Alerts go to bob?[2J@x (set by you)");

    proto::Message older = proto::make_reply(proto::ReplyStatus::Ok);
    older.set_u8(proto::Field::Enrolled, 0);
    assert_false(ctl::describe_alert_address(older, kBob).has_value());
}

void the_json_of_email_show_has_null_when_no_alert_can_be_sent(void**)
{
    assert_string_equal(
        ctl::alert_address_json(status_with_address("bob@studio.example", "pattern"), "bob")
            .c_str(),
        "{\"user\":\"bob\",\"alert_address\":\"bob@studio.example\",\"alert_address_source\":"
        "\"pattern\"}\n");
    assert_string_equal(
        ctl::alert_address_json(status_with_address("", ""), "bob").c_str(),
        "{\"user\":\"bob\",\"alert_address\":null,\"alert_address_source\":null}\n");
}

void set_and_clear_say_what_changed(void**)
{
    assert_string_equal(ctl::email_set_outcome("bob@studio.example", kBob).c_str(),
                        "Alerts for bob go to bob@studio.example from now on.\n");
    assert_string_equal(ctl::email_clear_outcome(kBobForRoot).c_str(),
                        "The address set for bob is forgotten: alerts go to the site's default "
                        "now (fotoauthctl email show --user bob says where).\n");
}

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_addresses_are_taken),
        cmocka_unit_test(every_address_that_is_not_plain_is_refused_with_its_reason),
        cmocka_unit_test(the_three_email_verbs_are_parsed_with_user_and_json),
        cmocka_unit_test(misuse_of_the_email_verbs_is_explained),
        cmocka_unit_test(help_after_email_is_the_help_of_the_email_verbs),
        cmocka_unit_test(the_ascii_flag_applies_to_status_and_history),
        cmocka_unit_test(where_alerts_go_is_said_in_words_for_each_source),
        cmocka_unit_test(the_json_of_email_show_has_null_when_no_alert_can_be_sent),
        cmocka_unit_test(set_and_clear_say_what_changed),
    };
    return cmocka_run_group_tests_name("fotoauthctl email", tests, nullptr, nullptr);
}
