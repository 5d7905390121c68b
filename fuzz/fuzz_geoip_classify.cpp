// The GeoIP source classifier (fotoauthd/geoip.hpp classify) on arbitrary remote host texts:
// PAM_RHOST is whatever the application set, and for sshd it can be a name the client's DNS
// answered with.
//
// It checks the classifier's promises: without a database no place is a country; an address is
// given exactly when the text was an IP literal; and that normalised address, classified again,
// is the same place and the same text, so the address stored in the history and shown in an
// alert means what the login's text meant.
#include "check.hpp"

#include "geoip.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace geoip = fotoauthd::geoip;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view remote_host(reinterpret_cast<const char*>(data), size);
    const geoip::Location location = geoip::classify(remote_host);
    (void)geoip::to_string(location.place);

    fuzz::require(location.place != geoip::Place::Country, "no country without a database");
    fuzz::require(location.country.empty(), "no country code without a database");
    fuzz::require(location.address.empty() == (location.place == geoip::Place::Unknown),
                  "an address exactly for an IP literal");
    if (location.place == geoip::Place::Unknown)
        return 0;

    const geoip::Location again = geoip::classify(location.address);
    fuzz::require(again.place == location.place, "the normalised address is the same place");
    fuzz::require(again.address == location.address, "the normalised address is stable");
    return 0;
}
