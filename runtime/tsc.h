/* The native engine's clock: the TSC where there is one, else nanoseconds. */
#ifndef FOS_RUNTIME_TSC_H
#define FOS_RUNTIME_TSC_H

#include <stdint.h>
#include <time.h>

/* Ordered after what the thread has already read, as Linux's own clock is
 * (lfence; rdtsc): a bare rdtsc may be taken before the load that saw another
 * core's message, and a receiver's clock then reads earlier than the time the
 * sender stamped on it. */
static inline uint64_t fos__tsc(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_lfence();
    return __builtin_ia32_rdtsc();
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
#endif
}

static inline void fos__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

#endif
