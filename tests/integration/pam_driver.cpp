// pam-driver: runs one PAM transaction through the real libpam, for the integration tests.
//
//   pam-driver --confdir DIR --service NAME (--user USER | --no-user) [--rhost HOST] [--tty TTY]
//              [--response TEXT]... [--null-response] [--stdin-responses] [--silent]
//              [--env NAME=VALUE]... [--stage STAGE[+STAGE]...]
//
// The service file is read from DIR (pam_start_confdir), never from /etc/pam.d. Each prompt,
// echoed or not, is answered with the next --response; with --null-response every prompt gets
// an answer whose text is NULL, as a broken application might send. With --stdin-responses each
// prompt is answered with the next line read from stdin, once the prompt has been printed: a
// test can hold many transactions at their prompts and then answer all of them at once. --env
// puts a variable into the PAM environment before the first stage, as the PAM environment of an
// earlier process would (sshd's auth child hands it to the monitor; sshd itself sets
// SSH_AUTH_INFO_0). --stage names the stages to run, joined by '+', from auth, account,
// chauthtok and session (default auth); they run in that order, as sshd runs them for a login
// whose password expired, each only when the one before it succeeded. chauthtok is
// pam_chauthtok, a password change as passwd makes it: its prompts (the old password for anyone
// but root, then the new one twice) are answered like any other. --silent passes PAM_SILENT to
// every stage. Output, one line each, on stdout:
//
//   prompt: TEXT                      a prompt the modules asked
//   info: TEXT / error: TEXT          a PAM_TEXT_INFO / PAM_ERROR_MSG the modules sent
//   auth result: PAM_XXX              what pam_authenticate returned
//   setcred result: PAM_XXX           what pam_setcred(PAM_ESTABLISH_CRED) returned after a
//                                     successful pam_authenticate, as sshd and login call it
//   env after auth: VALUE             FOTOSTUDIO_AUTH after it ("(unset)" when absent)
//   account result: PAM_XXX           what pam_acct_mgmt returned
//   env after account: VALUE          FOTOSTUDIO_AUTH afterwards
//   chauthtok result: PAM_XXX         what pam_chauthtok returned
//   env before session: VALUE         FOTOSTUDIO_AUTH before pam_open_session
//   session result: PAM_XXX           what pam_open_session returned
//   env after session: VALUE          FOTOSTUDIO_AUTH afterwards
//
// The exit status is 0 when the transaction ran, whatever PAM decided, and 2 for a usage error or
// when libpam could not start.
//
// PAM_AUTHTOK cannot be set from here: libpam lets only modules set it. A test that needs it puts
// pam_unix.so before pam_fotostudio.so and answers pam_unix's password prompt.
#include <security/pam_appl.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr const char* kNonceVariable = "FOTOSTUDIO_AUTH";

struct Arguments {
    std::string confdir;
    std::string service;
    std::string user;
    std::optional<std::string> rhost;
    bool no_user = false;
    std::string tty;
    std::vector<std::string> responses;
    std::vector<std::string> environment;
    bool null_response = false;
    bool stdin_responses = false;
    int flags = 0;
    bool auth = true;
    bool account = false;
    bool chauthtok = false;
    bool session = false;
};

struct Answers {
    const Arguments* arguments;
    std::size_t next = 0;
};

