/* The process management fleet: PIDs on a dPool, first pages from the PMA,
 * processes started by the microkernel's spawn call. See fos/pms.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fleets/pms/pms_fleet.h"
#include "fos/fos.h"
#include "fos/pms.h"

#define SPAWN_REQ(F) F(str, program) F(u64, arg) F(u32, core) F(u32, npages) F(u32, flags)
#define PID(F) F(u32, pid)
#define EXIT_REQ(F) F(u32, pid) F(i64, status) F(u64, token)
#define STATUS(F) F(i64, status)
#define NONE(F)
FOS_RPC(pms_spawn, 0x706d7301, SPAWN_REQ, PID)
FOS_RPC(pms_exit, 0x706d7302, EXIT_REQ, NONE)
FOS_RPC(pms_wait, 0x706d7303, PID, STATUS)

/* A member's calls to the PMA and a process's to its member: far above any
 * latency, so only a dead or lost server reaches them (widened on the native
 * engine, as every wait for a peer is). */
#define PMS_TIMEOUT fos_core_patience(100000000ull)

/* ---- programs ------------------------------------------------------------------- *
 * Registered from the host before any chip runs and only read during runs. */
#define PROGRAMS_MAX 64
static struct {
    char name[32];
    fos_proc_main main;
} programs[PROGRAMS_MAX];
static unsigned nprograms;

int fos_pms_program(const char *name, fos_proc_main main)
{
    if (!name || !*name || strlen(name) >= sizeof programs[0].name || !main) return -EINVAL;
    for (unsigned i = 0; i < nprograms; i++)
        if (!strcmp(programs[i].name, name)) return programs[i].main == main ? 0 : -EEXIST;
    if (nprograms == PROGRAMS_MAX) return -ENOSPC;
    strcpy(programs[nprograms].name, name);
    programs[nprograms++].main = main;
    return 0;
}

static fos_proc_main program(const char *name)
{
    for (unsigned i = 0; i < nprograms; i++)
        if (!strcmp(programs[i].name, name)) return programs[i].main;
    return NULL;
}

/* ---- a member ----------------------------------------------------------------------- */

typedef struct proc_start proc_start;

typedef struct proc_rec {
    fos_core_id parent, core;
    bool exiting, exited, detached, waited;
    int status;
    fos_deferred waiter;
    proc_start *start; /* what its fiber starts from; freed here, at its exit or death */
    uint64_t token;    /* only its holder can end the process: the exit frees start */
    uint32_t npages;
    uint64_t pages[];
} proc_rec;

typedef struct pms_member {
    fos_dpool *pids;
    uint32_t max_pids;
    proc_rec **rec; /* by PID: the processes this member spawned and has not reaped */
    fos_pma_client pma;
    int pma_state; /* 0: not looked for; 1: found; negative: the error */
    fos_cycles spawn_cost;
    fos_addr self;
    fos_cap self_cap;
    uint64_t *watched; /* cores whose death this member has asked to hear of */
    uint64_t *dead;    /* ... and of which it has heard */
    uint64_t spawned, exited, reaped, killed, page_errors;
} pms_member;

/* What a new process's fiber starts from: made and freed by the member. */
struct proc_start {
    fos_proc_main main;
    uint64_t token;
    fos_proc p;
    fos_addr at;
    fos_cap cap;
    uint64_t pages[];
};

static void proc_fiber(void *arg)
{
    proc_start *ps = arg;
    int status = ps->main(&ps->p);
    struct pms_exit_req q = {.pid = ps->p.pid, .status = status, .token = ps->token};
    struct pms_exit_resp a;
    /* ps is the member's to free: at the exit, at this core's death, or when
     * the run ends first. */
    pms_exit_call(ps->at, ps->cap, &q, &a, PMS_TIMEOUT);
}

static int pma_ready(pms_member *m)
{
    if (m->pma_state == 0) m->pma_state = fos_pma_open(&m->pma) == 0 ? 1 : -ENOMEM;
    return m->pma_state < 0 ? m->pma_state : 0;
}

static void give_pages(pms_member *m, const uint64_t *pages, uint32_t n)
{
    if (n && fos_pma_free(&m->pma, pages, n, PMS_TIMEOUT) != 0) m->page_errors++;
}

static bool bit(const uint64_t *set, fos_core_id core)
{
    return set[core / 64] >> core % 64 & 1;
}

