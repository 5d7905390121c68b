#include "sensitive.hpp"

#include <string.h>
#include <unistd.h>

#include <cstdio>

namespace fotostudio::ctl {

namespace {

// Larger than everything mfa enable prints at once, QR code included, so that glibc copies it
// all through here rather than writing big chunks straight from the caller's memory.
char stdout_buffer[64 * 1024];

}  // namespace

void SecretText::assign(std::string_view text)
{
    wipe();
    text_.reserve(text.size());
    text_.assign(text);
}

void SecretText::wipe() noexcept
{
    ::explicit_bzero(text_.data(), text_.capacity());
    text_.clear();
}

void wipe_field(protocol::Message& message, protocol::Field field)
{
    const auto value = message.get(field);
    if (value)
        message.set(field, std::string(value->size(), '\0'));
}

void use_own_stdout_buffer()
{
    const int mode = ::isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF;
    std::setvbuf(stdout, stdout_buffer, mode, sizeof(stdout_buffer));
}

void flush_and_wipe_stdout()
{
    std::fflush(stdout);
    ::explicit_bzero(stdout_buffer, sizeof(stdout_buffer));
}

}  // namespace fotostudio::ctl
