#include "authenticator.hpp"

#include "devices.hpp"

#include "log.hpp"
#include "random.hpp"
#include "recovery_codes.hpp"
#include "totp.hpp"

#include <arpa/inet.h>
#include <nettle/hmac.h>
#include <unistd.h>

#include <cstring>
#include <charconv>
#include <limits>
#include <span>
#include <utility>
#include <exception>

namespace fotoauthd {

using fotostudio::protocol::Field;
using fotostudio::protocol::make_reply;
using fotostudio::protocol::Message;
using fotostudio::protocol::MessageType;
using fotostudio::protocol::reply_status;
using fotostudio::protocol::ReplyStatus;

namespace {

constexpr std::size_t kSecretBytes = 20;  // 160 bits, as RFC 4226 recommends
constexpr std::size_t kNonceBytes = 16;
constexpr std::size_t kMaxCodeLength = 128;  // nothing legitimate typed at the prompt is longer
constexpr std::size_t kHistoryLength = 50;
constexpr std::size_t kFewCodesLeft = 2;  // at or below this, logins warn about recovery codes
// A TOTP step no enrolment can record (every last used step is above it).
constexpr std::int64_t kNeverAStep = std::numeric_limits<std::int64_t>::min();

std::string host_name()
{
    char name[256] = {};
    if (gethostname(name, sizeof(name) - 1) < 0 || name[0] == '\0')
        return "fotostudio";
    return name;
}

// Percent-encoding for the label and issuer of an otpauth URI.
// Lines joined by '\n', as many as fit into one message with room to spare; when some had to be
// left out, the last line is the word "truncated" (docs/protocol.md).
std::string lines_within_one_message(const std::vector<std::string>& lines)
{
    constexpr std::size_t kRoom = fotostudio::protocol::kMaxMessageSize - 64;
    std::string text;
    for (const auto& line : lines) {
        if (text.size() + line.size() + 1 + 10 > kRoom)
            return text + "truncated";
        text += line + "\n";
    }
    if (!text.empty())
        text.pop_back();
    return text;
}

std::string hex(std::span<const std::uint8_t> bytes)
{
    static constexpr char kHex[] = "0123456789abcdef";
    std::string text;
    for (std::uint8_t byte : bytes) {
        text += kHex[byte >> 4];
        text += kHex[byte & 0x0f];
    }
    return text;
}

std::string uri_escape(std::string_view text)
{
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        const bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
        if (plain) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 0x0f];
        }
    }
    return out;
}

log::Field user_field(const SystemAccount& account)
{
    return {"USER", account.name};
}

}  // namespace

Authenticator::Authenticator(const Config& config, Store& store, UserDirectory& users,
                             const Clock& clock, SessionEnder& sessions,
                             std::vector<std::uint8_t> shadow_key, ClockSync* clock_sync)
    : config_(config), store_(store), users_(users), clock_(clock), sessions_(sessions),
      shadow_key_(std::move(shadow_key)),
      issuer_(config.issuer.empty() ? host_name() : config.issuer), guard_(config, store, clock),
      watch_(config, store, clock, host_name()), courier_(config, store, clock, host_name()),
      clock_sync_(clock_sync ? *clock_sync : kernel_clock_sync_)
{
    clock_sync_.check(clock_.monotonic_ms());
    guard_.load_locks();
    forget_deleted_local_accounts();
}

void Authenticator::forget_deleted_local_accounts() noexcept
{
    users_.forget_cached();
    try {
        const auto names = users_.local_names();
        if (!names) {
            log::warning("Cannot read the local accounts, keeping every enrolment");
            return;
        }
        for (const auto& account : store_.local_accounts()) {
            if (names->count(account.name))
                continue;
            store_.retire(account.id, clock_.now());
            log::audit("account-retired", "Enrolment of a deleted local account removed",
                       {{"USER", account.name}, {"REASON", "deleted"}});
        }
    } catch (const std::exception& error) {
        log::error("Checking for deleted accounts failed", {{"ERROR", error.what()}});
    }
}

std::optional<std::int64_t> Authenticator::account_of(const Target& target, bool create)
{
    bool retired = false;
    AccountKey key = target.key;
    if (create) {
        const auto names = users_.local_names();
        key.local = names && names->count(key.name) > 0;
    }
    const auto account = store_.account_for(key, clock_.now(), create, &retired);
    if (retired)
        log::audit("account-retired", "Enrolment removed: the name now belongs to another uid",
                   {user_field(target.account),
                    {"UID", std::to_string(target.account.uid)},
                    {"REASON", "uid-changed"}});
    return account;
}

Message Authenticator::handle(const Caller& caller, const Message& request,
                              ConnectionMemory* memory)
{
    // The memory serves the next request only: taken now, filled again by an AuthQuery.
    connection_memory_ = memory;
    remembered_ = memory ? std::exchange(*memory, ConnectionMemory{}) : ConnectionMemory{};
    struct Forget {
        Authenticator& self;
        ~Forget()
        {
            self.connection_memory_ = nullptr;
            self.remembered_ = ConnectionMemory{};
        }
    } forget{*this};
    try {
        store_.begin_request();
        Message reply = dispatch(caller, request);
        store_.end_request(true);
        return reply;
    } catch (const std::exception& error) {
        if (memory)
            *memory = ConnectionMemory{};
        store_.end_request(false);
        log::error("Request failed, answering internal-error",
                   {{"ERROR", error.what()}, {"PEER_UID", std::to_string(caller.uid)}});
        return make_reply(ReplyStatus::InternalError, "internal error in fotoauthd");
    }
}

Message Authenticator::dispatch(const Caller& caller, const Message& request)
{
    switch (request.type()) {
    case MessageType::Lockouts:
    case MessageType::Unlock:
    case MessageType::Unblock: return administer(caller, request);
    case MessageType::Reply: return make_reply(ReplyStatus::BadRequest, "not a request");
    default: break;
    }

    Message refusal = make_reply(ReplyStatus::BadRequest);
    const auto target = resolve_target(caller, request, refusal);
    if (!target) {
        const auto status = reply_status(refusal);
        const bool login = request.type() == MessageType::Preauth ||
                           request.type() == MessageType::AuthQuery ||
                           request.type() == MessageType::AuthVerify ||
                           request.type() == MessageType::AccountCheck;
        if (login && status == ReplyStatus::UnknownUser)
            return login_of_unknown_name(caller, request, *request.get(Field::User));
        return refusal;
    }

    switch (request.type()) {
    case MessageType::Preauth: return preauth(caller, *target, request);
    case MessageType::AuthQuery: return auth_query(caller, *target, request);
    case MessageType::AuthVerify: return auth_verify(caller, *target, request);
    case MessageType::SessionOpen: return session_open(caller, *target, request);
    case MessageType::EnrolBegin: return enrol_begin(caller, *target, request);
    case MessageType::EnrolConfirm: return enrol_confirm(caller, *target, request);
    case MessageType::Status: return status(*target);
    case MessageType::AccountCheck: return account_check(caller, *target, request);
    case MessageType::Devices: return devices(*target);
    case MessageType::ForgetDevice: return forget_device(caller, *target, request);
    case MessageType::SetMode: return set_mode(caller, *target, request);
    case MessageType::PasswordChangeCheck: return password_change_check(*target);
    case MessageType::PasswordChanged: return password_changed(caller, *target, request);
    case MessageType::History: return history(*target, request);
    case MessageType::SetEmail: return set_email(caller, *target, request);
    case MessageType::RegenerateCodes: return regenerate_codes(caller, *target, request);
    case MessageType::DisableMfa: return disable_mfa(caller, *target, request);
    default: break;
    }
    return make_reply(ReplyStatus::BadRequest, "not a request");
}

