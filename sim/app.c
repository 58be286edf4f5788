#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim/app_priv.h"

int sim_app_start(sim *s, const sim_workload *w, const sim_app_spec *spec, sim_app **out)
{
    sim_app *a = calloc(1, sizeof(*a));
    if (!a) return -ENOMEM;
    a->spec = spec;
    a->warmup = w->warmup;
    int r;
    switch (spec->kind) {
    case SIM_APP_ECHO:
    case SIM_APP_NULL_SYSCALL:
        r = app_echo_start(s, w, a);
        break;
    case SIM_APP_PINGPONG:
        r = app_pingpong_start(s, w, a);
        break;
    case SIM_APP_PHOLD:
        r = app_phold_start(s, w, a);
        break;
    case SIM_APP_PLUGIN:
        r = app_plugin_start(s, w, a);
        break;
    default:
        r = -EINVAL;
    }
    if (r != 0) {
        sim_app_free(a);
        return r;
    }
    *out = a;
    return 0;
}

static void result_init(sim_app_result *r)
{
    memset(r, 0, sizeof(*r));
    sim_hist_init(&r->lat);
    sim_hist_init(&r->lat_all);
}

/* Folds one instance's figures into r: 0 or -ENOMEM. */
static int result_add(sim_app_result *r, const app_inst *in)
{
    if (in->last > r->last) r->last = in->last;
    r->ops += in->ops;
    r->ops_measured += in->ops_measured;
    for (int k = 0; k < SIM_OPS_MAX; k++)
        r->op_count[k] += in->op_count[k];
    r->errors += in->errors;
    r->refused += in->refused;
    r->served += in->served;
    r->checksum += in->checksum;
    int e = sim_hist_merge(&r->lat, &in->lat);
    return e ? e : sim_hist_merge(&r->lat_all, &in->lat_all);
}

int sim_app_results(const sim_app *a, sim_app_result *r)
{
    if (a->collect) a->collect((sim_app *)a);
    result_init(r);
    r->finished = a->nclients > 0;
    for (uint32_t i = 0; i < a->ninst; i++) {
        if (i < a->nclients) r->finished &= a->inst[i].done;
        int e = result_add(r, &a->inst[i]);
        if (e) return e;
    }
    return 0;
}

void sim_app_result_fini(sim_app_result *r)
{
    sim_hist_fini(&r->lat);
    sim_hist_fini(&r->lat_all);
}

int sim_app_server_results(const sim_app *a, uint32_t k, sim_app_result *r)
{
    const sim_app_spec *sp = a->spec;
    result_init(r);
    if ((sp->kind != SIM_APP_ECHO && sp->kind != SIM_APP_NULL_SYSCALL) || k >= sp->servers)
        return -EINVAL;
    int e = result_add(r, &a->inst[a->nclients + k]);
    for (uint32_t i = 0; i < a->nclients && !e; i++)
        if (a->inst[i].server == k) e = result_add(r, &a->inst[i]);
    return e;
}

void sim_app_free(sim_app *a)
{
    if (!a) return;
    for (uint32_t i = 0; i < a->ninst && a->inst; i++) {
        sim_hist_fini(&a->inst[i].lat);
        sim_hist_fini(&a->inst[i].lat_all);
    }
    free(a->inst);
    if (a->free_priv)
        a->free_priv(a->priv);
    else
        free(a->priv);
    free(a);
}
