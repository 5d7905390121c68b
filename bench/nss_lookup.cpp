// nss-lookup: what resolving a login name costs on this machine, apart from everything else.
// fotoauthd resolves the name of every login it has not seen in the last ten seconds
// (getpwnam_r through NSS, as login and sshd do); pam_oath never does, so this cost is part of
// the difference between the two in bench/README.md. Looks up the benchmark's users FIRST ..
// FIRST+N-1 (bench_users.hpp) once each, in one process, and prints the mean and p50 in µs.
//
//   nss-lookup --first FIRST --users N
#include "bench_users.hpp"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

int main(int argc, char** argv)
{
    long first = 0;
    long users = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--first") == 0)
            first = std::atol(argv[i + 1]);
        else if (std::strcmp(argv[i], "--users") == 0)
            users = std::atol(argv[i + 1]);
    }
    if (users <= 0) {
        std::fprintf(stderr, "usage: nss-lookup --first FIRST --users N\n");
        return 2;
    }
    std::vector<double> micros;
    long found = 0;
    std::vector<char> buffer(16384);
    for (long index = first; index < first + users; ++index) {
        const std::string name = fsbench::user_name(index);
        passwd entry{};
        passwd* result = nullptr;
        const auto start = std::chrono::steady_clock::now();
        const int rc = getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &result);
        const auto end = std::chrono::steady_clock::now();
        found += rc == 0 && result ? 1 : 0;
        micros.push_back(std::chrono::duration<double, std::micro>(end - start).count());
    }
    std::sort(micros.begin(), micros.end());
    double sum = 0;
    for (const double value : micros)
        sum += value;
    std::printf("result target=nss-lookup lookups=%ld found=%ld mean_us=%.1f p50_us=%.1f\n", users,
                found, sum / static_cast<double>(users), micros[micros.size() / 2]);
    return found == users ? 0 : 1;
}
