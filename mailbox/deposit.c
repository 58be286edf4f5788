/* Native engine: a mailbox is a multi-producer ring in its core's memory, and a
 * send writes the message into it directly, as fos's trap did. The sender's
 * kernel checks the capability and the room itself, so fos_send knows its
 * answer at once: no answer travels back, and a message moves one cache line
 * (its cell) once. The receiving core polls the cells of its rings, as a
 * channel's consumer polls slots.
 *
 * The virtual engine keeps the round trip of DESIGN §2 rule 4: there a sender
 * may not read the receiver's state within a window. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "channels/channel_kernel.h"
#include "mailbox/mailbox_kernel.h"

/* A message whose payload fits beside its header lies in the cell itself;
 * a larger one in an envelope the cell points to. */
#define INLINE_PAYLOAD (DCELL_DATA - sizeof(fos_msg))

/* What a cell's sequence word holds once its sender has taken the message back
 * from a closing mailbox, or the mailbox has taken it for good (seen, or
 * dropped): no ticket reaches either. A sender may take back only a message
 * still marked with its ticket. */
#define SEQ_GONE UINT64_MAX
#define SEQ_SEEN (UINT64_MAX - 1)

#define TAB_BITS 8
#define TAB_SIZE (1u << TAB_BITS)

static struct fos__dring *lookup(const fos_core *dc, uint32_t id)
{
    uint32_t slot = id & 0xffff;
    struct fos__dring ***tab = __atomic_load_n(&dc->dtab, __ATOMIC_ACQUIRE);
    if (!tab) return NULL;
    struct fos__dring **chunk = __atomic_load_n(&tab[slot >> TAB_BITS], __ATOMIC_ACQUIRE);
    if (!chunk) return NULL;
    struct fos__dring *d = __atomic_load_n(&chunk[slot & (TAB_SIZE - 1)], __ATOMIC_ACQUIRE);
    return d && d->id == id ? d : NULL;
}

/* Tickets claimed in d so far. */
static uint64_t claimed(const struct fos__dring *d)
{
    return __atomic_load_n(&d->tail, __ATOMIC_ACQUIRE);
}

struct fos__dring *fos__dring_of(const fos_mbox *m)
{
    return m->core->dtab ? lookup(m->core, m->id) : NULL;
}

static int live_add(fos_core *c, struct fos__dring *d)
{
    if (c->ndlive == c->dlive_cap) {
        uint32_t ncap = c->dlive_cap ? 2 * c->dlive_cap : 4;
        struct fos__dring **nv = realloc(c->dlive, sizeof(*nv) * ncap);
        if (!nv) return -ENOMEM;
        c->dlive = nv;
        c->dlive_cap = ncap;
    }
    c->dlive[c->ndlive++] = d;
    return 0;
}

static void live_del(fos_core *c, const struct fos__dring *d)
{
    for (uint32_t i = 0; i < c->ndlive; i++)
        if (c->dlive[i] == d) {
            c->dlive[i] = c->dlive[--c->ndlive];
            return;
        }
}

int fos__dring_new(fos_core *c, fos_mbox *m)
{
    uint32_t slot = m->id & 0xffff;
    if (!c->dtab) {
        struct fos__dring ***tab = calloc(TAB_SIZE, sizeof(*tab));
        if (!tab) return -ENOMEM;
        __atomic_store_n(&c->dtab, tab, __ATOMIC_RELEASE);
    }
    struct fos__dring **chunk = c->dtab[slot >> TAB_BITS];
    if (!chunk) {
        chunk = calloc(TAB_SIZE, sizeof(*chunk));
        if (!chunk) return -ENOMEM;
        __atomic_store_n(&c->dtab[slot >> TAB_BITS], chunk, __ATOMIC_RELEASE);
    }
    uint64_t ncells = 1;
    while (ncells < m->capacity)
        ncells <<= 1;
    struct fos__dring *d = NULL;
    void *cells = NULL;
    if (posix_memalign((void **)&d, 64, sizeof(*d)) != 0) return -ENOMEM;
    if (posix_memalign(&cells, 64, ncells * sizeof(fos__dcell)) != 0) {
        free(d);
        return -ENOMEM;
    }
    memset(d, 0, sizeof(*d));
    memset(cells, 0, ncells * sizeof(fos__dcell)); /* ticket t's cell waits for t + 1 */
    d->id = m->id;
    d->capacity = m->capacity;
    d->cap = m->cap;
    d->cells = cells;
    d->mask = ncells - 1;
    d->m = m;
    if (live_add(c, d) != 0) {
        free(cells);
        free(d);
        return -ENOMEM;
    }
    /* The slot's previous ring stays readable: a sender may still hold it. */
    struct fos__dring *old = chunk[slot & (TAB_SIZE - 1)];
    if (old) {
        old->retired_next = c->dretired;
        c->dretired = old;
    }
    __atomic_store_n(&chunk[slot & (TAB_SIZE - 1)], d, __ATOMIC_RELEASE);
    return 0;
}

