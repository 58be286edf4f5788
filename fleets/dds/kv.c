/* The replicated KV store: a replica per fleet member, writes by two-phase
 * commit coordinated by the member that took the request (see fos/kv.h). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleets/hash.h"
#include "fos/fos.h"
#include "fos/kv.h"

/* ---- the protocol ------------------------------------------------------------------ */

#define NONE(F)
#define KEY_REQ(F) F(str, key)
#define GET_RESP(F) F(bytes, value) F(u64, version)
#define PUT_REQ(F) F(str, key) F(bytes, value) F(u32, del)
#define PREPARE_REQ(F) F(u64, tx) F(u32, coord) F(str, key) F(bytes, value) F(u32, del)
#define TX_REQ(F) F(u64, tx)
#define DECIDE_REQ(F) F(u64, tx) F(u32, commit)
#define QUERY_RESP(F) F(u32, state)
#define DIGEST_RESP(F) F(u64, digest) F(u64, keys)

FOS_RPC(kv_get_rpc, 0x6b760001, KEY_REQ, GET_RESP)
FOS_RPC(kv_put_rpc, 0x6b760002, PUT_REQ, NONE)
FOS_RPC(kv_prepare, 0x6b760003, PREPARE_REQ, NONE)
FOS_RPC(kv_decide, 0x6b760004, DECIDE_REQ, NONE)
FOS_RPC(kv_query, 0x6b760005, TX_REQ, QUERY_RESP)
FOS_RPC(kv_digest_rpc, 0x6b760006, NONE, DIGEST_RESP)
#define HOLD_REQ(F) F(u32, on)
#define COPY_REQ(F) F(u32, bucket) F(u32, skip)
#define COPY_RESP(F) F(u32, bucket) F(u32, skip) F(u32, count) F(bytes, entries)
FOS_RPC(kv_hold, 0x6b760007, HOLD_REQ, NONE)
FOS_RPC(kv_copy, 0x6b760008, COPY_REQ, COPY_RESP)

enum tx_state { TX_UNKNOWN, TX_PREPARED, TX_COMMITTED, TX_ABORTED };

/* ---- a replica ------------------------------------------------------------------------ */

typedef struct entry {
    struct entry *next;
    char key[FOS_KV_KEY_MAX];
    int present;
    unsigned char *val;
    uint32_t len;
    uint64_t version;
    /* The transaction that holds the key, prepared here: what it would write. */
    uint64_t lock;
    uint32_t coord;
    int pdel;
    unsigned char *pval;
    uint32_t plen;
} entry;

/* What this replica knows of each transaction it took part in. */
typedef struct txrec {
    struct txrec *next;
    uint64_t tx;
    int state;
    entry *e; /* the key it locked here, while prepared */
} txrec;

/* Both tables grow (chains stay short however many keys and transactions a
 * long run makes). */
#define INITIAL_BUCKETS 1024

/* A write handed from a handler to the writers: the request's way back, and
 * what to write. */
typedef struct wjob {
    fos_deferred d;
    uint32_t del, len;
    char key[FOS_KV_KEY_MAX];
    unsigned char val[FOS_KV_VALUE_MAX];
} wjob;

/* Coordinating a write waits for votes; if handlers did it, a fleet whose
 * members all coordinate at once would have no fiber left to vote with. So
 * handlers pass writes to these, and the pool is always free to vote. */
#define KV_WRITERS 4

struct fos_kv {
    fos_fleet *f;
    fos_server *writers; /* its pool coordinates the writes handlers pass on */
    fos_addr waddr;
    fos_cap wcap;
    fos_kv_opts o;
    entry **b; /* keys */
    uint32_t nb, nkeys;
    txrec **t; /* transactions */
    uint32_t nt, ntx;
    uint64_t seq;
    fos_cycles apply_cost;
    fos_kv_stats st;
    uint32_t held;   /* writes held back while a new member copies the table */
    uint32_t active; /* writes this member is coordinating now */
    unsigned char copy_buf[FOS_RPC_MAX_BYTES / 2];
};

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