static void set_bit(uint64_t *set, fos_core_id core)
{
    set[core / 64] |= 1ull << core % 64;
}

/* A process lives on one core and its parent on another: the member hears of
 * either's death, once per core, from that core's kernel. */
static void watch(pms_member *m, fos_core_id core)
{
    if (bit(m->watched, core)) return;
    if (fos_core_watch(core, m->self, m->self_cap) == 0) set_bit(m->watched, core);
}

static void reap(pms_member *m, uint32_t pid)
{
    free(m->rec[pid]);
    m->rec[pid] = NULL;
    m->reaped++;
    fos_dpool_put(m->pids, &pid, 1);
}

static void died(pms_member *m, uint32_t pid, fos_core_id core);

static int on_spawn(void *ctx, const struct pms_spawn_req *in, struct pms_spawn_resp *out)
{
    pms_member *m = ctx;
    fos_proc_main main = program(in->program);
    if (!main) return -ENOENT;
    fos_core_id core = in->core == FOS_CORE_NONE ? fos_rpc_asker() : in->core;
    if (core >= fos_core_count() || in->npages > FOS_DPOOL_BATCH_MAX) return -EINVAL;
    if (in->npages && pma_ready(m)) return -ENOMEM;
    if (bit(m->dead, core)) return -EHOSTDOWN;
    /* Every yield point (the pool, the PMA, the charge) comes before anything
     * is allocated: a run may end with this fiber parked at one, and what only
     * its stack held would leak. */
    uint64_t pages[FOS_DPOOL_BATCH_MAX];
    uint32_t pid;
    int r = fos_dpool_get(m->pids, &pid, 1);
    if (r == -ENOMEM) r = -EAGAIN;
    if (r == 0 && in->npages && (r = fos_pma_alloc(&m->pma, pages, in->npages, PMS_TIMEOUT)))
        fos_dpool_put(m->pids, &pid, 1);
    if (r) return r;
    if (pid == 0 || pid > m->max_pids || m->rec[pid]) return -EIO; /* a corrupt pool */
    /* Charged before the record is published: a forged exit cannot reap it
     * during the charge. */
    if (m->spawn_cost) fos_compute(m->spawn_cost);
    proc_rec *rec = calloc(1, sizeof(*rec) + in->npages * 8ull);
    proc_start *ps = malloc(sizeof(*ps) + in->npages * 8ull);
    if (!rec || !ps) {
        free(rec);
        free(ps);
        give_pages(m, pages, in->npages);
        fos_dpool_put(m->pids, &pid, 1);
        return -ENOMEM;
    }
    *rec = (proc_rec){.parent = fos_rpc_asker(),
                      .core = core,
                      .detached = in->flags & FOS_PMS_DETACHED,
                      .start = ps,
                      .token = fos_rand(),
                      .npages = in->npages};
    ps->token = rec->token;
    memcpy(rec->pages, pages, in->npages * 8ull);
    memcpy(ps->pages, pages, in->npages * 8ull);
    ps->main = main;
    ps->p = (fos_proc){.pid = pid, .arg = in->arg, .pages = ps->pages, .npages = in->npages};
    ps->at = m->self;
    ps->cap = m->self_cap;
    m->rec[pid] = rec;
    if ((r = fos_spawn(core, proc_fiber, ps)) != 0) {
        m->rec[pid] = NULL;
        give_pages(m, rec->pages, rec->npages);
        fos_dpool_put(m->pids, &pid, 1);
        free(rec);
        free(ps);
        return r;
    }
    m->spawned++;
    out->pid = pid;
    /* Watched once published, so a death notice finds the record; a death
     * heard of while this spawn was charged is applied here. */
    watch(m, core);
    watch(m, rec->parent);
    if (bit(m->dead, rec->parent)) died(m, pid, rec->parent);
    if (m->rec[pid] && bit(m->dead, core)) died(m, pid, core);
    return 0;
}

/* The end of an exit, or of a kill: pages back, then the status to a waiting
 * parent, or the PID back if nobody will wait. */
static void finish(pms_member *m, uint32_t pid, int status)
{
    proc_rec *rec = m->rec[pid];
    give_pages(m, rec->pages, rec->npages);
    rec->npages = 0;
    rec->exited = true;
    rec->status = status;
    m->exited++;
    if (rec->waited) {
        struct pms_wait_resp a = {.status = rec->status};
        fos_deferred d = rec->waiter;
        reap(m, pid);
        pms_wait_answer(&d, 0, &a);
    } else if (rec->detached) {
        reap(m, pid);
    }
}

