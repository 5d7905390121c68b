// Everything fotoauthd remembers, behind a narrow interface. SQLite is the embedded default;
// another backend (PostgreSQL, for a fleet sharing one state) implements the same calls.
//
// Rules every backend keeps:
// - State hangs off an account id, never off a name or uid alone. An account is retired (its
//   secrets wiped, its row kept for history) when its name resolves to another uid, and, for
//   local accounts, when the name leaves /etc/passwd; so a re-created user never inherits it.
// - Single use is decided by the store with a conditional update (advance_last_step,
//   spend_recovery_code), so two logins racing with the same code cannot both win.
// - Every call is atomic. Failures throw StoreError; callers answer InternalError (fail closed).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace fotoauthd {

class SharedLimits;

class StoreError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct AccountKey {
    std::string name;
    uid_t uid = 0;
    bool local = false;  // listed in /etc/passwd when the account was created here
};

struct LocalAccount {
    std::int64_t id = 0;
    std::string name;
};

enum class VerificationMode { Always, NewDevice };

const char* to_string(VerificationMode mode) noexcept;
std::optional<VerificationMode> parse_mode(std::string_view text) noexcept;

struct ActiveEnrolment {
    std::vector<std::uint8_t> secret;
    VerificationMode mode = VerificationMode::Always;
    std::int64_t active_since = 0;
    std::int64_t last_step = -1;  // the newest TOTP step ever accepted
};

struct PendingEnrolment {
    std::vector<std::uint8_t> secret;
    VerificationMode mode = VerificationMode::Always;
    std::int64_t created_at = 0;
};

struct StoredRecoveryCode {
    std::int64_t id = 0;
    std::string hash;
};

// A lock after too many wrong codes, on one channel of an account (docs/brute-force.md).
struct StoredLock {
    std::int64_t account = 0;
    std::string name;  // filled in by locks(), for listings
    std::string channel;
    std::int64_t locked_until = 0;  // wall-clock unix time
    std::int64_t failures = 0;
};

// A device whose successful code spares it the code until `expires_at` (docs/devices.md).
struct StoredDevice {
    std::int64_t id = 0;
    std::string device;  // the identity matched on
    std::string kind;
    std::string label;
    std::int64_t first_used = 0;
    std::int64_t last_used = 0;
    std::int64_t expires_at = 0;
};

// One entry of an account's history: logins and security events (docs/history.md).
struct HistoryEntry {
    std::int64_t at = 0;
    std::string event;  // "login", "login-refused", "password-changed", ...
    std::string service;
    std::string source;  // the remote host, empty for local logins
    std::string detail;  // a few words: how the login passed, what changed
    // Where the source is (docs/geoip.md): an ISO 3166 country code, "local", "unknown", or
    // empty when nobody looked (GeoIP off, or not a login).
    std::string country;
    std::string client;     // service, terminal, SSH method and key fingerprint when known
    bool unusual = false;   // from another country than the account's last known one
    bool verified = false;  // a verification code was checked during this login
    // The server_name of the daemon that recorded it, in a fleet sharing one database; a store
    // fills in its own when this is empty. Empty for SQLite, where every entry is this host's.
    std::string server;
};

// An alert e-mail waiting in the outbox (docs/alerts.md). The message is complete: headers
// built by the daemon, never from raw client text.
struct OutboxMail {
    std::int64_t id = 0;
    std::int64_t account = 0;
    std::string recipient;
    std::string message;
    std::int64_t created_at = 0;
    std::int64_t next_attempt_at = 0;
    std::int64_t attempts = 0;
};

// Codes of the user's phone that matched outside the accepted window lately (docs/clock-drift.md).
struct DriftRecord {
    std::int64_t offset = 0;  // steps the phone is ahead (positive) or behind (negative)
    std::int64_t seen = 0;    // how many times in a row about this offset was measured
    std::int64_t at = 0;      // unix time of the last measurement
};

// A password change made through another daemon of a fleet (docs/fleet.md).
struct PasswordChangeNotice {
    std::string name;  // the account's name where it changed
    std::int64_t uid = 0;
    std::string server;  // the server_name of the daemon that handled it
};

class Store {
public:
    virtual ~Store() = default;

