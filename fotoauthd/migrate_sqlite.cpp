#include "migrate_sqlite.hpp"

#include "postgres_store.hpp"
#include "secret_box.hpp"
#include "sqlite_store.hpp"
#include "store_factory.hpp"

#include <fcntl.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fotoauthd {

namespace {

// One value of a row: nothing for NULL, else SQLite's text of it. PostgreSQL reads the text of
// an integer back as a bigint, and 0 or 1 as a boolean, so every column is copied as text.
using Value = std::optional<std::string>;
using Row = std::vector<Value>;

// A table whose rows hang off an account: copied row by row with account_id renumbered, every
// other column as it is (the columns are named alike in both schemas).
struct AccountTable {
    const char* name;
    const char* columns;
    const char* order;  // SQLite's order, kept so that the new ids grow as the old ones did
};

constexpr AccountTable kAccountTables[] = {
    {"recovery_codes", "hash, created_at, used_at", "id"},
    {"trusted_devices", "device, kind, label, first_used, last_used, expires_at", "id"},
    {"locks", "channel, locked_until, failures", "account_id, channel"},
    {"burned_steps", "step", "account_id, step"},
    {"history", "at, event, service, source, detail, country, client, unusual, verified", "id"},
    {"outbox", "recipient, message, created_at, next_attempt_at, attempts", "id"},
};

// The tables that hold a TOTP secret: it is opened with this server's keys and sealed again for
// the account's new id, since the sealing binds the id.
struct SecretTable {
    const char* name;
    const char* columns;  // besides account_id and the secret
};

constexpr SecretTable kSecretTables[] = {
    {"enrolments", "mode, active_since, last_step"},
    {"pending_enrolments", "mode, created_at"},
};

constexpr const char* kAccountColumns =
    "name, uid, local, created_at, retired_at, shadow_digest, alert_address, last_country, "
    "drift_offset, drift_seen, drift_at";

// A count compared between both databases before the commit: rows of `table` (with `filter`),
// in SQLite all of them, in PostgreSQL those of the copied accounts.
struct CountCheck {
    const char* label;
    const char* table;
    const char* account_column;
    const char* filter;  // nullptr: every row
};

constexpr CountCheck kCountChecks[] = {
    {"accounts", "accounts", "id", nullptr},
    {"  of them retired", "accounts", "id", "retired_at IS NOT NULL"},
    {"active enrolments", "enrolments", "account_id", nullptr},
    {"pending enrolments", "pending_enrolments", "account_id", nullptr},
    {"recovery codes", "recovery_codes", "account_id", nullptr},
    {"  of them unused", "recovery_codes", "account_id", "used_at IS NULL"},
    {"burned steps", "burned_steps", "account_id", nullptr},
    {"trusted devices", "trusted_devices", "account_id", nullptr},
    {"locks", "locks", "account_id", nullptr},
    {"history entries", "history", "account_id", nullptr},
    {"outbox mails", "outbox", "account_id", nullptr},
};

std::size_t column_count(const char* columns)
{
    return 1 + static_cast<std::size_t>(std::count(columns, columns + std::strlen(columns), ','));
}

// "$first, $first+1, ..." for `count` parameters.
std::string placeholders(std::size_t first, std::size_t count)
{
    std::string text;
    for (std::size_t i = 0; i < count; ++i)
        text += (i ? ", $" : "$") + std::to_string(first + i);
    return text;
}

std::string first_line(const char* message)
{
    std::string text = message ? message : "";
    return text.substr(0, text.find('\n'));
}

// The text a bytea parameter is written as: its bytes in hex (the sealed form, not secret).
std::string bytea_text(const std::vector<std::uint8_t>& bytes)
{
    static constexpr char kHex[] = "0123456789abcdef";
    std::string text = "\\x";
    for (const auto byte : bytes) {
        text += kHex[byte >> 4];
        text += kHex[byte & 0x0f];
    }
    return text;
}

// The clear TOTP secret of one row, zeroed when it goes.
class ClearSecret {
public:
    explicit ClearSecret(std::vector<std::uint8_t> bytes) : bytes_(std::move(bytes)) {}
    ClearSecret(const ClearSecret&) = delete;
    ClearSecret& operator=(const ClearSecret&) = delete;
    ~ClearSecret() { explicit_bzero(bytes_.data(), bytes_.size()); }
    const std::vector<std::uint8_t>& bytes() const { return bytes_; }

private:
    std::vector<std::uint8_t> bytes_;
};

// ---- The SQLite file, read only ----

struct SqliteCloser {
    void operator()(sqlite3* db) const { (void)sqlite3_close_v2(db); }
};
struct StatementFinalizer {
    void operator()(sqlite3_stmt* statement) const { (void)sqlite3_finalize(statement); }
};

// The name of process `pid`, for the message that it holds the file.
std::string process_name(pid_t pid)
{
    std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    std::getline(comm, name);
    return name.empty() ? "process " + std::to_string(pid)
                        : name + " (process " + std::to_string(pid) + ")";
}

// A daemon serving from the file keeps a lock on it as long as it has the database open (SQLite
// holds a read lock on the file of a WAL database even when idle); any lock of another process
// means the file may change while it is copied.
void refuse_a_file_in_use(const std::string& path)
{
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw MigrationError("cannot read " + path + ": " + std::strerror(errno));
    struct flock probe {};
    probe.l_type = F_WRLCK;
    probe.l_whence = SEEK_SET;
    const int rc = fcntl(fd, F_GETLK, &probe);
    const int error = errno;
    (void)close(fd);
    if (rc < 0)
        throw MigrationError("cannot check whether " + path +
                             " is in use: " + std::strerror(error));
    if (probe.l_type != F_UNLCK)
        throw MigrationError(path + " is in use by " +
                             (probe.l_pid > 0 ? process_name(probe.l_pid) : "another process") +
                             ": stop fotoauthd on this server first (systemctl stop "
                             "fotoauthd.socket fotoauthd.service)");
}

void refuse_an_unusable_file(const std::string& path)
{
    struct stat file {};
    if (stat(path.c_str(), &file) < 0)
        throw MigrationError("cannot read " + path + ": " + std::strerror(errno));
    if (!S_ISREG(file.st_mode))
        throw MigrationError(path + " is not a file: give the path of the server's SQLite "
                                    "database (its `database` setting)");
    if (file.st_size == 0)
        throw MigrationError(path + " is empty: it holds no fotoauthd state");
}

// The SQLite file of the server, opened read-only and read in one transaction, so that every
// table is seen as of one moment.
class SqliteSource {
public:
    explicit SqliteSource(const std::string& path) : path_(path)
    {
        refuse_an_unusable_file(path);
        refuse_a_file_in_use(path);

        sqlite3* db = nullptr;
        const int rc =
            sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
        db_.reset(db);
        if (rc != SQLITE_OK)
            throw MigrationError("cannot open " + path + ": " +
                                 (db ? sqlite3_errmsg(db) : "out of memory"));
        (void)sqlite3_busy_timeout(db, 1000);

        execute("BEGIN");
        refuse_another_schema_version();
    }