/* Doubles a chained table when it holds twice as many items as buckets. */
#define GROW(kv, T, tab, nbk, count, hashof)                                                       \
    do {                                                                                           \
        if ((kv)->count < 2 * (kv)->nbk) break;                                                    \
        uint32_t nn_ = (kv)->nbk * 2;                                                              \
        T **nv_ = calloc(nn_, sizeof(*nv_));                                                       \
        if (!nv_) break; /* longer chains, still correct */                                        \
        for (uint32_t i_ = 0; i_ < (kv)->nbk; i_++)                                                \
            for (T *x_ = (kv)->tab[i_], *n_; x_; x_ = n_) {                                        \
                n_ = x_->next;                                                                     \
                T **h_ = &nv_[hashof(x_) % nn_];                                                   \
                x_->next = *h_;                                                                    \
                *h_ = x_;                                                                          \
            }                                                                                      \
        free((kv)->tab);                                                                           \
        (kv)->tab = nv_;                                                                           \
        (kv)->nbk = nn_;                                                                           \
    } while (0)

#define ENTRY_HASH(e) fleets_hash_str((e)->key)
#define TX_HASH(r) mix((r)->tx)

static entry *find(fos_kv *kv, const char *key, int make)
{
    entry **head = &kv->b[fleets_hash_str(key) % kv->nb];
    for (entry *e = *head; e; e = e->next)
        if (!strcmp(e->key, key)) return e;
    if (!make) return NULL;
    entry *e = calloc(1, sizeof(*e));
    if (!e) return NULL;
    snprintf(e->key, sizeof e->key, "%s", key);
    e->next = *head;
    *head = e;
    kv->nkeys++;
    GROW(kv, entry, b, nb, nkeys, ENTRY_HASH);
    return e;
}

static txrec *tx_find(fos_kv *kv, uint64_t tx, int make)
{
    txrec **head = &kv->t[mix(tx) % kv->nt];
    for (txrec *r = *head; r; r = r->next)
        if (r->tx == tx) return r;
    if (!make) return NULL;
    txrec *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    r->tx = tx;
    r->next = *head;
    *head = r;
    kv->ntx++;
    GROW(kv, txrec, t, nt, ntx, TX_HASH);
    return r;
}

static int check_key(const char *key)
{
    return key && *key && strlen(key) < FOS_KV_KEY_MAX ? 0 : -EINVAL;
}

/* Locks e for tx with what it would write. */
static int lock_for(entry *e, uint64_t tx, uint32_t coord, int del, const void *val, uint32_t len)
{
    unsigned char *copy = NULL;
    if (!del && len) {
        copy = malloc(len);
        if (!copy) return -ENOMEM;
        memcpy(copy, val, len);
    }
    e->lock = tx;
    e->coord = coord;
    e->pdel = del;
    e->pval = copy;
    e->plen = del ? 0 : len;
    return 0;
}

/* The decision reaches this replica: applied, or the lock dropped. */
static void settle(fos_kv *kv, txrec *r, int commit)
{
    if (r->state == TX_COMMITTED || r->state == TX_ABORTED) return;
    r->state = commit ? TX_COMMITTED : TX_ABORTED;
    entry *e = r->e;
    r->e = NULL;
    if (!e || e->lock != r->tx) return;
    int applied = 0;
    if (commit) {
        fos_compute(kv->apply_cost);
        free(e->val);
        e->val = e->pval;
        e->len = e->plen;
        e->present = !e->pdel;
        e->version++;
        e->pval = NULL;
        kv->st.applied++;
        applied = 1;
    } else {
        free(e->pval);
        e->pval = NULL;
    }
    e->lock = 0;
    /* Last: the hook may yield, and the key is settled by now. */
    if (applied && kv->o.on_apply) kv->o.on_apply(kv->o.ctx, e->key, e->present);
}

/* ---- the participant ---------------------------------------------------------------------- */

