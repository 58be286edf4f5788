/* A key-value store fully replicated over the members of a fleet: every
 * member holds every key. A get is answered by the member asked, from its own
 * replica. A put or a delete is coordinated by the member that received it,
 * by two-phase commit: PREPARE to every other live replica (each locks the
 * key and votes), then COMMIT if all voted yes, else ABORT. Of conflicting
 * writes to a key at most one commits; the others abort and are retried a
 * bounded number of times. The client is answered only once the decision is
 * recorded at another live replica too.
 *
 * Failure model: crash-stop. Members learn of a death from the dead core's
 * kernel (fos_core_watch) and the dead member leaves the replica set. A
 * participant that does not vote in time makes the transaction abort. If a
 * coordinator dies, the participants it prepared ask each other: a decision
 * any of them knows is applied everywhere; if all are prepared and undecided
 * they abort, which is safe because no client was told.
 *
 * What it does not survive: network partitions (a member cut off but alive is
 * waited for, then its transactions abort; two sides never diverge, but
 * neither makes progress on a key it holds), and a member that joins later
 * (it copies the table with writes held back; a member that dies during the
 * copy leaves the others holding). */
#ifndef FOS_KV_H
#define FOS_KV_H

#include "fos/fleet.h"

#define FOS_KV_KEY_MAX 64     /* bytes, NUL included */
#define FOS_KV_VALUE_MAX 1024 /* bytes */

typedef struct fos_kv fos_kv;

typedef struct fos_kv_opts {
    fos_cycles vote_timeout; /* how long a coordinator waits for votes; 0 = 100000 */
    uint32_t retries;        /* attempts of a write that lost a conflict, after the
                              * first; 0 = 8 (the kv fleet's parameter is at least 1) */
    /* Called at this replica after a committed write to key is applied
     * (present: put; else delete), e.g. to keep an index or push
     * invalidations. May yield. */
    void (*on_apply)(void *ctx, const char *key, bool present);
    void *ctx;
} fos_kv_opts;

/* Makes the calling fleet member a replica: from its fleet's init. A member
 * that joined a running fleet first copies the table from the coordinator,
 * with every member's writes held back meanwhile (as fos did). */
int fos_kv_attach(fos_fleet *f, const fos_kv_opts *o, fos_kv **out);

/* At boot, before any request: puts key into this replica alone. Every
 * replica must load the same boot image. Returns 0, -EINVAL, -ENOMEM. */
int fos_kv_load(fos_kv *kv, const char *key, const void *val, size_t len);

/* This replica's value of key. Returns 0, -ENOENT, -ENOBUFS (cap too small:
 * *len says how much is needed). */
int fos_kv_local_get(fos_kv *kv, const char *key, void *buf, size_t cap, size_t *len,
                     uint64_t *version);
/* A write coordinated by this member (from a fiber on its core). Returns 0,
 * -EBUSY (lost every retry to conflicting writes), -ETIMEDOUT (a replica did
 * not vote, every time), -EINVAL (key or value too long), -ENOMEM. */
int fos_kv_put(fos_kv *kv, const char *key, const void *val, size_t len);
int fos_kv_delete(fos_kv *kv, const char *key);
/* The same from inside a request's handler, which must return what these
 * return: the write is handed to the replica's writer fibers, and the request
 * is answered (with the write's status, no payload) when it has finished. A
 * handler must not wait for a write itself: a fleet whose members all did
 * would have no fiber left to vote. Returns FOS_RPC_LATER, or an error to
 * return at once. */
int fos_kv_put_async(fos_kv *kv, const char *key, const void *val, size_t len);
int fos_kv_delete_async(fos_kv *kv, const char *key);

/* Call from the fleet's membership hook when member m is gone: finishes the
 * transactions m coordinated and left prepared here. */
void fos_kv_member_gone(fos_kv *kv, uint32_t m);

/* An order-independent hash of this replica's contents: keys, values and
 * versions. Replicas that agree have the same digest. */
uint64_t fos_kv_digest(const fos_kv *kv);

typedef struct fos_kv_stats {
    uint64_t gets, commits, aborts, conflicts, vote_timeouts, applied, terminations;
} fos_kv_stats;
void fos_kv_get_stats(const fos_kv *kv, fos_kv_stats *out);

/* The protocol's message types, for fault rules that aim at them. */
#define FOS_KV_MSG_PREPARE 0x6b760003u
#define FOS_KV_MSG_DECIDE 0x6b760004u
#define FOS_KV_MSG_QUERY 0x6b760005u

/* ---- the kv fleet ---------------------------------------------------------------
 *
 * A fleet whose members are replicas and nothing else (`os: {kv: {...}}`):
 * parameters vote_timeout and retries. */
extern const fos_fleet_ops fos_kv_fleet;

/* ---- clients: calls to any member ---------------------------------------------- */

int fos_kv_get(fos_addr member, fos_cap cap, const char *key, void *buf, size_t bufcap, size_t *len,
               fos_cycles timeout);
int fos_kv_put_at(fos_addr member, fos_cap cap, const char *key, const void *val, size_t len,
                  fos_cycles timeout);
int fos_kv_delete_at(fos_addr member, fos_cap cap, const char *key, fos_cycles timeout);
/* A member's digest and key count, for checks that the replicas agree. */
int fos_kv_digest_at(fos_addr member, fos_cap cap, uint64_t *digest, uint64_t *keys,
                     fos_cycles timeout);

#endif
