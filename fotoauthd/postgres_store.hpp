// The PostgreSQL backend of Store, for a fleet of servers sharing one state (docs/fleet.md).
// Every daemon of the fleet holds the same secrets key; the database only ever sees sealed
// secrets. Each call is one statement or one transaction on one connection; conditional
// updates and row locks keep single use across servers as SQLite's one writer does on one.
#pragma once

#include "secret_box.hpp"
#include "shared_limits.hpp"
#include "store.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

struct pg_conn;

namespace fotoauthd {

class PostgresStore final : public Store, public SharedLimits {
public:
    // Connects with `conninfo` (a libpq connection string) and brings the schema up to date.
    // `server_name` is written into every history entry this daemon records. Throws StoreError
    // when the database cannot be reached or its schema is newer than this build.
    PostgresStore(std::string conninfo, KeyRing secrets_keys, std::string server_name);
    ~PostgresStore() override;
    PostgresStore(const PostgresStore&) = delete;
    PostgresStore& operator=(const PostgresStore&) = delete;

    // The schema version this build writes.
    static int schema_version();

    // Inside a request, the lookup of an existing account also reads, in the same statement,
    // what the rest of a login asks about it (see Prefetched below).
    void begin_request() override;
    void end_request(bool commit) override;
    std::optional<std::int64_t> account_for(const AccountKey& key, std::int64_t now, bool create,
                                            bool* retired = nullptr) override;
    // The reading of an AuthQuery, handed to the AuthVerify of the same connection.
    std::shared_ptr<const KeptReading> keep_reading(std::int64_t account) override;
    bool resume_reading(const KeptReading& kept) override;
    std::vector<LocalAccount> local_accounts() override;
    void retire(std::int64_t account, std::int64_t now) override;
    std::optional<ActiveEnrolment> active_enrolment(std::int64_t account) override;
    std::optional<PendingEnrolment> pending_enrolment(std::int64_t account) override;
    void save_pending_enrolment(std::int64_t account, const PendingEnrolment& pending) override;
    void delete_pending_enrolment(std::int64_t account) override;
    bool activate_enrolment(std::int64_t account, std::int64_t accepted_step,
                            const std::vector<std::string>& code_hashes, std::int64_t now) override;
    bool advance_last_step(std::int64_t account, std::int64_t active_since,
                           std::int64_t step) override;
    std::vector<StoredRecoveryCode> unused_recovery_codes(std::int64_t account) override;
    std::size_t count_unused_recovery_codes(std::int64_t account) override;
    bool spend_recovery_code(std::int64_t code_id, std::int64_t now) override;
    void save_lock(const StoredLock& lock) override;
    std::size_t delete_locks(std::int64_t account) override;
    void delete_lock(std::int64_t account, const std::string& channel) override;
    std::vector<StoredLock> locks(std::int64_t now) override;
    void set_mode(std::int64_t account, VerificationMode mode) override;
    void replace_recovery_codes(std::int64_t account, const std::vector<std::string>& code_hashes,
                                std::int64_t now) override;
    void delete_enrolment(std::int64_t account) override;
    void burn_step(std::int64_t account, std::int64_t step) override;
    DriftRecord drift(std::int64_t account) override;
    void set_drift(std::int64_t account, const DriftRecord& drift) override;
    void record_history(std::int64_t account, const HistoryEntry& entry, std::size_t keep,
                        const OutboxMail* alert = nullptr, std::size_t outbox_limit = 0) override;
    std::string alert_address(std::int64_t account) override;
    void set_alert_address(std::int64_t account, const std::string& address) override;
    std::string last_country(std::int64_t account) override;
    void set_last_country(std::int64_t account, const std::string& country) override;
    std::optional<OutboxMail> next_mail(std::int64_t now) override;
    void mail_sent(std::int64_t id) override;
    void mail_failed(std::int64_t id, std::int64_t next_attempt_at) override;
    void mail_due_by(std::int64_t now) override;
    std::size_t outbox_size() override;
    std::vector<HistoryEntry> history(std::int64_t account) override;
    std::string shadow_digest(std::int64_t account) override;
    void set_shadow_digest(std::int64_t account, const std::string& digest) override;
    std::optional<StoredDevice> trusted_device(std::int64_t account, const std::string& device,
                                               std::int64_t now) override;
    void touch_device(std::int64_t id, std::int64_t now) override;
    void trust_device(std::int64_t account, const StoredDevice& device,
                      std::size_t max_devices) override;
    std::vector<StoredDevice> devices(std::int64_t account, std::int64_t now) override;
    std::size_t forget_devices(std::int64_t account, std::optional<std::int64_t> id) override;
    ResealCount reseal_secrets() override;

