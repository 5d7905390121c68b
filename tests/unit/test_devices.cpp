// Trusted devices: what identifies a device, when a device is trusted, and every way trust ends.
#include "test_world.hpp"

#include "devices.hpp"

namespace {

// Two real ed25519 public keys and the fingerprints `ssh-keygen -l -E sha256` prints for them.
constexpr const char* kKeyA =
    "AAAAC3NzaC1lZDI1NTE5AAAAIMRNw0p1CM2IPeKTHHM4khPOu8f1VFRB58hYXHMvwXGo";
constexpr const char* kFingerprintA = "SHA256:1lbaXAvFft3hEoaxL002ODgA5wScXFDJa0unTjYwWS0";
constexpr const char* kKeyB =
    "AAAAC3NzaC1lZDI1NTE5AAAAIMKNV3PdCEqAMes9dgmCYv1fokaM6LPBKRXreM/0FkJ+";

std::string auth_info(const char* key)
{
    return std::string("publickey ssh-ed25519 ") + key + "\nkeyboard-interactive\n";
}

void a_key_fingerprint_is_the_one_ssh_keygen_shows(void**)
{
    assert_string_equal(ssh_key_fingerprint(kKeyA)->c_str(), kFingerprintA);
    assert_false(ssh_key_fingerprint("not base64 at all!").has_value());
    assert_false(ssh_key_fingerprint("").has_value());
}

void a_device_is_the_key_that_logged_in_first_and_only_when_root_says_so(void**)
{
    Config config;
    const std::string info = auth_info(kKeyA);
    const auto device = identify_device({true, "sshd", "198.51.100.7", "ssh", info}, config);
    assert_true(device.has_value());
    assert_string_equal(device->key.c_str(), (std::string("ssh-key:") + kFingerprintA).c_str());
    assert_string_equal(device->label.c_str(),
                        (std::string("ssh-ed25519 ") + kFingerprintA).c_str());

    // A caller other than root (a screen locker) cannot name a key.
    assert_false(identify_device({false, "sshd", "", "", info}, config).has_value());
    // keyboard-interactive alone names no device.
    assert_false(
        identify_device({true, "sshd", "198.51.100.7", "ssh", "keyboard-interactive\n"}, config)
            .has_value());
}

void addresses_and_terminals_are_devices_only_when_the_configuration_opts_in(void**)
{
    Config config;
    assert_false(identify_device({true, "sshd", "198.51.100.7", "ssh", ""}, config).has_value());
    assert_false(identify_device({true, "login", "", "/dev/tty1", ""}, config).has_value());

    config.trust_source_address = true;
    config.trust_terminal = true;
    const auto address = identify_device({true, "sshd", "2001:db8:1:2::9", "ssh", ""}, config);
    assert_string_equal(address->key.c_str(), "address:2001:db8:1:2::/64|sshd");
    const auto terminal = identify_device({true, "login", "", "/dev/tty1", ""}, config);
    assert_string_equal(terminal->key.c_str(), "terminal:/dev/tty1|login");
    // A remote terminal is never "the console".
    assert_false(identify_device({true, "login", "", "/dev/pts/3", ""}, config).has_value());
}

void sudo_and_su_are_never_spared_the_code_whatever_the_configuration(void**)
{
    Config config;
    config.device_trust_services = {"sshd", "sudo", "su", "login"};
    config.require_code_services = {"sshd", "sudo"};
    assert_true(service_may_use_device_trust("sshd", config));
    assert_true(service_may_use_device_trust("login", config));
    assert_false(service_may_use_device_trust("sudo", config));
    assert_false(service_may_use_device_trust("su", config));
    assert_false(service_may_use_device_trust("gdm-password", config));
    assert_true(service_requires_code("sshd", config));
    assert_false(service_requires_code("sudo", config));
}

struct Login {
    const char* key = nullptr;
    const char* service = "sshd";
    bool password_failed = false;
};

proto::Message query(const std::string& user, const Login& login)
{
    auto message = request(proto::MessageType::AuthQuery, user);
    message.set(proto::Field::Service, login.service);
    if (login.key)
        message.set(proto::Field::AuthInfo, auth_info(login.key));
    if (login.password_failed)
        message.set_u8(proto::Field::PasswordFailed, 1);
    return message;
}

proto::ReplyStatus verify_from(World& world, const std::string& user, const std::string& code,
                               const Login& login)
{
    proto::Message message(proto::MessageType::AuthVerify);
    message.set(proto::Field::User, user).set(proto::Field::Code, code);
    message.set(proto::Field::Service, login.service);
    if (login.key)
        message.set(proto::Field::AuthInfo, auth_info(login.key));
    return status_of(world.ask(message));
}

Enrolled enrol_new_device(World& world, const std::string& user)
{
    const auto secret = begin_enrolment(world, user, "new-device");
    auto confirm = request(proto::MessageType::EnrolConfirm, user);
    confirm.set(proto::Field::Code,
                totp::code_for_step(secret, totp::step_of(world.clock.now()) - 1));
    assert_int_equal(status_of(world.ask(confirm)), proto::ReplyStatus::Ok);
    return Enrolled{secret, {}};
}

void after_a_code_the_same_key_is_trusted_and_another_key_is_not(void**)
{
    World world;
    const auto alice = enrol_new_device(world, "alice");
    assert_int_equal(status_of(world.ask(query("alice", {kKeyA}))),
                     proto::ReplyStatus::CodeRequired);
    assert_int_equal(verify_from(world, "alice", current_code(world, alice), {kKeyA}),
                     proto::ReplyStatus::Ok);

    const auto trusted = world.ask(query("alice", {kKeyA}));
    assert_int_equal(status_of(trusted), proto::ReplyStatus::Trusted);
    assert_int_equal(trusted.get(proto::Field::Nonce)->size(), 32);
    assert_int_equal(status_of(world.ask(query("alice", {kKeyB}))),
                     proto::ReplyStatus::CodeRequired);
    assert_int_equal(status_of(world.ask(query("alice", {}))), proto::ReplyStatus::CodeRequired);
}

void after_a_failed_password_a_trusted_key_gets_no_prompt_and_no_proof(void**)
{
    World world;
    const auto alice = enrol_new_device(world, "alice");
    verify_from(world, "alice", current_code(world, alice), {kKeyA});
    Login failed{kKeyA};
    failed.password_failed = true;
    const auto answer = world.ask(query("alice", failed));
    assert_int_equal(status_of(answer), proto::ReplyStatus::Trusted);
    assert_false(answer.has(proto::Field::Nonce));
}

void in_always_mode_no_device_is_ever_trusted(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    assert_int_equal(verify_from(world, "alice", current_code(world, alice), {kKeyA}),
                     proto::ReplyStatus::Ok);
    assert_int_equal(status_of(world.ask(query("alice", {kKeyA}))),
                     proto::ReplyStatus::CodeRequired);
}

void trust_lasts_ninety_days_from_the_code_and_trusted_logins_do_not_extend_it(void**)
{
    World world;
    const auto alice = enrol_new_device(world, "alice");
    verify_from(world, "alice", current_code(world, alice), {kKeyA});
    world.clock.advance(89 * 86400);
    assert_int_equal(status_of(world.ask(query("alice", {kKeyA}))), proto::ReplyStatus::Trusted);
    world.clock.advance(86400 - 1);
    assert_int_equal(status_of(world.ask(query("alice", {kKeyA}))), proto::ReplyStatus::Trusted);
    world.clock.advance(1);
    assert_int_equal(status_of(world.ask(query("alice", {kKeyA}))),
                     proto::ReplyStatus::CodeRequired);
}

void forgetting_one_device_or_all_and_switching_to_always_end_trust(void**)
{
    World world;
    const auto alice = enrol_new_device(world, "alice");
    verify_from(world, "alice", current_code(world, alice), {kKeyA});
    verify_from(world, "alice", current_code(world, alice, +1), {kKeyB});

    const auto listing = world.ask(request(proto::MessageType::Devices, "alice"));
    const std::string entries(*listing.get(proto::Field::Entries));
    assert_int_equal(std::count(entries.begin(), entries.end(), '\n'), 1);
    assert_true(entries.find(kFingerprintA) != std::string::npos);
    // The most recently used device comes first; its id is the first field.
    const std::string id_b = entries.substr(0, entries.find('\t'));

    auto forget = request(proto::MessageType::ForgetDevice, "alice");
    forget.set(proto::Field::DeviceId, id_b);
    assert_int_equal(*world.ask(forget).get_u64(proto::Field::Count), 1);
    assert_int_equal(status_of(world.ask(query("alice", {kKeyB}))),
                     proto::ReplyStatus::CodeRequired);
    assert_int_equal(status_of(world.ask(query("alice", {kKeyA}))), proto::ReplyStatus::Trusted);

    auto mode = request(proto::MessageType::SetMode, "alice");
    mode.set(proto::Field::Mode, "always");
    mode.set(proto::Field::Code, current_code(world, alice, -1));  // already used: refused
    assert_int_equal(status_of(world.ask(mode)), proto::ReplyStatus::Rejected);
    world.clock.advance(60);
    mode.set(proto::Field::Code, current_code(world, alice, +1));
    assert_int_equal(status_of(world.ask(mode)), proto::ReplyStatus::Ok);
    assert_int_equal(status_of(world.ask(query("alice", {kKeyA}))),
                     proto::ReplyStatus::CodeRequired);
    const auto status = world.ask(request(proto::MessageType::Status, "alice"));
    assert_true(*status.get(proto::Field::Mode) == "always");
    assert_int_equal(*status.get_u64(proto::Field::DeviceCount), 0);
}

void root_forgets_every_device_of_a_user_as_a_password_change_will(void**)
{
    World world;
    const auto alice = enrol_new_device(world, "alice");
    verify_from(world, "alice", current_code(world, alice), {kKeyA});
    assert_int_equal(
        status_of(world.ask(request(proto::MessageType::ForgetDevice, "alice"), kBobUid)),
        proto::ReplyStatus::PermissionDenied);
    assert_int_equal(
        *world.ask(request(proto::MessageType::ForgetDevice, "alice")).get_u64(proto::Field::Count),
        1);
    assert_int_equal(status_of(world.ask(query("alice", {kKeyA}))),
                     proto::ReplyStatus::CodeRequired);
}

void sudo_is_asked_for_the_code_from_a_trusted_key(void**)
{
    World world;
    world.config.device_trust_services = {"sshd", "sudo"};
    world.restart();
    const auto alice = enrol_new_device(world, "alice");
    verify_from(world, "alice", current_code(world, alice), {kKeyA});
    Login sudo{kKeyA};
    sudo.service = "sudo";
    assert_int_equal(status_of(world.ask(query("alice", sudo))), proto::ReplyStatus::CodeRequired);
}

void a_user_keeps_at_most_the_configured_number_of_devices_the_least_used_go(void**)
{
    World world;
    world.config.max_devices_per_user = 1;
    world.restart();
    const auto alice = enrol_new_device(world, "alice");
    verify_from(world, "alice", current_code(world, alice), {kKeyA});
    world.clock.advance(30);
    verify_from(world, "alice", current_code(world, alice, +1), {kKeyB});
    assert_int_equal(status_of(world.ask(query("alice", {kKeyB}))), proto::ReplyStatus::Trusted);
    assert_int_equal(status_of(world.ask(query("alice", {kKeyA}))),
                     proto::ReplyStatus::CodeRequired);
}

proto::ReplyStatus account_check(World& world, const std::string& user, const char* service,
                                 const std::string& nonce = {})
{
    auto message = request(proto::MessageType::AccountCheck, user);
    message.set(proto::Field::Service, service);
    if (!nonce.empty())
        message.set(proto::Field::Nonce, nonce);
    return status_of(world.ask(message));
}

void the_account_stage_refuses_an_enrolled_user_who_passed_no_code_on_sshd(void**)
{
    World world;
    const auto alice = enrol(world, "alice");
    assert_int_equal(account_check(world, "alice", "sshd"), proto::ReplyStatus::Rejected);
    assert_int_equal(account_check(world, "alice", "sudo"), proto::ReplyStatus::Ok);
    assert_int_equal(account_check(world, "bob", "sshd"), proto::ReplyStatus::NotEnrolled);
    assert_int_equal(account_check(world, "mallory", "sshd"), proto::ReplyStatus::NotEnrolled);

    auto verify_request = request(proto::MessageType::AuthVerify, "alice");
    verify_request.set(proto::Field::Code, current_code(world, alice));
    const std::string nonce(*world.ask(verify_request).get(proto::Field::Nonce));
    assert_int_equal(account_check(world, "alice", "sshd", nonce), proto::ReplyStatus::Ok);
    // The account stage only looks at the proof: the session stage still redeems it, once.
    auto session = request(proto::MessageType::SessionOpen, "alice");
    session.set(proto::Field::Nonce, nonce);
    assert_int_equal(status_of(world.ask(session)), proto::ReplyStatus::Ok);
    assert_int_equal(account_check(world, "alice", "sshd", nonce), proto::ReplyStatus::Rejected);
}

void enrolling_again_and_retiring_an_account_forget_its_devices(void**)
{
    World world;
    const auto alice = enrol_new_device(world, "alice");
    verify_from(world, "alice", current_code(world, alice), {kKeyA});
    world.users.accounts["alice"].uid = 3001;  // the name now belongs to someone else
    assert_int_equal(status_of(world.ask(query("alice", {kKeyA}))),
                     proto::ReplyStatus::NotEnrolled);
    const auto again = enrol_new_device(world, "alice");
    assert_int_equal(status_of(world.ask(query("alice", {kKeyA}))),
                     proto::ReplyStatus::CodeRequired);
    (void)again;
}

}  // namespace