std::optional<Authenticator::Target>
Authenticator::resolve_target(const Caller& caller, const Message& request, Message& refusal)
{
    const auto name = request.get(Field::User);
    if (!name) {
        refusal = make_reply(ReplyStatus::BadRequest, "the request names no user");
        return std::nullopt;
    }

    // A name that does not resolve is never logged: it may be a password typed in the wrong box.
    auto account = users_.lookup(*name);
    if (!account) {
        refusal = make_reply(ReplyStatus::UnknownUser, "no such user");
        return std::nullopt;
    }
    if (caller.uid != 0 && caller.uid != account->uid) {
        std::size_t held_back = 0;
        if (refusal_log_.allow(std::to_string(caller.uid), clock_.monotonic_ms(), held_back))
            log::warning("Refused a request for another user's account",
                         {{"PEER_UID", std::to_string(caller.uid)},
                          {"PEER_PID", std::to_string(caller.pid)},
                          user_field(*account),
                          {"HELD_BACK", std::to_string(held_back)}});
        refusal = make_reply(ReplyStatus::PermissionDenied, "only root may act for another user");
        return std::nullopt;
    }

    Target target;
    target.key = AccountKey{account->name, account->uid, false};
    target.account = std::move(*account);
    return target;
}

Attempt Authenticator::describe_attempt(const Caller& caller, const Message& request,
                                        std::string user, bool resolves,
                                        std::optional<std::int64_t> account) const
{
    Attempt attempt;
    attempt.user = std::move(user);
    attempt.user_resolves = resolves;
    attempt.account = account;

    // What a caller other than root says about the source or the terminal is not believed:
    // its attempts count under its own uid and can never block an address or the console.
    if (caller.uid != 0) {
        attempt.source = "uid:" + std::to_string(caller.uid);
        attempt.source_label = attempt.source;
        attempt.channel = "local-user";
        return attempt;
    }

    const std::string_view rhost = request.get(Field::RemoteHost).value_or("");
    const std::string_view tty = request.get(Field::Tty).value_or("");
    const std::string_view auth_info = request.get(Field::AuthInfo).value_or("");
    if (!rhost.empty()) {
        attempt.source = source_key(rhost);
        attempt.source_label = attempt.source;
    }

    // sshd's SSH_AUTH_INFO_0 lists the methods that passed, one per line; a first line
    // "publickey TYPE BLOB" names the key that authenticated before keyboard-interactive.
    const std::string_view first_line = auth_info.substr(0, auth_info.find('\n'));
    if (first_line.substr(0, 10) == "publickey ")
        attempt.channel = "key:" + log::printable(first_line.substr(10), 1024);
    else if (is_console(tty, rhost))
        attempt.channel = "console";
    else
        attempt.channel = "password";
    return attempt;
}

Message Authenticator::login_of_unknown_name(const Caller& caller, const Message& request,
                                             std::string_view name)
{
    // Exactly what an existing user without MFA gets, so that nothing tells the two apart.
    const bool counts = request.type() == MessageType::Preauth ||
                        (request.type() == MessageType::AuthQuery &&
                         request.get_u8(Field::CountAttempt).value_or(0) == 1);
    if (!counts)
        return make_reply(ReplyStatus::NotEnrolled);
    const auto attempt =
        describe_attempt(caller, request, log::printable(name, 256), false, std::nullopt);
    const auto verdict = guard_.admit_login(attempt);
    if (request.type() == MessageType::AuthQuery && verdict.allowed())
        return make_reply(ReplyStatus::NotEnrolled);
    return answer(verdict);
}

Message Authenticator::account_check(const Caller& caller, const Target& target,
                                     const Message& request)
{
    const auto account = enrolled_account(target);
    if (!account)
        return unenrolled_account_check(caller, target, request);
    if (!service_requires_code(request.get(Field::Service).value_or(""), config_))
        return make_reply(ReplyStatus::Ok);

    // The proof stays for the session stage to redeem; here it is only looked at.
    const auto nonce = request.get(Field::Nonce);
    const AuthProof* proof = nonce ? proofs_.find(*nonce) : nullptr;
    if (proof && proof->account == *account && proof->expires_at > clock_.now())
        return make_reply(ReplyStatus::Ok);

    remember(caller, *account, "login-refused", request, "no verification code in this login");
    log::info("Login refused: no verification code in this login",
              {user_field(target.account),
               {"SERVICE", log::printable(request.get(Field::Service).value_or(""))}});
    return make_reply(ReplyStatus::Rejected,
                      "This account needs a verification code. Log in with keyboard-interactive "
                      "after the key (AuthenticationMethods publickey,keyboard-interactive).");
}

MfaRequirement Authenticator::requirement_of(const Target& target)
{
    const auto groups = users_.groups_of(target.account);
    if (!groups && !config_.require_mfa_groups.empty())
        log::warning("Cannot read the user's groups: the MFA policy applies in full",
                     {user_field(target.account)});
    return mfa_requirement(config_, groups, clock_.now());
}

Message Authenticator::unenrolled_account_check(const Caller& caller, const Target& target,
                                                const Message& request)
{
    switch (requirement_of(target)) {
    case MfaRequirement::Optional: break;
    case MfaRequirement::Grace: {
        Message reply = make_reply(ReplyStatus::NotEnrolled,
                                   grace_warning_sentence(config_.require_mfa_grace_until));
        reply.set_u64(Field::GraceUntil,
                      static_cast<std::uint64_t>(config_.require_mfa_grace_until));
        return reply;
    }
    case MfaRequirement::Required: {
        log::info("Login refused: the MFA policy requires an enrolment",
                  {user_field(target.account),
                   {"SERVICE", log::printable(request.get(Field::Service).value_or(""))}});
        if (const auto account = account_of(target, true))
            remember(caller, *account, "login-refused", request, "MFA required, not enrolled");
        return make_reply(ReplyStatus::EnrolmentRequired,
                          enrolment_required_sentence(target.account.name));
    }
    }
    return make_reply(ReplyStatus::NotEnrolled);
}

Message Authenticator::devices(const Target& target)
{
    const auto account = enrolled_account(target);
    std::vector<std::string> lines;
    if (account) {
        for (const auto& device : store_.devices(*account, clock_.now()))
            lines.push_back(std::to_string(device.id) + "\t" + device.kind + "\t" + device.label +
                            "\t" + std::to_string(device.first_used) + "\t" +
                            std::to_string(device.last_used) + "\t" +
                            std::to_string(device.expires_at));
    }
    Message reply = make_reply(ReplyStatus::Ok);
    reply.set(Field::Entries, lines_within_one_message(lines));
    return reply;
}

Message Authenticator::forget_device(const Caller& caller, const Target& target,
                                     const Message& request)
{
    const auto account = account_of(target, false);
    std::optional<std::int64_t> id;
    if (const auto text = request.get(Field::DeviceId)) {
        std::int64_t value = 0;
        const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
        if (error != std::errc() || end != text->data() + text->size() || value <= 0)
            return make_reply(ReplyStatus::BadRequest, "a device id is a positive number");
        id = value;
    }
    const std::size_t forgotten = account ? store_.forget_devices(*account, id) : 0;
    if (forgotten > 0)
        remember(caller, *account, "devices-forgotten", request,
                 std::to_string(forgotten) + " forgotten");
    if (forgotten > 0)
        log::audit("device-revoked",
                   id ? "Trusted device forgotten" : "Every trusted device forgotten",
                   {user_field(target.account), {"COUNT", std::to_string(forgotten)}});
    Message reply = make_reply(ReplyStatus::Ok);
    reply.set_u64(Field::Count, forgotten);
    return reply;
}

