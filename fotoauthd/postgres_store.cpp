#include "postgres_store.hpp"

#include "log.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <cstring>
#include <utility>

namespace fotoauthd {

namespace {

// Each entry upgrades the schema by one version; entry i takes version i to version i + 1.
// Never edit a released entry: add a new one. Version 1 holds what SQLite reached in its
// seven versions, with the secrets always sealed, a server name on every history entry, and a
// claim on outbox mails so that one server only sends each.
constexpr const char* kMigrations[] = {
    R"sql(
    CREATE TABLE accounts (
        id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name          TEXT    NOT NULL,
        uid           BIGINT  NOT NULL,
        local         BOOLEAN NOT NULL,
        created_at    BIGINT  NOT NULL,
        retired_at    BIGINT,
        shadow_digest TEXT    NOT NULL DEFAULT '',
        alert_address TEXT    NOT NULL DEFAULT '',
        last_country  TEXT    NOT NULL DEFAULT '',
        drift_offset  BIGINT  NOT NULL DEFAULT 0,
        drift_seen    BIGINT  NOT NULL DEFAULT 0,
        drift_at      BIGINT  NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX accounts_current_name ON accounts(name) WHERE retired_at IS NULL;

    CREATE TABLE enrolments (
        account_id   BIGINT PRIMARY KEY REFERENCES accounts(id),
        secret       BYTEA  NOT NULL,
        mode         TEXT   NOT NULL,
        active_since BIGINT NOT NULL,
        last_step    BIGINT NOT NULL
    );

    CREATE TABLE pending_enrolments (
        account_id BIGINT PRIMARY KEY REFERENCES accounts(id),
        secret     BYTEA  NOT NULL,
        mode       TEXT   NOT NULL,
        created_at BIGINT NOT NULL
    );

    CREATE TABLE recovery_codes (
        id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        account_id BIGINT NOT NULL REFERENCES accounts(id),
        hash       TEXT   NOT NULL,
        created_at BIGINT NOT NULL,
        used_at    BIGINT
    );
    CREATE INDEX recovery_codes_unused ON recovery_codes(account_id) WHERE used_at IS NULL;

    CREATE TABLE locks (
        account_id   BIGINT NOT NULL REFERENCES accounts(id),
        channel      TEXT   NOT NULL,
        locked_until BIGINT NOT NULL,
        failures     BIGINT NOT NULL,
        PRIMARY KEY (account_id, channel)
    );

    CREATE TABLE trusted_devices (
        id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        account_id BIGINT NOT NULL REFERENCES accounts(id),
        device     TEXT   NOT NULL,
        kind       TEXT   NOT NULL,
        label      TEXT   NOT NULL,
        first_used BIGINT NOT NULL,
        last_used  BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        UNIQUE (account_id, device)
    );

    CREATE TABLE history (
        id         BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        account_id BIGINT  NOT NULL REFERENCES accounts(id),
        at         BIGINT  NOT NULL,
        event      TEXT    NOT NULL,
        service    TEXT    NOT NULL,
        source     TEXT    NOT NULL,
        detail     TEXT    NOT NULL,
        country    TEXT    NOT NULL,
        client     TEXT    NOT NULL,
        unusual    BOOLEAN NOT NULL,
        verified   BOOLEAN NOT NULL,
        server     TEXT    NOT NULL
    );
    CREATE INDEX history_by_account ON history(account_id, id);

    CREATE TABLE burned_steps (
        account_id BIGINT NOT NULL REFERENCES accounts(id),
        step       BIGINT NOT NULL,
        PRIMARY KEY (account_id, step)
    );

    CREATE TABLE outbox (
        id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        account_id      BIGINT NOT NULL REFERENCES accounts(id),
        recipient       TEXT   NOT NULL,
        message         TEXT   NOT NULL,
        created_at      BIGINT NOT NULL,
        next_attempt_at BIGINT NOT NULL,
        attempts        BIGINT NOT NULL DEFAULT 0,
        claimed_until   BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX outbox_due ON outbox(next_attempt_at);
    )sql",
};

constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

// Below the PAM module's 3-second deadline: a slow or unreachable database fails the request
// closed in time for the module to say so, instead of the module giving up first.
constexpr const char* kConnectTimeoutSeconds = "2";
// The server's notices (a table that already exists, ...) are not worth the daemon's log.
constexpr const char* kSessionSettings =
    "SET statement_timeout = 2000; SET client_min_messages = warning";

// How long a server that took a mail from the outbox keeps it before another may try: longer
// than the longest delivery the daemon allows (alert_timeout, at most 600 s), so only a server
// that died while sending loses its claim.
constexpr std::int64_t kMailClaimSeconds = 900;

// Serialises schema upgrades of daemons starting at once on one database ("fotoauth").
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(7308604877357213800)";

std::string first_line(const char* message)
{
    std::string text = message ? message : "";
    const auto end = text.find('\n');
    return end == std::string::npos ? text : text.substr(0, end);
}

}  // namespace

// One parameter of a statement, as text (libpq's text format) or as raw bytes (bytea).
class PostgresStore::Param {
public:
    Param(std::int64_t value) : value_(std::to_string(value)) {}
    Param(const std::string& value) : value_(value) {}
    Param(const std::vector<std::uint8_t>& bytes)
        : value_(bytes.begin(), bytes.end()), binary_(true)
    {
    }
    static Param flag(bool value) { return Param(std::string(value ? "true" : "false")); }

