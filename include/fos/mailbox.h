/* Kernel-space mailboxes: multi-producer, single-consumer buffers in the receiving
 * core's memory, guarded by capabilities. */
#ifndef FOS_MAILBOX_H
#define FOS_MAILBOX_H

#include "fos/types.h"

typedef struct fos_mbox fos_mbox;

/* An unguessable token a sender must present to a mailbox; 0 is never issued. */
typedef uint64_t fos_cap;

/* Where a mailbox lives. id carries a generation, so an address outlives its
 * mailbox safely: a send to a destroyed mailbox gives -ENOENT. */
typedef struct fos_addr {
    fos_core_id core;
    uint32_t id;
} fos_addr;

#define FOS_ADDR_NONE ((fos_addr){FOS_CORE_NONE, 0})

/* A message: header then payload. `from.core` is set by the kernel on delivery
 * (it cannot be forged); the rest is the sender's. */
typedef struct fos_msg {
    uint32_t type;
    uint32_t len; /* payload bytes */
    fos_addr from;
    fos_addr reply_to;
    fos_cap reply_cap;
    uint64_t corr; /* correlation id of a request and its reply */
} fos_msg;

/* The payload follows the header. A message is usually declared as a struct
 * whose first member is the fos_msg, so there is no flexible array here. */
static inline void *fos_msg_data(fos_msg *m)
{
    return m + 1;
}

/* Bytes a message occupies: header plus payload. */
static inline size_t fos_msg_size(const fos_msg *m)
{
    return sizeof(fos_msg) + m->len;
}

/* Death notices: the message a core's kernel sends, as it dies, to every
 * mailbox that watches it. Its payload is the dead core's id (a uint32_t), and
 * it comes from that core. Only kernels send it: fos_send of this type gives
 * -EPERM. */
#define FOS_MSG_CORE_DEAD 0x7fffff00u

/* Asks core's kernel to send FOS_MSG_CORE_DEAD to `notify` when core dies (at
 * once if it is dead already): the perfect failure detector of crash-stop
 * faults. A message to that core; returns 0 or -EINVAL. */
int fos_core_watch(fos_core_id core, fos_addr notify, fos_cap cap);

/* Creates a mailbox of `capacity` messages on the calling core and issues its
 * capability. Returns 0, -EINVAL (capacity 0), or -ENOMEM. */
int fos_mbox_create(size_t capacity, fos_mbox **out, fos_cap *cap_out);

/* Destroys a mailbox of the calling core: queued messages are discarded and
 * fibers waiting on it return -ENOENT. The handle m must not be used again (its
 * memory is reused); the address stays safe: sends to it give -ENOENT. Returns
 * 0 or -EINVAL (not this core's). */
int fos_mbox_destroy(fos_mbox *m);

/* The mailbox's address, to hand to others. */
fos_addr fos_mbox_addr(const fos_mbox *m);

/* Marks m as the calling core's reply mailbox: fibers woken by messages arriving
 * there run before fibers woken by anything else. NULL clears it. */
int fos_mbox_set_reply(fos_mbox *m);

/* Sends msg (fos_msg_size(msg) bytes, at most the chip's max_msg_bytes) to dst.
 * A trap and, on the virtual engine, a round trip: the message reaches the
 * mailbox, is checked there at its arrival and the answer comes back. A yield
 * point. Returns 0, -ENOENT (no such mailbox), -EPERM (wrong capability),
 * -EAGAIN (mailbox full; nothing was written), -EHOSTDOWN (destination core dead),
 * -EMSGSIZE, -EINVAL. */
int fos_send(fos_addr dst, fos_cap cap, const fos_msg *msg);

/* Takes the oldest message from m (a mailbox of the calling core) into buf.
 * Polls without a trap; if empty, parks until a message arrives or `timeout`
 * cycles pass (0: don't wait; FOS_CYCLES_MAX, or any timeout that would end
 * past the end of time: wait forever). Returns 0,
 * -ETIMEDOUT, -EMSGSIZE (bufsz too small; the message stays queued), -ENOENT
 * (mailbox destroyed), -EINVAL. */
int fos_recv(fos_mbox *m, fos_msg *buf, size_t bufsz, fos_cycles timeout);

/* Messages queued in m now: from a fiber of m's own core (anything else would
 * read another core's memory within a window), or from the harness outside a
 * run. From a fiber it costs a poll (the cost table's `poll`), as fos_recv's
 * look does, so a loop that polls the count waits in simulated time; it is a
 * yield point, as every call that costs time is. Returns the count, -ENOENT
 * (mailbox destroyed, or its core died) or -EINVAL. */
int fos_mbox_count(const fos_mbox *m);

#endif
