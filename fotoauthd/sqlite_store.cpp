#include "sqlite_store.hpp"

#include "log.hpp"

#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace fotoauthd {

namespace {

// Each entry upgrades the schema by one version; entry i takes version i to version i + 1.
// Never edit a released entry: add a new one.
constexpr const char* kMigrations[] = {
    // 0 -> 1: accounts, enrolments, recovery codes.
    R"sql(
    CREATE TABLE accounts (
        id            INTEGER PRIMARY KEY,
        name          TEXT    NOT NULL,
        uid           INTEGER NOT NULL,
        local         INTEGER NOT NULL,
        created_at    INTEGER NOT NULL,
        retired_at    INTEGER
    );
    CREATE UNIQUE INDEX accounts_current_name ON accounts(name) WHERE retired_at IS NULL;

    CREATE TABLE enrolments (
        account_id   INTEGER PRIMARY KEY REFERENCES accounts(id),
        secret       BLOB    NOT NULL,
        mode         TEXT    NOT NULL,
        active_since INTEGER NOT NULL,
        last_step    INTEGER NOT NULL
    );

    CREATE TABLE pending_enrolments (
        account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
        secret     BLOB    NOT NULL,
        mode       TEXT    NOT NULL,
        created_at INTEGER NOT NULL
    );

    CREATE TABLE recovery_codes (
        id         INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts(id),
        hash       TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        used_at    INTEGER
    );
    CREATE INDEX recovery_codes_unused ON recovery_codes(account_id) WHERE used_at IS NULL;
    )sql",
    // 1 -> 2: locks after too many wrong codes, per account and channel.
    R"sql(
    CREATE TABLE locks (
        account_id   INTEGER NOT NULL REFERENCES accounts(id),
        channel      TEXT    NOT NULL,
        locked_until INTEGER NOT NULL,
        failures     INTEGER NOT NULL,
        PRIMARY KEY (account_id, channel)
    );
    )sql",
    // 2 -> 3: trusted devices.
    R"sql(
    CREATE TABLE trusted_devices (
        id         INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts(id),
        device     TEXT    NOT NULL,
        kind       TEXT    NOT NULL,
        label      TEXT    NOT NULL,
        first_used INTEGER NOT NULL,
        last_used  INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        UNIQUE (account_id, device)
    );
    )sql",
    // 3 -> 4: a keyed digest of the shadow hash, to notice passwords changed outside PAM.
    R"sql(
    ALTER TABLE accounts ADD COLUMN shadow_digest TEXT NOT NULL DEFAULT '';
    )sql",
    // 4 -> 5: each account's recent logins and security events.
    R"sql(
    CREATE TABLE history (
        id         INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts(id),
        at         INTEGER NOT NULL,
        event      TEXT    NOT NULL,
        service    TEXT    NOT NULL,
        source     TEXT    NOT NULL,
        detail     TEXT    NOT NULL
    );
    CREATE INDEX history_by_account ON history(account_id, id);
    )sql",
    // 5 -> 6: where logins come from and the alerts about them; burned steps and clock drift.
    R"sql(
    ALTER TABLE accounts ADD COLUMN alert_address TEXT NOT NULL DEFAULT '';
    ALTER TABLE accounts ADD COLUMN last_country TEXT NOT NULL DEFAULT '';
    ALTER TABLE accounts ADD COLUMN drift_offset INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE accounts ADD COLUMN drift_seen INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE accounts ADD COLUMN drift_at INTEGER NOT NULL DEFAULT 0;

    ALTER TABLE history ADD COLUMN country TEXT NOT NULL DEFAULT '';
    ALTER TABLE history ADD COLUMN client TEXT NOT NULL DEFAULT '';
    ALTER TABLE history ADD COLUMN unusual INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE history ADD COLUMN verified INTEGER NOT NULL DEFAULT 0;

    CREATE TABLE burned_steps (
        account_id INTEGER NOT NULL REFERENCES accounts(id),
        step       INTEGER NOT NULL,
        PRIMARY KEY (account_id, step)
    );

    CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY,
        account_id      INTEGER NOT NULL REFERENCES accounts(id),
        recipient       TEXT    NOT NULL,
        message         TEXT    NOT NULL,
        created_at      INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX outbox_due ON outbox(next_attempt_at);
    )sql",
    // 6 -> 7: TOTP secrets sealed with the daemon's secrets key (secret_box.hpp). Rows written
    // before are marked 0 and sealed by the daemon when it opens the database.
    R"sql(
    ALTER TABLE enrolments ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE pending_enrolments ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;
    )sql",
};

constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