    // A store that several daemons share counts rate limits and holds locks itself, on its own
    // clock (shared_limits.hpp); a store of one daemon returns nothing, and the daemon keeps its
    // windows in memory.
    virtual SharedLimits* shared_limits() { return nullptr; }

    // One request's work as one unit: begin_request() before the daemon handles a request,
    // end_request(true) before its answer is sent, end_request(false) (never throws) when the
    // handling failed. SQLite runs it as one transaction, so that a login's dozen statements
    // take the file's locks once instead of once each; what a request changed is on disk before
    // its answer leaves. A store whose statements gain nothing from it keeps these empty.
    virtual void begin_request() {}
    virtual void end_request(bool commit) { (void)commit; }

    // A login asks twice on one client connection: AuthQuery reads the account, the user types
    // the code, AuthVerify checks it. A store whose reading costs a round trip to another
    // machine may hand what the query read to the verification (docs/fleet.md, "A code on the
    // connection that asked for it"): keep_reading() returns the request's reading of `account`
    // (nothing when it has none, or when reading is cheap), and resume_reading() makes a later
    // request see the account as that reading saw it, until it reads the account again or
    // writes anything. Only the secret and the enrolment's identity may be taken from it:
    // whatever decides (single use, locks, windows) runs against the current rows, and whether
    // a lock runs is asked of the store again. The kept reading holds the secret sealed, as
    // stored.
    class KeptReading {
    public:
        virtual ~KeptReading() = default;
    };
    virtual std::shared_ptr<const KeptReading> keep_reading(std::int64_t account)
    {
        (void)account;
        return nullptr;
    }
    virtual bool resume_reading(const KeptReading& kept)
    {
        (void)kept;
        return false;
    }

    // A store that several daemons share carries password changes between them: one daemon
    // announces a change, every other collects it at its next call of password_changes_elsewhere
    // (which never waits) and ends the user's sessions on its own server. A store of one daemon
    // has nobody to tell.
    virtual void announce_password_change(const std::string& name, uid_t uid)
    {
        (void)name;
        (void)uid;
    }
    virtual std::vector<PasswordChangeNotice> password_changes_elsewhere() { return {}; }

    // The id of the account this key names. An existing account whose uid no longer matches is
    // retired first (`retired` is then set). With `create` unset, nothing when there is none.
    virtual std::optional<std::int64_t> account_for(const AccountKey& key, std::int64_t now,
                                                    bool create, bool* retired = nullptr) = 0;

    // Current accounts that were local when created, and retiring one of them.
    virtual std::vector<LocalAccount> local_accounts() = 0;
    virtual void retire(std::int64_t account, std::int64_t now) = 0;

    virtual std::optional<ActiveEnrolment> active_enrolment(std::int64_t account) = 0;
    virtual std::optional<PendingEnrolment> pending_enrolment(std::int64_t account) = 0;

    // Replaces any pending enrolment of the account; an active one stays untouched.
    virtual void save_pending_enrolment(std::int64_t account, const PendingEnrolment& pending) = 0;
    virtual void delete_pending_enrolment(std::int64_t account) = 0;

    // In one transaction: the pending enrolment becomes the active one, with `accepted_step` as
    // its last used step, and `code_hashes` replace all recovery codes. False when no pending
    // enrolment existed any more.
    virtual bool activate_enrolment(std::int64_t account, std::int64_t accepted_step,
                                    const std::vector<std::string>& code_hashes,
                                    std::int64_t now) = 0;

    // Records `step` as used if the enrolment that became active at `active_since` is still the
    // account's, the step is newer than its last used step and was never burned. False when it
    // was not (a replay, a burned step, a race lost to another login with the same code, or an
    // enrolment replaced since it was read: in a fleet another server may re-enrol the account
    // between the reading and this update, and a code of the old secret must not be recorded
    // against the new one).
    virtual bool advance_last_step(std::int64_t account, std::int64_t active_since,
                                   std::int64_t step) = 0;
    // Marks a step that must never be accepted (a code that matched outside the window).
    virtual void burn_step(std::int64_t account, std::int64_t step) = 0;

    virtual DriftRecord drift(std::int64_t account) = 0;
    virtual void set_drift(std::int64_t account, const DriftRecord& drift) = 0;

