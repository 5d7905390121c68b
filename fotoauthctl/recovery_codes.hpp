// The recovery codes fotoauthd hands out once (on enrolment and on regeneration), printed the
// same way each time.
#pragma once

#include "protocol.hpp"

namespace fotostudio::ctl {

// Takes the codes out of reply, wiping the reply's copy, and prints them with the advice on
// keeping them. Prints nothing and returns false when they are missing or malformed.
bool show_recovery_codes(protocol::Message& reply);

}  // namespace fotostudio::ctl
