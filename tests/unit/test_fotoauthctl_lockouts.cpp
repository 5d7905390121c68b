// What `fotoauthctl lockouts`, `unlock` and `unblock` print: fotoauthd's tab-separated Entries
// read into locks and blocks, lines that do not fit shown as they came instead of dropped or
// fatal, the tables with local times, and the sentences after an unlock or unblock.
#include "lockout_entries.hpp"
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

// 2023-11-14 22:13:20 UTC
constexpr std::uint64_t kNow = 1700000000;

void use_time_zone(const char* zone)
{
    ::setenv("TZ", zone, 1);
    ::tzset();
}

bool contains(const std::string& text, std::string_view part)
{
    return text.find(part) != std::string::npos;
}

void a_lock_line_and_a_block_line_are_read_into_their_fields(void**)
{
    const auto list = ctl::parse_lockouts("lock\talice\tpassword\t1700003600\t5\n"
                                          "block\t198.51.100.9\tlogin-source\t1700000042\t6\n");
    assert_true(list.unreadable.empty());
    assert_int_equal(list.locks.size(), 1);
    assert_string_equal(list.locks[0].user.c_str(), "alice");
    assert_string_equal(list.locks[0].channel.c_str(), "password");
    assert_int_equal(list.locks[0].until, 1700003600);
    assert_int_equal(list.locks[0].failures, 5);

    assert_int_equal(list.blocks.size(), 1);
    assert_string_equal(list.blocks[0].source.c_str(), "198.51.100.9");
    assert_string_equal(list.blocks[0].limit.c_str(), "login-source");
    assert_int_equal(list.blocks[0].until, 1700000042);
    assert_int_equal(list.blocks[0].attempts, 6);
}

void a_key_channel_keeps_its_blank_and_the_last_line_needs_no_line_end(void**)
{
    const auto list = ctl::parse_lockouts("lock\tbob\tkey:ssh-ed25519 AAAAC3NzaC1lZDI1...\t9\t5");
    assert_true(list.unreadable.empty());
    assert_int_equal(list.locks.size(), 1);
    assert_string_equal(list.locks[0].channel.c_str(), "key:ssh-ed25519 AAAAC3NzaC1lZDI1...");
}

void nothing_locked_reads_as_one_sentence(void**)
{
    for (const auto entries : {"", "\n", "\r\n\n"}) {
        const auto list = ctl::parse_lockouts(entries);
        assert_true(list.nothing_locked());
        assert_true(list.unreadable.empty());
        assert_string_equal(ctl::render_lockouts(list, kNow).c_str(),
                            "No account is locked and no source is blocked.\n");
    }
}

void every_malformed_line_is_kept_as_unreadable_and_the_good_ones_still_read(void**)
{
    const char* const malformed[] = {
        "lock\talice\tpassword\t1700003600",                           // a field missing
        "lock\talice\tpassword\t1700003600\t5\textra",                 // a field too many
        "lock\talice\tpassword\t1700003600\t5\t",                      // a trailing tab
        "lock alice password 1700003600 5",                            // blanks instead of tabs
        "lock\t\tpassword\t1700003600\t5",                             // no user
        "lock\talice\t\t1700003600\t5",                                // no channel
        "block\t198.51.100.9\tlogin-source\tsoon\t6",                  // a time that is no number
        "block\t198.51.100.9\tlogin-source\t-1\t6",                    // a negative time
        "block\t198.51.100.9\tlogin-source\t+5\t6",                    // a sign
        "block\t198.51.100.9\tlogin-source\t 5\t6",                    // a blank before the number
        "block\t198.51.100.9\tlogin-source\t5\t18446744073709551616",  // 2^64, too large
        "block\t198.51.100.9\tlogin-source\t5\t",                      // no count
        "unlock\talice\tpassword\t1700003600\t5",                      // an unknown kind
        "LOCK\talice\tpassword\t1700003600\t5",                        // kinds are lower case
    };
    for (const char* line : malformed) {
        const std::string entries = std::string("lock\tcarol\tconsole\t1700003600\t5\n") + line +
                                    "\nblock\tdave\tlogin-user\t1700000600\t10\n";
        const auto list = ctl::parse_lockouts(entries);
        if (list.unreadable.size() != 1)
            fail_msg("not kept as unreadable: \"%s\"", line);
        assert_string_equal(list.unreadable[0].c_str(), line);
        assert_int_equal(list.locks.size(), 1);
        assert_int_equal(list.blocks.size(), 1);
    }
}

void the_largest_times_and_counts_are_read_without_overflow(void**)
{
    const auto list =
        ctl::parse_lockouts("block\t2001:db8::/64\tlogin-source\t18446744073709551615\t0\n");
    assert_true(list.unreadable.empty());
    assert_int_equal(list.blocks[0].until, UINT64_MAX);
    assert_int_equal(list.blocks[0].attempts, 0);
}

