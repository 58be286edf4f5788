/* Machine contexts: the one piece of fibers that is architecture-specific. */
#ifndef FOS_RUNTIME_CTX_H
#define FOS_RUNTIME_CTX_H

#include <stddef.h>

#ifdef FOSSIM_CTX_UCONTEXT
#include <ucontext.h>
typedef struct fos__ctx {
    ucontext_t uc;
} fos__ctx;

static inline const void *fos__ctx_saved(const fos__ctx *c)
{
    (void)c;
    return NULL;
}
#else
/* The saved stack pointer; everything else lives on the stack it points to.
 * mirror (may be NULL): where the switch also writes it, so that the engine
 * can find a parked fiber's frames from its core's own cache lines, one
 * dependent load sooner than through the fiber. */
typedef struct fos__ctx {
    void *sp;
    void **mirror;
} fos__ctx;

/* Where the saved registers lie, for prefetching before a switch. */
static inline const void *fos__ctx_saved(const fos__ctx *c)
{
    return c->sp;
}
#endif

/* Prepares c to run entry(arg) on the stack [lo, hi) when first switched to.
 * entry must never return. mirror: see fos__ctx (ignored by the portable switch). */
void fos__ctx_make(fos__ctx *c, void *lo, void *hi, void (*entry)(void *), void *arg,
                   void **mirror);

/* Saves the running context into from and resumes to. */
void fos__ctx_switch(fos__ctx *from, fos__ctx *to);

#endif
