/* User-space channels (URPC): one shared page per direction between two cores,
 * used as a ring of 64-byte slots; one producer, one consumer, no lock, no trap.
 * Set up through the microkernel between a caller and a named endpoint (a
 * mailbox). Messages sent to the endpoint over the channel arrive in its mailbox
 * like any other: fos_recv takes them, in arrival order. Once a core has a
 * channel to a mailbox, fos_send to that mailbox uses it. */
#ifndef FOS_CHANNEL_H
#define FOS_CHANNEL_H

#include "fos/mailbox.h"

/* The largest page a channel takes, per direction. */
#define FOS_CHAN_PAGE_MAX (1u << 20)

typedef struct fos_chan fos_chan;

typedef struct fos_chan_opts {
    size_t page_bytes; /* per direction, a multiple of 64 from 128 to FOS_CHAN_PAGE_MAX;
                        * 0 = the run's default */
    fos_mbox *reply;   /* a mailbox of the caller where the other side's messages arrive;
                        * NULL: take them with fos_chan_recv */
} fos_chan_opts;

/* Connects the calling core to the mailbox bound to name: a round trip to the
 * other core, which checks the binding's capability. Returns 0, -ENOENT (no such
 * name or mailbox), -EPERM, -EHOSTDOWN, -EINVAL, -ENOMEM. A yield point. */
int fos_chan_connect(const char *name, const fos_chan_opts *o, fos_chan **out);

/* Sends msg to the other side: writes it into the ring, as many slots as it
 * needs. Returns 0, -EAGAIN (not enough free slots, as far as the sender can
 * see: the receiver's releases reach it one latency late), -EMSGSIZE, -EPIPE
 * (closed), -EINVAL (the caller is neither side). A yield point. */
int fos_chan_send(fos_chan *c, const fos_msg *msg);

/* Takes the next message the other side sent, when this side has no reply
 * mailbox (otherwise fos_recv on that mailbox takes them: -EINVAL). Parks up to
 * timeout cycles. Returns 0, -ETIMEDOUT, -EMSGSIZE (stays queued), -EINVAL. */
int fos_chan_recv(fos_chan *c, fos_msg *buf, size_t bufsz, fos_cycles timeout);

/* Tears the channel down for both sides (the other side learns one latency
 * later); messages already sent still arrive. fos_send to the endpoint goes
 * through the mailbox again. The channel's memory lives until the run ends.
 * Returns 0 or -EINVAL. */
int fos_chan_close(fos_chan *c);

#endif