Message Authenticator::set_mode(const Caller& caller, const Target& target, const Message& request)
{
    const auto mode = parse_mode(request.get(Field::Mode).value_or(""));
    const auto code = request.get(Field::Code);
    if (!mode || !code)
        return make_reply(ReplyStatus::BadRequest, "SetMode needs a mode and a current code");

    const auto account = account_of(target, false);
    const auto enrolment = account ? store_.active_enrolment(*account) : std::nullopt;
    if (!enrolment)
        return make_reply(ReplyStatus::NotEnrolled);

    if (auto refusal = confirm_with_code(caller, target, *account, *enrolment, request))
        return *refusal;

    store_.set_mode(*account, *mode);
    const std::size_t forgotten =
        *mode == VerificationMode::Always ? store_.forget_devices(*account, std::nullopt) : 0;
    remember(caller, *account, "mode-changed", request, std::string("now ") + to_string(*mode));
    log::audit("mode-changed", "Verification mode changed",
               {user_field(target.account),
                {"MODE", to_string(*mode)},
                {"DEVICES_FORGOTTEN", std::to_string(forgotten)}});
    Message reply = make_reply(ReplyStatus::Ok);
    reply.set_u64(Field::Count, forgotten);
    return reply;
}

void Authenticator::remember(const Caller& caller, std::int64_t account, const char* event,
                             const Message& request, std::string detail)
{
    HistoryEntry entry;
    entry.at = clock_.now();
    entry.event = event;
    entry.service = log::printable(request.get(Field::Service).value_or(""), 32);
    // Only sshd and login (root) are believed about where a login came from; a user's own
    // process is shown as what it is, so that nobody can write made-up sources into a history.
    entry.source = caller.uid == 0 ? log::printable(request.get(Field::RemoteHost).value_or(""), 64)
                                   : "local process of uid " + std::to_string(caller.uid);
    entry.detail = log::printable(detail, 120);
    store_.record_history(account, entry, kHistoryLength);
}

Message Authenticator::history(const Target& target, const Message& request)
{
    const auto account = account_of(target, false);
    const auto entries = account ? store_.history(*account) : std::vector<HistoryEntry>{};
    const std::uint64_t offset = request.get_u64(Field::Offset).value_or(0);

    std::vector<std::string> lines;
    for (std::size_t i = offset; i < entries.size(); ++i) {
        const auto& entry = entries[i];
        lines.push_back(std::to_string(entry.at) + "\t" + entry.event + "\t" + entry.service +
                        "\t" + entry.source + "\t" + entry.detail + "\t" + entry.country + "\t" +
                        entry.client + "\t" + (entry.unusual ? "1" : "0") + "\t" +
                        (entry.verified ? "1" : "0"));
    }
    Message reply = make_reply(ReplyStatus::Ok);
    reply.set(Field::Entries, lines_within_one_message(lines));
    reply.set_u64(Field::Count, entries.size());
    return reply;
}

Message Authenticator::set_email(const Caller& caller, const Target& target, const Message& request)
{
    const auto address = request.get(Field::Email);
    if (!address)
        return make_reply(ReplyStatus::BadRequest, "the request carries no address");
    if (!address->empty() && !mail::is_plain_address(*address))
        return make_reply(ReplyStatus::BadRequest,
                          "not a plain e-mail address (name@domain, no spaces, quotes, commas or "
                          "angle brackets, not starting with '-')");

    const auto account = account_of(target, true);
    // Someone holding the user's session must not be able to send the alerts elsewhere quietly:
    // with MFA on, the change needs a current code. Root needs none (it could change anything
    // else anyway); a code root sends is checked all the same.
    const bool support = caller.uid == 0 && !request.has(Field::Code);
    if (const auto enrolment = store_.active_enrolment(*account); enrolment && !support)
        if (auto refusal = confirm_with_code(caller, target, *account, *enrolment, request))
            return *refusal;

    store_.set_alert_address(*account, std::string(*address));
    remember(caller, *account, "alert-address-changed", request,
             address->empty() ? "back to the default" : "set");
    log::audit("alert-address-changed",
               address->empty() ? "Alert address cleared" : "Alert address set",
               {user_field(target.account), {"PEER_UID", std::to_string(caller.uid)}});
    return make_reply(ReplyStatus::Ok);
}

// Where an alert for the account would go now, and why there.
Authenticator::AlertRoute Authenticator::alert_route(const Target& target,
                                                     std::optional<std::int64_t> account)
{
    const std::string own = account ? store_.alert_address(*account) : std::string();
    const auto recipient =
        mail::recipient_for(target.account.name, own, config_.alert_address_pattern);
    if (!recipient)
        return {};
    const char* source = !own.empty()                             ? "user"
                         : !config_.alert_address_pattern.empty() ? "pattern"
                                                                  : "local";
    return {*recipient, source};
}

std::vector<std::string> Authenticator::hashes_of(const std::vector<std::string>& codes)
{
    std::vector<std::string> hashes;
    hashes.reserve(codes.size());
    for (const auto& code_text : codes)
        hashes.push_back(recovery::hash(*recovery::normalize(code_text)));
    return hashes;
}

std::optional<Message> Authenticator::confirm_with_code(const Caller& caller, const Target& target,
                                                        std::int64_t account,
                                                        const ActiveEnrolment& enrolment,
                                                        const Message& request)
{
    const auto code = request.get(Field::Code);
    if (!code)
        return make_reply(ReplyStatus::BadRequest, "a current code is needed");
    // The same limits as a login: a stolen session must not be a way to guess codes.
    const auto attempt = describe_attempt(caller, request, target.account.name, true, account);
    if (const auto verdict = guard_.admit_code(attempt); !verdict.allowed())
        return answer(verdict);
    std::string hint;
    if (use_code(target, account, enrolment, *code, request, &hint))
        return std::nullopt;
    guard_.record_wrong_code(attempt);
    Message refusal = make_reply(ReplyStatus::Rejected, "wrong or already used code");
    if (!hint.empty())
        refusal.set(Field::Hint, hint);
    return refusal;
}

Message Authenticator::regenerate_codes(const Caller& caller, const Target& target,
                                        const Message& request)
{
    const auto account = account_of(target, false);
    const auto enrolment = account ? store_.active_enrolment(*account) : std::nullopt;
    if (!enrolment)
        return make_reply(ReplyStatus::NotEnrolled);
    if (auto refusal = confirm_with_code(caller, target, *account, *enrolment, request))
        return *refusal;

    auto codes = recovery::generate_set();
    store_.replace_recovery_codes(*account, hashes_of(codes), clock_.now());
    std::string joined;
    for (auto& code_text : codes) {
        joined += code_text + "\n";
        explicit_bzero(code_text.data(), code_text.size());
    }
    joined.pop_back();
    Message reply = make_reply(ReplyStatus::Ok);
    reply.set(Field::RecoveryCodes, joined);
    explicit_bzero(joined.data(), joined.size());
    remember(caller, *account, "recovery-codes-regenerated", request, "10 new codes");
    log::audit("recovery-codes-regenerated", "Recovery codes regenerated",
               {user_field(target.account)});
    return reply;
}

