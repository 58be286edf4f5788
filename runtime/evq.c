/* The per-core event queue. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/core_priv.h"

int fos__evq_init(fos__evq *q, uint32_t cap)
{
    q->v = malloc(sizeof(*q->v) * cap);
    q->head = q->n = 0;
    q->next = FOS_CYCLES_MAX;
    q->cap = q->v ? cap : 0;
    return q->v ? 0 : -ENOMEM;
}

void fos__evq_fini(fos__evq *q)
{
    free(q->v);
    q->v = NULL;
    q->cap = q->n = q->head = 0;
    q->next = FOS_CYCLES_MAX;
}

int fos__evq_insert(fos__evq *q, const fos__event *e)
{
    if (q->head + q->n == q->cap) {
        if (q->head > 0) {
            memmove(q->v, q->v + q->head, sizeof(*q->v) * q->n);
            q->head = 0;
        } else {
            uint32_t ncap = q->cap ? q->cap * 2 : 8;
            fos__event *nv = realloc(q->v, sizeof(*nv) * ncap);
            if (!nv) return -ENOMEM;
            q->v = nv;
            q->cap = ncap;
        }
    }
    /* Scan from the back: a new event is usually the latest. */
    fos__event *b = q->v + q->head;
    uint32_t i = q->n;
    while (i > 0 && fos__ev_before(e, &b[i - 1]))
        i--;
    if (i < q->n) memmove(b + i + 1, b + i, sizeof(*b) * (q->n - i));
    b[i] = *e;
    q->n++;
    if (i == 0) q->next = e->time;
    return 0;
}

bool fos__evq_remove(fos__evq *q, uint32_t kind, const void *p)
{
    fos__event *b = q->v + q->head;
    for (uint32_t i = 0; i < q->n; i++) {
        if (b[i].kind != kind || b[i].p != p) continue;
        memmove(b + i, b + i + 1, sizeof(*b) * (q->n - i - 1));
        if (--q->n == 0) q->head = 0;
        q->next = q->n ? b[0].time : FOS_CYCLES_MAX;
        return true;
    }
    return false;
}
