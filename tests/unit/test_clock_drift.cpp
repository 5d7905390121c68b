// Clock drift: what is remembered after a code matched outside the window, when and how the
// user is told to fix the phone's clock, and the watch on the server's own clock.
#include "clock_drift.hpp"
#include "clock_sync.hpp"
#include "log.hpp"
#include "totp.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>

// cmocka last: its fail() macro would clash with the standard library headers.
#include "cmocka_main.hpp"

namespace drift = fotoauthd::drift;
using fotoauthd::ClockSync;
using fotoauthd::ClockSyncWatch;
using fotoauthd::DriftRecord;

namespace {

constexpr std::int64_t kNow = 1700000000;

DriftRecord twice(std::int64_t first, std::int64_t second, std::int64_t gap_seconds)
{
    const auto once = drift::observe(DriftRecord{}, first, kNow);
    return drift::observe(once, second, kNow + gap_seconds);
}

void one_match_outside_the_window_is_no_reason_for_a_hint(void**)
{
    const auto record = drift::observe(DriftRecord{}, 3, kNow);
    assert_int_equal(record.offset, 3);
    assert_int_equal(record.seen, 1);
    assert_int_equal(record.at, kNow);
    assert_false(drift::worth_a_hint(record));
}

void the_same_offset_twice_in_a_row_is_worth_a_hint(void**)
{
    const auto record = twice(3, 3, 60);
    assert_int_equal(record.seen, 2);
    assert_int_equal(record.at, kNow + 60);
    assert_true(drift::worth_a_hint(record));
}

void offsets_one_step_apart_count_as_consistent(void**)
{
    const auto record = twice(3, 4, 60);
    assert_int_equal(record.offset, 4);
    assert_int_equal(record.seen, 2);
    assert_true(drift::worth_a_hint(record));
    assert_true(drift::worth_a_hint(twice(-5, -4, 60)));
}

void offsets_that_disagree_start_over(void**)
{
    const auto record = twice(3, -2, 60);
    assert_int_equal(record.offset, -2);
    assert_int_equal(record.seen, 1);
    assert_false(drift::worth_a_hint(record));
    assert_false(drift::worth_a_hint(twice(3, 5, 60)));
}

void a_measurement_more_than_an_hour_after_the_last_starts_over(void**)
{
    assert_true(drift::worth_a_hint(twice(3, 3, 3600)));

    const auto record = twice(3, 3, 3601);
    assert_int_equal(record.seen, 1);
    assert_false(drift::worth_a_hint(record));
}

void a_server_clock_that_went_back_starts_over(void**)
{
    assert_false(drift::worth_a_hint(twice(3, 3, -10)));
}

void three_consistent_measurements_count_three(void**)
{
    auto record = twice(3, 3, 60);
    record = drift::observe(record, 2, kNow + 120);
    assert_int_equal(record.seen, 3);
    assert_true(drift::worth_a_hint(record));
}

void a_code_accepted_inside_the_window_settles_the_record(void**)
{
    const auto settled = drift::settle();
    assert_int_equal(settled.seen, 0);
    assert_int_equal(settled.offset, 0);
    assert_false(drift::worth_a_hint(settled));

    // After settling, the next match outside the window is a first again.
    assert_int_equal(drift::observe(settled, 0, kNow).seen, 1);
}

std::string hint(std::int64_t offset)
{
    return drift::hint_for(DriftRecord{offset, 2, kNow});
}

bool contains(const std::string& text, const char* part)
{
    return text.find(part) != std::string::npos;
}

void the_hint_says_how_far_and_which_way_and_what_to_do(void**)
{
    assert_string_equal(hint(6).c_str(),
                        "Your authenticator app's clock seems to be about 3 minutes ahead: check "
                        "that its time is set automatically (network time), then use a new code.");
    assert_true(contains(hint(-6), "about 3 minutes behind:"));
}

void the_hint_rounds_to_whole_minutes_and_never_says_less_than_one(void**)
{
    assert_true(contains(hint(1), "about 1 minute ahead:"));    // 30 s
    assert_true(contains(hint(-1), "about 1 minute behind:"));  // 30 s
    assert_true(contains(hint(2), "about 1 minute ahead:"));    // 60 s
    assert_true(contains(hint(3), "about 2 minutes ahead:"));   // 90 s rounds up
    assert_true(contains(hint(11), "about 6 minutes ahead:"));  // 330 s
    assert_true(contains(hint(-20), "about 10 minutes behind:"));
}

void a_far_off_clock_is_told_in_hours_or_days(void**)
{
    assert_true(contains(hint(238), "about 119 minutes ahead:"));  // 7140 s
    assert_true(contains(hint(240), "about 2 hours ahead:"));
    assert_true(contains(hint(-2880), "about 24 hours behind:"));
    assert_true(contains(hint(5760), "about 2 days ahead:"));
    assert_true(contains(hint(2 * 365 * 2880), "more than a year ahead:"));
}

std::size_t longest_digit_run(const std::string& text)
{
    std::size_t longest = 0;
    std::size_t run = 0;
    for (char c : text) {
        run = (c >= '0' && c <= '9') ? run + 1 : 0;
        longest = run > longest ? run : longest;
    }
    return longest;
}

void the_hint_never_holds_anything_that_looks_like_a_code_or_a_step(void**)
{
    for (std::int64_t offset = -20000; offset <= 20000; ++offset)
        assert_true(longest_digit_run(hint(offset)) < fotoauthd::totp::kDigits);

    const std::int64_t extremes[] = {std::numeric_limits<std::int64_t>::min(),
                                     std::numeric_limits<std::int64_t>::max(), 1051200, -1051201,
                                     56666666};
    for (std::int64_t offset : extremes)
        assert_true(longest_digit_run(hint(offset)) < fotoauthd::totp::kDigits);
}

// The log goes to stderr in the tests: this points stderr at a memory file while it lives.
class CapturedStderr {
public:
    CapturedStderr()
    {
        (void)std::fflush(stderr);
        file_ = memfd_create("fotoauthd-test-log", MFD_CLOEXEC);
        saved_ = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        assert_true(file_ >= 0 && saved_ >= 0);
        assert_true(dup2(file_, STDERR_FILENO) >= 0);
    }
    ~CapturedStderr()
    {
        (void)std::fflush(stderr);
        (void)dup2(saved_, STDERR_FILENO);
        (void)close(saved_);
        (void)close(file_);
    }
    CapturedStderr(const CapturedStderr&) = delete;
    CapturedStderr& operator=(const CapturedStderr&) = delete;

