// The security page of `fotoauthctl status`: the account's state with the alert address, the
// site's policy and a warning when the server's clock is not synchronised; then every login of
// the history, newest first, in a table whose marker columns line up whether the terminal gets
// the symbols (one of them two columns wide) or the plain markers; and the same data as JSON.
#include "entry_table.hpp"
#include "history_entries.hpp"
#include "json_output.hpp"
#include "markers.hpp"
#include "protocol.hpp"
#include "verbs.hpp"

#include <cstdint>
#include <cstdlib>
#include <ctime>
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

// Two SSH logins (one from an unusual country, both with a code), a refused one, a local login
// without a code (mode new-device, trusted terminal) and the enrolment: newest first.
constexpr char kHistory[] =
    "1700000007\tlogin\tsshd\t198.51.100.7\tverification code\tFR\t"
    "sshd publickey ED25519 SHA256:abc, pts/3\t1\t1\n"
    "1700000000\tlogin-refused\tsshd\t198.51.100.7\twrong code\tFR\tsshd\t0\t0\n"
    "1699999200\tlogin\tlogin\t\ttrusted device\tlocal\tlogin tty1\t0\t0\n"
    "1699995600\tlogin\tsshd\t203.0.113.5\trecovery code\tDE\tsshd password, pts/0\t0\t1\n"
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

std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> lines;
    for (const auto line : ctl::split_lines(text))
        lines.emplace_back(line);
    return lines;
}

proto::Message active_status()
{
    proto::Message reply = proto::make_reply(proto::ReplyStatus::Ok);
    reply.set_u8(proto::Field::Enrolled, 1).set_u8(proto::Field::Pending, 0);
    reply.set_u64(proto::Field::Since, 1700000000).set(proto::Field::Mode, "always");
    reply.set_u64(proto::Field::CodesLeft, 7).set_u64(proto::Field::DeviceCount, 0);
    return reply;
}

proto::Message inactive_status()
{
    proto::Message reply = proto::make_reply(proto::ReplyStatus::Ok);
    reply.set_u8(proto::Field::Enrolled, 0).set_u8(proto::Field::Pending, 0);
    return reply;
}

void the_connections_are_the_logins_only_newest_first_with_plain_markers(void**)
{
    use_time_zone("UTC");
    const std::string expected =
        "Last 3 connections, newest first:\n"
        "  DATE                  COUNTRY  IP ADDRESS    CLIENT                                    "
        "!  CODE\n"
        "  2023-11-14 22:13 UTC  FR       198.51.100.7  sshd publickey ED25519 SHA256:abc, pts/3  "
        "!  yes\n"
        "  2023-11-14 22:00 UTC  local    -             login tty1\n"
        "  2023-11-14 21:00 UTC  DE       203.0.113.5   sshd password, pts/0                         "
        "yes\n"
        "  ! from another country than the account's usual one; CODE yes: a code was checked\n"
        "Refused logins and changes to the account: fotoauthctl history\n";
    assert_string_equal(
        ctl::render_connections(ctl::parse_history(kHistory), kBob, ctl::kPlainMarkers).c_str(),
        expected.c_str());
}

void the_connections_show_the_symbols_with_the_lock_two_columns_wide(void**)
{
    use_time_zone("UTC");
    const std::string expected =
        "Last 3 connections, newest first:\n"
        "  DATE                  COUNTRY  IP ADDRESS    CLIENT                                    "
        "\u26a0  \U0001f512\n"
        "  2023-11-14 22:13 UTC  FR       198.51.100.7  sshd publickey ED25519 SHA256:abc, pts/3  "
        "\u26a0  \U0001f512\n"
        "  2023-11-14 22:00 UTC  local    -             login tty1\n"
        "  2023-11-14 21:00 UTC  DE       203.0.113.5   sshd password, pts/0                         "
        "\U0001f512\n"
        "  \u26a0 from another country than the account's usual one; \U0001f512 a code was "
        "checked\n"
        "Refused logins and changes to the account: fotoauthctl history --user bob\n";
    assert_string_equal(
        ctl::render_connections(ctl::parse_history(kHistory), kBobForRoot, ctl::kSymbolMarkers)
            .c_str(),
        expected.c_str());
}