static int on_exit_(void *ctx, const struct pms_exit_req *in, struct pms_exit_resp *out)
{
    (void)out;
    pms_member *m = ctx;
    proc_rec *rec = in->pid <= m->max_pids ? m->rec[in->pid] : NULL;
    /* Only the process itself, from its core, ends itself: another fiber
     * there would free what the process still runs on. */
    if (!rec || rec->exiting || fos_rpc_asker() != rec->core || in->token != rec->token)
        return -EPERM;
    rec->exiting = true;
    free(rec->start); /* the process is done with it: this was its last call */
    rec->start = NULL;
    /* Not yet exited while its pages go back (a yield point), so a wait that
     * comes meanwhile waits rather than reaping the record under us. */
    finish(m, in->pid, (int)in->status);
    return 0;
}

static int on_wait(void *ctx, const struct pms_wait_req *in, struct pms_wait_resp *out)
{
    pms_member *m = ctx;
    proc_rec *rec = in->pid <= m->max_pids ? m->rec[in->pid] : NULL;
    if (!rec || rec->detached || fos_rpc_asker() != rec->parent) return -ECHILD;
    if (rec->waited) return -EBUSY;
    if (rec->exited) {
        out->status = rec->status;
        reap(m, in->pid);
        return 0;
    }
    rec->waited = true;
    fos_rpc_defer(&rec->waiter);
    return FOS_RPC_LATER;
}

/* What the death of `core` means for process pid. A process on it is killed:
 * it exits with -EHOSTDOWN, its pages go back and its parent's wait answers. A
 * process whose parent was on it has nobody to wait for it: its PID comes back
 * when it ends, as with a detached spawn. */
static void died(pms_member *m, uint32_t pid, fos_core_id core)
{
    proc_rec *rec = m->rec[pid];
    if (rec->parent == core && !rec->detached) {
        rec->detached = true;
        if (rec->exited && !rec->waited) {
            reap(m, pid);
            return;
        }
    }
    if (rec->core != core || rec->exiting) return;
    rec->exiting = true;
    free(rec->start); /* its fiber stopped with its core and will not run again */
    rec->start = NULL;
    m->killed++;
    finish(m, pid, -EHOSTDOWN); /* a yield point: rec stays, exiting, meanwhile */
}

/* A core's kernel says it died (fleet.c checked the notice came from it). */
static void pms_core_dead(fos_fleet *f, void *state, fos_core_id core)
{
    (void)f;
    pms_member *m = state;
    set_bit(m->dead, core);
    for (uint32_t pid = 1; pid <= m->max_pids; pid++)
        if (m->rec[pid]) died(m, pid, core);
}

static void free_recs(void *arg)
{
    pms_member *m = arg;
    for (uint32_t i = 0; m->rec && i <= m->max_pids; i++) {
        if (m->rec[i]) free(m->rec[i]->start); /* a process the run ended under */
        free(m->rec[i]);
    }
    free(m->rec);
    free(m->watched);
    free(m->dead);
}

static const fos_param pms_params[] = {
    {.key = "scheme",
     .type = FOS_PARAM_STR,
     .def = "bulk",
     .help = "how shards of the PID pool rebalance",
     .choices = fos_dpool_scheme_names},
    {.key = "pids",
     .type = FOS_PARAM_INT,
     .def = "32768",
     .help = "PIDs there are (1 .. pids)",
     .min = 1,
     .max = 1u << 22},
    {0},
};

