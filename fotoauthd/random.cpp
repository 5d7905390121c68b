#include "random.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
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

std::vector<std::uint8_t> load_or_create_key(const std::string& path, std::size_t bytes)
{
    std::vector<std::uint8_t> key(bytes);
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT) {
        random_bytes(key);
        fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 || write(fd, key.data(), key.size()) != static_cast<ssize_t>(key.size()) ||
            fsync(fd) < 0) {
            const int error = errno;
            if (fd >= 0)
                close(fd);
            throw std::runtime_error("cannot write " + path + ": " + std::strerror(error));
        }
        close(fd);
        return key;
    }
    if (fd < 0)
        throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
    const ssize_t got = read(fd, key.data(), key.size());
    char extra = 0;
    const ssize_t more = read(fd, &extra, 1);
    close(fd);
    if (got != static_cast<ssize_t>(key.size()) || more != 0)
        throw std::runtime_error(path + " does not hold a key of " + std::to_string(bytes) +
                                 " bytes");
    return key;
}

}  // namespace fotoauthd
