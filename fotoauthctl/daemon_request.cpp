#include "daemon_request.hpp"

#include "client.hpp"
#include "exit_codes.hpp"
#include "format.hpp"
#include "terminal.hpp"

#include <string>

namespace fotostudio::ctl {

namespace {

using protocol::Field;
using protocol::ReplyStatus;

// Only a listener running as root is trusted with a user's codes.
constexpr uid_t kTrustedDaemonUid = 0;

std::string explain_failure(const client::Outcome& outcome, const Invocation& invocation)
{
    const std::string path = printable(invocation.socket_path, 200);
    const std::string detail = printable(outcome.detail, 200);
    switch (outcome.failure) {
    case client::Failure::Connect:
        return "cannot reach fotoauthd at " + path + " (" + detail +
               "). Is the fotoauthd service running?";
    case client::Failure::UntrustedPeer:
        return "refusing to talk to " + path + ": it is not served by root (" + detail + ").";
    case client::Failure::Timeout:
        return "fotoauthd at " + path + " did not answer within " +
               std::to_string(invocation.timeout.count()) + " ms.";
    case client::Failure::Closed:
        return "fotoauthd closed the connection without answering; its log says why.";
    case client::Failure::Garbage:
        return "fotoauthd sent an answer that cannot be read (" + detail + ").";
    case client::Failure::Io:
    case client::Failure::None: break;
    }
    return "lost the connection to fotoauthd at " + path + " (" + detail + ").";
}

// The sentence fotoauthd may add to an answer, as a second sentence of ours.
std::string daemon_says(const protocol::Message& reply)
{
    const auto text = reply.get(Field::Text);
    if (!text || text->empty())
        return {};
    return " fotoauthd says: " + printable(*text, 300);
}

}  // namespace

std::optional<protocol::Message> ask_daemon(const Invocation& invocation,
                                            const protocol::Message& request)
{
    client::Connection connection;
    auto outcome = connection.open(invocation.socket_path, kTrustedDaemonUid, invocation.timeout);
    if (outcome.failure == client::Failure::None)
        outcome = connection.request(request);
    if (outcome.failure != client::Failure::None) {
        complain(explain_failure(outcome, invocation));
        return std::nullopt;
    }
    return std::move(outcome.reply);
}

ReplyStatus status_of(const protocol::Message& reply) noexcept
{
    // The connection checked that a reply carries a known status; failing closed regardless.
    return protocol::reply_status(reply).value_or(ReplyStatus::InternalError);
}

int explain_answer(const protocol::Message& reply, std::string_view user)
{
    const ReplyStatus status = status_of(reply);
    const std::string more = daemon_says(reply);
    switch (status) {
    case ReplyStatus::UnknownUser:
        complain("there is no account named '" + printable(user, 64) + "' on this machine." + more);
        return kRefused;
    case ReplyStatus::PermissionDenied:
        complain("fotoauthd refused: only root may manage the MFA of another account." + more);
        return kRefused;
    case ReplyStatus::BadRequest:
        complain("fotoauthd did not understand the request; are fotoauthctl and fotoauthd of "
                 "the same version?" +
                 more);
        return kFailure;
    case ReplyStatus::InternalError:
        complain("fotoauthd failed to carry out the request; its log says why." + more);
        return kFailure;
    default:
        complain("fotoauthd gave an answer that does not fit the request (" +
                 std::string(protocol::to_string(status)) + ")." + more);
        return kFailure;
    }
}

int explain_root_answer(const protocol::Message& reply, std::string_view user)
{
    if (status_of(reply) != ReplyStatus::PermissionDenied)
        return explain_answer(reply, user);
    complain("fotoauthd refused: only root may list or lift locks and login limits." +
             daemon_says(reply));
    return kRefused;
}

std::optional<protocol::Message> ask_status(const Invocation& invocation, std::string_view user,
                                            int& failure)
{
    protocol::Message request(protocol::MessageType::Status);
    request.set(protocol::Field::User, user);
    auto reply = ask_daemon(invocation, request);
    if (!reply) {
        failure = kFailure;
        return std::nullopt;
    }
    if (status_of(*reply) != protocol::ReplyStatus::Ok) {
        failure = explain_answer(*reply, user);
        return std::nullopt;
    }
    return reply;
}

}  // namespace fotostudio::ctl
