/* What channels/ offers the rest of the microkernel: the rings, their events,
 * and the per-core table of channels a core sends on. */
#ifndef FOS_CHANNEL_KERNEL_H
#define FOS_CHANNEL_KERNEL_H

#include "runtime/core_priv.h"

#define FOS_CHAN_SLOT 64
#define FOS_CHAN_SLOT_DATA (FOS_CHAN_SLOT - 8)

/* A slot: 56 bytes of message and a control word, as in Barrelfish's UMP. The
 * control word of a message's first slot holds the producer's message number,
 * written last: that is what a polling consumer waits for. A message's other
 * slots get 0 there, so no stale word can pass for a new message. */
typedef struct fos__slot {
    unsigned char data[FOS_CHAN_SLOT_DATA];
    uint64_t ctl; /* atomic */
} fos__slot;

_Static_assert(sizeof(fos__slot) == FOS_CHAN_SLOT, "a slot is one cache line");

/* The start of a message's first slot: then the message, over as many slots'
 * data as it needs. */
typedef struct fos__slot_hdr {
    uint32_t bytes;  /* of the message */
    uint32_t nslots; /* slots it takes */
} fos__slot_hdr;

/* One direction of a channel. The producer's and the consumer's indexes are
 * written only by their own core; each learns the other's through events. */
typedef struct fos__ring {
    /* Set up once, read by both sides. */
    fos__slot *slots;
    uint32_t nslots;
    fos_core_id prod, cons;
    uint32_t cons_id; /* consumer mailbox id, or 0: taken by fos_chan_recv */
    fos_cap cons_cap; /* what a fos_send to that mailbox must present to use the ring */
    struct fos_chan *chan;
    /* Producer side, on lines of its own: on the native engine the two sides
     * are different CPUs, and a shared line would bounce on every message. */
    _Alignas(64) bool closed; /* this direction no longer carries messages */
    uint64_t head;            /* slots written */
    uint64_t tail_seen;       /* the consumer's releases, as last heard of (native: as
                               * last read) */
    uint64_t seq;
    fos_cycles last_arrival; /* per-sender FIFO: no message overtakes the one before */
    fos__dring_mark after;   /* native: a message too big for the ring went to the
                              * mailbox; the next one here waits until it is seen */
    /* Consumer side. */
    _Alignas(64) uint64_t tail; /* slots released (native: atomic, read by the producer) */
    uint64_t scan;              /* native: where the next unseen message starts */
    uint64_t cseq;              /* native: messages seen */
    uint32_t ready;             /* arrived, not yet taken (fos_chan_recv mode) */
    bool gone;                  /* its consumer died or destroyed its mailbox; producer told */
    fos__fifo waiters;
} fos__ring;

struct fos_chan {
    fos__ring fwd; /* client -> server */
    fos__ring rev; /* server -> client */
    fos_core_id client, server;
    fos_fiber *asker;      /* the client fiber waiting for the set-up's answer */
    struct fos_chan *next; /* every channel of the run, freed at its end */
};

/* The core's outgoing channels, looked up by destination mailbox on fos_send. */
typedef struct fos__chan_out {
    fos_addr dst;
    fos__ring *ring;
} fos__chan_out;

/* The ring on which c sends to dst with capability cap, or NULL. */
fos__ring *fos__chan_route(fos_core *c, fos_addr dst, fos_cap cap);
/* Whether msg fits in the ring at all (it may still have to wait for room). */
bool fos__ring_fits(const fos__ring *r, const fos_msg *msg);
/* Sends over a ring from the calling core, which has passed its sync point:
 * fos_chan_send's work. */
int fos__ring_send(fos_core *c, fos__ring *r, const fos_msg *msg);
/* Copies the consumer's next message out and releases its slots. 0 or -EMSGSIZE. */
int fos__ring_take(fos_core *c, fos__ring *r, fos_msg *buf, size_t bufsz);
/* Releases the next message unread (its mailbox is going away). */
void fos__ring_skip(fos_core *c, fos__ring *r);
/* Charges the copy of a message just taken. */
void fos__ring_charge_read(fos_core *c, const fos_msg *m);
/* Native engine: looks for messages newly published in the rings c consumes,
 * and makes them arrive; returns how many. */
uint32_t fos__chan_poll(fos_core *c);
/* Native engine: whether any ring c consumes has an unseen message. */
bool fos__chan_pending(const fos_core *c);
/* Native: every channel message published has been seen by its consumer. For
 * the run's end, from the thread that watches the cores. */
bool fos__chans_idle(struct sim *s);
/* Channel events delivered on a core. */
void fos__chan_deliver(fos_core *c, const fos__event *e);
/* Takes a fiber that timed out in fos_chan_recv off its ring's wait queue. */
void fos__chan_unwait(fos_fiber *f);
/* Frees every channel of the run. */
void fos__chan_free_all(struct sim *s);
/* Opens a channel from the calling core to (dst, cap), its reverse direction
 * arriving in `reply` (may be NULL): the work of fos_chan_connect. */
int fos__chan_open(fos_core *c, fos_addr dst, fos_cap cap, size_t page, fos_mbox *reply,
                   fos_chan **out);

#endif
