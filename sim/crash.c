#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "sim/crash.h"
#include "sim/registry.h"

#ifndef FOSSIM_SANITIZE

/* The handler runs on a stack of its own: the fault may be a fiber's stack
 * overflowing into its guard page. */
static char alt_stack[64 * 1024];

static void on_fatal(int sig, siginfo_t *si, void *ctx)
{
    void *pc = NULL;
#if defined(__x86_64__)
    pc = (void *)((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RIP];
#else
    (void)ctx;
#endif
    Dl_info di = {0};
    const char *module = pc && dladdr(pc, &di) && di.dli_fname ? di.dli_fname : "?";
    const char *fn = di.dli_sname ? di.dli_sname : "?";
    /* Is it one of the plugins? They are named as the user gave them. */
    const char *const *paths;
    unsigned n = sim_registry_plugins(&paths, NULL);
    const char *plugin = NULL;
    for (unsigned i = 0; i < n && !plugin; i++) {
        char real[4096];
        if (realpath(paths[i], real) && !strcmp(real, module)) plugin = paths[i];
    }
    char msg[1024];
    int len;
    if (plugin)
        len = snprintf(msg, sizeof msg, "fossim: crashed in plugin %s: %s at address %p (in %s)\n",
                       plugin, strsignal(sig), si->si_addr, fn);
    else
        len = snprintf(msg, sizeof msg, "fossim: crashed: %s at address %p (in %s, %s)\n",
                       strsignal(sig), si->si_addr, module, fn);
    if (len > 0) (void)!write(2, msg, (size_t)len);
    _exit(128 + sig);
}

#endif

void sim_crash_report_install(void)
{
#ifndef FOSSIM_SANITIZE
    stack_t ss = {.ss_sp = alt_stack, .ss_size = sizeof alt_stack};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fatal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
#endif
}
