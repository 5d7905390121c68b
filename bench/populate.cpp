// bench-populate: enrols users 0..N-1 of bench_users.hpp in every configuration at once, so
// that the peers and fotoauthd hold the same users with the same secrets.
//
//   bench-populate --dir DIR --users N --tested T [--database PATH]
//                  [--postgresql CONNINFO --secrets-key FILE]
//
// Writes into DIR:
//   passwd          one passwd line per user (uid kFirstUid + i), for the benchmark's libnss-db
//   oath-users      pam_oath's users file, user N-1 last
//   ga/NAME/.google_authenticator  google-authenticator's file per user, as `google-authenticator
//   -t -d -f
//                   -r 3 -R 30 -w 3` writes it (its defaults: reuse refused, 3 logins per 30 s),
//                   owned by the user, mode 0400, with 5 scratch codes
// and, with --database, the users' accounts, enrolments and recovery codes into fotoauthd's
// database (created by the daemon beforehand, so that its schema is the daemon's own). The last
// T users get ten recovery codes hashed as the daemon hashes them (yescrypt, cost 1), the code
// bench_users.hpp derives; the others get ten copies of one such hash, of a code nobody types:
// the rows are as many and as large as a real population's.
//
// With --postgresql, the same rows go into a fleet's PostgreSQL database (docs/fleet.md), whose
// schema a first start of fotoauthd has created, by COPY. PostgreSQL holds only sealed secrets,
// so each one is sealed here with the daemon's own SecretBox under the daemon's secrets key
// (FILE: the secrets.key that first start wrote), bound to the account's id as the daemon binds
// it. The account ids are given explicitly (1..N) for that reason.
#include "bench_users.hpp"

#include <crypt.h>
#include <liboath/oath.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "secret_box.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct Options {
    std::string dir;
    std::string database;
    std::string postgresql;
    std::string secrets_key;
    long users = 0;
    long tested = 0;
};

bool parse(int argc, char** argv, Options& o)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string key = argv[i];
        const char* value = argv[i + 1];
        long n = 0;
        const auto end = value + std::strlen(value);
        const bool number = std::from_chars(value, end, n).ptr == end && n > 0;
        if (key == "--dir")
            o.dir = value;
        else if (key == "--database")
            o.database = value;
        else if (key == "--postgresql")
            o.postgresql = value;
        else if (key == "--secrets-key")
            o.secrets_key = value;
        else if (key == "--users" && number)
            o.users = n;
        else if (key == "--tested" && number)
            o.tested = n;
        else
            return false;
    }
    return !o.dir.empty() && o.users > 0 && o.tested > 0 && argc % 2 == 1 &&
           o.postgresql.empty() == o.secrets_key.empty();
}

std::string base32(const std::string& bytes)
{
    char* text = nullptr;
    size_t length = 0;
    if (oath_base32_encode(bytes.data(), bytes.size(), &text, &length) != OATH_OK)
        throw std::runtime_error("oath_base32_encode failed");
    std::string out(text, length);
    std::free(text);
    return out;
}

std::string hex(const std::string& bytes)
{
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out += kHex[c >> 4];
        out += kHex[c & 0x0f];
    }
    return out;
}

// The daemon's recovery code hash: yescrypt, cost 1, of the code without dashes.
std::string yescrypt(std::string code)
{
    code.erase(std::remove(code.begin(), code.end(), '-'), code.end());
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!crypt_gensalt_rn("$y$", 1, nullptr, 0, setting, sizeof(setting)))
        throw std::runtime_error("crypt_gensalt_rn failed");
    auto data = std::make_unique<crypt_data>();
    const char* hashed = crypt_r(code.c_str(), setting, data.get());
    if (!hashed || hashed[0] == '*')
        throw std::runtime_error("crypt_r failed");
    return hashed;
}

void write_file(const std::string& path, const std::string& text, uid_t owner, mode_t mode)
{
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0 || ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
        ::fchown(fd, owner, owner) < 0 || ::fchmod(fd, mode) < 0 || ::close(fd) < 0)
        throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
}

std::string google_authenticator_file(long index)
{
    std::string text = base32(fsbench::secret_of(index)) + "\n";
    text += "\" RATE_LIMIT 3 30\n\" WINDOW_SIZE 3\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n";
    for (int slot = 0; slot < fsbench::kScratchCodes; ++slot)
        text += fsbench::scratch_code(index, slot) + "\n";
    return text;
}

