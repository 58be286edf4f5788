/* Application kinds from plugins: one fiber per client, given a context that
 * records into the same per-client figures as the built-in kinds. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "sim/app_priv.h"

/* A block of fos_app_alloc, on its client's list. */
typedef struct app_mem {
    struct app_mem *next;
    _Alignas(max_align_t) unsigned char data[];
} app_mem;

struct fos_app_ctx {
    const sim_app_spec *sp;
    app_inst *in;
    fos_cycles warmup;
    uint32_t index;
    bool *said;   /* the kind's clients broke the record contract, and were told */
    app_mem *mem; /* touched only by the client's own fiber */
};

/* The application's clients and what they share. */
typedef struct plugin_app {
    bool said;
    uint32_t n;
    fos_app_ctx ctx[];
} plugin_app;

const fos_params *fos_app_params(const fos_app_ctx *c)
{
    FOS__NEED(c);
    return &c->sp->params.p;
}
uint32_t fos_app_index(const fos_app_ctx *c)
{
    FOS__NEED(c);
    return c->index;
}
uint32_t fos_app_clients(const fos_app_ctx *c)
{
    FOS__NEED(c);
    return c->sp->instances;
}
uint64_t fos_app_operations(const fos_app_ctx *c)
{
    FOS__NEED(c);
    return c->sp->operations;
}
fos_cycles fos_app_think(const fos_app_ctx *c)
{
    FOS__NEED(c);
    return c->sp->think;
}
void fos_app_record(fos_app_ctx *c, fos_cycles started)
{
    FOS__NEED(c);
    fos_cycles now = fos_now();
    if (started > now) {
        /* Not an operation that happened: its latency would wrap to ~2^64.
         * The plugin's bug, counted where its figures show, said once. */
        /* Once, though clients run on several host threads (native). */
        if (!__atomic_exchange_n(c->said, true, __ATOMIC_RELAXED))
            fprintf(stderr,
                    "fossim: application '%s' (kind '%s'), client %u: fos_app_record was given a "
                    "start of %" PRIu64 " cycles, after now (%" PRIu64
                    "); counted as an error, not timed\n",
                    c->sp->name, sim_app_spec_kind(c->sp), c->index, started, now);
        c->in->errors++;
        return;
    }
    app_record(c->in, c->warmup, started, now, 0);
}
void fos_app_error(fos_app_ctx *c)
{
    FOS__NEED(c);
    c->in->errors++;
}

void *fos_app_alloc(fos_app_ctx *c, size_t bytes)
{
    FOS__NEED(c);
    if (bytes > SIZE_MAX - sizeof(app_mem)) return NULL;
    app_mem *m = calloc(1, sizeof(app_mem) + bytes);
    if (!m) return NULL;
    m->next = c->mem;
    c->mem = m;
    return m->data;
}

static void plugin_app_free(void *priv)
{
    plugin_app *pa = priv;
    for (uint32_t i = 0; pa && i < pa->n; i++)
        for (app_mem *m = pa->ctx[i].mem, *next; m; m = next) {
            next = m->next;
            free(m);
        }
    free(pa);
}

static void plugin_client(void *arg)
{
    fos_app_ctx *c = arg;
    c->sp->plugin->client(c);
    c->in->done = true;
}

int app_plugin_start(sim *s, const sim_workload *w, sim_app *a)
{
    const sim_app_spec *sp = a->spec;
    (void)w;
    uint32_t n = sp->instances;
    a->ninst = a->nclients = n;
    a->inst = calloc(n, sizeof(app_inst));
    plugin_app *pa = calloc(1, sizeof(*pa) + n * sizeof(fos_app_ctx));
    a->priv = pa;
    a->free_priv = plugin_app_free;
    if (!a->inst || !pa) return -ENOMEM;
    pa->n = n;
    fos_app_ctx *ctx = pa->ctx;
    for (uint32_t i = 0; i < n; i++) {
        sim_hist_init(&a->inst[i].lat), sim_hist_init(&a->inst[i].lat_all);
        ctx[i] = (fos_app_ctx){sp, &a->inst[i], a->warmup, i, &pa->said};
        int r = sim_spawn(s, sp->client_cores[i], plugin_client, &ctx[i], sp->plugin->name, false);
        if (r != 0) return r;
    }
    return 0;
}
