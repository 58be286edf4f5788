/* Fibers: cooperative user-level threads, each belonging to one simulated core. */
#ifndef FOS_FIBER_H
#define FOS_FIBER_H

#include "fos/types.h"

typedef struct fos_fiber fos_fiber;
typedef void (*fos_fiber_fn)(void *arg);

typedef struct fos_fiber_opts {
    size_t stack_size; /* bytes, 4 KiB to 1 GiB; 0 = 64 KiB. Committed only when touched. */
    const char *name;  /* for reports (deadlocks, statistics); not copied */
} fos_fiber_opts;

/* Starts fn(arg) in a new fiber on the calling core, queued behind the fibers
 * already runnable. opts may be NULL. With out == NULL the fiber is detached and
 * reclaimed when it ends; otherwise *out must later be passed to fos_fiber_join.
 * Returns 0, -EINVAL (stack size), or -ENOMEM. */
int fos_fiber_spawn(fos_fiber_fn fn, void *arg, const fos_fiber_opts *opts, fos_fiber **out);

/* Ends the calling fiber; never returns. Returning from fn does the same. */
_Noreturn void fos_fiber_exit(void);

/* Lets the other runnable fibers of the calling core run first. */
void fos_yield(void);

/* Parks the calling fiber for d cycles. Returns 0. A sleep of 0 is a
 * fos_yield, and costs what a yield costs; one that would end past the end of
 * time never ends (a fiber that only waits so is reported as stuck). */
int fos_sleep(fos_cycles d);

/* Waits until f (a fiber of the calling core, spawned joinable) has ended, then
 * releases it: f must not be used again, as with pthread_join. Returns 0, or
 * -EINVAL (f is NULL, the caller, detached, on another core, or already being
 * joined by another fiber). */
int fos_fiber_join(fos_fiber *f);

/* The calling fiber. */
fos_fiber *fos_fiber_self(void);

/* Starts fn(arg) in a new detached fiber on `core`: a microkernel call delivered
 * to that core as an event, one message latency later. Returns 0 once issued, or
 * -EINVAL for a core that does not exist. A spawn that reaches a dead core is
 * dropped. */
int fos_spawn(fos_core_id core, fos_fiber_fn fn, void *arg);

#endif
