/* The bare-hardware baseline for messaging: nothing but two pinned threads and
 * two rings of cache-line slots. */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "bench/bench.h"
#include "fos/sim.h"

#define SLOTS 64

typedef struct {
    _Alignas(64) volatile uint64_t seq; /* written last: the slot is full */
    uint64_t payload[7];
} slot;

_Static_assert(sizeof(slot) == 64, "a slot is one cache line");

typedef struct {
    slot *ab, *ba;
    int iters, cpu;
} side;

static void pin(int cpu)
{
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *echo(void *arg)
{
    side *s = arg;
    pin(s->cpu);
    for (int i = 0; i < s->iters; i++) {
        slot *in = &s->ab[i % SLOTS], *out = &s->ba[i % SLOTS];
        while (__atomic_load_n(&in->seq, __ATOMIC_ACQUIRE) != (uint64_t)i + 1)
            __builtin_ia32_pause();
        memcpy(out->payload, in->payload, sizeof(out->payload));
        __atomic_store_n(&out->seq, (uint64_t)i + 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t ticks(void)
{
#if defined(__x86_64__)
    _mm_lfence(); /* ordered as the runtime's clock is (runtime/tsc.h) */
    return __rdtsc();
#else
    return now_ns();
#endif
}

/* One batch: iters round trips; per-trip times in per (TSC cycles) when given. */
static double batch(slot *ab, slot *ba, int iters, const int *cpus, double *per)
{
    memset(ab, 0, sizeof(slot) * SLOTS);
    memset(ba, 0, sizeof(slot) * SLOTS);
    side s = {ab, ba, iters, cpus[1]};
    pthread_t t;
    pthread_create(&t, NULL, echo, &s);
    pin(cpus[0]);
    uint64_t t0 = now_ns();
    for (int i = 0; i < iters; i++) {
        slot *out = &ab[i % SLOTS], *in = &ba[i % SLOTS];
        uint64_t c0 = per ? ticks() : 0;
        out->payload[0] = (uint64_t)i;
        __atomic_store_n(&out->seq, (uint64_t)i + 1, __ATOMIC_RELEASE);
        while (__atomic_load_n(&in->seq, __ATOMIC_ACQUIRE) != (uint64_t)i + 1)
            __builtin_ia32_pause();
        if (per) per[i] = (double)(ticks() - c0);
    }
    double mean = (double)(now_ns() - t0) / iters;
    pthread_join(t, NULL);
    return mean;
}

int bench_bare_ring(int iters, int batches, bench_bare_figures *out)
{
    cpu_set_t set;
    int cpus[2] = {-1, -1}, n = 0;
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        for (int i = 0; i < CPU_SETSIZE && n < 2; i++)
            if (CPU_ISSET(i, &set)) cpus[n++] = i;
    out->cpu_a = cpus[0];
    out->cpu_b = cpus[1];
    double *v = calloc((size_t)batches, sizeof(*v));
    double *per = calloc((size_t)iters * (size_t)batches, sizeof(*per));
    slot *ab = aligned_alloc(4096, sizeof(slot) * SLOTS);
    slot *ba = aligned_alloc(4096, sizeof(slot) * SLOTS);
    int r = v && per && ab && ba ? 0 : -1;
    for (int b = 0; r == 0 && b < batches; b++)
        v[b] = batch(ab, ba, iters, cpus, NULL);
    for (int b = 0; r == 0 && b < batches; b++)
        batch(ab, ba, iters, cpus, per + (size_t)b * (size_t)iters);
    /* Leave the calling thread free to run anywhere again. */
    sched_setaffinity(0, sizeof(set), &set);
    if (r == 0) {
#if defined(__x86_64__)
        double ns_per_tick = 1e9 / (double)sim_native_cycles_per_s();
#else
        double ns_per_tick = 1.0;
#endif
        out->rtt_mean_ns = bench_median(v, batches);
        out->rtt_ns = bench_median(per, iters * batches) * ns_per_tick;
    }
    free(v);
    free(per);
    free(ab);
    free(ba);
    return r;
}
