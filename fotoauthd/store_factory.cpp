#include "store_factory.hpp"

#include "log.hpp"
#include "postgres_store.hpp"
#include "sqlite_store.hpp"

#include <unistd.h>

#include <climits>

namespace fotoauthd {

std::string server_name(const Config& config)
{
    if (!config.server_name.empty())
        return config.server_name;
    char host[HOST_NAME_MAX + 1] = {};
    if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
        return "localhost";
    return host;
}

namespace {

void log_secrets_keys(const KeyRing& keys)
{
    if (keys.other_keys() == 0) {
        log::info("TOTP secrets are sealed with the secrets key", {{"KEY_ID", keys.key_id()}});
        return;
    }
    // Worth seeing at every start: a rotation left half done keeps an old key alive.
    log::write(log::Level::Notice,
               "TOTP secrets are sealed with the secrets key; other keys only open them until "
               "the rotation is finished",
               {{"KEY_ID", keys.key_id()}, {"OPEN_ONLY_KEY_IDS", keys.other_key_ids()}});
}

}  // namespace

std::unique_ptr<Store> make_store(const Config& config, KeyRing secrets_keys)
{
    log_secrets_keys(secrets_keys);
    if (config.store == "postgresql") {
        const std::string name = server_name(config);
        auto store =
            std::make_unique<PostgresStore>(config.postgresql, std::move(secrets_keys), name);
        // The connection string may hold a password: it is never logged.
        log::info("State kept in PostgreSQL", {{"SERVER", name}});
        return store;
    }
    return std::make_unique<SqliteStore>(config.database_path, std::move(secrets_keys));
}

}  // namespace fotoauthd
