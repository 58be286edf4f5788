/* The name service as a fleet: every member a replica of a KV store of
 * bindings, so a lookup is answered by the nearest member from its own
 * replica, and a registration is a two-phase commit. A lookup of a name that
 * has children ("/sys/pma" with "/sys/pma/0", "/sys/pma/1", ...) picks one by
 * the service's policy. A member remembers which cores it answered for a
 * name; when the binding changes, every replica pushes an invalidation to
 * the caches it fed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleets/name/name_fleet.h"
#include "fleets/hash.h"
#include "fos/fos.h"
#include "runtime/name_proto.h"

typedef struct binding {
    uint32_t core, id;
    uint64_t cap;
} binding;

typedef struct kid {
    struct kid *next;
    char name[FOS_NAME_MAX];
    uint64_t handed; /* times this member answered with it */
} kid;

/* A name and what this member knows about it beyond the replica: its
 * children, and the cores whose caches it filled. */
typedef struct node {
    struct node *next;
    char name[FOS_NAME_MAX];
    kid *kids; /* sorted by name */
    uint32_t nkids, rr;
    uint32_t *holders;
    uint32_t nholders, holders_cap;
} node;

#define NODE_BUCKETS 512

typedef struct ns_state {
    fos_fleet *f;
    fos_kv *kv;
    int policy;
    /* Cores the bindings point to: watched, so that a fleet's name is not
     * resolved to a member whose core has died. */
    uint8_t *watched, *dead;
    uint32_t ncores;
    node *b[NODE_BUCKETS];
    uint64_t lookups, registers, invalidations;
} ns_state;

static node *get_node(ns_state *st, const char *name, int make)
{
    node **head = &st->b[fleets_hash_str(name) % NODE_BUCKETS];
    for (node *n = *head; n; n = n->next)
        if (!strcmp(n->name, name)) return n;
    if (!make) return NULL;
    node *n = calloc(1, sizeof(*n));
    if (!n) return NULL;
    snprintf(n->name, sizeof n->name, "%s", name);
    n->next = *head;
    *head = n;
    return n;
}

/* "/a/b/c" -> "/a/b"; false for a top-level name. */
static bool parent_of(const char *name, char *out)
{
    const char *slash = strrchr(name, '/');
    if (!slash || slash == name) return false;
    size_t len = (size_t)(slash - name);
    memcpy(out, name, len);
    out[len] = '\0';
    return true;
}

/* Hierarchical: "/" then components, no empty one, no trailing '/'. */
static bool good_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 2 || n >= FOS_NAME_MAX || s[0] != '/' || s[n - 1] == '/' || strstr(s, "//"))
        return false;
    return true;
}

static void index_kid(ns_state *st, const char *name, bool present)
{
    char parent[FOS_NAME_MAX];
    if (!parent_of(name, parent)) return;
    node *p = get_node(st, parent, present);
    if (!p) return;
    kid **at = &p->kids;
    while (*at && strcmp((*at)->name, name) < 0)
        at = &(*at)->next;
    bool have = *at && !strcmp((*at)->name, name);
    if (present && !have) {
        kid *k = calloc(1, sizeof(*k));
        if (!k) return;
        snprintf(k->name, sizeof k->name, "%s", name);
        k->next = *at;
        *at = k;
        p->nkids++;
    } else if (!present && have) {
        kid *k = *at;
        *at = k->next;
        free(k);
        p->nkids--;
    }
}

static void hold(ns_state *st, const char *name, uint32_t core)
{
    node *n = get_node(st, name, 1);
    if (!n) return;
    for (uint32_t i = 0; i < n->nholders; i++)
        if (n->holders[i] == core) return;
    if (n->nholders == n->holders_cap) {
        uint32_t ncap = n->holders_cap ? 2 * n->holders_cap : 4;
        uint32_t *nv = realloc(n->holders, ncap * sizeof(*nv));
        if (!nv) return;
        n->holders = nv;
        n->holders_cap = ncap;
    }
    n->holders[n->nholders++] = core;
}

