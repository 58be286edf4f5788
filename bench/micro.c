/* Micro-benchmarks of the runtime. Prints one JSON object; every parameter that
 * shapes a figure is recorded beside it.
 *   micro [--json] [--quick]
 * fiber_switch_ns: two fibers of one core passing control back and forth with
 *   fos_yield, through the scheduler; ns per switch, median of runs.
 * virtual_msgs_per_host_s: PHOLD on the virtual engine, 1,024 cores, one worker;
 *   mailbox messages delivered per host second, median of runs.
 * virtual_activation_ns: the same chip with no messages, each core's fiber
 *   computing PHOLD's delays in a loop: host ns per core activation, the part of
 *   PHOLD's cost that is the engine's turn to a core rather than an event.
 * bare_ring_rtt_ns: two pinned threads, slot rings polled on a sequence word.
 * mailbox_* / channel_*: two fibers on two cores of the native engine; medians of
 *   per-message times in TSC cycles, converted to ns. null_syscall_rtt_cycles:
 *   an empty request to a server fiber on another core and back, by mailbox. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "bench/bench.h"
#include "fos/fos.h"
#include "sim/phold.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- fiber switch --------------------------------------------------------- */

typedef struct {
    uint64_t iters;
    uint64_t t0, t1;
} sw_state;

static void sw_fiber(void *arg)
{
    sw_state *st = arg;
    if (!st->t0) st->t0 = now_ns();
    for (uint64_t i = 0; i < st->iters; i++)
        fos_yield();
    st->t1 = now_ns();
}

static double fiber_switch_once(uint64_t iters)
{
    sim_config cfg;
    sim_config_default(&cfg);
    cfg.chip.cores = 1;
    /* No cycles per switch or yield: the clock stays put, so no window ends
     * during the ping-pong and the engine never runs between the two fibers. */
    cfg.chip.costs.ctx_switch = 0;
    cfg.chip.costs.poll = 0;
    sim *s;
    if (sim_create(&cfg, &s) != 0) return -1;
    sw_state st = {.iters = iters};
    sim_spawn(s, 0, sw_fiber, &st, "a", false);
    sim_spawn(s, 0, sw_fiber, &st, "b", false);
    sim_run(s);
    sim_destroy(s);
    return (double)(st.t1 - st.t0) / (double)(2 * iters);
}

/* ---- PHOLD ---------------------------------------------------------------- */

typedef struct {
    double msgs_per_host_s;
    uint64_t msgs, events, windows, activations;
    uint64_t digest;
} phold_result;

/* The engine benchmarks' chip: the default one (mesh, tile costs), sized. */
static sim *chip(uint32_t cores, fos_cycles duration, uint32_t workers)
{
    sim_config cfg;
    sim_config_default(&cfg);
    cfg.chip.cores = cores;
    cfg.duration = duration;
    cfg.workers = workers;
    sim *s;
    return sim_create(&cfg, &s) == 0 ? s : NULL;
}

static int phold_once(uint32_t cores, fos_cycles mean, fos_cycles duration, uint32_t workers,
                      phold_result *out)
{
    sim *s = chip(cores, duration, workers);
    if (!s) return -1;
    sim_phold p;
    if (sim_phold_setup(s, NULL, 0, mean, 1, 0, &p) != 0) {
        sim_destroy(s);
        return -1;
    }
    sim_run(s);
    sim_phold_collect(&p);
    sim_stats st;
    sim_get_stats(s, &st);
    out->msgs = st.msgs;
    out->events = st.events;
    out->windows = st.windows;
    out->activations = st.activations;
    out->digest = st.event_digest;
    out->msgs_per_host_s = (double)st.msgs / ((double)st.host_ns / 1e9);
    sim_destroy(s);
    return p.errors ? -1 : 0;
}

/* ---- an activation without events ------------------------------------------ */

static void compute_fiber(void *arg)
{
    fos_cycles mean = *(const fos_cycles *)arg;
    for (;;)
        fos_compute(fos_rand_exp(mean));
}

