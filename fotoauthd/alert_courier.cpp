#include "alert_courier.hpp"

#include "log.hpp"

#include <algorithm>
#include <charconv>
#include <string_view>
#include <exception>

namespace fotoauthd {

namespace {

constexpr std::int64_t kFirstPause = 60;  // seconds
constexpr std::int64_t kLongestPause = 3600;

mail::Transport transport_of(const Config& config, const std::string& host_name)
{
    mail::Transport transport;
    transport.sendmail_path = config.sendmail_path;
    transport.helo_name = host_name;
    if (!config.smtp_relay.empty()) {
        const auto colon = config.smtp_relay.rfind(':');
        transport.kind = mail::Transport::Kind::Smtp;
        transport.smtp_host = config.smtp_relay.substr(0, colon);
        transport.smtp_port =
            static_cast<unsigned>(std::stoul(config.smtp_relay.substr(colon + 1)));
    }
    return transport;
}

}  // namespace

AlertCourier::AlertCourier(const Config& config, Store& store, const Clock& clock,
                           std::string host_name)
    : config_(config), store_(store), clock_(clock), host_name_(std::move(host_name))
{
    reconfigure();
    // Mail that failed before the restart is tried again at once: a restart is often how a
    // fixed mail setup is applied.
    store_.mail_due_by(clock_.now());
}

void AlertCourier::reconfigure()
{
    transport_ = transport_of(config_, host_name_);
    sender_ = config_.alert_from.empty() ? "fotoauthd@" + host_name_ : config_.alert_from;
}

std::int64_t AlertCourier::retry_pause(std::int64_t attempts) noexcept
{
    std::int64_t pause = kFirstPause;
    for (std::int64_t i = 1; i < attempts && pause < kLongestPause; ++i)
        pause *= 2;
    return std::min(pause, kLongestPause);
}

void AlertCourier::tick() noexcept
{
    try {
        if (running_) {
            const auto state = running_->poll();
            if (state == mail::Delivery::State::Running) {
                if (clock_.monotonic_ms() < deadline_ms_)
                    return;
                running_->kill();
                finish(mail::Delivery::State::Failed,
                       "the MTA did not finish within alert_timeout");
                return;
            }
            finish(state, running_->failure());
            return;
        }
        start_next();
        if (!last_failure_.empty()) {
            log::info("Alert mail delivery works again");
            last_failure_.clear();
        }
    } catch (const std::exception& error) {
        if (last_failure_ != error.what())
            log::error("Alert mail delivery failed", {{"ERROR", error.what()}});
        last_failure_ = error.what();
        running_.reset();
        sending_.reset();
    }
}

void AlertCourier::start_next()
{
    sending_ = store_.next_mail(clock_.now());
    if (!sending_)
        return;
    running_ = mail::Delivery::start(transport_, sender_, sending_->recipient, sending_->message);
    deadline_ms_ = clock_.monotonic_ms() + config_.alert_timeout.count() * 1000;
}

void AlertCourier::finish(mail::Delivery::State state, const std::string& failure)
{
    const OutboxMail mail = *sending_;
    running_.reset();
    sending_.reset();

    if (state == mail::Delivery::State::Delivered) {
        store_.mail_sent(mail.id);
        log::info("Alert mail handed to the MTA",
                  {{"RECIPIENT", mail.recipient}, {"ATTEMPTS", std::to_string(mail.attempts + 1)}});
        return;
    }
    const std::int64_t attempts = mail.attempts + 1;
    if (attempts >= kMaxAttempts) {
        store_.mail_sent(mail.id);
        log::error("Alert mail dropped after repeated failures",
                   {{"RECIPIENT", mail.recipient},
                    {"ATTEMPTS", std::to_string(attempts)},
                    {"ERROR", failure}});
        return;
    }
    const std::int64_t pause = retry_pause(attempts);
    store_.mail_failed(mail.id, clock_.now() + pause);
    log::warning("Alert mail not delivered; trying again later",
                 {{"RECIPIENT", mail.recipient},
                  {"ATTEMPTS", std::to_string(attempts)},
                  {"RETRY_IN", std::to_string(pause)},
                  {"ERROR", failure}});
}

}  // namespace fotoauthd
