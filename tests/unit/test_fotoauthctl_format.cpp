// What fotoauthctl prints: local times with their zone, the status text, lists of codes, and
// words from elsewhere made harmless for a terminal; and that secret buffers are wiped.
#include "format.hpp"
#include "json_output.hpp"
#include "protocol.hpp"
#include "sensitive.hpp"
#include "verbs.hpp"

#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <limits>
#include <string>

// Last: cmocka defines a fail() macro that would break <ios>, which <chrono> pulls in.
#include "cmocka_main.hpp"

namespace ctl = fotostudio::ctl;
namespace proto = fotostudio::protocol;

namespace {

void use_time_zone(const char* zone)
{
    ::setenv("TZ", zone, 1);
    ::tzset();
}

void times_are_local_with_minutes_and_the_zone_name(void**)
{
    // Expected values computed independently (Python's zoneinfo).
    use_time_zone("UTC");
    assert_string_equal(ctl::format_local_time(0).c_str(), "1970-01-01 00:00 UTC");
    assert_string_equal(ctl::format_local_time(1700000000).c_str(), "2023-11-14 22:13 UTC");

    use_time_zone("Europe/Berlin");
    assert_string_equal(ctl::format_local_time(1700000000).c_str(), "2023-11-14 23:13 CET");
    assert_string_equal(ctl::format_local_time(1690000000).c_str(), "2023-07-22 06:26 CEST");

    use_time_zone("America/New_York");
    assert_string_equal(ctl::format_local_time(1690000000).c_str(), "2023-07-22 00:26 EDT");
}

void a_time_beyond_the_calendar_still_prints_something(void**)
{
    use_time_zone("UTC");
    const auto text = ctl::format_local_time(std::numeric_limits<std::uint64_t>::max());
    assert_false(text.empty());
}

void durations_read_in_the_unit_that_suits_them(void**)
{
    assert_string_equal(ctl::describe_duration(1).c_str(), "1 second");
    assert_string_equal(ctl::describe_duration(90).c_str(), "90 seconds");
    assert_string_equal(ctl::describe_duration(600).c_str(), "10 minutes");
    assert_string_equal(ctl::describe_duration(599).c_str(), "10 minutes");
    assert_string_equal(ctl::describe_duration(86400).c_str(), "24 hours");
}

void lines_are_split_without_empty_ones_or_line_ends(void**)
{
    const auto lines = ctl::split_lines("AAAA-BBBB-CCCC\nDDDD-EEEE-FFFF\r\n\nGGGG-HHHH-JJJJ\n");
    assert_int_equal(lines.size(), 3);
    assert_true(lines[0] == "AAAA-BBBB-CCCC");
    assert_true(lines[1] == "DDDD-EEEE-FFFF");
    assert_true(lines[2] == "GGGG-HHHH-JJJJ");
    assert_true(ctl::split_lines("").empty());
    assert_true(ctl::split_lines("\n\n").empty());
}

void control_characters_are_replaced_but_letters_of_any_language_kept(void**)
{
    assert_string_equal(ctl::printable("a\x1b[2Jb\x07\x7f", 100).c_str(), "a?[2Jb??");
    // U+009B is a one-character escape sequence start on some terminals.
    assert_string_equal(ctl::printable("x\xc2\x9b"
                                       "31m",
                                       100)
                            .c_str(),
                        "x?31m");
    assert_string_equal(ctl::printable("J\xc3\xbcrgen", 100).c_str(), "J\xc3\xbcrgen");
}

void long_text_is_cut_on_a_character_boundary_and_marked(void**)
{
    assert_string_equal(ctl::printable("abcdef", 3).c_str(), "abc...");
    // "ää": the cut at three bytes would split the second letter, so one letter is kept.
    assert_string_equal(ctl::printable("\xc3\xa4\xc3\xa4", 3).c_str(), "\xc3\xa4...");
    assert_string_equal(ctl::printable("abc", 3).c_str(), "abc");
}

void blanks_between_digit_groups_are_removed(void**)
{
    std::string typed = " 123 456\t\r";
    ctl::remove_blanks(typed);
    assert_string_equal(typed.c_str(), "123456");
}

proto::Message active_status()
{
    proto::Message reply = proto::make_reply(proto::ReplyStatus::Ok);
    reply.set_u8(proto::Field::Enrolled, 1).set_u8(proto::Field::Pending, 0);
    reply.set_u64(proto::Field::Since, 1700000000).set(proto::Field::Mode, "new-device");
    reply.set_u64(proto::Field::CodesLeft, 7);
    return reply;
}

void active_mfa_shows_since_when_the_mode_and_the_codes_left(void**)
{
    use_time_zone("UTC");
    const auto text = ctl::render_status(active_status(), {"alice", true});
    assert_true(text.has_value());
    assert_string_equal(text->c_str(), "MFA: active since 2023-11-14 22:13 UTC\n"
                                       "Verification: new-device\n"
                                       "Recovery codes left: 7\n");
}

void active_mfa_shows_the_trusted_devices_and_in_new_device_mode_how_to_list_them(void**)
{
    use_time_zone("UTC");
    proto::Message reply = active_status();
    reply.set_u64(proto::Field::DeviceCount, 2);
    const auto text = ctl::render_status(reply, {"alice", true});
    assert_true(text.has_value());
    assert_string_equal(text->c_str(), "MFA: active since 2023-11-14 22:13 UTC\n"
                                       "Verification: new-device\n"
                                       "Trusted devices: 2 (listed by 'fotoauthctl devices')\n"
                                       "Recovery codes left: 7\n");

    const auto for_root = ctl::render_status(reply, {"bob", false});
    assert_true(
        for_root->find("Trusted devices: 2 (listed by 'fotoauthctl devices --user bob')\n") !=
        std::string::npos);

    // In mode always no device is trusted, so there is nothing to list.
    reply.set(proto::Field::Mode, "always").set_u64(proto::Field::DeviceCount, 0);
    const auto always = ctl::render_status(reply, {"alice", true});
    assert_true(always->find("Verification: always\nTrusted devices: 0\nRecovery") !=
                std::string::npos);
}

void two_or_fewer_recovery_codes_left_add_a_line_on_making_new_ones(void**)
{
    use_time_zone("UTC");
    proto::Message reply = active_status();
    reply.set_u64(proto::Field::CodesLeft, 3);
    const auto three = ctl::render_status(reply, {"alice", true});
    assert_true(three->ends_with("Recovery codes left: 3\n"));

    reply.set_u64(proto::Field::CodesLeft, 2);
    const auto two = ctl::render_status(reply, {"alice", true});
    assert_true(two->ends_with("Recovery codes left: 2\nOnly 2 recovery codes left: make new "
                               "ones with fotoauthctl recovery-codes regenerate\n"));

    reply.set_u64(proto::Field::CodesLeft, 1);
    const auto one_for_root = ctl::render_status(reply, {"bob", false});
    assert_true(one_for_root->ends_with("Only 1 recovery code left: make new ones with "
                                        "fotoauthctl recovery-codes regenerate --user bob\n"));

    reply.set_u64(proto::Field::CodesLeft, 0);
    const auto none = ctl::render_status(reply, {"alice", true});
    assert_true(none->ends_with("Only 0 recovery codes left: make new ones with fotoauthctl "
                                "recovery-codes regenerate\n"));
}

void inactive_mfa_says_how_to_enable_it_and_mentions_a_pending_enrolment(void**)
{
    proto::Message reply = proto::make_reply(proto::ReplyStatus::Ok);
    reply.set_u8(proto::Field::Enrolled, 0).set_u8(proto::Field::Pending, 0);
    const auto plain = ctl::render_status(reply, {"alice", true});
    assert_true(plain.has_value());
    assert_true(plain->starts_with("MFA: not enabled\n"));
    assert_true(plain->find("pending") == std::string::npos);
    assert_true(plain->find("run: fotoauthctl mfa enable\n") != std::string::npos);

    reply.set_u8(proto::Field::Pending, 1);
    const auto pending = ctl::render_status(reply, {"bob", false});
    assert_true(pending->find("enrolment is pending") != std::string::npos);
    assert_true(pending->find("fotoauthctl mfa enable --user bob\n") != std::string::npos);
}

void a_status_answer_missing_fields_is_not_rendered(void**)
{
    assert_false(
        ctl::render_status(proto::make_reply(proto::ReplyStatus::Ok), {"a", true}).has_value());

    proto::Message without_codes_left = proto::make_reply(proto::ReplyStatus::Ok);
    without_codes_left.set_u8(proto::Field::Enrolled, 1).set_u64(proto::Field::Since, 1);
    without_codes_left.set(proto::Field::Mode, "always");
    assert_false(ctl::render_status(without_codes_left, {"a", true}).has_value());
}

void a_secret_text_leaves_only_zeros_in_its_buffer_when_wiped(void**)
{
    ctl::SecretText secret("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP");
    const char* buffer = secret.text().data();
    const std::size_t capacity = secret.text().capacity();
    secret.wipe();
    assert_ptr_equal(secret.text().data(), buffer);  // same buffer, still owned, now blank
    for (std::size_t i = 0; i < capacity; ++i)
        assert_int_equal(buffer[i], 0);
}

void a_wiped_message_field_keeps_its_length_but_not_its_content(void**)
{
    proto::Message reply = proto::make_reply(proto::ReplyStatus::Ok);
    reply.set(proto::Field::Secret, "JBSWY3DPEHPK3PXP");
    ctl::wipe_field(reply, proto::Field::Secret);
    assert_true(*reply.get(proto::Field::Secret) == std::string(16, '\0'));
}

void json_strings_escape_quotes_backslashes_and_control_characters(void**)
{
    assert_string_equal(ctl::json_string("").c_str(), "\"\"");
    assert_string_equal(ctl::json_string("ssh-ed25519 SHA256:ab/+x=").c_str(),
                        "\"ssh-ed25519 SHA256:ab/+x=\"");
    assert_string_equal(ctl::json_string("say \"hi\" C:\\dir").c_str(),
                        "\"say \\\"hi\\\" C:\\\\dir\"");
    assert_string_equal(ctl::json_string("a\tb\nc\r\x1b]0;x\x07\x7f").c_str(),
                        "\"a\\u0009b\\u000ac\\u000d\\u001b]0;x\\u0007\\u007f\"");
    const std::string with_nul("a\0b", 3);
    assert_string_equal(ctl::json_string(with_nul).c_str(), "\"a\\u0000b\"");
    assert_string_equal(ctl::json_string("\x1f ~").c_str(), "\"\\u001f ~\"");
}

void json_strings_keep_valid_utf8_and_replace_every_byte_that_is_not(void**)
{
    // Valid: two, three and four byte characters (e, euro sign, an emoji).
    assert_string_equal(ctl::json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91").c_str(),
                        "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91\"");
    // A lone continuation byte, a cut character at the end, an overlong '/', a surrogate and
    // a byte that never occurs in UTF-8.
    assert_string_equal(ctl::json_string("\x80x").c_str(), "\"\\ufffdx\"");
    assert_string_equal(ctl::json_string("x\xe2\x82").c_str(), "\"x\\ufffd\\ufffd\"");
    assert_string_equal(ctl::json_string("\xc0\xaf").c_str(), "\"\\ufffd\\ufffd\"");
    assert_string_equal(ctl::json_string("\xed\xa0\x80").c_str(), "\"\\ufffd\\ufffd\\ufffd\"");
    assert_string_equal(ctl::json_string("\xff").c_str(), "\"\\ufffd\"");
}

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(times_are_local_with_minutes_and_the_zone_name),
        cmocka_unit_test(a_time_beyond_the_calendar_still_prints_something),
        cmocka_unit_test(durations_read_in_the_unit_that_suits_them),
        cmocka_unit_test(lines_are_split_without_empty_ones_or_line_ends),
        cmocka_unit_test(control_characters_are_replaced_but_letters_of_any_language_kept),
        cmocka_unit_test(long_text_is_cut_on_a_character_boundary_and_marked),
        cmocka_unit_test(blanks_between_digit_groups_are_removed),
        cmocka_unit_test(active_mfa_shows_since_when_the_mode_and_the_codes_left),
        cmocka_unit_test(
            active_mfa_shows_the_trusted_devices_and_in_new_device_mode_how_to_list_them),
        cmocka_unit_test(two_or_fewer_recovery_codes_left_add_a_line_on_making_new_ones),
        cmocka_unit_test(inactive_mfa_says_how_to_enable_it_and_mentions_a_pending_enrolment),
        cmocka_unit_test(a_status_answer_missing_fields_is_not_rendered),
        cmocka_unit_test(a_secret_text_leaves_only_zeros_in_its_buffer_when_wiped),
        cmocka_unit_test(a_wiped_message_field_keeps_its_length_but_not_its_content),
        cmocka_unit_test(json_strings_escape_quotes_backslashes_and_control_characters),
        cmocka_unit_test(json_strings_keep_valid_utf8_and_replace_every_byte_that_is_not),
    };
    return cmocka_run_group_tests_name("fotoauthctl format", tests, nullptr, nullptr);
}