// The database's directory must hold nothing another user can read. A directory the daemon
// creates is made 0700; an existing one is never changed (it may be shared, like /tmp) but must
// belong to the daemon and be closed to everyone else, or the daemon refuses to start.
void make_private_directory(const std::string& database_path)
{
    const auto slash = database_path.rfind('/');
    if (slash == std::string::npos || slash == 0)
        throw StoreError("the database must be in a directory of its own, not in /");
    const std::string directory = database_path.substr(0, slash);

    for (std::size_t at = 1; at != std::string::npos; at = directory.find('/', at + 1)) {
        const std::string prefix = directory.substr(0, directory.find('/', at + 1));
        const bool last = prefix == directory;
        if (mkdir(prefix.c_str(), last ? 0700 : 0755) == 0) {
            // The daemon's umask is 077; say the intended mode again.
            if (chmod(prefix.c_str(), last ? 0700 : 0755) < 0)
                throw StoreError("cannot set the mode of " + prefix + ": " + std::strerror(errno));
        } else if (errno != EEXIST) {
            throw StoreError("cannot create " + prefix + ": " + std::strerror(errno));
        }
    }

    struct stat st {};
    if (lstat(directory.c_str(), &st) < 0)
        throw StoreError("cannot examine " + directory + ": " + std::strerror(errno));
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0)
        throw StoreError(directory +
                         " must be a directory owned by the daemon's user with no "
                         "access for others (chmod 0700 " +
                         directory + ")");
}

// An existing file of zero bytes is not a fresh install: it is a database that lost its
// content (a truncation, a botched restore). Starting on it would create an empty schema, and
// every enrolled user would log in without MFA. A fresh install has no file at all.
void refuse_an_emptied_database(const std::string& path)
{
    struct stat file {};
    if (stat(path.c_str(), &file) == 0 && S_ISREG(file.st_mode) && file.st_size == 0)
        throw StoreError("the database " + path +
                         " exists but is empty: refusing to start, since every enrolment "
                         "would be lost. Restore it from a backup, or remove it to start "
                         "afresh (docs/runbook.md)");
}

// Why SQLite could not open the file, in words an administrator can act on.
std::string why_not_writable(const std::string& path)
{
    const std::string directory = path.substr(0, path.rfind('/'));
    struct statvfs filesystem {};
    if (statvfs(directory.c_str(), &filesystem) == 0 && (filesystem.f_flag & ST_RDONLY))
        return " (" + directory + " is on a read-only file system)";
    if (access(directory.c_str(), W_OK) != 0)
        return " (" + directory + ": " + std::strerror(errno) + ")";
    return {};
}

}  // namespace

void ensure_private_directory(const std::string& database_path)
{
    make_private_directory(database_path);
}

// How long a statement waits for another connection's write lock before it fails.
constexpr int kBusyTimeoutMs = 1000;

// A cached prepared statement, reset and unbound when this handle goes out of scope.
class SqliteStore::Statement {
public:
    Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    ~Statement()
    {
        (void)sqlite3_reset(stmt_);
        (void)sqlite3_clear_bindings(stmt_);
    }

    Statement& bind(int index, std::int64_t value)
    {
        check(sqlite3_bind_int64(stmt_, index, value));
        return *this;
    }
    Statement& bind(int index, const std::string& value)
    {
        check(sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                                SQLITE_TRANSIENT));
        return *this;
    }
    Statement& bind_blob(int index, const std::vector<std::uint8_t>& value)
    {
        check(sqlite3_bind_blob(stmt_, index, value.data(), static_cast<int>(value.size()),
                                SQLITE_TRANSIENT));
        return *this;
    }

    // True when a row is available, false when the statement is done.
    bool step()
    {
        const int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW)
            return true;
        if (rc == SQLITE_DONE)
            return false;
        throw StoreError(std::string("sqlite: ") + sqlite3_errmsg(db_));
    }

    void run()
    {
        while (step()) {
        }
    }

    std::int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }
    bool is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
    std::string text(int column) const
    {
        const auto* data = sqlite3_column_text(stmt_, column);
        return data ? std::string(reinterpret_cast<const char*>(data),
                                  static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)))
                    : std::string();
    }
    std::vector<std::uint8_t> blob(int column) const
    {
        const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, column));
        const auto size = static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column));
        return data ? std::vector<std::uint8_t>(data, data + size) : std::vector<std::uint8_t>();
    }

private:
    void check(int rc)
    {
        if (rc != SQLITE_OK)
            throw StoreError(std::string("sqlite bind: ") + sqlite3_errmsg(db_));
    }

    sqlite3* db_;
    sqlite3_stmt* stmt_;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back when left by an exception; inside a request's
// transaction a savepoint instead, which rolls back only this part. The statements are cached
// prepared ones: parsing them with sqlite3_exec cost more than the UPDATE of a login between them.
class SqliteStore::Transaction {
public:
    explicit Transaction(SqliteStore& store) : store_(store), nested_(store.in_request_)
    {
        store_.prepare(nested_ ? "SAVEPOINT store_method" : "BEGIN IMMEDIATE").run();
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    ~Transaction()
    {
        if (done_)
            return;
        (void)sqlite3_exec(store_.db_,
                           nested_ ? "ROLLBACK TO store_method; RELEASE store_method" : "ROLLBACK",
                           nullptr, nullptr, nullptr);
    }
    void commit()
    {
        store_.prepare(nested_ ? "RELEASE store_method" : "COMMIT").run();
        done_ = true;
    }

private:
    SqliteStore& store_;
    const bool nested_;
    bool done_ = false;
};

SqliteStore::SqliteStore(const std::string& path, KeyRing secrets_keys)
    : box_(std::move(secrets_keys))
{
    make_private_directory(path);
    refuse_an_emptied_database(path);

    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
        const std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close_v2(db_);
        db_ = nullptr;
        throw StoreError("cannot open " + path + ": " + message + why_not_writable(path));
    }
    (void)sqlite3_extended_result_codes(db_, 1);
    // Shorter than the PAM module's deadline (3 s): a database another process keeps locked
    // fails this request closed instead of holding every other login behind it.
    (void)sqlite3_busy_timeout(db_, kBusyTimeoutMs);

