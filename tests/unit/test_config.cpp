// fotoauthd.conf: defaults, accepted values, and errors that name the file and line.
#include "config.hpp"

#include <cstring>
#include <string>

using fotoauthd::parse_config;

// cmocka last: its fail() macro would clash with the standard library headers.
#include "cmocka_main.hpp"

namespace {

void an_empty_file_gives_the_embedded_defaults(void**)
{
    const auto result = parse_config("", "test.conf");
    assert_true(result.errors.empty());
    assert_string_equal(result.config.socket_path.c_str(), "/run/fotoauthd/socket");
    assert_string_equal(result.config.database_path.c_str(), "/var/lib/fotoauthd/fotoauthd.sqlite");
    assert_int_equal(result.config.totp_window, 1);
    assert_int_equal(result.config.enrolment_timeout.count(), 600);
}

void keys_values_comments_and_spacing_are_read(void**)
{
    const auto result = parse_config("# a comment\n"
                                     "\n"
                                     "  socket=/tmp/x/socket  \n"
                                     "database = /tmp/x/db.sqlite\n"
                                     "totp_window = 2\n"
                                     "issuer = Studio North\n"
                                     "enrolment_timeout = 120\n",
                                     "test.conf");
    assert_true(result.errors.empty());
    assert_string_equal(result.config.socket_path.c_str(), "/tmp/x/socket");
    assert_string_equal(result.config.database_path.c_str(), "/tmp/x/db.sqlite");
    assert_int_equal(result.config.totp_window, 2);
    assert_string_equal(result.config.issuer.c_str(), "Studio North");
    assert_int_equal(result.config.enrolment_timeout.count(), 120);
}

void an_unknown_key_is_reported_with_file_and_line(void**)
{
    const auto result = parse_config("totp_window = 1\nsecret_sauce = yes\n", "/etc/f.conf");
    assert_int_equal(result.errors.size(), 1);
    assert_string_equal(fotoauthd::to_string(result.errors[0]).c_str(),
                        "/etc/f.conf:2: unknown key `secret_sauce`");
}

void bad_values_are_reported_each_with_its_line(void**)
{
    const auto result = parse_config("totp_window = -1\n"
                                     "totp_window = 11\n"
                                     "totp_window = 1x\n"
                                     "database = relative/path\n"
                                     "enrolment_timeout = 5\n"
                                     "just some words\n"
                                     "issuer = a:b\n",
                                     "f.conf");
    assert_int_equal(result.errors.size(), 7);
    for (unsigned i = 0; i < result.errors.size(); ++i)
        assert_int_equal(result.errors[i].line, i + 1);
    assert_string_equal(fotoauthd::to_string(result.errors[1]).c_str(),
                        "f.conf:2: totp_window: must be between 0 and 10");
    assert_string_equal(fotoauthd::to_string(result.errors[5]).c_str(),
                        "f.conf:6: expected `key = value`");
}

// Found by fuzz/fuzz_config_parse: an empty value once crashed the parser (and a reload).
void empty_values_of_optional_mail_settings_mean_not_set_and_bad_ones_are_errors(void**)
{
    const auto set = parse_config("alert_address_pattern = %u@studio.example\n"
                                  "alert_site_url = https://studio.example/pw\n"
                                  "smtp_relay = 127.0.0.1:25\n"
                                  "alert_address_pattern =\n"
                                  "alert_site_url =\n"
                                  "smtp_relay =\n",
                                  "f.conf");
    assert_int_equal(set.errors.size(), 0);
    assert_true(set.config.alert_address_pattern.empty());
    assert_true(set.config.alert_site_url.empty());
    assert_true(set.config.smtp_relay.empty());

    const auto bad = parse_config("alert_address_pattern = -oQ%u@x\n"
                                  "alert_address_pattern = nobody\n"
                                  "alert_address_pattern = %x@studio.example\n"
                                  "alert_from =\n"
                                  "alert_site_url = ftp://x\n"
                                  "smtp_relay = localhost\n"
                                  "require_mfa_grace_until = 2027-02-30\n"
                                  "totp_drift_search = 61\n",
                                  "f.conf");
    assert_int_equal(bad.errors.size(), 8);
    for (unsigned i = 0; i < bad.errors.size(); ++i)
        assert_int_equal(bad.errors[i].line, i + 1);
}

void the_brute_force_limits_are_read_and_checked(void**)
{
    const auto result = parse_config("login_source_attempts = 20\n"
                                     "login_source_window = 30\n"
                                     "code_attempts = 3\n"
                                     "lock_duration = 900\n"
                                     "max_tracked = 5000\n"
                                     "login_user_window = 0\n"
                                     "max_tracked = 99\n",
                                     "f.conf");
    assert_int_equal(result.config.login_per_source.attempts, 20);
    assert_int_equal(result.config.login_per_source.window.count(), 30);
    assert_int_equal(result.config.wrong_codes.attempts, 3);
    assert_int_equal(result.config.lock_duration.count(), 900);
    assert_int_equal(result.config.max_tracked, 5000);
    assert_int_equal(result.errors.size(), 2);
    assert_string_equal(fotoauthd::to_string(result.errors[0]).c_str(),
                        "f.conf:6: login_user_window: must be between 1 and 86400");
    assert_int_equal(result.errors[1].line, 7);
}

void a_socket_path_too_long_for_a_unix_address_is_refused(void**)
{
    const auto result = parse_config("socket = /" + std::string(120, 'a') + "\n", "f.conf");
    assert_int_equal(result.errors.size(), 1);
}

void a_missing_file_is_an_error_only_when_it_was_named(void**)
{
    const auto named = fotoauthd::load_config("/nonexistent/fotoauthd.conf", true);
    assert_int_equal(named.errors.size(), 1);
    const auto defaulted = fotoauthd::load_config("/nonexistent/fotoauthd.conf", false);
    assert_true(defaulted.errors.empty());
}

void the_store_is_sqlite_unless_postgresql_is_chosen(void**)
{
    const auto defaults = parse_config("", "test.conf");
    assert_string_equal(defaults.config.store.c_str(), "sqlite");
    assert_string_equal(defaults.config.postgresql.c_str(), "");
    assert_string_equal(defaults.config.server_name.c_str(), "");

    const auto fleet =
        parse_config("store = postgresql\n"
                     "postgresql = host=db1.example,db2.example port=5432 dbname=fotoauthd "
                     "target_session_attrs=read-write\n"
                     "server_name = web-3\n",
                     "test.conf");
    assert_true(fleet.errors.empty());
    assert_string_equal(fleet.config.store.c_str(), "postgresql");
    assert_string_equal(fleet.config.postgresql.c_str(),
                        "host=db1.example,db2.example port=5432 dbname=fotoauthd "
                        "target_session_attrs=read-write");
    assert_string_equal(fleet.config.server_name.c_str(), "web-3");

    const auto uri =
        parse_config("postgresql = postgresql://fotoauthd@db1.example/fotoauthd\n", "test.conf");
    assert_true(uri.errors.empty());
}

void bad_store_settings_are_refused(void**)
{
    const auto result = parse_config("store = mysql\n"
                                     "postgresql = host=db1 no_such_option=1\n"
                                     "postgresql = host=db1 dbname\n"
                                     "server_name = two words\n"
                                     "server_name =\n",
                                     "test.conf");
    assert_int_equal(result.errors.size(), 5);
    for (unsigned i = 0; i < 5; ++i)
        assert_int_equal(result.errors[i].line, i + 1);
    assert_non_null(strstr(result.errors[0].message.c_str(), "sqlite or postgresql"));
    // libpq's own message is not repeated: it would quote the text, password included.
    assert_non_null(strstr(result.errors[1].message.c_str(), "not a libpq connection string"));
    const auto secret =
        parse_config("postgresql = host=db1 password=Geheim9 \xff\xfe junk\n", "test.conf");
    assert_int_equal(secret.errors.size(), 1);
    assert_null(strstr(secret.errors[0].message.c_str(), "Geheim9"));
    assert_true(secret.errors[0].message.size() < 160);

    // PostgreSQL chosen without saying where it is.
    const auto nowhere = parse_config("store = postgresql\n", "test.conf");
    assert_int_equal(nowhere.errors.size(), 1);
    assert_non_null(strstr(nowhere.errors[0].message.c_str(), "postgresql = CONNINFO"));
}

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_empty_file_gives_the_embedded_defaults),
        cmocka_unit_test(keys_values_comments_and_spacing_are_read),
        cmocka_unit_test(an_unknown_key_is_reported_with_file_and_line),
        cmocka_unit_test(bad_values_are_reported_each_with_its_line),
        cmocka_unit_test(
            empty_values_of_optional_mail_settings_mean_not_set_and_bad_ones_are_errors),
        cmocka_unit_test(the_brute_force_limits_are_read_and_checked),
        cmocka_unit_test(a_socket_path_too_long_for_a_unix_address_is_refused),
        cmocka_unit_test(a_missing_file_is_an_error_only_when_it_was_named),
        cmocka_unit_test(the_store_is_sqlite_unless_postgresql_is_chosen),
        cmocka_unit_test(bad_store_settings_are_refused),
    };
    return cmocka_run_group_tests_name("config", tests, nullptr, nullptr);
}
