/* Latency histograms: log-bucketed, at most 1% relative error (1/256 in the
 * worst case: values are reported at their bucket's midpoint), exact below 128,
 * exact count, sum, min and max. Buckets are grouped by power of two and each
 * group is allocated when a value first lands in it, so a histogram per client
 * costs a few KiB, not the 58 KiB of every group. Not thread-safe: one per
 * simulated core or fiber, merged after the run. */
#ifndef FOS_SIM_HIST_H
#define FOS_SIM_HIST_H

#include <stdint.h>

#define SIM_HIST_SUB_BITS 7 /* 128 buckets per power of two: width/value <= 1/128 */
#define SIM_HIST_GROUPS (64 - SIM_HIST_SUB_BITS + 1)

typedef struct sim_hist {
    uint64_t count, sum, min, max;
    uint64_t *group[SIM_HIST_GROUPS];
    int nomem; /* a group could not be allocated: its values are counted but lost
                * from the percentiles (reported, never hidden) */
} sim_hist;

void sim_hist_init(sim_hist *h);
void sim_hist_fini(sim_hist *h);
void sim_hist_add(sim_hist *h, uint64_t v);
/* Adds every value of src to dst. Returns 0 or -ENOMEM. */
int sim_hist_merge(sim_hist *dst, const sim_hist *src);
/* The smallest recorded value v such that at least q (0 < q <= 1) of the values
 * are <= v, to within the bucket's width; 0 for an empty histogram. q = 1 gives
 * the exact maximum. */
uint64_t sim_hist_quantile(const sim_hist *h, double q);

#endif
