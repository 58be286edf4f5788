/* The harness side of a run: booting the chip, wiring it before the run, and
 * reading what happened. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "channels/channel_kernel.h"
#include "mailbox/mailbox_kernel.h"
#include "runtime/core_priv.h"
#include "runtime/tsc.h"

/* Stream ids of a core's random streams (DESIGN §2 rule 2). */
enum { STREAM_CAP = 1, STREAM_APP = 2, STREAM_FAULT = 3 };

void sim_config_default(sim_config *c)
{
    memset(c, 0, sizeof(*c));
    c->chip.kind = FOS_TOPO_MESH;
    c->chip.cores = 256;
    c->chip.clock_hz = 1000000000ull;
    fos_costs_preset("tile", &c->chip.costs);
    c->seed = 1;
    c->max_msg_bytes = 4096;
    c->chan_page_bytes = 4096;
    c->watchdog_s = 10;
}

static void core_free(fos_core *c)
{
    if (!c) return;
    fos__fibers_drop(c);
    while (c->atexit) {
        struct fos__atexit *a = c->atexit;
        c->atexit = a->next;
        a->fn(a->arg);
        free(a);
    }
    fos__mbox_free_all(c);
    /* In-flight envelopes still queued as events belong to the cores that
     * would have received them. */
    for (uint32_t i = 0; i < c->evq.n; i++)
        fos__event_discard(c, &c->evq.v[c->evq.head + i]);
    fos__native_discard_inbox(c);
    for (fos__kmsg *m = c->kret, *next; m; m = next) {
        next = m->next;
        fos__free(c, m);
    }
    c->kret = NULL;
    fos__kmsg_lists_free(&c->kfree);
    free(c->watchers);
    fos__evq_fini(&c->evq);
    fos__names_fini(&c->names);
    fos__rpc_fini(c);
    fos__servers_fini(c);
    free(c->chan_out);
    free(c->chan_in);
    if (c->inbox) {
        free(c->inbox->cells);
        free(c->inbox);
    }
    free(c);
}

