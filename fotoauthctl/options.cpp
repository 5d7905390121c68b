#include "options.hpp"

#include "alert_address.hpp"
#include "format.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstdint>
#include <set>
#include <vector>

namespace fotostudio::ctl {

namespace {

// The options that take a value; --help, --version, --all, --yes, --json and --ascii take none.
constexpr std::string_view kValueOptions[] = {"socket", "timeout", "user", "mode", "reason"};

bool takes_value(std::string_view name) noexcept
{
    for (const auto option : kValueOptions)
        if (option == name)
            return true;
    return false;
}

// A word the user typed, fit to be quoted back in an error message.
std::string quoted(std::string_view word)
{
    return "'" + printable(word, 40) + "'";
}

std::string dashed(std::string_view name)
{
    return "--" + std::string(name);
}

std::optional<std::chrono::milliseconds> parse_timeout(std::string_view text) noexcept
{
    long long value = 0;
    const char* end = text.data() + text.size();
    const auto [stop, error] = std::from_chars(text.data(), end, value);
    if (error != std::errc{} || stop != end)
        return std::nullopt;
    if (value < 1 || value > kMaxTimeout.count())
        return std::nullopt;
    return std::chrono::milliseconds(value);
}

class Parser {
public:
    explicit Parser(std::span<const std::string_view> args) : args_(args) {}

    ParsedCommandLine run()
    {
        if (!read_all_words() || !choose_verb() || !check_verb_options())
            return {std::nullopt, std::move(error_)};
        return {std::move(invocation_), {}};
    }

private:
    bool fail(std::string sentence)
    {
        error_ = std::move(sentence);
        return false;
    }

    bool read_all_words()
    {
        bool options_ended = false;
        while (next_ < args_.size()) {
            const std::string_view word = args_[next_++];
            if (options_ended || !word.starts_with('-') || word == "-")
                words_.push_back(word);
            else if (word == "--")
                options_ended = true;
            else if (!read_option(word))
                return false;
        }
        return true;
    }

    bool read_option(std::string_view word)
    {
        if (word == "-h")
            word = "--help";
        // An alert address is checked before it is sent, but one starting with '-' never gets
        // that far: it is read as an option here.
        if (!word.starts_with("--") && word.find('@') != std::string_view::npos)
            return fail("unknown option " + quoted(word) +
                        "; an alert address cannot start with '-'.");
        if (!word.starts_with("--"))
            return fail("unknown option " + quoted(word) + ".");

        word.remove_prefix(2);
        const auto equals = word.find('=');
        const std::string_view name = word.substr(0, equals);
        std::optional<std::string_view> value;
        if (equals != std::string_view::npos)
            value = word.substr(equals + 1);

        if (name == "help" || name == "version" || name == "all" || name == "yes" ||
            name == "json" || name == "ascii")
            return set_flag(name, value.has_value());
        if (!takes_value(name))
            return fail("unknown option " + quoted(dashed(name)) + ".");
        if (!value && next_ < args_.size())
            value = args_[next_++];
        if (!value)
            return fail(dashed(name) + " needs a value.");
        return set_option(name, *value);
    }

    bool set_flag(std::string_view name, bool has_value)
    {
        if (has_value)
            return fail(dashed(name) + " takes no value.");
        if (name == "help")
            help_ = true;
        else if (name == "version")
            version_ = true;
        else if (name == "yes")
            invocation_.yes = true;
        else if (name == "json")
            invocation_.json = true;
        else if (name == "ascii")
            invocation_.ascii = true;
        else
            invocation_.all = true;
        return true;
    }

    bool set_option(std::string_view name, std::string_view value)
    {
        if (!seen_.emplace(name).second)
            return fail(dashed(name) + " is given twice.");
        if (name == "socket")
            return set_socket(value);
        if (name == "timeout")
            return set_timeout(value);
        if (name == "user")
            return set_user(value);
        if (name == "reason")
            return set_reason(value);
        return set_mode(value);
    }

    bool set_socket(std::string_view value)
    {
        if (value.empty())
            return fail("--socket needs a path.");
        invocation_.socket_path = value;
        return true;
    }