    std::vector<Row> rows(const std::string& sql)
    {
        sqlite3_stmt* raw = nullptr;
        if (sqlite3_prepare_v2(db_.get(), sql.c_str(), -1, &raw, nullptr) != SQLITE_OK)
            throw failure();
        const std::unique_ptr<sqlite3_stmt, StatementFinalizer> statement(raw);

        std::vector<Row> out;
        int rc;
        while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
            Row row;
            for (int column = 0; column < sqlite3_column_count(raw); ++column)
                row.push_back(value(raw, column));
            out.push_back(std::move(row));
        }
        if (rc != SQLITE_DONE)
            throw failure();
        return out;
    }

    std::int64_t count(const std::string& sql)
    {
        const auto found = rows(sql);
        return found.empty() || !found[0][0] ? 0 : std::stoll(*found[0][0]);
    }

private:
    static Value value(sqlite3_stmt* statement, int column)
    {
        const int type = sqlite3_column_type(statement, column);
        if (type == SQLITE_NULL)
            return std::nullopt;
        const void* data = type == SQLITE_BLOB ? sqlite3_column_blob(statement, column)
                                               : sqlite3_column_text(statement, column);
        const auto size = static_cast<std::size_t>(sqlite3_column_bytes(statement, column));
        return data ? std::string(static_cast<const char*>(data), size) : std::string();
    }

    MigrationError failure() const
    {
        return MigrationError(path_ + ": " + sqlite3_errmsg(db_.get()));
    }

