#include "random.hpp"

#include <sys/random.h>

#include <cerrno>
#include <system_error>
#include <vector>

namespace fotoauthd {

void random_bytes(std::span<std::uint8_t> out)
{
    std::size_t filled = 0;
    while (filled < out.size()) {
        const ssize_t got = getrandom(out.data() + filled, out.size() - filled, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            throw std::system_error(errno, std::generic_category(), "getrandom");
        }
        filled += static_cast<std::size_t>(got);
    }
}

std::string random_hex(std::size_t bytes)
{
    static constexpr char kDigits[] = "0123456789abcdef";
    std::vector<std::uint8_t> raw(bytes);
    random_bytes(raw);
    std::string out;
    out.reserve(bytes * 2);
    for (std::uint8_t byte : raw) {
        out += kDigits[byte >> 4];
        out += kDigits[byte & 0x0f];
    }
    return out;
}

}  // namespace fotoauthd
