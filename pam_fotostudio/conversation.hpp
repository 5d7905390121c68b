// Talking to the user through the application's PAM conversation.
#pragma once

#include <security/pam_modules.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace fotostudio::pam {

// What the user typed at a prompt. The buffer comes from the application's conversation
// function and is wiped before it is freed, so no code or mistyped password lingers in the heap.
class TypedSecret {
public:
    TypedSecret() = default;
    explicit TypedSecret(char* text) noexcept : text_(text) {}
    TypedSecret(const TypedSecret&) = delete;
    TypedSecret& operator=(const TypedSecret&) = delete;
    TypedSecret(TypedSecret&& other) noexcept;
    TypedSecret& operator=(TypedSecret&& other) noexcept;
    ~TypedSecret();

    bool empty() const noexcept { return !text_; }
    std::string_view view() const noexcept;

private:
    void wipe() noexcept;

    char* text_ = nullptr;
};

struct PromptResult {
    int status;          // PAM_SUCCESS, or PAM_CONV_ERR when nothing usable came back
    TypedSecret answer;  // set only with PAM_SUCCESS
};

// Asks one question with echo off.
PromptResult prompt_hidden(pam_handle_t* pamh, const char* question);

// Shows an error message unless the application asked for silence (PAM_SILENT).
void tell_error(pam_handle_t* pamh, int flags, const char* message);
// Shows an informational message unless the application asked for silence (PAM_SILENT).
void tell_info(pam_handle_t* pamh, int flags, const char* message);

// A sentence from the daemon made safe to show on the user's terminal: every byte outside
// printable ASCII becomes '?', so that no escape sequence reaches the terminal, and it is cut to
// at most kMaxShownText bytes, ending in "...", so that it cannot flood the screen.
inline constexpr std::size_t kMaxShownText = 300;
std::string displayable(std::string_view text);

// Compares a typed answer with a secret without leaking, through timing, where they differ.
bool same_secret(std::string_view typed, std::string_view secret) noexcept;

}  // namespace fotostudio::pam
