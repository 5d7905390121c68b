// What `fotoauthctl history` prints: fotoauthd's tab-separated history entries (nine fields, or
// five from an older fotoauthd) read into values in the daemon's order (newest first), lines
// that do not fit shown as they came instead of dropped or fatal, the table with local times to
// the second, the country and the two markers; and the paging that fetches a history longer
// than one answer, with a bound on a daemon that never stops.
#include "exit_codes.hpp"
#include "history_entries.hpp"
#include "markers.hpp"

#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

// Last: cmocka defines a fail() macro that would break <ios>, which <chrono> pulls in.
#include "cmocka_main.hpp"

namespace ctl = fotostudio::ctl;

namespace {

const ctl::TargetUser kAlice{"alice", true};
const ctl::TargetUser kBobForRoot{"bob", false};
const ctl::Markers& kSymbols = ctl::kSymbolMarkers;
const ctl::Markers& kPlain = ctl::kPlainMarkers;

// A refused and a passed login from one address seven seconds apart, after the enrolment.
constexpr char kThreeEntries[] = "1700000007\tlogin\tsshd\t198.51.100.7\tverification code\n"
                                 "1700000000\tlogin-refused\tsshd\t198.51.100.7\twrong code\n"
                                 "1699990000\tmfa-enabled\t\t\tmode always\n";

// The same logins from a fotoauthd that looks up countries, with a local login between.
constexpr char kFourNewEntries[] =
    "1700000007\tlogin\tsshd\t198.51.100.7\tverification code\tFR\t"
    "sshd publickey ED25519 SHA256:abc, pts/3\t1\t1\n"
    "1700000000\tlogin-refused\tsshd\t198.51.100.7\twrong code\tFR\tsshd\t0\t0\n"
    "1699999200\tlogin\tlogin\t\tverification code\tlocal\tlogin tty1\t0\t1\n"
    "1699990000\tmfa-enabled\t\t\tmode always\t\t\t0\t0\n";

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

void a_line_of_nine_fields_is_read_with_country_client_and_markers(void**)
{
    const auto list = ctl::parse_history(kFourNewEntries);
    assert_true(list.unreadable.empty());
    assert_int_equal(list.entries.size(), 4);

    const auto& ssh = list.entries[0];
    assert_true(ssh.has_origin);
    assert_string_equal(ssh.detail.c_str(), "verification code");
    assert_string_equal(ssh.country.c_str(), "FR");
    assert_string_equal(ssh.client.c_str(), "sshd publickey ED25519 SHA256:abc, pts/3");
    assert_true(ssh.unusual);
    assert_true(ssh.verified);

    const auto& refused = list.entries[1];
    assert_false(refused.unusual);
    assert_false(refused.verified);

    const auto& local = list.entries[2];
    assert_true(local.source.empty());
    assert_string_equal(local.country.c_str(), "local");
    assert_false(local.unusual);
    assert_true(local.verified);

    const auto& change = list.entries[3];
    assert_true(change.has_origin);
    assert_true(change.country.empty());
    assert_true(change.client.empty());
}

void a_line_of_five_fields_from_an_older_fotoauthd_is_read_without_origin(void**)
{
    const auto list = ctl::parse_history(login_line(1700000007, "198.51.100.7"));
    assert_true(list.unreadable.empty());
    assert_int_equal(list.entries.size(), 1);
    assert_false(list.entries[0].has_origin);
    assert_true(list.entries[0].country.empty());
    assert_false(list.entries[0].unusual);
    assert_false(list.entries[0].verified);
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
        "1\tlogin\tsshd\th\tcode\tFR\tclient\t1",                 // eight fields
        "1\tlogin\tsshd\th\tcode\tFR\tclient\t1\t1\tx",           // ten fields
        "1\tlogin\tsshd\th\tcode\tFR\tclient\tyes\t1",            // a marker not 0 or 1
        "1\tlogin\tsshd\th\tcode\tFR\tclient\t0\t",               // a marker empty
        "1\tlogin\tsshd\th\tcode\tFR\tclient\t0\t2",              // a marker 2
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
    assert_string_equal(ctl::describe_event("mfa-disabled").c_str(), "MFA disabled");
    assert_string_equal(ctl::describe_event("recovery-codes-regenerated").c_str(),
                        "recovery codes regenerated");
    assert_string_equal(ctl::describe_event("alert-address-changed").c_str(),
                        "alert address changed");
    assert_string_equal(ctl::describe_event("sessions-audited").c_str(), "sessions-audited");
}

void the_history_is_an_aligned_table_to_the_second_with_a_dash_for_what_is_not_known(void**)
{
    use_time_zone("UTC");

    // Times computed independently (date -d @1700000007): 2023-11-14 22:13:27 UTC. Lines of an
    // older fotoauthd have no country and no markers.
    const std::string expected =
        "History of alice, newest first:\n"
        "  WHEN                     WHAT           SERVICE  FROM          COUNTRY  !  CODE  "
        "DETAIL\n"
        "  2023-11-14 22:13:27 UTC  login          sshd     198.51.100.7  -                 "
        "verification code\n"
        "  2023-11-14 22:13:20 UTC  login refused  sshd     198.51.100.7  -                 "
        "wrong code\n"
        "  2023-11-14 19:26:40 UTC  MFA enabled    -        -             -                 "
        "mode always\n"
        "  ! from another country than the account's usual one; CODE yes: a code was checked\n";
    assert_string_equal(
        ctl::render_history(ctl::parse_history(kThreeEntries), kAlice, kPlain).c_str(),
        expected.c_str());
}

void the_history_shows_the_country_and_the_markers_in_plain_text(void**)
{
    use_time_zone("UTC");

    const std::string expected =
        "History of alice, newest first:\n"
        "  WHEN                     WHAT           SERVICE  FROM          COUNTRY  !  CODE  "
        "DETAIL\n"
        "  2023-11-14 22:13:27 UTC  login          sshd     198.51.100.7  FR       !  yes   "
        "verification code\n"
        "  2023-11-14 22:13:20 UTC  login refused  sshd     198.51.100.7  FR                "
        "wrong code\n"
        "  2023-11-14 22:00:00 UTC  login          login    -             local       yes   "
        "verification code\n"
        "  2023-11-14 19:26:40 UTC  MFA enabled    -        -             -                 "
        "mode always\n"
        "  ! from another country than the account's usual one; CODE yes: a code was checked\n";
    assert_string_equal(
        ctl::render_history(ctl::parse_history(kFourNewEntries), kAlice, kPlain).c_str(),
        expected.c_str());
}

void the_history_shows_the_symbols_aligned_by_their_width_on_screen(void**)
{
    use_time_zone("UTC");

    // The warning sign takes one column, the lock two: its column is two wide, and a row
    // without a lock pads the same two.
    const std::string expected =
        "History of alice, newest first:\n"
        "  WHEN                     WHAT           SERVICE  FROM          COUNTRY  \u26a0  "
        "\U0001f512  DETAIL\n"
        "  2023-11-14 22:13:27 UTC  login          sshd     198.51.100.7  FR       \u26a0  "
        "\U0001f512  verification code\n"
        "  2023-11-14 22:13:20 UTC  login refused  sshd     198.51.100.7  FR              "
        "wrong code\n"
        "  2023-11-14 22:00:00 UTC  login          login    -             local       "
        "\U0001f512  verification code\n"
        "  2023-11-14 19:26:40 UTC  MFA enabled    -        -             -               "
        "mode always\n"
        "  \u26a0 from another country than the account's usual one; \U0001f512 a code was "
        "checked\n";
    assert_string_equal(
        ctl::render_history(ctl::parse_history(kFourNewEntries), kAlice, kSymbols).c_str(),
        expected.c_str());
}

void times_are_shown_in_the_local_zone(void**)
{
    use_time_zone("Europe/Berlin");
    const auto text = ctl::render_history(ctl::parse_history(kThreeEntries), kAlice, kPlain);
    assert_true(contains(text, "  2023-11-14 23:13:27 CET  login "));
    assert_true(contains(text, "  2023-11-14 20:26:40 CET  MFA enabled "));
}

void an_empty_history_says_so(void**)
{
    assert_string_equal(ctl::render_history(ctl::parse_history(""), kAlice, kPlain).c_str(),
                        "No history yet.\n");
    assert_string_equal(
        ctl::render_history(ctl::parse_history("\n\n"), kBobForRoot, kSymbols).c_str(),
        "No history yet.\n");
}

void a_cut_history_says_that_older_entries_are_missing(void**)
{
    const auto text = ctl::render_history(
        ctl::parse_history(login_line(1700000009, "192.0.2.1") + "truncated"), kAlice, kPlain);
    assert_true(text.starts_with("History of alice, newest first:\n"));
    assert_true(contains(text, "192.0.2.1"));
    assert_true(text.ends_with("\nfotoauthd cut this list short: the older entries did not fit "
                               "in one answer.\n"));
}

void unreadable_lines_are_shown_with_their_tabs_and_never_as_no_history(void**)
{
    const auto text = ctl::render_history(
        ctl::parse_history("soon\tlogin\tsshd\t192.0.2.1\tcode\n"), kAlice, kPlain);
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
    const auto text = ctl::render_history(list, kAlice, kSymbols);
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
        ctl::parse_history("1\tlogin\tsshd\t" + std::string(500, 'h') + "\t" + endless), kAlice,
        kPlain);
    assert_false(contains(text, std::string(126, 'x')));
    assert_true(contains(text, std::string(125, 'x') + "..."));
    assert_false(contains(text, std::string(71, 'h')));
    assert_true(contains(text, std::string(70, 'h') + "..."));
}

