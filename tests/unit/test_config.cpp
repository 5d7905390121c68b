// fotoauthd.conf: defaults, accepted values, and errors that name the file and line.
#include "config.hpp"

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

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_empty_file_gives_the_embedded_defaults),
        cmocka_unit_test(keys_values_comments_and_spacing_are_read),
        cmocka_unit_test(an_unknown_key_is_reported_with_file_and_line),
        cmocka_unit_test(bad_values_are_reported_each_with_its_line),
        cmocka_unit_test(the_brute_force_limits_are_read_and_checked),
        cmocka_unit_test(a_socket_path_too_long_for_a_unix_address_is_refused),
        cmocka_unit_test(a_missing_file_is_an_error_only_when_it_was_named),
    };
    return cmocka_run_group_tests_name("config", tests, nullptr, nullptr);
}
