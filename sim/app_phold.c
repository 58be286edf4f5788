/* phold as a workload application: the engine benchmark on the cores its
 * placement gives it. */
#include <errno.h>
#include <stdlib.h>

#include "sim/app_priv.h"
#include "sim/phold.h"

static void phold_collect(sim_app *a)
{
    sim_phold *p = a->priv;
    if (!p->core) return;
    for (uint32_t i = 0; i < a->ninst; i++) {
        app_inst *in = &a->inst[i];
        uint64_t handled, measured;
        sim_phold_member(p, i, &handled, &measured, &in->errors, &in->checksum);
        in->ops = in->op_count[0] = handled;
        in->ops_measured = measured;
    }
}

static void phold_free(void *priv)
{
    sim_phold *p = priv;
    if (p) sim_phold_collect(p);
    free(p);
}

int app_phold_start(sim *s, const sim_workload *w, sim_app *a)
{
    const sim_app_spec *sp = a->spec;
    (void)w;
    sim_phold *p = calloc(1, sizeof(*p));
    a->priv = p;
    a->free_priv = phold_free;
    a->collect = phold_collect;
    a->ninst = sp->instances;
    a->inst = calloc(a->ninst, sizeof(app_inst));
    if (!p || !a->inst) return -ENOMEM;
    for (uint32_t i = 0; i < a->ninst; i++)
        sim_hist_init(&a->inst[i].lat), sim_hist_init(&a->inst[i].lat_all);
    return sim_phold_setup(s, sp->client_cores, sp->instances, sp->mean_delay, sp->population,
                           a->warmup, p);
}
