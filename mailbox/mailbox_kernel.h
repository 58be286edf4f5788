/* What mailbox/ offers the rest of the microkernel. */
#ifndef FOS_MAILBOX_KERNEL_H
#define FOS_MAILBOX_KERNEL_H

#include "runtime/core_priv.h"

struct fos__ring;

/* A queue entry: a fos__kmsg*, or a fos__ring* with the low bit set for a
 * message that arrived over a channel and still lies in the channel's ring. */
typedef uintptr_t fos__mentry;

struct fos_mbox {
    fos_core *core;
    uint32_t id;
    uint32_t capacity : 31;     /* kernel messages it accepts */
    uint32_t reply : 1;         /* an RPC reply box: its fibers run before new requests
                                 * (a bit here keeps the mailbox in one cache line) */
    uint32_t nkmsg;             /* kernel messages queued */
    uint32_t count, head, qcap; /* entries queued; qcap also makes room for every
                                 * slot of the channels attached to it */
    fos_cap cap;
    fos__mentry *q;    /* NULL once destroyed */
    fos__fifo waiters; /* fibers parked in fos_recv, woken in arrival order */
};
_Static_assert(sizeof(struct fos_mbox) <= 64, "a mailbox fits one cache line");

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
