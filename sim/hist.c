#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim/hist.h"

#define SUB (1u << SIM_HIST_SUB_BITS)

/* Values below SUB are their own bucket (group 0); above, a value's group is
 * its power of two and its bucket the next SIM_HIST_SUB_BITS bits below the top
 * one. */
static inline void locate(uint64_t v, unsigned *g, unsigned *b)
{
    if (v < SUB) {
        *g = 0;
        *b = (unsigned)v;
        return;
    }
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= SIM_HIST_SUB_BITS */
    *g = e - SIM_HIST_SUB_BITS + 1;
    *b = (unsigned)(v >> (e - SIM_HIST_SUB_BITS)) & (SUB - 1);
}

/* The value a bucket reports: its midpoint, so the error is half its width. */
static uint64_t bucket_value(unsigned g, unsigned b)
{
    if (g == 0) return b;
    unsigned shift = g - 1;
    uint64_t lo = ((uint64_t)(SUB | b)) << shift;
    return lo + (((uint64_t)1 << shift) >> 1);
}

void sim_hist_init(sim_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

void sim_hist_fini(sim_hist *h)
{
    for (unsigned g = 0; g < SIM_HIST_GROUPS; g++)
        free(h->group[g]);
    sim_hist_init(h);
}

static uint64_t *group(sim_hist *h, unsigned g)
{
    if (!h->group[g]) h->group[g] = calloc(SUB, sizeof(uint64_t));
    return h->group[g];
}

void sim_hist_add(sim_hist *h, uint64_t v)
{
    h->count++;
    h->sum += v;
    if (v < h->min) h->min = v;
    if (v > h->max) h->max = v;
    unsigned g, b;
    locate(v, &g, &b);
    uint64_t *c = group(h, g);
    if (c)
        c[b]++;
    else
        h->nomem = 1;
}

int sim_hist_merge(sim_hist *dst, const sim_hist *src)
{
    for (unsigned g = 0; g < SIM_HIST_GROUPS; g++) {
        if (!src->group[g]) continue;
        uint64_t *c = group(dst, g);
        if (!c) return -ENOMEM;
        for (unsigned b = 0; b < SUB; b++)
            c[b] += src->group[g][b];
    }
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min) dst->min = src->min;
    if (src->max > dst->max) dst->max = src->max;
    dst->nomem |= src->nomem;
    return 0;
}

uint64_t sim_hist_quantile(const sim_hist *h, double q)
{
    if (h->count == 0) return 0;
    if (q >= 1.0) return h->max;
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if ((double)rank < q * (double)h->count) rank++; /* ceil */
    if (rank == 0) rank = 1;
    uint64_t seen = 0;
    for (unsigned g = 0; g < SIM_HIST_GROUPS; g++) {
        if (!h->group[g]) continue;
        for (unsigned b = 0; b < SUB; b++) {
            seen += h->group[g][b];
            if (seen >= rank) {
                uint64_t v = bucket_value(g, b);
                /* The midpoint may lie outside what was recorded. */
                if (v > h->max) v = h->max;
                if (v < h->min) v = h->min;
                return v;
            }
        }
    }
    return h->max;
}