void channels_and_limits_are_described_in_words(void**)
{
    assert_string_equal(ctl::describe_channel("password").c_str(), "password logins");
    assert_string_equal(ctl::describe_channel("console").c_str(), "console");
    assert_string_equal(ctl::describe_channel("local-user").c_str(), "checks run as the user");
    assert_string_equal(ctl::describe_channel("key:ssh-ed25519 AAAAC3NzaC1lZDI1...").c_str(),
                        "key ssh-ed25519 AAAAC3NzaC1lZDI1...");
    // A channel of a newer daemon is shown by its own name rather than dropped.
    assert_string_equal(ctl::describe_channel("fido2").c_str(), "fido2");
    assert_string_equal(ctl::describe_channel("key:").c_str(), "key:");

    assert_string_equal(ctl::describe_limit("login-source").c_str(), "logins per address");
    assert_string_equal(ctl::describe_limit("login-user").c_str(), "logins per account");
    assert_string_equal(ctl::describe_limit("password-change").c_str(), "password-change");
}

void locks_and_blocks_are_listed_in_aligned_tables_with_local_times(void**)
{
    use_time_zone("UTC");
    const auto list =
        ctl::parse_lockouts("lock\talice\tpassword\t1700003600\t5\n"
                            "lock\talice\tkey:ssh-ed25519 AAAAC3NzaC1lZDI1...\t1700003000\t5\n"
                            "block\t198.51.100.9\tlogin-source\t1700000042\t6\n"
                            "block\tbob\tlogin-user\t1700000600\t10\n");

    // Times computed independently: 1700003600 is 2023-11-14 23:13:20 UTC.
    assert_string_equal(
        ctl::render_lockouts(list, kNow).c_str(),
        "Locked accounts (too many wrong verification codes):\n"
        "  USER   LOCKED UNTIL                          FAILURES  LOCKED LOGINS\n"
        "  alice  2023-11-14 23:13 UTC (in 60 minutes)  5         password logins\n"
        "  alice  2023-11-14 23:03 UTC (in 50 minutes)  5         "
        "key ssh-ed25519 AAAAC3NzaC1lZDI1...\n"
        "\n"
        "Blocked sources (too many login attempts):\n"
        "  ADDRESS OR USER  BLOCKED UNTIL                         ATTEMPTS  LIMIT\n"
        "  198.51.100.9     2023-11-14 22:14 UTC (in 42 seconds)  6         logins per address\n"
        "  bob              2023-11-14 22:23 UTC (in 10 minutes)  10        logins per account\n"
        "\n"
        "To lift the locks and limits of an account now: fotoauthctl unlock USER\n"
        "To clear the limit of an address now: fotoauthctl unblock ADDRESS\n");
}

void times_are_shown_in_the_local_zone(void**)
{
    use_time_zone("Europe/Berlin");
    const auto text =
        ctl::render_lockouts(ctl::parse_lockouts("lock\talice\tconsole\t1700003600\t5\n"), kNow);
    assert_true(contains(text, "2023-11-15 00:13 CET (in 60 minutes)"));
}

void only_the_verb_that_lifts_what_is_listed_is_suggested(void**)
{
    use_time_zone("UTC");
    const auto addresses_only = ctl::render_lockouts(
        ctl::parse_lockouts("block\t198.51.100.9\tlogin-source\t1700000042\t6\n"), kNow);
    assert_true(contains(addresses_only, "fotoauthctl unblock ADDRESS"));
    assert_false(contains(addresses_only, "fotoauthctl unlock"));
    assert_false(contains(addresses_only, "Locked accounts"));

    const auto accounts_only =
        ctl::render_lockouts(ctl::parse_lockouts("lock\talice\tpassword\t1700003600\t5\n"), kNow);
    assert_true(contains(accounts_only, "fotoauthctl unlock USER"));
    assert_false(contains(accounts_only, "fotoauthctl unblock"));
    assert_false(contains(accounts_only, "Blocked sources"));
}

void an_end_already_passed_is_not_shown_as_a_future_time(void**)
{
    use_time_zone("UTC");
    const auto text = ctl::render_lockouts(
        ctl::parse_lockouts("block\t198.51.100.9\tlogin-source\t1699999990\t6\n"), kNow);
    assert_true(contains(text, "2023-11-14 22:13 UTC (ending now)"));
}

void unreadable_lines_are_shown_with_their_tabs_and_never_as_nothing_locked(void**)
{
    const auto list = ctl::parse_lockouts("lock\talice\tpassword\tsoon\t5\n");
    const auto text = ctl::render_lockouts(list, kNow);
    assert_false(contains(text, "No account is locked"));
    assert_true(contains(text, "could not be read"));
    assert_true(contains(text, "  lock<TAB>alice<TAB>password<TAB>soon<TAB>5\n"));
}

