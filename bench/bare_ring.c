/* The bare-hardware baseline for messaging: nothing but two pinned threads and
 * two rings of cache-line slots. */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"

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

double bench_bare_ring_rtt_ns(int iters, int batches, int *cpu_a, int *cpu_b)
{
    cpu_set_t set;
    int cpus[2] = {-1, -1}, n = 0;
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        for (int i = 0; i < CPU_SETSIZE && n < 2; i++)
            if (CPU_ISSET(i, &set)) cpus[n++] = i;
    *cpu_a = cpus[0];
    *cpu_b = cpus[1];
    double *v = calloc((size_t)batches, sizeof(*v));
    slot *ab = aligned_alloc(4096, sizeof(slot) * SLOTS);
    slot *ba = aligned_alloc(4096, sizeof(slot) * SLOTS);
    if (!v || !ab || !ba) {
        free(v);
        free(ab);
        free(ba);
        return -1;
    }
    for (int b = 0; b < batches; b++) {
        memset(ab, 0, sizeof(slot) * SLOTS);
        memset(ba, 0, sizeof(slot) * SLOTS);
        side s = {ab, ba, iters, cpus[1]};
        pthread_t t;
        pthread_create(&t, NULL, echo, &s);
        pin(cpus[0]);
        uint64_t t0 = now_ns();
        for (int i = 0; i < iters; i++) {
            slot *out = &ab[i % SLOTS], *in = &ba[i % SLOTS];
            out->payload[0] = (uint64_t)i;
            __atomic_store_n(&out->seq, (uint64_t)i + 1, __ATOMIC_RELEASE);
            while (__atomic_load_n(&in->seq, __ATOMIC_ACQUIRE) != (uint64_t)i + 1)
                __builtin_ia32_pause();
        }
        v[b] = (double)(now_ns() - t0) / iters;
        pthread_join(t, NULL);
    }
    /* Leave the calling thread free to run anywhere again. */
    sched_setaffinity(0, sizeof(set), &set);
    double m = bench_median(v, batches);
    free(v);
    free(ab);
    free(ba);
    return m;
}
