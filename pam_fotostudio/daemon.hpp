// The module's requests to fotoauthd, and the connection they travel on.
#pragma once

#include "client.hpp"
#include "options.hpp"
#include "protocol.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace fotostudio::pam {

// Who is logging in, as the application described it.
struct Caller {
    std::string user;
    std::string service;
    std::optional<std::string> remote_host;
    std::optional<std::string> tty;
    // sshd's SSH_AUTH_INFO_0: the methods that already succeeded, e.g. the public key of a
    // "publickey,keyboard-interactive" login. The daemon keeps a separate lock for key logins.
    std::optional<std::string> auth_info;
};

// Every request describes the caller in full, AuthInfo included, so that the daemon counts the
// attempt against the right source, user and channel.
protocol::Message preauth(const Caller& caller);
// password_failed: the password module before this one failed (the authfail mode). The daemon
// then counts a wrong code but never accepts or spends a right one, and answers a trusted device
// without a nonce. count_attempt: no preauth line counted this attempt; the daemon does that
// first (answering as Preauth would when it refuses), in the same round trip.
protocol::Message auth_query(const Caller& caller, bool password_failed, bool count_attempt);
protocol::Message auth_verify(const Caller& caller, std::string_view code, bool password_failed);
// The session stage: the nonce of the auth stage when it left one; without one the daemon records
// the login of a user without MFA and refuses an enrolled user's session (CodeRequired).
protocol::Message session_open(const Caller& caller, std::optional<std::string_view> nonce);
// The account stage's question: did this login pass? nonce is the auth stage's, when it left one.
protocol::Message account_check(const Caller& caller, std::optional<std::string_view> nonce);

// The preliminary phase of a password change: may it go on? The daemon counts the attempt.
protocol::Message password_change_check(const Caller& caller);
// After the password module changed the password. changed_by is the real uid of this process
// (passwd runs setuid root, so the daemon's peer is root whoever ran it).
protocol::Message password_changed(const Caller& caller, uid_t changed_by);

// The connection of one PAM call to fotoauthd: opened by the first request, then kept for the
// next ones (Preauth, AuthQuery and AuthVerify of one pam_authenticate share it), so that a
// login costs the daemon one accept instead of three. Each request gets options.timeout of its
// own: the user may have spent minutes at the prompt since the last answer.
class DaemonLink {
public:
    explicit DaemonLink(const Options& options) : options_(options) {}

    // Sends the request and waits for its answer. The daemon closes connections idle for 30 s
    // and older than 2 minutes, and any listener may serve one request per connection: when a
    // kept connection turns out closed before an answer came, the request goes once more over a
    // new one. That is safe because a closed connection's unread request was never handled.
    // A timeout is never retried: the daemon may still be working on it.
    client::Outcome exchange(const protocol::Message& request);

private:
    client::Outcome exchange_on_new_connection(const protocol::Message& request);

    const Options& options_;
    client::Connection connection_;
};

// The daemon's status, or nothing when the exchange failed before an answer arrived.
std::optional<protocol::ReplyStatus> status_of(const client::Outcome& outcome) noexcept;

}  // namespace fotostudio::pam