Message Authenticator::disable_mfa(const Caller& caller, const Target& target,
                                   const Message& request)
{
    const auto account = account_of(target, false);
    const auto enrolment = account ? store_.active_enrolment(*account) : std::nullopt;
    if (!enrolment)
        return make_reply(ReplyStatus::NotEnrolled);

    // Root gives a reason instead of a code (support, after verifying the person; also for
    // another uid-0 account, which fotoauthctl cannot tell from root's own); everyone else
    // proves the factor once more. Root holding a code may prove it like anyone.
    const bool support = caller.uid == 0 && !request.has(Field::Code);
    const std::string reason = log::printable(request.get(Field::Text).value_or(""), 200);
    if (support && reason.empty())
        return make_reply(ReplyStatus::BadRequest, "root must give a reason or a current code");
    if (!support) {
        if (auto refusal = confirm_with_code(caller, target, *account, *enrolment, request))
            return *refusal;
    }

    store_.delete_enrolment(*account);
    remember(caller, *account, "mfa-disabled", request,
             support ? "by root: " + reason : std::string("by the user"));
    log::audit("mfa-disabled", "MFA disabled",
               {user_field(target.account),
                {"BY_UID", std::to_string(caller.uid)},
                {"REASON", support ? reason : std::string("by the user")}});
    return make_reply(ReplyStatus::Ok);
}

Message Authenticator::password_change_check(const Target& target)
{
    return answer(guard_.admit_password_change(target.account.name));
}

Message Authenticator::password_changed(const Caller& caller, const Target& target,
                                        const Message& request)
{
    // Only root reports password changes: passwd is setuid root, and pam_unix changes a local
    // password only as root. A user's own report would let them end processes (sudo'd ones,
    // even root's) that carry their login's audit session, and would hide a reset made
    // outside PAM from the check at the next login.
    if (caller.uid != 0) {
        log::warning("Refused a password change report from a user",
                     {user_field(target.account), {"PEER_UID", std::to_string(caller.uid)}});
        return make_reply(ReplyStatus::PermissionDenied, "only root reports password changes");
    }
    // For an enrolled local account, the shadow hash must really have changed.
    if (const auto account = account_of(target, false)) {
        const std::string stored = store_.shadow_digest(*account);
        if (!stored.empty() && stored == shadow_digest_of(target.account.name)) {
            log::warning("A password change was reported but the password did not change, "
                         "ignoring",
                         {user_field(target.account), {"PEER_PID", std::to_string(caller.pid)}});
            Message unchanged = make_reply(ReplyStatus::Ok);
            unchanged.set_u64(Field::Count, 0);
            unchanged.set_u64(Field::DeviceCount, 0);
            return unchanged;
        }
    }

    // Who changed the password: passwd runs setuid root, so the peer is root; its real uid is
    // the person who ran it. The kernel's word beats the module's, which is only a fallback.
    uid_t changed_by = caller.uid;
    if (const auto real = real_uid_of(caller.pid))
        changed_by = *real;
    else if (const auto reported = request.get_u64(Field::CallerUid))
        changed_by = static_cast<uid_t>(*reported);

    const bool own = changed_by == target.account.uid;
    const auto outcome = after_password_change(target, changed_by, caller.pid, own, "pam",
                                               request.get(Field::Service).value_or(""));
    Message reply = make_reply(ReplyStatus::Ok);
    reply.set_u64(Field::Count, outcome.sessions);
    reply.set_u64(Field::DeviceCount, outcome.devices);
    return reply;
}

Authenticator::ChangeOutcome
Authenticator::after_password_change(const Target& target, uid_t changed_by, pid_t caller_pid,
                                     bool keep_callers_session, const char* reason,
                                     std::string_view service)
{
    ChangeOutcome outcome;
    const auto account = account_of(target, false);
    if (account) {
        outcome.devices = store_.forget_devices(*account, std::nullopt);
        (void)proofs_.forget_account(*account);
        store_.set_shadow_digest(*account, shadow_digest_of(target.account.name));
    }
    outcome.sessions = sessions_.end_sessions(
        EndSessionsRequest{target.account.uid, caller_pid, keep_callers_session});
    if (account) {
        const std::string who = std::string(reason) == "outside-pam"
                                    ? std::string("outside PAM")
                                    : "by uid " + std::to_string(changed_by);
        Message change(MessageType::PasswordChanged);
        change.set(Field::Service, service);
        remember(Caller{0, 0}, *account, "password-changed", change,
                 who + "; " + std::to_string(outcome.sessions) + " sessions ended, " +
                     std::to_string(outcome.devices) + " devices forgotten");
    }
    log::audit("password-changed", "Password changed: other sessions ended, devices forgotten",
               {user_field(target.account),
                {"CHANGED_BY_UID", std::to_string(changed_by)},
                {"SESSIONS_ENDED", std::to_string(outcome.sessions)},
                {"DEVICES_FORGOTTEN", std::to_string(outcome.devices)},
                {"SESSION_MANAGER", sessions_.name()},
                {"REASON", reason}});

    // In a fleet the other servers end the user's sessions too (docs/fleet.md). The change
    // itself is done and answered here whatever happens to the announcement.
    try {
        store_.announce_password_change(target.account.name, target.account.uid);
    } catch (const StoreError& error) {
        log::error("The other servers could not be told of a password change",
                   {user_field(target.account), {"ERROR", error.what()}});
    }
    return outcome;
}

void Authenticator::end_sessions_for_change_elsewhere(const PasswordChangeNotice& notice)
{
    // Only where the fleet shares its accounts: the same name must be the same uid here.
    const auto here = users_.lookup(notice.name);
    if (!here || static_cast<std::int64_t>(here->uid) != notice.uid) {
        log::info(
            "A password change on another server is about an account this server does "
            "not share",
            {{"SERVER", log::printable(notice.server, 64)}, {"UID", std::to_string(notice.uid)}});
        return;
    }
    const std::size_t ended = sessions_.end_sessions(EndSessionsRequest{here->uid, 0, false});
    log::audit("password-changed-elsewhere",
               "Password changed on another server: sessions here ended",
               {{"USER", here->name},
                {"SERVER", log::printable(notice.server, 64)},
                {"SESSIONS_ENDED", std::to_string(ended)},
                {"SESSION_MANAGER", sessions_.name()}});
}

std::string Authenticator::shadow_digest_of(const std::string& name)
{
    const auto hash = users_.shadow_hash(name);
    if (!hash)
        return {};
    hmac_sha256_ctx context;
    hmac_sha256_set_key(&context, shadow_key_.size(), shadow_key_.data());
    hmac_sha256_update(&context, name.size(), reinterpret_cast<const std::uint8_t*>(name.data()));
    hmac_sha256_update(&context, 1, reinterpret_cast<const std::uint8_t*>(":"));
    hmac_sha256_update(&context, hash->size(), reinterpret_cast<const std::uint8_t*>(hash->data()));
    std::uint8_t digest[SHA256_DIGEST_SIZE];
    hmac_sha256_digest(&context, sizeof(digest), digest);
    return shadow_key_id() + ":" + hex(digest);
}

