/* Per-core random streams, derived from (run seed, core id, stream id), so runs
 * are reproducible and independent of host, workers and partitioning. */
#ifndef FOS_RAND_H
#define FOS_RAND_H

#include "fos/types.h"

/* The generator: xoshiro256** seeded through splitmix64. Caller-owned. */
typedef struct fos_rng {
    uint64_t s[4];
} fos_rng;

/* Seeds r from (seed, core, stream): distinct triples give independent streams. */
void fos_rng_seed(fos_rng *r, uint64_t seed, uint64_t core, uint64_t stream);
uint64_t fos_rng_next(fos_rng *r);
/* Uniform in [0, n), without modulo bias. n must be > 0. */
uint64_t fos_rng_below(fos_rng *r, uint64_t n);
/* Exponentially distributed with the given mean, rounded to whole cycles;
 * computed in integer arithmetic (no libm) so every host agrees. */
fos_cycles fos_rng_exp(fos_rng *r, fos_cycles mean);

/* The calling core's application stream. */
uint64_t fos_rand(void);
uint64_t fos_rand_below(uint64_t n);
fos_cycles fos_rand_exp(fos_cycles mean);

#endif