    try {
        // WAL keeps readers off the writer's back; NORMAL sync in WAL mode survives a crash of
        // the daemon (only a power loss can take the last transactions).
        execute("PRAGMA journal_mode = WAL");
        execute("PRAGMA synchronous = NORMAL");
        execute("PRAGMA foreign_keys = ON");
        // Deleted and overwritten content (a secret sealed in place, a removed enrolment) is
        // zeroed in the file rather than left in free pages.
        execute("PRAGMA secure_delete = ON");
        migrate();
        seal_plaintext_secrets();
    } catch (const StoreError& error) {
        close_after_failed_open();
        throw StoreError(path + ": " + error.what() + why_not_writable(path));
    } catch (...) {
        close_after_failed_open();
        throw;
    }
}

// The destructor does not run for a constructor that throws: the statements prepared so far
// must be finalized here, or sqlite3_close_v2 keeps the connection alive as a zombie.
void SqliteStore::close_after_failed_open() noexcept
{
    for (auto& [key, stmt] : statements_)
        (void)sqlite3_finalize(stmt);
    statements_.clear();
    (void)sqlite3_close_v2(db_);
    db_ = nullptr;
}

SqliteStore::~SqliteStore()
{
    if (!db_)
        return;
    for (auto& [key, stmt] : statements_)
        (void)sqlite3_finalize(stmt);
    (void)sqlite3_close_v2(db_);
}

int SqliteStore::schema_version()
{
    return kSchemaVersion;
}

SqliteStore::Statement SqliteStore::prepare(const char* sql)
{
    auto found = statements_.find(sql);
    if (found == statements_.end()) {
        sqlite3_stmt* stmt = nullptr;
        if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) !=
            SQLITE_OK)
            throw StoreError(std::string("sqlite prepare: ") + sqlite3_errmsg(db_));
        found = statements_.emplace(sql, stmt).first;
    }
    return Statement(db_, found->second);
}

void SqliteStore::execute(const char* sql)
{
    char* error = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
        const std::string message = error ? error : sqlite3_errmsg(db_);
        sqlite3_free(error);
        throw StoreError("sqlite: " + message);
    }
}

void SqliteStore::migrate()
{
    int version = 0;
    {
        auto statement = prepare("PRAGMA user_version");
        if (statement.step())
            version = static_cast<int>(statement.integer(0));
    }
    if (version > kSchemaVersion)
        throw StoreError("database schema version " + std::to_string(version) +
                         " is newer than this fotoauthd understands (" +
                         std::to_string(kSchemaVersion) + ")");

    for (; version < kSchemaVersion; ++version) {
        Transaction transaction(*this);
        execute(kMigrations[version]);
        const std::string bump = "PRAGMA user_version = " + std::to_string(version + 1);
        execute(bump.c_str());
        transaction.commit();
    }
}

void SqliteStore::retire_account(std::int64_t account, std::int64_t now)
{
    prepare("DELETE FROM enrolments WHERE account_id = ?").bind(1, account).run();
    prepare("DELETE FROM pending_enrolments WHERE account_id = ?").bind(1, account).run();
    prepare("DELETE FROM recovery_codes WHERE account_id = ?").bind(1, account).run();
    prepare("DELETE FROM locks WHERE account_id = ?").bind(1, account).run();
    prepare("DELETE FROM trusted_devices WHERE account_id = ?").bind(1, account).run();
    prepare("DELETE FROM burned_steps WHERE account_id = ?").bind(1, account).run();
    prepare("DELETE FROM outbox WHERE account_id = ?").bind(1, account).run();
    prepare("UPDATE accounts SET retired_at = ? WHERE id = ?").bind(1, now).bind(2, account).run();
}

