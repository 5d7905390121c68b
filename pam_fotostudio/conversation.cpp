#include "conversation.hpp"

#include <security/pam_ext.h>

#include <cstdlib>
#include <cstring>
#include <utility>

namespace fotostudio::pam {

TypedSecret::TypedSecret(TypedSecret&& other) noexcept : text_(std::exchange(other.text_, nullptr))
{
}

TypedSecret& TypedSecret::operator=(TypedSecret&& other) noexcept
{
    if (this != &other) {
        wipe();
        text_ = std::exchange(other.text_, nullptr);
    }
    return *this;
}

TypedSecret::~TypedSecret()
{
    wipe();
}

std::string_view TypedSecret::view() const noexcept
{
    return text_ ? std::string_view(text_) : std::string_view();
}

void TypedSecret::wipe() noexcept
{
    if (!text_)
        return;
    ::explicit_bzero(text_, std::strlen(text_));
    std::free(text_);
    text_ = nullptr;
}

PromptResult prompt_hidden(pam_handle_t* pamh, const char* question)
{
    char* response = nullptr;
    const int status = pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &response, "%s", question);
    TypedSecret answer(response);
    // pam_prompt reports success when the application returned an answer array whose only
    // entry is NULL; for this module that is no answer at all.
    if (status != PAM_SUCCESS || answer.empty())
        return {PAM_CONV_ERR, {}};
    return {PAM_SUCCESS, std::move(answer)};
}

void tell_error(pam_handle_t* pamh, int flags, const char* message)
{
    if ((flags & static_cast<int>(PAM_SILENT)) != 0)
        return;
    // The message is a courtesy; a conversation that cannot show it changes nothing.
    (void)pam_error(pamh, "%s", message);
}

void tell_info(pam_handle_t* pamh, int flags, const char* message)
{
    if ((flags & static_cast<int>(PAM_SILENT)) != 0)
        return;
    (void)pam_info(pamh, "%s", message);
}

std::string displayable(std::string_view text)
{
    constexpr std::string_view kCut = "...";
    const bool too_long = text.size() > kMaxShownText;
    std::string shown(text.substr(0, too_long ? kMaxShownText - kCut.size() : text.size()));
    for (char& c : shown) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte > 0x7e)
            c = '?';
    }
    if (too_long)
        shown += kCut;
    return shown;
}

bool same_secret(std::string_view typed, std::string_view secret) noexcept
{
    if (typed.size() != secret.size())
        return false;
    volatile unsigned char difference = 0;
    for (std::size_t i = 0; i < typed.size(); ++i)
        difference = difference | static_cast<unsigned char>(typed[i] ^ secret[i]);
    return difference == 0;
}

}  // namespace fotostudio::pam