static int on_prepare(void *ctx, const struct kv_prepare_req *in, struct kv_prepare_resp *out)
{
    fos_kv *kv = ctx;
    (void)out;
    if (check_key(in->key) || in->value_len > FOS_KV_VALUE_MAX) return -EINVAL;
    txrec *r = tx_find(kv, in->tx, 1);
    if (!r) return -ENOMEM;
    if (r->state == TX_ABORTED) return -ECANCELED; /* decided before its PREPARE came */
    entry *e = find(kv, in->key, 1);
    if (!e) return -ENOMEM;
    if (e->lock && e->lock != in->tx) {
        kv->st.conflicts++;
        return -EBUSY; /* a no vote: another write holds the key */
    }
    if (e->lock != in->tx) {
        int rc = lock_for(e, in->tx, in->coord, (int)in->del, in->value, in->value_len);
        if (rc) return rc;
    }
    r->state = TX_PREPARED;
    r->e = e;
    return 0;
}

static int on_decide(void *ctx, const struct kv_decide_req *in, struct kv_decide_resp *out)
{
    fos_kv *kv = ctx;
    (void)out;
    txrec *r = tx_find(kv, in->tx, 1);
    if (!r) return -ENOMEM;
    settle(kv, r, in->commit != 0);
    return 0;
}

static int on_query(void *ctx, const struct kv_query_req *in, struct kv_query_resp *out)
{
    fos_kv *kv = ctx;
    txrec *r = tx_find(kv, in->tx, 0);
    out->state = r ? (uint32_t)r->state : TX_UNKNOWN;
    return 0;
}

/* ---- the coordinator ------------------------------------------------------------------------ */

/* The other live replicas, as this member knows them. */
static uint32_t others(fos_kv *kv, fos_addr *a, fos_cap *c, uint32_t *idx)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < fos_fleet_size(kv->f); i++) {
        if (i == fos_fleet_self(kv->f) || fos_fleet_member(kv->f, i, &a[n], &c[n]) != 0) continue;
        if (idx) idx[n] = i;
        n++;
    }
    return n;
}

/* Sends the decision to the replicas that were asked, and counts the ones that
 * recorded it. */
static uint32_t decide_all(fos_kv *kv, uint64_t tx, int commit, const fos_addr *a, const fos_cap *c,
                           uint32_t n)
{
    if (n == 0) return 0;
    _Alignas(8) unsigned char buf[256];
    fos_msg *m = (fos_msg *)buf;
    *m = (fos_msg){.type = kv_decide_TYPE};
    struct kv_decide_req q = {tx, (uint32_t)commit};
    kv_decide_pack_req(m, sizeof buf - sizeof(fos_msg), &q);
    int st[FOS_FLEET_MAX];
    fos_addr pa[FOS_FLEET_MAX];
    fos_cap pc[FOS_FLEET_MAX];
    memcpy(pa, a, n * sizeof(*a));
    memcpy(pc, c, n * sizeof(*c));
    /* Every participant must hear the decision, or its key stays locked and
     * its replica behind: a lost or refused DECIDE is sent again until it is
     * recorded or the participant is dead. */
    uint32_t recorded = 0;
    for (int round = 0; n > 0 && round < 64; round++) {
        int ok = fos_rpc_gather(pa, pc, n, m, NULL, 0, st, kv->o.vote_timeout);
        if (ok > 0) recorded += (uint32_t)ok;
        uint32_t left = 0;
        for (uint32_t i = 0; i < n; i++)
            if (st[i] != 0 && st[i] != -EHOSTDOWN) {
                pa[left] = pa[i];
                pc[left] = pc[i];
                left++;
            }
        n = left;
        if (n) fos_sleep(kv->o.vote_timeout / 10 + 1);
    }
    return recorded;
}

