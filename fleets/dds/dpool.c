/* dPool: a shard per fleet member, the five rebalancing schemes, and the
 * client RPCs. See fos/dpool.h for the model.
 *
 * Three servers per member, so that no wait can close a cycle:
 *   - the fleet's server takes clients' gets and puts; a get its shard cannot
 *     serve waits on
 *   - the refill server (one fiber), which fetches from other shards, on
 *   - the peer server, whose handlers (fetch, push) only take from or put into
 *     the shard and never wait on anyone.
 * The background fiber of pull and push talks to peer servers too. Members
 * learn each other's peer servers by a hello at boot (or at join). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fos/fos.h"

const char *const fos_dpool_scheme_names[] = {"storage", "bulk",          "pull",
                                              "push",    "push_estimate", NULL};

int fos_dpool_scheme_parse(const char *s, fos_dpool_scheme *out)
{
    for (int i = 0; s && fos_dpool_scheme_names[i]; i++)
        if (!strcmp(s, fos_dpool_scheme_names[i])) {
            *out = (fos_dpool_scheme)i;
            return 0;
        }
    return -EINVAL;
}

#define NONE(F)
#define GET_REQ(F) F(u32, n) F(u64, room)
#define ELEMS_RESP(F) F(u32, elem_bytes) F(bytes, elems)
#define PUT_REQ(F) F(u32, elem_bytes) F(bytes, elems)
#define HELLO(F) F(u32, from) F(u32, acore) F(u32, aid) F(u64, cap) F(u64, size)
#define FETCH_REQ(F) F(u32, from) F(u32, want) F(u64, size)
#define FETCH_RESP(F) F(u64, size) F(bytes, elems)
#define PUSH_REQ(F) F(u32, from) F(u64, size) F(bytes, elems)
#define SIZE_RESP(F) F(u64, size)
#define REFILL_REQ(F) F(u64, buf) F(u32, n)
FOS_RPC(dpool_get_rpc, 0x64700001, GET_REQ, ELEMS_RESP)
FOS_RPC(dpool_put_rpc, 0x64700002, PUT_REQ, NONE)
FOS_RPC(dpool_hello, 0x64700003, HELLO, HELLO)
FOS_RPC(dpool_fetch, 0x64700004, FETCH_REQ, FETCH_RESP)
FOS_RPC(dpool_push, 0x64700005, PUSH_REQ, SIZE_RESP)
FOS_RPC(dpool_refill, 0x64700006, REFILL_REQ, NONE)

typedef struct peer {
    fos_addr addr; /* its peer server, once its hello arrived */
    fos_cap cap;
    bool known, gone;
    uint64_t est; /* its shard's size, as last heard */
} peer;

struct fos_dpool {
    fos_fleet *f;
    fos_dpool_opts o;
    fos_cycles op_cost; /* per element taken or put; 0 on the native engine */
    uint8_t *elems;     /* the shard, a stack: the last put is the first taken */
    uint64_t n, cap;
    fos_server *peer_srv, *refill_srv;
    fos_addr refill_addr;
    fos_cap refill_cap;
    peer p[FOS_FLEET_MAX];
    uint32_t order[FOS_FLEET_MAX]; /* the other members, nearest first */
    uint32_t norder;
    uint32_t push_next; /* push: whose turn it is */
    uint32_t batch;     /* elements one message carries: FOS_DPOOL_BATCH_MAX or fewer */
    fos_dpool_stats st;
    uint8_t scratch[FOS_DPOOL_BATCH_MAX * FOS_DPOOL_ELEM_MAX]; /* background transfers */
};

/* ---- the shard ---------------------------------------------------------------- */

static int reserve(fos_dpool *p, uint64_t more)
{
    /* Written so that nothing wraps: n <= cap, and n elements are held. */
    if (more <= p->cap - p->n) return 0;
    /* More than an array of them could hold: the sizes below would wrap. */
    if (more > (SIZE_MAX / 2) / p->o.elem_bytes - p->n) return -ENOMEM;
    uint64_t cap = p->cap ? p->cap : 256;
    while (cap < p->n + more)
        cap *= 2;
    uint8_t *e = realloc(p->elems, cap * p->o.elem_bytes);
    if (!e) return -ENOMEM;
    p->elems = e;
    p->cap = cap;
    return 0;
}

