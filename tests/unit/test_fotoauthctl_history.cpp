// What `fotoauthctl history` and the end of `fotoauthctl status` print: fotoauthd's tab-separated
// history entries read into values in the daemon's order (newest first), lines that do not fit
// shown as they came instead of dropped or fatal, the table with local times to the second, and
// the five newest entries of the status page with the command that lists them all.
#include "history_entries.hpp"

#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>

// Last: cmocka defines a fail() macro that would break <ios>, which <chrono> pulls in.
#include "cmocka_main.hpp"

namespace ctl = fotostudio::ctl;

namespace {

const ctl::TargetUser kAlice{"alice", true};
const ctl::TargetUser kBobForRoot{"bob", false};

// A refused and a passed login from one address seven seconds apart, after the enrolment.
constexpr char kThreeEntries[] = "1700000007\tlogin\tsshd\t198.51.100.7\tverification code\n"
                                 "1700000000\tlogin-refused\tsshd\t198.51.100.7\twrong code\n"
                                 "1699990000\tmfa-enabled\t\t\tmode always\n";

void use_time_zone(const char* zone)
{
    ::setenv("TZ", zone, 1);
    ::tzset();
}

bool contains(const std::string& text, std::string_view part)
{
    return text.find(part) != std::string::npos;
}

std::string login_line(std::uint64_t at, std::string_view source)
{
    return std::to_string(at) + "\tlogin\tsshd\t" + std::string(source) + "\tverification code\n";
}

void a_history_line_is_read_into_its_fields(void**)
{
    const auto list = ctl::parse_history("1700000007\tlogin\tsshd\t198.51.100.7\trecovery code");
    assert_true(list.unreadable.empty());
    assert_false(list.truncated);
    assert_int_equal(list.entries.size(), 1);
    const auto& entry = list.entries[0];
    assert_int_equal(entry.at, 1700000007);
    assert_string_equal(entry.event.c_str(), "login");
    assert_string_equal(entry.service.c_str(), "sshd");
    assert_string_equal(entry.source.c_str(), "198.51.100.7");
    assert_string_equal(entry.detail.c_str(), "recovery code");
}

void a_change_without_service_or_source_is_read_with_those_fields_empty(void**)
{
    const auto list = ctl::parse_history("1700000000\tpassword-changed\t\t\tby uid 0; 1 sessions "
                                         "ended, 2 devices forgotten\n");
    assert_true(list.unreadable.empty());
    assert_int_equal(list.entries.size(), 1);
    assert_string_equal(list.entries[0].event.c_str(), "password-changed");
    assert_true(list.entries[0].service.empty());
    assert_true(list.entries[0].source.empty());
    assert_string_equal(list.entries[0].detail.c_str(),
                        "by uid 0; 1 sessions ended, 2 devices forgotten");
}

void entries_keep_the_daemons_order_newest_first_even_within_one_second(void**)
{
    // Two entries of the same second: only fotoauthd's order tells which came last.
    const auto list = ctl::parse_history(login_line(1700000009, "192.0.2.1") +
                                         login_line(1700000009, "192.0.2.2") + "\n" +
                                         "1700000001\tmode-changed\t\t\tnow always");
    assert_true(list.unreadable.empty());
    assert_int_equal(list.entries.size(), 3);
    assert_string_equal(list.entries[0].source.c_str(), "192.0.2.1");
    assert_string_equal(list.entries[1].source.c_str(), "192.0.2.2");
    assert_string_equal(list.entries[2].event.c_str(), "mode-changed");
}

void the_truncated_mark_is_no_entry_but_says_the_list_was_cut(void**)
{
    const auto list = ctl::parse_history(login_line(1700000009, "192.0.2.1") + "truncated");
    assert_true(list.truncated);
    assert_true(list.unreadable.empty());
    assert_int_equal(list.entries.size(), 1);
}

void every_malformed_line_is_kept_as_unreadable_and_the_good_ones_still_read(void**)
{
    const char* const malformed[] = {
        "1700000000\tlogin\tsshd\t198.51.100.7",                  // a field missing
        "1700000000\tlogin\tsshd\t198.51.100.7\tcode\textra",     // a field too many
        "1700000000 login sshd 198.51.100.7 code",                // blanks instead of tabs
        "\tlogin\tsshd\t198.51.100.7\tcode",                      // no time
        "1700000000\t\tsshd\t198.51.100.7\tcode",                 // no event
        "yesterday\tlogin\tsshd\t198.51.100.7\tcode",             // a time that is no number
        "-1700000000\tlogin\tsshd\t198.51.100.7\tcode",           // a sign
        " 1700000000\tlogin\tsshd\t198.51.100.7\tcode",           // a blank before the number
        "18446744073709551616\tlogin\tsshd\t198.51.100.7\tcode",  // 2^64, too large
        "truncated\t",                                            // not quite the mark
    };
    for (const char* line : malformed) {
        const std::string entries =
            login_line(2, "192.0.2.2") + line + "\n" + login_line(1, "192.0.2.1");
        const auto list = ctl::parse_history(entries);
        if (list.unreadable.size() != 1)
            fail_msg("not kept as unreadable: \"%s\"", line);
        assert_string_equal(list.unreadable[0].c_str(), line);
        assert_int_equal(list.entries.size(), 2);
        assert_false(list.truncated);
    }
}

void each_event_is_described_in_words_and_a_new_one_by_its_own_name(void**)
{
    assert_string_equal(ctl::describe_event("login").c_str(), "login");
    assert_string_equal(ctl::describe_event("login-refused").c_str(), "login refused");
    assert_string_equal(ctl::describe_event("password-changed").c_str(), "password changed");
    assert_string_equal(ctl::describe_event("devices-forgotten").c_str(), "devices forgotten");
    assert_string_equal(ctl::describe_event("mode-changed").c_str(), "mode changed");
    assert_string_equal(ctl::describe_event("mfa-enabled").c_str(), "MFA enabled");
    assert_string_equal(ctl::describe_event("mfa-disabled").c_str(), "mfa-disabled");
}

void the_history_is_an_aligned_table_to_the_second_with_a_dash_for_what_is_not_known(void**)
{
    use_time_zone("UTC");

    // Times computed independently (date -d @1700000007): 2023-11-14 22:13:27 UTC.
    const std::string expected =
        "History of alice, newest first:\n"
        "  WHEN                     WHAT           SERVICE  FROM          DETAIL\n"
        "  2023-11-14 22:13:27 UTC  login          sshd     198.51.100.7  verification code\n"
        "  2023-11-14 22:13:20 UTC  login refused  sshd     198.51.100.7  wrong code\n"
        "  2023-11-14 19:26:40 UTC  MFA enabled    -        -             mode always\n";
    assert_string_equal(ctl::render_history(ctl::parse_history(kThreeEntries), kAlice).c_str(),
                        expected.c_str());
}

void times_are_shown_in_the_local_zone(void**)
{
    use_time_zone("Europe/Berlin");
    const auto text = ctl::render_history(ctl::parse_history(kThreeEntries), kAlice);
    assert_true(contains(text, "  2023-11-14 23:13:27 CET  login "));
    assert_true(contains(text, "  2023-11-14 20:26:40 CET  MFA enabled "));
}

void an_empty_history_says_so(void**)
{
    assert_string_equal(ctl::render_history(ctl::parse_history(""), kAlice).c_str(),
                        "No history yet.\n");
    assert_string_equal(ctl::render_history(ctl::parse_history("\n\n"), kBobForRoot).c_str(),
                        "No history yet.\n");
}

void a_cut_history_says_that_older_entries_are_missing(void**)
{
    const auto text = ctl::render_history(
        ctl::parse_history(login_line(1700000009, "192.0.2.1") + "truncated"), kAlice);
    assert_true(text.starts_with("History of alice, newest first:\n"));
    assert_true(contains(text, "192.0.2.1"));
    assert_true(text.ends_with("\nfotoauthd cut this list short: the older entries did not fit "
                               "in one answer.\n"));
}

void unreadable_lines_are_shown_with_their_tabs_and_never_as_no_history(void**)
{
    const auto text =
        ctl::render_history(ctl::parse_history("soon\tlogin\tsshd\t192.0.2.1\tcode\n"), kAlice);
    assert_false(contains(text, "No history yet"));
    assert_false(contains(text, "WHEN"));
    assert_true(contains(text, "could not be read"));
    assert_true(contains(text, "  soon<TAB>login<TAB>sshd<TAB>192.0.2.1<TAB>code\n"));
}

void words_from_the_daemon_cannot_drive_the_terminal(void**)
{
    const auto list = ctl::parse_history("1\tlog\x1b]0;owned\x07in\tss\xc2\x9bhd\t"
                                         "host\x1b[2J\tde\rtail\n"
                                         "garbage \x1b[H\n");
    const auto text = ctl::render_history(list, kAlice);
    assert_false(contains(text, "\x1b"));
    assert_false(contains(text, "\x07"));
    assert_false(contains(text, "\r"));
    assert_false(contains(text, "\xc2\x9b"));
    assert_true(contains(text, "log?]0;owned?in"));
    assert_true(contains(text, "ss?hd"));
    assert_true(contains(text, "host?[2J"));
    assert_true(contains(text, "de?tail"));
}

void a_detail_or_source_of_any_length_is_cut_so_the_table_stays_readable(void**)
{
    const std::string endless(500, 'x');
    const auto text = ctl::render_history(
        ctl::parse_history("1\tlogin\tsshd\t" + std::string(500, 'h') + "\t" + endless), kAlice);
    assert_false(contains(text, std::string(126, 'x')));
    assert_true(contains(text, std::string(125, 'x') + "..."));
    assert_false(contains(text, std::string(71, 'h')));
    assert_true(contains(text, std::string(70, 'h') + "..."));
}

void the_status_page_shows_the_five_newest_entries_and_how_to_see_all(void**)
{
    use_time_zone("UTC");
    std::string entries;
    for (std::uint64_t at = 1700000007; at > 1700000000; --at)
        entries += login_line(at, "192.0.2." + std::to_string(at - 1700000000));

    const auto text = ctl::render_recent_activity(ctl::parse_history(entries), kAlice);

    assert_true(text.starts_with("Recent activity:\n  WHEN "));
    for (const auto shown : {"192.0.2.7", "192.0.2.6", "192.0.2.5", "192.0.2.4", "192.0.2.3"})
        assert_true(contains(text, shown));
    assert_false(contains(text, "192.0.2.2"));
    assert_false(contains(text, "192.0.2.1"));
    assert_true(text.find("22:13:27") < text.find("22:13:23"));
    assert_true(text.ends_with("\nThe whole history: fotoauthctl history\n"));
}

void root_acting_for_another_account_is_shown_the_command_with_its_name(void**)
{
    const auto text = ctl::render_recent_activity(ctl::parse_history(kThreeEntries), kBobForRoot);
    assert_true(contains(text, "login refused"));
    assert_true(text.ends_with("\nThe whole history: fotoauthctl history --user bob\n"));
}

void the_status_page_of_an_account_without_history_says_none_yet(void**)
{
    assert_string_equal(ctl::render_recent_activity(ctl::parse_history(""), kAlice).c_str(),
                        "Recent activity: none yet.\n");
}

void the_status_page_shows_unreadable_lines_instead_of_none_yet(void**)
{
    const auto text = ctl::render_recent_activity(ctl::parse_history("x\ty\n"), kAlice);
    assert_false(contains(text, "none yet"));
    assert_true(contains(text, "  x<TAB>y\n"));
}

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_history_line_is_read_into_its_fields),
        cmocka_unit_test(a_change_without_service_or_source_is_read_with_those_fields_empty),
        cmocka_unit_test(entries_keep_the_daemons_order_newest_first_even_within_one_second),
        cmocka_unit_test(the_truncated_mark_is_no_entry_but_says_the_list_was_cut),
        cmocka_unit_test(every_malformed_line_is_kept_as_unreadable_and_the_good_ones_still_read),
        cmocka_unit_test(each_event_is_described_in_words_and_a_new_one_by_its_own_name),
        cmocka_unit_test(
            the_history_is_an_aligned_table_to_the_second_with_a_dash_for_what_is_not_known),
        cmocka_unit_test(times_are_shown_in_the_local_zone),
        cmocka_unit_test(an_empty_history_says_so),
        cmocka_unit_test(a_cut_history_says_that_older_entries_are_missing),
        cmocka_unit_test(unreadable_lines_are_shown_with_their_tabs_and_never_as_no_history),
        cmocka_unit_test(words_from_the_daemon_cannot_drive_the_terminal),
        cmocka_unit_test(a_detail_or_source_of_any_length_is_cut_so_the_table_stays_readable),
        cmocka_unit_test(the_status_page_shows_the_five_newest_entries_and_how_to_see_all),
        cmocka_unit_test(root_acting_for_another_account_is_shown_the_command_with_its_name),
        cmocka_unit_test(the_status_page_of_an_account_without_history_says_none_yet),
        cmocka_unit_test(the_status_page_shows_unreadable_lines_instead_of_none_yet),
    };
    return cmocka_run_group_tests_name("fotoauthctl history", tests, nullptr, nullptr);
}
