// Opens the store the configuration names: the SQLite file (the default, one server) or a
// PostgreSQL database shared by a fleet (docs/fleet.md).
#pragma once

#include "config.hpp"
#include "store.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fotoauthd {

// `secrets_key` seals the TOTP secrets in either backend; with PostgreSQL every server of the
// fleet must hold the same one. Throws StoreError when the store cannot be opened.
std::unique_ptr<Store> make_store(const Config& config, std::vector<std::uint8_t> secrets_key);

// The name this daemon writes into the history: `server_name`, else the host name.
std::string server_name(const Config& config);

}  // namespace fotoauthd
