/* The built-in ping-pong: cores 2i and 2i+1 exchange `rounds` round trips
 * through mailboxes. The first workload fossim runs and the simplest check of
 * the microkernel's messaging. */
#ifndef FOS_SIM_PINGPONG_H
#define FOS_SIM_PINGPONG_H

#include "fos/sim.h"

typedef struct sim_pingpong {
    uint32_t pairs;
    uint64_t rounds;    /* per pair */
    uint64_t completed; /* round trips that came back */
    fos_cycles rtt_sum; /* cycles, summed over completed round trips */
    fos_cycles rtt_min, rtt_max;
    uint64_t errors; /* sends or receives that failed */
    struct sim_pingpong_pair *pair;
} sim_pingpong;

/* Wires the ping-pong into s before sim_run. Returns 0, -EINVAL (fewer than two
 * cores), -ENOMEM. */
int sim_pingpong_setup(sim *s, uint64_t rounds, sim_pingpong *pp);
/* Folds the pairs' figures into pp after sim_run, and frees the pairs. */
void sim_pingpong_collect(sim_pingpong *pp);

#endif