static int core_new(sim *s, fos_core_id id, fos_core **out)
{
    /* Its lines are laid out for the cores' threads (see fos_core): aligned. */
    fos_core *c = aligned_alloc(64, (sizeof(*c) + 63) & ~(size_t)63);
    if (!c) return -ENOMEM;
    memset(c, 0, sizeof(*c));
    c->id = id;
    c->sim = s;
    /* Virtual: contiguous blocks of cores per worker, so that neighbours on
     * the chip mostly share one and their messages need not cross. */
    c->widx = s->native ? 0 : (uint32_t)((uint64_t)id * s->nworkers / s->cfg.chip.cores);
    c->w = s->native ? &s->native_workers[id] : &s->workers[c->widx];
    c->sched_win = UINT64_MAX;
    c->kill_at = FOS_CYCLES_MAX;
    /* An arena per host thread that runs cores: each core's own on the native
     * engine; on the virtual one, the worker's, shared by its cores, whose
     * fibers and mailboxes then pack into common pages (an arena per core
     * gave each core pages of its own: at 1,024 cores, TLB misses on every
     * activation). */
    if (fos__arena_get(s->native ? id : c->widx, &c->arena) != 0) {
        free(c);
        return -ENOMEM;
    }
    c->digest = 0x6a09e667f3bcc908ull ^ id;
    fos_rng_seed(&c->rng_cap, s->cfg.seed, id, STREAM_CAP);
    fos_rng_seed(&c->rng_app, s->cfg.seed, id, STREAM_APP);
    fos_rng_seed(&c->rng_fault, s->cfg.seed, id, STREAM_FAULT);
    if (fos__evq_init(&c->evq, 8) != 0 || fos__names_init(&c->names) != 0) {
        core_free(c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

void fos__worker_stack(fos__worker *w)
{
    /* ASan needs the engine's own stack bounds to follow switches back to it. */
    pthread_attr_t a;
    void *lo = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
        pthread_attr_getstack(&a, &lo, &size);
        pthread_attr_destroy(&a);
    }
    w->stack_lo = lo;
    w->stack_size = size;
}

static void worker_init(sim *s, fos__worker *w)
{
    w->sim = s;
    fos__stack_pool_init(&w->pool);
}

static void cal_fini(fos__cal *cal)
{
    for (int i = 0; i < FOS__CAL_RING; i++)
        free(cal->b[i].v);
    free(cal->far);
}

/* The virtual engine's workers, each with its calendar and two sets of
 * outboxes (core_priv.h). */
static int workers_new(sim *s, uint32_t n)
{
    s->workers = aligned_alloc(64, n * sizeof(*s->workers));
    s->cals = aligned_alloc(64, n * sizeof(*s->cals));
    if (!s->workers || !s->cals) return -ENOMEM;
    memset(s->workers, 0, n * sizeof(*s->workers));
    memset(s->cals, 0, n * sizeof(*s->cals));
    s->nworkers = n;
    for (uint32_t i = 0; i < n; i++) {
        fos__worker *w = &s->workers[i];
        worker_init(s, w);
        w->idx = i;
        w->nw = n;
        w->cal = &s->cals[i];
        w->outv = aligned_alloc(64, 2 * (size_t)n * sizeof(*w->outv));
        if (!w->outv) return -ENOMEM;
        memset(w->outv, 0, 2 * (size_t)n * sizeof(*w->outv));
        w->out = w->outv;
    }
    return 0;
}

static void workers_free(sim *s)
{
    for (uint32_t i = 0; s->workers && i < s->nworkers; i++) {
        fos__worker *w = &s->workers[i];
        /* Empty: every window's end, the run's last included, flushes them. */
        for (uint32_t j = 0; w->outv && j < 2 * s->nworkers; j++)
            free(w->outv[j].v);
        free(w->outv);
        cal_fini(&s->cals[i]);
        fos__stack_pool_fini(&w->pool);
        fos__kmsg_lists_free(&w->kfree);
    }
    free(s->workers);
    free(s->cals);
}

int sim_create(const sim_config *cfg, sim **out)
{
    if (!cfg || !out || cfg->max_msg_bytes < sizeof(fos_msg)) return -EINVAL;
    if (cfg->chan_page_bytes < 128 || cfg->chan_page_bytes % 64 ||
        cfg->chan_page_bytes > FOS_CHAN_PAGE_MAX)
        return -EINVAL;
    /* The largest envelope class bounds the largest message. */
    _Static_assert(SIM_MAX_MSG_BYTES + sizeof(fos__kmsg) <= (size_t)128 << (FOS__KMSG_CLASSES - 1),
                   "the largest message does not fit the largest envelope");
    if (cfg->max_msg_bytes > SIM_MAX_MSG_BYTES) return -EINVAL;
    if (cfg->chip.cores == 0 || cfg->dir_core >= cfg->chip.cores) return -EINVAL;
    /* Aligned: the barrier and what the engine publishes lie on lines of their own. */
    sim *s = aligned_alloc(64, sizeof(*s));
    if (!s) return -ENOMEM;
    memset(s, 0, sizeof(*s));
    s->cfg = *cfg;
    int r = fos_topo_init(&s->topo, &cfg->chip);
    if (r != 0) {
        free(s);
        return r;
    }
    s->lookahead = s->topo.lookahead;
    s->native = cfg->engine == SIM_ENGINE_NATIVE;
    if (cfg->engine != SIM_ENGINE_VIRTUAL && !s->native) {
        fos_topo_fini(&s->topo);
        free(s);
        return -EINVAL;
    }
    if (s->native) {
        /* The hardware is the model: no charge from the cost table, and no added
         * latency; only the send timeout keeps its meaning, in TSC cycles. */
        fos_cycles timeout = s->topo.costs.send_timeout;
        memset(&s->topo.costs, 0, sizeof(s->topo.costs));
        s->topo.costs.send_timeout = timeout;
    }
    if (cfg->window_shrink) {
        if (cfg->window_shrink >= s->lookahead) {
            fos_topo_fini(&s->topo);
            free(s);
            return -EINVAL;
        }
        s->lookahead -= cfg->window_shrink;
    }
    /* More workers than cores would leave some with nothing to run. */
    uint32_t nw = s->native || cfg->workers == 0 ? 1 : cfg->workers;
    if (nw > cfg->chip.cores || nw > SIM_WORKERS_MAX || (s->native && cfg->workers > 1)) {
        fos_topo_fini(&s->topo);
        free(s);
        return -EINVAL;
    }
    if (workers_new(s, nw) != 0) {
        workers_free(s);
        fos_topo_fini(&s->topo);
        free(s);
        return -ENOMEM;
    }
    if (s->native) {
        s->native_workers = calloc(cfg->chip.cores, sizeof(*s->native_workers));
        if (!s->native_workers) {
            workers_free(s);
            fos_topo_fini(&s->topo);
            free(s);
            return -ENOMEM;
        }
        for (uint32_t i = 0; i < cfg->chip.cores; i++)
            worker_init(s, &s->native_workers[i]);
    }
    s->cores = calloc(cfg->chip.cores, sizeof(*s->cores));
    r = (s->cores && fos__names_init(&s->dir.t) == 0) ? 0 : -ENOMEM;
    for (uint32_t i = 0; r == 0 && i < cfg->chip.cores; i++) {
        r = core_new(s, i, &s->cores[i]);
        if (r == 0) s->ncores = i + 1;
    }
    if (r == 0 && s->native) r = fos__native_init(s);
    if (r != 0) {
        sim_destroy(s);
        return r;
    }
    *out = s;
    return 0;
}

void sim_destroy(sim *s)
{
    if (!s) return;
    /* Envelopes are freed where they lie, not sent home to cores being freed. */
    s->tearing_down = true;
    for (uint32_t i = 0; i < s->ncores; i++)
        core_free(s->cores[i]);
    free(s->cores);
    fos__chan_free_all(s);
    fos__names_fini(&s->dir.t);
    free(s->dir.ns_addr);
    free(s->dir.ns_cap);
    free(s->dir.ns_core);
    workers_free(s);
    if (s->native_workers) {
        for (uint32_t i = 0; i < s->cfg.chip.cores; i++)
            fos__stack_pool_fini(&s->native_workers[i].pool);
        free(s->native_workers);
    }
    fos_topo_fini(&s->topo);
    free(s);
}

static int boot_core(sim *s, fos_core_id core, fos_core **out)
{
    if (!s || s->ran || core >= s->ncores) return -EINVAL;
    *out = s->cores[core];
    return 0;
}

int sim_spawn(sim *s, fos_core_id core, fos_fiber_fn fn, void *arg, const char *name, bool daemon)
{
    fos_core *c;
    int r = boot_core(s, core, &c);
    if (r != 0 || !fn) return r ? r : -EINVAL;
    fos_fiber_opts o = {.name = name};
    r = fos__fiber_new(c, fn, arg, &o, false, daemon, NULL);
    /* Runnable at time 0 with no event to say so; a native core just runs. */
    if (r == 0 && !s->native) fos__cal_wake(s, c, 0);
    return r;
}

int sim_mbox_create(sim *s, fos_core_id core, size_t capacity, fos_mbox **m, fos_addr *a,
                    fos_cap *cap)
{
    fos_core *c;
    int r = boot_core(s, core, &c);
    if (r != 0) return r;
    fos_mbox *mb;
    r = fos__mbox_new(c, capacity, &mb, cap);
    if (r != 0) return r;
    if (m) *m = mb;
    if (a) *a = fos_mbox_addr(mb);
    return 0;
}

int sim_dir_register(sim *s, const char *name, fos_addr a, fos_cap cap)
{
    if (!s || !name || s->ran) return -EINVAL;
    return fos__names_put(&s->dir.t, name, a, cap);
}

int sim_kill_core(sim *s, fos_core_id core, fos_cycles at)
{
    fos_core *c;
    int r = boot_core(s, core, &c);
    if (r != 0) return r;
    fos__post(c, c, at, FOS__EV_KILL, 0, NULL, 0);
    if (at < c->kill_at) c->kill_at = at;
    return 0;
}

void sim_get_stats(const sim *s, sim_stats *out)
{
    *out = s->st;
    out->measured = s->native;
    if (!s->native) out->cycles_per_s = s->topo.clock_hz;
    out->host_cpus = s->host_cpus;
    uint64_t d = 0xcbf29ce484222325ull;
    for (uint32_t i = 0; i < s->ncores; i++) {
        const fos_core *c = s->cores[i];
        out->events += c->st_events;
        out->msgs += c->st_recv;
        out->msg_bytes += c->st_bytes_in;
        out->refused_full += c->st_full;
        out->refused_perm += c->st_perm;
        out->refused_noent += c->st_noent;
        out->dropped_dead += c->st_dropped;
        out->dropped_fault += c->st_fault_dropped;
        out->delayed_fault += c->st_fault_delayed;
        out->cores_killed += c->st_killed;
        out->chan_msgs += c->st_chan_msgs;
        out->chan_bytes += c->st_chan_bytes;
        out->chan_full += c->st_chan_full;
        out->chan_upgrades += c->st_chan_upgrades;
        out->envelope_allocs += c->st_kmsg_allocs;
        out->busy_cycles += c->busy;
        d = fos__mix(d, c->digest);
    }
    out->event_digest = d;
}

int sim_get_core_stats(const sim *s, fos_core_id core, sim_core_stats *out)
{
    if (!s || core >= s->ncores) return -EINVAL;
    const fos_core *c = s->cores[core];
    *out = (sim_core_stats){.clock = c->clock,
                            .busy_cycles = c->busy,
                            .events = c->st_events,
                            .msgs_sent = c->st_sent,
                            .msgs_recv = c->st_recv,
                            .bytes_sent = c->st_bytes,
                            .dead = c->dead};
    return 0;
}

static const char *wait_name(int w)
{
    static const char *const names[] = {"nothing", "mailbox", "send answer", "timer",
                                        "join",    "name",    "channel"};
    return w >= 0 && w <= FOS__W_CHAN ? names[w] : "?";
}

int sim_report_waits(const sim *s, FILE *f)
{
    int n = 0;
    for (uint32_t i = 0; i < s->ncores; i++) {
        const fos_core *c = s->cores[i];
        for (const fos_fiber *x = c->all; x; x = x->all_next) {
            if (x->state == FOS__F_RUNNABLE && c->clock == FOS_CYCLES_MAX && !c->dead) {
                /* Not a wait, but never run again either: its own charge
                 * carried the core to the end of time. */
                n++;
                fprintf(f,
                        "  core %u: fiber %llu \"%s\"%s can run only past the end of time (its "
                        "core's clock is saturated at 2^64-1 cycles: a compute or a charge too "
                        "large)\n",
                        c->id, (unsigned long long)x->id, x->name, x->daemon ? " (daemon)" : "");
                continue;
            }
            if (x->state != FOS__F_WAITING) continue;
            n++;
            fprintf(f, "  core %u%s: fiber %llu \"%s\"%s waits on %s", c->id,
                    c->dead ? " (dead)" : "", (unsigned long long)x->id, x->name,
                    x->daemon ? " (daemon)" : "", wait_name(x->wait));
            switch (x->wait) {
            case FOS__W_MBOX:
            case FOS__W_ACK:
            case FOS__W_CHAN:
                fprintf(f, " %u:%#x", x->wait_addr.core, x->wait_addr.id);
                break;
            case FOS__W_SLEEP:
                fprintf(f, " until %llu", (unsigned long long)x->wait_until);
                break;
            case FOS__W_JOIN:
                fprintf(f, " fiber %llu", (unsigned long long)((const fos_fiber *)x->wait_obj)->id);
                break;
            case FOS__W_NAME:
                fprintf(f, " \"%s\"", (const char *)x->wait_obj);
                break;
            }
            fputc('\n', f);
        }
    }
    return n;
}

uint32_t sim_workers(const sim *s)
{
    return s->nworkers;
}

const fos_topo *sim_topo(const sim *s)
{
    return &s->topo;
}

const char *sim_end_name(sim_end e)
{
    switch (e) {
    case SIM_END_DONE:
        return "done";
    case SIM_END_IDLE:
        return "idle";
    case SIM_END_DURATION:
        return "duration";
    case SIM_END_DEADLOCK:
        return "deadlock";
    }
    return "?";
}

void sim_progress(const sim *s, fos_cycles *now, uint64_t *msgs)
{
    if (s->native) {
        uint64_t t0 = __atomic_load_n(&s->tsc0, __ATOMIC_RELAXED);
        *now = t0 ? fos__tsc() - t0 : 0;
        *msgs = 0;
        return;
    }
    *now = __atomic_load_n(&s->pub_time, __ATOMIC_RELAXED);
    *msgs = __atomic_load_n(&s->pub_msgs, __ATOMIC_RELAXED);
}

int fos_core_atexit(void (*fn)(void *), void *arg)
{
    fos_core *c = fos__self();
    struct fos__atexit *a = malloc(sizeof(*a));
    if (!fn || !a) {
        free(a);
        return fn ? -ENOMEM : -EINVAL;
    }
    *a = (struct fos__atexit){c->atexit, fn, arg};
    c->atexit = a;
    return 0;
}

const fos_costs *fos_core_costs(void)
{
    return &fos__self()->sim->topo.costs;
}

bool fos_core_native(void)
{
    return fos__self()->sim->native;
}

fos_cycles fos_core_patience(fos_cycles cycles)
{
    struct sim *s = fos__self()->sim;
    if (!s->native) return cycles;
    uint64_t k = 10;
    /* Cores per CPU, rounded up; at most 10, so that a peer that is really
     * dead costs a wait of seconds at most, not minutes. */
    if (s->oversubscribed && s->host_cpus) {
        uint64_t per = (s->ncores + s->host_cpus - 1) / s->host_cpus;
        k *= per < 10 ? per : 10;
    }
    return cycles > FOS_CYCLES_MAX / k ? FOS_CYCLES_MAX : cycles * k;
}

int sim_name_service(sim *s, const fos_addr *a, const fos_cap *cap, uint32_t n)
{
    if (!s || s->ran || !a || !cap || n == 0) return -EINVAL;
    fos__dir *d = &s->dir;
    free(d->ns_addr);
    free(d->ns_cap);
    free(d->ns_core);
    d->ns_addr = malloc(n * sizeof(*a));
    d->ns_cap = malloc(n * sizeof(*cap));
    d->ns_core = malloc(n * sizeof(*d->ns_core));
    if (!d->ns_addr || !d->ns_cap || !d->ns_core) return -ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        if (a[i].core >= s->ncores) return -EINVAL;
        d->ns_addr[i] = a[i];
        d->ns_cap[i] = cap[i];
        d->ns_core[i] = a[i].core;
    }
    d->nns = n;
    return 0;
}

const fos_topo *fos_core_topo(void)
{
    return &fos__self()->sim->topo;
}