    std::string text() const
    {
        (void)std::fflush(stderr);
        std::string out;
        char buffer[4096];
        off_t at = 0;
        for (;;) {
            const ssize_t got = pread(file_, buffer, sizeof buffer, at);
            assert_true(got >= 0);
            if (got == 0)
                return out;
            out.append(buffer, static_cast<std::size_t>(got));
            at += got;
        }
    }

    std::size_t count(const char* part) const
    {
        const std::string all = text();
        std::size_t found = 0;
        for (auto at = all.find(part); at != std::string::npos; at = all.find(part, at + 1))
            ++found;
        return found;
    }

private:
    int file_ = -1;
    int saved_ = -1;
};

class FakeClockSync final : public ClockSync {
public:
    bool synchronised() override
    {
        ++reads;
        return value;
    }
    bool value = true;
    int reads = 0;
};

constexpr std::int64_t kMinuteMs = 60 * 1000;

void an_unsynchronised_clock_is_warned_about_once(void**)
{
    FakeClockSync source;
    source.value = false;
    ClockSyncWatch watch(source);
    CapturedStderr log;

    for (std::int64_t ms = 1000; ms <= 10 * kMinuteMs; ms += 1000)
        watch.check(ms);

    assert_false(watch.synchronised());
    assert_int_equal(log.count("warning: "), 1);
    assert_int_equal(log.count("not synchronised"), 1);
    assert_int_equal(log.count("info: "), 0);
}

void the_clock_is_read_at_the_first_check_and_then_at_most_once_a_minute(void**)
{
    FakeClockSync source;
    ClockSyncWatch watch(source);
    CapturedStderr log;

    watch.check(5000);
    assert_int_equal(source.reads, 1);
    for (std::int64_t ms = 6000; ms < 5000 + kMinuteMs; ms += 1000)
        watch.check(ms);
    assert_int_equal(source.reads, 1);

    watch.check(5000 + kMinuteMs);
    assert_int_equal(source.reads, 2);
    for (std::int64_t ms = 6000 + kMinuteMs; ms <= 10 * kMinuteMs; ms += 1000)
        watch.check(ms);
    assert_int_equal(source.reads, 10);
}

void a_change_shows_only_at_the_next_reading(void**)
{
    FakeClockSync source;
    ClockSyncWatch watch(source);
    CapturedStderr log;

    watch.check(0);
    source.value = false;
    watch.check(kMinuteMs - 1);
    assert_true(watch.synchronised());
    assert_int_equal(log.count("warning: "), 0);

    watch.check(kMinuteMs);
    assert_false(watch.synchronised());
    assert_int_equal(log.count("warning: "), 1);
}

void a_synchronised_clock_is_not_mentioned(void**)
{
    FakeClockSync source;
    ClockSyncWatch watch(source);
    CapturedStderr log;

    assert_true(watch.synchronised());  // nothing known against it before the first check
    for (std::int64_t ms = 0; ms <= 5 * kMinuteMs; ms += 1000)
        watch.check(ms);

    assert_true(watch.synchronised());
    assert_string_equal(log.text().c_str(), "");
}

void recovery_is_told_once_and_a_new_loss_is_warned_about_again(void**)
{
    FakeClockSync source;
    source.value = false;
    ClockSyncWatch watch(source);
    CapturedStderr log;

    watch.check(0);
    source.value = true;
    for (std::int64_t ms = kMinuteMs; ms <= 5 * kMinuteMs; ms += 1000)
        watch.check(ms);
    assert_true(watch.synchronised());
    assert_int_equal(log.count("warning: "), 1);
    assert_int_equal(log.count("info: "), 1);
    assert_int_equal(log.count("synchronised again"), 1);

    source.value = false;
    watch.check(6 * kMinuteMs);
    watch.check(7 * kMinuteMs);
    assert_false(watch.synchronised());
    assert_int_equal(log.count("warning: "), 2);
    assert_int_equal(log.count("info: "), 1);
}

void the_kernel_answers_without_an_error_and_the_same_twice(void**)
{
    fotoauthd::KernelClockSync kernel;
    errno = 0;
    const bool first = kernel.synchronised();
    assert_int_equal(errno, 0);
    const bool second = kernel.synchronised();
    assert_int_equal(errno, 0);
    assert_int_equal(first, second);
}

}  // namespace

