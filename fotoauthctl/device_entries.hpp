// The list that `fotoauthctl devices` shows: fotoauthd's Entries text read into values, and
// those values laid out as a table for people; and the sentences of `devices forget`. Pure
// functions, tested on their own.
//
// A trusted device is one from which a login already gave a right code while the account was in
// mode new-device: its logins are not asked for a code until its trust ends. fotoauthd sends
// one line per device, its fields separated by a TAB:
//
//   ID  KIND  LABEL  FIRST_USED_UNIX  LAST_USED_UNIX  EXPIRES_UNIX
//
// KIND is "ssh-key" (LABEL e.g. "ssh-ed25519 SHA256:..."), "address" (LABEL e.g. "198.51.100.7
// sshd") or "terminal" (LABEL e.g. "tty3 login"). As with the lockouts, a line that does not fit
// is kept and shown as it came. When the devices do not fit in one answer, fotoauthd ends the
// text with a line "truncated".
#pragma once

#include "account.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fotostudio::ctl {

struct TrustedDevice {
    std::uint64_t id = 0;  // what `devices forget` takes
    std::string kind;
    std::string label;
    std::uint64_t first_used = 0;  // unix times
    std::uint64_t last_used = 0;
    std::uint64_t expires_at = 0;
};

struct DeviceList {
    std::vector<TrustedDevice> devices;
    std::vector<std::string> unreadable;  // lines that do not fit, as they came
    bool truncated = false;               // fotoauthd left devices out
};

// Reads the Entries text. Empty lines are skipped; nothing in it is trusted to be printable.
DeviceList parse_devices(std::string_view entries);

// What identifies a device, in words: "ssh key ssh-ed25519 SHA256:...", "address 198.51.100.7
// sshd", "terminal tty3 login"; a kind of a newer fotoauthd is shown by its own name.
std::string describe_device(std::string_view kind, std::string_view label);

// What the Status answer said about the account, which explains an empty list.
enum class TrustSetting { NotEnrolled, Always, NewDevice };

// The table of devices of user with local times, or the sentence that there is none and why.
// Ends with a line end.
std::string render_devices(const DeviceList& list, const TargetUser& user, TrustSetting setting);

// The sentence `devices forget ID` prints, without a line end, when fotoauthd forgot count
// devices of user with that id: one, or none when the id is not one of user's devices.
std::string forget_one_outcome(std::string_view id, std::string_view user, std::uint64_t count);

// The sentence `devices forget --all` prints, with its line end, when fotoauthd forgot count
// devices.
std::string forget_all_outcome(std::uint64_t count);

}  // namespace fotostudio::ctl