std::string Authenticator::shadow_key_id() const
{
    // Names the key, so that digests made with a lost or replaced key are told apart from a
    // changed password.
    hmac_sha256_ctx context;
    hmac_sha256_set_key(&context, shadow_key_.size(), shadow_key_.data());
    hmac_sha256_update(&context, 6, reinterpret_cast<const std::uint8_t*>("key-id"));
    std::uint8_t digest[SHA256_DIGEST_SIZE];
    hmac_sha256_digest(&context, sizeof(digest), digest);
    return hex(std::span<const std::uint8_t>(digest, 4));
}

void Authenticator::notice_password_change_outside_pam(const Caller& caller, const Target& target,
                                                       std::int64_t account)
{
    if (caller.uid != 0)
        return;
    // The file has not changed since this account was last compared: nothing to read.
    const auto version = users_.shadow_version();
    if (version) {
        const auto checked = shadow_checked_.find(account);
        if (checked != shadow_checked_.end() && checked->second == *version)
            return;
        if (shadow_checked_.size() >= kMaxShadowChecks)
            shadow_checked_.clear();
        shadow_checked_[account] = *version;
    }
    const std::string digest = shadow_digest_of(target.account.name);
    if (digest.empty())
        return;  // no local shadow entry: not covered (docs/password-change.md)
    const std::string stored = store_.shadow_digest(account);
    if (stored == digest)
        return;
    if (stored.empty()) {
        store_.set_shadow_digest(account, digest);
        return;
    }
    if (stored.substr(0, stored.find(':')) != shadow_key_id()) {
        log::warning("The shadow digest was made with another key; taking the current password "
                     "as the new baseline",
                     {user_field(target.account)});
        store_.set_shadow_digest(account, digest);
        return;
    }
    after_password_change(target, 0, 0, false, "outside-pam", "");
}

void Authenticator::reconfigure()
{
    issuer_ = config_.issuer.empty() ? host_name() : config_.issuer;
    guard_.reconfigure();
    watch_.reconfigure();
    courier_.reconfigure();
}

void Authenticator::tick() noexcept
{
    courier_.tick();
    try {
        clock_sync_.check(clock_.monotonic_ms());
        for (const auto& notice : store_.password_changes_elsewhere())
            end_sessions_for_change_elsewhere(notice);
        sessions_.tick(clock_.monotonic_ms());
        guard_.forget_expired();
    } catch (const std::exception& error) {
        log::error("Delayed work failed", {{"ERROR", error.what()}});
    }
}

std::optional<std::int64_t> Authenticator::enrolled_account(const Target& target)
{
    const auto account = account_of(target, false);
    if (account && store_.active_enrolment(*account))
        return account;
    return std::nullopt;
}

Message Authenticator::preauth(const Caller& caller, const Target& target, const Message& request)
{
    // The attempt is counted right after the account is read: a fleet's store does both at once.
    guard_.read_ahead_login(
        describe_attempt(caller, request, target.account.name, true, std::nullopt));
    const auto account = enrolled_account(target);
    if (account)
        notice_password_change_outside_pam(caller, target, *account);
    const auto attempt = describe_attempt(caller, request, target.account.name, true, account);
    return answer(guard_.admit_login(attempt));
}

Message Authenticator::auth_query(const Caller& caller, const Target& target,
                                  const Message& request)
{
    const bool counts = request.get_u8(Field::CountAttempt).value_or(0) == 1;
    if (counts)
        guard_.read_ahead_login(
            describe_attempt(caller, request, target.account.name, true, std::nullopt));
    const auto account = account_of(target, false);
    const auto enrolment = account ? store_.active_enrolment(*account) : std::nullopt;
    if (enrolment)
        notice_password_change_outside_pam(caller, target, *account);
    const auto attempt = describe_attempt(caller, request, target.account.name, true,
                                          enrolment ? account : std::nullopt);

    // CountAttempt: no preauth line ran before, so this query first does what Preauth would
    // (counts the attempt, or refuses it), saving the module a round trip.
    if (counts) {
        if (const auto verdict = guard_.admit_login(attempt); !verdict.allowed())
            return answer(verdict);
        if (!enrolment)
            return make_reply(ReplyStatus::NotEnrolled);
    } else {
        if (!enrolment)
            return make_reply(ReplyStatus::NotEnrolled);
        if (const auto lock = guard_.current_lock(attempt)) {
            guard_.count_refused(attempt);
            return answer(*lock);
        }
    }

    const auto trusted = trusted_device_of(caller, target, *account, *enrolment, request);
    if (!trusted) {
        keep_for_verification(target, *account, request);
        return make_reply(ReplyStatus::CodeRequired);
    }

    // After a failed password a trusted device gets no prompt either, and no proof.
    Message reply = make_reply(ReplyStatus::Trusted);
    if (request.get_u8(Field::PasswordFailed).value_or(0) != 1) {
        store_.touch_device(trusted->id, clock_.now());
        reply.set(Field::Nonce, issue_proof(*account, "trusted device " + trusted->label, false));
        log::info("Code not asked: trusted device",
                  {user_field(target.account),
                   {"DEVICE", trusted->label},
                   {"SERVICE", log::printable(request.get(Field::Service).value_or(""))}});
    }
    return reply;
}

std::optional<StoredDevice>
Authenticator::trusted_device_of(const Caller& caller, const Target& target, std::int64_t account,
                                 const ActiveEnrolment& enrolment, const Message& request)
{
    if (enrolment.mode != VerificationMode::NewDevice)
        return std::nullopt;
    const auto service = request.get(Field::Service).value_or("");
    if (!service_may_use_device_trust(service, config_))
        return std::nullopt;
    const auto device = identify_device(login_facts(caller, request), config_);
    if (!device)
        return std::nullopt;
    auto stored = store_.trusted_device(account, device->key, clock_.now());
    if (stored && login_is_suspicious(caller, account, request)) {
        // From another country than the last login: the device loses its trust and the code is
        // asked (docs/alerts.md).
        (void)store_.forget_devices(account, stored->id);
        log::audit("device-revoked", "Trusted device revoked: suspicious login",
                   {user_field(target.account), {"DEVICE", stored->label}});
        return std::nullopt;
    }
    return stored;
}

bool Authenticator::login_is_suspicious(const Caller& caller, std::int64_t account,
                                        const Message& request)
{
    const auto location =
        watch_.locate(request.get(Field::RemoteHost).value_or(""), caller.uid == 0);
    return watch_.is_unusual(account, location);
}

LoginReport Authenticator::report_of(const Caller& caller, const Message& request,
                                     std::string detail, bool verified, bool mfa_enabled) const
{
    LoginReport report;
    report.from_root = caller.uid == 0;
    report.caller_uid = caller.uid;
    report.service = request.get(Field::Service).value_or("");
    report.remote_host = request.get(Field::RemoteHost).value_or("");
    report.detail = std::move(detail);
    report.verified = verified;
    report.mfa_enabled = mfa_enabled;

    // The client: the service, how sshd authenticated the user before us (a key's fingerprint
    // when it says), and the terminal.
    std::string client = log::printable(report.service, 32);
    if (report.from_root) {
        const std::string_view info = request.get(Field::AuthInfo).value_or("");
        const std::string_view first = info.substr(0, info.find('\n'));
        if (!first.empty()) {
            const std::string_view method = first.substr(0, first.find(' '));
            client += " " + log::printable(method, 24);
            if (const auto device = identify_device(login_facts(caller, request), config_);
                device && device->kind == "ssh-key")
                client += " " + device->label;
        }
    }
    if (const auto tty = request.get(Field::Tty); tty && !tty->empty()) {
        std::string_view name = *tty;
        if (name.starts_with("/dev/"))
            name.remove_prefix(5);
        client += " " + log::printable(name, 24);
    }
    report.client = client;
    return report;
}

