/* Running fossim as a user does, for the benchmarks that measure it: one run,
 * its JSON parsed. */
#ifndef FOS_BENCH_FOSSIM_RUN_H
#define FOS_BENCH_FOSSIM_RUN_H

#include <cjson/cJSON.h>

/* Runs `bin -q ARGS --json TMP` and returns the parsed JSON (the caller
 * deletes it), or NULL after saying what failed on stderr. wall_s, when not
 * NULL, gets the whole process's wall time. */
cJSON *bench_fossim(const char *bin, const char *args, double *wall_s);

#endif
