// The daemon's decisions: one request from a checked peer in, one answer out. Knows nothing of
// sockets or the event loop (server.cpp), nor of SQL (the Store), so that unit tests can drive
// it with a fake clock, a fake user directory and a real SQLite file.
#pragma once

#include "brute_force.hpp"
#include "clock.hpp"
#include "clock_drift.hpp"
#include "clock_sync.hpp"
#include "totp.hpp"
#include "devices.hpp"
#include "sessions.hpp"
#include "alert_courier.hpp"
#include "alert_mail.hpp"
#include "connection_watch.hpp"
#include "log.hpp"
#include "mfa_policy.hpp"
#include "pending_proofs.hpp"
#include "config.hpp"
#include "protocol.hpp"
#include "store.hpp"
#include "user_directory.hpp"

#include <sys/types.h>

#include <climits>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace fotoauthd {

// Who is on the other end of the socket, from SO_PEERCRED.
struct Caller {
    uid_t uid = 0;
    pid_t pid = 0;
};

// What the daemon keeps of one client connection from one request to the next (the server owns
// it, the Authenticator fills it): the reading of a login's AuthQuery that asked for a code, for
// the AuthVerify that follows on the same connection (Store::keep_reading()). Every request takes
// it, so it serves only the request right after that query, and only for the same account.
struct ConnectionMemory {
    std::string user;
    uid_t uid = 0;
    std::int64_t account = 0;
    std::shared_ptr<const Store::KeptReading> reading;
};

class Authenticator {
public:
    // `shadow_key` keys the digest of shadow hashes that tells a password changed outside PAM.
    Authenticator(const Config& config, Store& store, UserDirectory& users, const Clock& clock,
                  SessionEnder& sessions, std::vector<std::uint8_t> shadow_key,
                  ClockSync* clock_sync = nullptr);

    // Never throws: a failure inside becomes an InternalError answer (clients fail closed).
    // `memory` is the connection's, when the caller keeps one per connection.
    fotostudio::protocol::Message handle(const Caller& caller,
                                         const fotostudio::protocol::Message& request,
                                         ConnectionMemory* memory = nullptr);

    // Retires every local account whose name is no longer in /etc/passwd, so that a user
    // deleted and created again under the same name starts without MFA. Run at start and
    // whenever /etc/passwd changes; does nothing when the file cannot be read.
    void forget_deleted_local_accounts() noexcept;

    // After the configuration it was given changed in place (a reload): rebuilds what was
    // derived from it (limits, the country database, the mail transport, the issuer).
    void reconfigure();

    // About once a second, from the event loop: delayed work (SIGKILL after SIGTERM).
    void tick() noexcept;

private:
    struct Target {
        SystemAccount account;
        AccountKey key;
    };
    using Message = fotostudio::protocol::Message;

    Message dispatch(const Caller& caller, const Message& request);
    Message administer(const Caller& caller, const Message& request);
    Message login_of_unknown_name(const Caller& caller, const Message& request,
                                  std::string_view name);
    // Resolves the User field and checks that the caller may act for that account; on failure
    // `refusal` holds the answer to send.
    std::optional<Target> resolve_target(const Caller& caller, const Message& request,
                                         Message& refusal);

    Message preauth(const Caller& caller, const Target& target, const Message& request);
    Message auth_query(const Caller& caller, const Target& target, const Message& request);
    Message auth_verify(const Caller& caller, const Target& target, const Message& request);
    // AuthVerify of a right code on the reading its AuthQuery kept: one statement, which uses
    // the step unless a lock or the code window holds it. Nothing when it cannot decide so; the
    // request then takes the usual path, which reads afresh.
    std::optional<Message> verify_on_kept_reading(const Caller& caller, const Target& target,
                                                  const Message& request, std::string_view code);
    // The answer to an accepted code, with what follows it (proof, trusted device, codes left).
    Message code_accepted(const Caller& caller, const Target& target, std::int64_t account,
                          const ActiveEnrolment& enrolment, std::string_view code,
                          const Message& request);
    // Keeps the query's reading in the connection's memory for the AuthVerify to come.
    void keep_for_verification(const Target& target, std::int64_t account, const Message& request);
    Message session_open(const Caller& caller, const Target& target, const Message& request);
    Message session_without_proof(const Caller& caller, const Target& target,
                                  const Message& request);
    // The history's and the alert's view of the login this request belongs to.
    LoginReport report_of(const Caller& caller, const Message& request, std::string detail,
                          bool verified, bool mfa_enabled) const;
    Message enrol_begin(const Caller& caller, const Target& target, const Message& request);
    Message enrol_confirm(const Caller& caller, const Target& target, const Message& request);
    Message status(const Target& target);

