/* PHOLD, the standard benchmark of discrete-event engines: every core, on each
 * message it receives, waits an exponentially distributed delay and sends a
 * message to a uniformly random other member. */
#ifndef FOS_SIM_PHOLD_H
#define FOS_SIM_PHOLD_H

#include "fos/sim.h"

typedef struct sim_phold {
    fos_cycles mean_delay; /* mean of the exponential delay, cycles */
    uint32_t population;   /* messages each core starts with */
    fos_cycles warmup;     /* handled_measured counts messages from here on */
    uint64_t handled;      /* messages received and forwarded */
    uint64_t handled_measured;
    uint64_t retries; /* sends refused (-EAGAIN) and sent elsewhere */
    uint64_t errors;
    uint64_t checksum; /* over every received message's (sender, sequence) */
    struct sim_phold_core *core;
    uint32_t ncores;
} sim_phold;

/* Wires PHOLD into s on cores[0..n) (NULL: every core of the chip), one fiber
 * each. The run should have a duration: PHOLD never ends by itself. Returns 0,
 * -EINVAL, -ENOMEM. */
int sim_phold_setup(sim *s, const uint32_t *cores, uint32_t n, fos_cycles mean_delay,
                    uint32_t population, fos_cycles warmup, sim_phold *p);
/* The figures of member i after the run. */
void sim_phold_member(const sim_phold *p, uint32_t i, uint64_t *handled, uint64_t *measured,
                      uint64_t *errors, uint64_t *checksum);
/* Sums the per-core figures into p and frees them. */
void sim_phold_collect(sim_phold *p);

#endif