    void execute(const char* sql)
    {
        if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr) != SQLITE_OK)
            throw failure();
    }

    // An older file has other columns: the daemon upgrades it when it opens it, which is its
    // job, not this copy's.
    void refuse_another_schema_version()
    {
        std::int64_t version = 0;
        try {
            version = count("PRAGMA user_version");
        } catch (const MigrationError&) {
            throw MigrationError(path_ + " is not a fotoauthd database (" +
                                 sqlite3_errmsg(db_.get()) + ")");
        }
        const int current = SqliteStore::schema_version();
        if (version == 0)
            throw MigrationError(path_ + " is not a fotoauthd database (it has no schema)");
        if (version > current)
            throw MigrationError(path_ + " has schema version " + std::to_string(version) +
                                 ", newer than this fotoauthd knows (" + std::to_string(current) +
                                 "): migrate with the fotoauthd that wrote it");
        if (version < current)
            throw MigrationError(path_ + " has schema version " + std::to_string(version) +
                                 " of an older fotoauthd (this one writes " +
                                 std::to_string(current) +
                                 "): start fotoauthd on it once with store = sqlite, which "
                                 "upgrades it, stop it, then migrate");
    }

    std::string path_;
    std::unique_ptr<sqlite3, SqliteCloser> db_;
};

// ---- The fleet's PostgreSQL database ----

struct ConnectionCloser {
    void operator()(PGconn* conn) const { PQfinish(conn); }
};
struct ResultClearer {
    void operator()(PGresult* result) const { PQclear(result); }
};
using PgResult = std::unique_ptr<PGresult, ResultClearer>;

class Postgres {
public:
    explicit Postgres(const std::string& conninfo)
    {
        // The connection string comes last so that anything it sets wins over these defaults.
        const char* keywords[] = {"connect_timeout", "application_name", "dbname", nullptr};
        const char* values[] = {"10", "fotoauthd-migrate", conninfo.c_str(), nullptr};
        conn_.reset(PQconnectdbParams(keywords, values, 1));
        if (!conn_)
            throw MigrationError("postgresql: out of memory");
        // The connection string may hold a password: it is never repeated.
        if (PQstatus(conn_.get()) != CONNECTION_OK)
            throw MigrationError("cannot connect to PostgreSQL: " +
                                 first_line(PQerrorMessage(conn_.get())));
        run("SET client_min_messages = warning");
    }

    PgResult run(const std::string& sql, const std::vector<Value>& params = {})
    {
        std::vector<const char*> values;
        for (const auto& param : params)
            values.push_back(param ? param->c_str() : nullptr);
        PgResult result(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()),
                                     nullptr, values.data(), nullptr, nullptr, 0));
        const auto status = PQresultStatus(result.get());
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
            throw MigrationError("postgresql: " + first_line(PQerrorMessage(conn_.get())));
        return result;
    }

    std::int64_t count(const std::string& sql, const std::vector<Value>& params)
    {
        const auto result = run(sql, params);
        return std::stoll(PQgetvalue(result.get(), 0, 0));
    }

private:
    std::unique_ptr<PGconn, ConnectionCloser> conn_;
};

// BEGIN ... COMMIT; anything else ends in ROLLBACK.
class Transaction {
public:
    explicit Transaction(Postgres& target) : target_(target) { target_.run("BEGIN"); }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    ~Transaction()
    {
        if (!done_) {
            try {
                target_.run("ROLLBACK");
            } catch (const MigrationError&) {
                // A broken connection has no transaction left: closing it is the rollback.
            }
        }
    }
    void commit()
    {
        target_.run("COMMIT");
        done_ = true;
    }

private:
    Postgres& target_;
    bool done_ = false;
};

std::vector<std::uint8_t> bytea(const PGresult* result, int row, int column)
{
    std::size_t length = 0;
    unsigned char* raw = PQunescapeBytea(
        reinterpret_cast<const unsigned char*>(PQgetvalue(result, row, column)), &length);
    if (!raw)
        throw MigrationError("postgresql: cannot decode a bytea column");
    std::vector<std::uint8_t> out(raw, raw + length);
    PQfreemem(raw);
    return out;
}

std::string key_ids(const KeyRing& keys)
{
    const std::string others = keys.other_key_ids();
    return keys.key_id() + (others.empty() ? "" : ", " + others);
}

// ---- The migration's steps ----

// The keys the SQLite file was sealed with. Unlike the daemon, the migration never creates a
// key: a fresh one would open nothing.
KeyRing existing_secrets_keys(const std::string& state_directory)
{
    const char* credentials = std::getenv("CREDENTIALS_DIRECTORY");
    const bool credential =
        credentials && *credentials &&
        access((std::string(credentials) + "/fotoauthd-secrets-key").c_str(), R_OK) == 0;
    if (!credential && access((state_directory + "/secrets.key").c_str(), R_OK) != 0)
        throw MigrationError("no secrets key in " + state_directory +
                             " (secrets.key): the migration needs the key this server's "
                             "database was sealed with; check `database` in the configuration");
    return load_secrets_keys(state_directory);
}

