/* Running fossim as a separate process, for the tests of the command line:
 * its exit status, stdout and stderr. */
#ifndef FOS_TESTS_CLI_RUN_H
#define FOS_TESTS_CLI_RUN_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    int status;
    char out[16384];
    char err[8192];
} run_out;

static inline void slurp(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "r");
    size_t got = f ? fread(buf, 1, n - 1, f) : 0;
    buf[got] = '\0';
    if (f) fclose(f);
}

/* Runs fossim with args (shell words); fills o. */
static inline void fossim(const char *args, run_out *o)
{
    char cmd[2048], out[64], err[64];
    snprintf(out, sizeof out, "/tmp/fossim_run_%d.out", getpid());
    snprintf(err, sizeof err, "/tmp/fossim_run_%d.err", getpid());
    snprintf(cmd, sizeof cmd, "'%s' %s >%s 2>%s", FOSSIM_BIN, args, out, err);
    fflush(NULL);
    int st = system(cmd);
    cr_assert(WIFEXITED(st), "%s: did not exit", cmd);
    o->status = WEXITSTATUS(st);
    slurp(out, o->out, sizeof o->out);
    slurp(err, o->err, sizeof o->err);
    unlink(out);
    unlink(err);
}

#endif
