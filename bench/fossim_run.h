/* Running fossim as a user does, for the benchmarks that measure it: one run,
 * its JSON parsed. */
#ifndef FOS_BENCH_FOSSIM_RUN_H
#define FOS_BENCH_FOSSIM_RUN_H

#include <cjson/cJSON.h>

/* Runs `bin -q ARGS --json TMP` and returns the parsed JSON (the caller
 * deletes it), or NULL after saying what failed on stderr. wall_s, when not
 * NULL, gets the whole process's wall time. */
cJSON *bench_fossim(const char *bin, const char *args, double *wall_s);

/* Writes a workload to a file and runs fossim on it, as bench_fossim. */
cJSON *bench_fossim_yaml(const char *bin, const char *workload);

/* The first application's figure `key` (in its object `sub`, when not NULL)
 * from a run's JSON; -1 when there is none. */
double bench_app_figure(const cJSON *doc, const char *key, const char *sub);

/* A figure's JSON: schema_version 2 (units in every key's suffix), then the
 * object "parameters" (*par). */
cJSON *bench_figure_new(cJSON **par);

/* The chip of the virtual-engine figures: `cores` on a mesh with tile costs,
 * and the run's duration and warmup. */
void bench_params_virtual_mesh(cJSON *par, int cores, const char *duration, const char *warmup);

/* Prints doc on stdout when `print`, then frees it. */
void bench_json_done(cJSON *doc, int print);

/* fossim's path when the benchmark runs from build/bench/. Returns 0 or -1. */
int bench_fossim_beside(char *out, size_t n);

#endif