void every_row_of_the_table_ends_its_columns_at_the_same_screen_column(void**)
{
    // With a wide character in a cell too: each marker column starts at the same screen column in
    // every row that has the marker, in both modes.
    use_time_zone("UTC");
    const std::string history = std::string(kHistory) +
                                "1699980000\tlogin\tsshd\t192.0.2.9\tverification code\tJP\t"
                                "sshd \u6771\u4eac, pts/9\t1\t1\n";
    for (const auto* markers : {&ctl::kPlainMarkers, &ctl::kSymbolMarkers}) {
        const auto text = ctl::render_connections(ctl::parse_history(history), kBob, *markers);
        std::vector<std::size_t> lock_columns;
        for (const auto& line : lines_of(text)) {
            for (const auto marker : {markers->verified, markers->verified_header}) {
                if (line.starts_with("  ") && line.ends_with(marker)) {
                    const auto at = line.size() - marker.size();
                    lock_columns.push_back(ctl::display_columns(line.substr(0, at)));
                    break;
                }
            }
        }
        // The header and the three logins with a code.
        assert_int_equal(lock_columns.size(), 4);
        for (const auto column : lock_columns)
            assert_int_equal(column, lock_columns[0]);
    }
}

void the_lock_and_the_wide_scripts_take_two_columns_and_the_warning_sign_one(void**)
{
    assert_int_equal(ctl::display_columns("\U0001f512"), 2);
    assert_int_equal(ctl::display_columns("\u26a0"), 1);
    assert_int_equal(ctl::display_columns("\u6771\u4eac"), 4);
    assert_int_equal(ctl::display_columns("caf\u00e9"), 4);
    assert_int_equal(ctl::display_columns("abc"), 3);
    // A stray byte that is not UTF-8 is shown as one replacement character.
    assert_int_equal(ctl::display_columns("a\xff"), 2);
}

void an_account_without_logins_says_so_and_still_points_to_the_history(void**)
{
    const auto text = ctl::render_connections(
        ctl::parse_history("1699990000\tmfa-enabled\t\t\tmode always\t\t\t0\t0\n"), kBob,
        ctl::kSymbolMarkers);
    assert_string_equal(text.c_str(), "No connections yet.\n"
                                      "Refused logins and changes to the account: fotoauthctl "
                                      "history\n");
}

void one_login_is_the_last_connection(void**)
{
    use_time_zone("UTC");
    const auto text = ctl::render_connections(
        ctl::parse_history("1700000007\tlogin\tsshd\t198.51.100.7\tverification code\n"), kBob,
        ctl::kPlainMarkers);
    // From an older fotoauthd: no country, no client (the service instead), no markers.
    assert_true(text.starts_with("Last connection:\n"));
    assert_true(contains(text, "  2023-11-14 22:13 UTC  -        198.51.100.7  sshd\n"));
}

void all_fifty_logins_are_listed(void**)
{
    std::string history;
    for (int i = 0; i < 50; ++i)
        history += std::to_string(1700000000 - i) + "\tlogin\tsshd\t192.0.2." +
                   std::to_string(i + 1) + "\tverification code\tFR\tsshd\t0\t1\n";
    const auto text =
        ctl::render_connections(ctl::parse_history(history), kBob, ctl::kPlainMarkers);
    assert_true(text.starts_with("Last 50 connections, newest first:\n"));
    assert_true(contains(text, " 192.0.2.1 "));
    assert_true(contains(text, " 192.0.2.50 "));
    assert_true(text.find(" 192.0.2.1 ") < text.find(" 192.0.2.50 "));
}

