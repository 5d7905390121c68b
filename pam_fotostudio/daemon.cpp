#include "daemon.hpp"

namespace fotostudio::pam {

using protocol::Field;
using protocol::Message;
using protocol::MessageType;

namespace {

void describe_caller(Message& message, const Caller& caller)
{
    message.set(Field::User, caller.user);
    message.set(Field::Service, caller.service);
    if (caller.remote_host)
        message.set(Field::RemoteHost, *caller.remote_host);
    if (caller.tty)
        message.set(Field::Tty, *caller.tty);
    if (caller.auth_info)
        message.set(Field::AuthInfo, *caller.auth_info);
}

}  // namespace

Message preauth(const Caller& caller)
{
    Message message(MessageType::Preauth);
    describe_caller(message, caller);
    return message;
}

Message auth_query(const Caller& caller, bool password_failed, bool count_attempt)
{
    Message message(MessageType::AuthQuery);
    describe_caller(message, caller);
    if (password_failed)
        message.set_u8(Field::PasswordFailed, 1);
    if (count_attempt)
        message.set_u8(Field::CountAttempt, 1);
    return message;
}

Message auth_verify(const Caller& caller, std::string_view code, bool password_failed)
{
    Message message(MessageType::AuthVerify);
    describe_caller(message, caller);
    message.set(Field::Code, code);
    if (password_failed)
        message.set_u8(Field::PasswordFailed, 1);
    return message;
}

// SessionOpen describes the whole login, for the daemon's history and its country check, and
// carries the auth stage's nonce when there is one.
Message session_open(const Caller& caller, std::optional<std::string_view> nonce)
{
    Message message(MessageType::SessionOpen);
    describe_caller(message, caller);
    if (nonce)
        message.set(Field::Nonce, *nonce);
    return message;
}

// AccountCheck names the service, whose configuration decides whether a code was needed, but no
// host or terminal: it counts no attempt.
Message account_check(const Caller& caller, std::optional<std::string_view> nonce)
{
    Message message(MessageType::AccountCheck);
    message.set(Field::User, caller.user);
    message.set(Field::Service, caller.service);
    if (nonce)
        message.set(Field::Nonce, *nonce);
    if (caller.auth_info)
        message.set(Field::AuthInfo, *caller.auth_info);
    return message;
}

// The password requests name only the user and the service: a password change has no source
// address or key of its own to count against.
Message password_change_check(const Caller& caller)
{
    Message message(MessageType::PasswordChangeCheck);
    message.set(Field::User, caller.user);
    message.set(Field::Service, caller.service);
    return message;
}

Message password_changed(const Caller& caller, uid_t changed_by)
{
    Message message(MessageType::PasswordChanged);
    message.set(Field::User, caller.user);
    message.set(Field::Service, caller.service);
    message.set_u64(Field::CallerUid, changed_by);
    return message;
}

client::Outcome DaemonLink::exchange(const Message& request)
{
    if (!connection_.is_open())
        return exchange_on_new_connection(request);

    connection_.restart_deadline(options_.timeout);
    auto outcome = connection_.request(request);
    if (outcome.failure == client::Failure::None)
        return outcome;

    connection_ = client::Connection();
    const bool closed_before_answer =
        outcome.failure == client::Failure::Closed || outcome.failure == client::Failure::Io;
    if (!closed_before_answer)
        return outcome;
    return exchange_on_new_connection(request);
}

client::Outcome DaemonLink::exchange_on_new_connection(const Message& request)
{
    auto opened = connection_.open(options_.socket_path, options_.trusted_uid, options_.timeout);
    if (opened.failure != client::Failure::None) {
        connection_ = client::Connection();
        return opened;
    }
    auto outcome = connection_.request(request);
    // A connection that failed is not used again; the next request opens another.
    if (outcome.failure != client::Failure::None)
        connection_ = client::Connection();
    return outcome;
}

std::optional<protocol::ReplyStatus> status_of(const client::Outcome& outcome) noexcept
{
    if (outcome.failure != client::Failure::None || !outcome.reply)
        return std::nullopt;
    return protocol::reply_status(*outcome.reply);
}

}  // namespace fotostudio::pam