LoginFacts Authenticator::login_facts(const Caller& caller, const Message& request)
{
    return LoginFacts{caller.uid == 0, request.get(Field::Service).value_or(""),
                      request.get(Field::RemoteHost).value_or(""),
                      request.get(Field::Tty).value_or(""),
                      request.get(Field::AuthInfo).value_or("")};
}

void Authenticator::remember_device(const Caller& caller, const Target& target,
                                    std::int64_t account, const ActiveEnrolment& enrolment,
                                    const Message& request)
{
    if (enrolment.mode != VerificationMode::NewDevice ||
        !service_may_use_device_trust(request.get(Field::Service).value_or(""), config_))
        return;
    const auto device = identify_device(login_facts(caller, request), config_);
    if (!device)
        return;
    const std::int64_t now = clock_.now();
    store_.trust_device(account,
                        StoredDevice{0, device->key, device->kind, device->label, now, now,
                                     now + config_.trusted_device_lifetime.count()},
                        config_.max_devices_per_user);
    log::audit("device-trusted", "Device trusted after a verification code",
               {user_field(target.account), {"DEVICE", device->label}});
}

Message Authenticator::auth_verify(const Caller& caller, const Target& target,
                                   const Message& request)
{
    const auto code = request.get(Field::Code);
    if (!code)
        return make_reply(ReplyStatus::BadRequest, "the request carries no code");

    if (auto reply = verify_on_kept_reading(caller, target, request, *code))
        return std::move(*reply);

    // The code's window is asked right after the account is read: a fleet's store does both at
    // once.
    auto attempt = describe_attempt(caller, request, target.account.name, true, std::nullopt);
    guard_.read_ahead_code(attempt);
    const auto account = account_of(target, false);
    const auto enrolment = account ? store_.active_enrolment(*account) : std::nullopt;
    if (!enrolment)
        return make_reply(ReplyStatus::NotEnrolled);

    attempt.account = account;
    if (const auto verdict = guard_.admit_code(attempt); !verdict.allowed())
        return answer(verdict);

    const auto service = log::printable(request.get(Field::Service).value_or(""));
    const auto rhost = log::printable(request.get(Field::RemoteHost).value_or(""));
    const bool password_failed = request.get_u8(Field::PasswordFailed).value_or(0) == 1;

    // After a failed password the code is only judged: a right one is neither used up nor
    // counted, a wrong one counts toward the lock like any other.
    if (password_failed) {
        if (code->size() > kMaxCodeLength || !code_is_right(*account, *enrolment, *code))
            guard_.record_wrong_code(attempt);
        remember(caller, *account, "login-refused", request, "wrong password");
        log::info("Login refused after a failed password", {user_field(target.account),
                                                            {"SERVICE", service},
                                                            {"RHOST", rhost},
                                                            {"RESULT", "rejected"}});
        return make_reply(ReplyStatus::Rejected, "wrong password or code");
    }

    std::string hint;
    const bool passed = use_code(target, *account, *enrolment, *code, request, &hint);
    if (!passed) {
        guard_.record_wrong_code(attempt);
        // Right password, wrong code: from an unusual country the password is known to someone
        // else, and the user hears of it (docs/alerts.md).
        watch_.record_wrong_code(
            *account, target.account,
            report_of(caller, request,
                      guard_.current_lock(attempt) ? "wrong code; account locked" : "wrong code",
                      true, true));
        log::info("Verification code refused", {user_field(target.account),
                                                {"SERVICE", service},
                                                {"RHOST", rhost},
                                                {"RESULT", "rejected"}});
        Message refusal = make_reply(ReplyStatus::Rejected, "wrong or already used code");
        if (!hint.empty())
            refusal.set(Field::Hint, hint);
        return refusal;
    }

    return code_accepted(caller, target, *account, *enrolment, *code, request);
}

Message Authenticator::code_accepted(const Caller& caller, const Target& target,
                                     std::int64_t account, const ActiveEnrolment& enrolment,
                                     std::string_view code, const Message& request)
{
    const char* how = totp::is_code_shape(code) ? "verification code" : "recovery code";
    log::info("Verification code accepted",
              {user_field(target.account),
               {"SERVICE", log::printable(request.get(Field::Service).value_or(""))},
               {"RHOST", log::printable(request.get(Field::RemoteHost).value_or(""))},
               {"RESULT", "accepted"}});
    Message reply = make_reply(ReplyStatus::Ok);
    reply.set(Field::Nonce, issue_proof(account, how, true));
    remember_device(caller, target, account, enrolment, request);
    // Few recovery codes left: the module tells the user at login (docs/pam-return-codes.md).
    if (const auto left = store_.count_unused_recovery_codes(account); left <= kFewCodesLeft)
        reply.set_u64(Field::CodesLeft, left);
    return reply;
}

void Authenticator::keep_for_verification(const Target& target, std::int64_t account,
                                          const Message& request)
{
    // After a failed password the code is only judged, never used: nothing to keep for.
    if (!connection_memory_ || request.get_u8(Field::PasswordFailed).value_or(0) == 1)
        return;
    if (auto reading = store_.keep_reading(account))
        *connection_memory_ =
            ConnectionMemory{target.account.name, target.account.uid, account, std::move(reading)};
}

std::optional<Message> Authenticator::verify_on_kept_reading(const Caller& caller,
                                                             const Target& target,
                                                             const Message& request,
                                                             std::string_view code)
{
    // Only the plain case: a TOTP code after a right password, for the account the query read.
    // Recovery codes, judged-only codes and anything else take the usual path.
    const ConnectionMemory& kept = remembered_;
    if (!kept.reading || kept.user != target.account.name || kept.uid != target.account.uid ||
        request.get_u8(Field::PasswordFailed).value_or(0) == 1 || !totp::is_code_shape(code))
        return std::nullopt;

    std::optional<ActiveEnrolment> enrolment;
    try {
        if (store_.resume_reading(*kept.reading))
            enrolment = store_.active_enrolment(kept.account);
    } catch (const StoreError& error) {
        // A secret the key ring no longer opens (a key rotation between query and code): the
        // usual path reads the account afresh.
        log::debug("The query's reading could not be used", {{"ERROR", error.what()}});
    }
    if (!enrolment)
        return std::nullopt;

    // The window only, no drift search. A code that does not match there sends the same
    // statement with a step it can never record, and then takes the usual path, which searches
    // in full and counts what is wrong: under a lock or a full window a right code and a wrong
    // one thus take the same statements and the same time (the usual path decides the refusal
    // before it looks at the code at all), so the time of a refusal tells nothing of the code.
    const auto match = totp::match(enrolment->secret, code, clock_.now(), config_.totp_window,
                                   enrolment->last_step);
    const bool matched = match.kind == totp::MatchKind::Accepted;
    const auto attempt = describe_attempt(caller, request, target.account.name, true, kept.account);
    const auto used = guard_.use_step_unless_held(attempt, enrolment->active_since,
                                                  matched ? match.step : kNeverAStep);
    if (!matched || used != StepUse::Used)
        return std::nullopt;

    // Used: the store's reading now holds the enrolment's mode, the count of unused recovery
    // codes and the drift as the statement read them.
    if (store_.drift(kept.account).seen > 0)
        store_.set_drift(kept.account, drift::settle());
    const auto now_enrolled = store_.active_enrolment(kept.account);
    return code_accepted(caller, target, kept.account, now_enrolled.value_or(*enrolment), code,
                         request);
}