    virtual std::vector<StoredRecoveryCode> unused_recovery_codes(std::int64_t account) = 0;
    // How many of them there are (after every right code: the module warns when few are left).
    virtual std::size_t count_unused_recovery_codes(std::int64_t account) = 0;

    // Marks a code used if it was unused. False when another login used it first.
    virtual bool spend_recovery_code(std::int64_t code_id, std::int64_t now) = 0;

    // Inserts or replaces the lock of (account, channel).
    virtual void save_lock(const StoredLock& lock) = 0;
    // Removes every lock of the account; returns how many there were.
    virtual std::size_t delete_locks(std::int64_t account) = 0;
    virtual void delete_lock(std::int64_t account, const std::string& channel) = 0;
    // Every lock still running at `now`, with the account's name.
    virtual std::vector<StoredLock> locks(std::int64_t now) = 0;

    virtual void set_mode(std::int64_t account, VerificationMode mode) = 0;

    // Replaces every recovery code of the account at once (one transaction).
    virtual void replace_recovery_codes(std::int64_t account,
                                        const std::vector<std::string>& code_hashes,
                                        std::int64_t now) = 0;
    // Removes the secret, the recovery codes, any pending enrolment and every trusted device.
    virtual void delete_enrolment(std::int64_t account) = 0;

    // Appends to the account's history and keeps only its newest `keep` entries. With `alert`,
    // the mail joins the outbox in the same transaction, and the account's oldest waiting mails
    // beyond `outbox_limit` are dropped (the newest alerts matter most).
    virtual void record_history(std::int64_t account, const HistoryEntry& entry, std::size_t keep,
                                const OutboxMail* alert = nullptr,
                                std::size_t outbox_limit = 0) = 0;
    // The newest entries first.
    virtual std::vector<HistoryEntry> history(std::int64_t account) = 0;

    // The address alerts go to when the user set one (empty: none set).
    virtual std::string alert_address(std::int64_t account) = 0;
    virtual void set_alert_address(std::int64_t account, const std::string& address) = 0;
    // The country of the account's last completed login from a known country (empty: none yet).
    virtual std::string last_country(std::int64_t account) = 0;
    virtual void set_last_country(std::int64_t account, const std::string& country) = 0;

    // The oldest mail due at `now`, if any.
    virtual std::optional<OutboxMail> next_mail(std::int64_t now) = 0;
    virtual void mail_sent(std::int64_t id) = 0;
    // Counts a failed attempt and sets when to try again.
    virtual void mail_failed(std::int64_t id, std::int64_t next_attempt_at) = 0;
    // Makes every waiting mail due at `now` at the latest (after a restart, which is often how
    // an administrator applies a fixed mail setup).
    virtual void mail_due_by(std::int64_t now) = 0;
    virtual std::size_t outbox_size() = 0;

    // The keyed digest of the account's shadow hash last seen (empty when never seen).
    virtual std::string shadow_digest(std::int64_t account) = 0;
    virtual void set_shadow_digest(std::int64_t account, const std::string& digest) = 0;

    // The device's trust, when it has not expired at `now` (expired rows are never returned).
    virtual std::optional<StoredDevice>
    trusted_device(std::int64_t account, const std::string& device, std::int64_t now) = 0;
    virtual void touch_device(std::int64_t id, std::int64_t now) = 0;
    // Trusts (or trusts anew) a device, then drops the least recently used devices beyond
    // `max_devices` and every expired one of the account.
    virtual void trust_device(std::int64_t account, const StoredDevice& device,
                              std::size_t max_devices) = 0;
    virtual std::vector<StoredDevice> devices(std::int64_t account, std::int64_t now) = 0;
    // Forgets one device by id, or all of them when `id` is empty; returns how many.
    virtual std::size_t forget_devices(std::int64_t account, std::optional<std::int64_t> id) = 0;

    // Seals again with the current key every TOTP secret (active and pending enrolments) that
    // another key of the ring opens, in one transaction (`fotoauthd --reseal-secrets`, the
    // second step of a key rotation). Throws StoreError, having changed nothing, when a secret
    // opens with no key of the ring.
    struct ResealCount {
        std::size_t resealed = 0;
        std::size_t already_current = 0;
    };
    virtual ResealCount reseal_secrets() = 0;
};

}  // namespace fotoauthd
