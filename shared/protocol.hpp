// The wire protocol between fotoauthd and its clients (the PAM module and fotoauthctl).
//
// One message is one SOCK_SEQPACKET datagram, so the kernel keeps message boundaries and no
// length prefix is needed. Layout, all integers big-endian:
//
//   offset 0  2 bytes  magic "FS"
//   offset 2  1 byte   protocol version (kVersion)
//   offset 3  1 byte   message type (MessageType)
//   offset 4  fields, each: 1 byte tag (Field), 2 bytes length, that many bytes of value
//
// A message is at most kMaxMessageSize bytes. Every message is checked in full before any of it
// is used: size, magic, version, type, field bounds, known tags, no repeated tag, and no NUL byte
// inside a text value. docs/protocol.md is the reference for humans.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fotostudio::protocol {

inline constexpr std::uint8_t kVersion = 1;
inline constexpr std::size_t kMaxMessageSize = 4096;
inline constexpr std::size_t kHeaderSize = 4;
inline constexpr std::size_t kFieldHeaderSize = 3;

// Default path of the daemon's socket; the module and the CLI accept another one as an option.
inline constexpr std::string_view kDefaultSocketPath = "/run/fotoauthd/socket";

enum class MessageType : std::uint8_t {
    // Requests
    AuthQuery = 1,      // does this user need a code?           user, service, rhost, tty
    AuthVerify = 2,     // check a code typed at the prompt       user, service, rhost, tty, code
    SessionOpen = 3,    // redeem the auth stage's nonce          user, nonce
    EnrolBegin = 4,     // create a pending secret                user, mode
    EnrolConfirm = 5,   // confirm it with a code from the app    user, code
    Status = 6,         // the user's MFA state                   user
    Preauth = 7,        // may this login attempt go on at all?  user, service, rhost, tty
    Lockouts = 8,       // root: current locks and blocked sources (no fields)
    Unlock = 9,         // root: lift every lock of a user        user
    Unblock = 10,       // root: clear a source's login window    rhost
    AccountCheck = 11,  // account stage: did this login pass?    user, service, nonce?, auth info?
    Devices = 12,       // the user's trusted devices             user
    ForgetDevice = 13,  // forget one trusted device, or all      user, device id?
    SetMode = 14,       // change the verification mode           user, mode, code
    PasswordChangeCheck = 15,  // may this password change go on?  user, service?
    PasswordChanged = 16,      // the password module changed it   user, service?, caller uid
    History = 17,              // the user's recent security events       user
    RegenerateCodes = 18,      // ten new recovery codes, old ones void  user, code
    DisableMfa = 19,           // turn MFA off                 user, code (root for others: text)
    SetEmail = 20,             // where alerts go (empty: the default)  user, email, code?
    // The only answer
    Reply = 64,
};

enum class Field : std::uint8_t {
    User = 1,             // text: login name
    Service = 2,          // text: PAM service name
    RemoteHost = 3,       // text: PAM_RHOST as the application set it
    Tty = 4,              // text: PAM_TTY
    Code = 5,             // text: what the user typed at the prompt
    Nonce = 6,            // text: proof of a passed auth stage, handed to the session stage
    Mode = 7,             // text: "always" or "new-device"
    ResultCode = 8,       // u8: ReplyStatus
    Text = 9,             // text: a sentence for a human
    Secret = 10,          // text: base32 TOTP secret (only in the EnrolBegin answer)
    Uri = 11,             // text: otpauth:// URI (only in the EnrolBegin answer)
    RecoveryCodes = 12,   // text: the ten new codes separated by '\n' (only once, on confirmation)
    Since = 13,           // u64: unix time when MFA became active
    CodesLeft = 14,       // u64: unused recovery codes
    ExpiresAt = 15,       // u64: unix time when a pending enrolment lapses
    Enrolled = 16,        // u8: 1 when MFA is active
    Pending = 17,         // u8: 1 when an unconfirmed enrolment exists
    PasswordFailed = 18,  // u8: 1 when the password module before this one failed (authfail)
    AuthInfo = 19,        // text: sshd's SSH_AUTH_INFO_0 (which key authenticated), from root only
    RetryAfter = 20,      // u64: seconds until a rate-limited attempt may be made again
    LockedUntil = 21,     // u64: unix time a lock ends
    Entries = 22,       // text: Lockouts answer, one tab-separated line per lock or blocked source
    Count = 23,         // u64: how many entries an Unlock, Unblock or ForgetDevice removed
    DeviceId = 24,      // text: a trusted device's id, as Devices lists it
    DeviceCount = 25,   // u64: trusted devices of the user (Status answer)
    CallerUid = 26,     // u64: the real uid of the process that changed a password
    Email = 27,         // text: an alert address (SetEmail; Status: where alerts go now)
    ClockSynced = 28,   // u8: 0 when the server's clock is not synchronised (Status answer)
    Offset = 29,        // u64: History request: skip this many of the newest entries
    MfaRequired = 30,   // u8: 1 when the group policy requires MFA for the user (Status answer)
    GraceUntil = 31,    // u64: unix time until which a required but unenrolled user may log in
    EmailSource = 32,   // text: "user" (set with email set), "pattern" or "local" (Status answer)
    Hint = 33,          // text: advice for the user beside a refusal (the phone's clock is off)
    CountAttempt = 34,  // u8: 1 on an AuthQuery that also does Preauth's work (no preauth line)
};