bool Authenticator::use_code(const Target& target, std::int64_t account,
                             const ActiveEnrolment& enrolment, std::string_view code,
                             const Message& request, std::string* hint)
{
    if (code.size() > kMaxCodeLength)
        return false;
    if (totp::is_code_shape(code))
        return verify_totp(target, account, enrolment, code, hint);
    if (!verify_recovery_code(account, code))
        return false;
    log::audit("recovery-code-used", "A recovery code was used",
               {user_field(target.account),
                {"SERVICE", log::printable(request.get(Field::Service).value_or(""))},
                {"RHOST", log::printable(request.get(Field::RemoteHost).value_or(""))}});
    return true;
}

bool Authenticator::code_is_right(std::int64_t account, const ActiveEnrolment& enrolment,
                                  std::string_view code)
{
    if (totp::is_code_shape(code))
        return totp::match(enrolment.secret, code, clock_.now(), config_.totp_window,
                           enrolment.last_step)
                   .kind == totp::MatchKind::Accepted;

    const auto normalized = recovery::normalize(code);
    if (!normalized)
        return false;
    for (const auto& stored : store_.unused_recovery_codes(account))
        if (recovery::verify(*normalized, stored.hash))
            return true;
    return false;
}

bool Authenticator::verify_totp(const Target& target, std::int64_t account,
                                const ActiveEnrolment& enrolment, std::string_view code,
                                std::string* hint)
{
    // The window alone first: a right code, the common case, costs its 2 * window + 1 HMACs and
    // not the drift search's too. Any other code is searched in full, so that a wrong, a replayed
    // and a drifted code take the same time; the answer tells an accepted one apart anyway.
    const std::int64_t now = clock_.now();
    auto match = totp::match(enrolment.secret, code, now, config_.totp_window, enrolment.last_step);
    if (match.kind != totp::MatchKind::Accepted && config_.totp_drift_search > 0)
        match = totp::match(enrolment.secret, code, now, config_.totp_window, enrolment.last_step,
                            config_.totp_drift_search);
    if (match.kind == totp::MatchKind::OutsideWindow) {
        notice_drift(target, account, match, hint);
        return false;
    }
    if (match.kind != totp::MatchKind::Accepted)
        return false;
    // The conditional update is what makes the code single use, also against a racing login.
    if (!store_.advance_last_step(account, enrolment.active_since, match.step))
        return false;
    if (store_.drift(account).seen > 0)
        store_.set_drift(account, drift::settle());
    return true;
}

// A code of the user's phone that matched a step outside the window: the phone's clock is off
// (docs/clock-drift.md). The login fails all the same, and the step is burned so that telling
// the user cannot hand anyone a code that becomes valid later.
void Authenticator::notice_drift(const Target& target, std::int64_t account,
                                 const totp::Match& match, std::string* hint)
{
    store_.burn_step(account, match.step);
    const auto record = drift::observe(store_.drift(account), match.offset, clock_.now());
    store_.set_drift(account, record);
    log::warning("A code matched outside the accepted window: the phone's clock seems off",
                 {user_field(target.account),
                  {"DRIFT_SECONDS", std::to_string(match.offset * totp::kStepSeconds)},
                  {"SEEN", std::to_string(record.seen)}});
    if (hint && drift::worth_a_hint(record))
        *hint = drift::hint_for(record);
}

bool Authenticator::verify_recovery_code(std::int64_t account, std::string_view code)
{
    const auto normalized = recovery::normalize(code);
    if (!normalized)
        return false;

    for (const auto& stored : store_.unused_recovery_codes(account)) {
        if (!recovery::verify(*normalized, stored.hash))
            continue;
        return store_.spend_recovery_code(stored.id, clock_.now());
    }
    return false;
}

std::string Authenticator::issue_proof(std::int64_t account, std::string how, bool verified)
{
    const std::int64_t now = clock_.now();
    std::string nonce = random_hex(kNonceBytes);
    const bool evicted = proofs_.add(
        nonce,
        AuthProof{account, now + config_.auth_proof_lifetime.count(), std::move(how), verified},
        now);
    // Said at most once a minute, with the count since: a flood of such logins must not
    // become a flood of log lines.
    if (evicted && ++proofs_dropped_ && now >= proofs_dropped_told_at_ + 60) {
        log::warning("Passed logins waited for their session stage beyond the daemon's limit; "
                     "the oldest proofs were dropped and those sessions will be refused",
                     {{"DROPPED", std::to_string(proofs_dropped_)},
                      {"PENDING", std::to_string(proofs_.size())}});
        proofs_dropped_ = 0;
        proofs_dropped_told_at_ = now;
    }
    return nonce;
}

Message Authenticator::session_open(const Caller& caller, const Target& target,
                                    const Message& request)
{
    const auto nonce = request.get(Field::Nonce);
    if (!nonce)
        return session_without_proof(caller, target, request);

    const auto account = account_of(target, false);
    const AuthProof* kept = proofs_.find(*nonce);
    if (!kept || !account) {
        log::warning("Session refused: no such proof", {user_field(target.account)});
        return make_reply(ReplyStatus::Rejected, "no such proof");
    }
    if (kept->account != *account) {
        log::warning("Session refused: the proof belongs to another account",
                     {user_field(target.account)});
        return make_reply(ReplyStatus::Rejected, "the proof belongs to another account");
    }
    const AuthProof proof = *proofs_.take(*nonce);
    if (proof.expires_at <= clock_.now()) {
        log::warning("Session refused: the proof expired", {user_field(target.account)});
        return make_reply(ReplyStatus::Rejected, "the proof expired");
    }
    log::info("Session opened after a passed verification", {user_field(target.account)});
    watch_.record_login(*account, target.account,
                        report_of(caller, request, proof.how, proof.verified, true));
    return make_reply(ReplyStatus::Ok);
}

Message Authenticator::session_without_proof(const Caller& caller, const Target& target,
                                             const Message& request)
{
    // An enrolled user must have passed the auth stage with this module, which leaves a proof.
    if (enrolled_account(target))
        return make_reply(ReplyStatus::CodeRequired);

    // A login without MFA (a password or key alone) still counts for the history and the
    // country check, when sshd or login reports it (a user's own process opens no logins).
    if (caller.uid == 0) {
        const std::string_view info = request.get(Field::AuthInfo).value_or("");
        const std::string method(info.substr(0, std::min(info.find(' '), info.find('\n'))));
        const auto account = account_of(target, true);
        watch_.record_login(*account, target.account,
                            report_of(caller, request,
                                      method.empty() ? "no MFA" : "no MFA, " + method, false,
                                      false));
    }
    return make_reply(ReplyStatus::NotEnrolled);
}

