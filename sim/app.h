/* The synthetic applications a workload names, started on their cores before
 * the run and read after it. Each instance keeps its own figures (no state is
 * shared between cores); app_results merges them. */
#ifndef FOS_SIM_APP_H
#define FOS_SIM_APP_H

#include "fos/sim.h"
#include "sim/hist.h"
#include "sim/workload.h"

typedef struct sim_app_result {
    uint64_t ops;          /* operations completed over the whole run */
    uint64_t ops_measured; /* ... completed at or after the warmup */
    uint64_t op_count[SIM_OPS_MAX];
    uint64_t errors;   /* sends or receives that failed */
    uint64_t refused;  /* open loop: requests the server's queue refused (-EAGAIN) */
    uint64_t served;   /* requests the servers answered */
    sim_hist lat;      /* latency of measured operations, cycles (phold: none) */
    sim_hist lat_all;  /* latency of every operation */
    uint64_t checksum; /* phold: over every received (sender, sequence) */
    bool finished;     /* every client finished its operations ... */
    fos_cycles last;   /* ... and the last one completed at this time */
} sim_app_result;

typedef struct sim_app sim_app;

/* Wires the application into s: mailboxes, directory names, fibers. Returns 0,
 * or a negative errno (said on err). */
int sim_app_start(sim *s, const sim_workload *w, const sim_app_spec *spec, sim_app **out);
/* Merges the instances' figures into r (which the caller releases with
 * sim_app_result_fini). */
int sim_app_results(const sim_app *a, sim_app_result *r);
void sim_app_result_fini(sim_app_result *r);
/* The figures of server k of an echo or null_syscall application and of the
 * clients that ask it (each client asks one server, fixed at start), into r
 * (released with sim_app_result_fini): summed over the servers, each is the
 * application's. -EINVAL for kinds without servers or k out of range, -ENOMEM. */
int sim_app_server_results(const sim_app *a, uint32_t k, sim_app_result *r);
void sim_app_free(sim_app *a);

#endif