    const std::string& value() const { return value_; }
    bool binary() const { return binary_; }

private:
    std::string value_;
    bool binary_ = false;
};

// A statement's result, freed when this goes out of scope.
class PostgresStore::Result {
public:
    explicit Result(PGresult* result) : result_(result) {}
    Result(Result&& other) noexcept : result_(std::exchange(other.result_, nullptr)) {}
    Result(const Result&) = delete;
    Result& operator=(const Result&) = delete;
    ~Result() { PQclear(result_); }

    bool succeeded() const
    {
        const auto status = PQresultStatus(result_);
        return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
    }
    int rows() const { return PQntuples(result_); }
    bool empty() const { return rows() == 0; }
    // Rows an INSERT, UPDATE or DELETE touched.
    std::size_t affected() const
    {
        std::size_t count = 0;
        const char* text = PQcmdTuples(result_);
        (void)std::from_chars(text, text + std::strlen(text), count);
        return count;
    }

    bool is_null(int row, int column) const { return PQgetisnull(result_, row, column) != 0; }
    std::string text(int row, int column) const
    {
        return std::string(PQgetvalue(result_, row, column),
                           static_cast<std::size_t>(PQgetlength(result_, row, column)));
    }
    std::int64_t integer(int row, int column) const
    {
        const char* text = PQgetvalue(result_, row, column);
        std::int64_t value = 0;
        const auto [end, error] = std::from_chars(text, text + std::strlen(text), value);
        if (error != std::errc())
            throw StoreError("postgresql: a number column holds '" + std::string(text) + "'");
        return value;
    }
    bool flag(int row, int column) const { return PQgetvalue(result_, row, column)[0] == 't'; }
    std::vector<std::uint8_t> bytes(int row, int column) const
    {
        std::size_t length = 0;
        unsigned char* raw = PQunescapeBytea(
            reinterpret_cast<const unsigned char*>(PQgetvalue(result_, row, column)), &length);
        if (!raw)
            throw StoreError("postgresql: cannot decode a bytea column");
        std::vector<std::uint8_t> out(raw, raw + length);
        explicit_bzero(raw, length);
        PQfreemem(raw);
        return out;
    }

private:
    PGresult* result_;
};

// BEGIN ... COMMIT, rolled back when left by an exception.
class PostgresStore::Transaction {
public:
    explicit Transaction(PostgresStore& store) : store_(store)
    {
        store_.run("BEGIN");
        store_.in_transaction_ = true;
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    ~Transaction()
    {
        store_.in_transaction_ = false;
        // A broken connection has no transaction left to roll back; the next call reconnects.
        if (!done_ && store_.conn_ && PQstatus(store_.conn_) == CONNECTION_OK)
            PQclear(PQexec(store_.conn_, "ROLLBACK"));
    }
    void commit()
    {
        store_.run("COMMIT");
        done_ = true;
        store_.in_transaction_ = false;
    }

private:
    PostgresStore& store_;
    bool done_ = false;
};

PostgresStore::PostgresStore(std::string conninfo, std::vector<std::uint8_t> secrets_key,
                             std::string server_name)
    : conninfo_(std::move(conninfo)), box_(std::move(secrets_key)),
      server_name_(std::move(server_name))
{
    connect();
    try {
        migrate();
    } catch (...) {
        // The destructor does not run for a constructor that throws.
        PQfinish(conn_);
        conn_ = nullptr;
        throw;
    }
}

PostgresStore::~PostgresStore()
{
    PQfinish(conn_);
}

int PostgresStore::schema_version()
{
    return kSchemaVersion;
}

void PostgresStore::connect()
{
    // The connection string comes last so that anything it sets (its own connect_timeout, say)
    // wins over these defaults.
    const char* keywords[] = {"connect_timeout", "application_name", "dbname", nullptr};
    const char* values[] = {kConnectTimeoutSeconds, "fotoauthd", conninfo_.c_str(), nullptr};
    PQfinish(conn_);
    conn_ = PQconnectdbParams(keywords, values, 1);
    if (!conn_)
        throw StoreError("postgresql: out of memory");
    if (PQstatus(conn_) != CONNECTION_OK) {
        const std::string message = first_line(PQerrorMessage(conn_));
        PQfinish(conn_);
        conn_ = nullptr;
        throw StoreError("cannot connect to PostgreSQL: " + message);
    }

    PGresult* set = PQexec(conn_, kSessionSettings);
    const bool ok = PQresultStatus(set) == PGRES_COMMAND_OK;
    PQclear(set);
    if (!ok) {
        const std::string message = first_line(PQerrorMessage(conn_));
        PQfinish(conn_);
        conn_ = nullptr;
        throw StoreError("postgresql: cannot set the session's timeout: " + message);
    }
    if (ever_connected_)
        log::info("Reconnected to PostgreSQL");
    ever_connected_ = true;
}

pg_conn* PostgresStore::connection()
{
    // A call that found the connection broken has failed closed; this one starts afresh. Never
    // in the middle of a transaction: its first statements went with the old connection.
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
        if (in_transaction_)
            throw StoreError("postgresql: the connection broke during a transaction");
        connect();
    }
    return conn_;
}

PostgresStore::Result PostgresStore::run(const char* sql, std::initializer_list<Param> params)
{
    std::vector<const char*> values;
    std::vector<int> lengths;
    std::vector<int> formats;
    for (const auto& param : params) {
        values.push_back(param.value().data());
        lengths.push_back(static_cast<int>(param.value().size()));
        formats.push_back(param.binary() ? 1 : 0);
    }

    pg_conn* conn = connection();
    Result result(PQexecParams(conn, sql, static_cast<int>(values.size()), nullptr, values.data(),
                               lengths.data(), formats.data(), 0));
    if (!result.succeeded())
        throw StoreError("postgresql: " + first_line(PQerrorMessage(conn)));
    return result;
}

void PostgresStore::migrate()
{
    Transaction transaction(*this);
    run(kMigrationLock);
    run("CREATE TABLE IF NOT EXISTS fotoauthd_schema (version INTEGER NOT NULL)");
    auto current = run("SELECT version FROM fotoauthd_schema");
    int version = current.empty() ? 0 : static_cast<int>(current.integer(0, 0));
    if (current.empty())
        run("INSERT INTO fotoauthd_schema (version) VALUES (0)");
    if (version > kSchemaVersion)
        throw StoreError("database schema version " + std::to_string(version) +
                         " is newer than this fotoauthd understands (" +
                         std::to_string(kSchemaVersion) + ")");

    // PostgreSQL changes its schema inside a transaction: the upgrade is all or nothing.
    for (; version < kSchemaVersion; ++version) {
        Result applied(PQexec(connection(), kMigrations[version]));
        if (!applied.succeeded())
            throw StoreError("postgresql: schema upgrade to version " +
                             std::to_string(version + 1) +
                             " failed: " + first_line(PQerrorMessage(conn_)));
    }
    run("UPDATE fotoauthd_schema SET version = $1", {std::int64_t{kSchemaVersion}});
    transaction.commit();
}

std::vector<std::uint8_t> PostgresStore::unseal(const std::vector<std::uint8_t>& sealed,
                                                std::int64_t account) const
{
    auto secret = box_.open(sealed, account);
    if (!secret)
        throw StoreError("a TOTP secret does not open with the secrets key " + box_.key_id() +
                         ": every server of the fleet needs the same key (docs/fleet.md)");
    return std::move(*secret);
}

// Calls that write several rows of one account and prune them (history, devices) take the
// account's row first, so that two servers doing it at once keep exact bounds.
void PostgresStore::lock_account(std::int64_t account)
{
    run("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", {account});
}

void PostgresStore::retire_account(std::int64_t account, std::int64_t now)
{
    run("DELETE FROM enrolments WHERE account_id = $1", {account});
    run("DELETE FROM pending_enrolments WHERE account_id = $1", {account});
    run("DELETE FROM recovery_codes WHERE account_id = $1", {account});
    run("DELETE FROM locks WHERE account_id = $1", {account});
    run("DELETE FROM trusted_devices WHERE account_id = $1", {account});
    run("DELETE FROM burned_steps WHERE account_id = $1", {account});
    run("DELETE FROM outbox WHERE account_id = $1", {account});
    run("UPDATE accounts SET retired_at = $1 WHERE id = $2 AND retired_at IS NULL", {now, account});
}

std::optional<std::int64_t> PostgresStore::account_for(const AccountKey& key, std::int64_t now,
                                                       bool create, bool* retired)
{
    const std::int64_t uid = key.uid;
    std::optional<std::int64_t> existing;
    bool matches = false;
    {
        auto found =
            run("SELECT id, uid FROM accounts WHERE name = $1 AND retired_at IS NULL", {key.name});
        if (!found.empty()) {
            existing = found.integer(0, 0);
            matches = found.integer(0, 1) == uid;
        }
    }
    if (retired)
        *retired = existing && !matches;
    if (existing && matches)
        return existing;
    if (!existing && !create)
        return std::nullopt;

    Transaction transaction(*this);
    if (existing) {
        lock_account(*existing);
        retire_account(*existing, now);
    }
    std::optional<std::int64_t> created;
    if (create) {
        // Another server may create the same account at the same moment: the unique index on
        // current names lets one insert win, and this one then takes that row.
        auto inserted = run("INSERT INTO accounts (name, uid, local, created_at) "
                            "VALUES ($1, $2, $3, $4) "
                            "ON CONFLICT (name) WHERE retired_at IS NULL DO NOTHING RETURNING id",
                            {key.name, uid, Param::flag(key.local), now});
        if (!inserted.empty()) {
            created = inserted.integer(0, 0);
        } else {
            auto winner = run("SELECT id, uid FROM accounts WHERE name = $1 AND retired_at IS NULL",
                              {key.name});
            if (winner.empty() || winner.integer(0, 1) != uid)
                throw StoreError("another server created this account with another uid");
            created = winner.integer(0, 0);
        }
    }
    transaction.commit();
    return created;
}

std::vector<LocalAccount> PostgresStore::local_accounts()
{
    auto rows = run("SELECT id, name FROM accounts WHERE local AND retired_at IS NULL");
    std::vector<LocalAccount> out;
    for (int row = 0; row < rows.rows(); ++row)
        out.push_back({rows.integer(row, 0), rows.text(row, 1)});
    return out;
}

void PostgresStore::retire(std::int64_t account, std::int64_t now)
{
    Transaction transaction(*this);
    lock_account(account);
    retire_account(account, now);
    transaction.commit();
}

std::optional<ActiveEnrolment> PostgresStore::active_enrolment(std::int64_t account)
{
    auto row = run("SELECT secret, mode, active_since, last_step FROM enrolments "
                   "WHERE account_id = $1",
                   {account});
    if (row.empty())
        return std::nullopt;

    ActiveEnrolment enrolment;
    enrolment.secret = unseal(row.bytes(0, 0), account);
    enrolment.mode = parse_mode(row.text(0, 1)).value_or(VerificationMode::Always);
    enrolment.active_since = row.integer(0, 2);
    enrolment.last_step = row.integer(0, 3);
    return enrolment;
}

std::optional<PendingEnrolment> PostgresStore::pending_enrolment(std::int64_t account)
{
    auto row = run("SELECT secret, mode, created_at FROM pending_enrolments WHERE account_id = $1",
                   {account});
    if (row.empty())
        return std::nullopt;

    PendingEnrolment pending;
    pending.secret = unseal(row.bytes(0, 0), account);
    pending.mode = parse_mode(row.text(0, 1)).value_or(VerificationMode::Always);
    pending.created_at = row.integer(0, 2);
    return pending;
}

void PostgresStore::save_pending_enrolment(std::int64_t account, const PendingEnrolment& pending)
{
    run("INSERT INTO pending_enrolments (account_id, secret, mode, created_at) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (account_id) DO UPDATE SET "
        "secret = EXCLUDED.secret, mode = EXCLUDED.mode, created_at = EXCLUDED.created_at",
        {account, box_.seal(pending.secret, account), std::string(to_string(pending.mode)),
         pending.created_at});
}

void PostgresStore::delete_pending_enrolment(std::int64_t account)
{
    run("DELETE FROM pending_enrolments WHERE account_id = $1", {account});
}

bool PostgresStore::activate_enrolment(std::int64_t account, std::int64_t accepted_step,
                                       const std::vector<std::string>& code_hashes,
                                       std::int64_t now)
{
    Transaction transaction(*this);
    // Taking the pending row by deleting it decides a race of two confirmations: the second
    // waits for the first and then finds nothing. The sealed secret moves as it is: it is bound
    // to the account, not to the table.
    auto moved = run("WITH claimed AS (DELETE FROM pending_enrolments WHERE account_id = $1 "
                     "RETURNING account_id, secret, mode) "
                     "INSERT INTO enrolments (account_id, secret, mode, active_since, last_step) "
                     "SELECT account_id, secret, mode, $2, $3 FROM claimed "
                     "ON CONFLICT (account_id) DO UPDATE SET secret = EXCLUDED.secret, "
                     "mode = EXCLUDED.mode, active_since = EXCLUDED.active_since, "
                     "last_step = EXCLUDED.last_step",
                     {account, now, accepted_step});
    if (moved.affected() != 1)
        return false;

    // A new secret starts with no trusted device.
    run("DELETE FROM trusted_devices WHERE account_id = $1", {account});
    write_recovery_codes(account, code_hashes, now);
    transaction.commit();
    return true;
}

bool PostgresStore::advance_last_step(std::int64_t account, std::int64_t step)
{
    Transaction transaction(*this);
    // Of two servers updating the row at once, the second waits and then sees the first's
    // step, which its condition no longer passes.
    auto advanced = run("UPDATE enrolments SET last_step = $2 WHERE account_id = $1 "
                        "AND last_step < $2 AND NOT EXISTS "
                        "(SELECT 1 FROM burned_steps WHERE account_id = $1 AND step = $2)",
                        {account, step});
    const bool won = advanced.affected() == 1;
    // Burned steps at or before the last used one can never match again anyway.
    if (won)
        run("DELETE FROM burned_steps WHERE account_id = $1 AND step <= $2", {account, step});
    transaction.commit();
    return won;
}

void PostgresStore::burn_step(std::int64_t account, std::int64_t step)
{
    run("INSERT INTO burned_steps (account_id, step) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        {account, step});
}

DriftRecord PostgresStore::drift(std::int64_t account)
{
    auto row =
        run("SELECT drift_offset, drift_seen, drift_at FROM accounts WHERE id = $1", {account});
    if (row.empty())
        return {};
    return {row.integer(0, 0), row.integer(0, 1), row.integer(0, 2)};
}

void PostgresStore::set_drift(std::int64_t account, const DriftRecord& drift)
{
    run("UPDATE accounts SET drift_offset = $1, drift_seen = $2, drift_at = $3 WHERE id = $4",
        {drift.offset, drift.seen, drift.at, account});
}

std::string PostgresStore::alert_address(std::int64_t account)
{
    auto row = run("SELECT alert_address FROM accounts WHERE id = $1", {account});
    return row.empty() ? std::string() : row.text(0, 0);
}

void PostgresStore::set_alert_address(std::int64_t account, const std::string& address)
{
    run("UPDATE accounts SET alert_address = $1 WHERE id = $2", {address, account});
}

std::string PostgresStore::last_country(std::int64_t account)
{
    auto row = run("SELECT last_country FROM accounts WHERE id = $1", {account});
    return row.empty() ? std::string() : row.text(0, 0);
}

void PostgresStore::set_last_country(std::int64_t account, const std::string& country)
{
    run("UPDATE accounts SET last_country = $1 WHERE id = $2", {country, account});
}

std::optional<OutboxMail> PostgresStore::next_mail(std::int64_t now)
{
    // The mail is claimed in the same statement that finds it, skipping mails another server
    // is claiming right now, so each mail goes to one server only.
    auto row = run("UPDATE outbox SET claimed_until = $1::bigint + $2::bigint WHERE id = "
                   "(SELECT id FROM outbox WHERE next_attempt_at <= $1 AND claimed_until <= $1 "
                   "ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) "
                   "RETURNING id, account_id, recipient, message, created_at, next_attempt_at, "
                   "attempts",
                   {now, kMailClaimSeconds});
    if (row.empty())
        return std::nullopt;
    return OutboxMail{row.integer(0, 0), row.integer(0, 1), row.text(0, 2),   row.text(0, 3),
                      row.integer(0, 4), row.integer(0, 5), row.integer(0, 6)};
}

void PostgresStore::mail_sent(std::int64_t id)
{
    run("DELETE FROM outbox WHERE id = $1", {id});
}

void PostgresStore::mail_failed(std::int64_t id, std::int64_t next_attempt_at)
{
    run("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, claimed_until = 0 "
        "WHERE id = $2",
        {next_attempt_at, id});
}

void PostgresStore::mail_due_by(std::int64_t now)
{
    // A mail another server is sending keeps its claim: only waiting ones become due.
    run("UPDATE outbox SET next_attempt_at = $1 WHERE next_attempt_at > $1", {now});
}

std::size_t PostgresStore::outbox_size()
{
    auto row = run("SELECT COUNT(*) FROM outbox");
    return static_cast<std::size_t>(row.integer(0, 0));
}

std::vector<StoredRecoveryCode> PostgresStore::unused_recovery_codes(std::int64_t account)
{
    auto rows = run("SELECT id, hash FROM recovery_codes WHERE account_id = $1 AND used_at IS NULL "
                    "ORDER BY id",
                    {account});
    std::vector<StoredRecoveryCode> codes;
    for (int row = 0; row < rows.rows(); ++row)
        codes.push_back({rows.integer(row, 0), rows.text(row, 1)});
    return codes;
}

bool PostgresStore::spend_recovery_code(std::int64_t code_id, std::int64_t now)
{
    // The commit returns once the use is on disk (synchronous_commit, PostgreSQL's default).
    auto spent = run("UPDATE recovery_codes SET used_at = $1 WHERE id = $2 AND used_at IS NULL",
                     {now, code_id});
    return spent.affected() == 1;
}

void PostgresStore::save_lock(const StoredLock& lock)
{
    run("INSERT INTO locks (account_id, channel, locked_until, failures) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (account_id, channel) DO UPDATE SET "
        "locked_until = EXCLUDED.locked_until, failures = EXCLUDED.failures",
        {lock.account, lock.channel, lock.locked_until, lock.failures});
}

std::size_t PostgresStore::delete_locks(std::int64_t account)
{
    return run("DELETE FROM locks WHERE account_id = $1", {account}).affected();
}

void PostgresStore::delete_lock(std::int64_t account, const std::string& channel)
{
    run("DELETE FROM locks WHERE account_id = $1 AND channel = $2", {account, channel});
}

std::vector<StoredLock> PostgresStore::locks(std::int64_t now)
{
    auto rows = run("SELECT l.account_id, a.name, l.channel, l.locked_until, l.failures "
                    "FROM locks l JOIN accounts a ON a.id = l.account_id "
                    "WHERE l.locked_until > $1 ORDER BY l.account_id, l.channel",
                    {now});
    std::vector<StoredLock> out;
    for (int row = 0; row < rows.rows(); ++row)
        out.push_back({rows.integer(row, 0), rows.text(row, 1), rows.text(row, 2),
                       rows.integer(row, 3), rows.integer(row, 4)});
    return out;
}

void PostgresStore::set_mode(std::int64_t account, VerificationMode mode)
{
    run("UPDATE enrolments SET mode = $1 WHERE account_id = $2",
        {std::string(to_string(mode)), account});
}

namespace {

StoredDevice device_from(const auto& rows, int row)
{
    return StoredDevice{rows.integer(row, 0), rows.text(row, 1),    rows.text(row, 2),
                        rows.text(row, 3),    rows.integer(row, 4), rows.integer(row, 5),
                        rows.integer(row, 6)};
}

}  // namespace

std::optional<StoredDevice>
PostgresStore::trusted_device(std::int64_t account, const std::string& device, std::int64_t now)
{
    auto rows = run("SELECT id, device, kind, label, first_used, last_used, expires_at "
                    "FROM trusted_devices WHERE account_id = $1 AND device = $2 "
                    "AND expires_at > $3",
                    {account, device, now});
    if (rows.empty())
        return std::nullopt;
    return device_from(rows, 0);
}

void PostgresStore::touch_device(std::int64_t id, std::int64_t now)
{
    run("UPDATE trusted_devices SET last_used = $1 WHERE id = $2", {now, id});
}

void PostgresStore::trust_device(std::int64_t account, const StoredDevice& device,
                                 std::size_t max_devices)
{
    Transaction transaction(*this);
    lock_account(account);
    run("INSERT INTO trusted_devices "
        "(account_id, device, kind, label, first_used, last_used, expires_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (account_id, device) DO UPDATE SET "
        "kind = EXCLUDED.kind, label = EXCLUDED.label, first_used = EXCLUDED.first_used, "
        "last_used = EXCLUDED.last_used, expires_at = EXCLUDED.expires_at",
        {account, device.device, device.kind, device.label, device.first_used, device.last_used,
         device.expires_at});
    run("DELETE FROM trusted_devices WHERE account_id = $1 AND expires_at <= $2",
        {account, device.first_used});
    run("DELETE FROM trusted_devices WHERE account_id = $1 AND id NOT IN "
        "(SELECT id FROM trusted_devices WHERE account_id = $1 "
        "ORDER BY last_used DESC, id DESC LIMIT $2)",
        {account, static_cast<std::int64_t>(max_devices)});
    transaction.commit();
}

std::vector<StoredDevice> PostgresStore::devices(std::int64_t account, std::int64_t now)
{
    auto rows = run("SELECT id, device, kind, label, first_used, last_used, expires_at "
                    "FROM trusted_devices WHERE account_id = $1 AND expires_at > $2 "
                    "ORDER BY last_used DESC, id DESC",
                    {account, now});
    std::vector<StoredDevice> out;
    for (int row = 0; row < rows.rows(); ++row)
        out.push_back(device_from(rows, row));
    return out;
}

std::size_t PostgresStore::forget_devices(std::int64_t account, std::optional<std::int64_t> id)
{
    if (id)
        return run("DELETE FROM trusted_devices WHERE account_id = $1 AND id = $2", {account, *id})
            .affected();
    return run("DELETE FROM trusted_devices WHERE account_id = $1", {account}).affected();
}

std::string PostgresStore::shadow_digest(std::int64_t account)
{
    auto row = run("SELECT shadow_digest FROM accounts WHERE id = $1", {account});
    return row.empty() ? std::string() : row.text(0, 0);
}

void PostgresStore::set_shadow_digest(std::int64_t account, const std::string& digest)
{
    run("UPDATE accounts SET shadow_digest = $1 WHERE id = $2", {digest, account});
}

void PostgresStore::record_history(std::int64_t account, const HistoryEntry& entry,
                                   std::size_t keep, const OutboxMail* alert,
                                   std::size_t outbox_limit)
{
    Transaction transaction(*this);
    lock_account(account);
    run("INSERT INTO history (account_id, at, event, service, source, detail, country, client, "
        "unusual, verified, server) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        {account, entry.at, entry.event, entry.service, entry.source, entry.detail, entry.country,
         entry.client, Param::flag(entry.unusual), Param::flag(entry.verified),
         entry.server.empty() ? server_name_ : entry.server});
    if (alert) {
        run("INSERT INTO outbox (account_id, recipient, message, created_at, next_attempt_at) "
            "VALUES ($1, $2, $3, $4, $5)",
            {account, alert->recipient, alert->message, alert->created_at, alert->next_attempt_at});
        run("DELETE FROM outbox WHERE account_id = $1 AND id NOT IN "
            "(SELECT id FROM outbox WHERE account_id = $1 ORDER BY id DESC LIMIT $2)",
            {account, static_cast<std::int64_t>(outbox_limit)});
    }
    run("DELETE FROM history WHERE account_id = $1 AND id NOT IN "
        "(SELECT id FROM history WHERE account_id = $1 ORDER BY id DESC LIMIT $2)",
        {account, static_cast<std::int64_t>(keep)});
    transaction.commit();
}

std::vector<HistoryEntry> PostgresStore::history(std::int64_t account)
{
    auto rows = run("SELECT at, event, service, source, detail, country, client, unusual, "
                    "verified, server FROM history WHERE account_id = $1 ORDER BY id DESC",
                    {account});
    std::vector<HistoryEntry> out;
    for (int row = 0; row < rows.rows(); ++row)
        out.push_back({rows.integer(row, 0), rows.text(row, 1), rows.text(row, 2),
                       rows.text(row, 3), rows.text(row, 4), rows.text(row, 5), rows.text(row, 6),
                       rows.flag(row, 7), rows.flag(row, 8), rows.text(row, 9)});
    return out;
}

void PostgresStore::replace_recovery_codes(std::int64_t account,
                                           const std::vector<std::string>& code_hashes,
                                           std::int64_t now)
{
    Transaction transaction(*this);
    write_recovery_codes(account, code_hashes, now);
    transaction.commit();
}

void PostgresStore::write_recovery_codes(std::int64_t account,
                                         const std::vector<std::string>& code_hashes,
                                         std::int64_t now)
{
    run("DELETE FROM recovery_codes WHERE account_id = $1", {account});
    for (const auto& hash : code_hashes)
        run("INSERT INTO recovery_codes (account_id, hash, created_at) VALUES ($1, $2, $3)",
            {account, hash, now});
}

void PostgresStore::delete_enrolment(std::int64_t account)
{
    Transaction transaction(*this);
    run("DELETE FROM enrolments WHERE account_id = $1", {account});
    run("DELETE FROM pending_enrolments WHERE account_id = $1", {account});
    run("DELETE FROM recovery_codes WHERE account_id = $1", {account});
    run("DELETE FROM trusted_devices WHERE account_id = $1", {account});
    run("DELETE FROM burned_steps WHERE account_id = $1", {account});
    transaction.commit();
}

}  // namespace fotoauthd