    bool set_timeout(std::string_view value)
    {
        const auto timeout = parse_timeout(value);
        if (!timeout)
            return fail("--timeout takes milliseconds, a whole number from 1 to " +
                        std::to_string(kMaxTimeout.count()) + ", not " + quoted(value) + ".");
        invocation_.timeout = *timeout;
        return true;
    }

    bool set_user(std::string_view value)
    {
        if (value.empty())
            return fail("--user needs a login name.");
        invocation_.user = std::string(value);
        return true;
    }

    bool set_reason(std::string_view value)
    {
        if (value.find_first_not_of(" \t") == std::string_view::npos)
            return fail("--reason needs a few words on why MFA is turned off.");
        invocation_.reason = std::string(value);
        return true;
    }

    bool set_mode(std::string_view value)
    {
        const auto mode = parse_mode(value);
        if (!mode)
            return fail("--mode is 'always' or 'new-device', not " + quoted(value) + ".");
        invocation_.mode = mode;
        return true;
    }

    bool choose_verb()
    {
        if (help_) {
            if (!words_.empty() && words_[0] == "email")
                invocation_.help_topic = "email";
            return choose(Verb::Help);
        }
        if (version_)
            return choose(Verb::Version);
        if (words_.empty())
            return fail("no verb given.");

        const std::string_view verb = words_[0];
        if (verb == "status" || verb == "help")
            return expect_words(1) && choose(verb == "status" ? Verb::Status : Verb::Help);
        if (verb == "history")
            return expect_words(1) && choose(Verb::History);
        if (verb == "mfa")
            return choose_mfa_verb();
        if (verb == "recovery-codes")
            return choose_recovery_codes_verb();
        if (verb == "devices")
            return choose_devices_verb();
        if (verb == "lockouts")
            return expect_words(1) && choose(Verb::Lockouts);
        if (verb == "unlock")
            return choose_unlock();
        if (verb == "unblock")
            return choose_unblock();
        if (verb == "email")
            return choose_email_verb();
        return fail("unknown verb " + quoted(verb) + ".");
    }

    bool choose_mfa_verb()
    {
        if (words_.size() < 2)
            return fail("'mfa' needs a sub-command: enable, mode or disable.");
        if (words_[1] == "enable")
            return expect_words(2) && choose(Verb::MfaEnable);
        if (words_[1] == "mode")
            return choose_mfa_mode();
        if (words_[1] == "disable")
            return expect_words(2) && choose(Verb::MfaDisable);
        return fail("unknown 'mfa' sub-command " + quoted(words_[1]) +
                    "; there are: enable, mode, disable.");
    }

    bool choose_recovery_codes_verb()
    {
        if (words_.size() < 2)
            return fail("'recovery-codes' needs a sub-command: regenerate.");
        if (words_[1] != "regenerate")
            return fail("unknown 'recovery-codes' sub-command " + quoted(words_[1]) +
                        "; there is: regenerate.");
        return expect_words(2) && choose(Verb::RegenerateCodes);
    }

    bool choose_mfa_mode()
    {
        if (words_.size() < 3)
            return fail("'mfa mode' needs the new mode: always or new-device.");
        const auto mode = parse_mode(words_[2]);
        if (!mode)
            return fail("'mfa mode' takes 'always' or 'new-device', not " + quoted(words_[2]) +
                        ".");
        invocation_.mode = mode;
        return expect_words(3) && choose(Verb::MfaMode);
    }

    bool choose_devices_verb()
    {
        if (words_.size() < 2)
            return choose(Verb::Devices);
        if (words_[1] != "forget")
            return fail("unknown 'devices' sub-command " + quoted(words_[1]) +
                        "; there is: forget.");
        if (words_.size() < 3 && !invocation_.all)
            return fail("'devices forget' needs the ID of a device, as 'fotoauthctl devices' "
                        "lists it, or --all.");
        if (words_.size() >= 3 && invocation_.all)
            return fail("'devices forget' takes either a device ID or --all, not both.");
        if (words_.size() >= 3 && !is_device_id(words_[2]))
            return fail("'devices forget' takes the ID of a device, a number as 'fotoauthctl "
                        "devices' lists it, not " +
                        quoted(words_[2]) + ".");
        if (words_.size() >= 3)
            invocation_.operand = words_[2];
        return expect_words(invocation_.all ? 2 : 3) && choose(Verb::DevicesForget);
    }

