/* pam-cancel --confdir DIR --service NAME --user NAME
 *
 * A threaded application as some servers are: one thread runs pam_authenticate, and its
 * conversation blocks at the first prompt (in read(), where a thread can be cancelled). Once the
 * prompt is up, the main thread cancels that thread and joins it; the thread's cleanup handler
 * ends the PAM transaction. Prints "cancelled" when the
 * thread ended by cancellation and "alive" when the process went on after it; a module that
 * swallowed the cancellation's unwinding would make glibc abort the process instead
 * ("FATAL: exception not rethrown"). Written in C, with libpam and libc only, like the
 * applications the module is loaded into. */
#include <pthread.h>
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *confdir, *service, *user;
static int prompt_up[2];   /* the conversation writes one byte here when the prompt is up */
static int never_ready[2]; /* nothing is ever written here: read() waits until cancelled */

static int blocking_conversation(int count, const struct pam_message** messages,
                                 struct pam_response** responses, void* data)
{
    (void)messages;
    (void)data;
    (void)count;
    char byte = 1;
    if (write(prompt_up[1], &byte, 1) != 1)
        return PAM_CONV_ERR;
    (void)read(never_ready[0], &byte, 1);
    *responses = NULL;
    return PAM_CONV_ERR;
}

/* What a careful threaded application does when its thread is cancelled mid-transaction: it
 * tries to end the transaction. libpam refuses (a module call of it never returned), so the
 * handle stays allocated; that is libpam's rule, not the module's doing. */
static void end_transaction(void* handle)
{
    pam_end((pam_handle_t*)handle, PAM_ABORT);
}

static void* authenticate(void* unused)
{
    (void)unused;
    static const struct pam_conv conversation = {blocking_conversation, NULL};
    pam_handle_t* pamh = NULL;
    if (pam_start_confdir(service, user, &conversation, confdir, &pamh) != PAM_SUCCESS) {
        printf("pam_start failed\n");
        return NULL;
    }
    int status = PAM_ABORT;
    pthread_cleanup_push(end_transaction, pamh);
    status = pam_authenticate(pamh, 0);
    printf("pam_authenticate returned %s\n", pam_strerror(pamh, status));
    pthread_cleanup_pop(0);
    pam_end(pamh, status);
    return NULL;
}

int main(int argc, char** argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--confdir") == 0)
            confdir = argv[i + 1];
        else if (strcmp(argv[i], "--service") == 0)
            service = argv[i + 1];
        else if (strcmp(argv[i], "--user") == 0)
            user = argv[i + 1];
    }
    if (!confdir || !service || !user) {
        fprintf(stderr, "usage: pam-cancel --confdir DIR --service NAME --user NAME\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    if (pipe(prompt_up) != 0 || pipe(never_ready) != 0)
        return 2;

    pthread_t thread;
    if (pthread_create(&thread, NULL, authenticate, NULL) != 0)
        return 2;
    char byte;
    if (read(prompt_up[0], &byte, 1) != 1) {
        printf("the prompt never came\n");
        return 1;
    }
    pthread_cancel(thread);
    void* result = NULL;
    pthread_join(thread, &result);
    if (result == PTHREAD_CANCELED)
        printf("cancelled\n");
    printf("alive\n");
    return 0;
}