/* One attempt: 0 committed, -EBUSY a conflict, -ETIMEDOUT a missing vote. */
static int attempt(fos_kv *kv, const char *key, int del, const void *val, uint32_t len)
{
    uint32_t self = fos_fleet_self(kv->f);
    entry *e = find(kv, key, 1);
    if (!e) return -ENOMEM;
    if (e->lock) {
        kv->st.conflicts++;
        return -EBUSY;
    }
    uint64_t tx = (uint64_t)self << 40 | ++kv->seq;
    txrec *r = tx_find(kv, tx, 1);
    if (!r || lock_for(e, tx, self, del, val, len)) return -ENOMEM;
    r->state = TX_PREPARED;
    r->e = e;

    /* On the fiber's stack: the run may end while it waits for votes. */
    fos_addr pa[FOS_FLEET_MAX];
    fos_cap pc[FOS_FLEET_MAX];
    int st[FOS_FLEET_MAX];
    uint32_t n = others(kv, pa, pc, NULL);

    _Alignas(8) unsigned char buf[FOS_RPC_MAX_BYTES];
    fos_msg *m = (fos_msg *)buf;
    *m = (fos_msg){.type = kv_prepare_TYPE};
    struct kv_prepare_req q = {tx, self, key, val, len, (uint32_t)del};
    int rc = kv_prepare_pack_req(m, sizeof buf - sizeof(fos_msg), &q);
    if (rc == 0 && n) fos_rpc_gather(pa, pc, n, m, NULL, 0, st, kv->o.vote_timeout);
    /* Replicas found dead on the way have left the set: their vote is not
     * needed. Any other answer but yes aborts. */
    int commit = rc == 0, why = rc;
    uint32_t asked = 0;
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        if (st[i] == -EHOSTDOWN) continue;
        pa[asked] = pa[i];
        pc[asked] = pc[i];
        asked++;
        if (st[i] != 0) {
            commit = 0;
            if (!why || st[i] == -ETIMEDOUT) why = st[i] == -ETIMEDOUT ? -ETIMEDOUT : -EBUSY;
        }
    }
    /* The decision is recorded (and applied) here first, then at the others. */
    settle(kv, r, commit);
    uint32_t recorded = decide_all(kv, tx, commit, pa, pc, asked);
    if (!commit) {
        kv->st.aborts++;
        if (why == -ETIMEDOUT) kv->st.vote_timeouts++;
        return why ? why : -EBUSY;
    }
    kv->st.commits++;
    /* The client is told only when another live replica has the decision too
     * (or there is no other). */
    if (asked && !recorded) return -ETIMEDOUT;
    return 0;
}

static int write(fos_kv *kv, const char *key, int del, const void *val, size_t len)
{
    if (!kv || check_key(key) || len > FOS_KV_VALUE_MAX || (len && !val)) return -EINVAL;
    int r = -EBUSY;
    for (uint32_t i = 0; i <= kv->o.retries; i++) {
        /* While a new member copies the table, writes wait (and do not count
         * as attempts). */
        while (kv->held)
            fos_sleep(1000);
        kv->active++;
        r = attempt(kv, key, del, val, (uint32_t)len);
        kv->active--;
        if (r != -EBUSY && r != -ETIMEDOUT) return r;
        /* Back off a random while, longer each time, so that rivals do not
         * collide again in lockstep. */
        fos_sleep(1 + fos_rand_below((uint64_t)200 << (i < 10 ? i : 10)));
    }
    return r;
}

int fos_kv_put(fos_kv *kv, const char *key, const void *val, size_t len)
{
    return write(kv, key, 0, val, len);
}

int fos_kv_delete(fos_kv *kv, const char *key)
{
    return write(kv, key, 1, NULL, 0);
}

/* ---- a dead coordinator ------------------------------------------------------------------------
 */

/* For each transaction prepared here by member `dead`: ask the others what they
 * know, and apply what any knows; all undecided means abort. */