static int pms_init(fos_fleet *f, void *state)
{
    pms_member *m = state;
    const fos_params *p = fos_fleet_params(f);
    fos_dpool_opts o = {.scheme = FOS_DPOOL_BULK, .elem_bytes = 4, .block = 32};
    m->max_pids = 32768;
    if (p && p->decl) {
        if (fos_dpool_scheme_parse(fos_params_str(p, "scheme"), &o.scheme)) return -EINVAL;
        m->max_pids = (uint32_t)fos_params_u64(p, "pids");
    }
    m->spawn_cost = fos_core_native() ? 0 : fos_core_costs()->spawn;
    m->self = fos_server_addr(fos_fleet_server(f));
    m->self_cap = fos_server_cap(fos_fleet_server(f));
    m->rec = calloc(m->max_pids + 1ull, sizeof *m->rec);
    m->watched = calloc((fos_core_count() + 63) / 64, 8);
    m->dead = calloc((fos_core_count() + 63) / 64, 8);
    if (!m->rec || !m->watched || !m->dead || fos_core_atexit(free_recs, m) != 0) {
        free(m->rec);
        free(m->watched);
        free(m->dead);
        m->rec = NULL;
        m->watched = m->dead = NULL;
        return -ENOMEM;
    }
    int r = fos_dpool_attach(f, &o, &m->pids);
    uint32_t n = fos_fleet_size(f), self = fos_fleet_self(f);
    uint32_t lo = fos_fleet_joined(f) ? 1 : 1 + (uint32_t)((uint64_t)m->max_pids * self / n);
    uint32_t hi = fos_fleet_joined(f) ? 1 : 1 + (uint32_t)((uint64_t)m->max_pids * (self + 1) / n);
    uint32_t chunk[1024];
    for (uint32_t pid = lo; r == 0 && pid < hi;) {
        size_t k = 0;
        while (k < 1024 && pid < hi)
            chunk[k++] = pid++;
        r = fos_dpool_load(m->pids, chunk, k);
    }
    fos_server *s = fos_fleet_server(f);
    if (r == 0) r = FOS_RPC_SERVE(s, pms_spawn, on_spawn, m);
    if (r == 0) r = FOS_RPC_SERVE(s, pms_exit, on_exit_, m);
    if (r == 0) r = FOS_RPC_SERVE(s, pms_wait, on_wait, m);
    return r;
}

static void pms_membership(fos_fleet *f, void *state, uint32_t who, bool present)
{
    (void)f;
    pms_member *m = state;
    if (!present && m->pids) fos_dpool_member_gone(m->pids, who);
}

static uint32_t pms_counters(fos_fleet *f, void *state, fos_fleet_counter *out, uint32_t max)
{
    (void)f;
    pms_member *m = state;
    if (max < 9 || !m->pids) return 0;
    fos_dpool_stats st;
    fos_dpool_get_stats(m->pids, &st);
    out[0] = (fos_fleet_counter){"spawned", m->spawned};
    out[1] = (fos_fleet_counter){"exited", m->exited};
    out[2] = (fos_fleet_counter){"reaped", m->reaped};
    out[3] = (fos_fleet_counter){"pids_local", st.local};
    out[4] = (fos_fleet_counter){"pid_fetches", st.remote_fetches};
    out[5] = (fos_fleet_counter){"pids_moved", st.moved};
    out[6] = (fos_fleet_counter){"dpool_msgs", st.msgs};
    out[7] = (fos_fleet_counter){"page_errors", m->page_errors};
    out[8] = (fos_fleet_counter){"killed", m->killed};
    return 9;
}

const fos_fleet_ops fos_pms_fleet = {
    .name = "pms",
    .summary = "process management: PIDs on a dPool, pages from the pma fleet",
    .params = pms_params,
    .state_bytes = sizeof(pms_member),
    .fibers = 32,
    .init = pms_init,
    .membership = pms_membership,
    .core_dead = pms_core_dead,
    .counters = pms_counters,
};

/* ---- a client ------------------------------------------------------------------------ */

int fos_pms_open(fos_pms_client *c)
{
    fos_fleet_view v;
    int r = fos_fleet_view_get("pms", &v);
    if (r) return r;
    int m = fos_fleet_view_nearest(&v);
    if (m < 0) return m;
    *c = (fos_pms_client){v.m[m].addr, v.m[m].cap};
    return 0;
}

int fos_pms_spawn(const fos_pms_client *c, const char *program, uint64_t arg, fos_core_id core,
                  uint32_t npages, uint32_t flags, fos_pms_child *out)
{
    struct pms_spawn_req q = {
        .program = program, .arg = arg, .core = core, .npages = npages, .flags = flags};
    struct pms_spawn_resp a;
    int r = pms_spawn_call(c->addr, c->cap, &q, &a, PMS_TIMEOUT);
    if (r) return r;
    *out = (fos_pms_child){a.pid, c->addr, c->cap};
    return 0;
}

int fos_pms_wait(const fos_pms_child *c, int *status, fos_cycles timeout)
{
    struct pms_wait_req q = {.pid = c->pid};
    struct pms_wait_resp a;
    int r = pms_wait_call(c->at, c->cap, &q, &a, timeout);
    if (r == 0 && status) *status = (int)a.status;
    return r;
}