std::optional<std::int64_t> SqliteStore::account_for(const AccountKey& key, std::int64_t now,
                                                     bool create, bool* retired)
{
    std::optional<std::int64_t> existing;
    bool matches = false;
    {
        auto statement =
            prepare("SELECT id, uid FROM accounts WHERE name = ? AND retired_at IS NULL");
        statement.bind(1, key.name);
        if (statement.step()) {
            existing = statement.integer(0);
            matches = static_cast<uid_t>(statement.integer(1)) == key.uid;
        }
    }
    if (retired)
        *retired = existing && !matches;
    if (existing && matches)
        return existing;
    if (!existing && !create)
        return std::nullopt;

    Transaction transaction(*this);
    if (existing)
        retire_account(*existing, now);
    std::optional<std::int64_t> created;
    if (create) {
        prepare("INSERT INTO accounts (name, uid, local, created_at) VALUES (?, ?, ?, ?)")
            .bind(1, key.name)
            .bind(2, static_cast<std::int64_t>(key.uid))
            .bind(3, std::int64_t{key.local ? 1 : 0})
            .bind(4, now)
            .run();
        created = sqlite3_last_insert_rowid(db_);
    }
    transaction.commit();
    return created;
}

std::vector<LocalAccount> SqliteStore::local_accounts()
{
    auto statement =
        prepare("SELECT id, name FROM accounts WHERE local = 1 AND retired_at IS NULL");
    std::vector<LocalAccount> out;
    while (statement.step())
        out.push_back({statement.integer(0), statement.text(1)});
    return out;
}

void SqliteStore::retire(std::int64_t account, std::int64_t now)
{
    Transaction transaction(*this);
    retire_account(account, now);
    transaction.commit();
}

void SqliteStore::seal_plaintext_secrets()
{
    bool sealed_any = false;
    for (const char* table : {"enrolments", "pending_enrolments"}) {
        const bool active = std::string_view(table) == "enrolments";
        std::vector<std::pair<std::int64_t, std::vector<std::uint8_t>>> clear;
        {
            auto statement =
                prepare(active ? "SELECT account_id, secret FROM enrolments WHERE sealed = 0"
                               : "SELECT account_id, secret FROM pending_enrolments "
                                 "WHERE sealed = 0");
            while (statement.step())
                clear.emplace_back(statement.integer(0), statement.blob(1));
        }
        if (clear.empty())
            continue;
        Transaction transaction(*this);
        for (auto& [account, secret] : clear) {
            prepare(active ? "UPDATE enrolments SET secret = ?, sealed = 1 WHERE account_id = ?"
                           : "UPDATE pending_enrolments SET secret = ?, sealed = 1 "
                             "WHERE account_id = ?")
                .bind_blob(1, box_.seal(secret, account))
                .bind(2, account)
                .run();
            explicit_bzero(secret.data(), secret.size());
        }
        transaction.commit();
        sealed_any = true;
    }
    // The clear pages may still sit in the write-ahead log: fold it into the database (where
    // secure_delete zeroed them) and empty it.
    if (sealed_any)
        truncate_write_ahead_log();
}

void SqliteStore::truncate_write_ahead_log()
{
    // One row: whether a reader kept the checkpoint from finishing, then page counts.
    auto checkpoint = prepare("PRAGMA wal_checkpoint(TRUNCATE)");
    if (checkpoint.step() && checkpoint.integer(0) != 0)
        log::warning("The write-ahead log was not emptied (another connection was reading): "
                     "older versions of the changed secrets stay in it until the next "
                     "checkpoint");
}

std::vector<std::uint8_t> SqliteStore::unseal(std::vector<std::uint8_t> stored, bool sealed,
                                              std::int64_t account) const
{
    if (!sealed)
        return stored;
    auto opened = box_.open(stored, account);
    if (!opened) {
        const std::string others = box_.other_key_ids();
        throw StoreError("a TOTP secret does not open with the secrets key " + box_.key_id() +
                         (others.empty() ? "" : " nor with " + others) +
                         ": the key file or credential is not the one the database was "
                         "sealed with (docs/secrets.md)");
    }
    return std::move(opened->secret);
}

Store::ResealCount SqliteStore::reseal_secrets()
{
    ResealCount count;
    std::size_t unopened = 0;
    Transaction transaction(*this);
    for (const bool active : {true, false}) {
        // Secrets that another key than the current one opens (or, from a database older than
        // sealing, no key at all because they are in clear).
        std::vector<std::pair<std::int64_t, std::vector<std::uint8_t>>> stale;
        {
            auto statement =
                prepare(active ? "SELECT account_id, secret, sealed FROM enrolments"
                               : "SELECT account_id, secret, sealed FROM pending_enrolments");
            while (statement.step()) {
                const std::int64_t account = statement.integer(0);
                if (statement.integer(2) == 0) {
                    stale.emplace_back(account, statement.blob(1));
                    continue;
                }
                auto opened = box_.open(statement.blob(1), account);
                if (!opened)
                    ++unopened;
                else if (opened->by_current_key)
                    ++count.already_current;
                else
                    stale.emplace_back(account, std::move(opened->secret));
            }
        }
        for (auto& [account, secret] : stale) {
            if (unopened == 0)
                prepare(active ? "UPDATE enrolments SET secret = ?, sealed = 1 WHERE account_id = ?"
                               : "UPDATE pending_enrolments SET secret = ?, sealed = 1 "
                                 "WHERE account_id = ?")
                    .bind_blob(1, box_.seal(secret, account))
                    .bind(2, account)
                    .run();
            explicit_bzero(secret.data(), secret.size());
        }
        count.resealed += stale.size();
    }
    if (unopened != 0) {
        const std::string others = box_.other_key_ids();
        throw StoreError(std::to_string(unopened) + " TOTP secret(s) open with none of the " +
                         "secrets keys (" + box_.key_id() + (others.empty() ? "" : ", " + others) +
                         "): nothing was resealed (docs/secrets.md)");
    }
    transaction.commit();

    // Also when nothing was resealed: a run whose checkpoint a reader stopped is completed by
    // running it again.
    truncate_write_ahead_log();
    return count;
}

