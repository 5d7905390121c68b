// The proofs of passed authentications that wait for their session stage (docs/architecture.md,
// "Why a nonce carries the result from auth to session"), kept in the daemon's memory only.
//
// No operation but forget_account() looks at the pending proofs one by one: proofs are found by
// nonce (a hash table) and also kept in the order they expire (a tree), so the expired ones are
// dropped from the front as new ones come in, without looking at the others; each costs at most
// a logarithm of their number. At most `capacity` are kept.
// When a new proof finds them all still valid, the one nearest its end goes (of those ending in
// the same second, the first issued); its session stage then fails closed, as after a daemon
// restart. So neither memory nor the cost of a login grows with logins whose session stage never
// comes (a service without the session line, a benchmark).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace fotoauthd {

struct AuthProof {
    std::int64_t account = 0;
    std::int64_t expires_at = 0;  // the daemon clock's seconds; valid while now < expires_at
    std::string how;              // for the history: "verification code", "trusted device ..."
    bool verified = false;        // a code was checked (not a trusted device)
};

class PendingProofs {
public:
    static constexpr std::size_t kDefaultCapacity = 4096;

    explicit PendingProofs(std::size_t capacity = kDefaultCapacity);

    // Keeps `proof` under `nonce` (a fresh random text, never one already kept), after dropping
    // the proofs that expired by `now`. True when an unexpired proof had to go to make room.
    bool add(std::string nonce, AuthProof proof, std::int64_t now);

    // The proof kept under `nonce`, expired or not; it stays kept.
    const AuthProof* find(std::string_view nonce) const;

    // Removes and returns the proof kept under `nonce`, expired or not: a proof is redeemed once.
    std::optional<AuthProof> take(std::string_view nonce);

    // Removes every proof of `account`; returns how many there were.
    std::size_t forget_account(std::int64_t account);

    std::size_t size() const noexcept { return by_nonce_.size(); }

private:
    // Where a proof stands in the order of expiry: its end, then the order proofs were added
    // (proofs of one second end in the order they were issued).
    using Place = std::pair<std::int64_t, std::uint64_t>;
    struct Kept {
        AuthProof proof;
        Place place;
    };

    void drop_expired(std::int64_t now);
    void drop_first();

    std::size_t capacity_;
    std::uint64_t added_ = 0;
    std::unordered_map<std::string, Kept> by_nonce_;
    std::map<Place, std::string> by_expiry_;  // the nonce at each place, soonest first
};

}  // namespace fotoauthd
