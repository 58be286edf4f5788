/* dPool: a distributed pool of interchangeable fixed-size elements (physical
 * pages, PIDs), sharded over the members of a fleet. A get returns some
 * element and a put gives one back; nobody asks for a particular element.
 * A client talks to one member (its nearest), which serves it from its own
 * shard. What a shard does when it runs short, or has too much, is the
 * pool's scheme (the fos report's five):
 *
 *   storage        asks other shards only when it cannot serve a get, for
 *                  exactly what is missing
 *   bulk           the same, but fetches a block at a time
 *   pull           as bulk, and a background fiber pulls a block from the
 *                  others whenever the shard is below its low-water mark
 *   push           as bulk, and a background fiber pushes the surplus above
 *                  the high-water mark to the others in turn, needed or not
 *   push_estimate  as push, but pushes only to a shard it estimates poorer than
 *                  itself; the estimates ride on the messages shards exchange
 *                  anyway (lazily), so no message is sent just to learn them
 *
 * Shards talk to each other through a server of their own on each member
 * (whose handlers never wait on anyone), and a shard's fetches for its
 * waiting gets go through one refill fiber, so a fleet whose members all wait
 * for elements at once still answers each other. An element is never in two
 * shards, and none is lost: a transfer leaves its giver before it is sent and
 * is put into its taker when the answer arrives (crash-stop: elements of a
 * member that dies are gone with it, and counted as such).
 *
 * Service time: every element taken from or put into a shard charges the cost
 * table's dpool_op. */
#ifndef FOS_DPOOL_H
#define FOS_DPOOL_H

#include "fos/fleet.h"

typedef enum fos_dpool_scheme {
    FOS_DPOOL_STORAGE,
    FOS_DPOOL_BULK,
    FOS_DPOOL_PULL,
    FOS_DPOOL_PUSH,
    FOS_DPOOL_PUSH_ESTIMATE,
} fos_dpool_scheme;

/* "storage", "bulk", "pull", "push", "push_estimate", NULL: as workloads write them. */
extern const char *const fos_dpool_scheme_names[];
/* Returns 0 or -EINVAL. */
int fos_dpool_scheme_parse(const char *s, fos_dpool_scheme *out);

#define FOS_DPOOL_ELEM_MAX 64 /* bytes */
/* Elements one get, put or transfer moves at most: they travel in one message,
 * so elements above 15 bytes move fewer at a time (4 KiB a message). */
#define FOS_DPOOL_BATCH_MAX 256

typedef struct fos_dpool_opts {
    fos_dpool_scheme scheme;
    uint32_t elem_bytes; /* 1 .. FOS_DPOOL_ELEM_MAX; 0 = 8 */
    uint32_t block;      /* elements a bulk fetch or a background transfer moves;
                          * 0 = 64; at most FOS_DPOOL_BATCH_MAX */
    uint64_t low_water;  /* pull: the shard pulls while below this; 0 = block */
    uint64_t high_water; /* push: the shard pushes what it has above this; 0 = 4 x block */
    fos_cycles period;   /* the background fiber's period; 0 = 20000 cycles */
    fos_cycles timeout;  /* a shard's wait for another's answer; 0 = 10^9 cycles. Elements
                          * in an answer that comes after it are lost, so it is far
                          * above any latency: only a dead shard reaches it */
} fos_dpool_opts;

typedef struct fos_dpool fos_dpool;

/* Makes the calling fleet member a shard: from the fleet's init. Starts the
 * shards' own server and, for pull and push schemes, the background fiber.
 * Clients cannot reach the pool until the fleet serves them: through its own
 * RPCs, or through the generic ones below. o NULL: every default. Returns 0,
 * -EINVAL (bad options), -ENOMEM. */
int fos_dpool_attach(fos_fleet *f, const fos_dpool_opts *o, fos_dpool **out);

/* Registers the generic client RPCs (fos_dpool_get_at, fos_dpool_put_at) on the
 * member's server. Only for a pool whose elements mean nothing beyond being
 * interchangeable: a put takes back whatever it is given, so a fleet whose
 * elements are resources (pages, PIDs) serves its own RPCs instead and checks
 * what comes back. Returns 0, -EINVAL (already registered), -ENOMEM. */
int fos_dpool_serve_clients(fos_dpool *p);

/* At init, before any request: puts n elements into this shard, free of charge
 * (the pool's initial contents). Returns 0, -EINVAL (no elements given),
 * -ENOMEM (more than the host can hold). */
int fos_dpool_load(fos_dpool *p, const void *elems, size_t n);

/* From a fiber on the member's core (a request's handler, say): takes n
 * elements into out (n x elem_bytes), all or none. A shard that has too few
 * asks the others as its scheme says and the caller waits. Returns 0, -EINVAL
 * (n is 0 or above FOS_DPOOL_BATCH_MAX), -ENOMEM (every shard asked came up
 * short: the pool has run dry), or -ETIMEDOUT. A yield point. */
int fos_dpool_get(fos_dpool *p, void *out, uint32_t n);
/* Puts n elements back into this shard. Returns 0, -EINVAL. A yield point. */
int fos_dpool_put(fos_dpool *p, const void *elems, uint32_t n);

/* This shard's elements now. */
uint64_t fos_dpool_local(const fos_dpool *p);

/* Call from the fleet's membership hook: a member that left is no longer asked. */
void fos_dpool_member_gone(fos_dpool *p, uint32_t m);

typedef struct fos_dpool_stats {
    uint64_t served;         /* gets served (each request once) */
    uint64_t served_local;   /* ... from this shard's elements without asking another */
    uint64_t remote_fetches; /* fetches this shard sent to others */
    uint64_t moved;          /* elements that left this shard for another, when they left */
    uint64_t came;           /* elements that came from another shard (or came back from a
                              * push that failed), when they arrived: over the fleet,
                              * moved - came are the elements in flight between shards */
    uint64_t msgs;           /* messages this shard sent to others */
    uint64_t puts;           /* elements put back by clients */
    uint64_t dry;            /* gets refused: the pool ran dry */
    uint64_t local;          /* elements in the shard at the end */
} fos_dpool_stats;
void fos_dpool_get_stats(const fos_dpool *p, fos_dpool_stats *out);
/* Fills up to max fleet counters from the stats (served, served_local,
 * remote_fetches, moved, came, msgs, dry, local); returns how many. */
uint32_t fos_dpool_counters(const fos_dpool *p, fos_fleet_counter *out, uint32_t max);

/* ---- a client ----------------------------------------------------------------- */

/* Gets n elements (all or none) from the member at dst; *elem_bytes says
 * their size. Returns 0, -ENOMEM, -EINVAL, -EMSGSIZE (out too small: none are
 * taken), a call's error. */
int fos_dpool_get_at(fos_addr dst, fos_cap cap, void *out, size_t outsz, uint32_t n,
                     uint32_t *elem_bytes, fos_cycles timeout);
/* Puts n elements of elem_bytes each back through the member at dst. Returns
 * 0, -EINVAL (no elements given, or not the pool's size), -EMSGSIZE (more than
 * one message carries), a call's error. */
int fos_dpool_put_at(fos_addr dst, fos_cap cap, const void *elems, uint32_t n, uint32_t elem_bytes,
                     fos_cycles timeout);

#endif
