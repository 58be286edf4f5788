/* Portable fiber switch for architectures without assembly here: ucontext. It
 * makes a system call per switch (the signal mask), so it is only a fallback. */
#include <stdint.h>

#include "runtime/ctx.h"

static void trampoline(unsigned hi, unsigned lo, unsigned ehi, unsigned elo)
{
    void *arg = (void *)(((uintptr_t)hi << 32) | lo);
    void (*entry)(void *) = (void (*)(void *))(((uintptr_t)ehi << 32) | elo);
    entry(arg);
    __builtin_trap();
}

void fos__ctx_make(fos__ctx *c, void *lo, void *hi, void (*entry)(void *), void *arg, void **mirror)
{
    (void)mirror;
    getcontext(&c->uc);
    c->uc.uc_stack.ss_sp = lo;
    c->uc.uc_stack.ss_size = (size_t)((char *)hi - (char *)lo);
    c->uc.uc_link = NULL;
    uintptr_t a = (uintptr_t)arg, e = (uintptr_t)entry;
    makecontext(&c->uc, (void (*)(void))trampoline, 4, (unsigned)(a >> 32), (unsigned)a,
                (unsigned)(e >> 32), (unsigned)e);
}

void fos__ctx_switch(fos__ctx *from, fos__ctx *to)
{
    swapcontext(&from->uc, &to->uc);
}
