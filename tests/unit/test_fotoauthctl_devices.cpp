// What `fotoauthctl devices`, `devices forget` and `mfa mode` print: fotoauthd's tab-separated
// Entries read into devices, lines that do not fit shown as they came instead of dropped or
// fatal, the table with local times, why the list is empty, and the sentences after forgetting
// devices or changing the mode.
#include "device_entries.hpp"
#include "json_output.hpp"
#include "verbs.hpp"

#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>

// Last: cmocka defines a fail() macro that would break <ios>, which <chrono> pulls in.
#include "cmocka_main.hpp"

namespace ctl = fotostudio::ctl;

namespace {

constexpr char kFingerprint[] = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";

const ctl::TargetUser kAlice{"alice", true};
const ctl::TargetUser kBobForRoot{"bob", false};

void use_time_zone(const char* zone)
{
    ::setenv("TZ", zone, 1);
    ::tzset();
}

bool contains(const std::string& text, std::string_view part)
{
    return text.find(part) != std::string::npos;
}

std::string key_line(std::string_view id)
{
    return std::string(id) + "\tssh-key\tssh-ed25519 " + kFingerprint +
           "\t1700000000\t1700003600\t1707776000";
}

void a_device_line_is_read_into_its_fields(void**)
{
    const auto list = ctl::parse_devices(key_line("3") + "\n");
    assert_true(list.unreadable.empty());
    assert_int_equal(list.devices.size(), 1);
    const auto& device = list.devices[0];
    assert_int_equal(device.id, 3);
    assert_string_equal(device.kind.c_str(), "ssh-key");
    assert_string_equal(device.label.c_str(), (std::string("ssh-ed25519 ") + kFingerprint).c_str());
    assert_int_equal(device.first_used, 1700000000);
    assert_int_equal(device.last_used, 1700003600);
    assert_int_equal(device.expires_at, 1707776000);
}

void several_lines_keep_their_order_and_the_last_needs_no_line_end(void**)
{
    const auto list = ctl::parse_devices(key_line("7") + "\n" +
                                         "2\taddress\t198.51.100.7 sshd\t1\t2\t3\n"
                                         "\n"
                                         "5\tterminal\ttty3 login\t4\t5\t6");
    assert_true(list.unreadable.empty());
    assert_int_equal(list.devices.size(), 3);
    assert_int_equal(list.devices[0].id, 7);
    assert_int_equal(list.devices[1].id, 2);
    assert_string_equal(list.devices[1].label.c_str(), "198.51.100.7 sshd");
    assert_int_equal(list.devices[2].id, 5);
    assert_int_equal(list.devices[2].expires_at, 6);
}

void every_malformed_line_is_kept_as_unreadable_and_the_good_ones_still_read(void**)
{
    const char* const malformed[] = {
        "3\tssh-key\tssh-ed25519 SHA256:x\t1\t2",            // a field missing
        "3\tssh-key\tssh-ed25519 SHA256:x\t1\t2\t3\textra",  // a field too many
        "3\tssh-key\tssh-ed25519 SHA256:x\t1\t2\t3\t",       // a trailing tab
        "3 ssh-key ssh-ed25519 SHA256:x 1 2 3",              // blanks instead of tabs
        "\tssh-key\tssh-ed25519 SHA256:x\t1\t2\t3",          // no id
        "0\tssh-key\tssh-ed25519 SHA256:x\t1\t2\t3",         // id 0, which forget refuses
        "-3\tssh-key\tssh-ed25519 SHA256:x\t1\t2\t3",        // a negative id
        "x3\tssh-key\tssh-ed25519 SHA256:x\t1\t2\t3",        // an id that is no number
        "3\t\tssh-ed25519 SHA256:x\t1\t2\t3",                // no kind
        "3\tssh-key\t\t1\t2\t3",                             // no label
        "3\tssh-key\tssh-ed25519 SHA256:x\tsoon\t2\t3",      // a time that is no number
        "3\tssh-key\tssh-ed25519 SHA256:x\t1\t+2\t3",        // a sign
        "3\tssh-key\tssh-ed25519 SHA256:x\t1\t2\t 3",        // a blank before the number
        "3\tssh-key\tssh-ed25519 SHA256:x\t1\t2\t18446744073709551616",  // 2^64, too large
    };
    for (const char* line : malformed) {
        const std::string entries = key_line("1") + "\n" + line + "\n" + key_line("2") + "\n";
        const auto list = ctl::parse_devices(entries);
        if (list.unreadable.size() != 1)
            fail_msg("not kept as unreadable: \"%s\"", line);
        assert_string_equal(list.unreadable[0].c_str(), line);
        assert_int_equal(list.devices.size(), 2);
    }
}

void the_largest_times_are_read_without_overflow(void**)
{
    const auto list = ctl::parse_devices("9\tssh-key\tx\t0\t0\t18446744073709551615");
    assert_true(list.unreadable.empty());
    assert_int_equal(list.devices[0].expires_at, UINT64_MAX);
}

void each_kind_of_device_is_described_in_words(void**)
{
    assert_string_equal(ctl::describe_device("ssh-key", "ssh-ed25519 SHA256:abc").c_str(),
                        "ssh key ssh-ed25519 SHA256:abc");
    assert_string_equal(ctl::describe_device("address", "2001:db8:1:2::/64 sshd").c_str(),
                        "address 2001:db8:1:2::/64 sshd");
    assert_string_equal(ctl::describe_device("terminal", "tty3 login").c_str(),
                        "terminal tty3 login");
    // A kind of a newer daemon is shown by its own name rather than dropped or guessed at.
    assert_string_equal(ctl::describe_device("fido2", "token 42").c_str(), "fido2 token 42");
}

void devices_are_listed_in_an_aligned_table_with_local_times_and_how_to_forget_them(void**)
{
    use_time_zone("UTC");
    const auto list = ctl::parse_devices(key_line("12") + "\n" +
                                         "3\taddress\t198.51.100.7 sshd\t1700000000\t1700000000"
                                         "\t1707776000\n");

    // Times computed independently: 1707776000 is 2024-02-12 22:13:20 UTC. The WHAT column is
    // as wide as the key's 70 characters.
    const std::string expected =
        "Trusted devices of alice (their logins are not asked for a code):\n"
        "  ID  WHAT" +
        std::string(68, ' ') +
        "FIRST USED            LAST USED             TRUSTED UNTIL\n"
        "  12  ssh key ssh-ed25519 SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s  "
        "2023-11-14 22:13 UTC  2023-11-14 23:13 UTC  2024-02-12 22:13 UTC\n"
        "  3   address 198.51.100.7 sshd" +
        std::string(47, ' ') +
        "2023-11-14 22:13 UTC  2023-11-14 22:13 UTC  2024-02-12 22:13 UTC\n"
        "\n"
        "To forget a device: fotoauthctl devices forget ID\n"
        "To forget them all: fotoauthctl devices forget --all\n";
    assert_string_equal(ctl::render_devices(list, kAlice, ctl::TrustSetting::NewDevice).c_str(),
                        expected.c_str());
}

void times_are_shown_in_the_local_zone(void**)
{
    use_time_zone("Europe/Berlin");
    const auto text = ctl::render_devices(ctl::parse_devices(key_line("1")), kAlice,
                                          ctl::TrustSetting::NewDevice);
    assert_true(contains(text, "2023-11-14 23:13 CET  2023-11-15 00:13 CET  2024-02-12 23:13 CET"));
}

void root_acting_for_another_account_is_shown_the_commands_with_its_name(void**)
{
    const auto text = ctl::render_devices(ctl::parse_devices(key_line("1")), kBobForRoot,
                                          ctl::TrustSetting::NewDevice);
    assert_true(contains(text, "Trusted devices of bob "));
    assert_true(contains(text, "fotoauthctl devices forget ID --user bob\n"));
    assert_true(contains(text, "fotoauthctl devices forget --all --user bob\n"));
}

void an_empty_list_says_so_and_in_mode_always_why(void**)
{
    const auto empty = ctl::parse_devices("");
    assert_string_equal(ctl::render_devices(empty, kAlice, ctl::TrustSetting::NewDevice).c_str(),
                        "No trusted device.\n");
    const auto always = ctl::render_devices(empty, kAlice, ctl::TrustSetting::Always);
    assert_true(always.starts_with("No trusted device.\n"));
    assert_true(contains(always, "In mode always no device is ever trusted"));
    const auto not_enrolled = ctl::render_devices(empty, kAlice, ctl::TrustSetting::NotEnrolled);
    assert_true(not_enrolled.starts_with("No trusted device.\n"));
    assert_true(contains(not_enrolled, "MFA is not enabled for alice."));
}

void unreadable_lines_are_shown_with_their_tabs_and_never_as_no_device(void**)
{
    const auto list = ctl::parse_devices("3\tssh-key\tssh-ed25519 SHA256:x\tsoon\t2\t3\n");
    const auto text = ctl::render_devices(list, kAlice, ctl::TrustSetting::NewDevice);
    assert_false(contains(text, "No trusted device"));
    assert_false(contains(text, "To forget"));
    assert_true(contains(text, "could not be read"));
    assert_true(contains(text, "  3<TAB>ssh-key<TAB>ssh-ed25519 SHA256:x<TAB>soon<TAB>2<TAB>3\n"));
}

void words_from_the_daemon_cannot_drive_the_terminal(void**)
{
    const auto list = ctl::parse_devices("3\tssh-\x1b]0;owned\x07key\tev\xc2\x9b"
                                         "31mil \x1b[2J\t1\t2\t3\n"
                                         "garbage \x1b[H\n");
    const auto text = ctl::render_devices(list, kAlice, ctl::TrustSetting::NewDevice);
    assert_false(contains(text, "\x1b"));
    assert_false(contains(text, "\x07"));
    assert_false(contains(text, "\xc2\x9b"));
    assert_true(contains(text, "ssh-?]0;owned?key ev?31mil ?[2J"));
}

void a_label_of_any_length_is_cut_so_the_table_stays_readable(void**)
{
    const std::string long_label(500, 'x');
    const auto text =
        ctl::render_devices(ctl::parse_devices("3\tssh-key\t" + long_label + "\t1\t2\t3"), kAlice,
                            ctl::TrustSetting::NewDevice);
    assert_false(contains(text, std::string(101, 'x')));
    assert_true(contains(text, std::string(100, 'x') + "..."));
}

void forgetting_one_device_says_which_or_that_the_id_is_not_the_accounts(void**)
{
    assert_string_equal(ctl::forget_one_outcome("12", "alice", 1).c_str(), "Forgot device 12.");
    assert_string_equal(ctl::forget_one_outcome("12", "alice", 0).c_str(),
                        "12 is not a trusted device of alice.");
}

void forgetting_all_devices_says_how_many_and_that_the_code_is_asked_again(void**)
{
    assert_string_equal(ctl::forget_all_outcome(0).c_str(),
                        "There was no trusted device to forget.\n");
    assert_string_equal(ctl::forget_all_outcome(1).c_str(),
                        "Forgot 1 device; the code will be asked again from it.\n");
    assert_string_equal(ctl::forget_all_outcome(3).c_str(),
                        "Forgot 3 devices; the code will be asked again from each of them.\n");
}

void a_mode_change_says_the_new_mode_and_how_many_devices_were_forgotten_when_known(void**)
{
    using ctl::Mode;
    assert_string_equal(ctl::mode_change_outcome(Mode::Always, std::nullopt).c_str(),
                        "Verification mode is now always (every login asks for a code).\n");
    assert_string_equal(ctl::mode_change_outcome(Mode::Always, 0).c_str(),
                        "Verification mode is now always (every login asks for a code); no device "
                        "was trusted.\n");
    assert_string_equal(ctl::mode_change_outcome(Mode::Always, 1).c_str(),
                        "Verification mode is now always (every login asks for a code); 1 trusted "
                        "device was forgotten.\n");
    assert_string_equal(ctl::mode_change_outcome(Mode::Always, 4).c_str(),
                        "Verification mode is now always (every login asks for a code); 4 trusted "
                        "devices were forgotten.\n");
    assert_string_equal(ctl::mode_change_outcome(Mode::NewDevice, std::nullopt).c_str(),
                        "Verification mode is now new-device (a code only from a device not "
                        "trusted yet).\n");
}

void a_truncated_list_says_so_instead_of_showing_the_mark_as_unreadable(void**)
{
    const auto list = ctl::parse_devices(key_line("3") + "\ntruncated");
    assert_true(list.truncated);
    assert_true(list.unreadable.empty());
    assert_int_equal(list.devices.size(), 1);
    assert_false(ctl::parse_devices(key_line("3")).truncated);
    assert_true(contains(ctl::render_devices(list, kAlice, ctl::TrustSetting::NewDevice),
                         "fotoauthd cut this list short"));
}

void devices_as_json_keep_the_daemons_words_and_unix_times(void**)
{
    const auto list = ctl::parse_devices(key_line("3") + "\n5\tterminal\ttty3 \"x\"\t4\t5\t6");
    assert_string_equal(
        ctl::devices_json(list, "alice").c_str(),
        (std::string("{\"user\":\"alice\",\"devices\":[{\"id\":3,\"kind\":\"ssh-key\",") +
         "\"label\":\"ssh-ed25519 " + kFingerprint +
         "\",\"first_used\":1700000000,\"last_used\":1700003600,\"expires\":1707776000},"
         "{\"id\":5,\"kind\":\"terminal\",\"label\":\"tty3 \\\"x\\\"\",\"first_used\":4,"
         "\"last_used\":5,\"expires\":6}],\"truncated\":false}\n")
            .c_str());
    assert_string_equal(ctl::devices_json({}, "bob").c_str(),
                        "{\"user\":\"bob\",\"devices\":[],\"truncated\":false}\n");
}

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_device_line_is_read_into_its_fields),
        cmocka_unit_test(several_lines_keep_their_order_and_the_last_needs_no_line_end),
        cmocka_unit_test(every_malformed_line_is_kept_as_unreadable_and_the_good_ones_still_read),
        cmocka_unit_test(the_largest_times_are_read_without_overflow),
        cmocka_unit_test(each_kind_of_device_is_described_in_words),
        cmocka_unit_test(
            devices_are_listed_in_an_aligned_table_with_local_times_and_how_to_forget_them),
        cmocka_unit_test(times_are_shown_in_the_local_zone),
        cmocka_unit_test(root_acting_for_another_account_is_shown_the_commands_with_its_name),
        cmocka_unit_test(an_empty_list_says_so_and_in_mode_always_why),
        cmocka_unit_test(unreadable_lines_are_shown_with_their_tabs_and_never_as_no_device),
        cmocka_unit_test(words_from_the_daemon_cannot_drive_the_terminal),
        cmocka_unit_test(a_label_of_any_length_is_cut_so_the_table_stays_readable),
        cmocka_unit_test(forgetting_one_device_says_which_or_that_the_id_is_not_the_accounts),
        cmocka_unit_test(forgetting_all_devices_says_how_many_and_that_the_code_is_asked_again),
        cmocka_unit_test(
            a_mode_change_says_the_new_mode_and_how_many_devices_were_forgotten_when_known),
        cmocka_unit_test(a_truncated_list_says_so_instead_of_showing_the_mark_as_unreadable),
        cmocka_unit_test(devices_as_json_keep_the_daemons_words_and_unix_times),
    };
    return cmocka_run_group_tests_name("fotoauthctl devices", tests, nullptr, nullptr);
}
