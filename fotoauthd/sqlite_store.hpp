// The SQLite backend of Store: one file in WAL mode inside a directory only root can enter.
// The schema is versioned with PRAGMA user_version and upgraded by the migrations in
// sqlite_store.cpp, each in its own transaction.
#pragma once

#include "secret_box.hpp"
#include "store.hpp"

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace fotoauthd {

// Creates the database's directory with mode 0700, or checks that an existing one belongs to
// the daemon and is closed to everyone else; throws StoreError otherwise. The keys next to the
// database (secrets.key, shadow-digest.key) need it before the store opens.
void ensure_private_directory(const std::string& database_path);

class SqliteStore final : public Store {
public:
    // Opens (creating if needed) the database at `path`, creating its directory with mode 0700.
    // TOTP secrets are sealed with the current key of `secrets_keys` and opened with any of
    // its keys (secret_box.hpp); secrets a database from before sealing still holds in clear
    // are sealed when it opens. Throws StoreError when a sealed secret opens with no key.
    SqliteStore(const std::string& path, KeyRing secrets_keys);
    ~SqliteStore() override;

    void begin_request() override;
    void end_request(bool commit) override;
    SqliteStore(const SqliteStore&) = delete;
    SqliteStore& operator=(const SqliteStore&) = delete;

    // The schema version this build writes.
    static int schema_version();

    std::optional<std::int64_t> account_for(const AccountKey& key, std::int64_t now, bool create,
                                            bool* retired = nullptr) override;
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

private:
    class Statement;
    class Transaction;

    Statement prepare(const char* sql);
    void execute(const char* sql);
    void migrate();
    void close_after_failed_open() noexcept;
    void seal_plaintext_secrets();
    // Folds the write-ahead log into the database and empties it, so that the pages a secret
    // was overwritten in (zeroed there by secure_delete) leave no older copy behind.
    void truncate_write_ahead_log();
    std::vector<std::uint8_t> unseal(std::vector<std::uint8_t> stored, bool sealed,
                                     std::int64_t account) const;
    void retire_account(std::int64_t account, std::int64_t now);
    // Inside a caller's transaction: the account's recovery codes become exactly these.
    void write_recovery_codes(std::int64_t account, const std::vector<std::string>& code_hashes,
                              std::int64_t now);

    KeyRing box_;
    sqlite3* db_ = nullptr;
    // Between begin_request() and end_request(): the request's transaction is open, and the
    // Transaction of a store method becomes a savepoint inside it.
    bool in_request_ = false;
    // Prepared once and kept for the life of the connection; the key is the SQL literal.
    std::unordered_map<const void*, sqlite3_stmt*> statements_;
};

}  // namespace fotoauthd