/* Whether dc is dead for a sender: it died, or the time of its kill has come
 * (its thread may not have run the kill yet, but time is the same TSC for all). */
static bool dead(fos_core *c, const fos_core *dc)
{
    return __atomic_load_n(&dc->dead, __ATOMIC_ACQUIRE) ||
           (dc->kill_at != FOS_CYCLES_MAX && fos__clock_tsc(c) >= dc->kill_at);
}

/* The answer for a mailbox that is gone: its core died, or it was destroyed
 * (or never made). */
static int refused(fos_core *c, const fos_core *dc)
{
    if (dead(c, dc)) {
        c->st_dropped++;
        return -EHOSTDOWN;
    }
    c->st_noent++;
    return -ENOENT;
}

int fos__dring_send(fos_core *c, fos_core *dc, uint32_t id, fos_cap cap, const fos_msg *msg,
                    size_t size, fos__dring_mark *mark)
{
    /* The sender counts every attempt, as a trap would. */
    c->st_sent++;
    c->st_bytes += size;
    struct fos__dring *d = lookup(dc, id);
    if (!d || dead(c, dc) || __atomic_load_n(&d->closed, __ATOMIC_ACQUIRE)) return refused(c, dc);
    if (d->cap != cap) {
        c->st_perm++;
        return -EPERM;
    }
    fos__kmsg *k = NULL;
    if (msg->len > INLINE_PAYLOAD) {
        k = fos__kmsg_get(c, size);
        if (!k) return -ENOMEM;
        memcpy(&k->msg, msg, size);
        k->msg.from.core = c->id;
    }
    /* A ticket, as the inbox's: room is judged from the consumer's head, read
     * only when the ring looks full. */
    uint64_t pos = __atomic_load_n(&d->tail, __ATOMIC_RELAXED);
    for (;;) {
        if (pos - __atomic_load_n(&d->head_seen, __ATOMIC_ACQUIRE) >= d->capacity) {
            uint64_t head = __atomic_load_n(&d->head, __ATOMIC_ACQUIRE);
            __atomic_store_n(&d->head_seen, head, __ATOMIC_RELEASE);
            /* A stale tail can lie behind head: full only by the tail of now. */
            uint64_t now = __atomic_load_n(&d->tail, __ATOMIC_RELAXED);
            if (now != pos) {
                pos = now;
                continue;
            }
            if (pos - head >= d->capacity) {
                if (k) fos__kmsg_put(c, k);
                c->st_full++;
                return -EAGAIN;
            }
        }
        if (__atomic_compare_exchange_n(&d->tail, &pos, pos + 1, true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            break;
    }
    fos__dcell *cell = &d->cells[pos & d->mask];
    if (k) {
        memcpy(cell->data, msg, sizeof(fos_msg));
        memcpy(cell->data + sizeof(fos_msg), &k, sizeof(k));
    } else {
        memcpy(cell->data, msg, size);
    }
    memcpy(cell->data + offsetof(fos_msg, from.core), &c->id, sizeof(c->id));
    __atomic_store_n(&cell->seq, pos + 1, __ATOMIC_RELEASE);
    /* One fence serves two handshakes: with a closing ring (it sets `closed`
     * and then takes what is published) and with a consumer going to sleep. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(&d->closed, __ATOMIC_ACQUIRE)) {
        uint64_t want = pos + 1;
        /* Whoever takes the cell back owns the message: if we do, it was
         * never delivered and the send fails. */
        if (__atomic_compare_exchange_n(&cell->seq, &want, SEQ_GONE, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            if (k) fos__kmsg_put(c, k);
            return refused(c, dc);
        }
    }
    fos__inbox *ib = dc->inbox;
    if (__atomic_load_n(&ib->sleeping, __ATOMIC_RELAXED)) {
        __atomic_fetch_add(&ib->bell, 1, __ATOMIC_RELEASE);
        fos__native_wake(dc);
    }
    __atomic_store_n(&c->dsent, c->dsent + 1, __ATOMIC_RELAXED);
    if (mark) *mark = (fos__dring_mark){d, pos};
    return 0;
}

static bool published(const struct fos__dring *d, uint64_t t)
{
    return __atomic_load_n(&d->cells[t & d->mask].seq, __ATOMIC_ACQUIRE) == t + 1;
}

/* The size of the message in ticket t's cell. */
static size_t cell_size(const struct fos__dring *d, uint64_t t)
{
    uint32_t len;
    memcpy(&len, d->cells[t & d->mask].data + offsetof(fos_msg, len), sizeof(len));
    return sizeof(fos_msg) + len;
}

/* Counts the next unseen message as received; wake: hand it to a waiter. From
 * now on the mailbox owns it: its sender can no longer take it back. No CAS is
 * needed: a sender tries only once it has read `closed`, which this core sets
 * after this store. */
static void see(fos_core *c, struct fos__dring *d, bool wake)
{
    c->st_recv++;
    c->st_bytes_in += cell_size(d, d->scan);
    __atomic_store_n(&d->cells[d->scan & d->mask].seq, SEQ_SEEN, __ATOMIC_RELAXED);
    /* Published for senders that wait for a message of theirs to be seen. */
    __atomic_store_n(&d->scan, d->scan + 1, __ATOMIC_RELEASE);
    __atomic_store_n(&c->dseen, c->dseen + 1, __ATOMIC_RELAXED);
    if (!wake) return;
    fos_mbox *m = d->m;
    fos_fiber *w = fos__fifo_pop(&m->waiters);
    if (w) fos__wake(w, 0, m->reply || m == c->reply_mbox);
}

uint32_t fos__dring_poll(fos_core *c)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < c->ndlive; i++) {
        struct fos__dring *d = c->dlive[i];
        if (d->absorb) {
            /* Into the queue, after any channel message written before it.
             * (Never counted by the loop below: what is seen here must get its
             * place in the queue as it is seen.) */
            if (!published(d, d->scan)) continue;
            uint64_t scan = d->scan;
            if (fos__dring_absorb(c, d) != 0) {
                fprintf(stderr, "fossim: core %u: out of memory queueing a message\n", c->id);
                abort();
            }
            n += (uint32_t)(d->scan - scan);
            continue;
        }
        while (published(d, d->scan)) {
            see(c, d, true);
            n++;
        }
    }
    return n;
}

