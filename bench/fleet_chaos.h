/* The fleet framework under faults, for bench/fleet_sweep and test_fleet: on a
 * 16-core chip, a fleet of four members takes in joiners while members are
 * killed or leave, membership hooks are slow, the coordinator's hand-over
 * fails and the framework's own messages are delayed. Every choice of a run
 * (when, who, how slow, which messages) comes from the scenario's seed and the
 * run's number, so each figure is exact and the same on every host.
 *
 * A run diverges when, at its end, the members left (joiners that got in
 * included) do not all have exactly those members present. Joins may fail (an
 * injected failure, a coordinator that never answers): that is counted, not
 * a divergence, as long as no table keeps the failed joiner. */
#ifndef FOS_BENCH_FLEET_CHAOS_H
#define FOS_BENCH_FLEET_CHAOS_H

#include <stdbool.h>
#include <stdint.h>

/* The chip (its cores) and the fleet started on it (its members). */
#define FLEET_CHAOS_CORES 16
#define FLEET_CHAOS_MEMBERS 4

/* What may go wrong in a scenario's runs. */
typedef struct fleet_chaos_scenario {
    const char *name;
    const char *what;
    int joiners;
    bool leaves;       /* a member (0-3, or none) leaves at a random time */
    bool delays;       /* joins, adds and gones are delayed */
    bool reply_delays; /* confirms and answers are delayed too */
    bool drops;        /* joins, adds, gones and confirms are lost instead */
    uint32_t fibers;   /* of each member's server (0: the default, 8) */
    uint64_t seed;
} fleet_chaos_scenario;

extern const fleet_chaos_scenario fleet_chaos_scenarios[];
extern const int fleet_chaos_nscenarios;

#define FLEET_CHAOS_LISTED 16

typedef struct fleet_chaos_tally {
    int runs, diverged, joins, failed;
    int failed_by[5];                     /* EIO, ENOENT, ETIMEDOUT, ESTALE, other */
    int diverged_run[FLEET_CHAOS_LISTED]; /* the first runs that diverged, to run again */
} fleet_chaos_tally;

/* Run number `it` of scenario sc, added to *t: 0, or -1 after saying on
 * stderr why the chip could not be set up or run. */
int fleet_chaos_run(const fleet_chaos_scenario *sc, int it, fleet_chaos_tally *t);

#endif