/* Takes k elements off the shard into out, then charges for them: the change
 * is made before the charge, which is a yield point. */
static void take(fos_dpool *p, void *out, uint64_t k)
{
    if (k == 0) return; /* an empty shard may have no array yet */
    size_t eb = p->o.elem_bytes;
    p->n -= k;
    memcpy(out, p->elems + p->n * eb, k * eb);
    if (p->op_cost) fos_compute(p->op_cost * k);
}

static int put_in(fos_dpool *p, const void *in, uint64_t k)
{
    if (k == 0) return 0; /* an empty answer: nothing to copy, nor an array to copy into */
    if (reserve(p, k)) return -ENOMEM;
    size_t eb = p->o.elem_bytes;
    memcpy(p->elems + p->n * eb, in, k * eb);
    p->n += k;
    if (p->op_cost) fos_compute(p->op_cost * k);
    return 0;
}

uint64_t fos_dpool_local(const fos_dpool *p)
{
    return p->n;
}

int fos_dpool_load(fos_dpool *p, const void *elems, size_t n)
{
    if (!p || (n && !elems)) return -EINVAL;
    if (n == 0) return 0;
    if (reserve(p, n)) return -ENOMEM;
    memcpy(p->elems + p->n * p->o.elem_bytes, elems, n * p->o.elem_bytes);
    p->n += n;
    return 0;
}

/* ---- the peer server: never waits on anyone ------------------------------------- */

/* Shards' own requests come from members' cores only (the kernel names the
 * asker: it cannot be forged). */
static bool from_member(const fos_dpool *p)
{
    fos_core_id asker = fos_rpc_asker();
    for (uint32_t m = 0; m < fos_fleet_size(p->f); m++) {
        fos_addr a;
        fos_cap c;
        if (fos_fleet_member(p->f, m, &a, &c) == 0 && a.core == asker) return true;
    }
    return false;
}

static void heard(fos_dpool *p, uint32_t from, uint64_t size)
{
    if (from < FOS_FLEET_MAX && from != fos_fleet_self(p->f)) p->p[from].est = size;
}

static int on_fetch(void *ctx, const struct dpool_fetch_req *in, struct dpool_fetch_resp *out)
{
    fos_dpool *p = ctx;
    heard(p, in->from, in->size);
    if (!from_member(p)) return -EPERM;
    uint64_t k = in->want < p->batch ? in->want : p->batch;
    if (k > p->n) k = p->n;
    take(p, out->raw_, k);
    p->st.moved += k;
    out->elems = out->raw_;
    out->elems_len = (uint32_t)(k * p->o.elem_bytes);
    out->size = p->n;
    return 0;
}

static int check_elems(const fos_dpool *p, uint32_t len)
{
    if (len % p->o.elem_bytes || len / p->o.elem_bytes > p->batch) return -EINVAL;
    return 0;
}

static int on_push(void *ctx, const struct dpool_push_req *in, struct dpool_push_resp *out)
{
    fos_dpool *p = ctx;
    if (!from_member(p)) return -EPERM;
    if (check_elems(p, in->elems_len)) return -EINVAL;
    uint64_t k = in->elems_len / p->o.elem_bytes;
    int r = put_in(p, in->elems, k);
    if (r == 0) p->st.came += k;
    heard(p, in->from, in->size);
    out->size = p->n;
    return r;
}

/* ---- learning each other's peer servers -------------------------------------- */

static void hello_out(fos_dpool *p, struct dpool_hello_req *h)
{
    fos_addr a = fos_server_addr(p->peer_srv);
    *h = (struct dpool_hello_req){.from = fos_fleet_self(p->f),
                                  .acore = a.core,
                                  .aid = a.id,
                                  .cap = fos_server_cap(p->peer_srv),
                                  .size = p->n};
}

static void hello_in(fos_dpool *p, uint32_t from, uint32_t acore, uint32_t aid, uint64_t cap,
                     uint64_t size)
{
    if (from >= FOS_FLEET_MAX || from == fos_fleet_self(p->f)) return;
    p->p[from] = (peer){.addr = {acore, aid}, .cap = cap, .known = true, .est = size};
}

