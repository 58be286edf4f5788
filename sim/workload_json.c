/* The resolved workload as JSON: every default filled in, placements as the
 * cores they chose, times in cycles. Loading it again gives the same run. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sim/json.h"
#include "sim/workload.h"

static void add_time(cJSON *o, const char *k, fos_cycles v)
{
    char b[40];
    snprintf(b, sizeof b, "%" PRIu64 " cycles", v);
    cJSON_AddStringToObject(o, k, b);
}

static void add_cores(cJSON *o, const char *k, const uint32_t *c, uint32_t n)
{
    cJSON *a = cJSON_AddArrayToObject(o, k);
    for (uint32_t i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(c[i]));
}

static const char *const mech[] = {"mailbox", "channel"};
static const char *const choice[] = {"round_robin", "nearest"};

static void add_pvals(cJSON *o, const sim_pvals *pv)
{
    for (uint32_t i = 0; pv->p.decl && pv->p.decl[i].key; i++) {
        const fos_param *d = &pv->p.decl[i];
        if (d->type == FOS_PARAM_INT || d->type == FOS_PARAM_SIZE)
            sim_json_add_u64(o, d->key, pv->u[i]);
        else if (d->type == FOS_PARAM_TIME)
            add_time(o, d->key, pv->u[i]);
        else
            cJSON_AddStringToObject(o, d->key, pv->s[i]);
    }
}

static void add_app(cJSON *arr, const sim_app_spec *a)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToArray(arr, o);
    cJSON_AddStringToObject(o, "name", a->name);
    cJSON_AddStringToObject(o, "kind", sim_app_spec_kind(a));
    switch (a->kind) {
    case SIM_APP_PLUGIN:
        sim_json_add_u64(o, "clients", a->instances);
        add_cores(o, "placement", a->client_cores, a->instances);
        sim_json_add_u64(o, "operations", a->operations);
        add_time(o, "think", a->think);
        add_pvals(o, &a->params);
        break;
    case SIM_APP_ECHO:
    case SIM_APP_NULL_SYSCALL:
        sim_json_add_u64(o, "clients", a->instances);
        sim_json_add_u64(o, "servers", a->servers);
        add_cores(o, "server_placement", a->server_cores, a->servers);
        add_cores(o, "placement", a->client_cores, a->instances);
        cJSON_AddStringToObject(o, "mechanism", mech[a->mechanism]);
        cJSON_AddStringToObject(o, "server_choice", choice[a->server_choice]);
        cJSON_AddStringToObject(o, "loop", a->open_loop ? "open" : "closed");
        if (a->open_loop)
            sim_json_add_u64(o, "rate", a->rate_per_sim_s);
        else
            add_time(o, "think", a->think);
        sim_json_add_u64(o, "operations", a->operations);
        if (a->kind == SIM_APP_ECHO) {
            sim_json_add_u64(o, "request_bytes", a->request_bytes);
            add_time(o, "service", a->service);
            cJSON *mix = cJSON_AddObjectToObject(o, "mix");
            const char *const *ops = sim_app_ops(a->kind);
            for (int i = 0; ops[i]; i++)
                sim_json_add_u64(mix, ops[i], a->mix[i]);
        }
        break;
    case SIM_APP_PINGPONG:
        sim_json_add_u64(o, "pairs", a->instances);
        add_cores(o, "placement", a->client_cores, 2 * a->instances);
        sim_json_add_u64(o, "operations", a->operations);
        break;
    case SIM_APP_PHOLD:
        sim_json_add_u64(o, "cores", a->instances);
        add_cores(o, "placement", a->client_cores, a->instances);
        add_time(o, "mean_delay", a->mean_delay);
        sim_json_add_u64(o, "population", a->population);
        break;
    }
}

static void add_match(cJSON *o, const sim_match *m)
{
    if (m->src == FOS_CORE_NONE)
        cJSON_AddStringToObject(o, "src", "any");
    else
        sim_json_add_u64(o, "src", m->src);
    if (m->dst == FOS_CORE_NONE)
        cJSON_AddStringToObject(o, "dst", "any");
    else
        sim_json_add_u64(o, "dst", m->dst);
    if (m->any_type)
        cJSON_AddStringToObject(o, "type", "any");
    else
        sim_json_add_u64(o, "type", m->type);
}

static void add_fault(cJSON *arr, const sim_fault_spec *f)
{
    cJSON *o = cJSON_CreateObject(), *m;
    cJSON_AddItemToArray(arr, o);
    switch (f->kind) {
    case SIM_FAULT_KILL_AT:
        sim_json_add_u64(o, "kill", f->core);
        add_time(o, "at", f->at);
        break;
    case SIM_FAULT_KILL_ON:
        sim_json_add_u64(o, "kill", f->core);
        add_match(cJSON_AddObjectToObject(o, "when"), &f->match);
        break;
    case SIM_FAULT_DROP:
    case SIM_FAULT_DELAY:
        m = cJSON_AddObjectToObject(o, f->kind == SIM_FAULT_DROP ? "drop" : "delay");
        add_match(m, &f->match);
        cJSON_AddNumberToObject(m, "probability", f->per_million / 1e6);
        if (f->kind == SIM_FAULT_DELAY) add_time(m, "by", f->by);
        break;
    }
}

void *sim_workload_to_json(const sim_workload *w)
{
    const sim_config *c = &w->cfg;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    /* The plugins' paths are the host's: they go in the JSON's `host`, and
     * --replay loads them from there. */
    cJSON *chip = cJSON_AddObjectToObject(o, "chip");
    sim_json_add_u64(chip, "cores", c->chip.cores);
    cJSON_AddStringToObject(chip, "topology", fos_topo_kind_name(c->chip.kind));
    sim_json_add_u64(chip, "clock", c->chip.clock_hz ? c->chip.clock_hz : 1000000000ull);
    if (c->chip.kind == FOS_TOPO_NUMA) {
        sim_json_add_u64(chip, "cores_per_socket",
                         c->chip.cores_per_socket ? c->chip.cores_per_socket : 8);
        sim_json_add_u64(chip, "socket_hops", c->chip.socket_hops ? c->chip.socket_hops : 4);
    }
    sim_json_add_u64(chip, "max_msg_bytes", c->max_msg_bytes);
    sim_json_add_u64(chip, "channel_page_bytes", c->chan_page_bytes);
    cJSON *costs = cJSON_AddObjectToObject(chip, "costs");
    cJSON_AddStringToObject(costs, "preset", w->costs_preset);
    for (const char *const *k = fos_costs_keys; *k; k++) {
        uint64_t v = 0;
        fos_costs_get(&c->chip.costs, *k, &v);
        if (!strcmp(*k, "copy_per_byte"))
            cJSON_AddNumberToObject(costs, *k, (double)v / 256.0);
        else
            sim_json_add_u64(costs, *k, v);
    }
    cJSON_AddStringToObject(o, "engine", c->engine == SIM_ENGINE_NATIVE ? "native" : "virtual");
    sim_json_add_u64(o, "seed", c->seed);
    add_time(o, "duration", c->duration);
    add_time(o, "warmup", w->warmup);
    cJSON *os = cJSON_AddObjectToObject(o, "os");
    cJSON *name = cJSON_AddObjectToObject(os, "name");
    sim_json_add_u64(name, "members", w->name_fleet.members);
    add_cores(name, "placement", w->name_fleet.cores, w->name_fleet.members);
    sim_json_add_u64(name, "upgrade_after", w->name_fleet.upgrade_after);
    static const char *const policy[] = {"round_robin", "nearest", "least_loaded"};
    cJSON_AddStringToObject(name, "policy", policy[w->name_fleet.policy]);
    for (uint32_t i = 0; i < w->nfleets; i++) {
        const sim_plugin_fleet *pf = &w->fleets[i];
        cJSON *f = cJSON_AddObjectToObject(os, pf->ops->name);
        sim_json_add_u64(f, "members", pf->members);
        add_cores(f, "placement", pf->cores, pf->members);
        add_pvals(f, &pf->params);
    }
    cJSON *apps = cJSON_AddArrayToObject(o, "apps");
    for (uint32_t i = 0; i < w->napps; i++)
        add_app(apps, &w->apps[i]);
    if (w->nfaults) {
        cJSON *f = cJSON_AddArrayToObject(o, "faults");
        for (uint32_t i = 0; i < w->nfaults; i++)
            add_fault(f, &w->faults[i]);
    }
    return o;
}
