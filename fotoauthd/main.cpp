// fotoauthd: the privileged daemon that owns every secret and decides every login.
#include "authenticator.hpp"
#include "build_config.hpp"
#include "config.hpp"
#include "log.hpp"
#include "migrate_sqlite.hpp"
#include "random.hpp"
#include "server.hpp"
#include "sessions.hpp"
#include "sqlite_store.hpp"
#include "store_factory.hpp"
#include "totp.hpp"
#include "user_directory.hpp"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <string>

namespace {

struct Arguments {
    std::string config_path = FOTOSTUDIO_DEFAULT_CONFIG;
    bool config_given = false;
    bool check_only = false;
    bool reseal_secrets = false;
    std::optional<std::string> migrate_from;  // --migrate-from-sqlite PATH
    bool debug = false;
};

void print_usage(FILE* out)
{
    std::fprintf(out,
                 "Usage: fotoauthd [--config PATH] [--check-config | --reseal-secrets] [--debug]\n"
                 "       fotoauthd [--config PATH] --migrate-from-sqlite PATH\n"
                 "\n"
                 "The fotostudio-auth daemon. Runs in the foreground; logs to the journal when\n"
                 "started by systemd, else to standard error.\n"
                 "\n"
                 "  --config PATH    configuration file (default %s)\n"
                 "  --check-config   report configuration errors and exit\n"
                 "  --reseal-secrets seal every TOTP secret again with the current secrets key\n"
                 "                   and exit (rotating the key: docs/secrets.md)\n"
                 "  --migrate-from-sqlite PATH\n"
                 "                   copy this server's SQLite state into the PostgreSQL database\n"
                 "                   of the configuration and exit (docs/fleet.md)\n"
                 "  --debug          log debug messages\n"
                 "  --version        print the version and exit\n",
                 FOTOSTUDIO_DEFAULT_CONFIG);
}

// Returns -1 to go on, else the exit status.
int parse_arguments(int argc, char** argv, Arguments& arguments)
{
    for (int i = 1; i < argc; ++i) {
        const std::string argument = argv[i];
        if (argument == "--config" && i + 1 < argc) {
            arguments.config_path = argv[++i];
            arguments.config_given = true;
        } else if (argument == "--check-config") {
            arguments.check_only = true;
        } else if (argument == "--reseal-secrets") {
            arguments.reseal_secrets = true;
        } else if (argument == "--migrate-from-sqlite") {
            if (i + 1 == argc) {
                std::fprintf(stderr, "fotoauthd: --migrate-from-sqlite needs the path of the "
                                     "SQLite database\n");
                return 2;
            }
            arguments.migrate_from = argv[++i];
        } else if (argument == "--debug") {
            arguments.debug = true;
        } else if (argument == "--version") {
            std::printf("fotoauthd %s\n", FOTOSTUDIO_VERSION);
            return 0;
        } else if (argument == "--help" || argument == "-h") {
            print_usage(stdout);
            return 0;
        } else {
            std::fprintf(stderr, "fotoauthd: unknown argument '%s'\n", argv[i]);
            print_usage(stderr);
            return 2;
        }
    }
    return -1;
}

// Connections and the processes a password change waits for each hold a descriptor: take the
// hard limit rather than the default soft one (1024).
void raise_descriptor_limit()
{
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &limit);
    }
}

// SIGHUP: reads the configuration file again. A file with any error changes nothing (the errors
// are logged, the running configuration stays); a good one replaces the running configuration
// in place, except for what only a restart can change, which keeps its running value.
void reload_configuration(const Arguments& arguments, fotoauthd::Config& running,
                          fotoauthd::Authenticator& authenticator)
{
    auto fresh = fotoauthd::load_config(arguments.config_path, arguments.config_given);
    if (!fresh.errors.empty()) {
        for (const auto& error : fresh.errors)
            fotoauthd::log::error("Configuration error", {{"ERROR", fotoauthd::to_string(error)}});
        fotoauthd::log::error("Configuration not reloaded: the running one stays",
                              {{"CONFIG", arguments.config_path}});
        return;
    }

    const auto keep = [](const char* key, auto& new_value, const auto& old_value) {
        if (new_value == old_value)
            return;
        fotoauthd::log::warning("A changed setting takes effect at the next start only",
                                {{"KEY", key}});
        new_value = old_value;
    };
    keep("socket", fresh.config.socket_path, running.socket_path);
    keep("database", fresh.config.database_path, running.database_path);
    keep("session_manager", fresh.config.session_manager, running.session_manager);
    keep("store", fresh.config.store, running.store);
    keep("postgresql", fresh.config.postgresql, running.postgresql);
    keep("server_name", fresh.config.server_name, running.server_name);

    running = std::move(fresh.config);
    authenticator.reconfigure();
    fotoauthd::log::info("Configuration reloaded", {{"CONFIG", arguments.config_path}});
}

