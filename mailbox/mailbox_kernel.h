/* What mailbox/ offers the rest of the microkernel. */
#ifndef FOS_MAILBOX_KERNEL_H
#define FOS_MAILBOX_KERNEL_H

#include "runtime/core_priv.h"

struct fos__ring;

/* A queue entry: a fos__kmsg*, or a fos__ring* with the low bit set for a
 * message that arrived over a channel and still lies in the channel's ring, or
 * (native) a fos__dring* with bit 1 set for the next message of the mailbox's
 * own ring. */
typedef uintptr_t fos__mentry;

#define FOS__MBOX_INLINE 8

struct fos_mbox {
    fos_core *core;
    uint32_t id;
    uint32_t capacity : 31;     /* kernel messages it accepts */
    uint32_t reply : 1;         /* an RPC reply box: its fibers run before new requests */
    uint32_t nkmsg;             /* kernel messages queued */
    uint32_t count, head, qcap; /* entries queued; qcap also makes room for every
                                 * slot of the channels attached to it */
    fos_cap cap;
    fos__mentry *q;    /* NULL once destroyed; inl while it fits */
    fos__fifo waiters; /* fibers parked in fos_recv, woken in arrival order */
    /* A small queue lives beside the header, so that reaching a message takes
     * one cache miss fewer: cores that are run in turn are cold. */
    fos__mentry inl[FOS__MBOX_INLINE];
};
_Static_assert(sizeof(struct fos_mbox) <= 128, "a mailbox fits two cache lines");

/* Where the queue's i-th entry from the head lies: a wrap without a division. */
static inline uint32_t fos__mbox_slot(const struct fos_mbox *m, uint32_t i)
{
    uint32_t x = m->head + i;
    return x >= m->qcap ? x - m->qcap : x;
}

static inline void fos__mbox_push(struct fos_mbox *m, fos__mentry e)
{
    m->q[fos__mbox_slot(m, m->count)] = e;
    m->count++;
}

static inline void fos__mbox_pop(struct fos_mbox *m)
{
    m->head = fos__mbox_slot(m, 1);
    m->count--;
}

/* Frees the queue unless it is the inline one. */
void fos__mbox_free_q(fos_core *c, struct fos_mbox *m);

/* ---- native engine: senders write into the mailbox (deposit.c) -------------- */

#define DCELL_DATA 56

/* One message: a sequence word the consumer polls (ticket + 1 once written),
 * then the message's header and a small payload, or a pointer to its envelope. */
typedef struct fos__dcell {
    _Alignas(64) uint64_t seq; /* atomic */
    unsigned char data[DCELL_DATA];
} fos__dcell;
_Static_assert(sizeof(fos__dcell) == 64, "a cell is one cache line");

/* A mailbox's ring of cells, one ticket per message, `capacity` tickets
 * outstanding at most: what a sender sees of the mailbox. It outlives its
 * mailbox until the run ends, since a sender may hold it when it closes. */
struct fos__dring {
    /* Written once, read by senders. */
    uint32_t id;
    uint32_t capacity;
    fos_cap cap;
    fos__dcell *cells;
    uint64_t mask;
    uint32_t closed; /* atomic: the mailbox is gone; senders take their cells back */
    fos_mbox *m;
    struct fos__dring *retired_next;
    _Alignas(64) uint64_t tail; /* atomic: senders claim tickets here */
    uint64_t head_seen;         /* atomic: head, as senders last read it */
    /* The consumer's. */
    _Alignas(64) uint64_t head; /* atomic: tickets taken */
    uint64_t scan;              /* tickets seen (counted, waiters woken); atomic:
                                 * senders wait on it (fos__dring_await_seen) */
    uint64_t queued;            /* tickets before it have a place in the mailbox's queue */
    bool absorb;                /* channels arrive in the mailbox too: what is seen
                                 * gets a place in its queue, in the order seen */
};

/* Makes m's ring on its core (native engine). 0 or -ENOMEM. */
int fos__dring_new(fos_core *c, fos_mbox *m);
/* m's ring, or NULL (virtual engine). */
struct fos__dring *fos__dring_of(const fos_mbox *m);
/* fos_send's work on the native engine: checks and writes into mailbox `id` of
 * core dc; 0 or what fos_send returns. mark (may be NULL) gets where the
 * message went. */
int fos__dring_send(fos_core *c, fos_core *dc, uint32_t id, fos_cap cap, const fos_msg *msg,
                    size_t size, fos__dring_mark *mark);
/* Waits until the message at mark has been seen by its mailbox's core (or
 * dropped, or the run ends), then clears mark. */
void fos__dring_await_seen(fos_core *c, fos__dring_mark *mark);
/* Sees what was written into c's rings since the last look: counts it and wakes
 * waiters; returns how many. */
uint32_t fos__dring_poll(fos_core *c);
/* The run is over: counts what was written into c's rings and not yet seen
 * (it reached the mailbox, as a message that arrived just before the end). */
void fos__dring_settle(fos_core *c);
/* Whether one of c's rings has a message not yet seen. */
bool fos__dring_pending(const fos_core *c);
/* Whether d has a message to take. */
bool fos__dring_ready(const struct fos__dring *d);
/* Gives every message claimed in d so far a place in its mailbox's queue,
 * after the channel messages already written (the channels are polled first),
 * so that they go before what arrives over a channel from then on; from the
 * first call (as a channel to the mailbox opens) polling does so too. 0 or
 * -ENOMEM. */
int fos__dring_absorb(fos_core *c, struct fos__dring *d);
/* Sets mark to the last ticket claimed so far in mailbox `id` of core dc, if
 * any: a sender's first message over a new channel waits until it is seen. */
void fos__dring_mark_claimed(const fos_core *dc, uint32_t id, fos__dring_mark *mark);
/* Messages waiting in d. */
uint32_t fos__dring_count(const struct fos__dring *d);
/* Copies the next message out and frees its cell. 0 or -EMSGSIZE. */
int fos__dring_take(fos_core *c, struct fos__dring *d, fos_msg *buf, size_t bufsz);
/* The mailbox goes (destroyed, or its core died): what is in d is discarded,
 * counted as dropped when `count`, and senders are refused from now on. */
void fos__dring_close(fos_core *c, struct fos__dring *d, bool count);
/* Teardown: frees every ring of c. */
void fos__dring_free_all(fos_core *c);

/* Marks m as a reply mailbox of its core (there may be several: one per RPC
 * call in flight). */
void fos__mbox_mark_reply(fos_mbox *m);

/* The mailbox with this id on core c, or NULL (destroyed or never made). */
fos_mbox *fos__mbox_find(const fos_core *c, uint32_t id);

/* Makes room in m's queue for `slots` more channel messages. 0 or -ENOMEM. */
int fos__mbox_reserve(fos_mbox *m, uint32_t slots);

/* A channel message for m has arrived (its slots are in ring): queue it. */
void fos__mbox_chan_arrive(fos_mbox *m, struct fos__ring *ring);

/* A message reaches core c's memory (event e, payload a fos__kmsg): checked and
 * queued or refused there, and the answer posted back to the sender. */
void fos__mbox_arrive(fos_core *c, const fos__event *e);

/* Takes a fiber that timed out off its mailbox's wait queue. */
void fos__mbox_unwait(fos_fiber *f);

#endif
