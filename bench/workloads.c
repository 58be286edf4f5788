/* The command line's speed targets: fossim run as a user runs it, on the
 * workloads the README names, each several times; prints one JSON object with
 * the medians of the whole process's wall time and of the host figures each
 * run wrote under `host` (run_host_ns: sim_run alone), and the commands. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/fossim_run.h"

static const struct {
    const char *name;
    const char *args;
} runs[] = {
    {"default_256", "--cores 256"},
    {"echo_1024", "--cores 1024 examples/echo.yaml"},
    {"phold_1024", "examples/phold.yaml"},
    {"phold_1024_2_workers", "--workers 2 examples/phold.yaml"},
};

#define REPS 3

/* Runs fossim once; fills wall and host seconds and simulated messages per
 * host second. */
static int run_once(const char *bin, const char *args, double *wall_s, double *host_s, double *mps)
{
    cJSON *doc = bench_fossim(bin, args, wall_s);
    cJSON *host = cJSON_GetObjectItemCaseSensitive(doc, "host");
    cJSON *ns = cJSON_GetObjectItemCaseSensitive(host, "host_time_ns");
    cJSON *m = cJSON_GetObjectItemCaseSensitive(host, "sim_msgs_per_host_s");
    int r = cJSON_IsNumber(ns) && cJSON_IsNumber(m) ? 0 : -1;
    if (r == 0) {
        *host_s = ns->valuedouble / 1e9;
        *mps = m->valuedouble;
    }
    cJSON_Delete(doc);
    return r;
}

int main(int argc, char **argv)
{
    const char *bin = argc > 1 ? argv[1] : "./fossim";
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "schema_version", 2);
    cJSON_AddNumberToObject(out, "repetitions", REPS);
    cJSON_AddStringToObject(out, "statistic", "median");
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        double wall[REPS], h[REPS], m[REPS];
        for (int k = 0; k < REPS; k++)
            if (run_once(bin, runs[i].args, &wall[k], &h[k], &m[k]) != 0) return 1;
        cJSON *o = cJSON_AddObjectToObject(out, runs[i].name);
        char cmd[256];
        snprintf(cmd, sizeof cmd, "fossim %s", runs[i].args);
        cJSON_AddStringToObject(o, "command", cmd);
        /* Nanoseconds, as every time in fossim's JSON (schema 1 said seconds). */
        cJSON_AddNumberToObject(o, "wall_ns",
                                (double)(uint64_t)(bench_median(wall, REPS) * 1e9 + 0.5));
        cJSON_AddNumberToObject(o, "run_host_ns",
                                (double)(uint64_t)(bench_median(h, REPS) * 1e9 + 0.5));
        cJSON_AddNumberToObject(o, "sim_msgs_per_host_s", bench_median(m, REPS));
    }
    bench_json_done(out, 1);
    return 0;
}