static void terminate(fos_kv *kv, uint32_t dead)
{
    for (uint32_t b = 0; b < kv->nt; b++) {
        for (txrec *r = kv->t[b]; r; r = r->next) {
            if (r->state != TX_PREPARED || !r->e || r->e->coord != dead) continue;
            kv->st.terminations++;
            fos_addr a[FOS_FLEET_MAX];
            fos_cap c[FOS_FLEET_MAX];
            uint32_t idx[FOS_FLEET_MAX];
            uint32_t n = others(kv, a, c, idx);
            int commit = 0;
            for (uint32_t i = 0; i < n && !commit; i++) {
                struct kv_query_req q = {r->tx};
                struct kv_query_resp p;
                /* An answer, or the member's death: anything else (slow, full)
                 * is asked again. Taking silence for "not committed" would
                 * abort what another survivor has committed. */
                /* ... waiting longer each time: a slow member must get to answer. */
                int qr;
                for (unsigned t = 0;; t++) {
                    fos_cycles to = kv->o.vote_timeout << (t < 10 ? t : 10);
                    qr = kv_query_call(a[i], c[i], &q, &p, to);
                    if (qr == 0 || qr == -EHOSTDOWN ||
                        fos_fleet_member(kv->f, idx[i], &a[i], &c[i]) != 0)
                        break;
                }
                if (qr == 0 && p.state == TX_COMMITTED) commit = 1;
            }
            uint64_t tx = r->tx;
            settle(kv, r, commit);
            decide_all(kv, tx, commit, a, c, n);
            /* The table may have changed while this fiber waited: start over. */
            b = (uint32_t)-1;
            break;
        }
    }
}

/* ---- the client-facing calls
 * ---------------------------------------------------------------------- */

static int on_get(void *ctx, const struct kv_get_rpc_req *in, struct kv_get_rpc_resp *out)
{
    fos_kv *kv = ctx;
    kv->st.gets++;
    if (check_key(in->key)) return -EINVAL;
    entry *e = find(kv, in->key, 0);
    if (!e || !e->present) return -ENOENT;
    out->value = e->val;
    out->value_len = e->len;
    out->version = e->version;
    return 0;
}

/* A write job, from a handler of this member: coordinated, then the
 * original request is answered. (Not an RPC: nobody waits on this reply.) */
static void on_job(fos_request *rq, void *ctx)
{
    fos_kv *kv = ctx;
    wjob j;
    size_t got = rq->msg->len < sizeof j ? rq->msg->len : sizeof j;
    memcpy(&j, fos_msg_data(rq->msg), got);
    rq->replied = 1; /* the way back is in the job */
    if (rq->msg->from.core != fos_core_self() || got < offsetof(wjob, val) ||
        j.len > FOS_KV_VALUE_MAX || offsetof(wjob, val) + j.len > got)
        return; /* only this core's handlers hand in jobs */
    j.key[FOS_KV_KEY_MAX - 1] = '\0';
    int r = write(kv, j.key, (int)j.del, j.val, j.len);
    fos_rpc_answer(&j.d, r, NULL);
}

static int write_async(fos_kv *kv, const char *key, int del, const void *val, size_t len)
{
    if (!kv || check_key(key) || len > FOS_KV_VALUE_MAX || (len && !val)) return -EINVAL;
    struct {
        fos_msg h;
        wjob j;
    } m;
    m.h = (fos_msg){.type = 1, .len = (uint32_t)(offsetof(wjob, val) + len)};
    m.j.del = (uint32_t)del;
    m.j.len = (uint32_t)len;
    snprintf(m.j.key, sizeof m.j.key, "%s", key);
    if (len) memcpy(m.j.val, val, len);
    int r = fos_rpc_defer(&m.j.d);
    if (r != 0) return r;
    /* A local message: the writers take them in order. */
    r = fos_send(kv->waddr, kv->wcap, &m.h);
    if (r != 0) fos_rpc_answer(&m.j.d, r, NULL); /* -EAGAIN: too many writes waiting */
    return FOS_RPC_LATER;
}

int fos_kv_put_async(fos_kv *kv, const char *key, const void *val, size_t len)
{
    return write_async(kv, key, 0, val, len);
}

int fos_kv_delete_async(fos_kv *kv, const char *key)
{
    return write_async(kv, key, 1, NULL, 0);
}

static int on_put(void *ctx, const struct kv_put_rpc_req *in, struct kv_put_rpc_resp *out)
{
    (void)out;
    return write_async(ctx, in->key, (int)in->del, in->value, in->value_len);
}