std::optional<ActiveEnrolment> SqliteStore::active_enrolment(std::int64_t account)
{
    auto statement = prepare("SELECT secret, mode, active_since, last_step, sealed "
                             "FROM enrolments WHERE account_id = ?");
    statement.bind(1, account);
    if (!statement.step())
        return std::nullopt;

    ActiveEnrolment enrolment;
    enrolment.secret = unseal(statement.blob(0), statement.integer(4) != 0, account);
    enrolment.mode = parse_mode(statement.text(1)).value_or(VerificationMode::Always);
    enrolment.active_since = statement.integer(2);
    enrolment.last_step = statement.integer(3);
    return enrolment;
}

std::optional<PendingEnrolment> SqliteStore::pending_enrolment(std::int64_t account)
{
    auto statement = prepare(
        "SELECT secret, mode, created_at, sealed FROM pending_enrolments WHERE account_id = ?");
    statement.bind(1, account);
    if (!statement.step())
        return std::nullopt;

    PendingEnrolment pending;
    pending.secret = unseal(statement.blob(0), statement.integer(3) != 0, account);
    pending.mode = parse_mode(statement.text(1)).value_or(VerificationMode::Always);
    pending.created_at = statement.integer(2);
    return pending;
}

void SqliteStore::save_pending_enrolment(std::int64_t account, const PendingEnrolment& pending)
{
    prepare("INSERT OR REPLACE INTO pending_enrolments (account_id, secret, mode, created_at, "
            "sealed) VALUES (?, ?, ?, ?, 1)")
        .bind(1, account)
        .bind_blob(2, box_.seal(pending.secret, account))
        .bind(3, std::string(to_string(pending.mode)))
        .bind(4, pending.created_at)
        .run();
}

void SqliteStore::delete_pending_enrolment(std::int64_t account)
{
    prepare("DELETE FROM pending_enrolments WHERE account_id = ?").bind(1, account).run();
}

bool SqliteStore::activate_enrolment(std::int64_t account, std::int64_t accepted_step,
                                     const std::vector<std::string>& code_hashes, std::int64_t now)
{
    Transaction transaction(*this);
    // The sealed secret moves as it is: it is bound to the account, not to the table.
    prepare("INSERT OR REPLACE INTO enrolments (account_id, secret, mode, active_since, last_step, "
            "sealed) SELECT account_id, secret, mode, ?, ?, sealed FROM pending_enrolments "
            "WHERE account_id = ?")
        .bind(1, now)
        .bind(2, accepted_step)
        .bind(3, account)
        .run();
    if (sqlite3_changes(db_) != 1)
        return false;

    delete_pending_enrolment(account);
    // A new secret starts with no trusted device.
    prepare("DELETE FROM trusted_devices WHERE account_id = ?").bind(1, account).run();
    write_recovery_codes(account, code_hashes, now);
    transaction.commit();
    return true;
}

bool SqliteStore::advance_last_step(std::int64_t account, std::int64_t active_since,
                                    std::int64_t step)
{
    Transaction transaction(*this);
    prepare("UPDATE enrolments SET last_step = ? WHERE account_id = ? AND active_since = ? "
            "AND last_step < ? "
            "AND NOT EXISTS (SELECT 1 FROM burned_steps WHERE account_id = ? AND step = ?)")
        .bind(1, step)
        .bind(2, account)
        .bind(3, active_since)
        .bind(4, step)
        .bind(5, account)
        .bind(6, step)
        .run();
    const bool advanced = sqlite3_changes(db_) == 1;
    // Burned steps at or before the last used one can never match again anyway.
    if (advanced)
        prepare("DELETE FROM burned_steps WHERE account_id = ? AND step <= ?")
            .bind(1, account)
            .bind(2, step)
            .run();
    transaction.commit();
    return advanced;
}

void SqliteStore::burn_step(std::int64_t account, std::int64_t step)
{
    prepare("INSERT OR IGNORE INTO burned_steps (account_id, step) VALUES (?, ?)")
        .bind(1, account)
        .bind(2, step)
        .run();
}

DriftRecord SqliteStore::drift(std::int64_t account)
{
    auto statement =
        prepare("SELECT drift_offset, drift_seen, drift_at FROM accounts WHERE id = ?");
    statement.bind(1, account);
    if (!statement.step())
        return {};
    return {statement.integer(0), statement.integer(1), statement.integer(2)};
}

