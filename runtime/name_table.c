/* A name -> binding table, open addressing with linear probing. Used for each
 * core's name cache and for the directory. The hash is of the name's bytes only,
 * so iteration and probing never depend on addresses. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/core_priv.h"

static uint64_t hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

int fos__names_init(fos__name_table *t)
{
    t->cap = 16;
    t->n = 0;
    t->v = calloc(t->cap, sizeof(*t->v));
    return t->v ? 0 : -ENOMEM;
}

void fos__names_fini(fos__name_table *t)
{
    free(t->v);
    t->v = NULL;
    t->cap = t->n = 0;
}

static uint32_t slot_of(const fos__name_table *t, const char *name)
{
    uint32_t i = (uint32_t)hash(name) & (t->cap - 1);
    while (t->v[i].used && strcmp(t->v[i].name, name) != 0)
        i = (i + 1) & (t->cap - 1);
    return i;
}

fos__name_entry *fos__names_find(fos__name_table *t, const char *name)
{
    if (!t->v) return NULL;
    fos__name_entry *e = &t->v[slot_of(t, name)];
    return e->used ? e : NULL;
}

static int grow(fos__name_table *t)
{
    fos__name_table n = {.cap = t->cap * 2};
    n.v = calloc(n.cap, sizeof(*n.v));
    if (!n.v) return -ENOMEM;
    for (uint32_t i = 0; i < t->cap; i++) {
        if (t->v[i].used) {
            n.v[slot_of(&n, t->v[i].name)] = t->v[i];
            n.n++;
        }
    }
    free(t->v);
    *t = n;
    return 0;
}

int fos__names_put(fos__name_table *t, const char *name, fos_addr a, fos_cap cap)
{
    size_t len = strlen(name);
    if (len == 0) return -EINVAL;
    if (len >= FOS_NAME_MAX) return -ENAMETOOLONG;
    if ((t->n + 1) * 2 > t->cap && grow(t) != 0) return -ENOMEM;
    fos__name_entry *e = &t->v[slot_of(t, name)];
    if (!e->used) {
        memcpy(e->name, name, len + 1);
        e->used = true;
        e->sent = 0;
        t->n++;
    }
    if (e->addr.core != a.core || e->addr.id != a.id) e->sent = 0;
    e->addr = a;
    e->cap = cap;
    return 0;
}

void fos__names_del(fos__name_table *t, const char *name)
{
    if (!t->v) return;
    uint32_t i = slot_of(t, name);
    if (!t->v[i].used) return;
    t->v[i].used = false;
    t->n--;
    /* Backward-shift deletion: move later members of the probe run up so that
     * lookups never stop early at the hole. */
    uint32_t mask = t->cap - 1;
    for (uint32_t j = (i + 1) & mask; t->v[j].used; j = (j + 1) & mask) {
        uint32_t home = (uint32_t)hash(t->v[j].name) & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->v[i] = t->v[j];
            t->v[j].used = false;
            i = j;
        }
    }
}
