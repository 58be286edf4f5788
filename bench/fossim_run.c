#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/fossim_run.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

cJSON *bench_fossim(const char *bin, const char *args, double *wall_s)
{
    char json[64], cmd[4096];
    snprintf(json, sizeof json, "/tmp/fossim_bench_%d.json", getpid());
    snprintf(cmd, sizeof cmd, "'%s' -q %s --json %s >/dev/null", bin, args, json);
    double t0 = now_s();
    int st = system(cmd);
    if (wall_s) *wall_s = now_s() - t0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench: '%s' failed (status %#x)\n", cmd, st);
        unlink(json);
        return NULL;
    }
    static char buf[1 << 22];
    FILE *f = fopen(json, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    unlink(json);
    buf[n] = '\0';
    cJSON *doc = cJSON_Parse(buf);
    if (!doc) fprintf(stderr, "bench: '%s' wrote no JSON\n", cmd);
    return doc;
}
