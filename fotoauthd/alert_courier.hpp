// Takes alert mails out of the outbox and hands them to the MTA, one at a time, in the background
// (docs/alerts.md). Called from the daemon's one-second tick, so a slow or hung MTA never holds up
// a login: each delivery is a child process (mail_delivery.hpp), killed when it runs past
// alert_timeout. A mail leaves the outbox only once the MTA took it; a failed attempt is retried
// with a growing pause, and one that failed for about two days is dropped with an error in the
// log. The outbox is in the database, so mail still waiting survives a restart of the daemon,
// and is tried again as soon as the daemon starts.
#pragma once

#include "clock.hpp"
#include "config.hpp"
#include "mail_delivery.hpp"
#include "store.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace fotoauthd {

class AlertCourier {
public:
    AlertCourier(const Config& config, Store& store, const Clock& clock, std::string host_name);

    // After a configuration reload: the next delivery uses the new transport and sender; one
    // running now finishes as it started.
    void reconfigure();

    // Finishes, times out or starts a delivery; never throws.
    void tick() noexcept;

    // The pause before attempt `attempts + 1` after `attempts` failures.
    static std::int64_t retry_pause(std::int64_t attempts) noexcept;

    // Attempts after which a mail is dropped.
    static constexpr std::int64_t kMaxAttempts = 40;

private:
    void finish(mail::Delivery::State state, const std::string& failure);
    void start_next();

    const Config& config_;
    Store& store_;
    const Clock& clock_;
    std::string host_name_;
    mail::Transport transport_;
    std::string sender_;
    std::unique_ptr<mail::Delivery> running_;
    std::optional<OutboxMail> sending_;
    std::int64_t deadline_ms_ = 0;
    // The error of the last tick that failed, logged once rather than every second (a
    // database that is down fails every tick the same way); empty after a tick that worked.
    std::string last_failure_;
};

}  // namespace fotoauthd