const char* pam_code_name(int code)
{
    switch (code) {
    case PAM_SUCCESS: return "PAM_SUCCESS";
    case PAM_OPEN_ERR: return "PAM_OPEN_ERR";
    case PAM_SYMBOL_ERR: return "PAM_SYMBOL_ERR";
    case PAM_SERVICE_ERR: return "PAM_SERVICE_ERR";
    case PAM_SYSTEM_ERR: return "PAM_SYSTEM_ERR";
    case PAM_BUF_ERR: return "PAM_BUF_ERR";
    case PAM_PERM_DENIED: return "PAM_PERM_DENIED";
    case PAM_AUTH_ERR: return "PAM_AUTH_ERR";
    case PAM_CRED_INSUFFICIENT: return "PAM_CRED_INSUFFICIENT";
    case PAM_AUTHINFO_UNAVAIL: return "PAM_AUTHINFO_UNAVAIL";
    case PAM_USER_UNKNOWN: return "PAM_USER_UNKNOWN";
    case PAM_MAXTRIES: return "PAM_MAXTRIES";
    case PAM_NEW_AUTHTOK_REQD: return "PAM_NEW_AUTHTOK_REQD";
    case PAM_ACCT_EXPIRED: return "PAM_ACCT_EXPIRED";
    case PAM_SESSION_ERR: return "PAM_SESSION_ERR";
    case PAM_CRED_UNAVAIL: return "PAM_CRED_UNAVAIL";
    case PAM_CRED_EXPIRED: return "PAM_CRED_EXPIRED";
    case PAM_CRED_ERR: return "PAM_CRED_ERR";
    case PAM_NO_MODULE_DATA: return "PAM_NO_MODULE_DATA";
    case PAM_CONV_ERR: return "PAM_CONV_ERR";
    case PAM_AUTHTOK_ERR: return "PAM_AUTHTOK_ERR";
    case PAM_AUTHTOK_RECOVERY_ERR: return "PAM_AUTHTOK_RECOVERY_ERR";
    case PAM_AUTHTOK_LOCK_BUSY: return "PAM_AUTHTOK_LOCK_BUSY";
    case PAM_AUTHTOK_DISABLE_AGING: return "PAM_AUTHTOK_DISABLE_AGING";
    case PAM_TRY_AGAIN: return "PAM_TRY_AGAIN";
    case PAM_IGNORE: return "PAM_IGNORE";
    case PAM_ABORT: return "PAM_ABORT";
    case PAM_AUTHTOK_EXPIRED: return "PAM_AUTHTOK_EXPIRED";
    case PAM_MODULE_UNKNOWN: return "PAM_MODULE_UNKNOWN";
    case PAM_BAD_ITEM: return "PAM_BAD_ITEM";
    case PAM_CONV_AGAIN: return "PAM_CONV_AGAIN";
    case PAM_INCOMPLETE: return "PAM_INCOMPLETE";
    }
    return "PAM_UNKNOWN_CODE";
}

void free_responses(pam_response* responses, int count)
{
    for (int i = 0; i < count; ++i)
        std::free(responses[i].resp);
    std::free(responses);
}

// The next line of stdin without its newline, or nothing at the end of the input.
std::optional<std::string> read_line()
{
    std::string line;
    int c = 0;
    while ((c = std::getchar()) != EOF && c != '\n')
        line += static_cast<char>(c);
    if (c == EOF && line.empty())
        return std::nullopt;
    return line;
}

std::optional<std::string> next_response(Answers& answers)
{
    if (answers.arguments->stdin_responses)
        return read_line();
    if (answers.next >= answers.arguments->responses.size())
        return std::nullopt;
    return answers.arguments->responses[answers.next++];
}

// Answers the prompts in order; a prompt with no response left fails the conversation.
int converse(int count, const pam_message** messages, pam_response** out, void* data)
{
    auto& answers = *static_cast<Answers*>(data);
    auto* responses = static_cast<pam_response*>(std::calloc(count, sizeof(pam_response)));
    if (!responses)
        return PAM_BUF_ERR;

    for (int i = 0; i < count; ++i) {
        const pam_message& message = *messages[i];
        switch (message.msg_style) {
        case PAM_PROMPT_ECHO_OFF:
        case PAM_PROMPT_ECHO_ON:
            std::printf("prompt: %s\n", message.msg);
            std::fflush(stdout);
            if (answers.arguments->null_response)
                break;
            if (const auto response = next_response(answers)) {
                responses[i].resp = strdup(response->c_str());
                break;
            }
            std::printf("prompt not answered: no response left\n");
            free_responses(responses, count);
            return PAM_CONV_ERR;
        case PAM_TEXT_INFO: std::printf("info: %s\n", message.msg); break;
        case PAM_ERROR_MSG: std::printf("error: %s\n", message.msg); break;
        default: free_responses(responses, count); return PAM_CONV_ERR;
        }
    }
    std::fflush(stdout);
    *out = responses;
    return PAM_SUCCESS;
}

// "auth", "account+session", "chauthtok", ...: each name once, in any order.
bool parse_stages(std::string_view stages, Arguments& arguments)
{
    arguments.auth = arguments.account = arguments.chauthtok = arguments.session = false;
    while (!stages.empty()) {
        const auto end = stages.find('+');
        const std::string_view name = stages.substr(0, end);
        bool* chosen = name == "auth"        ? &arguments.auth
                       : name == "account"   ? &arguments.account
                       : name == "chauthtok" ? &arguments.chauthtok
                       : name == "session"   ? &arguments.session
                                             : nullptr;
        if (!chosen || *chosen)
            return false;
        *chosen = true;
        stages = end == std::string_view::npos ? std::string_view() : stages.substr(end + 1);
    }
    return arguments.auth || arguments.account || arguments.chauthtok || arguments.session;
}