    bool choose_unlock()
    {
        if (words_.size() < 2 || words_[1].empty())
            return fail("'unlock' needs the login name of the account to unlock.");
        invocation_.operand = words_[1];
        return expect_words(2) && choose(Verb::Unlock);
    }

    bool choose_unblock()
    {
        if (words_.size() < 2)
            return fail("'unblock' needs the IP address whose login limit to clear.");
        if (!address_to_unblock(words_[1]))
            return fail("'unblock' takes a numeric IPv4 or IPv6 address such as 198.51.100.9 or "
                        "2001:db8::1, not " +
                        quoted(words_[1]) + ".");
        invocation_.operand = words_[1];
        return expect_words(2) && choose(Verb::Unblock);
    }

    bool choose_email_verb()
    {
        if (words_.size() < 2)
            return fail("'email' needs a sub-command: set, clear or show.");
        if (words_[1] == "clear")
            return expect_words(2) && choose(Verb::EmailClear);
        if (words_[1] == "show")
            return expect_words(2) && choose(Verb::EmailShow);
        if (words_[1] != "set")
            return fail("unknown 'email' sub-command " + quoted(words_[1]) +
                        "; there are: set, clear, show.");
        if (words_.size() < 3)
            return fail("'email set' needs the address alerts should go to, such as "
                        "bob@studio.example.");
        if (words_[2].empty())
            return fail("'email set' needs an address; to go back to the site's default, use "
                        "'email clear'.");
        if (const auto problem = alert_address_problem(words_[2]))
            return fail(quoted(words_[2]) + " is not a plain e-mail address: " + *problem +
                        ". Nothing was changed.");
        invocation_.operand = words_[2];
        return expect_words(3) && choose(Verb::EmailSet);
    }

    bool expect_words(std::size_t count)
    {
        if (words_.size() > count)
            return fail("unexpected word " + quoted(words_[count]) + ".");
        return true;
    }

    bool choose(Verb verb)
    {
        invocation_.verb = verb;
        return true;
    }

    bool check_verb_options()
    {
        if (invocation_.verb == Verb::Help || invocation_.verb == Verb::Version)
            return true;
        if (seen_.contains("mode") && invocation_.verb != Verb::MfaEnable)
            return fail("--mode only applies to 'mfa enable'.");
        if (invocation_.all && invocation_.verb != Verb::DevicesForget)
            return fail("--all only applies to 'devices forget'.");
        if (invocation_.reason && invocation_.verb != Verb::MfaDisable)
            return fail("--reason only applies to 'mfa disable'.");
        if (invocation_.yes && invocation_.verb != Verb::MfaDisable)
            return fail("--yes only applies to 'mfa disable'.");
        if (invocation_.ascii && invocation_.verb != Verb::Status &&
            invocation_.verb != Verb::History)
            return fail("--ascii only applies to 'status' and 'history'.");
        // A verb that changes something has no data to print; a script that asks for JSON from
        // it expects something it would not get.
        if (invocation_.json && !prints_data(invocation_.verb))
            return fail("--json only applies to 'status', 'history', 'devices', 'lockouts' and "
                        "'email show'.");
        // The root verbs name what they act on as a word; a --user beside it would be ignored.
        if (invocation_.user && is_root_verb(invocation_.verb))
            return fail("--user does not apply to '" + std::string(verb_name(invocation_.verb)) +
                        "'" +
                        (invocation_.verb == Verb::Unlock ? "; name the account after it." : "."));
        return true;
    }

