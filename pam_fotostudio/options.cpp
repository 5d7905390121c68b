#include "options.hpp"

#include "protocol.hpp"

#include <security/pam_ext.h>

#include <pwd.h>
#include <syslog.h>

#include <charconv>
#include <cstring>
#include <string_view>
#include <vector>

namespace fotostudio::pam {

namespace {

constexpr std::chrono::milliseconds kDefaultTimeout{3000};
constexpr long kMinTimeoutMs = 1;
constexpr long kMaxTimeoutMs = 60'000;

bool parse_timeout(pam_handle_t* pamh, std::string_view text, Options& options)
{
    long value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size() || value < kMinTimeoutMs ||
        value > kMaxTimeoutMs) {
        pam_syslog(pamh, LOG_ERR,
                   "option timeout=%.*s is not a whole number of milliseconds from %ld to %ld",
                   static_cast<int>(text.size()), text.data(), kMinTimeoutMs, kMaxTimeoutMs);
        return false;
    }
    options.timeout = std::chrono::milliseconds(value);
    return true;
}

// The name comes from the PAM line, written by the administrator, so it may be logged.
bool resolve_daemon_user(pam_handle_t* pamh, const std::string& name, Options& options)
{
    std::vector<char> buffer(16384);
    passwd entry{};
    passwd* found = nullptr;
    const int error = ::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (error != 0) {
        pam_syslog(pamh, LOG_ERR, "cannot look up daemon_user=%s: %s", name.c_str(),
                   std::strerror(error));
        return false;
    }
    if (!found) {
        pam_syslog(pamh, LOG_ERR, "daemon_user=%s is not an account on this machine", name.c_str());
        return false;
    }
    options.trusted_uid = found->pw_uid;
    return true;
}

// Two mode words on one line leave it unclear which part of the stack the line is meant to be.
bool set_mode(pam_handle_t* pamh, Mode mode, Options& options)
{
    if (options.mode != Mode::Code) {
        pam_syslog(pamh, LOG_ERR,
                   "options preauth and authfail exclude each other and appear once");
        return false;
    }
    options.mode = mode;
    return true;
}

bool parse_one(pam_handle_t* pamh, std::string_view argument, Options& options)
{
    const auto value_of = [argument](std::string_view key) -> std::optional<std::string_view> {
        if (argument.size() > key.size() && argument.starts_with(key) &&
            argument[key.size()] == '=')
            return argument.substr(key.size() + 1);
        return std::nullopt;
    };

    if (argument == "debug") {
        options.debug = true;
        return true;
    }
    if (argument == "require_key") {
        options.require_key = true;
        return true;
    }
    if (argument == "preauth" || argument == "authfail")
        return set_mode(pamh, argument == "preauth" ? Mode::Preauth : Mode::Authfail, options);
    if (const auto path = value_of("socket")) {
        // A relative path would depend on the working directory of whatever process runs PAM.
        if (!path->starts_with('/')) {
            pam_syslog(pamh, LOG_ERR, "option socket=%.*s is not an absolute path",
                       static_cast<int>(path->size()), path->data());
            return false;
        }
        options.socket_path.assign(*path);
        return true;
    }
    if (const auto milliseconds = value_of("timeout"))
        return parse_timeout(pamh, *milliseconds, options);
    if (const auto name = value_of("daemon_user"))
        return resolve_daemon_user(pamh, std::string(*name), options);

    pam_syslog(pamh, LOG_ERR, "unknown option \"%.*s\"", static_cast<int>(argument.size()),
               argument.data());
    return false;
}

}  // namespace

std::optional<Options> parse_options(pam_handle_t* pamh, int argc, const char** argv)
{
    Options options;
    options.socket_path.assign(protocol::kDefaultSocketPath);
    options.timeout = kDefaultTimeout;

    for (int i = 0; i < argc; ++i) {
        if (!argv[i] || !parse_one(pamh, argv[i], options))
            return std::nullopt;
    }

    // Only the preauth line runs before every prompt and before the daemon counts the attempt;
    // anywhere else the check would come too late, so the line is refused as misconfigured.
    if (options.require_key && options.mode != Mode::Preauth) {
        pam_syslog(pamh, LOG_ERR, "option require_key belongs on the preauth line only");
        return std::nullopt;
    }
    return options;
}

}  // namespace fotostudio::pam