void a_list_fotoauthd_cut_short_says_so_and_is_not_unreadable(void**)
{
    use_time_zone("UTC");
    const auto list = ctl::parse_lockouts("lock\talice\tpassword\t1700003600\t5\ntruncated");
    assert_true(list.truncated);
    assert_true(list.unreadable.empty());
    assert_int_equal(list.locks.size(), 1);
    const auto text = ctl::render_lockouts(list, kNow);
    assert_true(contains(text, "  alice  2023-11-14 23:13 UTC (in 60 minutes)  5         "
                               "password logins\n"));
    assert_true(contains(text, "cut this list short"));

    assert_false(ctl::parse_lockouts("lock\talice\tpassword\t1700003600\t5\n").truncated);
}

void words_from_the_daemon_cannot_drive_the_terminal(void**)
{
    use_time_zone("UTC");
    const auto list = ctl::parse_lockouts("lock\tev\x1b]0;owned\x07il\tkey:ssh-rsa \x1b[2J\t9\t5\n"
                                          "block\t\xc2\x9b"
                                          "31m\tlogin-source\t9\t6\n"
                                          "garbage \x1b[H\n");
    const auto text = ctl::render_lockouts(list, kNow);
    assert_false(contains(text, "\x1b"));
    assert_false(contains(text, "\x07"));
    assert_false(contains(text, "\xc2\x9b"));
    assert_true(contains(text, "ev?]0;owned?il"));
}

void a_user_name_of_any_length_is_cut_so_the_table_stays_readable(void**)
{
    const std::string long_name(500, 'x');
    const auto text = ctl::render_lockouts(
        ctl::parse_lockouts("lock\t" + long_name + "\tpassword\t1700003600\t5\n"), kNow);
    assert_false(contains(text, std::string(65, 'x')));
    assert_true(contains(text, std::string(64, 'x') + "..."));
}

void unlock_says_how_many_locks_it_lifted_or_that_there_was_none(void**)
{
    assert_string_equal(ctl::unlock_outcome("alice", 0).c_str(), "alice was not locked.\n");
    assert_string_equal(ctl::unlock_outcome("alice", 1).c_str(),
                        "Unlocked alice (1 lock lifted).\n");
    assert_string_equal(ctl::unlock_outcome("alice", 3).c_str(),
                        "Unlocked alice (3 locks lifted).\n");
}

void unblock_says_how_many_windows_it_cleared_or_that_there_was_none(void**)
{
    assert_string_equal(ctl::unblock_outcome("198.51.100.9", 0).c_str(),
                        "198.51.100.9 was not blocked.\n");
    assert_string_equal(ctl::unblock_outcome("198.51.100.9", 1).c_str(),
                        "Cleared the login limit of 198.51.100.9 (1 window).\n");
    assert_string_equal(ctl::unblock_outcome("2001:db8::1", 2).c_str(),
                        "Cleared the login limit of 2001:db8::1 (2 windows).\n");
}

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_lock_line_and_a_block_line_are_read_into_their_fields),
        cmocka_unit_test(a_key_channel_keeps_its_blank_and_the_last_line_needs_no_line_end),
        cmocka_unit_test(nothing_locked_reads_as_one_sentence),
        cmocka_unit_test(every_malformed_line_is_kept_as_unreadable_and_the_good_ones_still_read),
        cmocka_unit_test(the_largest_times_and_counts_are_read_without_overflow),
        cmocka_unit_test(channels_and_limits_are_described_in_words),
        cmocka_unit_test(locks_and_blocks_are_listed_in_aligned_tables_with_local_times),
        cmocka_unit_test(times_are_shown_in_the_local_zone),
        cmocka_unit_test(only_the_verb_that_lifts_what_is_listed_is_suggested),
        cmocka_unit_test(an_end_already_passed_is_not_shown_as_a_future_time),
        cmocka_unit_test(unreadable_lines_are_shown_with_their_tabs_and_never_as_nothing_locked),
        cmocka_unit_test(a_list_fotoauthd_cut_short_says_so_and_is_not_unreadable),
        cmocka_unit_test(words_from_the_daemon_cannot_drive_the_terminal),
        cmocka_unit_test(a_user_name_of_any_length_is_cut_so_the_table_stays_readable),
        cmocka_unit_test(unlock_says_how_many_locks_it_lifted_or_that_there_was_none),
        cmocka_unit_test(unblock_says_how_many_windows_it_cleared_or_that_there_was_none),
    };
    return cmocka_run_group_tests_name("fotoauthctl lockouts", tests, nullptr, nullptr);
}
