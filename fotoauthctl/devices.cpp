// fotoauthctl devices [--user NAME]: the account's trusted devices, from which logins are not
// asked for a code (mode new-device), with what identifies each, its first and last use and
// when its trust ends.
//
// fotoauthctl devices forget ID|--all [--user NAME]: ends the trust of one device or of all, so
// that their next login asks for a code again. Root forgetting all devices of an account is also
// how trust is revoked after its password changed.
#include "daemon_request.hpp"
#include "device_entries.hpp"
#include "exit_codes.hpp"
#include "json_output.hpp"
#include "terminal.hpp"
#include "verbs.hpp"

#include <cstdio>

namespace fotostudio::ctl {

namespace {

using protocol::Field;
using protocol::Message;
using protocol::MessageType;
using protocol::ReplyStatus;

std::optional<TrustSetting> trust_setting_of(const Message& status)
{
    const auto enrolled = status.get_u8(Field::Enrolled);
    const auto mode = parse_mode(status.get(Field::Mode).value_or(""));
    if (enrolled == 0)
        return TrustSetting::NotEnrolled;
    if (enrolled == 1 && mode)
        return mode == Mode::Always ? TrustSetting::Always : TrustSetting::NewDevice;
    return std::nullopt;
}

// Asks for the account's status, which explains why no device is trusted.
int ask_trust_setting(const Invocation& invocation, const TargetUser& user, TrustSetting& setting)
{
    int failure = kFailure;
    const auto reply = ask_status(invocation, user.name, failure);
    if (!reply)
        return failure;

    const auto found = trust_setting_of(*reply);
    if (!found) {
        complain("fotoauthd answered the status request without the fields it needs.");
        return kFailure;
    }
    setting = *found;
    return kSuccess;
}

}  // namespace

int run_devices(const Invocation& invocation)
{
    const auto target = target_user(invocation);
    if (!target.user) {
        complain(target.error);
        return target.failure;
    }

    Message request(MessageType::Devices);
    request.set(Field::User, target.user->name);
    const auto reply = ask_daemon(invocation, request);
    if (!reply)
        return kFailure;
    if (status_of(*reply) != ReplyStatus::Ok)
        return explain_answer(*reply, target.user->name);

    // No Entries field means the same as an empty one: no device is trusted.
    const auto list = parse_devices(reply->get(Field::Entries).value_or(""));
    if (invocation.json) {
        // A script reads an empty list as it is; the sentence on why it is empty is for people.
        std::fputs(devices_json(list, target.user->name).c_str(), stdout);
    } else {
        TrustSetting setting = TrustSetting::NewDevice;
        if (list.devices.empty() && list.unreadable.empty()) {
            if (const int status = ask_trust_setting(invocation, *target.user, setting))
                return status;
        }
        std::fputs(render_devices(list, *target.user, setting).c_str(), stdout);
    }

    if (!list.unreadable.empty()) {
        complain(std::to_string(list.unreadable.size()) +
                 " of the entries fotoauthd sent could "
                 "not be read; they are shown as they came. Are fotoauthctl and fotoauthd of the "
                 "same version?");
        return kFailure;
    }
    return kSuccess;
}

int run_devices_forget(const Invocation& invocation)
{
    const auto target = target_user(invocation);
    if (!target.user) {
        complain(target.error);
        return target.failure;
    }

    Message request(MessageType::ForgetDevice);
    request.set(Field::User, target.user->name);
    if (!invocation.all)
        request.set(Field::DeviceId, invocation.operand);
    const auto reply = ask_daemon(invocation, request);
    if (!reply)
        return kFailure;
    if (status_of(*reply) != ReplyStatus::Ok)
        return explain_answer(*reply, target.user->name);

    const auto count = reply->get_u64(Field::Count);
    if (!count) {
        complain("fotoauthd answered the request to forget devices without saying how many it "
                 "forgot.");
        return kFailure;
    }
    if (invocation.all) {
        std::fputs(forget_all_outcome(*count).c_str(), stdout);
        return kSuccess;
    }
    // An ID that names no device of the account is most likely a typo: nothing was forgotten.
    const std::string sentence = forget_one_outcome(invocation.operand, target.user->name, *count);
    if (*count == 0) {
        complain(sentence);
        return kRefused;
    }
    std::puts(sentence.c_str());
    return kSuccess;
}

}  // namespace fotostudio::ctl