    // `hint` receives the sentence about the phone's clock when one is due.
    bool verify_totp(const Target& target, std::int64_t account, const ActiveEnrolment& enrolment,
                     std::string_view code, std::string* hint);
    void notice_drift(const Target& target, std::int64_t account, const totp::Match& match,
                      std::string* hint);
    bool verify_recovery_code(std::int64_t account, std::string_view code);
    // Checks a code typed at a prompt (TOTP or recovery code) and uses it up when right.
    bool use_code(const Target& target, std::int64_t account, const ActiveEnrolment& enrolment,
                  std::string_view code, const Message& request, std::string* hint = nullptr);
    // Whether the code is right, without using it up (after a failed password).
    bool code_is_right(std::int64_t account, const ActiveEnrolment& enrolment,
                       std::string_view code);
    std::optional<StoredDevice> trusted_device_of(const Caller& caller, const Target& target,
                                                  std::int64_t account,
                                                  const ActiveEnrolment& enrolment,
                                                  const Message& request);
    void remember_device(const Caller& caller, const Target& target, std::int64_t account,
                         const ActiveEnrolment& enrolment, const Message& request);
    bool login_is_suspicious(const Caller& caller, std::int64_t account, const Message& request);
    static LoginFacts login_facts(const Caller& caller, const Message& request);
    Message account_check(const Caller& caller, const Target& target, const Message& request);
    Message unenrolled_account_check(const Caller& caller, const Target& target,
                                     const Message& request);
    MfaRequirement requirement_of(const Target& target);
    Message devices(const Target& target);
    Message forget_device(const Caller& caller, const Target& target, const Message& request);
    Message set_mode(const Caller& caller, const Target& target, const Message& request);
    Message password_change_check(const Target& target);
    Message history(const Target& target, const Message& request);
    Message set_email(const Caller& caller, const Target& target, const Message& request);
    struct AlertRoute {
        std::string recipient;  // empty when no usable recipient exists
        std::string source;     // "user", "pattern" or "local"
    };
    AlertRoute alert_route(const Target& target, std::optional<std::int64_t> account);
    Message regenerate_codes(const Caller& caller, const Target& target, const Message& request);
    Message disable_mfa(const Caller& caller, const Target& target, const Message& request);
    // Checks the request's code with the login limits; nothing when it passed, else the answer.
    std::optional<Message> confirm_with_code(const Caller& caller, const Target& target,
                                             std::int64_t account, const ActiveEnrolment& enrolment,
                                             const Message& request);
    static std::vector<std::string> hashes_of(const std::vector<std::string>& codes);
    // Adds an entry to the account's history (the newest kHistoryLength are kept).
    void remember(const Caller& caller, std::int64_t account, const char* event,
                  const Message& request, std::string detail);
    Message password_changed(const Caller& caller, const Target& target, const Message& request);
    struct ChangeOutcome {
        std::size_t sessions = 0;
        std::size_t devices = 0;
    };
    ChangeOutcome after_password_change(const Target& target, uid_t changed_by, pid_t caller_pid,
                                        bool keep_callers_session, const char* reason,
                                        std::string_view service);
    // Notices a password changed outside PAM (chpasswd, usermod -p) for an enrolled account.
    void notice_password_change_outside_pam(const Caller& caller, const Target& target,
                                            std::int64_t account);
    // A password change another server of the fleet announced: the user's sessions here end.
    void end_sessions_for_change_elsewhere(const PasswordChangeNotice& notice);
    std::string shadow_digest_of(const std::string& name);
    std::string shadow_key_id() const;
    Attempt describe_attempt(const Caller& caller, const Message& request, std::string user,
                             bool resolves, std::optional<std::int64_t> account) const;
    std::optional<std::int64_t> enrolled_account(const Target& target);
    // The store's account for the target, logging a retirement when the uid changed.
    std::optional<std::int64_t> account_of(const Target& target, bool create);
    std::string issue_proof(std::int64_t account, std::string how, bool verified);
    static Message answer(const Verdict& verdict);
    std::string otpauth_uri(const std::string& user, const std::string& secret) const;

    const Config& config_;
    Store& store_;
    UserDirectory& users_;
    const Clock& clock_;
    SessionEnder& sessions_;
    std::vector<std::uint8_t> shadow_key_;
    std::string issuer_;
    // Passed auth stages waiting for their session stage to redeem them.
    PendingProofs proofs_;
    std::uint64_t proofs_dropped_ = 0;                 // since the last warning about it
    std::int64_t proofs_dropped_told_at_ = INT64_MIN;  // clock seconds of that warning
    // The shadow file's version when each account was last compared with it.
    static constexpr std::size_t kMaxShadowChecks = 100000;
    std::unordered_map<std::int64_t, std::string> shadow_checked_;
    BruteForceGuard guard_;
    ConnectionWatch watch_;
    AlertCourier courier_;
    KernelClockSync kernel_clock_sync_;
    ClockSyncWatch clock_sync_;
    // While a request is handled: its connection's memory (nothing when the caller keeps
    // none), and what that memory held when the request came.
    ConnectionMemory* connection_memory_ = nullptr;
    ConnectionMemory remembered_;
    // Refusals a peer can provoke at will are logged at most a few times a minute per peer.
    log::Throttle refusal_log_{5, 60'000};
};

}  // namespace fotoauthd
