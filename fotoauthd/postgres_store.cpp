#include "postgres_store.hpp"

#include "log.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <span>
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
    // Version 2: the rate-limit windows, shared by the fleet and timed on the database's clock
    // (shared_limits.hpp). One row per counted attempt, at most the window's limit per key.
    // count_attempt() counts one attempt under a lock on its key, so that the attempts of all
    // servers add up exactly and the one that fills a window is seen by one server only.
    R"sql(
    CREATE TABLE attempts (
        window_name TEXT   NOT NULL,
        key         TEXT   NOT NULL,
        label       TEXT   NOT NULL,
        at_ms       BIGINT NOT NULL
    );
    CREATE INDEX attempts_by_key ON attempts(window_name, key, at_ms);
    CREATE INDEX attempts_by_age ON attempts(window_name, at_ms);

    CREATE FUNCTION fotoauthd_now_ms() RETURNS BIGINT LANGUAGE sql VOLATILE AS
        $$ SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;

    CREATE FUNCTION fotoauthd_count_attempt(p_window TEXT, p_key TEXT, p_label TEXT,
                                            p_limit BIGINT, p_window_ms BIGINT)
    RETURNS BIGINT LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
        now_ms BIGINT;
        kept   BIGINT;
    BEGIN
        -- Held until the calling statement's transaction ends: one attempt per key at a time.
        PERFORM pg_advisory_xact_lock(hashtextextended(p_window || E'\t' || p_key, 0));
        now_ms := fotoauthd_now_ms();
        INSERT INTO attempts (window_name, key, label, at_ms)
            VALUES (p_window, p_key, p_label, now_ms);
        -- Only the newest p_limit attempts inside the window decide anything.
        DELETE FROM attempts WHERE ctid IN (
            SELECT ctid FROM attempts
            WHERE window_name = p_window AND key = p_key AND at_ms > now_ms - p_window_ms
            ORDER BY at_ms DESC OFFSET p_limit);
        -- Attempts that left their window a minute ago, of any key, without waiting for rows
        -- another server is removing (the minute keeps this apart from the rows counted above).
        DELETE FROM attempts WHERE ctid IN (
            SELECT ctid FROM attempts
            WHERE window_name = p_window AND at_ms <= now_ms - p_window_ms - 60000
            LIMIT 100 FOR UPDATE SKIP LOCKED);
        SELECT count(*) INTO kept FROM attempts
            WHERE window_name = p_window AND key = p_key AND at_ms > now_ms - p_window_ms;
        RETURN kept;
    END $$;

    -- Password changes, announced to the other servers with NOTIFY fotoauthd_password_changed
    -- and kept for a day, so that a server whose connection was down catches up when it is back.
    CREATE TABLE password_changes (
        id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name   TEXT   NOT NULL,
        uid    BIGINT NOT NULL,
        server TEXT   NOT NULL,
        at_ms  BIGINT NOT NULL
    );

    -- The digest of an account's password hash as each server last saw it in its own shadow
    -- file: servers whose files differ (local accounts made on each) must not take each other's
    -- digest for a password change. The column of version 1 is left unused.
    -- The server whose /etc/passwd held a local account when it was made: only that server
    -- retires it when the name leaves its file (empty: made before version 2, never retired
    -- that way).
    ALTER TABLE accounts ADD COLUMN local_server TEXT NOT NULL DEFAULT '';

    CREATE TABLE shadow_digests (
        account_id BIGINT NOT NULL REFERENCES accounts(id),
        server     TEXT   NOT NULL,
        digest     TEXT   NOT NULL,
        PRIMARY KEY (account_id, server)
    );
    )sql",
    // Version 3: expired attempts are removed by every daemon once a second
    // (SharedLimits::forget_expired), no longer by every count. That removal walked the index
    // over the rows deleted before and not yet vacuumed, and was most of an attempt's cost.
    R"sql(
    CREATE OR REPLACE FUNCTION fotoauthd_count_attempt(p_window TEXT, p_key TEXT, p_label TEXT,
                                                       p_limit BIGINT, p_window_ms BIGINT)
    RETURNS BIGINT LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
        now_ms BIGINT;
        kept   BIGINT;
    BEGIN
        -- Held until the calling statement's transaction ends: one attempt per key at a time.
        PERFORM pg_advisory_xact_lock(hashtextextended(p_window || E'\t' || p_key, 0));
        now_ms := fotoauthd_now_ms();
        INSERT INTO attempts (window_name, key, label, at_ms)
            VALUES (p_window, p_key, p_label, now_ms);
        -- Only the newest p_limit attempts inside the window decide anything.
        DELETE FROM attempts WHERE ctid IN (
            SELECT ctid FROM attempts
            WHERE window_name = p_window AND key = p_key AND at_ms > now_ms - p_window_ms
            ORDER BY at_ms DESC OFFSET p_limit);
        SELECT count(*) INTO kept FROM attempts
            WHERE window_name = p_window AND key = p_key AND at_ms > now_ms - p_window_ms;
        RETURN kept;
    END $$;
    )sql",
    // Version 4: the same count, which removes attempts beyond the limit only when there are
    // any (the attempt past the limit), instead of looking for them at every count. The same
    // function, so a daemon of version 3 still running counts the same way.
    R"sql(
    CREATE OR REPLACE FUNCTION fotoauthd_count_attempt(p_window TEXT, p_key TEXT, p_label TEXT,
                                                       p_limit BIGINT, p_window_ms BIGINT)
    RETURNS BIGINT LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
        now_ms BIGINT;
        kept   BIGINT;
    BEGIN
        -- Held until the calling statement's transaction ends: one attempt per key at a time.
        PERFORM pg_advisory_xact_lock(hashtextextended(p_window || E'\t' || p_key, 0));
        now_ms := fotoauthd_now_ms();
        INSERT INTO attempts (window_name, key, label, at_ms)
            VALUES (p_window, p_key, p_label, now_ms);
        SELECT count(*) INTO kept FROM attempts
            WHERE window_name = p_window AND key = p_key AND at_ms > now_ms - p_window_ms;
        -- Only the newest p_limit attempts inside the window decide anything.
        IF kept > p_limit THEN
            DELETE FROM attempts WHERE ctid IN (
                SELECT ctid FROM attempts
                WHERE window_name = p_window AND key = p_key AND at_ms > now_ms - p_window_ms
                ORDER BY at_ms DESC OFFSET p_limit);
            kept := p_limit;
        END IF;
        RETURN kept;
    END $$;
    )sql",
};

constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

// Below the PAM module's 3-second deadline: a slow or unreachable database fails the request
// closed in time for the module to say so, instead of the module giving up first.
constexpr const char* kConnectTimeoutSeconds = "2";
// The server's notices (a table that already exists, ...) are not worth the daemon's log.
// Every prepared statement keeps one plan for any parameters: they all look rows up by keys
// that have an index, so the parameters never change the best plan, and the server left to
// itself may plan a statement again at every call (in a logged benchmark run the bind of a
// login's two readings took 45 and 32 µs with one plan, 57 and 38 without; bench/FLEET.md).
constexpr const char* kSessionSettings = "SET statement_timeout = 2000; SET client_min_messages = "
                                         "warning; SET plan_cache_mode = force_generic_plan";

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
        // A broken or dropped connection has no transaction left to roll back; the next call
        // reconnects. The rollback is bounded like every statement; when it fails, the
        // connection is broken or dropped, and that is all there is to do.
        if (!done_ && store_.conn_ && PQstatus(store_.conn_) == CONNECTION_OK) {
            try {
                store_.run("ROLLBACK");
            } catch (...) {
            }
        }
        store_.in_transaction_ = false;
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

PostgresStore::PostgresStore(std::string conninfo, KeyRing secrets_keys, std::string server_name)
    : conninfo_(std::move(conninfo)), box_(std::move(secrets_keys)),
      server_name_(std::move(server_name))
{
    connect();
    try {
        migrate();
        // From now on password changes announced by the other servers are this one's business.
        (void)password_changes_elsewhere();
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

// How long the daemon waits for an answer of the server, whatever its statement_timeout says: a
// server that hangs, or a network that drops its packets, never sends the error the timeout
// would, and the daemon would wait for minutes. Longer than statement_timeout (2 s), so that a
// server that is only slow cancels the statement itself and the connection stays usable.
constexpr auto kAnswerDeadline = std::chrono::milliseconds(2500);
// How long after a connection attempt that failed slowly (a timeout, not a refusal) the next
// one waits (see connection()).
constexpr auto kConnectPause = std::chrono::seconds(5);
constexpr auto kSlowConnect = std::chrono::milliseconds(500);
// At most this many prepared statements per connection (the daemon has about a hundred).
constexpr std::size_t kMostPrepared = 512;

// The result of what was sent last on `conn` (its first error when a statement failed), or
// nullptr when no complete answer came before `deadline`.
static PGresult* answer_before(pg_conn* conn, std::chrono::steady_clock::time_point deadline)
{
    PGresult* kept = nullptr;
    for (;;) {
        while (PQisBusy(conn)) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            pollfd readable{PQsocket(conn), POLLIN, 0};
            const int ready =
                left.count() > 0 ? poll(&readable, 1, static_cast<int>(left.count()) + 1) : 0;
            if (ready == 0 || (ready < 0 && errno != EINTR)) {
                PQclear(kept);
                return nullptr;
            }
            // A connection that broke leaves the loop; PQgetResult then reports why at once.
            if (ready > 0 && PQconsumeInput(conn) != 1 && PQstatus(conn) == CONNECTION_BAD)
                break;
        }
        PGresult* next = PQgetResult(conn);
        if (!next)
            return kept;
        if (kept && PQresultStatus(kept) == PGRES_FATAL_ERROR) {
            PQclear(next);
        } else {
            PQclear(kept);
            kept = next;
        }
    }
}

void PostgresStore::connect()
{
    // The connection string comes last so that anything it sets (its own connect_timeout, say)
    // wins over these defaults.
    const char* keywords[] = {"connect_timeout", "application_name", "dbname", nullptr};
    const char* values[] = {kConnectTimeoutSeconds, "fotoauthd", conninfo_.c_str(), nullptr};
    PQfinish(conn_);
    prepared_.clear();  // prepared statements belong to the session that prepared them
    conn_ = PQconnectdbParams(keywords, values, 1);
    if (!conn_)
        throw StoreError("postgresql: out of memory");
    if (PQstatus(conn_) != CONNECTION_OK) {
        const std::string message = first_line(PQerrorMessage(conn_));
        PQfinish(conn_);
        conn_ = nullptr;
        throw StoreError("cannot connect to PostgreSQL: " + message);
    }
    // The server's warnings (the session ended by a shutdown or a failover, say) go to the
    // daemon's log, not raw onto stderr.
    PQsetNoticeProcessor(
        conn_,
        [](void*, const char* message) {
            log::warning("PostgreSQL warns", {{"POSTGRESQL", first_line(message)}});
        },
        nullptr);

    PGresult* set = PQsendQuery(conn_, kSessionSettings)
                        ? answer_before(conn_, std::chrono::steady_clock::now() + kAnswerDeadline)
                        : nullptr;
    const bool ok = set && PQresultStatus(set) == PGRES_COMMAND_OK;
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

void PostgresStore::read_what_came_while_idle()
{
    // A server that ended the session while this daemon was idle (a restart, a failover) has
    // sent its last words and closed the socket already: reading up to the end now marks the
    // connection broken before anything is sent. A few rounds are enough; a live idle session
    // has nothing to read but notifications.
    if (!conn_ || in_transaction_)
        return;
    pollfd idle{PQsocket(conn_), POLLIN, 0};
    for (int round = 0; round < 4 && poll(&idle, 1, 0) > 0; ++round) {
        if (PQconsumeInput(conn_) != 1)
            break;
        (void)PQisBusy(conn_);  // parses what came, so that its warnings are logged
    }
}

bool PostgresStore::up_for_background_work()
{
    // The daemon's background work (once a second) never connects: a request does that, within
    // its deadline. A session the server ended counts as down.
    read_what_came_while_idle();
    return conn_ && !in_transaction_ && PQstatus(conn_) == CONNECTION_OK;
}

pg_conn* PostgresStore::connection()
{
    // So that a request connects again instead of failing on a session the server ended.
    read_what_came_while_idle();

    // A call that found the connection broken has failed closed; this one starts afresh. Never
    // in the middle of a transaction: its first statements went with the old connection.
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
        if (in_transaction_)
            throw StoreError("postgresql: the connection broke during a transaction");
        // A database that did not answer a moment ago is not tried again at once: each try
        // holds the daemon for the whole connect timeout, and the daemon's background work
        // (the outbox, the accounts check) would try every second, leaving no time for logins.
        // Requests meanwhile fail closed at once.
        if (std::chrono::steady_clock::now() < next_connect_at_)
            throw StoreError("postgresql: the database could not be reached a moment ago; the "
                             "next try is within " +
                             std::to_string(kConnectPause.count()) + " seconds");
        const auto started = std::chrono::steady_clock::now();
        try {
            connect();
        } catch (const StoreError&) {
            // A refused connection (a stopped server) costs nothing: only a slow failure pauses.
            const auto now = std::chrono::steady_clock::now();
            if (now - started >= kSlowConnect)
                next_connect_at_ = now + kConnectPause;
            throw;
        }
    }
    return conn_;
}

PostgresStore::Result PostgresStore::answer_or_drop(pg_conn* conn,
                                                    std::chrono::steady_clock::time_point deadline)
{
    PGresult* answer = answer_before(conn, deadline);
    if (!answer) {
        // Where the statement got to is unknown: the session is dropped (a transaction it was
        // in rolls back on the server) and the next call connects again.
        PQfinish(conn_);
        conn_ = nullptr;
        throw StoreError("postgresql: no answer within 2.5 seconds; the connection is dropped");
    }
    Result result(answer);
    if (!result.succeeded())
        throw StoreError("postgresql: " + first_line(PQerrorMessage(conn)));
    return result;
}

const std::string* PostgresStore::prepared(pg_conn* conn, const char* sql)
{
    // The daemon's statements are few and fixed: each is parsed once per connection and then
    // only executed (the server plans it once too, after a few runs), instead of being parsed and
    // planned again at every call. Only the four plain kinds can be prepared, and the table is
    // bounded in case a statement text ever varies.
    std::string text(sql);
    if (const auto found = prepared_.find(text); found != prepared_.end())
        return &found->second;
    const bool plain = text.starts_with("SELECT") || text.starts_with("INSERT") ||
                       text.starts_with("UPDATE") || text.starts_with("DELETE") ||
                       text.starts_with("WITH");
    if (!plain || prepared_.size() >= kMostPrepared)
        return nullptr;

    std::string name = "fotoauthd_" + std::to_string(prepared_.size() + 1);
    if (!PQsendPrepare(conn, name.c_str(), sql, 0, nullptr))
        throw StoreError("postgresql: " + first_line(PQerrorMessage(conn)));
    (void)answer_or_drop(conn, std::chrono::steady_clock::now() + kAnswerDeadline);
    return &prepared_.emplace(std::move(text), std::move(name)).first->second;
}

PostgresStore::Result PostgresStore::run(const char* sql, std::initializer_list<Param> params)
{
    return run_with(sql, params.begin(), params.size());
}

PostgresStore::Result PostgresStore::run_with(const char* sql, const std::vector<Param>& params)
{
    return run_with(sql, params.data(), params.size());
}

PostgresStore::Result PostgresStore::run_with(const char* sql, const Param* params,
                                              std::size_t count_of_params)
{
    std::vector<const char*> values;
    std::vector<int> lengths;
    std::vector<int> formats;
    for (const Param& param : std::span(params, count_of_params)) {
        values.push_back(param.value().data());
        lengths.push_back(static_cast<int>(param.value().size()));
        formats.push_back(param.binary() ? 1 : 0);
    }

    // Only a plain SELECT, or the reading itself with its read-ahead ("WITH r AS", which counts
    // attempts and nothing else), leaves what account_for() read standing; the functions a
    // SELECT calls here (the attempt count) write no row it read.
    if (std::strncmp(sql, "SELECT", 6) != 0 && std::strncmp(sql, "WITH r AS", 9) != 0) {
        prefetched_.reset();
        read_wait_.reset();
    }

    pg_conn* conn = connection();
    const std::string* name = prepared(conn, sql);
    const auto deadline = std::chrono::steady_clock::now() + kAnswerDeadline;
    const int count = static_cast<int>(values.size());
    const int sent = name ? PQsendQueryPrepared(conn, name->c_str(), count, values.data(),
                                                lengths.data(), formats.data(), 0)
                          : PQsendQueryParams(conn, sql, count, nullptr, values.data(),
                                              lengths.data(), formats.data(), 0);
    if (!sent)
        throw StoreError("postgresql: " + first_line(PQerrorMessage(conn)));
    return answer_or_drop(conn, deadline);
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
    auto opened = box_.open(sealed, account);
    if (!opened) {
        const std::string others = box_.other_key_ids();
        throw StoreError("a TOTP secret does not open with the secrets key " + box_.key_id() +
                         (others.empty() ? "" : " nor with " + others) +
                         ": every server of the fleet needs the same keys (docs/fleet.md)");
    }
    return std::move(opened->secret);
}

Store::ResealCount PostgresStore::reseal_secrets()
{
    ResealCount count;
    std::size_t unopened = 0;
    Transaction transaction(*this);
    for (const bool active : {true, false}) {
        // The rows stay locked until the commit, so that no server changes a secret between
        // its reading here and its sealing again; logins of these users wait that long.
        auto rows = run(active ? "SELECT account_id, secret FROM enrolments FOR UPDATE"
                               : "SELECT account_id, secret FROM pending_enrolments FOR UPDATE");
        for (int row = 0; row < rows.rows(); ++row) {
            const std::int64_t account = rows.integer(row, 0);
            auto opened = box_.open(rows.bytes(row, 1), account);
            if (!opened) {
                ++unopened;
                continue;
            }
            if (opened->by_current_key) {
                ++count.already_current;
            } else if (unopened == 0) {
                run(active ? "UPDATE enrolments SET secret = $1 WHERE account_id = $2"
                           : "UPDATE pending_enrolments SET secret = $1 WHERE account_id = $2",
                    {box_.seal(opened->secret, account), account});
                ++count.resealed;
            }
            explicit_bzero(opened->secret.data(), opened->secret.size());
        }
    }
    if (unopened != 0) {
        const std::string others = box_.other_key_ids();
        throw StoreError(std::to_string(unopened) + " TOTP secret(s) open with none of the " +
                         "secrets keys (" + box_.key_id() + (others.empty() ? "" : ", " + others) +
                         "): nothing was resealed (docs/fleet.md)");
    }
    transaction.commit();
    return count;
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
    run("DELETE FROM shadow_digests WHERE account_id = $1", {account});
    run("UPDATE accounts SET retired_at = $1 WHERE id = $2 AND retired_at IS NULL", {now, account});
}

void PostgresStore::begin_request()
{
    ahead_.reset();
    read_wait_.reset();
    read_admission_.reset();
    in_request_ = true;
    prefetched_.reset();
}

void PostgresStore::end_request(bool commit)
{
    (void)commit;  // each statement or transaction has committed already
    in_request_ = false;
    prefetched_.reset();
    ahead_.reset();
    read_wait_.reset();
    if (commit && read_admission_ && !read_admission_->admission.counts.empty()) {
        // Counted in the reading and never asked for: a caller said it would admit and did not.
        log::warning("A login attempt was counted in advance and not asked for",
                     {{"WINDOW", read_admission_->attempts.front().spec.name}});
    }
    read_admission_.reset();
}

const PostgresStore::Prefetched* PostgresStore::prefetched_for(std::int64_t account) const
{
    return prefetched_ && prefetched_->account == account ? &*prefetched_ : nullptr;
}

std::shared_ptr<const Store::KeptReading> PostgresStore::keep_reading(std::int64_t account)
{
    if (const Prefetched* read = prefetched_for(account); read && read->enrolled)
        return std::make_shared<const KeptPrefetched>(*read);
    return nullptr;
}

bool PostgresStore::resume_reading(const KeptReading& kept)
{
    const auto* ours = dynamic_cast<const KeptPrefetched*>(&kept);
    if (!ours || !in_request_)
        return false;
    prefetched_ = ours->read;
    // Whether a lock runs is not taken from an earlier request: a lock asked about now is asked
    // of the database.
    prefetched_->any_lock_running = true;
    return true;
}

std::optional<std::int64_t> PostgresStore::account_for(const AccountKey& key, std::int64_t now,
                                                       bool create, bool* retired)
{
    const std::int64_t uid = key.uid;
    std::optional<std::int64_t> existing;
    bool matches = false;
    if (in_request_) {
        existing = read_account(key, &matches);
    } else {
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
        auto inserted = run(
            "INSERT INTO accounts (name, uid, local, local_server, created_at) "
            "VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (name) WHERE retired_at IS NULL DO NOTHING RETURNING id",
            {key.name, uid, Param::flag(key.local), key.local ? server_name_ : std::string(), now});
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
    // Only the local accounts of this server's /etc/passwd: a server that never had the name
    // must not take its absence for a deletion and retire the account for the whole fleet.
    auto rows = run("SELECT id, name FROM accounts "
                    "WHERE local AND local_server = $1 AND retired_at IS NULL",
                    {server_name_});
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
    if (const Prefetched* read = prefetched_for(account)) {
        if (!read->enrolled)
            return std::nullopt;
        ActiveEnrolment enrolment;
        enrolment.secret = unseal(read->sealed_secret, account);
        enrolment.mode = parse_mode(read->mode).value_or(VerificationMode::Always);
        enrolment.active_since = read->active_since;
        enrolment.last_step = read->last_step;
        return enrolment;
    }
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

bool PostgresStore::advance_last_step(std::int64_t account, std::int64_t active_since,
                                      std::int64_t step)
{
    std::optional<Prefetched> kept = std::move(prefetched_);
    // One statement, so one round trip and one commit: of two servers updating the row at once,
    // the second waits and then sees the first's step, which its condition no longer passes.
    // Burned steps at or before the step used can never match again: they go in the same
    // statement, only when the step was won.
    auto advanced = run("WITH won AS (UPDATE enrolments SET last_step = $2 WHERE account_id = $1 "
                        "AND active_since = $3 AND last_step < $2 AND NOT EXISTS "
                        "(SELECT 1 FROM burned_steps WHERE account_id = $1 AND step = $2) "
                        "RETURNING account_id), "
                        "cleared AS (DELETE FROM burned_steps WHERE account_id IN "
                        "(SELECT account_id FROM won) AND step <= $2) "
                        "SELECT count(*) FROM won",
                        {account, step, active_since});
    const bool won = advanced.integer(0, 0) == 1;
    // Only this row changed, and to a value known here: what the request read stays true.
    if (won && kept && kept->account == account) {
        kept->last_step = step;
        prefetched_ = std::move(kept);
    }
    return won;
}

void PostgresStore::burn_step(std::int64_t account, std::int64_t step)
{
    run("INSERT INTO burned_steps (account_id, step) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        {account, step});
}

DriftRecord PostgresStore::drift(std::int64_t account)
{
    if (const Prefetched* read = prefetched_for(account))
        return read->drift;
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

std::size_t PostgresStore::count_unused_recovery_codes(std::int64_t account)
{
    if (const Prefetched* read = prefetched_for(account))
        return read->unused_codes;
    auto rows = run("SELECT count(*) FROM recovery_codes WHERE account_id = $1 AND used_at IS NULL",
                    {account});
    return static_cast<std::size_t>(rows.integer(0, 0));
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
    auto row = run("SELECT digest FROM shadow_digests WHERE account_id = $1 AND server = $2",
                   {account, server_name_});
    return row.empty() ? std::string() : row.text(0, 0);
}

void PostgresStore::set_shadow_digest(std::int64_t account, const std::string& digest)
{
    run("INSERT INTO shadow_digests (account_id, server, digest) VALUES ($1, $2, $3) "
        "ON CONFLICT (account_id, server) DO UPDATE SET digest = EXCLUDED.digest",
        {account, server_name_, digest});
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

// ---- Rate-limit windows and locks on the database's clock (shared_limits.hpp) ----

SharedLimits* PostgresStore::shared_limits()
{
    return this;
}

std::int64_t PostgresStore::wait_ms(const WindowSpec& spec, const std::string& key)
{
    if (spec.attempts <= 0)
        return 0;
    if (read_wait_ && read_wait_->spec == spec && read_wait_->key == key)
        return read_wait_->wait_ms;
    // The attempt that frees a place is the oldest of the newest `attempts` ones. A database
    // clock set back never makes anyone wait longer than one window.
    auto row = run("SELECT GREATEST(1, LEAST($3, at_ms + $3 - now_ms)) "
                   "FROM attempts, (SELECT fotoauthd_now_ms() AS now_ms) AS clock "
                   "WHERE window_name = $1 AND key = $2 AND at_ms > now_ms - $3 "
                   "ORDER BY at_ms DESC OFFSET $4 LIMIT 1",
                   {spec.name, key, spec.window_ms, spec.attempts - 1});
    return row.empty() ? 0 : row.integer(0, 0);
}

std::int64_t PostgresStore::record_attempt(const WindowSpec& spec, const std::string& key,
                                           const std::string& label)
{
    read_wait_.reset();
    // The count commits without waiting for the disk (this statement's transaction only): an
    // attempt lost in a crash of the database server gives an attacker a few guesses once, and
    // a flush per login is the larger cost. Used codes and locks stay durable.
    auto row =
        run("SELECT fotoauthd_count_attempt($1, $2, $3, $4, $5), "
            "set_config('synchronous_commit', 'off', true)",
            {spec.name, key, label, std::max<std::int64_t>(spec.attempts, 1), spec.window_ms});
    return row.integer(0, 0);
}

namespace {

// The wait of a window as wait_ms() asks it, from SQL expressions for its name, key, limit and
// length in ms; 0 for a window without a limit.
std::string window_wait_sql(const std::string& name, const std::string& key,
                            const std::string& limit, const std::string& length)
{
    return "CASE WHEN " + limit + " <= 0 THEN 0 ELSE COALESCE((SELECT GREATEST(1, LEAST(" + length +
           ", at_ms + " + length +
           " - now_ms)) FROM attempts, (SELECT fotoauthd_now_ms() AS now_ms) "
           "AS clock WHERE window_name = " +
           name + " AND key = " + key + " AND at_ms > now_ms - " + length +
           " ORDER BY at_ms DESC OFFSET GREATEST(" + limit + " - 1, 0) LIMIT 1), 0) END";
}

// Parameter $N+offset, typed where it appears: the numbers are BIGINT as in wait_ms().
std::string parameter(int first, int offset)
{
    return "$" + std::to_string(first + offset) + (offset >= 3 ? "::bigint" : "::text");
}

// The wait of the window of parameters $N (name), $N+1 (key), $N+3 (limit), $N+4 (length in
// ms).
std::string wait_expression(int first)
{
    return window_wait_sql(parameter(first, 0), parameter(first, 1), parameter(first, 3),
                           parameter(first, 4));
}

// The count of the window of parameters $N.. as record_attempt() makes it.
std::string count_expression(int first)
{
    const auto at = [&](int offset) { return parameter(first, offset); };
    return "fotoauthd_count_attempt(" + at(0) + ", " + at(1) + ", " + at(2) + ", GREATEST(" +
           at(3) + ", 1), " + at(4) + ")";
}

// admit() for one window and for two, each one statement, with the windows' parameters from
// $first on (five each) and, when given, a condition under which the attempt is looked at at
// all: the waits are computed first (the subquery fenced with OFFSET 0 runs once, before the
// outer list) and the attempts counted only when every wait is 0. Like record_attempt(), the
// statement commits without waiting for the disk.
std::string admission_statement(int windows, int first = 1, const std::string& condition = {})
{
    std::string waits, names, all_free, counts;
    for (int index = 0; index < windows; ++index) {
        const std::string name = "w" + std::to_string(index);
        waits += (index ? ", " : "") + wait_expression(first + 5 * index);
        names += (index ? ", " : "") + name;
        all_free += (index ? " AND " : "") + name + " = 0";
    }
    for (int index = 0; index < windows; ++index)
        counts +=
            ", CASE WHEN " + all_free + " THEN " + count_expression(first + 5 * index) + " END";
    return "SELECT " + names + counts + ", set_config('synchronous_commit', 'off', true) " +
           "FROM (SELECT " + waits + " OFFSET 0) AS waits(" + names + ")" +
           (condition.empty() ? "" : " WHERE " + condition);
}

// What a login reads about an account, by name ($1): its id and uid, enrolment, clock drift,
// count of unused recovery codes and whether any lock of it runs (PostgresStore::Prefetched).
constexpr const char* kAccountReading =
    "SELECT a.id, a.uid, e.secret, e.mode, e.active_since, e.last_step, "
    "a.drift_offset, a.drift_seen, a.drift_at, "
    "(SELECT count(*) FROM recovery_codes r WHERE r.account_id = a.id AND r.used_at IS NULL) "
    "AS unused_codes, "
    "EXISTS (SELECT 1 FROM locks l WHERE l.account_id = a.id "
    "AND l.locked_until > fotoauthd_now_ms() / 1000) AS any_lock";
constexpr const char* kAccountReadingFrom =
    " FROM accounts a LEFT JOIN enrolments e ON e.account_id = a.id "
    "WHERE a.name = $1 AND a.retired_at IS NULL";
constexpr int kAccountReadingColumns = 11;

// The reading of one account with a read-ahead (ReadAhead) of a window's wait, of an admission
// of `windows` windows, or both. Parameters: $1 the name; with an admission, $2 the uid; with a
// wait, its window's name, the key after the account's id, limit and length; then five
// parameters per window of the admission. With an admission always one row: the account's
// columns are NULL when no account has the name, the admission's when the enrolled account of
// that uid has a lock running (the request then asks which lock, and counts by itself).
std::string reading_with_read_ahead(bool wait, int windows)
{
    int next = windows > 0 ? 3 : 2;
    std::string reading = kAccountReading;
    if (wait) {
        const auto at = [&](int offset) {
            return "$" + std::to_string(next + offset) + (offset >= 2 ? "::bigint" : "::text");
        };
        reading += ", " + window_wait_sql(at(0), "a.id::text || " + at(1), at(2), at(3));
        next += 4;
    }
    reading += kAccountReadingFrom;
    if (windows == 0)
        return reading;
    const std::string not_held = "NOT COALESCE((SELECT r.active_since IS NOT NULL AND "
                                 "r.uid = $2::bigint AND r.any_lock FROM r), false)";
    return "WITH r AS (" + reading + "), adm AS (" + admission_statement(windows, next, not_held) +
           ") SELECT r.*, adm.* FROM (SELECT 1) AS one LEFT JOIN r ON true LEFT JOIN adm ON true";
}

}  // namespace

std::optional<std::int64_t> PostgresStore::read_account(const AccountKey& key, bool* matches)
{
    // One round trip for what a login reads about the account (Prefetched) and for what the
    // request said it will ask the limits next (ReadAhead).
    std::optional<ReadAhead> ahead = std::move(ahead_);
    ahead_.reset();
    // A reading resumed from an earlier request (resume_reading()) ends here.
    prefetched_.reset();
    const bool wait = ahead && ahead->account_window && ahead->account_window->attempts > 0;
    const int windows = ahead ? static_cast<int>(ahead->admission.size()) : 0;
    // admit() counts more than two windows window by window; no caller asks for that today.
    const int admitted = windows >= 1 && windows <= 2 ? windows : 0;
    std::vector<Param> params{Param(key.name)};
    if (admitted > 0)
        params.emplace_back(key.uid);
    if (wait) {
        const WindowSpec& spec = *ahead->account_window;
        params.emplace_back(spec.name);
        params.emplace_back(ahead->key_after_account);
        params.emplace_back(spec.attempts);
        params.emplace_back(spec.window_ms);
    }
    for (int index = 0; index < admitted; ++index) {
        const auto& each = ahead->admission[static_cast<std::size_t>(index)];
        params.emplace_back(each.spec.name);
        params.emplace_back(each.key);
        params.emplace_back(each.label);
        params.emplace_back(each.spec.attempts);
        params.emplace_back(each.spec.window_ms);
    }

    // The statements are built once; each is prepared on the connection the first time.
    static const std::string statements[2][3] = {
        {std::string(kAccountReading) + kAccountReadingFrom, reading_with_read_ahead(false, 1),
         reading_with_read_ahead(false, 2)},
        {reading_with_read_ahead(true, 0), reading_with_read_ahead(true, 1),
         reading_with_read_ahead(true, 2)}};
    const std::string& sql = statements[wait ? 1 : 0][admitted];
    Result found = run_with(sql.c_str(), params);

    std::optional<std::int64_t> existing;
    *matches = false;
    if (!found.empty() && !found.is_null(0, 0)) {
        existing = found.integer(0, 0);
        *matches = found.integer(0, 1) == key.uid;
    }
    if (*matches) {
        Prefetched read;
        read.account = *existing;
        read.enrolled = !found.is_null(0, 2);
        if (read.enrolled) {
            read.sealed_secret = found.bytes(0, 2);
            read.mode = found.text(0, 3);
            read.active_since = found.integer(0, 4);
            read.last_step = found.integer(0, 5);
        }
        read.drift = {found.integer(0, 6), found.integer(0, 7), found.integer(0, 8)};
        read.unused_codes = static_cast<std::size_t>(found.integer(0, 9));
        read.any_lock_running = found.flag(0, 10);
        prefetched_ = std::move(read);
        if (wait)
            read_wait_ = ReadWait{*ahead->account_window,
                                  std::to_string(*existing) + ahead->key_after_account,
                                  found.integer(0, kAccountReadingColumns)};
    }

    // The admission's columns: each window's wait, then each window's count.
    const int first = kAccountReadingColumns + (wait ? 1 : 0);
    if (admitted > 0 && !found.is_null(0, first)) {
        ReadAdmission read{ahead->admission, {}};
        for (int index = 0; index < admitted && !read.admission.full; ++index) {
            if (const auto each_wait = found.integer(0, first + index); each_wait > 0) {
                read.admission.full = static_cast<std::size_t>(index);
                read.admission.wait_ms = each_wait;
            }
        }
        if (!read.admission.full)
            for (int index = 0; index < admitted; ++index)
                read.admission.counts.push_back(found.integer(0, first + admitted + index));
        read_admission_ = std::move(read);
    }
    return existing;
}

void PostgresStore::read_ahead(ReadAhead ahead)
{
    if (in_request_)
        ahead_ = std::move(ahead);
}

Admission PostgresStore::admit(const std::vector<WindowAttempt>& attempts)
{
    if (read_admission_ && read_admission_->attempts == attempts) {
        Admission counted = std::move(read_admission_->admission);
        read_admission_.reset();
        return counted;
    }
    read_wait_.reset();
    Admission admission;
    if (attempts.size() > 2) {
        // Not asked for by any caller today: window by window, as the interface promises.
        for (std::size_t index = 0; index < attempts.size(); ++index) {
            const auto& each = attempts[index];
            if (const auto wait = wait_ms(each.spec, each.key); wait > 0) {
                admission.full = index;
                admission.wait_ms = wait;
                return admission;
            }
        }
        for (const auto& each : attempts)
            admission.counts.push_back(record_attempt(each.spec, each.key, each.label));
        return admission;
    }
    if (attempts.empty())
        return admission;

    static const std::string one = admission_statement(1);
    static const std::string two = admission_statement(2);
    const auto& a = attempts.front();
    const auto& b = attempts.back();
    auto row =
        attempts.size() == 1
            ? run(one.c_str(), {a.spec.name, a.key, a.label, a.spec.attempts, a.spec.window_ms})
            : run(two.c_str(), {a.spec.name, a.key, a.label, a.spec.attempts, a.spec.window_ms,
                                b.spec.name, b.key, b.label, b.spec.attempts, b.spec.window_ms});
    const int windows = static_cast<int>(attempts.size());
    for (int index = 0; index < windows; ++index) {
        if (const auto wait = row.integer(0, index); wait > 0) {
            admission.full = static_cast<std::size_t>(index);
            admission.wait_ms = wait;
            return admission;
        }
    }
    for (int index = 0; index < windows; ++index)
        admission.counts.push_back(row.integer(0, windows + index));
    return admission;
}

std::size_t PostgresStore::clear_attempts(const WindowSpec& spec, const std::string& key,
                                          bool prefix)
{
    const char* exact = "WITH gone AS (DELETE FROM attempts WHERE window_name = $1 AND key = $2 "
                        "RETURNING key, at_ms) SELECT COUNT(DISTINCT key) FROM gone "
                        "WHERE at_ms > fotoauthd_now_ms() - $3";
    const char* starting = "WITH gone AS (DELETE FROM attempts WHERE window_name = $1 "
                           "AND left(key, length($2)) = $2 RETURNING key, at_ms) "
                           "SELECT COUNT(DISTINCT key) FROM gone "
                           "WHERE at_ms > fotoauthd_now_ms() - $3";
    auto row = run(prefix ? starting : exact, {spec.name, key, spec.window_ms});
    return static_cast<std::size_t>(row.integer(0, 0));
}

std::size_t PostgresStore::forget_expired(const WindowSpec& spec, std::int64_t margin_ms,
                                          std::size_t most)
{
    // Called every second from the daemon's loop: only on a connection that is up. Rows another
    // daemon is removing at the same moment are left to it (SKIP LOCKED). The removal commits
    // without waiting for the disk or a synchronous standby, like an attempt's count: with a
    // standby down, a waiting commit would hold the daemon until the statement's deadline, and
    // rows lost in a crash of the database server are only removed again.
    if (!up_for_background_work())
        return 0;
    auto row = run("WITH gone AS (DELETE FROM attempts WHERE ctid IN ("
                   "SELECT ctid FROM attempts WHERE window_name = $1 "
                   "AND at_ms <= fotoauthd_now_ms() - $2 - $3 LIMIT $4 FOR UPDATE SKIP LOCKED) "
                   "RETURNING 1) SELECT count(*), set_config('synchronous_commit', 'off', true) "
                   "FROM gone",
                   {spec.name, spec.window_ms, margin_ms, static_cast<std::int64_t>(most)});
    return static_cast<std::size_t>(row.integer(0, 0));
}

std::vector<SharedFullWindow> PostgresStore::full_windows(const WindowSpec& spec)
{
    std::vector<SharedFullWindow> out;
    if (spec.attempts <= 0)
        return out;
    auto rows = run("WITH clock AS (SELECT fotoauthd_now_ms() AS now_ms), "
                    "live AS (SELECT key, at_ms, max(label) OVER (PARTITION BY key) AS label, "
                    "row_number() OVER (PARTITION BY key ORDER BY at_ms DESC) AS newest "
                    "FROM attempts, clock WHERE window_name = $1 AND at_ms > now_ms - $2) "
                    "SELECT key, label, LEAST($2, at_ms + $2 - now_ms), "
                    "(now_ms + LEAST($2, at_ms + $2 - now_ms) + 999) / 1000 "
                    "FROM live, clock WHERE newest = $3 ORDER BY key",
                    {spec.name, spec.window_ms, spec.attempts});
    for (int row = 0; row < rows.rows(); ++row)
        out.push_back({rows.text(row, 0), rows.text(row, 1), rows.integer(row, 2),
                       rows.integer(row, 3), spec.attempts});
    return out;
}

std::optional<StoredLock> PostgresStore::running_lock(std::int64_t account,
                                                      const std::string& channel,
                                                      std::int64_t longest_s)
{
    // No lock of the account was running when the request read it: nothing to cut or report.
    if (const Prefetched* read = prefetched_for(account); read && !read->any_lock_running)
        return std::nullopt;
    // A lock never runs longer than its configured length from now, even after the database's
    // clock was set back: such a lock is cut first, for every server at once.
    auto row = run("WITH clock AS (SELECT fotoauthd_now_ms() / 1000 AS now_s), "
                   "cut AS (UPDATE locks SET locked_until = (SELECT now_s FROM clock) + $3 "
                   "WHERE account_id = $1 AND channel = $2 "
                   "AND locked_until > (SELECT now_s FROM clock) + $3 RETURNING locked_until) "
                   "SELECT COALESCE((SELECT locked_until FROM cut), l.locked_until), l.failures, "
                   "a.name FROM locks l JOIN accounts a ON a.id = l.account_id, clock "
                   "WHERE l.account_id = $1 AND l.channel = $2 AND l.locked_until > now_s",
                   {account, channel, longest_s});
    if (row.empty())
        return std::nullopt;
    return StoredLock{account, row.text(0, 2), channel, row.integer(0, 0), row.integer(0, 1)};
}

std::int64_t PostgresStore::start_lock(std::int64_t account, const std::string& channel,
                                       std::int64_t duration_s, std::int64_t failures)
{
    auto row = run("INSERT INTO locks (account_id, channel, locked_until, failures) "
                   "VALUES ($1, $2, fotoauthd_now_ms() / 1000 + $3, $4) "
                   "ON CONFLICT (account_id, channel) DO UPDATE SET "
                   "locked_until = EXCLUDED.locked_until, failures = EXCLUDED.failures "
                   "RETURNING locked_until",
                   {account, channel, duration_s, failures});
    return row.integer(0, 0);
}

void PostgresStore::count_lock_refusal(std::int64_t account, const std::string& channel)
{
    run("UPDATE locks SET failures = failures + 1 WHERE account_id = $1 AND channel = $2 "
        "AND locked_until > fotoauthd_now_ms() / 1000",
        {account, channel});
}

StepUse PostgresStore::advance_last_step_unless_held(std::int64_t account,
                                                     std::int64_t active_since, std::int64_t step,
                                                     const StepHold& hold)
{
    // advance_last_step()'s statement, under the condition that admit_code() would let the code
    // be tried: no lock of the channel runs and its wrong-code window is not full (the hold,
    // computed once before the update, fenced with OFFSET 0). It also reads again what the
    // rest of the request asks after a right code: the mode (for device trust), the count of
    // unused recovery codes and the clock drift. Durable like every single use.
    static const std::string statement =
        "WITH hold AS (SELECT (EXISTS (SELECT 1 FROM locks WHERE account_id = $1 "
        "AND channel = $4 AND locked_until > fotoauthd_now_ms() / 1000) OR " +
        window_wait_sql("$5::text", "$6::text", "$7::bigint", "$8::bigint") +
        " > 0) AS held OFFSET 0), "
        "won AS (UPDATE enrolments SET last_step = $2 WHERE account_id = $1 "
        "AND active_since = $3 AND last_step < $2 AND NOT (SELECT held FROM hold) "
        "AND NOT EXISTS (SELECT 1 FROM burned_steps WHERE account_id = $1 AND step = $2) "
        "RETURNING account_id, mode), "
        "cleared AS (DELETE FROM burned_steps WHERE account_id IN "
        "(SELECT account_id FROM won) AND step <= $2) "
        "SELECT (SELECT held FROM hold), (SELECT mode FROM won), "
        "(SELECT count(*) FROM recovery_codes r WHERE r.account_id = $1 AND r.used_at IS NULL), "
        "a.drift_offset, a.drift_seen, a.drift_at "
        "FROM (SELECT 1) AS one LEFT JOIN accounts a ON a.id = $1";
    std::optional<Prefetched> kept = std::move(prefetched_);
    auto row = run(statement.c_str(), {account, step, active_since, hold.channel, hold.window.name,
                                       hold.key, hold.window.attempts, hold.window.window_ms});
    if (row.flag(0, 0))
        return StepUse::Held;
    if (row.is_null(0, 1))
        return StepUse::NotUsed;
    // The step is used: what the request read stays true, with what the statement read anew.
    if (kept && kept->account == account) {
        kept->last_step = step;
        kept->mode = row.text(0, 1);
        kept->unused_codes = static_cast<std::size_t>(row.integer(0, 2));
        if (!row.is_null(0, 3))
            kept->drift = {row.integer(0, 3), row.integer(0, 4), row.integer(0, 5)};
        prefetched_ = std::move(kept);
    }
    return StepUse::Used;
}

std::vector<StoredLock> PostgresStore::running_locks()
{
    run("DELETE FROM locks WHERE locked_until <= fotoauthd_now_ms() / 1000");
    auto rows = run("SELECT l.account_id, a.name, l.channel, l.locked_until, l.failures "
                    "FROM locks l JOIN accounts a ON a.id = l.account_id "
                    "WHERE l.locked_until > fotoauthd_now_ms() / 1000 "
                    "ORDER BY a.name, l.channel");
    std::vector<StoredLock> out;
    for (int row = 0; row < rows.rows(); ++row)
        out.push_back({rows.integer(row, 0), rows.text(row, 1), rows.text(row, 2),
                       rows.integer(row, 3), rows.integer(row, 4)});
    return out;
}

// ---- Password changes carried between the servers (LISTEN/NOTIFY) ----

namespace {

constexpr const char* kPasswordChannel = "fotoauthd_password_changed";
// How long an announced change is kept for a server that was disconnected when it was made.
constexpr std::int64_t kPasswordChangeKeptMs = 24 * 3600 * 1000;

}  // namespace

void PostgresStore::announce_password_change(const std::string& name, uid_t uid)
{
    // The row and the notification commit together; the notification only wakes the others.
    run("WITH added AS (INSERT INTO password_changes (name, uid, server, at_ms) "
        "VALUES ($1, $2, $3, fotoauthd_now_ms()) RETURNING id) "
        "SELECT pg_notify($4, id::text) FROM added",
        {name, std::int64_t{uid}, server_name_, std::string(kPasswordChannel)});
    run("DELETE FROM password_changes WHERE at_ms < fotoauthd_now_ms() - $1",
        {kPasswordChangeKeptMs});
}

std::vector<PasswordChangeNotice> PostgresStore::password_changes_elsewhere()
{
    // Called every second from the daemon's loop: only on a connection that is up.
    if (!up_for_background_work())
        return {};

    bool woken = false;
    if (PQbackendPID(conn_) != listening_on_) {
        // A new session (the first, or one after a reconnect or a failover) listens afresh and
        // catches up on what was announced while nobody here listened.
        run((std::string("LISTEN ") + kPasswordChannel).c_str());
        listening_on_ = PQbackendPID(conn_);
        if (last_change_seen_ < 0) {
            last_change_seen_ =
                run("SELECT COALESCE(MAX(id), 0) FROM password_changes").integer(0, 0);
            return {};
        }
        woken = true;
    }
    if (PQconsumeInput(conn_) != 1)
        return {};  // broken: the next request reconnects
    while (PGnotify* notice = PQnotifies(conn_)) {
        woken = true;
        PQfreemem(notice);
    }
    if (!woken)
        return {};

    auto rows = run("SELECT id, name, uid, server FROM password_changes WHERE id > $1 "
                    "ORDER BY id",
                    {last_change_seen_});
    std::vector<PasswordChangeNotice> notices;
    for (int row = 0; row < rows.rows(); ++row) {
        last_change_seen_ = rows.integer(row, 0);
        if (rows.text(row, 3) != server_name_)
            notices.push_back({rows.text(row, 1), rows.integer(row, 2), rows.text(row, 3)});
    }
    return notices;
}

}  // namespace fotoauthd