void fos__dring_await_seen(fos_core *c, fos__dring_mark *mark)
{
    struct fos__dring *d = mark->d;
    mark->d = NULL;
    /* As a fiber, not as the core: the core goes on polling, so two cores
     * that wait for each other to see something both see it. */
    while (__atomic_load_n(&d->scan, __ATOMIC_ACQUIRE) <= mark->ticket &&
           !__atomic_load_n(&d->closed, __ATOMIC_ACQUIRE) &&
           !__atomic_load_n(&c->sim->stop, __ATOMIC_ACQUIRE))
        fos_yield();
}

void fos__dring_mark_claimed(const fos_core *dc, uint32_t id, fos__dring_mark *mark)
{
    struct fos__dring *d = dc->dtab ? lookup(dc, id) : NULL;
    uint64_t tail = d ? claimed(d) : 0;
    if (tail) *mark = (fos__dring_mark){d, tail - 1};
}

void fos__dring_settle(fos_core *c)
{
    for (uint32_t i = 0; i < c->ndlive; i++)
        while (published(c->dlive[i], c->dlive[i]->scan))
            see(c, c->dlive[i], false);
}

bool fos__dring_pending(const fos_core *c)
{
    for (uint32_t i = 0; i < c->ndlive; i++)
        if (published(c->dlive[i], c->dlive[i]->scan)) return true;
    return false;
}

bool fos__dring_ready(const struct fos__dring *d)
{
    return d->head < d->scan || published(d, d->head);
}

/* Waits for ticket t's sender, which has claimed it, to write it. */
static void await(const struct fos__dring *d, uint64_t t)
{
    for (unsigned spins = 0; !published(d, t); spins++)
        if (spins % 1024 == 1023) sched_yield();
}

static int absorb_upto(fos_core *c, struct fos__dring *d, uint64_t upto)
{
    fos_mbox *m = d->m;
    if (!m->q || d->closed) return 0;
    if (!d->absorb) {
        /* The queue gets room for a place per ticket the ring can hold. */
        int r = fos__mbox_reserve(m, d->capacity);
        if (r != 0) return r;
        d->absorb = true;
    }
    /* The messages stay in their cells (so the room senders see is still the
     * mailbox's): the queue gets a place that says "the ring's next". */
    uint64_t t = d->queued > d->head ? d->queued : d->head;
    for (; t < upto; t++) {
        if (t >= d->scan) {
            await(d, t);
            see(c, d, true);
        }
        fos__mbox_push(m, (fos__mentry)d | 2);
    }
    if (d->queued < t) d->queued = t;
    return 0;
}

int fos__dring_absorb(fos_core *c, struct fos__dring *d)
{
    /* The tail is read before the channels are polled: a message claimed after
     * that may follow a channel message its sender wrote first, so it waits for
     * the next poll. */
    uint64_t upto = claimed(d);
    if (c->nchan_in) fos__chan_poll(c);
    return absorb_upto(c, d, upto);
}

