// pam-once: one PAM transaction in a process of its own, the way sshd makes one in the process
// it starts for each connection. pam-bench --fresh-process forks and executes it for every
// transaction, so that each transaction pays for loading the modules and the libraries they
// need into a new process, as an SSH login does.
//
//   pam-once CONFDIR SERVICE USER ANSWER
//
// Answers every prompt with ANSWER and exits with pam_authenticate's result (PAM_SUCCESS is 0),
// or 255 when pam_start failed. It uses the C library and libpam only, and links nothing else
// (no C++ runtime, no liboath): a module gets no library for free that sshd would not have
// loaded before it.
#include <security/pam_appl.h>

#include <stdlib.h>
#include <string.h>

namespace {

int answer_prompts(int count, const pam_message** messages, pam_response** responses, void* data)
{
    auto* out =
        static_cast<pam_response*>(calloc(static_cast<size_t>(count), sizeof(pam_response)));
    if (!out)
        return PAM_BUF_ERR;
    for (int i = 0; i < count; ++i) {
        const int style = messages[i]->msg_style;
        if (style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON)
            out[i].resp = strdup(static_cast<const char*>(data));
    }
    *responses = out;
    return PAM_SUCCESS;
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc != 5)
        return 254;
    const pam_conv conversation{answer_prompts, argv[4]};
    pam_handle_t* pamh = nullptr;
    if (pam_start_confdir(argv[2], argv[3], &conversation, argv[1], &pamh) != PAM_SUCCESS)
        return 255;
    const int status = pam_authenticate(pamh, 0);
    pam_end(pamh, status);
    return status;
}
