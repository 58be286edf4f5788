/* Builds the initial frame that fos__ctx_switch (ctx_x86_64.S) resumes into. */
#ifndef FOSSIM_CTX_UCONTEXT
#include <stdint.h>
#include <string.h>

#include "runtime/ctx.h"

void fos__ctx_trampoline(void);

void fos__ctx_make(fos__ctx *c, void *lo, void *hi, void (*entry)(void *), void *arg, void **mirror)
{
    (void)lo;
    /* The trampoline is entered by a ret, so after that pop rsp must be 16-aligned
     * for its call to meet the ABI; 16 zero bytes above end gdb's unwinding. */
    uintptr_t top = ((uintptr_t)hi & ~(uintptr_t)15) - 16;
    uint64_t *sp = (uint64_t *)(top - 64);
    uint32_t mxcsr;
    uint16_t fpucw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(fpucw));
    memset(sp, 0, 64 + 16);
    /* Layout popped by fos__ctx_switch: control words, r15, r14, r13, r12, rbx,
     * rbp, return address. */
    sp[0] = (uint64_t)mxcsr | ((uint64_t)fpucw << 32);
    sp[3] = (uint64_t)(uintptr_t)entry; /* r13 */
    sp[4] = (uint64_t)(uintptr_t)arg;   /* r12 */
    sp[7] = (uint64_t)(uintptr_t)fos__ctx_trampoline;
    c->sp = sp;
    c->mirror = mirror;
    if (mirror) *mirror = sp;
}
#endif