int main()
{
    // Log lines to stderr, where the tests capture them, even when run under journald.
    (void)unsetenv("JOURNAL_STREAM");
    fotoauthd::log::init(false);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_match_outside_the_window_is_no_reason_for_a_hint),
        cmocka_unit_test(the_same_offset_twice_in_a_row_is_worth_a_hint),
        cmocka_unit_test(offsets_one_step_apart_count_as_consistent),
        cmocka_unit_test(offsets_that_disagree_start_over),
        cmocka_unit_test(a_measurement_more_than_an_hour_after_the_last_starts_over),
        cmocka_unit_test(a_server_clock_that_went_back_starts_over),
        cmocka_unit_test(three_consistent_measurements_count_three),
        cmocka_unit_test(a_code_accepted_inside_the_window_settles_the_record),
        cmocka_unit_test(the_hint_says_how_far_and_which_way_and_what_to_do),
        cmocka_unit_test(the_hint_rounds_to_whole_minutes_and_never_says_less_than_one),
        cmocka_unit_test(a_far_off_clock_is_told_in_hours_or_days),
        cmocka_unit_test(the_hint_never_holds_anything_that_looks_like_a_code_or_a_step),
        cmocka_unit_test(an_unsynchronised_clock_is_warned_about_once),
        cmocka_unit_test(the_clock_is_read_at_the_first_check_and_then_at_most_once_a_minute),
        cmocka_unit_test(a_change_shows_only_at_the_next_reading),
        cmocka_unit_test(a_synchronised_clock_is_not_mentioned),
        cmocka_unit_test(recovery_is_told_once_and_a_new_loss_is_warned_about_again),
        cmocka_unit_test(the_kernel_answers_without_an_error_and_the_same_twice),
    };
    return cmocka_run_group_tests_name("clock_drift", tests, nullptr, nullptr);
}