void the_page_says_where_alerts_go_in_words(void**)
{
    use_time_zone("UTC");
    proto::Message reply = active_status();
    reply.set(proto::Field::Email, "bob@studio.example").set(proto::Field::EmailSource, "user");
    assert_string_equal(ctl::render_status(reply, kBob)->c_str(),
                        "MFA: active since 2023-11-14 22:13 UTC\n"
                        "Verification: always\n"
                        "Trusted devices: 0\n"
                        "Recovery codes left: 7\n"
                        "Alerts go to bob@studio.example (set by you)\n");

    reply.set(proto::Field::EmailSource, "pattern");
    assert_true(ctl::render_status(reply, kBob)
                    ->ends_with("Alerts go to bob@studio.example (the site's default pattern)\n"));

    reply.set(proto::Field::Email, "bob").set(proto::Field::EmailSource, "local");
    assert_true(ctl::render_status(reply, kBob)
                    ->ends_with("Alerts go to the local mailbox of bob on this server\n"));

    reply.set(proto::Field::Email, "").set(proto::Field::EmailSource, "");
    assert_true(ctl::render_status(reply, kBobForRoot)
                    ->ends_with("Alerts: none can be sent, as no address is known. Set one with: "
                                "fotoauthctl email set --user bob ADDRESS\n"));
}

void a_clock_out_of_sync_adds_a_warning_and_a_synchronised_one_none(void**)
{
    use_time_zone("UTC");
    proto::Message reply = active_status();
    reply.set_u8(proto::Field::ClockSynced, 1);
    assert_false(contains(*ctl::render_status(reply, kBob), "clock"));

    reply.set_u8(proto::Field::ClockSynced, 0);
    assert_true(
        ctl::render_status(reply, kBob)
            ->ends_with(
                "Recovery codes left: 7\nWarning: the server's clock is not synchronised, so right codes "
                "may be refused. Root should check NTP (timedatectl status).\n"));

    proto::Message inactive = inactive_status();
    inactive.set_u8(proto::Field::ClockSynced, 0);
    assert_true(contains(*ctl::render_status(inactive, kBob), "clock is not synchronised"));
}

void the_sites_policy_shows_with_the_grace_period_and_the_enable_command(void**)
{
    use_time_zone("UTC");
    proto::Message reply = inactive_status();
    reply.set_u8(proto::Field::MfaRequired, 0);
    assert_false(contains(*ctl::render_status(reply, kBob), "requires"));

    reply.set_u8(proto::Field::MfaRequired, 1).set_u64(proto::Field::GraceUntil, 1767225600);
    assert_string_equal(ctl::render_status(reply, kBobForRoot)->c_str(),
                        "MFA: not enabled\n"
                        "The site requires MFA for this account; logins without it are let in "
                        "until 2026-01-01 00:00 UTC.\n"
                        "To enable MFA, run: fotoauthctl mfa enable --user bob\n");

    proto::Message expired = inactive_status();
    expired.set_u8(proto::Field::MfaRequired, 1);
    assert_true(contains(*ctl::render_status(expired, kBob),
                         "The site requires MFA for this account; logins without it are refused.\n"
                         "To enable MFA, run: fotoauthctl mfa enable\n"));

    proto::Message active = active_status();
    active.set_u8(proto::Field::MfaRequired, 1);
    assert_true(
        ctl::render_status(active, kBob)
            ->ends_with("Recovery codes left: 7\nThe site requires MFA for this account.\n"));
}

