#include "pending_proofs.hpp"

#include <algorithm>

namespace fotoauthd {

PendingProofs::PendingProofs(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1))
{
}

void PendingProofs::drop_first()
{
    by_nonce_.erase(by_expiry_.begin()->second);
    by_expiry_.erase(by_expiry_.begin());
}

void PendingProofs::drop_expired(std::int64_t now)
{
    while (!by_expiry_.empty() && by_expiry_.begin()->first.first <= now)
        drop_first();
}

bool PendingProofs::add(std::string nonce, AuthProof proof, std::int64_t now)
{
    drop_expired(now);
    // A nonce is 128 random bits, so this never happens; if it did, the older proof would go.
    if (const auto found = by_nonce_.find(nonce); found != by_nonce_.end()) {
        by_expiry_.erase(found->second.place);
        by_nonce_.erase(found);
    }

    bool dropped = false;
    while (by_nonce_.size() >= capacity_) {
        drop_first();
        dropped = true;
    }
    const Place place{proof.expires_at, added_++};
    const auto kept = by_nonce_.emplace(std::move(nonce), Kept{std::move(proof), place}).first;
    try {
        by_expiry_.emplace(place, kept->first);
    } catch (...) {
        by_nonce_.erase(kept);  // out of memory: both indexes stay as they were
        throw;
    }
    return dropped;
}

const AuthProof* PendingProofs::find(std::string_view nonce) const
{
    const auto found = by_nonce_.find(std::string(nonce));
    return found == by_nonce_.end() ? nullptr : &found->second.proof;
}

std::optional<AuthProof> PendingProofs::take(std::string_view nonce)
{
    const auto found = by_nonce_.find(std::string(nonce));
    if (found == by_nonce_.end())
        return std::nullopt;
    AuthProof proof = std::move(found->second.proof);
    by_expiry_.erase(found->second.place);
    by_nonce_.erase(found);
    return proof;
}

std::size_t PendingProofs::forget_account(std::int64_t account)
{
    std::size_t forgotten = 0;
    for (auto it = by_nonce_.begin(); it != by_nonce_.end();) {
        if (it->second.proof.account == account) {
            by_expiry_.erase(it->second.place);
            it = by_nonce_.erase(it);
            ++forgotten;
        } else {
            ++it;
        }
    }
    return forgotten;
}

}  // namespace fotoauthd