// --reseal-secrets: the second step of rotating the secrets key, run while the daemons serve.
int reseal_secrets(const fotoauthd::Config& config)
{
    try {
        const auto& database_path = config.database_path;
        fotoauthd::ensure_private_directory(database_path);
        const std::string state_directory = database_path.substr(0, database_path.rfind('/'));
        // A key created here would open nothing: the daemon's keys or none.
        auto keys = fotoauthd::load_secrets_keys(state_directory, false);
        const std::string key_id = keys.key_id();
        const auto store = fotoauthd::make_store(config, std::move(keys));
        const auto count = store->reseal_secrets();
        std::printf("Resealed %zu TOTP secrets with the secrets key %s; %zu were sealed with it "
                    "already.\n",
                    count.resealed, key_id.c_str(), count.already_current);
        return 0;
    } catch (const std::exception& error) {
        fotoauthd::log::error("The TOTP secrets were not resealed", {{"ERROR", error.what()}});
        return 1;
    }
}

// --migrate-from-sqlite PATH: this server joins a fleet with its state (docs/fleet.md).
int migrate_from_sqlite(const fotoauthd::Config& config, const std::string& path)
{
    try {
        fotoauthd::migrate_from_sqlite(config, path, stdout);
        return 0;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "fotoauthd: nothing was migrated: %s\n", error.what());
        return 1;
    }
}

}  // namespace

int main(int argc, char** argv)
{
    Arguments arguments;
    if (const int status = parse_arguments(argc, argv, arguments); status >= 0)
        return status;

    fotoauthd::log::init(arguments.debug);
    auto loaded = fotoauthd::load_config(arguments.config_path, arguments.config_given);
    for (const auto& error : loaded.errors)
        std::fprintf(stderr, "fotoauthd: %s\n", fotoauthd::to_string(error).c_str());
    if (!loaded.errors.empty()) {
        std::fprintf(stderr, "fotoauthd: refusing to start with a bad configuration\n");
        return 1;
    }
    if (arguments.check_only) {
        std::printf("%s: configuration is valid\n", arguments.config_path.c_str());
        return 0;
    }

    // Everything the daemon creates (database, journal files) is private unless chmod'ed.
    umask(077);
    if (arguments.reseal_secrets)
        return reseal_secrets(loaded.config);
    if (arguments.migrate_from)
        return migrate_from_sqlite(loaded.config, *arguments.migrate_from);
    raise_descriptor_limit();
    try {
        fotoauthd::totp::init();
        // The keys live next to the database, in the directory only root may enter. With
        // PostgreSQL they stay there: the daemons hold them, never the shared database.
        const auto& database_path = loaded.config.database_path;
        fotoauthd::ensure_private_directory(database_path);
        const std::string state_directory = database_path.substr(0, database_path.rfind('/'));
        const auto owned_store =
            fotoauthd::make_store(loaded.config, fotoauthd::load_secrets_keys(state_directory));
        fotoauthd::Store& store = *owned_store;
        fotoauthd::SystemClock clock;
        fotoauthd::NssUserDirectory system_users;
        fotoauthd::CachingUserDirectory users(system_users,
                                              [&clock] { return clock.monotonic_ms(); });
        auto shadow_key = fotoauthd::load_or_create_key(state_directory + "/shadow-digest.key", 32);
        const auto sessions = fotoauthd::make_session_ender(loaded.config);
        fotoauthd::log::info("Sessions are ended through " + std::string(sessions->name()));
        // Everything holds a reference to this one Config, so that a reload changes it in place.
        fotoauthd::Config& config = loaded.config;
        fotoauthd::Authenticator authenticator(config, store, users, clock, *sessions,
                                               std::move(shadow_key));
        const auto listening = fotoauthd::open_listening_socket(config.socket_path);
        fotoauthd::Server server(authenticator, listening.fd,
                                 [&] { reload_configuration(arguments, config, authenticator); });
        const int status = server.run();
        // A socket file left behind would look like a running daemon to scripts that wait for it.
        if (!listening.bound_path.empty())
            (void)unlink(listening.bound_path.c_str());
        return status;
    } catch (const std::exception& error) {
        fotoauthd::log::error("fotoauthd cannot start", {{"ERROR", error.what()}});
        return 1;
    }
}