// Secrets that this server's keys cannot open were sealed by a fleet with another key: the
// copied secrets, sealed with this server's key, would then be unreadable for the rest of it.
void refuse_another_fleet_key(Postgres& target, const KeyRing& keys)
{
    const auto stored = target.run("SELECT account_id, secret FROM enrolments UNION ALL "
                                   "SELECT account_id, secret FROM pending_enrolments");
    const int rows = PQntuples(stored.get());
    int unopened = 0;
    int by_current_key = 0;
    for (int row = 0; row < rows; ++row) {
        const std::int64_t account = std::stoll(PQgetvalue(stored.get(), row, 0));
        auto opened = keys.open(bytea(stored.get(), row, 1), account);
        if (!opened) {
            ++unopened;
            continue;
        }
        by_current_key += opened->by_current_key ? 1 : 0;
        explicit_bzero(opened->secret.data(), opened->secret.size());
    }
    if (unopened > 0)
        throw MigrationError(
            "PostgreSQL holds " + std::to_string(unopened) + " of " + std::to_string(rows) +
            " TOTP secrets that open with none of this server's secrets keys (" + key_ids(keys) +
            "): the fleet seals with another key. Install the fleet's key as secrets.key and this "
            "server's as secrets.key.previous, then migrate again (docs/fleet.md)");
    if (rows > 0 && by_current_key == 0)
        throw MigrationError("no TOTP secret in PostgreSQL opens with this server's current "
                             "secrets key " +
                             keys.key_id() +
                             ": the copied secrets would be sealed with a key the fleet does "
                             "not seal with (docs/fleet.md)");
}

// An account of the same name that is current in PostgreSQL belongs to a user who enrolled or
// logged in through another server of the fleet; two states cannot be merged into one account.
// A retired account already there with the same name, uid and times was copied by an earlier
// migration of this file.
// FIXME: no tool settles a conflict by keeping one side's state for that user; until one exists,
// a server whose users are current in the fleet already cannot join with its state, and its
// users must enrol again in fleet mode (new secrets in their apps, new recovery codes).
void refuse_conflicts(Postgres& target, const std::vector<Row>& accounts)
{
    std::vector<std::string> current;
    std::size_t copied_before = 0;
    for (const auto& account : accounts) {
        const Value& name = account[1];
        const Value& retired_at = account[5];
        if (!retired_at) {
            if (target.count("SELECT COUNT(*) FROM accounts WHERE name = $1 "
                             "AND retired_at IS NULL",
                             {name}) > 0)
                current.push_back(*name);
        } else if (target.count("SELECT COUNT(*) FROM accounts WHERE name = $1 AND uid = $2 "
                                "AND created_at = $3 AND retired_at = $4",
                                {name, account[2], account[4], retired_at}) > 0) {
            ++copied_before;
        }
    }
    if (current.empty() && copied_before == 0)
        return;

    std::string message;
    if (!current.empty()) {
        std::string names;
        for (const auto& name : current)
            names += (names.empty() ? "" : ", ") + name;
        message += std::to_string(current.size()) +
                   " account(s) of this server are current in PostgreSQL already (" + names +
                   "): they enrolled or logged in through another server of the fleet, or this "
                   "file was migrated before";
    }
    if (copied_before > 0)
        message += std::string(current.empty() ? "" : "; ") + std::to_string(copied_before) +
                   " retired account(s) were copied by an earlier migration of this file";
    throw MigrationError(message + " (docs/fleet.md, \"Joining a fleet with an existing "
                                   "server\")");
}

using IdMap = std::map<std::int64_t, std::int64_t>;

std::int64_t new_id(const IdMap& ids, const Value& old_id)
{
    const auto found = old_id ? ids.find(std::stoll(*old_id)) : ids.end();
    if (found == ids.end())
        throw MigrationError("a row refers to an account the SQLite file does not have");
    return found->second;
}