static int on_digest(void *ctx, const struct kv_digest_rpc_req *in, struct kv_digest_rpc_resp *out)
{
    (void)in;
    fos_kv *kv = ctx;
    out->digest = fos_kv_digest(kv);
    out->keys = 0;
    for (uint32_t b = 0; b < kv->nb; b++)
        for (entry *e = kv->b[b]; e; e = e->next)
            out->keys += e->present;
    return 0;
}

uint64_t fos_kv_digest(const fos_kv *kv)
{
    uint64_t d = 0;
    for (uint32_t b = 0; b < kv->nb; b++)
        for (entry *e = kv->b[b]; e; e = e->next) {
            if (!e->present) continue;
            uint64_t h = fleets_hash_str(e->key) ^ mix(e->version);
            for (uint32_t i = 0; i < e->len; i++)
                h = (h ^ e->val[i]) * 1099511628211ull;
            d += mix(h); /* a sum: the order of the table does not matter */
        }
    return d;
}

void fos_kv_get_stats(const fos_kv *kv, fos_kv_stats *out)
{
    FOS__NEED(kv);
    FOS__NEED(out);
    *out = kv->st;
}

int fos_kv_load(fos_kv *kv, const char *key, const void *val, size_t len)
{
    if (!kv || check_key(key) || len > FOS_KV_VALUE_MAX || (len && !val)) return -EINVAL;
    entry *e = find(kv, key, 1);
    unsigned char *copy = len ? malloc(len) : NULL;
    if (!e || (len && !copy)) {
        free(copy);
        return -ENOMEM;
    }
    if (len) memcpy(copy, val, len);
    free(e->val);
    e->val = copy;
    e->len = (uint32_t)len;
    e->present = 1;
    e->version++;
    return 0;
}

int fos_kv_local_get(fos_kv *kv, const char *key, void *buf, size_t cap, size_t *len,
                     uint64_t *version)
{
    if (!kv || check_key(key) || (cap && !buf)) return -EINVAL;
    entry *e = find(kv, key, 0);
    if (!e || !e->present) return -ENOENT;
    if (len) *len = e->len;
    if (version) *version = e->version;
    if (cap < e->len) return -ENOBUFS;
    if (e->len) memcpy(buf, e->val, e->len);
    return 0;
}

/* ---- a member joining: the table copied while writes are held back ---------------------- */

static int on_hold(void *ctx, const struct kv_hold_req *in, struct kv_hold_resp *out)
{
    fos_kv *kv = ctx;
    (void)out;
    if (in->on) {
        kv->held++;
        /* Answer once this member's own writes in progress are done: then no
         * PREPARE of its can reach the copy. */
        while (kv->active)
            fos_sleep(1000);
    } else if (kv->held) {
        kv->held--;
    }
    return 0;
}

/* One chunk of the table: entries from (bucket, skip) on, as many as fit. */
typedef struct wire_entry {
    uint32_t klen, vlen;
    uint64_t version;
} wire_entry;

static int on_copy(void *ctx, const struct kv_copy_req *in, struct kv_copy_resp *out)
{
    fos_kv *kv = ctx;
    size_t used = 0, cap = sizeof kv->copy_buf;
    uint32_t b = in->bucket, skip = in->skip, count = 0;
    for (; b < kv->nb; b++, skip = 0) {
        uint32_t i = 0;
        for (entry *e = kv->b[b]; e; e = e->next, i++) {
            if (i < skip || !e->present) continue;
            size_t kl = strlen(e->key) + 1, need = sizeof(wire_entry) + kl + e->len;
            if (used + need > cap) {
                out->bucket = b;
                out->skip = i;
                goto full;
            }
            wire_entry w = {(uint32_t)kl, e->len, e->version};
            memcpy(kv->copy_buf + used, &w, sizeof w);
            memcpy(kv->copy_buf + used + sizeof w, e->key, kl);
            if (e->len) memcpy(kv->copy_buf + used + sizeof w + kl, e->val, e->len);
            used += need;
            count++;
        }
    }
    out->bucket = UINT32_MAX;
    out->skip = 0;
full:
    out->count = count;
    out->entries = kv->copy_buf;
    out->entries_len = (uint32_t)used;
    return 0;
}