static int on_hello(void *ctx, const struct dpool_hello_req *in, struct dpool_hello_resp *out)
{
    fos_dpool *p = ctx;
    if (!from_member(p)) return -EPERM;
    hello_in(p, in->from, in->acore, in->aid, in->cap, in->size);
    struct dpool_hello_req me;
    hello_out(p, &me);
    memcpy(out, &me, offsetof(struct dpool_hello_resp, raw_));
    return 0;
}

/* Learns member m's peer server (and tells it ours). Returns whether it is known. */
static bool ensure_known(fos_dpool *p, uint32_t m)
{
    fos_addr a;
    fos_cap c;
    if (p->p[m].known) return true;
    if (p->p[m].gone || fos_fleet_member(p->f, m, &a, &c) != 0) return false;
    struct dpool_hello_req h;
    struct dpool_hello_resp r;
    hello_out(p, &h);
    p->st.msgs++;
    int e = dpool_hello_call(a, c, &h, &r, p->o.timeout);
    if (e == 0 && r.from == m) hello_in(p, r.from, r.acore, r.aid, r.cap, r.size);
    if (e == -EHOSTDOWN || e == -ENOENT) p->p[m].gone = true;
    return p->p[m].known;
}

static void say_hello(void *arg)
{
    fos_dpool *p = arg;
    for (uint32_t i = 0; i < p->norder; i++)
        ensure_known(p, p->order[i]);
}

/* ---- fetching from other shards ------------------------------------------------ */

/* Asks one peer for up to want elements, into the shard. Returns how many came. */
static uint64_t fetch_from(fos_dpool *p, uint32_t m, uint64_t want)
{
    if (want > p->batch) want = p->batch;
    if (!ensure_known(p, m)) return 0;
    struct dpool_fetch_req q = {.from = fos_fleet_self(p->f), .want = (uint32_t)want, .size = p->n};
    struct dpool_fetch_resp a;
    p->st.remote_fetches++;
    p->st.msgs++;
    int r = dpool_fetch_call(p->p[m].addr, p->p[m].cap, &q, &a, p->o.timeout);
    if (r == -EHOSTDOWN || r == -ENOENT) p->p[m].gone = true;
    if (r != 0 || check_elems(p, a.elems_len)) return 0;
    p->p[m].est = a.size;
    uint64_t k = a.elems_len / p->o.elem_bytes;
    if (put_in(p, a.elems, k) != 0) return 0; /* out of host memory: lost, and not counted */
    p->st.came += k;
    return k;
}

/* Peers to ask, in order: the nearest first; push_estimate asks the one it
 * thinks richest first. */
static uint32_t ask_order(fos_dpool *p, uint32_t *out)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < p->norder; i++) {
        uint32_t m = p->order[i];
        if (!p->p[m].gone && fos_fleet_present(p->f, m)) out[n++] = m;
    }
    if (p->o.scheme == FOS_DPOOL_PUSH_ESTIMATE)
        for (uint32_t i = 1; i < n; i++) /* stable: equals stay nearest first */
            for (uint32_t j = i; j > 0 && p->p[out[j]].est > p->p[out[j - 1]].est; j--) {
                uint32_t t = out[j];
                out[j] = out[j - 1];
                out[j - 1] = t;
            }
    return n;
}

/* Brings at least need more elements into the shard if the others have them:
 * exactly need for storage, a block at a time for the rest. Returns how many
 * came. */
static uint64_t fetch_some(fos_dpool *p, uint64_t need)
{
    uint32_t order[FOS_FLEET_MAX];
    uint32_t n = ask_order(p, order);
    uint64_t got = 0;
    for (uint32_t i = 0; i < n && got < need; i++) {
        uint64_t want = need - got;
        if (p->o.scheme != FOS_DPOOL_STORAGE && want < p->o.block) want = p->o.block;
        got += fetch_from(p, order[i], want);
    }
    return got;
}

