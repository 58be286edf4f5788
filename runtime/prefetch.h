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

#include <stddef.h>

#define FOS__PF static inline __attribute__((always_inline)) void

/* The core's hot lines: everything before kfree (see fos_core). */
#define FOS__CORE_HOT_LINES 5
/* Stack lines prefetched for a parked fiber, from its saved sp or this far
 * below its top, whichever is lower. */
#define FOS__STACK_LINES 8
_Static_assert(offsetof(fos_core, kfree) == 64 * FOS__CORE_HOT_LINES,
               "fos_core's hot fields no longer fill exactly FOS__CORE_HOT_LINES lines");

FOS__PF fos__core_prefetch0(const fos_core *c)
{
    for (int i = 0; i < FOS__CORE_HOT_LINES; i++)
        __builtin_prefetch((const char *)c + 64 * i);
}

FOS__PF fos__core_prefetch1(const fos_core *c)
{
    if (c->evq.n) __builtin_prefetch(&c->evq.v[c->evq.head]);
    __builtin_prefetch(c->mbox);
    if (c->last) {
        __builtin_prefetch(c->last);
        __builtin_prefetch((const char *)c->last + 64);
    }
    if (c->hot_mbox) {
        __builtin_prefetch(c->hot_mbox);
        __builtin_prefetch((const char *)c->hot_mbox + 64);
    }
    /* The frames a parked fiber resumes through (switch, scheduler, the
     * runtime call and the caller's own), found from the core's own lines:
     * through the fiber, one more dependent miss, they came too late. A
     * fixed count with no test per line: parked PHOLD fibers lie 6 to 8 lines
     * deep, and the lines just below a shallower one are the next it writes.
     * The loop that stopped at the top cost ~20 instructions per activation
     * (2.6% of PHOLD's) and measured 2.5% slower. */
    uintptr_t sp = (uintptr_t)c->park_sp & ~(uintptr_t)63, hi = (uintptr_t)c->park_hi;
    if (sp) {
        uintptr_t top = (hi - 64 * FOS__STACK_LINES) & ~(uintptr_t)63;
        const char *p = (const char *)(sp < top ? sp : top);
        for (int i = 0; i < FOS__STACK_LINES; i++)
            __builtin_prefetch(p + 64 * i);
    }
}

#undef FOS__PF

#endif