// The outcome the daemon reports; docs/pam-return-codes.md maps each to a PAM code.
enum class ReplyStatus : std::uint8_t {
    Ok = 0,
    CodeRequired = 1,      // AuthQuery: enrolled, prompt for a code
    NotEnrolled = 2,       // no active MFA for this user
    Rejected = 3,          // wrong, replayed or malformed code; unknown or spent nonce
    UnknownUser = 4,       // the name does not resolve to an account on this machine
    PermissionDenied = 5,  // the peer may not act for this user
    BadRequest = 6,        // the message was well formed but its fields are not what the type needs
    InternalError = 7,     // the daemon failed (database, randomness); clients fail closed
    AlreadyEnrolled = 8,   // EnrolBegin while MFA is active
    NoPendingEnrolment = 9,  // EnrolConfirm without a pending enrolment, or after it lapsed
    RateLimited = 10,        // too many attempts in the window; Text and RetryAfter say more
    Locked = 11,             // the account is locked after wrong codes; Text and LockedUntil
    Trusted = 12,            // AuthQuery: a trusted device, no code needed; Nonce unless authfail
    EnrolmentRequired = 13,  // AccountCheck: the group policy requires MFA and it is not set up
};

std::string_view to_string(ReplyStatus status) noexcept;

class Message {
public:
    explicit Message(MessageType type) : type_(type) {}
    Message(const Message&) = default;
    Message(Message&&) noexcept = default;
    Message& operator=(const Message&) = default;
    Message& operator=(Message&&) noexcept = default;
    // Values may be codes, secrets or recovery codes: they are wiped before the memory is freed.
    ~Message();

    MessageType type() const noexcept { return type_; }

    // Setters replace an existing value of the same field.
    Message& set(Field field, std::string_view text);
    Message& set_u64(Field field, std::uint64_t value);
    Message& set_u8(Field field, std::uint8_t value);

    // Getters return nothing when the field is absent or has the wrong width.
    std::optional<std::string_view> get(Field field) const noexcept;
    std::optional<std::uint64_t> get_u64(Field field) const noexcept;
    std::optional<std::uint8_t> get_u8(Field field) const noexcept;
    bool has(Field field) const noexcept;

    // Fails (returns false) when the encoded form would exceed kMaxMessageSize. The caller wipes
    // `out` when the message carried anything secret (client.cpp and server.cpp do).
    bool encode(std::vector<std::uint8_t>& out) const;

private:
    struct Entry {
        Field field;
        std::string value;
    };
    const Entry* find(Field field) const noexcept;

    MessageType type_;
    std::vector<Entry> entries_;
};

enum class DecodeError {
    None,
    TooShort,
    TooLong,
    BadMagic,
    BadVersion,
    UnknownType,
    TruncatedField,
    UnknownField,
    RepeatedField,
    BadValue,
};

std::string_view to_string(DecodeError error) noexcept;

struct Decoded {
    std::optional<Message> message;
    DecodeError error = DecodeError::None;
};

Decoded decode(std::span<const std::uint8_t> bytes);

// Builds an answer with just a status and, optionally, a sentence for a human.
Message make_reply(ReplyStatus status, std::string_view text = {});

// The status of an answer, or nothing when the message is not a well-formed Reply.
std::optional<ReplyStatus> reply_status(const Message& reply) noexcept;

}  // namespace fotostudio::protocol
