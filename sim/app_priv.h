/* What the application kinds share: per-instance figures and the record of one
 * completed operation. Private to sim/app*.c. */
#ifndef FOS_SIM_APP_PRIV_H
#define FOS_SIM_APP_PRIV_H

#include "fos/fos.h"
#include "sim/app.h"

typedef struct app_inst {
    uint64_t ops, ops_measured, op_count[SIM_OPS_MAX];
    uint64_t errors, refused, served, checksum;
    uint32_t server;  /* a client of echo or null_syscall: the server it asks */
    fos_cycles last;  /* when the last operation completed */
    bool done;        /* a client that has finished its operations */
    sim_hist lat;     /* operations completed after the warmup */
    sim_hist lat_all; /* every operation: the figures of a run that ended before its warmup */
} app_inst;

struct sim_app {
    const sim_app_spec *spec;
    fos_cycles warmup;
    app_inst *inst; /* one per client, pair, core or server, as the kind has */
    uint32_t ninst;
    uint32_t nclients; /* inst[0 .. nclients) are the clients, which finish */
    void *priv;
    /* Kinds that keep their figures elsewhere copy them into inst here, after
     * the run, and release priv in free_priv; NULL for free(). */
    void (*collect)(sim_app *a);
    void (*free_priv)(void *priv);
};

/* An operation that started at t0 completed now: counted always, measured
 * (throughput and latency) once the warmup is over. */
static inline void app_record(app_inst *in, fos_cycles warmup, fos_cycles t0, fos_cycles now,
                              unsigned op)
{
    in->ops++;
    in->op_count[op]++;
    sim_hist_add(&in->lat_all, now - t0);
    in->last = now;
    if (now >= warmup) {
        in->ops_measured++;
        sim_hist_add(&in->lat, now - t0);
    }
}

/* Picks an operation by the spec's mix weights, from the core's random stream. */
static inline unsigned app_pick_op(const sim_app_spec *s, uint32_t total)
{
    if (total <= s->mix[0]) return 0;
    uint32_t x = (uint32_t)fos_rand_below(total);
    unsigned op = 0;
    while (x >= s->mix[op])
        x -= s->mix[op++];
    return op;
}

/* How long a built-in client waits for a reply before counting it lost: the
 * cost table's send timeout, far above any on-chip latency, so only a lost
 * request or a dead peer reaches it. Native cores sharing host CPUs can take
 * milliseconds to answer: there a second. */
static inline fos_cycles app_reply_timeout(sim *s, const sim_workload *w)
{
    return w->cfg.engine == SIM_ENGINE_NATIVE ? sim_native_cycles_per_s()
                                              : sim_topo(s)->costs.send_timeout;
}

int app_echo_start(sim *s, const sim_workload *w, sim_app *a);
int app_pingpong_start(sim *s, const sim_workload *w, sim_app *a);
int app_phold_start(sim *s, const sim_workload *w, sim_app *a);
int app_plugin_start(sim *s, const sim_workload *w, sim_app *a);

#endif