void write_flat_files(const Options& o)
{
    FILE* passwd = std::fopen((o.dir + "/passwd").c_str(), "we");
    FILE* oath = std::fopen((o.dir + "/oath-users").c_str(), "we");
    if (!passwd || !oath)
        throw std::runtime_error("cannot create the passwd or oath-users file in " + o.dir);
    const std::string ga = o.dir + "/ga";
    if (::mkdir(ga.c_str(), 0755) < 0 && errno != EEXIST)
        throw std::runtime_error("cannot create " + ga);

    for (long i = 0; i < o.users; ++i) {
        const std::string name = fsbench::user_name(i);
        const auto uid = static_cast<uid_t>(fsbench::kFirstUid + i);
        std::fprintf(passwd, "%s:x:%u:%u::/nonexistent:/usr/sbin/nologin\n", name.c_str(), uid,
                     uid);
        std::fprintf(oath, "HOTP/T30/6\t%s\t-\t%s\n", name.c_str(),
                     hex(fsbench::secret_of(i)).c_str());
        // google-authenticator writes its new state next to the file as the user: the
        // directory stands for the user's home and belongs to the user.
        const std::string home = ga + "/" + name;
        if ((::mkdir(home.c_str(), 0700) < 0 && errno != EEXIST) ||
            ::chown(home.c_str(), uid, uid) < 0)
            throw std::runtime_error("cannot create " + home + ": " + std::strerror(errno));
        write_file(home + "/.google_authenticator", google_authenticator_file(i), uid, 0400);
    }
    if (std::fclose(passwd) != 0 || std::fclose(oath) != 0)
        throw std::runtime_error("cannot finish the passwd or oath-users file");
}

void check(sqlite3* db, int rc, const char* what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        throw std::runtime_error(std::string(what) + ": " + sqlite3_errmsg(db));
}

sqlite3_stmt* prepare(sqlite3* db, const char* sql)
{
    sqlite3_stmt* stmt = nullptr;
    check(db, sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), sql);
    return stmt;
}

void step(sqlite3* db, sqlite3_stmt* stmt)
{
    check(db, sqlite3_step(stmt), "insert");
    sqlite3_reset(stmt);
}