void SqliteStore::set_drift(std::int64_t account, const DriftRecord& drift)
{
    prepare("UPDATE accounts SET drift_offset = ?, drift_seen = ?, drift_at = ? WHERE id = ?")
        .bind(1, drift.offset)
        .bind(2, drift.seen)
        .bind(3, drift.at)
        .bind(4, account)
        .run();
}

std::string SqliteStore::alert_address(std::int64_t account)
{
    auto statement = prepare("SELECT alert_address FROM accounts WHERE id = ?");
    statement.bind(1, account);
    return statement.step() ? statement.text(0) : std::string();
}

void SqliteStore::set_alert_address(std::int64_t account, const std::string& address)
{
    prepare("UPDATE accounts SET alert_address = ? WHERE id = ?")
        .bind(1, address)
        .bind(2, account)
        .run();
}

std::string SqliteStore::last_country(std::int64_t account)
{
    auto statement = prepare("SELECT last_country FROM accounts WHERE id = ?");
    statement.bind(1, account);
    return statement.step() ? statement.text(0) : std::string();
}

void SqliteStore::set_last_country(std::int64_t account, const std::string& country)
{
    prepare("UPDATE accounts SET last_country = ? WHERE id = ?")
        .bind(1, country)
        .bind(2, account)
        .run();
}

std::optional<OutboxMail> SqliteStore::next_mail(std::int64_t now)
{
    auto statement = prepare("SELECT id, account_id, recipient, message, created_at, "
                             "next_attempt_at, attempts FROM outbox WHERE next_attempt_at <= ? "
                             "ORDER BY next_attempt_at, id LIMIT 1");
    statement.bind(1, now);
    if (!statement.step())
        return std::nullopt;
    return OutboxMail{statement.integer(0), statement.integer(1), statement.text(2),
                      statement.text(3),    statement.integer(4), statement.integer(5),
                      statement.integer(6)};
}

void SqliteStore::mail_sent(std::int64_t id)
{
    prepare("DELETE FROM outbox WHERE id = ?").bind(1, id).run();
}

void SqliteStore::mail_failed(std::int64_t id, std::int64_t next_attempt_at)
{
    prepare("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?")
        .bind(1, next_attempt_at)
        .bind(2, id)
        .run();
}

void SqliteStore::mail_due_by(std::int64_t now)
{
    prepare("UPDATE outbox SET next_attempt_at = ? WHERE next_attempt_at > ?")
        .bind(1, now)
        .bind(2, now)
        .run();
}

std::size_t SqliteStore::outbox_size()
{
    auto statement = prepare("SELECT COUNT(*) FROM outbox");
    return statement.step() ? static_cast<std::size_t>(statement.integer(0)) : 0;
}

std::vector<StoredRecoveryCode> SqliteStore::unused_recovery_codes(std::int64_t account)
{
    auto statement =
        prepare("SELECT id, hash FROM recovery_codes WHERE account_id = ? AND used_at IS NULL");
    statement.bind(1, account);
    std::vector<StoredRecoveryCode> codes;
    while (statement.step())
        codes.push_back({statement.integer(0), statement.text(1)});
    return codes;
}

std::size_t SqliteStore::count_unused_recovery_codes(std::int64_t account)
{
    auto statement =
        prepare("SELECT count(*) FROM recovery_codes WHERE account_id = ? AND used_at IS NULL");
    statement.bind(1, account);
    return statement.step() ? static_cast<std::size_t>(statement.integer(0)) : 0;
}

void SqliteStore::begin_request()
{
    // IMMEDIATE takes the write lock with the read lock: a request that writes after reading
    // then never finds its snapshot outdated by another writer. Another process may hold the
    // write lock (fotoauthd --reseal-secrets, a backup tool writing): then the request runs
    // statement by statement, as each did before, so that what can be done without writing (a
    // wrong code counted in memory, the lock it earns) is still done and the writes wait for
    // the lock one by one. Not waiting here keeps the request within the client's timeout.
    (void)sqlite3_busy_timeout(db_, 0);
    try {
        prepare("BEGIN IMMEDIATE").run();
        in_request_ = true;
    } catch (const StoreError&) {
        in_request_ = false;
    }
    (void)sqlite3_busy_timeout(db_, kBusyTimeoutMs);
}