/* The refill server's one fiber: fills a waiting get. */
static int on_refill(void *ctx, const struct dpool_refill_req *in, struct dpool_refill_resp *out)
{
    (void)out;
    fos_dpool *p = ctx;
    if (fos_rpc_asker() != fos_core_self()) return -EPERM; /* its buffer is ours */
    uint8_t *buf = (uint8_t *)(uintptr_t)in->buf;
    size_t eb = p->o.elem_bytes;
    uint64_t got = 0;
    for (;;) {
        uint64_t k = in->n - got < p->n ? in->n - got : p->n;
        take(p, buf + got * eb, k);
        got += k;
        if (got == in->n) return 0;
        if (fetch_some(p, in->n - got) == 0) break;
    }
    put_in(p, buf, got); /* all or none: what was taken goes back */
    return -ENOMEM;
}

int fos_dpool_get(fos_dpool *p, void *out, uint32_t n)
{
    if (n == 0 || n > p->batch) return -EINVAL;
    if (p->n >= n) {
        take(p, out, n);
        p->st.served++;
        p->st.served_local++;
        return 0;
    }
    struct dpool_refill_req q = {.buf = (uint64_t)(uintptr_t)out, .n = n};
    struct dpool_refill_resp a;
    int r = dpool_refill_call(p->refill_addr, p->refill_cap, &q, &a, FOS_CYCLES_MAX);
    if (r == 0) p->st.served++;
    if (r == -ENOMEM) p->st.dry++;
    return r;
}

int fos_dpool_put(fos_dpool *p, const void *elems, uint32_t n)
{
    if (n > p->batch) return -EINVAL;
    int r = put_in(p, elems, n);
    if (r == 0) p->st.puts += n;
    return r;
}

/* ---- the background fiber ------------------------------------------------------- */

/* Pushes k elements to peer m; they come back if the push surely failed. A
 * push that timed out may have arrived: its elements are not put back (a
 * lost element is a leak; one put back might be a duplicate). */
static bool push_to(fos_dpool *p, uint32_t m, uint64_t k)
{
    if (!ensure_known(p, m)) return false;
    /* The hello was a yield point: gets may have taken the surplus meanwhile. */
    uint64_t surplus = p->n > p->o.high_water ? p->n - p->o.high_water : 0;
    if (k > surplus) k = surplus;
    if (k == 0) return false;
    take(p, p->scratch, k);
    p->st.moved += k;
    struct dpool_push_req q = {.from = fos_fleet_self(p->f),
                               .size = p->n,
                               .elems = p->scratch,
                               .elems_len = (uint32_t)(k * p->o.elem_bytes)};
    struct dpool_push_resp a;
    p->st.msgs++;
    int r = dpool_push_call(p->p[m].addr, p->p[m].cap, &q, &a, p->o.timeout);
    if (r == 0) {
        p->p[m].est = a.size;
        return true;
    }
    if (r == -EHOSTDOWN || r == -ENOENT) p->p[m].gone = true;
    /* Refused, or never delivered: they come back. */
    if (r != -ETIMEDOUT && put_in(p, p->scratch, k) == 0) p->st.came += k;
    return false;
}

static void pull_once(fos_dpool *p)
{
    if (p->n < p->o.low_water) fetch_some(p, p->o.block);
}

/* Plain push: a block to each other shard in turn, while above the mark. */
static void push_once(fos_dpool *p)
{
    uint32_t order[FOS_FLEET_MAX];
    uint32_t n = ask_order(p, order);
    for (uint32_t i = 0; i < n && p->n > p->o.high_water; i++) {
        uint32_t m = order[(p->push_next + i) % n];
        uint64_t k = p->n - p->o.high_water;
        push_to(p, m, k < p->o.block ? k : p->o.block);
    }
    if (n) p->push_next = (p->push_next + 1) % n;
}

/* With estimation: to the poorest shard it knows of, and only while that one
 * would still not be richer than this one after the transfer. */
static void push_estimate_once(fos_dpool *p)
{
    uint32_t order[FOS_FLEET_MAX];
    uint32_t n = ask_order(p, order);
    for (uint32_t tries = 0; n && tries < p->norder && p->n > p->o.high_water; tries++) {
        uint32_t m = order[n - 1]; /* ordered richest first */
        uint64_t est = p->p[m].est;
        if (est + 1 >= p->n) return;
        uint64_t k = (p->n - est) / 2;
        if (k > p->n - p->o.high_water) k = p->n - p->o.high_water;
        if (k > p->o.block) k = p->o.block;
        if (k == 0) return;
        if (!push_to(p, m, k) && !p->p[m].gone) return;
        n = ask_order(p, order);
    }
}