    std::span<const std::string_view> args_;
    std::size_t next_ = 0;
    std::vector<std::string_view> words_;
    std::set<std::string, std::less<>> seen_;
    bool help_ = false;
    bool version_ = false;
    Invocation invocation_;
    std::string error_;
};

}  // namespace

std::string_view to_string(Mode mode) noexcept
{
    return mode == Mode::Always ? "always" : "new-device";
}

std::optional<Mode> parse_mode(std::string_view text) noexcept
{
    if (text == "always")
        return Mode::Always;
    if (text == "new-device")
        return Mode::NewDevice;
    return std::nullopt;
}

std::string_view verb_name(Verb verb) noexcept
{
    switch (verb) {
    case Verb::Help: return "help";
    case Verb::Version: return "--version";
    case Verb::MfaEnable: return "mfa enable";
    case Verb::MfaMode: return "mfa mode";
    case Verb::MfaDisable: return "mfa disable";
    case Verb::RegenerateCodes: return "recovery-codes regenerate";
    case Verb::Status: return "status";
    case Verb::History: return "history";
    case Verb::Devices: return "devices";
    case Verb::DevicesForget: return "devices forget";
    case Verb::Lockouts: return "lockouts";
    case Verb::Unlock: return "unlock";
    case Verb::Unblock: return "unblock";
    case Verb::EmailSet: return "email set";
    case Verb::EmailClear: return "email clear";
    case Verb::EmailShow: return "email show";
    }
    return "?";
}

bool prints_data(Verb verb) noexcept
{
    return verb == Verb::Status || verb == Verb::History || verb == Verb::Devices ||
           verb == Verb::Lockouts || verb == Verb::EmailShow;
}

bool is_root_verb(Verb verb) noexcept
{
    return verb == Verb::Lockouts || verb == Verb::Unlock || verb == Verb::Unblock;
}

bool is_device_id(std::string_view text) noexcept
{
    std::int64_t value = 0;
    const char* end = text.data() + text.size();
    const auto [stop, error] = std::from_chars(text.data(), end, value);
    return error == std::errc{} && stop == end && value > 0;
}

bool is_ip_address(std::string_view text)
{
    // inet_pton reads up to a NUL, so a NUL inside would let trailing text through unseen.
    if (text.empty() || text.find('\0') != std::string_view::npos)
        return false;

    const std::string terminated(text);
    in6_addr address{};
    return ::inet_pton(AF_INET, terminated.c_str(), &address) == 1 ||
           ::inet_pton(AF_INET6, terminated.c_str(), &address) == 1;
}

std::optional<std::string> address_to_unblock(std::string_view typed)
{
    if (is_ip_address(typed))
        return std::string(typed);

    // fotoauthd lists an IPv6 source by its /64; any address inside clears it.
    constexpr std::string_view kSlash64 = "/64";
    if (!typed.ends_with(kSlash64))
        return std::nullopt;
    const std::string_view network = typed.substr(0, typed.size() - kSlash64.size());
    const std::string terminated(network);
    in6_addr address{};
    if (network.find('\0') != std::string_view::npos ||
        ::inet_pton(AF_INET6, terminated.c_str(), &address) != 1)
        return std::nullopt;
    return terminated;
}

ParsedCommandLine parse_command_line(std::span<const std::string_view> args)
{
    return Parser(args).run();
}

std::string_view help_text() noexcept
{
    return "Usage: fotoauthctl [OPTIONS] VERB [VERB OPTIONS]\n"
           "\n"
           "Manages multi-factor authentication (a code from a phone app at login).\n"
           "\n"
           "Verbs:\n"
           "  mfa enable        turn MFA on: scan a QR code, confirm a code, keep recovery codes;\n"
           "                    when MFA is on already, replace the phone: a current code or\n"
           "                    recovery code of the old one is asked first\n"
           "  mfa mode MODE     change how often a code is asked ('always' or 'new-device', see\n"
           "                    --mode), confirmed with a current code; 'always' forgets every\n"
           "                    trusted device\n"
           "  mfa disable       turn MFA off, after a 'yes' and a current code (or a recovery\n"
           "                    code); its secret, recovery codes and trusted devices are removed\n"
           "  recovery-codes regenerate\n"
           "                    replace all recovery codes with 10 new ones, after a current\n"
           "                    code (or a recovery code); every old code stops working\n"
           "  status            the security page: whether MFA is on, its mode, the trusted\n"
           "                    devices, the recovery codes left, where alerts go, the site's\n"
           "                    policy, and every recent login with its country and client\n"
           "  history           list the account's recent logins, refused logins and security\n"
           "                    changes (password, mode, devices), newest first\n"
           "  devices           list the trusted devices: their logins are not asked for a code\n"
           "  devices forget ID\n"
           "                    forget one trusted device; its next login asks for a code\n"
           "  devices forget --all\n"
           "                    forget every trusted device\n"
           "  email set ADDRESS\n"
           "                    send alerts (a login from an unusual country, MFA changes) to\n"
           "                    ADDRESS, after a current code when MFA is on\n"
           "  email clear       forget the address set, so that alerts go to the site's default\n"
           "  email show        show where alerts go ('fotoauthctl email --help': more)\n"
           "  help              show this text\n"
           "\n"
           "Verbs for root, about the limits on login attempts:\n"
           "  lockouts          list the accounts locked after wrong verification codes and the\n"
           "                    addresses and accounts whose login attempts are limited now\n"
           "  unlock USER       lift every lock of the account USER and clear its limits\n"
           "  unblock ADDRESS   clear the login limit of an IPv4 or IPv6 address; IPv6 is\n"
           "                    limited per /64 network, cleared by any address in it\n"
           "  mfa disable --user NAME --reason TEXT\n"
           "                    turn off the MFA of NAME, who lost both phone and recovery codes,\n"
           "                    once their identity is checked; no code is asked, and TEXT goes\n"
           "                    to the audit log and the account's history\n"
           "\n"
           "Options:\n"
           "  --mode MODE     'always' or 'new-device', for 'mfa enable' (asked when absent):\n"
           "                  always: a code at every login; new-device: a code only from a\n"
           "                  device not trusted yet, which the code then trusts for 90 days by\n"
           "                  default. For SSH a device is the public key that logged in first\n"
           "                  (sshd: AuthenticationMethods publickey,keyboard-interactive)\n"
           "  --user NAME     act for the account NAME (root only; others act for themselves)\n"
           "  --reason TEXT   why root turns off the MFA of another account (required then)\n"
           "  --yes           'mfa disable' without the question, when stdin is not a terminal\n"
           "  --json          for status, history, devices, lockouts and email show: print one\n"
           "                  JSON object with unix times instead of the tables, for scripts\n"
           "  --ascii         for status and history: mark logins with '!' (another country)\n"
           "                  and 'yes' in column CODE (a code was checked) instead of the\n"
           "                  symbols a UTF-8 terminal gets\n"
           "  --socket PATH   the socket of fotoauthd (default /run/fotoauthd/socket)\n"
           "  --timeout MS    how long to wait for each answer of fotoauthd (default 10000)\n"
           "  --help          show this text\n"
           "  --version       show the version\n"
           "\n"
           "Exit status: 0 done, 1 refused by fotoauthd (for example a wrong code or an unknown\n"
           "device ID), 2 usage error (also a root verb run by another user), 3 fotoauthd\n"
           "unreachable or failed.\n";
}

std::string_view email_help_text() noexcept
{
    return "Usage: fotoauthctl email set ADDRESS [--user NAME]\n"
           "       fotoauthctl email clear [--user NAME]\n"
           "       fotoauthctl email show [--user NAME] [--json]\n"
           "\n"
           "fotoauthd mails an alert when a login comes from another country than the account's\n"
           "usual one, and when MFA is changed. Without an address of your own, alerts go to the\n"
           "site's default: an address made from the login name, or the local mailbox on this\n"
           "server.\n"
           "\n"
           "  set ADDRESS   send the alerts to ADDRESS, a plain address such as\n"
           "                bob@studio.example (no name, quotes or brackets, not starting with\n"
           "                '-'); when MFA is on, a current code or a recovery code confirms it\n"
           "  clear         forget the address set; alerts go to the site's default again\n"
           "                (confirmed the same way)\n"
           "  show          say where alerts go now, and whether you set it\n"
           "\n"
           "Root may do all three for another account with --user NAME, without a code.\n";
}

}  // namespace fotostudio::ctl