uint32_t fos__dring_count(const struct fos__dring *d)
{
    /* Those with a place in the queue are counted there. */
    uint64_t from = d->queued > d->head ? d->queued : d->head;
    uint64_t t = d->scan > from ? d->scan : from;
    while (published(d, t))
        t++;
    return (uint32_t)(t - from);
}

int fos__dring_take(fos_core *c, struct fos__dring *d, fos_msg *buf, size_t bufsz)
{
    uint64_t t = d->head;
    fos__dcell *cell = &d->cells[t & d->mask];
    size_t size = cell_size(d, t);
    if (size > bufsz) return -EMSGSIZE; /* it stays queued */
    if (d->scan == t) see(c, d, false);
    if (size - sizeof(fos_msg) > INLINE_PAYLOAD) {
        fos__kmsg *k;
        memcpy(&k, cell->data + sizeof(fos_msg), sizeof(k));
        memcpy(buf, &k->msg, size);
        fos__kmsg_put(c, k);
    } else {
        memcpy(buf, cell->data, size);
    }
    /* Orders the copy out before a producer may reuse the cell. */
    __atomic_store_n(&d->head, t + 1, __ATOMIC_RELEASE);
    if (d->queued < t + 1) d->queued = t + 1;
    fos__advance(c, fos_costs_copy(&c->sim->topo.costs, size));
    return 0;
}

/* Frees what the message of ticket t owns. */
static void discard(fos_core *c, struct fos__dring *d, uint64_t t)
{
    if (cell_size(d, t) - sizeof(fos_msg) <= INLINE_PAYLOAD) return;
    fos__kmsg *k;
    memcpy(&k, d->cells[t & d->mask].data + sizeof(fos_msg), sizeof(k));
    fos__kmsg_put(c, k);
}

void fos__dring_close(fos_core *c, struct fos__dring *d, bool count)
{
    __atomic_store_n(&d->closed, 1, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    /* Every ticket claimed before the fence is published or taken back soon;
     * later senders see `closed` and take their own cells back. */
    uint64_t tail = __atomic_load_n(&d->tail, __ATOMIC_ACQUIRE);
    for (uint64_t t = d->head; t < d->scan; t++) {
        /* Seen: the mailbox's own. */
        if (count) c->st_dropped++;
        discard(c, d, t);
    }
    for (uint64_t t = d->scan; t < tail; t++) {
        fos__dcell *cell = &d->cells[t & d->mask];
        uint64_t seq;
        for (unsigned spins = 0;
             (seq = __atomic_load_n(&cell->seq, __ATOMIC_ACQUIRE)) != t + 1 && seq != SEQ_GONE;
             spins++)
            if (spins % 1024 == 1023) sched_yield();
        uint64_t want = t + 1;
        if (seq == SEQ_GONE || !__atomic_compare_exchange_n(&cell->seq, &want, SEQ_GONE, false,
                                                            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            continue; /* its sender took it back and was refused */
        /* Never seen: balance the count the run's end compares. */
        __atomic_store_n(&c->dseen, c->dseen + 1, __ATOMIC_RELAXED);
        if (count) c->st_dropped++;
        discard(c, d, t);
    }
    __atomic_store_n(&d->head, tail, __ATOMIC_RELEASE);
    __atomic_store_n(&d->scan, tail, __ATOMIC_RELEASE);
    d->queued = tail;
    live_del(c, d);
}

static void ring_free(fos_core *c, struct fos__dring *d)
{
    /* The run is over: what was published and never taken still owns its
     * envelope. */
    if (!d->closed) {
        uint64_t tail = __atomic_load_n(&d->tail, __ATOMIC_ACQUIRE);
        for (uint64_t t = d->head; t < d->scan; t++)
            discard(c, d, t);
        for (uint64_t t = d->scan; t < tail; t++)
            if (published(d, t)) discard(c, d, t);
    }
    free(d->cells);
    free(d);
}

void fos__dring_free_all(fos_core *c)
{
    if (!c->dtab) return;
    for (uint32_t i = 0; i < TAB_SIZE; i++) {
        struct fos__dring **chunk = c->dtab[i];
        if (!chunk) continue;
        for (uint32_t j = 0; j < TAB_SIZE; j++)
            if (chunk[j]) ring_free(c, chunk[j]);
        free(chunk);
    }
    free(c->dtab);
    c->dtab = NULL;
    while (c->dretired) {
        struct fos__dring *d = c->dretired;
        c->dretired = d->retired_next;
        ring_free(c, d);
    }
    free(c->dlive);
    c->dlive = NULL;
    c->ndlive = c->dlive_cap = 0;
}