static int take_chunk(fos_kv *kv, const struct kv_copy_resp *c)
{
    const unsigned char *p = c->entries, *end = p + c->entries_len;
    for (uint32_t n = 0; n < c->count; n++) {
        wire_entry w;
        if ((size_t)(end - p) < sizeof w) return -EBADMSG;
        memcpy(&w, p, sizeof w);
        p += sizeof w;
        if (w.klen == 0 || w.klen > FOS_KV_KEY_MAX || w.vlen > FOS_KV_VALUE_MAX ||
            (size_t)(end - p) < (size_t)w.klen + w.vlen || p[w.klen - 1] != '\0')
            return -EBADMSG;
        const char *key = (const char *)p;
        int r = fos_kv_load(kv, key, p + w.klen, w.vlen);
        if (r) return r;
        find(kv, key, 0)->version = w.version;
        if (kv->o.on_apply) kv->o.on_apply(kv->o.ctx, key, true);
        p += w.klen + w.vlen;
    }
    return 0;
}

/* The joiner's side: every other member holds its writes back, the
 * coordinator's table comes over in chunks, then writes go on. */
static int copy_in(fos_kv *kv)
{
    fos_addr a[FOS_FLEET_MAX];
    fos_cap c[FOS_FLEET_MAX];
    uint32_t idx[FOS_FLEET_MAX];
    uint32_t n = others(kv, a, c, idx);
    uint32_t coord = fos_fleet_coordinator(kv->f);
    int r = 0;
    for (uint32_t i = 0; i < n && r == 0; i++) {
        struct kv_hold_req q = {1};
        struct kv_hold_resp p;
        r = kv_hold_call(a[i], c[i], &q, &p, FOS_CYCLES_MAX);
        if (r == -EHOSTDOWN) r = 0; /* gone: nothing to hold */
    }
    for (uint32_t i = 0; i < n && r == 0; i++) {
        if (idx[i] != coord) continue;
        struct kv_copy_req q = {0, 0};
        struct kv_copy_resp chunk;
        do {
            r = kv_copy_call(a[i], c[i], &q, &chunk, FOS_CYCLES_MAX);
            if (r == 0) r = take_chunk(kv, &chunk);
            q = (struct kv_copy_req){chunk.bucket, chunk.skip};
        } while (r == 0 && chunk.bucket != UINT32_MAX);
    }
    for (uint32_t i = 0; i < n; i++) {
        struct kv_hold_req q = {0};
        struct kv_hold_resp p;
        kv_hold_call(a[i], c[i], &q, &p, FOS_CYCLES_MAX);
    }
    return r;
}

static void kv_free(void *arg)
{
    fos_kv *kv = arg;
    for (uint32_t b = 0; b < kv->nb; b++)
        for (entry *e = kv->b[b], *n; e; e = n) {
            n = e->next;
            free(e->val);
            free(e->pval);
            free(e);
        }
    for (uint32_t b = 0; b < kv->nt; b++)
        for (txrec *r = kv->t[b], *n; r; r = n) {
            n = r->next;
            free(r);
        }
    free(kv->b);
    free(kv->t);
    free(kv);
}