/* The caches this member filled for name are told to drop it. */
static void invalidate(ns_state *st, const char *name)
{
    node *n = get_node(st, name, 0);
    if (!n || !n->nholders) return;
    uint32_t cnt = n->nholders;
    n->nholders = 0; /* they will ask again, and be held again */
    for (uint32_t i = 0; i < cnt; i++) {
        fos_name_push_invalidate(n->holders[i], name);
        st->invalidations++;
    }
}

/* A committed registration or removal, at this replica. */
static int read_binding(ns_state *st, const char *name, binding *b)
{
    size_t len;
    int r = fos_kv_local_get(st->kv, name, b, sizeof *b, &len, NULL);
    if (r == 0 && len != sizeof *b) r = -EBADMSG;
    return r;
}

static void watch_binding(ns_state *st, const char *name)
{
    binding b;
    if (read_binding(st, name, &b) != 0 || b.core >= st->ncores || st->watched[b.core]) return;
    st->watched[b.core] = 1;
    fos_core_watch(b.core, fos_server_addr(fos_fleet_server(st->f)),
                   fos_server_cap(fos_fleet_server(st->f)));
}

static void on_apply(void *ctx, const char *name, bool present)
{
    ns_state *st = ctx;
    if (present) watch_binding(st, name);
    index_kid(st, name, present);
    invalidate(st, name);
    /* A lookup of the parent may have been answered with this child. */
    char parent[FOS_NAME_MAX];
    if (parent_of(name, parent)) invalidate(st, parent);
}

/* A member of the fleet behind a name with children, by the policy. */
static int choose(ns_state *st, node *p, uint32_t asker, binding *out)
{
    const fos_topo *t = fos_core_topo();
    kid *best = NULL;
    binding bb = {0};
    uint32_t best_hops = UINT32_MAX, nvalid = 0, turn = p->rr++;
    for (kid *k = p->kids; k; k = k->next) {
        binding b;
        if (read_binding(st, k->name, &b) != 0 || (b.core < st->ncores && st->dead[b.core]))
            continue;
        bool better;
        if (st->policy == FOS_NAME_NEAREST) {
            uint32_t h = fos_topo_hops(t, asker, b.core);
            better = h < best_hops; /* ties: the first in name order */
            if (better) best_hops = h;
        } else if (st->policy == FOS_NAME_LEAST_LOADED) {
            better = !best || k->handed < best->handed;
        } else {
            /* Round robin: the turn-th child, counting the ones still bound. */
            better = !best || nvalid <= turn % p->nkids;
        }
        nvalid++;
        if (better) {
            best = k;
            bb = b;
        }
    }
    if (!best) return -ENOENT;
    best->handed++;
    *out = bb;
    return 0;
}

static int on_lookup(void *ctx, const struct fos__ns_lookup_req *in,
                     struct fos__ns_lookup_resp *out)
{
    ns_state *st = ctx;
    fos_compute(fos_core_costs()->name_lookup);
    st->lookups++;
    if (!in->name || !*in->name || strlen(in->name) >= FOS_NAME_MAX) return -EINVAL;
    /* The asker is the core whose cache will hold the answer. */
    fos_core_id asker = fos_rpc_asker();
    binding b;
    int r = read_binding(st, in->name, &b);
    if (r == -ENOENT) {
        node *p = get_node(st, in->name, 0);
        r = p && p->nkids ? choose(st, p, asker, &b) : -ENOENT;
    }
    if (r != 0) return r;
    hold(st, in->name, asker);
    out->core = b.core;
    out->id = b.id;
    out->cap = b.cap;
    return 0;
}

static int on_register(void *ctx, const struct fos__ns_register_req *in,
                       struct fos__ns_register_resp *out)
{
    ns_state *st = ctx;
    (void)out;
    fos_compute(fos_core_costs()->name_register);
    st->registers++;
    if (!good_name(in->name)) return -EINVAL;
    binding b = {in->core, in->id, in->cap};
    return fos_kv_put_async(st->kv, in->name, &b, sizeof b);
}

