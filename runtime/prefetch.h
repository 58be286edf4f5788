/* Prefetching for the virtual engine. The cores of a window are run in turn
 * and each is cold by then; what running c touches first is a chain of
 * dependent loads (core -> event -> envelope -> mailbox; core -> fiber -> its
 * stack; core -> mailbox -> queued envelope), so the engine asks for one link
 * per stage, a core apart: stage 0 three cores ahead, stage 2 the next one. */
#ifndef FOS_RUNTIME_PREFETCH_H
#define FOS_RUNTIME_PREFETCH_H

#include "mailbox/mailbox_kernel.h"

/* The core's own hot lines. */
static inline void fos__core_prefetch0(const fos_core *c)
{
    for (int i = 0; i < 6; i++)
        __builtin_prefetch((const char *)c + 64 * i);
}

static inline void fos__core_prefetch1(const fos_core *c)
{
    if (c->evq.n) __builtin_prefetch(&c->evq.v[c->evq.head]);
    __builtin_prefetch(c->mbox);
    __builtin_prefetch(c->last);
    if (c->hot_mbox) {
        __builtin_prefetch(c->hot_mbox);
        __builtin_prefetch((const char *)c->hot_mbox + 64);
    }
}

/* The frames a parked fiber resumes through (switch, scheduler, the runtime
 * call and the caller's own), found from the core's own lines: through the
 * fiber, one more dependent miss, they came too late. */
static inline void fos__core_prefetch_stack(const fos_core *c)
{
    const char *sp = c->park_sp;
    if (sp)
        for (int i = 0; i < 10; i++)
            __builtin_prefetch(sp + 64 * i);
}

static inline void fos__core_prefetch2(const fos_core *c)
{
    if (c->evq.n) {
        const fos__event *e = &c->evq.v[c->evq.head];
        if (e->kind == FOS__EV_MSG) {
            __builtin_prefetch(e->p);
            __builtin_prefetch((const char *)e->p + 64);
            if (c->mbox && (uint32_t)(e->u & 0xffff) < c->nmbox) {
                __builtin_prefetch(c->mbox[e->u & 0xffff]);
                __builtin_prefetch((const char *)c->mbox[e->u & 0xffff] + 64);
            }
        }
    }
    /* A message that arrived while the fiber was busy waits in the queue. */
    const fos_mbox *m = c->hot_mbox;
    if (m && m->count) {
        fos__mentry e = m->q[m->head];
        if ((e & 3) == 0) {
            __builtin_prefetch((const void *)e);
            __builtin_prefetch((const char *)e + 64);
        }
    }
}

#endif
