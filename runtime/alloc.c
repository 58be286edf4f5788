/* The allocation seam: each host thread that runs cores allocates from a
 * jemalloc arena of its own (each core on the native engine, the worker on the
 * virtual one: see core_new), so cores on different host threads never share
 * an allocator lock; sanitizer
 * builds use libc malloc so ASan sees every block. Message envelopes are also
 * kept on free lists, nothing being allocated per message: per worker on the
 * virtual engine (its cores share one host thread), per core on the native one,
 * where an envelope stays with the core that read it while that core has room
 * (requests and answers then circulate them) and goes home to the core that
 * allocated it otherwise, so one-way traffic does not drain its sender. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/core_priv.h"

#ifndef FOSSIM_SANITIZE
#include <jemalloc/jemalloc.h>
#endif

/* Envelopes kept per class per core beyond which they go back to the arena. */
#define KFREE_KEEP 64

/* Arenas live as long as the process and are shared by its runs: jemalloc
 * caps how many there can be, so a sweep of many runs must not make new ones
 * each time. Core i of any run uses arena i % FOS__ARENAS. */
#ifndef FOSSIM_SANITIZE
static unsigned arenas[FOS__ARENAS];
static unsigned narenas;
static pthread_mutex_t arenas_lock = PTHREAD_MUTEX_INITIALIZER;
#endif

int fos__arena_get(unsigned idx, unsigned *out)
{
#ifdef FOSSIM_SANITIZE
    (void)idx;
    *out = 0;
    return 0;
#else
    idx %= FOS__ARENAS;
    int r = 0;
    pthread_mutex_lock(&arenas_lock);
    while (r == 0 && narenas <= idx) {
        size_t sz = sizeof(arenas[0]);
        r = mallctl("arenas.create", &arenas[narenas], &sz, NULL, 0) == 0 ? 0 : -ENOMEM;
        if (r == 0) narenas++;
    }
    if (r == 0) *out = arenas[idx];
    pthread_mutex_unlock(&arenas_lock);
    return r;
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
    if (p) dallocx(p, MALLOCX_TCACHE_NONE);
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

/* Pushes k on its class's list unless that holds `keep` already. */
static bool lists_push(fos__kmsg_lists *l, fos__kmsg *k, uint32_t keep)
{
    if (l->n[k->cls] >= keep) return false;
    k->next = l->head[k->cls];
    l->head[k->cls] = k;
    l->n[k->cls]++;
    return true;
}

static fos__kmsg *lists_pop(fos__kmsg_lists *l, uint32_t cls)
{
    fos__kmsg *k = l->head[cls];
    if (k) {
        l->head[cls] = k->next;
        l->n[cls]--;
    }
    return k;
}

void fos__kmsg_lists_free(fos__kmsg_lists *l)
{
    for (uint32_t cls = 0; cls < FOS__KMSG_CLASSES; cls++) {
        fos__kmsg *k;
        while ((k = lists_pop(l, cls)))
            fos__free(NULL, k);
    }
}

static void keep(fos_core *c, fos__kmsg *k)
{
    if (!lists_push(&c->kfree, k, KFREE_KEEP)) fos__free(c, k);
}

/* Takes back, all at once, the envelopes other cores returned. Taking the
 * whole stack (an exchange) has no ABA problem, unlike popping one. */
static void reclaim(fos_core *c)
{
    fos__kmsg *k = __atomic_exchange_n(&c->kret, NULL, __ATOMIC_ACQUIRE);
    while (k) {
        fos__kmsg *next = k->next;
        keep(c, k);
        k = next;
    }
}

__attribute__((noinline)) fos__kmsg *fos__kmsg_get_cold(fos_core *c, size_t bytes)
{
    return fos__kmsg_get(c, bytes);
}

/* Envelopes a worker keeps per class beyond which they go back to the arena. */
#define WORKER_KEEP 4096

fos__kmsg *fos__kmsg_get(fos_core *c, size_t bytes)
{
    uint32_t cls = kmsg_class(bytes);
    if (cls >= FOS__KMSG_CLASSES) return NULL;
    /* Virtual (no inbox): the worker's lists; native: the core's. */
    fos__kmsg_lists *l = c->inbox ? &c->kfree : &c->w->kfree;
    if (c->inbox && !l->head[cls] && __atomic_load_n(&c->kret, __ATOMIC_RELAXED)) reclaim(c);
    fos__kmsg *k = lists_pop(l, cls);
    if (k) return k;
    k = fos__alloc(c, (size_t)128 << cls);
    if (k) {
        k->cls = cls;
        k->owner = c->id;
        c->st_kmsg_allocs++;
    }
    return k;
}

void fos__kmsg_put(fos_core *c, fos__kmsg *k)
{
    if (!c->inbox && !c->sim->tearing_down) {
        if (!lists_push(&c->w->kfree, k, WORKER_KEEP)) fos__free(c, k);
        return;
    }
    /* Kept where it was read while there is room: request and answer traffic
     * then circulates envelopes without a cache line crossing back for each. */
    if (lists_push(&c->kfree, k, KFREE_KEEP)) return;
    if (k->owner == c->id || c->sim->tearing_down) {
        fos__free(c, k);
        return;
    }
    /* Home to the core that sends with it, so one-way traffic does not drain
     * the sender's free list into the receiver's (and into malloc). */
    fos_core *owner = c->sim->cores[k->owner];
    k->next = __atomic_load_n(&owner->kret, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(&owner->kret, &k->next, k, true, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED))
        ;
}