int main()
{
    totp::init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_key_fingerprint_is_the_one_ssh_keygen_shows),
        cmocka_unit_test(a_device_is_the_key_that_logged_in_first_and_only_when_root_says_so),
        cmocka_unit_test(addresses_and_terminals_are_devices_only_when_the_configuration_opts_in),
        cmocka_unit_test(sudo_and_su_are_never_spared_the_code_whatever_the_configuration),
        cmocka_unit_test(after_a_code_the_same_key_is_trusted_and_another_key_is_not),
        cmocka_unit_test(after_a_failed_password_a_trusted_key_gets_no_prompt_and_no_proof),
        cmocka_unit_test(in_always_mode_no_device_is_ever_trusted),
        cmocka_unit_test(trust_lasts_ninety_days_from_the_code_and_trusted_logins_do_not_extend_it),
        cmocka_unit_test(forgetting_one_device_or_all_and_switching_to_always_end_trust),
        cmocka_unit_test(root_forgets_every_device_of_a_user_as_a_password_change_will),
        cmocka_unit_test(sudo_is_asked_for_the_code_from_a_trusted_key),
        cmocka_unit_test(a_user_keeps_at_most_the_configured_number_of_devices_the_least_used_go),
        cmocka_unit_test(the_account_stage_refuses_an_enrolled_user_who_passed_no_code_on_sshd),
        cmocka_unit_test(enrolling_again_and_retiring_an_account_forget_its_devices),
    };
    return cmocka_run_group_tests_name("devices", tests, nullptr, nullptr);
}
