/* What mailbox/ offers the rest of the microkernel. */
#ifndef FOS_MAILBOX_KERNEL_H
#define FOS_MAILBOX_KERNEL_H

#include "runtime/core_priv.h"

struct fos_mbox {
    fos_core *core;
    uint32_t id;
    uint32_t capacity, count, head;
    fos_cap cap;
    fos__kmsg **ring;
    fos__fifo waiters; /* fibers parked in fos_recv, woken in arrival order */
};

/* A message reaches core c's memory (event e, payload a fos__kmsg): checked and
 * queued or refused there, and the answer posted back to the sender. */
void fos__mbox_arrive(fos_core *c, const fos__event *e);

/* Takes a fiber that timed out off its mailbox's wait queue. */
void fos__mbox_unwait(fos_fiber *f);

#endif