static void background(void *arg)
{
    fos_dpool *p = arg;
    for (;;) {
        fos_sleep(p->o.period);
        if (!fos_fleet_present(p->f, fos_fleet_self(p->f))) return; /* it left */
        if (p->o.scheme == FOS_DPOOL_PULL) pull_once(p);
        if (p->o.scheme == FOS_DPOOL_PUSH) push_once(p);
        if (p->o.scheme == FOS_DPOOL_PUSH_ESTIMATE) push_estimate_once(p);
    }
}

/* ---- the client RPCs ------------------------------------------------------------- */

static int on_get(void *ctx, const struct dpool_get_rpc_req *in, struct dpool_get_rpc_resp *out)
{
    fos_dpool *p = ctx;
    /* All or none: elements the asker has no room for are not taken (a
     * count fos_dpool_get refuses is refused as that first). */
    if (in->n && in->n <= p->batch && (uint64_t)in->n * p->o.elem_bytes > in->room)
        return -EMSGSIZE;
    int r = fos_dpool_get(p, out->raw_, in->n);
    if (r) return r;
    out->elem_bytes = p->o.elem_bytes;
    out->elems = out->raw_;
    out->elems_len = in->n * p->o.elem_bytes;
    return 0;
}

static int on_put(void *ctx, const struct dpool_put_rpc_req *in, struct dpool_put_rpc_resp *out)
{
    (void)out;
    fos_dpool *p = ctx;
    if (in->elem_bytes != p->o.elem_bytes || check_elems(p, in->elems_len)) return -EINVAL;
    return fos_dpool_put(p, in->elems, in->elems_len / p->o.elem_bytes);
}

int fos_dpool_get_at(fos_addr dst, fos_cap cap, void *out, size_t outsz, uint32_t n,
                     uint32_t *elem_bytes, fos_cycles timeout)
{
    if (!out && outsz) return -EINVAL;
    struct dpool_get_rpc_req q = {.n = n, .room = outsz};
    struct dpool_get_rpc_resp a;
    int r = dpool_get_rpc_call(dst, cap, &q, &a, timeout);
    if (r) return r;
    if (a.elem_bytes == 0 || a.elems_len != (uint64_t)n * a.elem_bytes) return -EBADMSG;
    if (a.elems_len > outsz) return -EMSGSIZE;
    memcpy(out, a.elems, a.elems_len);
    if (elem_bytes) *elem_bytes = a.elem_bytes;
    return 0;
}

int fos_dpool_put_at(fos_addr dst, fos_cap cap, const void *elems, uint32_t n, uint32_t elem_bytes,
                     fos_cycles timeout)
{
    if (!elems && n) return -EINVAL;
    /* One message carries them: more would wrap the length. */
    if ((uint64_t)n * elem_bytes > FOS_RPC_MAX_BYTES) return -EMSGSIZE;
    struct dpool_put_rpc_req q = {
        .elem_bytes = elem_bytes, .elems = elems, .elems_len = n * elem_bytes};
    struct dpool_put_rpc_resp a;
    return dpool_put_rpc_call(dst, cap, &q, &a, timeout);
}

int fos_dpool_serve_clients(fos_dpool *p)
{
    fos_server *fs = fos_fleet_server(p->f);
    int r = FOS_RPC_SERVE(fs, dpool_get_rpc, on_get, p);
    return r ? r : FOS_RPC_SERVE(fs, dpool_put_rpc, on_put, p);
}

/* ---- set-up ---------------------------------------------------------------------- */

static void dpool_free(void *arg)
{
    fos_dpool *p = arg;
    free(p->elems);
    free(p);
}

void fos_dpool_member_gone(fos_dpool *p, uint32_t m)
{
    if (m < FOS_FLEET_MAX) p->p[m].gone = true;
}

