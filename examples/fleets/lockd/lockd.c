/* lockd: a lock service as a fleet, the fos papers' "notional locks managed by
 * a server". Each member owns the locks whose names hash to it; acquire is
 * answered at once when the lock is free, else when its holder releases it
 * (waiters in arrival order); release passes the lock to the next waiter. An
 * application kind, lockd_client, takes and releases random locks.
 *
 * Build: part of `make` (build/plugins/lockd.so). Run:
 *     ./fossim --plugin build/plugins/lockd.so examples/fleets/lockd/lockd.yaml */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fos/fos.h"
#include "fos/plugin.h"

/* ---- the interface: one declaration each ------------------------------------------- */

#define LOCK_REQ(F) F(str, lock)
#define NONE(F)
FOS_RPC(lockd_acquire, 1, LOCK_REQ, NONE)
FOS_RPC(lockd_release, 2, LOCK_REQ, NONE)

/* Which member owns a lock: the same function on both sides. */
static uint32_t owner(const char *lock, uint32_t members)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const char *p = lock; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return (uint32_t)(h % members);
}

/* ---- the fleet ----------------------------------------------------------------------- */

typedef struct waiter {
    struct waiter *next;
    fos_deferred d;
} waiter;

typedef struct lock {
    struct lock *next;
    char name[48];
    int held;
    waiter *head, *tail;
    uint64_t grants;
} lock;

#define BUCKETS 256

/* A member's state: handed to it by the framework, never a global. */
typedef struct lockd_state {
    fos_fleet *f;
    fos_cycles service;
    lock *b[BUCKETS];
    uint64_t waits;
} lockd_state;

static lock *find(lockd_state *st, const char *name, int make)
{
    uint32_t i = owner(name, BUCKETS);
    for (lock *l = st->b[i]; l; l = l->next)
        if (!strcmp(l->name, name)) return l;
    if (!make) return NULL;
    lock *l = calloc(1, sizeof(*l));
    if (!l) return NULL;
    snprintf(l->name, sizeof l->name, "%s", name);
    l->next = st->b[i];
    st->b[i] = l;
    return l;
}

static int on_acquire(void *ctx, const struct lockd_acquire_req *in, struct lockd_acquire_resp *out)
{
    lockd_state *st = ctx;
    (void)out;
    fos_compute(st->service); /* no handler runs for free */
    if (strlen(in->lock) >= sizeof(((lock *)0)->name)) return -ENAMETOOLONG;
    if (owner(in->lock, fos_fleet_size(st->f)) != fos_fleet_self(st->f)) return -EXDEV;
    lock *l = find(st, in->lock, 1);
    if (!l) return -ENOMEM;
    if (!l->held) {
        l->held = 1;
        l->grants++;
        return 0;
    }
    waiter *w = malloc(sizeof(*w));
    if (!w) return -ENOMEM;
    w->next = NULL;
    if (fos_rpc_defer(&w->d) != 0) {
        free(w);
        return -EINVAL;
    }
    if (l->tail)
        l->tail->next = w;
    else
        l->head = w;
    l->tail = w;
    st->waits++;
    return FOS_RPC_LATER;
}

static int on_release(void *ctx, const struct lockd_release_req *in, struct lockd_release_resp *out)
{
    lockd_state *st = ctx;
    (void)out;
    fos_compute(st->service);
    lock *l = find(st, in->lock, 0);
    if (!l || !l->held) return -EPERM; /* not held: a client's mistake, said */
    waiter *w = l->head;
    if (!w) {
        l->held = 0;
        return 0;
    }
    /* The lock passes straight to the next waiter. */
    l->head = w->next;
    if (!l->head) l->tail = NULL;
    l->grants++;
    /* Freed before the answer, which is a yield point the run may end in. */
    fos_deferred d = w->d;
    free(w);
    struct lockd_acquire_resp granted;
    lockd_acquire_answer(&d, 0, &granted);
    return 0;
}

