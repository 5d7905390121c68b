// geoip-lookup DBPATH ADDRESS...: looks each address up as fotoauthd does and prints one line per
// address, "ADDRESS<TAB>PLACE<TAB>COUNTRY", PLACE being local, unknown, not-listed or country.
// ADDRESS is the argument as given, with anything but printable ASCII shown as '?'. An empty
// DBPATH means no database configured. What the lookup logs goes to stderr, as the daemon's would.
#include "geoip.hpp"
#include "log.hpp"

#include <cstdio>
#include <string>

int main(int argc, char** argv)
{
    if (argc < 2) {
        std::fputs("usage: geoip-lookup DBPATH ADDRESS...\n", stderr);
        return 2;
    }
    fotoauthd::log::init(false);

    fotoauthd::geoip::CountryDatabase database(argv[1]);
    for (int i = 2; i < argc; ++i) {
        const auto location = database.locate(argv[i]);
        const std::string line = fotoauthd::log::printable(argv[i], 4096) + "\t" +
                                 std::string(fotoauthd::geoip::to_string(location.place)) + "\t" +
                                 location.country + "\n";
        std::fputs(line.c_str(), stdout);
    }
    return std::fflush(stdout) == 0 ? 0 : 1;
}
