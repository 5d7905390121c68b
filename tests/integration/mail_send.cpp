// mail-send: builds one alert e-mail with fotoauthd's own code and delivers it with fotoauthd's
// own Delivery, for the integration tests that hand it to the real Postfix.
//
//   mail-send --transport sendmail|smtp [--sendmail PATH] [--smtp-host HOST] [--smtp-port N]
//             [--helo NAME] [--time-limit SECONDS] --from ADDRESS --to RECIPIENT
//             --user NAME --host NAME --country CODE --address IP --at UNIXTIME
//             [--kind unusual|wrong-code] [--mfa] [--url URL]
//
// Values are taken as given, control characters included, so that a test can pass hostile
// text. Output on stdout, one line each:
//
//   message-id: <...>        the Message-ID of the built message
//   delivered                or
//   failed: SENTENCE         what Delivery::failure() said
//
// The exit status is 0 when delivered, 1 when the delivery failed, 2 for a usage error or a
// message that could not be built. The delivery is killed after its time limit plus 5 s.
#include "alert_mail.hpp"
#include "mail_delivery.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <thread>

namespace mail = fotoauthd::mail;

namespace {

struct Arguments {
    mail::Transport transport;
    mail::AlertFacts facts;
};

template <typename Number> bool parse_number(std::string_view text, Number& out)
{
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
    return error == std::errc() && end == text.data() + text.size();
}

bool set_transport_kind(std::string_view value, mail::Transport& transport)
{
    if (value == "sendmail")
        transport.kind = mail::Transport::Kind::Sendmail;
    else if (value == "smtp")
        transport.kind = mail::Transport::Kind::Smtp;
    else
        return false;
    return true;
}

bool set_alert_kind(std::string_view value, mail::AlertFacts& facts)
{
    if (value == "unusual")
        facts.kind = mail::AlertFacts::Kind::UnusualLogin;
    else if (value == "wrong-code")
        facts.kind = mail::AlertFacts::Kind::WrongCodeFromUnusualCountry;
    else
        return false;
    return true;
}

// One option with its value; false for an unknown option or a bad value.
bool apply(std::string_view option, const std::string& value, Arguments& args)
{
    auto& facts = args.facts;
    auto& transport = args.transport;
    if (option == "--transport")
        return set_transport_kind(value, transport);
    if (option == "--kind")
        return set_alert_kind(value, facts);
    if (option == "--smtp-port")
        return parse_number(value, transport.smtp_port);
    if (option == "--time-limit")
        return parse_number(value, transport.time_limit_seconds);
    if (option == "--at")
        return parse_number(value, facts.at);

    std::string* const text = option == "--sendmail"    ? &transport.sendmail_path
                              : option == "--smtp-host" ? &transport.smtp_host
                              : option == "--helo"      ? &transport.helo_name
                              : option == "--from"      ? &facts.from
                              : option == "--to"        ? &facts.to
                              : option == "--user"      ? &facts.user
                              : option == "--host"      ? &facts.host_name
                              : option == "--country"   ? &facts.country
                              : option == "--address"   ? &facts.address
                              : option == "--url"       ? &facts.site_url
                                                        : nullptr;
    if (!text)
        return false;
    *text = value;
    return true;
}

bool parse_arguments(int argc, char** argv, Arguments& args)
{
    for (int i = 1; i < argc; ++i) {
        const std::string_view option = argv[i];
        if (option == "--mfa") {
            args.facts.mfa_enabled = true;
            continue;
        }
        if (i + 1 >= argc || !apply(option, argv[i + 1], args)) {
            std::fprintf(stderr, "mail-send: bad or incomplete option %s\n", argv[i]);
            return false;
        }
        ++i;
    }
    return true;
}

std::string header_value(const std::string& message, std::string_view name)
{
    const std::string key = "\r\n" + std::string(name) + ": ";
    const std::size_t start = ("\r\n" + message).find(key);
    if (start == std::string::npos)
        return {};
    const std::size_t value = start + key.size() - 2;
    return message.substr(value, message.find("\r\n", value) - value);
}

// Polls as the daemon would, and stops the child once it is past its time limit plus a margin.
bool deliver(const Arguments& args, const std::string& message)
{
    const auto delivery =
        mail::Delivery::start(args.transport, args.facts.from, args.facts.to, message);
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::seconds(args.transport.time_limit_seconds + 5);
    auto state = delivery->poll();
    while (state == mail::Delivery::State::Running) {
        if (std::chrono::steady_clock::now() > deadline) {
            delivery->kill();
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        state = delivery->poll();
    }

    if (delivery->poll() == mail::Delivery::State::Delivered) {
        std::printf("delivered\n");
        return true;
    }
    std::printf("failed: %s\n", delivery->failure().c_str());
    return false;
}

}  // namespace

int main(int argc, char** argv)
{
    Arguments args;
    args.transport.time_limit_seconds = 30;
    if (!parse_arguments(argc, argv, args))
        return 2;

    std::string message;
    try {
        message = mail::build_alert(args.facts);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "mail-send: %s\n", error.what());
        return 2;
    }
    std::printf("message-id: %s\n", header_value(message, "Message-ID").c_str());
    std::fflush(stdout);
    return deliver(args, message) ? 0 : 1;
}