bool parse_arguments(int argc, char** argv, Arguments& arguments)
{
    for (int i = 1; i < argc; ++i) {
        const std::string_view option = argv[i];
        if (option == "--null-response") {
            arguments.null_response = true;
            continue;
        }
        if (option == "--stdin-responses") {
            arguments.stdin_responses = true;
            continue;
        }
        if (option == "--no-user") {
            arguments.no_user = true;
            continue;
        }
        if (option == "--silent") {
            arguments.flags = PAM_SILENT;
            continue;
        }
        if (i + 1 >= argc)
            return false;
        const char* value = argv[++i];
        if (option == "--confdir")
            arguments.confdir = value;
        else if (option == "--service")
            arguments.service = value;
        else if (option == "--user")
            arguments.user = value;
        else if (option == "--rhost")
            arguments.rhost = value;
        else if (option == "--tty")
            arguments.tty = value;
        else if (option == "--response")
            arguments.responses.emplace_back(value);
        else if (option == "--env")
            arguments.environment.emplace_back(value);
        else if (option == "--stage") {
            if (!parse_stages(value, arguments))
                return false;
        } else
            return false;
    }
    return !arguments.confdir.empty() && !arguments.service.empty() &&
           (arguments.no_user != !arguments.user.empty());
}

void print_nonce(pam_handle_t* pamh, const char* when)
{
    const char* value = pam_getenv(pamh, kNonceVariable);
    std::printf("env %s: %s\n", when, value ? value : "(unset)");
}

bool set_items(pam_handle_t* pamh, const Arguments& arguments)
{
    if (arguments.rhost && pam_set_item(pamh, PAM_RHOST, arguments.rhost->c_str()) != PAM_SUCCESS)
        return false;
    if (!arguments.tty.empty() && pam_set_item(pamh, PAM_TTY, arguments.tty.c_str()) != PAM_SUCCESS)
        return false;
    for (const auto& assignment : arguments.environment) {
        if (pam_putenv(pamh, assignment.c_str()) != PAM_SUCCESS)
            return false;
    }
    return true;
}

int run(const Arguments& arguments)
{
    Answers answers{&arguments};
    const pam_conv conversation{converse, &answers};
    pam_handle_t* pamh = nullptr;
    int status = pam_start_confdir(arguments.service.c_str(),
                                   arguments.no_user ? nullptr : arguments.user.c_str(),
                                   &conversation, arguments.confdir.c_str(), &pamh);
    if (status != PAM_SUCCESS) {
        std::printf("pam_start_confdir failed: %s\n", pam_code_name(status));
        return 2;
    }
    if (!set_items(pamh, arguments)) {
        std::printf("cannot set PAM items or environment\n");
        pam_end(pamh, PAM_SYSTEM_ERR);
        return 2;
    }

    const int flags = arguments.flags;
    if (arguments.auth) {
        status = pam_authenticate(pamh, flags);
        std::printf("auth result: %s\n", pam_code_name(status));
        print_nonce(pamh, "after auth");
        if (status == PAM_SUCCESS) {
            status = pam_setcred(pamh, PAM_ESTABLISH_CRED | flags);
            std::printf("setcred result: %s\n", pam_code_name(status));
        }
    }
    if (arguments.account && status == PAM_SUCCESS) {
        status = pam_acct_mgmt(pamh, flags);
        std::printf("account result: %s\n", pam_code_name(status));
        print_nonce(pamh, "after account");
    }
    if (arguments.chauthtok && status == PAM_SUCCESS) {
        status = pam_chauthtok(pamh, flags);
        std::printf("chauthtok result: %s\n", pam_code_name(status));
    }
    if (arguments.session && status == PAM_SUCCESS) {
        print_nonce(pamh, "before session");
        status = pam_open_session(pamh, flags);
        std::printf("session result: %s\n", pam_code_name(status));
        print_nonce(pamh, "after session");
        if (status == PAM_SUCCESS)
            status = pam_close_session(pamh, flags);
    }

    pam_end(pamh, status);
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    std::setvbuf(stdout, nullptr, _IOLBF, 0);

    Arguments arguments;
    if (!parse_arguments(argc, argv, arguments)) {
        std::fprintf(
            stderr,
            "usage: pam-driver --confdir DIR --service NAME (--user USER | --no-user) [--rhost HOST] [--tty TTY] [--response TEXT]... [--null-response] [--stdin-responses] [--silent] [--env NAME=VALUE]... [--stage STAGE[+STAGE]...]\n");
        return 2;
    }
    return run(arguments);
}