IdMap copy_accounts(Postgres& target, const std::vector<Row>& accounts)
{
    const std::string insert = std::string("INSERT INTO accounts (") + kAccountColumns +
                               ") VALUES (" + placeholders(1, column_count(kAccountColumns)) +
                               ") RETURNING id";
    IdMap ids;
    for (const auto& account : accounts) {
        const auto inserted = target.run(insert, Row(account.begin() + 1, account.end()));
        ids[std::stoll(*account[0])] = std::stoll(PQgetvalue(inserted.get(), 0, 0));
    }
    return ids;
}

// In a fleet each server keeps its own digest of a password hash (table shadow_digests, docs/
// fleet.md): the digests SQLite held are this server's, and so are its local accounts (only the
// server whose /etc/passwd holds a local account retires it when the name is deleted there).
void keep_as_this_servers(Postgres& target, const std::string& id_list, const std::string& server)
{
    target.run("INSERT INTO shadow_digests (account_id, server, digest) "
               "SELECT id, $1, shadow_digest FROM accounts "
               "WHERE id = ANY($2::bigint[]) AND shadow_digest <> ''",
               Row{server, id_list});
    target.run("UPDATE accounts SET shadow_digest = '', "
               "local_server = CASE WHEN local THEN $2 ELSE '' END WHERE id = ANY($1::bigint[])",
               Row{id_list, server});
}

// The secret of an SQLite row: sealed (the usual case) or, in a file the daemon has not sealed
// yet, in clear.
ClearSecret open_secret(const Row& row, const KeyRing& keys, const std::string& path)
{
    std::vector<std::uint8_t> stored(row[1]->begin(), row[1]->end());
    if (row[2] == std::optional<std::string>("0"))
        return ClearSecret(std::move(stored));
    auto opened = keys.open(stored, std::stoll(*row[0]));
    if (!opened)
        throw MigrationError("a TOTP secret in " + path + " opens with none of the secrets keys " +
                             key_ids(keys) +
                             ": the configuration's state directory must hold the keys of the "
                             "server that wrote it");
    return ClearSecret(std::move(opened->secret));
}

void copy_secret_table(SqliteSource& source, Postgres& target, const SecretTable& table,
                       const IdMap& ids, const KeyRing& keys, const std::string& path)
{
    const std::string select = std::string("SELECT account_id, secret, sealed, ") + table.columns +
                               " FROM " + table.name + " ORDER BY account_id";
    const std::size_t columns = column_count(table.columns);
    const std::string insert = std::string("INSERT INTO ") + table.name + " (account_id, secret, " +
                               table.columns + ") VALUES (" + placeholders(1, columns + 2) + ")";
    auto rows = source.rows(select);
    for (auto& row : rows) {
        const ClearSecret secret = open_secret(row, keys, path);
        // A secret kept in clear by an unsealed file must not linger in this row.
        explicit_bzero(row[1]->data(), row[1]->size());
        const std::int64_t account = new_id(ids, row[0]);
        Row values{std::to_string(account), bytea_text(keys.seal(secret.bytes(), account))};
        values.insert(values.end(), row.begin() + 3, row.end());
        target.run(insert, values);
    }
}

void copy_account_table(SqliteSource& source, Postgres& target, const AccountTable& table,
                        const IdMap& ids, const std::string& server)
{
    // The history of a fleet names the server of each entry: here, this one.
    const bool history = std::string(table.name) == "history";
    const std::string select = std::string("SELECT account_id, ") + table.columns + " FROM " +
                               table.name + " ORDER BY " + table.order;
    const std::size_t columns = column_count(table.columns) + (history ? 1 : 0);
    const std::string insert = std::string("INSERT INTO ") + table.name + " (account_id, " +
                               table.columns + (history ? ", server" : "") + ") VALUES (" +
                               placeholders(1, columns + 1) + ")";
    for (auto& row : source.rows(select)) {
        row[0] = std::to_string(new_id(ids, row[0]));
        if (history)
            row.push_back(server);
        target.run(insert, row);
    }
}

// Every copied secret opens in PostgreSQL for its new account, as a daemon of the fleet will
// open it.
std::size_t check_copied_secrets(Postgres& target, const KeyRing& keys, const std::string& ids)
{
    const auto stored = target.run("SELECT account_id, secret FROM enrolments WHERE account_id = "
                                   "ANY($1::bigint[]) UNION ALL SELECT account_id, secret FROM "
                                   "pending_enrolments WHERE account_id = ANY($1::bigint[])",
                                   {ids});
    const int rows = PQntuples(stored.get());
    for (int row = 0; row < rows; ++row) {
        auto opened =
            keys.open(bytea(stored.get(), row, 1), std::stoll(PQgetvalue(stored.get(), row, 0)));
        if (!opened || !opened->by_current_key)
            throw MigrationError("a copied TOTP secret does not open for its new account");
        explicit_bzero(opened->secret.data(), opened->secret.size());
    }
    return static_cast<std::size_t>(rows);
}