/* Host ns per core activation when every activation is a fiber resumed after a
 * compute that ran past its window: no event, no message. */
static double activation_once(uint32_t cores, fos_cycles mean, fos_cycles duration,
                              uint64_t *activations)
{
    sim *s = chip(cores, duration, 1);
    if (!s) return -1;
    for (uint32_t i = 0; i < cores; i++)
        if (sim_spawn(s, i, compute_fiber, &mean, "compute", true) != 0) {
            sim_destroy(s);
            return -1;
        }
    sim_run(s);
    sim_stats st;
    sim_get_stats(s, &st);
    sim_destroy(s);
    *activations = st.activations;
    return st.activations ? (double)st.host_ns / (double)st.activations : -1;
}

int main(int argc, char **argv)
{
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (strcmp(argv[i], "--json") != 0) {
            fprintf(stderr, "micro: unknown argument '%s' (expected --json, --quick)\n", argv[i]);
            return 2;
        }
    }
    enum { RUNS = 5 };
    const int runs = quick ? 1 : RUNS;
    const uint64_t sw_iters = quick ? 100000 : 2000000;
    const uint32_t ph_cores = 1024;
    const fos_cycles ph_mean = 100, ph_dur = quick ? 20000 : 200000;

    double sw[RUNS], ph[RUNS], ph2[RUNS], act[RUNS];
    phold_result pr = {0}, pr2 = {0};
    uint64_t act_n = 0;
    for (int i = 0; i < runs; i++) {
        sw[i] = fiber_switch_once(sw_iters);
        /* One worker and two interleaved, so that both see the same host. */
        if (phold_once(ph_cores, ph_mean, ph_dur, 1, &pr) != 0 ||
            phold_once(ph_cores, ph_mean, ph_dur, 2, &pr2) != 0) {
            fprintf(stderr, "micro: PHOLD run failed\n");
            return 1;
        }
        if (pr2.digest != pr.digest || pr2.msgs != pr.msgs) {
            fprintf(stderr, "micro: PHOLD on two workers differs from one\n");
            return 1;
        }
        ph[i] = pr.msgs_per_host_s;
        ph2[i] = pr2.msgs_per_host_s;
        act[i] = activation_once(ph_cores, ph_mean, ph_dur, &act_n);
        if (act[i] < 0) {
            fprintf(stderr, "micro: activation run failed\n");
            return 1;
        }
    }
    printf("{\n  \"schema_version\": 1,\n  \"version\": \"%s\",\n", FOSSIM_VERSION);
    printf("  \"fiber_switch_ns\": %.2f,\n", bench_median(sw, runs));
    printf("  \"fiber_switch\": {\"fibers\": 2, \"switches_per_run\": %" PRIu64
           ", \"runs\": %d, \"ctx_switch_cost_cycles\": 0, \"poll_cost_cycles\": 0, "
           "\"statistic\": \"median\"},\n",
           2 * sw_iters, runs);
    printf("  \"virtual_msgs_per_host_s\": %.0f,\n", bench_median(ph, runs));
    printf("  \"virtual_phold\": {\"cores\": %u, \"topology\": \"mesh\", \"costs\": \"tile\", "
           "\"workers\": 1, \"mean_delay_cycles\": %" PRIu64 ", \"population_per_core\": 1, "
           "\"remote_fraction\": 1.0, \"duration_cycles\": %" PRIu64 ", \"runs\": %d, "
           "\"statistic\": \"median\", \"msgs_per_run\": %" PRIu64 ", \"events_per_run\": %" PRIu64
           ", \"windows_per_run\": %" PRIu64 ", \"core_activations_per_run\": %" PRIu64
           ", \"host_ns_per_activation\": %.1f, \"event_digest\": \"%016" PRIx64 "\"},\n",
           ph_cores, ph_mean, ph_dur, runs, pr.msgs, pr.events, pr.windows, pr.activations,
           1e9 * (double)pr.msgs / (bench_median(ph, runs) * (double)pr.activations), pr.digest);
    printf("  \"virtual_msgs_per_host_s_2_workers\": %.0f,\n", bench_median(ph2, runs));
    printf("  \"virtual_phold_2_workers\": {\"workers\": 2, \"host_cpus\": %ld, \"as\": "
           "\"virtual_phold\", \"runs\": %d, \"statistic\": \"median\", \"interleaved\": true, "
           "\"speedup\": %.2f},\n",
           sysconf(_SC_NPROCESSORS_ONLN), runs, bench_median(ph2, runs) / bench_median(ph, runs));
    printf("  \"virtual_activation_ns\": %.1f,\n", bench_median(act, runs));
    printf("  \"virtual_activation\": {\"cores\": %u, \"topology\": \"mesh\", \"costs\": "
           "\"tile\", \"workers\": 1, \"fibers_per_core\": 1, \"compute_mean_cycles\": %" PRIu64
           ", \"messages\": 0, \"duration_cycles\": %" PRIu64 ", \"runs\": %d, "
           "\"statistic\": \"median\", \"core_activations_per_run\": %" PRIu64 "},\n",
           ph_cores, ph_mean, ph_dur, runs, act_n);

    /* Messaging against the bare hardware, measured in one run. */
    const int bare_iters = quick ? 20000 : 200000, msg_iters = quick ? 5000 : 50000;
    bench_bare_figures bf;
    int bare_r = bench_bare_ring(bare_iters, quick ? 3 : 7, &bf);
    double bare = bf.rtt_ns;
    bench_msg_figures mb, ch;
    if (bare_r != 0 || bare <= 0 || bench_native_messaging(msg_iters, 0, &mb) != 0 ||
        bench_native_messaging(msg_iters, 1, &ch) != 0) {
        fprintf(stderr, "micro: native messaging run failed\n");
        return 1;
    }
    printf("  \"bare_ring_rtt_ns\": %.1f,\n  \"bare_ring_rtt_mean_ns\": %.1f,\n", bare,
           bf.rtt_mean_ns);
    printf("  \"bare_ring\": {\"slot_bytes\": 64, \"slots\": 64, \"in_flight\": 1, "
           "\"round_trips_per_batch\": %d, \"batches\": %d, \"cpus\": [%d, %d], "
           "\"statistic\": \"rtt: median of every round trip, TSC read around each as the "
           "runtime's figures are; rtt_mean: median of batch means, untimed inside\"},\n",
           bare_iters, quick ? 3 : 7, bf.cpu_a, bf.cpu_b);
    printf("  \"mailbox_oneway_ns\": %.1f,\n  \"mailbox_rtt_ns\": %.1f,\n", mb.oneway_ns,
           mb.rtt_ns);
    printf("  \"channel_oneway_ns\": %.1f,\n  \"channel_rtt_ns\": %.1f,\n", ch.oneway_ns,
           ch.rtt_ns);
    printf("  \"mailbox_vs_bare\": %.2f,\n  \"channel_vs_bare\": %.2f,\n", mb.rtt_ns / bare,
           ch.rtt_ns / bare);
    printf("  \"null_syscall_rtt_cycles\": %.0f,\n", mb.null_rtt_cycles);
    printf("  \"null_syscall_channel_rtt_cycles\": %.0f,\n", ch.null_rtt_cycles);
    printf("  \"native_messaging\": {\"engine\": \"native\", \"cores\": 2, "
           "\"round_trips\": %d, \"warmup\": 1000, \"tsc_cycles_per_host_s\": %" PRIu64
           ", \"payload_bytes\": 8, \"null_payload_bytes\": 0, \"statistic\": \"median\", "
           "\"measured\": true, \"ratios\": \"round trip over bare_ring_rtt_ns\", "
           "\"reference_cycles\": {\"fos_null_syscall\": 20031, \"linux_null_syscall\": "
           "1789}}\n}\n",
           msg_iters, mb.cycles_per_s);
    return 0;
}