int fos_dpool_attach(fos_fleet *f, const fos_dpool_opts *o, fos_dpool **out)
{
    if (!f || !out) return -EINVAL;
    /* No options: every default, as fos_kv_attach takes them. */
    fos_dpool_opts d = o ? *o : (fos_dpool_opts){0};
    if (!d.elem_bytes) d.elem_bytes = 8;
    if (!d.block) d.block = 64;
    if (!d.low_water) d.low_water = d.block;
    if (!d.high_water) d.high_water = 4ull * d.block;
    if (!d.period) d.period = 20000;
    if (!d.timeout) d.timeout = 1000000000;
    /* A batch travels in one message, beside its header and fields. */
    uint32_t batch = (FOS_RPC_MAX_BYTES - 128) / d.elem_bytes;
    if (batch > FOS_DPOOL_BATCH_MAX) batch = FOS_DPOOL_BATCH_MAX;
    if (d.elem_bytes > FOS_DPOOL_ELEM_MAX || d.block > batch ||
        (unsigned)d.scheme > FOS_DPOOL_PUSH_ESTIMATE)
        return -EINVAL;
    fos_dpool *p = calloc(1, sizeof(*p));
    if (!p) return -ENOMEM;
    if (fos_core_atexit(dpool_free, p) != 0) {
        free(p);
        return -ENOMEM;
    }
    p->f = f;
    p->o = d;
    p->batch = batch;
    p->op_cost = fos_core_native() ? 0 : fos_core_costs()->dpool_op;
    const fos_topo *t = fos_core_topo();
    fos_core_id self_core = fos_core_self();
    uint32_t self = fos_fleet_self(f);
    for (uint32_t m = 0; m < fos_fleet_size(f); m++) {
        fos_addr a;
        fos_cap c;
        if (m == self || fos_fleet_member(f, m, &a, &c) != 0) continue;
        uint32_t i = p->norder++, h = fos_topo_hops(t, self_core, a.core);
        for (; i > 0 && fos_topo_hops(t, self_core, p->p[p->order[i - 1]].addr.core) > h; i--)
            p->order[i] = p->order[i - 1];
        p->order[i] = m;
        p->p[m].addr = a; /* its fleet server until its hello: for the ordering only */
    }
    fos_server_opts po = {.fibers = 4, .capacity = 256, .name = "dpool peer"};
    fos_server_opts ro = {.fibers = 1, .capacity = 256, .name = "dpool refill"};
    fos_server *fs = fos_fleet_server(f);
    int r = fos_server_create(&po, &p->peer_srv);
    if (r == 0) r = fos_server_create(&ro, &p->refill_srv);
    if (r == 0) r = FOS_RPC_SERVE(p->peer_srv, dpool_fetch, on_fetch, p);
    if (r == 0) r = FOS_RPC_SERVE(p->peer_srv, dpool_push, on_push, p);
    if (r == 0) r = FOS_RPC_SERVE(p->refill_srv, dpool_refill, on_refill, p);
    if (r == 0) r = FOS_RPC_SERVE(fs, dpool_hello, on_hello, p);
    if (r) return r; /* p goes with the chip */
    p->refill_addr = fos_server_addr(p->refill_srv);
    p->refill_cap = fos_server_cap(p->refill_srv);
    fos_fiber_opts fo = {.name = "dpool hello"};
    r = fos_fiber_spawn(say_hello, p, &fo, NULL);
    if (r == 0 && d.scheme >= FOS_DPOOL_PULL) {
        fos_fiber_opts bo = {.name = "dpool background"};
        r = fos_fiber_spawn(background, p, &bo, NULL);
    }
    if (r) return r;
    *out = p;
    return 0;
}

void fos_dpool_get_stats(const fos_dpool *p, fos_dpool_stats *out)
{
    *out = p->st;
    out->local = p->n;
}

uint32_t fos_dpool_counters(const fos_dpool *p, fos_fleet_counter *out, uint32_t max)
{
    if (max < 8) return 0;
    out[0] = (fos_fleet_counter){"served", p->st.served};
    out[1] = (fos_fleet_counter){"served_local", p->st.served_local};
    out[2] = (fos_fleet_counter){"remote_fetches", p->st.remote_fetches};
    out[3] = (fos_fleet_counter){"moved", p->st.moved};
    out[4] = (fos_fleet_counter){"came", p->st.came};
    out[5] = (fos_fleet_counter){"msgs", p->st.msgs};
    out[6] = (fos_fleet_counter){"dry", p->st.dry};
    out[7] = (fos_fleet_counter){"local", p->n};
    return 8;
}