void SqliteStore::end_request(bool commit)
{
    if (!in_request_)
        return;
    in_request_ = false;
    if (commit) {
        try {
            prepare("COMMIT").run();
            return;
        } catch (const StoreError&) {
            (void)sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
            throw;
        }
    }
    (void)sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

bool SqliteStore::spend_recovery_code(std::int64_t code_id, std::int64_t now)
{
    // Inside a request: what the request did so far is committed first, since the level of
    // synchronisation can only change between transactions; the request goes on in a new one.
    struct RequestPaused {
        SqliteStore& store;
        const bool was_open = store.in_request_;
        RequestPaused(SqliteStore& s) : store(s)
        {
            if (was_open) {
                store.prepare("COMMIT").run();
                store.in_request_ = false;
            }
        }
        ~RequestPaused()
        {
            // Should that fail, the rest of the request runs statement by statement.
            if (was_open &&
                sqlite3_exec(store.db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK)
                store.in_request_ = true;
        }
    } paused{*this};

    // A recovery code is single use forever, so its use must survive a power loss too: this
    // one commit waits for the disk (a used TOTP step only has to outlive a crash of the daemon,
    // which NORMAL already gives, since it could match again only within its window).
    execute("PRAGMA synchronous = FULL");
    struct BackToNormal {
        SqliteStore& store;
        ~BackToNormal()
        {
            (void)sqlite3_exec(store.db_, "PRAGMA synchronous = NORMAL", nullptr, nullptr, nullptr);
        }
    } back_to_normal{*this};
    prepare("UPDATE recovery_codes SET used_at = ? WHERE id = ? AND used_at IS NULL")
        .bind(1, now)
        .bind(2, code_id)
        .run();
    return sqlite3_changes(db_) == 1;
}

void SqliteStore::save_lock(const StoredLock& lock)
{
    prepare("INSERT OR REPLACE INTO locks (account_id, channel, locked_until, failures) "
            "VALUES (?, ?, ?, ?)")
        .bind(1, lock.account)
        .bind(2, lock.channel)
        .bind(3, lock.locked_until)
        .bind(4, lock.failures)
        .run();
}

std::size_t SqliteStore::delete_locks(std::int64_t account)
{
    prepare("DELETE FROM locks WHERE account_id = ?").bind(1, account).run();
    return static_cast<std::size_t>(sqlite3_changes(db_));
}

void SqliteStore::delete_lock(std::int64_t account, const std::string& channel)
{
    prepare("DELETE FROM locks WHERE account_id = ? AND channel = ?")
        .bind(1, account)
        .bind(2, channel)
        .run();
}

std::vector<StoredLock> SqliteStore::locks(std::int64_t now)
{
    auto statement =
        prepare("SELECT l.account_id, a.name, l.channel, l.locked_until, l.failures FROM locks l "
                "JOIN accounts a ON a.id = l.account_id WHERE l.locked_until > ?");
    statement.bind(1, now);
    std::vector<StoredLock> out;
    while (statement.step())
        out.push_back({statement.integer(0), statement.text(1), statement.text(2),
                       statement.integer(3), statement.integer(4)});
    return out;
}

void SqliteStore::set_mode(std::int64_t account, VerificationMode mode)
{
    prepare("UPDATE enrolments SET mode = ? WHERE account_id = ?")
        .bind(1, std::string(to_string(mode)))
        .bind(2, account)
        .run();
}

std::optional<StoredDevice> SqliteStore::trusted_device(std::int64_t account,
                                                        const std::string& device, std::int64_t now)
{
    auto statement = prepare(
        "SELECT id, device, kind, label, first_used, last_used, expires_at FROM trusted_devices "
        "WHERE account_id = ? AND device = ? AND expires_at > ?");
    statement.bind(1, account).bind(2, device).bind(3, now);
    if (!statement.step())
        return std::nullopt;
    return StoredDevice{statement.integer(0), statement.text(1),    statement.text(2),
                        statement.text(3),    statement.integer(4), statement.integer(5),
                        statement.integer(6)};
}

void SqliteStore::touch_device(std::int64_t id, std::int64_t now)
{
    prepare("UPDATE trusted_devices SET last_used = ? WHERE id = ?").bind(1, now).bind(2, id).run();
}

void SqliteStore::trust_device(std::int64_t account, const StoredDevice& device,
                               std::size_t max_devices)
{
    Transaction transaction(*this);
    prepare("INSERT OR REPLACE INTO trusted_devices "
            "(account_id, device, kind, label, first_used, last_used, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)")
        .bind(1, account)
        .bind(2, device.device)
        .bind(3, device.kind)
        .bind(4, device.label)
        .bind(5, device.first_used)
        .bind(6, device.last_used)
        .bind(7, device.expires_at)
        .run();
    prepare("DELETE FROM trusted_devices WHERE account_id = ? AND expires_at <= ?")
        .bind(1, account)
        .bind(2, device.first_used)
        .run();
    prepare("DELETE FROM trusted_devices WHERE account_id = ? AND id NOT IN "
            "(SELECT id FROM trusted_devices WHERE account_id = ? "
            "ORDER BY last_used DESC, id DESC LIMIT ?)")
        .bind(1, account)
        .bind(2, account)
        .bind(3, static_cast<std::int64_t>(max_devices))
        .run();
    transaction.commit();
}

std::vector<StoredDevice> SqliteStore::devices(std::int64_t account, std::int64_t now)
{
    auto statement = prepare(
        "SELECT id, device, kind, label, first_used, last_used, expires_at FROM trusted_devices "
        "WHERE account_id = ? AND expires_at > ? ORDER BY last_used DESC, id DESC");
    statement.bind(1, account).bind(2, now);
    std::vector<StoredDevice> out;
    while (statement.step())
        out.push_back({statement.integer(0), statement.text(1), statement.text(2),
                       statement.text(3), statement.integer(4), statement.integer(5),
                       statement.integer(6)});
    return out;
}

std::size_t SqliteStore::forget_devices(std::int64_t account, std::optional<std::int64_t> id)
{
    if (id)
        prepare("DELETE FROM trusted_devices WHERE account_id = ? AND id = ?")
            .bind(1, account)
            .bind(2, *id)
            .run();
    else
        prepare("DELETE FROM trusted_devices WHERE account_id = ?").bind(1, account).run();
    return static_cast<std::size_t>(sqlite3_changes(db_));
}

std::string SqliteStore::shadow_digest(std::int64_t account)
{
    auto statement = prepare("SELECT shadow_digest FROM accounts WHERE id = ?");
    statement.bind(1, account);
    return statement.step() ? statement.text(0) : std::string();
}

void SqliteStore::set_shadow_digest(std::int64_t account, const std::string& digest)
{
    prepare("UPDATE accounts SET shadow_digest = ? WHERE id = ?")
        .bind(1, digest)
        .bind(2, account)
        .run();
}

void SqliteStore::record_history(std::int64_t account, const HistoryEntry& entry, std::size_t keep,
                                 const OutboxMail* alert, std::size_t outbox_limit)
{
    Transaction transaction(*this);
    prepare("INSERT INTO history (account_id, at, event, service, source, detail, country, "
            "client, unusual, verified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(1, account)
        .bind(2, entry.at)
        .bind(3, entry.event)
        .bind(4, entry.service)
        .bind(5, entry.source)
        .bind(6, entry.detail)
        .bind(7, entry.country)
        .bind(8, entry.client)
        .bind(9, std::int64_t{entry.unusual ? 1 : 0})
        .bind(10, std::int64_t{entry.verified ? 1 : 0})
        .run();
    if (alert) {
        prepare("INSERT INTO outbox (account_id, recipient, message, created_at, "
                "next_attempt_at) VALUES (?, ?, ?, ?, ?)")
            .bind(1, account)
            .bind(2, alert->recipient)
            .bind(3, alert->message)
            .bind(4, alert->created_at)
            .bind(5, alert->next_attempt_at)
            .run();
        prepare("DELETE FROM outbox WHERE account_id = ? AND id NOT IN "
                "(SELECT id FROM outbox WHERE account_id = ? ORDER BY id DESC LIMIT ?)")
            .bind(1, account)
            .bind(2, account)
            .bind(3, static_cast<std::int64_t>(outbox_limit))
            .run();
    }
    // Ids grow with time: everything at or below the keep+1-th newest id goes. One walk down the
    // (account_id, id) index, where NOT IN (... LIMIT keep) built a temporary table of the kept
    // ids and compared every row of the account with it.
    prepare("DELETE FROM history WHERE account_id = ? AND id <= "
            "(SELECT id FROM history WHERE account_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)")
        .bind(1, account)
        .bind(2, account)
        .bind(3, static_cast<std::int64_t>(keep))
        .run();
    transaction.commit();
}

std::vector<HistoryEntry> SqliteStore::history(std::int64_t account)
{
    auto statement =
        prepare("SELECT at, event, service, source, detail, country, client, "
                "unusual, verified FROM history WHERE account_id = ? ORDER BY id DESC");
    statement.bind(1, account);
    std::vector<HistoryEntry> out;
    while (statement.step())
        out.push_back({statement.integer(0), statement.text(1), statement.text(2),
                       statement.text(3), statement.text(4), statement.text(5), statement.text(6),
                       statement.integer(7) != 0, statement.integer(8) != 0,
                       std::string()});  // one daemon per SQLite file: no server name
    return out;
}

void SqliteStore::replace_recovery_codes(std::int64_t account,
                                         const std::vector<std::string>& code_hashes,
                                         std::int64_t now)
{
    Transaction transaction(*this);
    write_recovery_codes(account, code_hashes, now);
    transaction.commit();
}

void SqliteStore::write_recovery_codes(std::int64_t account,
                                       const std::vector<std::string>& code_hashes,
                                       std::int64_t now)
{
    prepare("DELETE FROM recovery_codes WHERE account_id = ?").bind(1, account).run();
    for (const auto& hash : code_hashes)
        prepare("INSERT INTO recovery_codes (account_id, hash, created_at) VALUES (?, ?, ?)")
            .bind(1, account)
            .bind(2, hash)
            .bind(3, now)
            .run();
}

void SqliteStore::delete_enrolment(std::int64_t account)
{
    Transaction transaction(*this);
    prepare("DELETE FROM enrolments WHERE account_id = ?").bind(1, account).run();
    prepare("DELETE FROM pending_enrolments WHERE account_id = ?").bind(1, account).run();
    prepare("DELETE FROM recovery_codes WHERE account_id = ?").bind(1, account).run();
    prepare("DELETE FROM trusted_devices WHERE account_id = ?").bind(1, account).run();
    prepare("DELETE FROM burned_steps WHERE account_id = ?").bind(1, account).run();
    transaction.commit();
}

}  // namespace fotoauthd
