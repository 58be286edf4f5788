/* The end of a run: the summary table and the JSON document (schema below). */
#ifndef FOS_SIM_REPORT_H
#define FOS_SIM_REPORT_H

#include <stdio.h>

#include "fos/fleet.h"
#include "fos/sim.h"
#include "sim/app.h"
#include "sim/workload.h"

/* JSON: schema_version, version, config (the resolved workload: loading it
 * gives the same run), results (simulated figures: identical from run to run
 * and host to host on the virtual engine), host (host timings, workers and
 * paths: the only part that may differ). 2: units in every key's suffix
 * (mechanisms' message_bytes, the engine's clock_cycles_per_sim_s); the
 * config is as in 1, so --replay runs either. */
#define SIM_REPORT_SCHEMA 2

typedef struct sim_report_in {
    const sim_workload *w;
    const sim *s;
    const sim_stats *st;
    sim_app *const *apps;     /* one per w->apps */
    sim_fleet *const *fleets; /* one per w->fleets */
    const sim_fleet *names;   /* the name service's */
    const char *version;
    const char *json_path; /* where the JSON goes, for `host` and messages */
    FILE *json;            /* opened before the run (a bad path fails early); NULL:
                            * no JSON. sim_report closes it. */
    uint32_t host_cpus;
} sim_report_in;

/* Prints the table on `table` (NULL: none) and writes the JSON. Returns 0, or
 * -EIO when the JSON could not be written (said on err), -ENOMEM. */
int sim_report(const sim_report_in *in, FILE *table, FILE *err);

#endif
