/* The allocation seam: each core allocates from a jemalloc arena of its own, so
 * cores on different host threads never share an allocator lock; sanitizer
 * builds use libc malloc so ASan sees every block. Message envelopes are also
 * kept on per-core free lists: nothing is allocated per message. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/core_priv.h"

#ifndef FOSSIM_SANITIZE
#include <jemalloc/jemalloc.h>
#endif

/* Envelopes kept per class per core beyond which they go back to the arena. */
#define KFREE_KEEP 64

int fos__arena_new(unsigned *out)
{
#ifdef FOSSIM_SANITIZE
    *out = 0;
    return 0;
#else
    size_t sz = sizeof(*out);
    return mallctl("arenas.create", out, &sz, NULL, 0) == 0 ? 0 : -ENOMEM;
#endif
}

void *fos__alloc(fos_core *c, size_t n)
{
#ifdef FOSSIM_SANITIZE
    (void)c;
    return malloc(n);
#else
    return mallocx(n ? n : 1, MALLOCX_ARENA(c->arena) | MALLOCX_TCACHE_NONE);
#endif
}

void *fos__calloc(fos_core *c, size_t n)
{
#ifdef FOSSIM_SANITIZE
    (void)c;
    return calloc(1, n);
#else
    return mallocx(n ? n : 1, MALLOCX_ARENA(c->arena) | MALLOCX_TCACHE_NONE | MALLOCX_ZERO);
#endif
}

void fos__free(fos_core *c, void *p)
{
    (void)c;
#ifdef FOSSIM_SANITIZE
    free(p);
#else
    if (p)
        dallocx(p, MALLOCX_TCACHE_NONE);
#endif
}

static uint32_t kmsg_class(size_t bytes)
{
    size_t need = offsetof(fos__kmsg, msg) + bytes;
    uint32_t cls = 0;
    while (((size_t)128 << cls) < need)
        cls++;
    return cls;
}

fos__kmsg *fos__kmsg_get(fos_core *c, size_t bytes)
{
    uint32_t cls = kmsg_class(bytes);
    if (cls >= FOS__KMSG_CLASSES)
        return NULL;
    fos__kmsg *k = c->kfree[cls];
    if (k) {
        c->kfree[cls] = k->next;
        c->nkfree[cls]--;
        return k;
    }
    k = fos__alloc(c, (size_t)128 << cls);
    if (k)
        k->cls = cls;
    return k;
}

void fos__kmsg_put(fos_core *c, fos__kmsg *k)
{
    if (c->nkfree[k->cls] >= KFREE_KEEP) {
        fos__free(c, k);
        return;
    }
    k->next = c->kfree[k->cls];
    c->kfree[k->cls] = k;
    c->nkfree[k->cls]++;
}