static void lockd_free(void *arg)
{
    lockd_state *st = arg;
    for (int i = 0; i < BUCKETS; i++)
        for (lock *l = st->b[i], *n; l; l = n) {
            n = l->next;
            for (waiter *w = l->head, *wn; w; w = wn) {
                wn = w->next;
                free(w);
            }
            free(l);
        }
}

static int lockd_init(fos_fleet *f, void *state)
{
    lockd_state *st = state;
    st->f = f;
    st->service = fos_params_u64(fos_fleet_params(f), "service");
    int r = fos_core_atexit(lockd_free, st);
    if (r == 0) r = FOS_RPC_SERVE(fos_fleet_server(f), lockd_acquire, on_acquire, st);
    if (r == 0) r = FOS_RPC_SERVE(fos_fleet_server(f), lockd_release, on_release, st);
    return r;
}

static const fos_param lockd_params[] = {
    {.key = "service",
     .type = FOS_PARAM_TIME,
     .def = "100",
     .help = "cycles a member spends on a request"},
    {0},
};

static const fos_fleet_ops lockd_fleet = {
    .name = "lockd",
    .summary = "a lock service: each member owns the locks whose names hash to it",
    .params = lockd_params,
    .state_bytes = sizeof(lockd_state),
    .fibers = 16,
    .init = lockd_init,
};

/* ---- the client ------------------------------------------------------------------------ */

static void lockd_client(fos_app_ctx *c)
{
    const fos_params *p = fos_app_params(c);
    uint64_t nlocks = fos_params_u64(p, "locks");
    fos_cycles hold = fos_params_u64(p, "hold");
    /* On the fiber's stack: the run may end while the client waits. */
    fos_fleet_view view, *v = &view;
    if (fos_fleet_view_get("lockd", v) != 0 || v->size == 0) {
        fos_app_error(c);
        return;
    }
    uint64_t ops = fos_app_operations(c);
    for (uint64_t n = 0; ops == 0 || n < ops; n++) {
        if (fos_app_think(c)) fos_sleep(fos_app_think(c));
        char name[32];
        snprintf(name, sizeof name, "lock%llu", (unsigned long long)fos_rand_below(nlocks));
        uint32_t m = owner(name, v->size);
        struct lockd_acquire_req q = {.lock = name};
        struct lockd_acquire_resp a;
        fos_cycles t0 = fos_now();
        /* The time to get the lock is the operation's latency: it shows the
         * contention; the hold is the client's own. */
        /* Finite waits: a lock whose owner died, or whose holder did, is an
         * error, not a client stuck for good. */
        int r = lockd_acquire_call(v->m[m].addr, v->m[m].cap, &q, &a, 10000000);
        if (r != 0) {
            fos_app_error(c);
            if (r == -EHOSTDOWN) return; /* the owner of some locks is gone */
            continue;
        }
        fos_app_record(c, t0);
        if (hold) fos_compute(hold);
        struct lockd_release_req rq = {.lock = name};
        struct lockd_release_resp ra;
        if (lockd_release_call(v->m[m].addr, v->m[m].cap, &rq, &ra, 10000000) != 0)
            fos_app_error(c);
    }
}

static const fos_param client_params[] = {
    {.key = "locks",
     .type = FOS_PARAM_INT,
     .def = "64",
     .help = "distinct locks, taken uniformly at random",
     .min = 1,
     .max = 1000000},
    {.key = "hold", .type = FOS_PARAM_TIME, .def = "200", .help = "how long a client holds a lock"},
    {0},
};

static const fos_app_kind lockd_client_kind = {
    .name = "lockd_client",
    .summary = "acquires a random lock from lockd, holds it, releases it",
    .params = client_params,
    .needs_fleet = "lockd",
    .client = lockd_client,
};

/* ---- registration ------------------------------------------------------------------------ */

const uint32_t fossim_plugin_api = FOSSIM_PLUGIN_API;

int fossim_plugin_init(fossim_registry *r)
{
    int e = fossim_register_fleet(r, &lockd_fleet);
    if (e == 0) e = fossim_register_app(r, &lockd_client_kind);
    return e;
}