// A fake fotoauthd for the paging: it holds `total` entries and sends at most `per_page` of
// them per answer, ending a page that leaves some out with "truncated", like fotoauthd.
struct PagedDaemon {
    std::uint64_t total = 0;
    std::uint64_t per_page = 0;
    bool sends_count = true;
    std::vector<std::optional<std::uint64_t>> offsets;  // as asked, in order

    int operator()(std::optional<std::uint64_t> offset, ctl::HistoryPage& page)
    {
        offsets.push_back(offset);
        const std::uint64_t first = offset.value_or(0);
        std::uint64_t at = first;
        for (; at < total && at < first + per_page; ++at)
            page.entries += login_line(1800000000 - at, "192.0.2." + std::to_string(at % 250));
        if (at < total)
            page.entries += "truncated\n";
        if (sends_count)
            page.count = total;
        return ctl::kSuccess;
    }
};

int ask_pages(PagedDaemon& daemon, ctl::HistoryList& list)
{
    return ctl::collect_history([&daemon](std::optional<std::uint64_t> offset,
                                          ctl::HistoryPage& page) { return daemon(offset, page); },
                                list);
}

void a_history_longer_than_one_answer_is_fetched_page_by_page_with_offsets(void**)
{
    PagedDaemon daemon{50, 22, true, {}};
    ctl::HistoryList list;
    assert_int_equal(ask_pages(daemon, list), ctl::kSuccess);

    assert_int_equal(list.entries.size(), 50);
    assert_false(list.truncated);
    assert_true(list.unreadable.empty());
    assert_int_equal(*list.total, 50);
    // The first request has no Offset (an older fotoauthd would not know the field), the next
    // ones skip what arrived.
    assert_int_equal(daemon.offsets.size(), 3);
    assert_false(daemon.offsets[0].has_value());
    assert_int_equal(*daemon.offsets[1], 22);
    assert_int_equal(*daemon.offsets[2], 44);
    for (std::uint64_t i = 0; i < 50; ++i)
        assert_int_equal(list.entries[i].at, 1800000000 - i);
}

