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

std::unique_ptr<Store> make_store(const Config& config, std::vector<std::uint8_t> secrets_key)
{
    if (config.store == "postgresql") {
        const std::string name = server_name(config);
        auto store =
            std::make_unique<PostgresStore>(config.postgresql, std::move(secrets_key), name);
        // The connection string may hold a password: it is never logged.
        log::info("State kept in PostgreSQL", {{"SERVER", name}});
        return store;
    }
    return std::make_unique<SqliteStore>(config.database_path, std::move(secrets_key));
}

}  // namespace fotoauthd
