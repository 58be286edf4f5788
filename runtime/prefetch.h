/* Prefetching for the virtual engine. The cores of a window are run in turn
 * and each is cold by then. What running c touches first hangs off its own
 * lines (core -> event, fiber, mailbox table, the mailbox it last read, the
 * frames its fiber resumes through), so the engine asks for the core's lines
 * three cores ahead and, two cores ahead, for what they point to.
 *
 * Measured on PHOLD at 1,024 cores: a third stage one core ahead (the envelope
 * of the next event, its mailbox) cost more than it saved, since the misses a
 * CPU can have in flight, not their latency, are what runs out here.
 *
 * always_inline: GCC removes calls to a function it finds has no side effects,
 * and a function of prefetches alone counts as one once it is too big to be
 * inlined early. */
#ifndef FOS_RUNTIME_PREFETCH_H
#define FOS_RUNTIME_PREFETCH_H

#include "mailbox/mailbox_kernel.h"

#define FOS__PF static inline __attribute__((always_inline)) void

/* The core's own hot lines. */
FOS__PF fos__core_prefetch0(const fos_core *c)
{
    for (int i = 0; i < 6; i++)
        __builtin_prefetch((const char *)c + 64 * i);
}

FOS__PF fos__core_prefetch1(const fos_core *c)
{
    if (c->evq.n) __builtin_prefetch(&c->evq.v[c->evq.head]);
    __builtin_prefetch(c->mbox);
    __builtin_prefetch(c->last);
    if (c->hot_mbox) {
        __builtin_prefetch(c->hot_mbox);
        __builtin_prefetch((const char *)c->hot_mbox + 64);
    }
    /* The frames a parked fiber resumes through (switch, scheduler, the
     * runtime call and the caller's own), found from the core's own lines:
     * through the fiber, one more dependent miss, they came too late. */
    const char *sp = c->park_sp;
    if (sp)
        for (int i = 0; i < 10; i++)
            __builtin_prefetch(sp + 64 * i);
}

#undef FOS__PF

#endif