Message Authenticator::enrol_begin(const Caller& caller, const Target& target,
                                   const Message& request)
{
    const auto mode = parse_mode(request.get(Field::Mode).value_or(""));
    if (!mode)
        return make_reply(ReplyStatus::BadRequest, "mode must be `always` or `new-device`");

    const std::int64_t now = clock_.now();
    const auto account = account_of(target, true);
    // Enrolling again (a new phone) replaces the secret only after a current code or recovery
    // code of the old one, so that someone holding a session cannot enrol a phone of their own.
    if (const auto active = store_.active_enrolment(*account)) {
        if (!request.has(Field::Code))
            return make_reply(ReplyStatus::AlreadyEnrolled,
                              "MFA is already active; a current code or recovery code replaces it");
        if (auto refusal = confirm_with_code(caller, target, *account, *active, request))
            return *refusal;
    }

    PendingEnrolment pending;
    pending.secret.resize(kSecretBytes);
    random_bytes(pending.secret);
    pending.mode = *mode;
    pending.created_at = now;
    store_.save_pending_enrolment(*account, pending);

    const std::string secret = totp::base32(pending.secret);
    Message reply = make_reply(ReplyStatus::Ok);
    reply.set(Field::Secret, secret);
    reply.set(Field::Uri, otpauth_uri(target.account.name, secret));
    reply.set_u64(Field::ExpiresAt,
                  static_cast<std::uint64_t>(now + config_.enrolment_timeout.count()));
    log::info("Enrolment started", {user_field(target.account), {"MODE", to_string(*mode)}});
    return reply;
}

Message Authenticator::enrol_confirm(const Caller& caller, const Target& target,
                                     const Message& request)
{
    const auto code = request.get(Field::Code);
    if (!code)
        return make_reply(ReplyStatus::BadRequest, "the request carries no code");

    const std::int64_t now = clock_.now();
    const auto account = account_of(target, false);
    const auto pending = account ? store_.pending_enrolment(*account) : std::nullopt;
    if (!pending)
        return make_reply(ReplyStatus::NoPendingEnrolment, "no enrolment is waiting");
    if (pending->created_at + config_.enrolment_timeout.count() <= now) {
        store_.delete_pending_enrolment(*account);
        return make_reply(ReplyStatus::NoPendingEnrolment, "the enrolment lapsed");
    }

    const auto match = totp::match(pending->secret, *code, now, config_.totp_window, -1);
    if (match.kind != totp::MatchKind::Accepted)
        return make_reply(ReplyStatus::Rejected, "wrong code");

    auto codes = recovery::generate_set();
    const auto hashes = hashes_of(codes);
    // The confirming code's step becomes the last used one, so it cannot also open a login.
    if (!store_.activate_enrolment(*account, match.step, hashes, now))
        return make_reply(ReplyStatus::NoPendingEnrolment, "no enrolment is waiting");

    std::string joined;
    for (const auto& code_text : codes)
        joined += code_text + "\n";
    joined.pop_back();
    Message reply = make_reply(ReplyStatus::Ok);
    reply.set(Field::RecoveryCodes, joined);
    reply.set_u64(Field::Since, static_cast<std::uint64_t>(now));
    explicit_bzero(joined.data(), joined.size());
    for (auto& code_text : codes)
        explicit_bzero(code_text.data(), code_text.size());

    store_.set_shadow_digest(*account, shadow_digest_of(target.account.name));
    remember(caller, *account, "mfa-enabled", request,
             std::string("mode ") + to_string(pending->mode));
    log::audit("mfa-enabled", "MFA enabled",
               {user_field(target.account), {"MODE", to_string(pending->mode)}});
    return reply;
}

Message Authenticator::status(const Target& target)
{
    const std::int64_t now = clock_.now();
    const auto account = account_of(target, false);
    const auto enrolment = account ? store_.active_enrolment(*account) : std::nullopt;
    const auto pending = account ? store_.pending_enrolment(*account) : std::nullopt;
    const bool pending_alive =
        pending && pending->created_at + config_.enrolment_timeout.count() > now;

    Message reply = make_reply(ReplyStatus::Ok);
    reply.set_u8(Field::Enrolled, enrolment ? 1 : 0);
    reply.set_u8(Field::Pending, pending_alive ? 1 : 0);
    if (enrolment) {
        reply.set_u64(Field::Since, static_cast<std::uint64_t>(enrolment->active_since));
        reply.set(Field::Mode, to_string(enrolment->mode));
        reply.set_u64(Field::CodesLeft, store_.count_unused_recovery_codes(*account));
        reply.set_u64(Field::DeviceCount, store_.devices(*account, now).size());
    }
    reply.set_u8(Field::ClockSynced, clock_sync_.synchronised() ? 1 : 0);
    const auto route = alert_route(target, account);
    reply.set(Field::Email, route.recipient);
    reply.set(Field::EmailSource, route.source);
    const auto requirement = requirement_of(target);
    reply.set_u8(Field::MfaRequired, requirement == MfaRequirement::Optional ? 0 : 1);
    if (requirement == MfaRequirement::Grace)
        reply.set_u64(Field::GraceUntil,
                      static_cast<std::uint64_t>(config_.require_mfa_grace_until));
    return reply;
}

Message Authenticator::administer(const Caller& caller, const Message& request)
{
    if (caller.uid != 0) {
        std::size_t held_back = 0;
        if (refusal_log_.allow(std::to_string(caller.uid), clock_.monotonic_ms(), held_back))
            log::warning("Refused an administrative request from a user",
                         {{"PEER_UID", std::to_string(caller.uid)},
                          {"PEER_PID", std::to_string(caller.pid)},
                          {"HELD_BACK", std::to_string(held_back)}});
        return make_reply(ReplyStatus::PermissionDenied, "only root may do this");
    }

    Message reply = make_reply(ReplyStatus::Ok);
    if (request.type() == MessageType::Lockouts) {
        reply.set(Field::Entries, lines_within_one_message(guard_.listing()));
        return reply;
    }

    if (request.type() == MessageType::Unblock) {
        const std::string host(request.get(Field::RemoteHost).value_or(""));
        in6_addr address{};
        if (inet_pton(AF_INET, host.c_str(), &address) != 1 &&
            inet_pton(AF_INET6, host.c_str(), &address) != 1)
            return make_reply(ReplyStatus::BadRequest, "Unblock needs an IPv4 or IPv6 address");
        reply.set_u64(Field::Count, guard_.unblock(source_key(host)));
        return reply;
    }

    const auto name = request.get(Field::User);
    if (!name)
        return make_reply(ReplyStatus::BadRequest, "the request names no user");
    const auto account = users_.lookup(*name);
    if (!account)
        return make_reply(ReplyStatus::UnknownUser, "no such user");
    Target target;
    target.key = AccountKey{account->name, account->uid, false};
    target.account = *account;
    const auto id = account_of(target, false);
    reply.set_u64(Field::Count, id ? guard_.unlock(*id, account->name) : 0);
    return reply;
}

Message Authenticator::answer(const Verdict& verdict)
{
    switch (verdict.kind) {
    case Verdict::Kind::Allowed: return make_reply(ReplyStatus::Ok);
    case Verdict::Kind::RateLimited: {
        Message reply = make_reply(ReplyStatus::RateLimited, verdict.text);
        reply.set_u64(Field::RetryAfter, static_cast<std::uint64_t>(verdict.retry_after));
        return reply;
    }
    case Verdict::Kind::Locked: {
        Message reply = make_reply(ReplyStatus::Locked, verdict.text);
        reply.set_u64(Field::LockedUntil, static_cast<std::uint64_t>(verdict.locked_until));
        return reply;
    }
    }
    return make_reply(ReplyStatus::InternalError);
}

std::string Authenticator::otpauth_uri(const std::string& user, const std::string& secret) const
{
    const std::string issuer = uri_escape(issuer_);
    return "otpauth://totp/" + issuer + ":" + uri_escape(user) + "?secret=" + secret +
           "&issuer=" + issuer + "&algorithm=SHA1&digits=6&period=30";
}

}  // namespace fotoauthd
