// `fotoauthd --migrate-from-sqlite PATH`: copies the state of one server (its SQLite file) into
// the PostgreSQL database of a fleet, so that the server joins the fleet without its users
// enrolling again (docs/fleet.md, "Joining a fleet with an existing server").
//
// The SQLite file is only read. Everything is written in one PostgreSQL transaction, which is
// committed only when the counts of rows in both databases agree; any refusal or error leaves
// PostgreSQL as it was. Secrets are sealed again for their new account ids (the sealing binds
// the account id, secret_box.hpp).
#pragma once

#include "config.hpp"

#include <cstdio>
#include <stdexcept>
#include <string>

namespace fotoauthd {

// Why a migration was refused or failed, in words for the administrator (never a secret, a
// hash or the connection string).
class MigrationError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Copies every account of the SQLite file at `sqlite_path`, with all its state, into the
// PostgreSQL database `config` names (`store = postgresql`), using the secrets keys of the state
// directory of `config.database_path`. Prints a summary with the counts to `out`. Throws
// MigrationError (or StoreError when PostgreSQL cannot be reached) having changed nothing.
void migrate_from_sqlite(const Config& config, const std::string& sqlite_path, std::FILE* out);

}  // namespace fotoauthd