void a_history_that_fits_in_one_answer_takes_one_request(void**)
{
    PagedDaemon daemon{7, 22, true, {}};
    ctl::HistoryList list;
    assert_int_equal(ask_pages(daemon, list), ctl::kSuccess);
    assert_int_equal(list.entries.size(), 7);
    assert_int_equal(daemon.offsets.size(), 1);
    assert_false(list.truncated);
}

void a_fotoauthd_without_paging_is_asked_once_and_its_cut_list_says_so(void**)
{
    PagedDaemon daemon{50, 22, false, {}};
    ctl::HistoryList list;
    assert_int_equal(ask_pages(daemon, list), ctl::kSuccess);
    assert_int_equal(daemon.offsets.size(), 1);
    assert_int_equal(list.entries.size(), 22);
    assert_true(list.truncated);
    assert_false(list.total.has_value());
    assert_true(ctl::render_history(list, kAlice, kPlain)
                    .ends_with("\nfotoauthd cut this list short: the older entries did not fit "
                               "in one answer.\n"));
}

void a_daemon_that_sends_nothing_new_is_not_asked_forever(void**)
{
    // Claims 50 entries, says "truncated" every time, but has nothing after the first page.
    int asked = 0;
    ctl::HistoryList list;
    const int status = ctl::collect_history(
        [&asked](std::optional<std::uint64_t> offset, ctl::HistoryPage& page) {
            ++asked;
            if (!offset)
                page.entries = login_line(1800000000, "192.0.2.1");
            page.entries += "truncated\n";
            page.count = 50;
            return ctl::kSuccess;
        },
        list);
    assert_int_equal(status, ctl::kSuccess);
    assert_int_equal(asked, 2);
    assert_int_equal(list.entries.size(), 1);
    assert_true(list.truncated);
    assert_string_equal(ctl::missing_entries_sentence(list).c_str(),
                        "fotoauthd sent 1 of the account's 50 entries; the older ones are "
                        "missing.\n");
}