    // Rate-limit windows and locks, shared by the fleet on the database's clock.
    SharedLimits* shared_limits() override;
    std::int64_t wait_ms(const WindowSpec& spec, const std::string& key) override;
    std::int64_t record_attempt(const WindowSpec& spec, const std::string& key,
                                const std::string& label) override;
    Admission admit(const std::vector<WindowAttempt>& attempts) override;
    void read_ahead(ReadAhead ahead) override;
    std::size_t clear_attempts(const WindowSpec& spec, const std::string& key,
                               bool prefix) override;
    std::vector<SharedFullWindow> full_windows(const WindowSpec& spec) override;
    std::size_t forget_expired(const WindowSpec& spec, std::int64_t margin_ms,
                               std::size_t most) override;
    std::optional<StoredLock> running_lock(std::int64_t account, const std::string& channel,
                                           std::int64_t longest_s) override;
    std::int64_t start_lock(std::int64_t account, const std::string& channel,
                            std::int64_t duration_s, std::int64_t failures) override;
    void count_lock_refusal(std::int64_t account, const std::string& channel) override;
    std::vector<StoredLock> running_locks() override;
    StepUse advance_last_step_unless_held(std::int64_t account, std::int64_t active_since,
                                          std::int64_t step, const StepHold& hold) override;

    // Password changes carried to the other servers by LISTEN/NOTIFY.
    void announce_password_change(const std::string& name, uid_t uid) override;
    std::vector<PasswordChangeNotice> password_changes_elsewhere() override;

private:
    class Param;
    class Result;
    class Transaction;

    // The connection, opened again when the last call found it broken.
    pg_conn* connection();
    // Reads what an idle session received (notifications, or the server's goodbye).
    void read_what_came_while_idle();
    // Whether the connection is up and idle, for work that must never connect.
    bool up_for_background_work();
    void connect();
    Result run(const char* sql, std::initializer_list<Param> params = {});
    Result run_with(const char* sql, const std::vector<Param>& params);
    Result run_with(const char* sql, const Param* params, std::size_t count_of_params);
    // The name of `sql` prepared on `conn`, preparing it the first time; nothing for a statement
    // that is not prepared (see the definition).
    const std::string* prepared(pg_conn* conn, const char* sql);
    // The answer to what was sent last on `conn`, or, when none came before `deadline`, the
    // connection dropped and StoreError thrown; a failed statement throws StoreError too.
    Result answer_or_drop(pg_conn* conn, std::chrono::steady_clock::time_point deadline);
    void migrate();
    std::vector<std::uint8_t> unseal(const std::vector<std::uint8_t>& sealed,
                                     std::int64_t account) const;
    void lock_account(std::int64_t account);
    void retire_account(std::int64_t account, std::int64_t now);
    void write_recovery_codes(std::int64_t account, const std::vector<std::string>& code_hashes,
                              std::int64_t now);

    // What the statement of account_for() read about an account, besides its id: kept until the
    // request ends or any statement that may write is sent (run() drops it then), so that the
    // enrolment, the clock drift, the count of unused recovery codes and whether a lock may be
    // running are not each a round trip of their own. A request sees the account as it was at
    // its first statement, as a transaction would; the conditional updates that decide single
    // use and locks still run against the current rows.
    struct Prefetched {
        std::int64_t account = 0;
        bool enrolled = false;
        std::vector<std::uint8_t> sealed_secret;
        std::string mode;
        std::int64_t active_since = 0;
        std::int64_t last_step = 0;
        DriftRecord drift;
        std::size_t unused_codes = 0;
        bool any_lock_running = false;  // on the database's clock when read
    };
    const Prefetched* prefetched_for(std::int64_t account) const;
    // A reading handed from one request to a later one (keep_reading()).
    struct KeptPrefetched final : KeptReading {
        explicit KeptPrefetched(Prefetched reading) : read(std::move(reading)) {}
        Prefetched read;
    };

    // The limits' answers the reading gave along with the account (ReadAhead). The wait is
    // taken by wait_ms() of the same window and key until the request counts an attempt or
    // writes; the admission, already counted, by the request's admit() of the same attempts.
    struct ReadWait {
        WindowSpec spec;
        std::string key;
        std::int64_t wait_ms = 0;
    };
    struct ReadAdmission {
        std::vector<WindowAttempt> attempts;
        Admission admission;
    };
    // The reading of account_for() inside a request: one statement, with the read-ahead's.
    std::optional<std::int64_t> read_account(const AccountKey& key, bool* matches);

    std::string conninfo_;
    KeyRing box_;
    std::string server_name_;
    pg_conn* conn_ = nullptr;
    bool ever_connected_ = false;
    bool in_transaction_ = false;
    bool in_request_ = false;
    std::optional<Prefetched> prefetched_;
    std::optional<ReadAhead> ahead_;  // for the request's next reading
    std::optional<ReadWait> read_wait_;
    std::optional<ReadAdmission> read_admission_;
    std::unordered_map<std::string, std::string> prepared_;    // SQL text -> name, on conn_
    std::chrono::steady_clock::time_point next_connect_at_{};  // no connection attempt before
    int listening_on_ = 0;                // the server process that runs this daemon's LISTEN
    std::int64_t last_change_seen_ = -1;  // the newest password change taken, -1 before any
};

}  // namespace fotoauthd
