/* Switching between fibers and the engine, with the sanitizer annotations that
 * let ASan follow a stack change. Shared by the scheduler and the engine. */
#ifndef FOS_RUNTIME_SWITCH_H
#define FOS_RUNTIME_SWITCH_H

#include "runtime/core_priv.h"

#if defined(__SANITIZE_ADDRESS__)
#define FOS__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FOS__ASAN 1
#endif
#endif

#ifdef FOS__ASAN
#include <sanitizer/common_interface_defs.h>
#endif

/* Frees what an ended fiber left behind once nothing runs on its stack. */
void fos__reap(fos__worker *w);

/* Saves the running context in from and resumes to, whose stack is [lo, lo+size).
 * fake is where ASan keeps the leaving stack's fake frames: NULL when the leaving
 * fiber has ended and will never be resumed. */
static inline void fos__switch(fos__ctx *from, void **fake, fos__ctx *to, const void *lo,
                               size_t size)
{
#ifdef FOS__ASAN
    __sanitizer_start_switch_fiber(fake, lo, size);
    fos__ctx_switch(from, to);
    __sanitizer_finish_switch_fiber(fake ? *fake : NULL, NULL, NULL);
#else
    (void)fake;
    (void)lo;
    (void)size;
    fos__ctx_switch(from, to);
#endif
}

static inline void fos__switch_to_fiber(fos__ctx *from, void **fake, fos_fiber *to)
{
    fos__switch(from, fake, &to->ctx, to->stack->lo,
                (size_t)((char *)to->stack->hi - (char *)to->stack->lo));
}

static inline void fos__switch_to_engine(fos__ctx *from, void **fake, fos__worker *w)
{
    fos__switch(from, fake, &w->ctx, w->stack_lo, w->stack_size);
}

#endif