void the_status_json_has_the_alert_address_clock_policy_and_connections(void**)
{
    proto::Message reply = active_status();
    reply.set(proto::Field::Email, "bob@studio.example").set(proto::Field::EmailSource, "user");
    reply.set_u8(proto::Field::ClockSynced, 0).set_u8(proto::Field::MfaRequired, 1);

    const auto history = ctl::parse_history(
        "1700000007\tlogin\tsshd\t198.51.100.7\tverification code\tFR\tsshd x, pts/3\t1\t1\n"
        "1700000000\tlogin-refused\tsshd\t198.51.100.7\twrong code\tFR\tsshd\t0\t0\n"
        "1699999200\tlogin\tlogin\t\tverification code\n");
    const auto json = ctl::status_json(reply, "bob", history);
    assert_true(json.has_value());

    const std::string login =
        "{\"at\":1700000007,\"event\":\"login\",\"service\":\"sshd\",\"source\":\"198.51.100.7\","
        "\"detail\":\"verification code\",\"country\":\"FR\",\"client\":\"sshd x, pts/3\","
        "\"unusual\":true,\"verified\":true}";
    const std::string refused =
        "{\"at\":1700000000,\"event\":\"login-refused\",\"service\":\"sshd\",\"source\":"
        "\"198.51.100.7\",\"detail\":\"wrong code\",\"country\":\"FR\",\"client\":\"sshd\","
        "\"unusual\":false,\"verified\":false}";
    const std::string old_login =
        "{\"at\":1699999200,\"event\":\"login\",\"service\":\"login\",\"source\":\"\","
        "\"detail\":\"verification code\",\"country\":null,\"client\":null,\"unusual\":null,"
        "\"verified\":null}";
    const std::string expected =
        "{\"user\":\"bob\",\"enrolled\":true,\"pending\":false,\"active_since\":1700000000,"
        "\"mode\":\"always\",\"recovery_codes_left\":7,\"trusted_devices\":0,"
        "\"alert_address\":\"bob@studio.example\",\"alert_address_source\":\"user\","
        "\"clock_synced\":false,\"mfa_required\":true,\"grace_until\":null,"
        "\"connections\":[" +
        login + "," + old_login + "],\"recent_activity\":[" + login + "," + refused + "," +
        old_login + "],\"history_truncated\":false}\n";
    assert_string_equal(json->c_str(), expected.c_str());
}

void the_status_json_of_an_older_fotoauthd_has_nulls_for_what_it_did_not_send(void**)
{
    const auto json = ctl::status_json(inactive_status(), "bob", ctl::parse_history(""));
    assert_string_equal(
        json->c_str(),
        "{\"user\":\"bob\",\"enrolled\":false,\"pending\":false,\"active_since\":null,"
        "\"mode\":null,\"recovery_codes_left\":null,\"trusted_devices\":null,"
        "\"alert_address\":null,\"alert_address_source\":null,\"clock_synced\":null,"
        "\"mfa_required\":null,\"grace_until\":null,\"connections\":[],\"recent_activity\":[],"
        "\"history_truncated\":false}\n");
}

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_connections_are_the_logins_only_newest_first_with_plain_markers),
        cmocka_unit_test(the_connections_show_the_symbols_with_the_lock_two_columns_wide),
        cmocka_unit_test(every_row_of_the_table_ends_its_columns_at_the_same_screen_column),
        cmocka_unit_test(the_lock_and_the_wide_scripts_take_two_columns_and_the_warning_sign_one),
        cmocka_unit_test(an_account_without_logins_says_so_and_still_points_to_the_history),
        cmocka_unit_test(one_login_is_the_last_connection),
        cmocka_unit_test(all_fifty_logins_are_listed),
        cmocka_unit_test(the_page_says_where_alerts_go_in_words),
        cmocka_unit_test(a_clock_out_of_sync_adds_a_warning_and_a_synchronised_one_none),
        cmocka_unit_test(the_sites_policy_shows_with_the_grace_period_and_the_enable_command),
        cmocka_unit_test(the_status_json_has_the_alert_address_clock_policy_and_connections),
        cmocka_unit_test(the_status_json_of_an_older_fotoauthd_has_nulls_for_what_it_did_not_send),
    };
    return cmocka_run_group_tests_name("fotoauthctl status page", tests, nullptr, nullptr);
}
