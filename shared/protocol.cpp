#include "protocol.hpp"

#include <algorithm>
#include <cstring>

namespace fotostudio::protocol {

namespace {

constexpr std::uint8_t kMagic0 = 'F';
constexpr std::uint8_t kMagic1 = 'S';

bool is_known_type(std::uint8_t value) noexcept
{
    switch (static_cast<MessageType>(value)) {
    case MessageType::AuthQuery:
    case MessageType::AuthVerify:
    case MessageType::SessionOpen:
    case MessageType::EnrolBegin:
    case MessageType::EnrolConfirm:
    case MessageType::Status:
    case MessageType::Preauth:
    case MessageType::Lockouts:
    case MessageType::Unlock:
    case MessageType::Unblock:
    case MessageType::AccountCheck:
    case MessageType::Devices:
    case MessageType::ForgetDevice:
    case MessageType::SetMode:
    case MessageType::PasswordChangeCheck:
    case MessageType::PasswordChanged:
    case MessageType::History:
    case MessageType::RegenerateCodes:
    case MessageType::DisableMfa:
    case MessageType::SetEmail:
    case MessageType::Reply: return true;
    }
    return false;
}

enum class FieldKind { Text, U8, U64 };

// The width rule of each tag; nothing when the tag is unknown.
std::optional<FieldKind> kind_of(std::uint8_t tag) noexcept
{
    switch (static_cast<Field>(tag)) {
    case Field::User:
    case Field::Service:
    case Field::RemoteHost:
    case Field::Tty:
    case Field::Code:
    case Field::Nonce:
    case Field::Mode:
    case Field::Text:
    case Field::Secret:
    case Field::Uri:
    case Field::RecoveryCodes:
    case Field::AuthInfo:
    case Field::Entries:
    case Field::DeviceId:
    case Field::Email:
    case Field::EmailSource:
    case Field::Hint: return FieldKind::Text;
    case Field::ResultCode:
    case Field::Enrolled:
    case Field::Pending:
    case Field::PasswordFailed:
    case Field::ClockSynced:
    case Field::MfaRequired:
    case Field::CountAttempt: return FieldKind::U8;
    case Field::Since:
    case Field::CodesLeft:
    case Field::ExpiresAt:
    case Field::RetryAfter:
    case Field::LockedUntil:
    case Field::Count:
    case Field::DeviceCount:
    case Field::CallerUid:
    case Field::Offset:
    case Field::GraceUntil: return FieldKind::U64;
    }
    return std::nullopt;
}

bool value_fits(FieldKind kind, std::span<const std::uint8_t> value) noexcept
{
    switch (kind) {
    case FieldKind::Text:
        return std::find(value.begin(), value.end(), std::uint8_t{0}) == value.end();
    case FieldKind::U8: return value.size() == 1;
    case FieldKind::U64: return value.size() == 8;
    }
    return false;
}

}  // namespace

std::string_view to_string(ReplyStatus status) noexcept
{
    switch (status) {
    case ReplyStatus::Ok: return "ok";
    case ReplyStatus::CodeRequired: return "code-required";
    case ReplyStatus::NotEnrolled: return "not-enrolled";
    case ReplyStatus::Rejected: return "rejected";
    case ReplyStatus::UnknownUser: return "unknown-user";
    case ReplyStatus::PermissionDenied: return "permission-denied";
    case ReplyStatus::BadRequest: return "bad-request";
    case ReplyStatus::InternalError: return "internal-error";
    case ReplyStatus::AlreadyEnrolled: return "already-enrolled";
    case ReplyStatus::NoPendingEnrolment: return "no-pending-enrolment";
    case ReplyStatus::RateLimited: return "rate-limited";
    case ReplyStatus::Locked: return "locked";
    case ReplyStatus::Trusted: return "trusted";
    case ReplyStatus::EnrolmentRequired: return "enrolment-required";
    }
    return "unknown-status";
}

std::string_view to_string(DecodeError error) noexcept
{
    switch (error) {
    case DecodeError::None: return "no error";
    case DecodeError::TooShort: return "message shorter than its header";
    case DecodeError::TooLong: return "message longer than the protocol allows";
    case DecodeError::BadMagic: return "not a fotoauthd message";
    case DecodeError::BadVersion: return "unsupported protocol version";
    case DecodeError::UnknownType: return "unknown message type";
    case DecodeError::TruncatedField: return "field runs past the end of the message";
    case DecodeError::UnknownField: return "unknown field";
    case DecodeError::RepeatedField: return "field appears twice";
    case DecodeError::BadValue: return "field value has the wrong width or a NUL byte";
    }
    return "unknown decode error";
}

Message::~Message()
{
    for (auto& entry : entries_)
        explicit_bzero(entry.value.data(), entry.value.size());
}

Message& Message::set(Field field, std::string_view text)
{
    auto it = std::find_if(entries_.begin(), entries_.end(),
                           [field](const Entry& entry) { return entry.field == field; });
    if (it != entries_.end()) {
        explicit_bzero(it->value.data(), it->value.size());
        it->value.assign(text);
    } else
        entries_.push_back(Entry{field, std::string(text)});
    return *this;
}

Message& Message::set_u64(Field field, std::uint64_t value)
{
    std::string bytes(8, '\0');
    for (int i = 7; i >= 0; --i) {
        bytes[static_cast<std::size_t>(i)] = static_cast<char>(value & 0xff);
        value >>= 8;
    }
    return set(field, bytes);
}

Message& Message::set_u8(Field field, std::uint8_t value)
{
    return set(field, std::string(1, static_cast<char>(value)));
}

const Message::Entry* Message::find(Field field) const noexcept
{
    for (const auto& entry : entries_)
        if (entry.field == field)
            return &entry;
    return nullptr;
}

std::optional<std::string_view> Message::get(Field field) const noexcept
{
    const Entry* entry = find(field);
    if (!entry)
        return std::nullopt;
    return std::string_view(entry->value);
}

std::optional<std::uint64_t> Message::get_u64(Field field) const noexcept
{
    const Entry* entry = find(field);
    if (!entry || entry->value.size() != 8)
        return std::nullopt;
    std::uint64_t value = 0;
    for (char byte : entry->value)
        value = (value << 8) | static_cast<std::uint8_t>(byte);
    return value;
}

std::optional<std::uint8_t> Message::get_u8(Field field) const noexcept
{
    const Entry* entry = find(field);
    if (!entry || entry->value.size() != 1)
        return std::nullopt;
    return static_cast<std::uint8_t>(entry->value[0]);
}

bool Message::has(Field field) const noexcept
{
    return find(field) != nullptr;
}

bool Message::encode(std::vector<std::uint8_t>& out) const
{
    std::size_t size = kHeaderSize;
    for (const auto& entry : entries_)
        size += kFieldHeaderSize + entry.value.size();
    if (size > kMaxMessageSize)
        return false;

    out.clear();
    out.reserve(size);
    out.push_back(kMagic0);
    out.push_back(kMagic1);
    out.push_back(kVersion);
    out.push_back(static_cast<std::uint8_t>(type_));
    for (const auto& entry : entries_) {
        out.push_back(static_cast<std::uint8_t>(entry.field));
        out.push_back(static_cast<std::uint8_t>(entry.value.size() >> 8));
        out.push_back(static_cast<std::uint8_t>(entry.value.size() & 0xff));
        out.insert(out.end(), entry.value.begin(), entry.value.end());
    }
    return true;
}

Decoded decode(std::span<const std::uint8_t> bytes)
{
    if (bytes.size() > kMaxMessageSize)
        return {std::nullopt, DecodeError::TooLong};
    if (bytes.size() < kHeaderSize)
        return {std::nullopt, DecodeError::TooShort};
    if (bytes[0] != kMagic0 || bytes[1] != kMagic1)
        return {std::nullopt, DecodeError::BadMagic};
    if (bytes[2] != kVersion)
        return {std::nullopt, DecodeError::BadVersion};
    if (!is_known_type(bytes[3]))
        return {std::nullopt, DecodeError::UnknownType};

    Message message(static_cast<MessageType>(bytes[3]));
    std::size_t offset = kHeaderSize;
    while (offset < bytes.size()) {
        if (bytes.size() - offset < kFieldHeaderSize)
            return {std::nullopt, DecodeError::TruncatedField};
        const std::uint8_t tag = bytes[offset];
        const std::size_t length = (std::size_t{bytes[offset + 1]} << 8) | bytes[offset + 2];
        offset += kFieldHeaderSize;
        if (bytes.size() - offset < length)
            return {std::nullopt, DecodeError::TruncatedField};

        const auto kind = kind_of(tag);
        if (!kind)
            return {std::nullopt, DecodeError::UnknownField};
        const auto field = static_cast<Field>(tag);
        if (message.has(field))
            return {std::nullopt, DecodeError::RepeatedField};
        const auto value = bytes.subspan(offset, length);
        if (!value_fits(*kind, value))
            return {std::nullopt, DecodeError::BadValue};

        message.set(field, std::string_view(reinterpret_cast<const char*>(value.data()), length));
        offset += length;
    }
    return {std::move(message), DecodeError::None};
}

Message make_reply(ReplyStatus status, std::string_view text)
{
    Message reply(MessageType::Reply);
    reply.set_u8(Field::ResultCode, static_cast<std::uint8_t>(status));
    if (!text.empty())
        reply.set(Field::Text, text);
    return reply;
}

std::optional<ReplyStatus> reply_status(const Message& reply) noexcept
{
    if (reply.type() != MessageType::Reply)
        return std::nullopt;
    const auto code = reply.get_u8(Field::ResultCode);
    if (!code || *code > static_cast<std::uint8_t>(ReplyStatus::EnrolmentRequired))
        return std::nullopt;
    return static_cast<ReplyStatus>(*code);
}

}  // namespace fotostudio::protocol