void a_daemon_that_sends_one_entry_per_answer_forever_is_asked_a_bounded_number_of_times(void**)
{
    // A broken daemon claiming 2^64-1 entries and making them up one by one.
    int asked = 0;
    ctl::HistoryList list;
    const int status = ctl::collect_history(
        [&asked](std::optional<std::uint64_t>, ctl::HistoryPage& page) {
            ++asked;
            page.entries = login_line(1800000000, "192.0.2.1") + "truncated\n";
            page.count = UINT64_MAX;
            return ctl::kSuccess;
        },
        list);
    assert_int_equal(status, ctl::kSuccess);
    assert_true(asked > 1 && asked <= 10003);
    assert_true(list.truncated);
}

void a_failed_page_stops_the_paging_with_its_exit_code(void**)
{
    int asked = 0;
    ctl::HistoryList list;
    const int status = ctl::collect_history(
        [&asked](std::optional<std::uint64_t> offset, ctl::HistoryPage& page) {
            ++asked;
            if (offset)
                return static_cast<int>(ctl::kFailure);
            page.entries = login_line(1800000000, "192.0.2.1") + "truncated\n";
            page.count = 40;
            return static_cast<int>(ctl::kSuccess);
        },
        list);
    assert_int_equal(status, ctl::kFailure);
    assert_int_equal(asked, 2);
}

void unreadable_lines_count_toward_the_offset_of_the_next_page(void**)
{
    // fotoauthd counts its entries; a line this fotoauthctl cannot read is still one of them.
    std::vector<std::optional<std::uint64_t>> offsets;
    ctl::HistoryList list;
    const int status = ctl::collect_history(
        [&offsets](std::optional<std::uint64_t> offset, ctl::HistoryPage& page) {
            offsets.push_back(offset);
            page.count = 3;
            if (!offset)
                page.entries = login_line(1800000002, "192.0.2.1") + "garbage\ntruncated\n";
            else
                page.entries = login_line(1800000000, "192.0.2.3");
            return ctl::kSuccess;
        },
        list);
    assert_int_equal(status, ctl::kSuccess);
    assert_int_equal(offsets.size(), 2);
    assert_int_equal(*offsets[1], 2);
    assert_int_equal(list.entries.size(), 2);
    assert_int_equal(list.unreadable.size(), 1);
    assert_false(list.truncated);
}

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_history_line_is_read_into_its_fields),
        cmocka_unit_test(a_line_of_nine_fields_is_read_with_country_client_and_markers),
        cmocka_unit_test(a_line_of_five_fields_from_an_older_fotoauthd_is_read_without_origin),
        cmocka_unit_test(a_change_without_service_or_source_is_read_with_those_fields_empty),
        cmocka_unit_test(entries_keep_the_daemons_order_newest_first_even_within_one_second),
        cmocka_unit_test(the_truncated_mark_is_no_entry_but_says_the_list_was_cut),
        cmocka_unit_test(every_malformed_line_is_kept_as_unreadable_and_the_good_ones_still_read),
        cmocka_unit_test(each_event_is_described_in_words_and_a_new_one_by_its_own_name),
        cmocka_unit_test(
            the_history_is_an_aligned_table_to_the_second_with_a_dash_for_what_is_not_known),
        cmocka_unit_test(the_history_shows_the_country_and_the_markers_in_plain_text),
        cmocka_unit_test(the_history_shows_the_symbols_aligned_by_their_width_on_screen),
        cmocka_unit_test(times_are_shown_in_the_local_zone),
        cmocka_unit_test(an_empty_history_says_so),
        cmocka_unit_test(a_cut_history_says_that_older_entries_are_missing),
        cmocka_unit_test(unreadable_lines_are_shown_with_their_tabs_and_never_as_no_history),
        cmocka_unit_test(words_from_the_daemon_cannot_drive_the_terminal),
        cmocka_unit_test(a_detail_or_source_of_any_length_is_cut_so_the_table_stays_readable),
        cmocka_unit_test(a_history_longer_than_one_answer_is_fetched_page_by_page_with_offsets),
        cmocka_unit_test(a_history_that_fits_in_one_answer_takes_one_request),
        cmocka_unit_test(a_fotoauthd_without_paging_is_asked_once_and_its_cut_list_says_so),
        cmocka_unit_test(a_daemon_that_sends_nothing_new_is_not_asked_forever),
        cmocka_unit_test(
            a_daemon_that_sends_one_entry_per_answer_forever_is_asked_a_bounded_number_of_times),
        cmocka_unit_test(a_failed_page_stops_the_paging_with_its_exit_code),
        cmocka_unit_test(unreadable_lines_count_toward_the_offset_of_the_next_page),
    };
    return cmocka_run_group_tests_name("fotoauthctl history", tests, nullptr, nullptr);
}
