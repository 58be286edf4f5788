#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime/stack.h"
#include "runtime/switch.h"
#ifdef FOS__ASAN
#include <sanitizer/asan_interface.h>
#endif

/* Pooled stacks beyond this are unmapped on release: a burst of fibers should not
 * pin its peak memory forever. */
#define POOL_KEEP 4096

/* Successive stacks start at different offsets below their top so that the hot
 * top frames of many fibers do not all fall into the same cache sets. */
#define COLOURS 32
#define COLOUR_STEP 64

void fos__stack_pool_init(fos__stack_pool *p)
{
    p->free = NULL;
    p->nfree = 0;
    p->made = 0;
    p->page = (size_t)sysconf(_SC_PAGESIZE);
}

static void unmap(fos__stack *s)
{
    munmap(s->map, s->size + (size_t)sysconf(_SC_PAGESIZE));
    free(s);
}

void fos__stack_pool_fini(fos__stack_pool *p)
{
    while (p->free) {
        fos__stack *s = p->free;
        p->free = s->next;
        unmap(s);
    }
    p->nfree = 0;
}

fos__stack *fos__stack_get(fos__stack_pool *p, size_t size)
{
    if (size == 0) size = FOS_STACK_DEFAULT;
    size = (size + p->page - 1) & ~(p->page - 1);
    if (size == FOS_STACK_DEFAULT && p->free) {
        fos__stack *s = p->free;
        p->free = s->next;
        p->nfree--;
        return s;
    }
    fos__stack *s = malloc(sizeof(*s));
    if (!s) return NULL;
    /* Reserve guard + stack with no access, then open the stack: two mappings,
     * and the pages are committed only when the fiber touches them. */
    void *m =
        mmap(NULL, size + p->page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
        free(s);
        return NULL;
    }
    if (mprotect((char *)m + p->page, size, PROT_READ | PROT_WRITE) != 0) {
        munmap(m, size + p->page);
        free(s);
        return NULL;
    }
    s->map = m;
    s->size = size;
    s->lo = (char *)m + p->page;
    s->hi = (char *)s->lo + size - (size_t)(p->made % COLOURS) * COLOUR_STEP;
    s->next = NULL;
    p->made++;
    return s;
}

void fos__stack_put(fos__stack_pool *p, fos__stack *s)
{
#ifdef FOS__ASAN
    /* A fiber dropped at teardown while parked leaves its frames' redzones
     * poisoned: the next fiber on this stack must not inherit them. */
    ASAN_UNPOISON_MEMORY_REGION(s->lo, s->size);
#endif
    if (s->size == FOS_STACK_DEFAULT && p->nfree < POOL_KEEP) {
        s->next = p->free;
        p->free = s;
        p->nfree++;
        return;
    }
    unmap(s);
}
