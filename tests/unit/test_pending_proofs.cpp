// The proofs that wait between a passed auth stage and its session stage: found by nonce, taken
// once, dropped when they expire, and never more than the store's capacity, so that logins whose
// session stage never comes cost neither memory nor time in later logins.
#include "pending_proofs.hpp"

#include <string>

// cmocka last: its fail() macro would clash with the standard library headers.
#include "cmocka_main.hpp"

using fotoauthd::AuthProof;
using fotoauthd::PendingProofs;

namespace {

constexpr std::int64_t kNow = 1700000000;
constexpr std::int64_t kLifetime = 120;

AuthProof proof_of(std::int64_t account, std::int64_t issued_at = kNow)
{
    return AuthProof{account, issued_at + kLifetime, "verification code", true};
}

std::string nonce(int index)
{
    return "nonce-" + std::to_string(index);
}

void a_proof_is_found_until_it_is_taken_and_taken_once(void**)
{
    PendingProofs proofs;
    assert_false(proofs.add(nonce(1), proof_of(7), kNow));
    const AuthProof* kept = proofs.find(nonce(1));
    assert_non_null(kept);
    assert_int_equal(kept->account, 7);
    assert_int_equal(kept->expires_at, kNow + kLifetime);
    assert_non_null(proofs.find(nonce(1)));  // looking does not use it up

    const auto taken = proofs.take(nonce(1));
    assert_true(taken.has_value());
    assert_int_equal(taken->account, 7);
    assert_string_equal(taken->how.c_str(), "verification code");
    assert_null(proofs.find(nonce(1)));
    assert_false(proofs.take(nonce(1)).has_value());
    assert_false(proofs.take("never-issued").has_value());
    assert_int_equal(proofs.size(), 0);
}

void expired_proofs_go_when_a_new_one_comes(void**)
{
    PendingProofs proofs;
    proofs.add(nonce(1), proof_of(1, kNow), kNow);
    proofs.add(nonce(2), proof_of(2, kNow + 60), kNow + 60);
    // At kNow + 120 the first has expired (valid while now < expires_at), the second has not.
    proofs.add(nonce(3), proof_of(3, kNow + kLifetime), kNow + kLifetime);
    assert_null(proofs.find(nonce(1)));
    assert_non_null(proofs.find(nonce(2)));
    assert_non_null(proofs.find(nonce(3)));
    assert_int_equal(proofs.size(), 2);
}

void an_expired_proof_not_yet_dropped_is_still_taken_so_that_the_caller_can_refuse_it(void**)
{
    PendingProofs proofs;
    proofs.add(nonce(1), proof_of(1), kNow);
    const auto taken = proofs.take(nonce(1));
    assert_true(taken.has_value());
    assert_true(taken->expires_at <= kNow + kLifetime);
}

void a_full_store_drops_the_proof_nearest_its_end_and_says_so(void**)
{
    PendingProofs proofs(3);
    assert_false(proofs.add(nonce(1), proof_of(1, kNow), kNow));
    assert_false(proofs.add(nonce(2), proof_of(2, kNow + 1), kNow + 1));
    assert_false(proofs.add(nonce(3), proof_of(3, kNow + 2), kNow + 2));
    assert_true(proofs.add(nonce(4), proof_of(4, kNow + 3), kNow + 3));
    assert_int_equal(proofs.size(), 3);
    assert_null(proofs.find(nonce(1)));
    assert_non_null(proofs.find(nonce(2)));
    assert_non_null(proofs.find(nonce(4)));

    // A taken proof frees its place: the next one drops nothing.
    assert_true(proofs.take(nonce(3)).has_value());
    assert_false(proofs.add(nonce(5), proof_of(5, kNow + 4), kNow + 4));
    assert_non_null(proofs.find(nonce(2)));
}

void a_flood_of_proofs_never_redeemed_keeps_only_the_capacity_and_the_newest(void**)
{
    // 100,000 passed logins within one lifetime, none of whose sessions came.
    PendingProofs proofs;
    for (int index = 0; index < 100000; ++index)
        proofs.add(nonce(index), proof_of(index, kNow), kNow);
    assert_int_equal(proofs.size(), PendingProofs::kDefaultCapacity);
    assert_non_null(proofs.find(nonce(99999)));
    assert_non_null(proofs.find(nonce(100000 - PendingProofs::kDefaultCapacity)));
    assert_null(proofs.find(nonce(100000 - PendingProofs::kDefaultCapacity - 1)));
    assert_null(proofs.find(nonce(0)));

    // Once the lifetime has passed, the next proof finds none of them still there.
    proofs.add("late", proof_of(1, kNow + kLifetime), kNow + kLifetime);
    assert_int_equal(proofs.size(), 1);
}

void forgetting_an_account_removes_its_proofs_and_no_others(void**)
{
    PendingProofs proofs;
    proofs.add(nonce(1), proof_of(7), kNow);
    proofs.add(nonce(2), proof_of(8), kNow);
    proofs.add(nonce(3), proof_of(7), kNow);
    assert_int_equal(proofs.forget_account(7), 2);
    assert_null(proofs.find(nonce(1)));
    assert_null(proofs.find(nonce(3)));
    assert_non_null(proofs.find(nonce(2)));
    assert_int_equal(proofs.forget_account(7), 0);

    // What was forgotten holds no place: three more fit in a store of three.
    PendingProofs small(3);
    small.add(nonce(1), proof_of(7), kNow);
    small.add(nonce(2), proof_of(7), kNow);
    small.add(nonce(3), proof_of(8), kNow);
    assert_int_equal(small.forget_account(7), 2);
    assert_false(small.add(nonce(4), proof_of(9), kNow));
    assert_false(small.add(nonce(5), proof_of(9), kNow));
    assert_non_null(small.find(nonce(3)));
}

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_proof_is_found_until_it_is_taken_and_taken_once),
        cmocka_unit_test(expired_proofs_go_when_a_new_one_comes),
        cmocka_unit_test(
            an_expired_proof_not_yet_dropped_is_still_taken_so_that_the_caller_can_refuse_it),
        cmocka_unit_test(a_full_store_drops_the_proof_nearest_its_end_and_says_so),
        cmocka_unit_test(a_flood_of_proofs_never_redeemed_keeps_only_the_capacity_and_the_newest),
        cmocka_unit_test(forgetting_an_account_removes_its_proofs_and_no_others),
    };
    return cmocka_run_group_tests_name("pending_proofs", tests, nullptr, nullptr);
}
