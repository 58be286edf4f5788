/* The benchmarks' shared pieces. */
#ifndef FOS_BENCH_H
#define FOS_BENCH_H

#include <stdint.h>

double bench_median(double *v, int n);

/* The physical baseline: one 64-byte message at a time through a pair of slot
 * rings between two pinned threads, the consumer polling a sequence word in the
 * slot itself (Barrelfish's UMP). rtt_ns is timed as the runtime's figures are,
 * the TSC read around each round trip, median of all; rtt_mean_ns is untimed
 * inside a batch, the median of batch means (it counts the rare slow trips the
 * median leaves out). */
typedef struct bench_bare_figures {
    double rtt_ns, rtt_mean_ns;
    int cpu_a, cpu_b;
} bench_bare_figures;
int bench_bare_ring(int iters, int batches, bench_bare_figures *out);

/* Two fibers on two cores of the native engine, through the runtime's calls. */
typedef struct bench_msg_figures {
    double rtt_ns, oneway_ns; /* medians */
    double rtt_cycles, oneway_cycles;
    double null_rtt_cycles; /* an empty request and its empty reply */
    uint64_t cycles_per_s;
    int iters;
} bench_msg_figures;

/* over_channel: the client connects a channel first, so both directions go over
 * its rings; otherwise every message is a mailbox send. 0 or -errno. */
int bench_native_messaging(int iters, int over_channel, bench_msg_figures *out);

#endif
