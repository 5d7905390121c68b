// Opens the store the configuration names: the SQLite file (the default, one server) or a
// PostgreSQL database shared by a fleet (docs/fleet.md).
#pragma once

#include "config.hpp"
#include "secret_box.hpp"
#include "store.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fotoauthd {

// `secrets_keys` seal and open the TOTP secrets in either backend; with PostgreSQL every server
// of the fleet must hold the same keys. Throws StoreError when the store cannot be opened.
std::unique_ptr<Store> make_store(const Config& config, KeyRing secrets_keys);

// The name this daemon writes into the history: `server_name`, else the host name.
std::string server_name(const Config& config);

}  // namespace fotoauthd