static int on_unregister(void *ctx, const struct fos__ns_unregister_req *in,
                         struct fos__ns_unregister_resp *out)
{
    ns_state *st = ctx;
    (void)out;
    fos_compute(fos_core_costs()->name_register);
    if (!good_name(in->name)) return -EINVAL;
    binding b;
    if (read_binding(st, in->name, &b) != 0) return -ENOENT;
    return fos_kv_delete_async(st->kv, in->name);
}

static void boot_one(void *ctx, const char *name, fos_addr a, fos_cap cap)
{
    ns_state *st = ctx;
    binding b = {a.core, a.id, cap};
    if (fos_kv_load(st->kv, name, &b, sizeof b) == 0) {
        index_kid(st, name, true);
        watch_binding(st, name);
    }
}

static void ns_core_dead(fos_fleet *f, void *state, fos_core_id core)
{
    (void)f;
    ns_state *st = state;
    if (core < st->ncores) st->dead[core] = 1;
}

static void ns_free(void *arg)
{
    ns_state *st = arg;
    for (uint32_t i = 0; i < NODE_BUCKETS; i++)
        for (node *n = st->b[i], *nn; n; n = nn) {
            nn = n->next;
            for (kid *k = n->kids, *kn; k; k = kn) {
                kn = k->next;
                free(k);
            }
            free(n->holders);
            free(n);
        }
    free(st->watched);
    free(st->dead);
}

static int ns_init(fos_fleet *f, void *state)
{
    ns_state *st = state;
    st->f = f;
    const fos_params *p = fos_fleet_params(f);
    st->policy = p && p->decl ? (int)fos_params_u64(p, "policy") : FOS_NAME_ROUND_ROBIN;
    fos_kv_opts o = {.on_apply = on_apply, .ctx = st};
    st->ncores = fos_core_count();
    st->watched = calloc(st->ncores, 1);
    st->dead = calloc(st->ncores, 1);
    int r = fos_core_atexit(ns_free, st);
    if (r == 0 && (!st->watched || !st->dead)) r = -ENOMEM;
    if (r == 0) r = fos_kv_attach(f, &o, &st->kv);
    /* The bindings the harness made at boot: the same image at every member. */
    if (r == 0) fos__name_boot_each(boot_one, st);
    fos_server *s = fos_fleet_server(f);
    if (r == 0) r = FOS_RPC_SERVE(s, fos__ns_lookup, on_lookup, st);
    if (r == 0) r = FOS_RPC_SERVE(s, fos__ns_register, on_register, st);
    if (r == 0) r = FOS_RPC_SERVE(s, fos__ns_unregister, on_unregister, st);
    return r;
}

static void ns_membership(fos_fleet *f, void *state, uint32_t who, bool present)
{
    (void)f;
    ns_state *st = state;
    if (!present && st->kv) fos_kv_member_gone(st->kv, who);
}

static uint32_t ns_counters(fos_fleet *f, void *state, fos_fleet_counter *out, uint32_t max)
{
    (void)f;
    ns_state *st = state;
    if (max < 5 || !st->kv) return 0;
    fos_kv_stats ks;
    fos_kv_get_stats(st->kv, &ks);
    out[0] = (fos_fleet_counter){"lookups", st->lookups};
    out[1] = (fos_fleet_counter){"registrations", st->registers};
    out[2] = (fos_fleet_counter){"invalidations", st->invalidations};
    out[3] = (fos_fleet_counter){"commits", ks.commits};
    out[4] = (fos_fleet_counter){"aborts", ks.aborts};
    return 5;
}

static const fos_param ns_params[] = {
    {.key = "policy",
     .type = FOS_PARAM_INT,
     .def = "0",
     .help = "how a lookup of a fleet's name picks a member: 0 round robin, 1 nearest, 2 least "
             "loaded",
     .min = 0,
     .max = 2},
    {0},
};

const fos_fleet_ops fos_name_fleet = {
    .name = "name",
    .summary = "the name service: bindings replicated by the KV store, lookups by policy",
    .params = ns_params,
    .state_bytes = sizeof(ns_state),
    .fibers = 16,
    .init = ns_init,
    .membership = ns_membership,
    .core_dead = ns_core_dead,
    .counters = ns_counters,
};
