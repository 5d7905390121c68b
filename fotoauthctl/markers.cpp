#include "markers.hpp"

#include <langinfo.h>

#include <clocale>
#include <cstring>

namespace fotostudio::ctl {

const Markers& markers_for_terminal(bool plain_wanted)
{
    if (plain_wanted)
        return kPlainMarkers;

    // Only the character set is read from the environment: the rest of the locale (numbers,
    // times) stays "C", so that every other output is the same everywhere.
    if (!std::setlocale(LC_CTYPE, ""))
        return kPlainMarkers;
    const char* charset = ::nl_langinfo(CODESET);
    return charset && std::strcmp(charset, "UTF-8") == 0 ? kSymbolMarkers : kPlainMarkers;
}

}  // namespace fotostudio::ctl
