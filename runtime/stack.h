/* Fiber stacks: mmap'd with a guard page below, committed only when touched,
 * pooled and reused. A pool belongs to one host thread. */
#ifndef FOS_RUNTIME_STACK_H
#define FOS_RUNTIME_STACK_H

#include <stddef.h>
#include <stdint.h>

typedef struct fos__stack {
    void *map;     /* the whole mapping, guard page first */
    size_t size;   /* usable bytes above the guard */
    void *lo, *hi; /* usable range; hi is already coloured */
    struct fos__stack *next;
} fos__stack;

typedef struct fos__stack_pool {
    fos__stack *free; /* stacks of the default size, ready for reuse */
    size_t nfree;
    uint32_t made; /* stacks ever mapped: picks each one's colour */
    size_t page;
} fos__stack_pool;

#define FOS_STACK_DEFAULT (64u * 1024u)

void fos__stack_pool_init(fos__stack_pool *p);
/* Unmaps every pooled stack. Stacks still in use must be released first. */
void fos__stack_pool_fini(fos__stack_pool *p);

/* A stack of at least size bytes (0 = default). Returns NULL when out of memory
 * or mappings. */
fos__stack *fos__stack_get(fos__stack_pool *p, size_t size);
void fos__stack_put(fos__stack_pool *p, fos__stack *s);

#endif