struct Counted {
    const char* label;
    std::int64_t sqlite;
    std::int64_t postgresql;
};

// PostgreSQL's array literal of the new ids: "{4,5,6}".
std::string id_array(const IdMap& ids)
{
    std::string text = "{";
    for (const auto& [old_id, id] : ids)
        text += (text.size() > 1 ? "," : "") + std::to_string(id);
    return text + "}";
}

std::vector<Counted> compare_counts(SqliteSource& source, Postgres& target, const std::string& ids)
{
    std::vector<Counted> counted;
    std::string mismatches;
    for (const auto& check : kCountChecks) {
        const std::string filter = check.filter ? check.filter : "";
        const auto in_sqlite = source.count(std::string("SELECT COUNT(*) FROM ") + check.table +
                                            (filter.empty() ? "" : " WHERE " + filter));
        const auto in_postgresql = target.count(
            std::string("SELECT COUNT(*) FROM ") + check.table + " WHERE " + check.account_column +
                " = ANY($1::bigint[])" + (filter.empty() ? "" : " AND " + filter),
            {ids});
        counted.push_back({check.label, in_sqlite, in_postgresql});
        if (in_sqlite != in_postgresql)
            mismatches += std::string(mismatches.empty() ? "" : ", ") + check.label + " " +
                          std::to_string(in_sqlite) + " in SQLite, " +
                          std::to_string(in_postgresql) + " in PostgreSQL";
    }
    if (!mismatches.empty())
        throw MigrationError("the counts differ (" + mismatches + ")");
    return counted;
}

void print_summary(std::FILE* out, const std::string& path, const std::string& server,
                   const std::vector<Counted>& counted, std::size_t secrets, const KeyRing& keys)
{
    std::fprintf(out, "Copied %s into PostgreSQL; its history names the server %s.\n\n",
                 path.c_str(), server.c_str());
    std::fprintf(out, "  %-22s %10s %12s\n", "", "SQLite", "PostgreSQL");
    for (const auto& line : counted)
        std::fprintf(out, "  %-22s %10lld %12lld\n", line.label,
                     static_cast<long long>(line.sqlite), static_cast<long long>(line.postgresql));
    std::fprintf(out,
                 "\nEvery count matches. %zu TOTP secret(s) sealed again for their new account "
                 "ids (secrets key %s).\n"
                 "Start fotoauthd with this configuration. The SQLite file is no longer used; "
                 "keep it as a backup.\n",
                 secrets, keys.key_id().c_str());
}

}  // namespace

void migrate_from_sqlite(const Config& config, const std::string& sqlite_path, std::FILE* out)
{
    if (config.store != "postgresql")
        throw MigrationError("the configuration must name the fleet's database: set "
                             "store = postgresql and postgresql = CONNECTION (docs/fleet.md)");
    const auto& database_path = config.database_path;
    const std::string state_directory = database_path.substr(0, database_path.rfind('/'));
    const KeyRing keys = existing_secrets_keys(state_directory);
    const std::string server = server_name(config);

    SqliteSource source(sqlite_path);
    const auto accounts =
        source.rows(std::string("SELECT id, ") + kAccountColumns + " FROM accounts ORDER BY id");

    {
        // The tables are made as a daemon's first start would make them; that alone is no copy.
        const PostgresStore schema(config.postgresql, load_secrets_keys(state_directory), server);
    }
    Postgres target(config.postgresql);
    Transaction transaction(target);
    refuse_another_fleet_key(target, keys);
    refuse_conflicts(target, accounts);

    const IdMap ids = copy_accounts(target, accounts);
    keep_as_this_servers(target, id_array(ids), server);
    for (const auto& table : kSecretTables)
        copy_secret_table(source, target, table, ids, keys, sqlite_path);
    for (const auto& table : kAccountTables)
        copy_account_table(source, target, table, ids, server);

    const std::string id_list = id_array(ids);
    const auto counted = compare_counts(source, target, id_list);
    const std::size_t secrets = check_copied_secrets(target, keys, id_list);
    transaction.commit();
    print_summary(out, sqlite_path, server, counted, secrets, keys);
}

}  // namespace fotoauthd