int fos_kv_attach(fos_fleet *f, const fos_kv_opts *o, fos_kv **out)
{
    if (!f || !out) return -EINVAL;
    fos_kv *kv = calloc(1, sizeof(*kv));
    if (!kv) return -ENOMEM;
    if (fos_core_atexit(kv_free, kv) != 0) {
        free(kv);
        return -ENOMEM;
    }
    kv->f = f;
    kv->b = calloc(INITIAL_BUCKETS, sizeof(*kv->b));
    kv->t = calloc(INITIAL_BUCKETS, sizeof(*kv->t));
    if (!kv->b || !kv->t) return -ENOMEM; /* freed at exit */
    kv->nb = kv->nt = INITIAL_BUCKETS;
    kv->o.vote_timeout = o && o->vote_timeout ? o->vote_timeout : 100000;
    kv->o.retries = o && o->retries ? o->retries : 8;
    kv->o.on_apply = o ? o->on_apply : NULL;
    kv->o.ctx = o ? o->ctx : NULL;
    kv->apply_cost = fos_core_costs()->kv_apply;
    /* The writers are a server of their own: a pool, set up like the fleet's. */
    fos_server_opts wo = {.fibers = KV_WRITERS, .capacity = 1024, .name = "kv writer"};
    int r = fos_server_create(&wo, &kv->writers);
    if (r == 0) r = fos_server_handle(kv->writers, 1, on_job, kv);
    if (r != 0) return r;
    kv->waddr = fos_server_addr(kv->writers);
    kv->wcap = fos_server_cap(kv->writers);
    fos_server *s = fos_fleet_server(f);
    if (r == 0) r = FOS_RPC_SERVE(s, kv_get_rpc, on_get, kv);
    if (r == 0) r = FOS_RPC_SERVE(s, kv_put_rpc, on_put, kv);
    if (r == 0) r = FOS_RPC_SERVE(s, kv_prepare, on_prepare, kv);
    if (r == 0) r = FOS_RPC_SERVE(s, kv_decide, on_decide, kv);
    if (r == 0) r = FOS_RPC_SERVE(s, kv_query, on_query, kv);
    if (r == 0) r = FOS_RPC_SERVE(s, kv_digest_rpc, on_digest, kv);
    if (r == 0) r = FOS_RPC_SERVE(s, kv_hold, on_hold, kv);
    if (r == 0) r = FOS_RPC_SERVE(s, kv_copy, on_copy, kv);
    /* A member that joins a running fleet starts from a copy of the table. */
    if (r == 0 && fos_fleet_joined(f)) r = copy_in(kv);
    if (r != 0) return r;
    *out = kv;
    return 0;
}

/* A fleet member that is a KV replica calls this from its membership hook. */
void fos_kv_member_gone(fos_kv *kv, uint32_t m)
{
    terminate(kv, m);
}

/* ---- clients
 * ----------------------------------------------------------------------------------------- */

int fos_kv_get(fos_addr member, fos_cap cap, const char *key, void *buf, size_t bufcap, size_t *len,
               fos_cycles timeout)
{
    struct kv_get_rpc_req q = {.key = key};
    struct kv_get_rpc_resp p;
    int r = kv_get_rpc_call(member, cap, &q, &p, timeout);
    if (r == 0) {
        if (len) *len = p.value_len;
        if (bufcap < p.value_len)
            r = -ENOBUFS;
        else if (p.value_len)
            memcpy(buf, p.value, p.value_len);
    }
    return r;
}

int fos_kv_put_at(fos_addr member, fos_cap cap, const char *key, const void *val, size_t len,
                  fos_cycles timeout)
{
    if (len > FOS_KV_VALUE_MAX) return -EINVAL;
    struct kv_put_rpc_req q = {.key = key, .value = val, .value_len = (uint32_t)len, .del = 0};
    struct kv_put_rpc_resp p;
    return kv_put_rpc_call(member, cap, &q, &p, timeout);
}

int fos_kv_delete_at(fos_addr member, fos_cap cap, const char *key, fos_cycles timeout)
{
    struct kv_put_rpc_req q = {.key = key, .del = 1};
    struct kv_put_rpc_resp p;
    return kv_put_rpc_call(member, cap, &q, &p, timeout);
}

int fos_kv_digest_at(fos_addr member, fos_cap cap, uint64_t *digest, uint64_t *keys,
                     fos_cycles timeout)
{
    struct kv_digest_rpc_req q = {0};
    struct kv_digest_rpc_resp p;
    int r = kv_digest_rpc_call(member, cap, &q, &p, timeout);
    if (r == 0) {
        *digest = p.digest;
        *keys = p.keys;
    }
    return r;
}
