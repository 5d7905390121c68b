// What the fuzz targets share: a property check that stops the run like a crash, so that
// libFuzzer saves the input that broke it, as it does for a sanitizer report.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace fuzz {

// Aborts with `what` on stderr when `holds` is false. The message names the broken promise of
// the code under test; the input that broke it is what libFuzzer writes out next.
inline void require(bool holds, const char* what)
{
    if (holds)
        return;
    std::fprintf(stderr, "fuzz: property broken: %s\n", what);
    std::abort();
}

}  // namespace fuzz
