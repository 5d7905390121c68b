// Clock drift of a user's phone: what to remember after a code matched a step outside the
// accepted window, and when and how to tell the user to fix the phone's clock. Pure logic; the
// authenticator stores the DriftRecord per account (docs/clock-drift.md).
#pragma once

#include "store.hpp"

#include <cstdint>
#include <string>

namespace fotoauthd::drift {

// A hint only after this many consistent measurements in a row: one stray match far from now
// may be a code typed late or an old one read off a screen.
inline constexpr std::int64_t kHintAfter = 2;

// Two measurements further apart than this are not "in a row".
inline constexpr std::int64_t kConsistentWithinSeconds = 3600;

// After a code matched `offset` steps away from now (outside the window) at `now`: the record
// to store. Consistent means within 1 step of the previous offset, measured at most an hour
// after the previous one; then the count goes on, else a fresh record counts 1.
DriftRecord observe(const DriftRecord& before, std::int64_t offset, std::int64_t now);

// After a code accepted inside the window: the record to store (the drift is gone or fixed).
DriftRecord settle();

// Whether the user is to be told to check the phone's time.
bool worth_a_hint(const DriftRecord& record);

// The sentence for the user: how far and which way the phone's clock seems to be off, and what
// to do. It never contains a code or a step number, only a rounded duration.
std::string hint_for(const DriftRecord& record);

}  // namespace fotoauthd::drift