void write_database(const Options& o)
{
    sqlite3* db = nullptr;
    check(db, sqlite3_open(o.database.c_str(), &db), "open");
    check(db, sqlite3_exec(db, "PRAGMA journal_mode = WAL; BEGIN", nullptr, nullptr, nullptr),
          "begin");
    sqlite3_stmt* account = prepare(
        db, "INSERT INTO accounts (id, name, uid, local, created_at) VALUES (?, ?, ?, 0, ?)");
    sqlite3_stmt* enrolment = prepare(db, "INSERT INTO enrolments (account_id, secret, mode, "
                                          "active_since, last_step) VALUES (?, ?, 'always', ?, 0)");
    sqlite3_stmt* code =
        prepare(db, "INSERT INTO recovery_codes (account_id, hash, created_at) VALUES (?, ?, ?)");

    const std::int64_t now = std::time(nullptr);
    const std::string filler_hash = yescrypt("ZZZZ-ZZZZ-ZZZZ");
    for (long i = 0; i < o.users; ++i) {
        const std::string name = fsbench::user_name(i);
        const std::string secret = fsbench::secret_of(i);
        sqlite3_bind_int64(account, 1, i + 1);
        sqlite3_bind_text(account, 2, name.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(account, 3, fsbench::kFirstUid + i);
        sqlite3_bind_int64(account, 4, now);
        step(db, account);
        sqlite3_bind_int64(enrolment, 1, i + 1);
        sqlite3_bind_blob(enrolment, 2, secret.data(), static_cast<int>(secret.size()),
                          SQLITE_TRANSIENT);
        sqlite3_bind_int64(enrolment, 3, now);
        step(db, enrolment);
        const bool tested = i >= o.users - o.tested;
        for (int slot = 0; slot < fsbench::kRecoveryCodes; ++slot) {
            const std::string hash =
                tested ? yescrypt(fsbench::recovery_code(i, slot)) : filler_hash;
            sqlite3_bind_int64(code, 1, i + 1);
            sqlite3_bind_text(code, 2, hash.c_str(), -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(code, 3, now);
            step(db, code);
        }
    }
    sqlite3_finalize(account);
    sqlite3_finalize(enrolment);
    sqlite3_finalize(code);
    check(db,
          sqlite3_exec(db, "COMMIT; PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr),
          "commit");
    sqlite3_close(db);
}

// One COPY ... FROM STDIN in libpq's text format: row() for each line, then finish(), which
// reports whether the server took them all.
class PostgresCopy {
public:
    PostgresCopy(PGconn* conn, const char* sql) : conn_(conn)
    {
        PGresult* started = PQexec(conn_, sql);
        const bool ok = PQresultStatus(started) == PGRES_COPY_IN;
        PQclear(started);
        if (!ok)
            throw std::runtime_error(std::string(sql) + ": " + PQerrorMessage(conn_));
    }

    void row(const std::string& line)
    {
        if (PQputCopyData(conn_, line.data(), static_cast<int>(line.size())) != 1)
            throw std::runtime_error(std::string("COPY: ") + PQerrorMessage(conn_));
    }

    void finish()
    {
        if (PQputCopyEnd(conn_, nullptr) != 1)
            throw std::runtime_error(std::string("COPY end: ") + PQerrorMessage(conn_));
        PGresult* result = PQgetResult(conn_);
        const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
        PQclear(result);
        while ((result = PQgetResult(conn_)))
            PQclear(result);
        if (!ok)
            throw std::runtime_error(std::string("COPY: ") + PQerrorMessage(conn_));
    }

private:
    PGconn* conn_;
};

void execute(PGconn* conn, const char* sql)
{
    PGresult* result = PQexec(conn, sql);
    const auto status = PQresultStatus(result);
    PQclear(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
        throw std::runtime_error(std::string(sql) + ": " + PQerrorMessage(conn));
}

std::vector<std::uint8_t> read_secrets_key(const std::string& path)
{
    std::ifstream file(path, std::ios::binary);
    std::vector<std::uint8_t> key((std::istreambuf_iterator<char>(file)),
                                  std::istreambuf_iterator<char>());
    if (!file.good() && !file.eof())
        throw std::runtime_error("cannot read the secrets key " + path);
    return key;  // SecretBox refuses a key of the wrong size
}

// A sealed secret as a bytea value in COPY's text format: \x and hex digits, the backslash
// doubled because COPY reads a backslash as an escape.
std::string bytea_text(const std::vector<std::uint8_t>& bytes)
{
    return "\\\\x" + hex(std::string(bytes.begin(), bytes.end()));
}

void write_postgresql(const Options& o)
{
    const fotoauthd::SecretBox box(read_secrets_key(o.secrets_key));
    PGconn* conn = PQconnectdb(o.postgresql.c_str());
    if (PQstatus(conn) != CONNECTION_OK) {
        const std::string message = PQerrorMessage(conn);
        PQfinish(conn);
        throw std::runtime_error("cannot connect to PostgreSQL: " + message);
    }
    try {
        execute(conn, "BEGIN");
        const std::string now = std::to_string(std::time(nullptr));
        const std::string filler_hash = yescrypt("ZZZZ-ZZZZ-ZZZZ");

        // One table after the other: COPY streams one table at a time.
        PostgresCopy accounts(conn, "COPY accounts (id, name, uid, local, created_at) FROM STDIN");
        for (long i = 0; i < o.users; ++i)
            accounts.row(std::to_string(i + 1) + "\t" + fsbench::user_name(i) + "\t" +
                         std::to_string(fsbench::kFirstUid + i) + "\tf\t" + now + "\n");
        accounts.finish();

        PostgresCopy enrolments(conn, "COPY enrolments (account_id, secret, mode, active_since, "
                                      "last_step) FROM STDIN");
        for (long i = 0; i < o.users; ++i) {
            const std::string secret = fsbench::secret_of(i);
            const auto sealed = box.seal(
                {reinterpret_cast<const std::uint8_t*>(secret.data()), secret.size()}, i + 1);
            enrolments.row(std::to_string(i + 1) + "\t" + bytea_text(sealed) + "\talways\t" + now +
                           "\t0\n");
        }
        enrolments.finish();

        PostgresCopy codes(conn, "COPY recovery_codes (account_id, hash, created_at) FROM STDIN");
        for (long i = 0; i < o.users; ++i) {
            const bool tested = i >= o.users - o.tested;
            for (int slot = 0; slot < fsbench::kRecoveryCodes; ++slot)
                codes.row(std::to_string(i + 1) + "\t" +
                          (tested ? yescrypt(fsbench::recovery_code(i, slot)) : filler_hash) +
                          "\t" + now + "\n");
        }
        codes.finish();

        // The ids were given, so the identity goes on after them; then fresh statistics, as a
        // database that has lived a while would have.
        execute(conn, "SELECT setval(pg_get_serial_sequence('accounts', 'id'), "
                      "(SELECT max(id) FROM accounts))");
        execute(conn, "COMMIT");
        execute(conn, "ANALYZE");
    } catch (...) {
        PQfinish(conn);
        throw;
    }
    PQfinish(conn);
}

}  // namespace

int main(int argc, char** argv)
{
    Options o;
    if (!parse(argc, argv, o)) {
        std::fprintf(stderr, "usage: bench-populate --dir DIR --users N --tested T "
                             "[--database PATH] [--postgresql CONNINFO --secrets-key FILE]\n");
        return 2;
    }
    try {
        if (oath_init() != OATH_OK)
            throw std::runtime_error("oath_init failed");
        write_flat_files(o);
        if (!o.database.empty())
            write_database(o);
        if (!o.postgresql.empty())
            write_postgresql(o);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "bench-populate: %s\n", error.what());
        return 1;
    }
    return 0;
}
