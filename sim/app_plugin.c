/* Application kinds from plugins: one fiber per client, given a context that
 * records into the same per-client figures as the built-in kinds. */
#include <errno.h>
#include <stdlib.h>

#include "sim/app_priv.h"

struct fos_app_ctx {
    const sim_app_spec *sp;
    app_inst *in;
    fos_cycles warmup;
    uint32_t index;
};

const fos_params *fos_app_params(const fos_app_ctx *c)
{
    return &c->sp->params.p;
}
uint32_t fos_app_index(const fos_app_ctx *c)
{
    return c->index;
}
uint32_t fos_app_clients(const fos_app_ctx *c)
{
    return c->sp->instances;
}
uint64_t fos_app_operations(const fos_app_ctx *c)
{
    return c->sp->operations;
}
fos_cycles fos_app_think(const fos_app_ctx *c)
{
    return c->sp->think;
}
void fos_app_record(fos_app_ctx *c, fos_cycles started)
{
    app_record(c->in, c->warmup, started, fos_now(), 0);
}
void fos_app_error(fos_app_ctx *c)
{
    c->in->errors++;
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
    fos_app_ctx *ctx = calloc(n, sizeof(*ctx));
    a->priv = ctx;
    if (!a->inst || !ctx) return -ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        sim_hist_init(&a->inst[i].lat), sim_hist_init(&a->inst[i].lat_all);
        ctx[i] = (fos_app_ctx){sp, &a->inst[i], a->warmup, i};
        int r = sim_spawn(s, sp->client_cores[i], plugin_client, &ctx[i], sp->plugin->name, false);
        if (r != 0) return r;
    }
    return 0;
}
