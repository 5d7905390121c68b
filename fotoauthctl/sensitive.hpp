// Secrets (the TOTP secret, its URI and QR code, the recovery codes, typed codes) stay in the
// memory of fotoauthctl no longer than needed: once printed or sent, the buffers fotoauthctl
// owns are overwritten with explicit_bzero, which the compiler may not optimise away.
#pragma once

#include "protocol.hpp"

#include <string>
#include <string_view>

namespace fotostudio::ctl {

// A string that is wiped, over its whole capacity, when it is reassigned or destroyed.
class SecretText {
public:
    SecretText() = default;
    explicit SecretText(std::string_view text) { assign(text); }
    SecretText(const SecretText&) = delete;
    SecretText& operator=(const SecretText&) = delete;
    ~SecretText() { wipe(); }

    // Reserves before copying, so that no growing copy is left behind in freed memory.
    void assign(std::string_view text);
    void wipe() noexcept;

    std::string& text() noexcept { return text_; }
    const std::string& text() const noexcept { return text_; }

private:
    std::string text_;
};

// Overwrites a field of a message with NUL bytes of the same length, which std::string does in
// place, so that the received copy of a secret is gone before the message is freed.
void wipe_field(protocol::Message& message, protocol::Field field);

// Makes stdout write through a buffer of fotoauthctl, so that secrets printed through it can be
// wiped from it afterwards. Must be called before anything is printed.
void use_own_stdout_buffer();

// Flushes stdout, then wipes its buffer.
void flush_and_wipe_stdout();

}  // namespace fotostudio::ctl
