/* Kernel-space mailboxes. A mailbox lives in its core's memory; a send is a trap
 * whose message travels to that memory, is checked there at its arrival time
 * (existence, capability, room) and whose answer travels back (DESIGN §2 rule 4).
 * So a sender learns -EAGAIN without ever reading the receiver's state. On the
 * native engine the trap writes into that memory itself (deposit.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channels/channel_kernel.h"
#include "mailbox/mailbox_kernel.h"

#define SLOT_BITS 16
#define SLOT_MASK ((1u << SLOT_BITS) - 1)

fos_mbox *fos__mbox_find(const fos_core *c, uint32_t id)
{
    uint32_t slot = id & SLOT_MASK;
    if (slot >= c->nmbox) return NULL;
    fos_mbox *m = c->mbox[slot];
    return m && m->id == id ? m : NULL;
}

static int grow_table(fos_core *c)
{
    uint32_t ncap = c->mbox_cap ? c->mbox_cap * 2 : 8;
    if (ncap > (1u << SLOT_BITS)) return -ENOMEM;
    fos_mbox **nv = fos__calloc(c, sizeof(*nv) * ncap);
    uint32_t *nf = fos__alloc(c, sizeof(*nf) * ncap);
    if (!nv || !nf) {
        fos__free(c, nv);
        fos__free(c, nf);
        return -ENOMEM;
    }
    if (c->nmbox) memcpy(nv, c->mbox, sizeof(*nv) * c->nmbox);
    if (c->nmbox_free) memcpy(nf, c->mbox_free, sizeof(*nf) * c->nmbox_free);
    fos__free(c, c->mbox);
    fos__free(c, c->mbox_free);
    c->mbox = nv;
    c->mbox_free = nf;
    c->mbox_cap = ncap;
    return 0;
}

int fos__mbox_new(fos_core *c, size_t capacity, fos_mbox **out, fos_cap *cap)
{
    if (capacity == 0 || capacity > INT32_MAX) return -EINVAL;
    fos_mbox *m = fos__calloc(c, sizeof(*m));
    if (!m) return -ENOMEM;
    fos__mentry *q = capacity <= FOS__MBOX_INLINE ? m->inl : fos__alloc(c, sizeof(*q) * capacity);
    if (!q) goto nomem;
    uint32_t slot;
    if (c->nmbox_free) {
        slot = c->mbox_free[--c->nmbox_free];
    } else {
        if (c->nmbox == c->mbox_cap && grow_table(c) != 0) goto nomem;
        slot = c->nmbox++;
    }
    /* The generation in the high bits changes on every reuse of a slot, so an old
     * address finds -ENOENT rather than its successor. */
    static const uint32_t gen_one = 1u << SLOT_BITS;
    uint32_t prev = c->mbox[slot] ? c->mbox[slot]->id : slot;
    m->id = ((prev & ~SLOT_MASK) + gen_one) | slot;
    m->core = c;
    m->capacity = (uint32_t)capacity;
    m->qcap = (uint32_t)capacity;
    m->q = q;
    do
        m->cap = fos_rng_next(&c->rng_cap);
    while (m->cap == 0);
    if (c->sim->native && fos__dring_new(c, m) != 0) {
        /* Gives the slot back untouched. */
        if (slot == c->nmbox - 1 && !c->mbox[slot])
            c->nmbox--;
        else
            c->mbox_free[c->nmbox_free++] = slot;
        goto nomem;
    }
    if (c->hot_mbox && c->hot_mbox == c->mbox[slot]) c->hot_mbox = NULL;
    fos__free(c, c->mbox[slot]); /* the tombstone of the slot's previous mailbox */
    c->mbox[slot] = m;
    *out = m;
    if (cap) *cap = m->cap;
    return 0;
nomem:
    if (q != m->inl) fos__free(c, q);
    fos__free(c, m);
    return -ENOMEM;
}

void fos__mbox_free_q(fos_core *c, fos_mbox *m)
{
    if (m->q != m->inl) fos__free(c, m->q);
    m->q = NULL;
}

int fos_mbox_create(size_t capacity, fos_mbox **out, fos_cap *cap_out)
{
    fos_core *c = fos__self();
    if (!out) return -EINVAL;
    fos__sync(c);
    int r = fos__mbox_new(c, capacity, out, cap_out);
    if (r == 0) fos__charge(c, c->sim->topo.costs.trap);
    return r;
}

/* Discards m's queue. release: channel messages give their slots back to their
 * producers (not at teardown, when nothing runs any more). */
static void drain(fos_core *c, fos_mbox *m, bool count, bool release)
{
    struct fos__dring *d = release ? fos__dring_of(m) : NULL;
    if (d) fos__dring_close(c, d, count);
    while (m->count) {
        fos__mentry e = m->q[m->head];
        fos__mbox_pop(m);
        if (e & 2) continue; /* in the mailbox's ring: closed (and counted) above */
        if (e & 1) {
            if (release) fos__ring_skip(c, (struct fos__ring *)(e & ~(uintptr_t)1));
        } else {
            fos__kmsg_put(c, (fos__kmsg *)e);
        }
        if (count) c->st_dropped++;
    }
    m->nkmsg = 0;
}

/* Leaves a tombstone in the slot: the struct keeps its id so the next mailbox
 * there gets a new generation, and a stale handle reads as destroyed. */
static void retire(fos_core *c, fos_mbox *m)
{
    fos_fiber *f;
    while ((f = fos__fifo_pop(&m->waiters)))
        fos__wake(f, -ENOENT, false);
    fos__mbox_free_q(c, m);
    m->capacity = 0;
    m->qcap = 0;
    m->cap = 0;
    c->mbox_free[c->nmbox_free++] = m->id & SLOT_MASK;
    if (c->reply_mbox == m) c->reply_mbox = NULL;
}

int fos_mbox_destroy(fos_mbox *m)
{
    fos_core *c = fos__self();
    if (!m || m->core != c || !m->q) return -EINVAL;
    fos__sync(c);
    fos__chan_consumer_gone(c, m->id);
    drain(c, m, false, true);
    retire(c, m);
    fos__charge(c, c->sim->topo.costs.trap);
    return 0;
}

void fos__mbox_drop_all(fos_core *c, bool count)
{
    for (uint32_t i = 0; i < c->nmbox; i++) {
        fos_mbox *m = c->mbox[i];
        if (m && m->q) {
            drain(c, m, count, true);
            retire(c, m);
        }
    }
}

void fos__mbox_free_all(fos_core *c)
{
    /* Teardown: no fiber will run again, so waiters are not woken. */
    for (uint32_t i = 0; i < c->nmbox; i++) {
        fos_mbox *m = c->mbox[i];
        if (!m) continue;
        if (m->q) {
            drain(c, m, false, false);
            fos__mbox_free_q(c, m);
        }
        fos__free(c, m);
    }
    fos__dring_free_all(c);
    fos__free(c, c->mbox);
    fos__free(c, c->mbox_free);
    c->hot_mbox = NULL;
    c->mbox = NULL;
    c->mbox_free = NULL;
    c->nmbox = c->mbox_cap = c->nmbox_free = 0;
}

fos_addr fos_mbox_addr(const fos_mbox *m)
{
    return m ? (fos_addr){m->core->id, m->id} : FOS_ADDR_NONE;
}

int fos_mbox_set_reply(fos_mbox *m)
{
    fos_core *c = fos__self();
    if (m && (m->core != c || !m->q)) return -EINVAL;
    fos__sync(c);
    c->reply_mbox = m;
    return 0;
}

void fos__mbox_mark_reply(fos_mbox *m)
{
    m->reply = 1;
}

int fos_mbox_count(const fos_mbox *m)
{
    if (!m || (fos__cur && fos__cur != m->core)) return -EINVAL;
    /* A look costs a poll, as fos_recv's does: a fiber that polls in a loop
     * moves its clock on, so the window ends and the message it waits for can
     * come (a free look would hold simulated time still for good). */
    if (fos__cur) fos__charge(fos__cur, fos__cur->sim->topo.costs.poll);
    if (!m->q) return -ENOENT; /* a tombstone: 0 would read as "empty" */
    struct fos__dring *d = fos__dring_of(m);
    return (int)(m->count + (d ? fos__dring_count(d) : 0));
}

void fos__mbox_arrive(fos_core *c, const fos__event *e)
{
    fos__kmsg *k = e->p;
    struct sim *s = c->sim;
    fos_core_id src = (fos_core_id)(e->key >> FOS__SEQ_BITS);
    fos_mbox *m = c->dead ? NULL : fos__mbox_find(c, k->dst_id);
    int res = 0;
    if (c->dead) {
        res = -EHOSTDOWN;
        c->st_dropped++;
    } else if (!m || !m->q) {
        res = -ENOENT;
        c->st_noent++;
    } else if (m->cap != k->cap) {
        res = -EPERM;
        c->st_perm++;
    } else if (m->nkmsg == m->capacity) {
        res = -EAGAIN;
        c->st_full++;
    }
    if (res == 0) {
        fos__mbox_push(m, (fos__mentry)k);
        m->nkmsg++;
        c->st_recv++;
        c->st_bytes_in += fos_msg_size(&k->msg);
        fos_fiber *w = fos__fifo_pop(&m->waiters);
        if (w) fos__wake(w, 0, m->reply || m == c->reply_mbox);
    }
    fos_core *sc = s->cores[src];
    fos_cycles lat = fos_topo_latency(&s->topo, c->id, src, 0);
    /* A kernel's own message has nobody waiting for the answer. */
    if (k->sender)
        fos__post(c, sc, fos__sat_add(e->time, lat), FOS__EV_ACK, res, k->sender, k->sender_gen);
    if (res != 0) fos__kmsg_put(c, k);
}

void fos__mbox_unwait(fos_fiber *f)
{
    fos_mbox *m = (fos_mbox *)f->wait_obj;
    fos__fifo_remove(&m->waiters, f);
}

__attribute__((noinline)) void fos__kernel_send(fos_core *c, fos_addr dst, fos_cap cap,
                                                const fos_msg *msg)
{
    struct sim *s = c->sim;
    size_t size = fos_msg_size(msg);
    if (dst.core >= s->ncores) return;
    fos__kmsg *k = fos__kmsg_get_cold(c, size);
    if (!k) {
        fprintf(stderr, "fossim: core %u: out of memory for a kernel message\n", c->id);
        abort();
    }
    memcpy(&k->msg, msg, size);
    k->msg.from.core = c->id;
    k->dst_id = dst.id;
    k->cap = cap;
    k->sender = NULL;
    k->sender_gen = 0;
    fos__post_cold(c, s->cores[dst.core],
                   fos__sat_add(c->clock, fos_topo_latency(&s->topo, c->id, dst.core, size)),
                   FOS__EV_MSG, 0, k, dst.id);
}

int fos_send(fos_addr dst, fos_cap cap, const fos_msg *msg)
{
    fos_core *c = fos__self();
    struct sim *s = c->sim;
    if (!msg || dst.core >= s->ncores) return -EINVAL;
    /* Death notices are the kernels' to send. */
    if (msg->type == FOS_MSG_CORE_DEAD) return -EPERM;
    fos__sync(c);
    fos__ring *route = NULL;
    if (__builtin_expect(c->nchan_out != 0, 0)) {
        /* A channel to that mailbox carries it without a trap, if it fits. */
        route = fos__chan_route(c, dst, cap);
        if (route && fos__ring_fits(route, msg)) return fos__ring_send(c, route, msg);
    }
    size_t size = fos_msg_size(msg);
    if (size > s->cfg.max_msg_bytes) return -EMSGSIZE;
    /* Native: written straight into the mailbox's memory, unless fault rules
     * must judge it, which they do as it travels. */
    if (s->native && !s->nrules) {
        /* Too big for the channel to that mailbox: the channel's next message
         * waits until this one is seen (channel.c). */
        int r = fos__dring_send(c, s->cores[dst.core], dst.id, cap, msg, size,
                                route ? &route->after : NULL);
        /* A sender that retries a full mailbox lets its core's others run:
         * the receiver may be one of them. */
        if (r == -EAGAIN) fos_yield();
        return r;
    }
    fos__kmsg *k = fos__kmsg_get(c, size);
    if (!k) return -ENOMEM;
    memcpy(&k->msg, msg, size);
    k->msg.from.core = c->id;
    k->dst_id = dst.id;
    k->cap = cap;
    fos_fiber *self = c->current;
    k->sender = self;
    k->sender_gen = self->wait_gen;
    fos_cycles extra = 0;
    if (s->nrules && fos__fault_on_send(c, dst.core, msg->type, &extra)) {
        /* Lost on the way: no answer ever comes, so the trap times out. */
        fos__kmsg_put(c, k);
        fos__post(c, c, fos__sat_add(c->clock, s->topo.costs.send_timeout), FOS__EV_ACK, -ETIMEDOUT,
                  self, self->wait_gen);
    } else {
        fos__post(c, s->cores[dst.core],
                  fos__sat_add(fos__sat_add(c->clock, extra),
                               fos_topo_latency(&s->topo, c->id, dst.core, size)),
                  FOS__EV_MSG, 0, k, dst.id);
    }
    c->st_sent++;
    c->st_bytes += size;
    /* The core is busy for the trap and the copy; the fiber then waits for the
     * answer while others of its core may run. */
    fos_cycles busy = s->topo.costs.trap + fos_costs_copy(&s->topo.costs, size);
    c->clock += busy;
    c->busy += busy;
    self->wait = FOS__W_ACK;
    self->wait_addr = dst;
    return fos__block(c);
}

int fos_recv(fos_mbox *m, fos_msg *buf, size_t bufsz, fos_cycles timeout)
{
    fos_core *c = fos__self();
    if (!m || m->core != c || !buf) return -EINVAL;
    if (!m->q) return -ENOENT;
    c->hot_mbox = m;
    fos__charge(c, c->sim->topo.costs.poll);
    fos_cycles deadline = fos__deadline(c, timeout);
    fos_fiber *self = c->current;
    for (;;) {
        /* Native: the ring's messages come after what the queue holds (a
         * channel's set-up moves the ring into the queue). A sender that went
         * back from a channel to the mailbox wrote its channel messages first:
         * look at the channels before taking from the ring. */
        struct fos__dring *d = !m->count && c->dtab ? fos__dring_of(m) : NULL;
        if (d && fos__dring_ready(d) && !(c->nchan_in && fos__chan_poll(c) && m->count))
            return fos__dring_take(c, d, buf, bufsz);
        if (m->count) {
            fos__mentry e = m->q[m->head];
            if (e & 2) {
                int r = fos__dring_take(c, (struct fos__dring *)(e & ~(uintptr_t)2), buf, bufsz);
                if (r != 0) return r; /* -EMSGSIZE: it stays queued */
                fos__mbox_pop(m);
                return 0;
            }
            if (e & 1) {
                int r = fos__ring_take(c, (struct fos__ring *)(e & ~(uintptr_t)1), buf, bufsz);
                if (r != 0) return r; /* -EMSGSIZE: it stays queued */
                fos__mbox_pop(m);
                fos__ring_charge_read(c, buf);
                return 0;
            }
            fos__kmsg *k = (fos__kmsg *)e;
            size_t size = fos_msg_size(&k->msg);
            if (size > bufsz) return -EMSGSIZE;
            memcpy(buf, &k->msg, size);
            fos__mbox_pop(m);
            m->nkmsg--;
            fos__kmsg_put(c, k);
            fos__advance(c, fos_costs_copy(&c->sim->topo.costs, size));
            return 0;
        }
        if (timeout == 0 || c->clock >= deadline) return -ETIMEDOUT;
        self->wait = FOS__W_MBOX;
        self->wait_obj = m;
        self->wait_addr = fos_mbox_addr(m);
        fos__fifo_push(&m->waiters, self);
        if (deadline != FOS_CYCLES_MAX) fos__timer_arm(c, self, deadline);
        int r = fos__block(c);
        if (r != 0) return r; /* -ETIMEDOUT, or -ENOENT: destroyed meanwhile */
    }
}

int fos__mbox_reserve(fos_mbox *m, uint32_t slots)
{
    fos_core *c = m->core;
    /* qcap stays below 2^31, so that head + i cannot wrap (fos__mbox_slot). */
    if (slots > INT32_MAX - m->qcap) return -ENOMEM;
    uint32_t ncap = m->qcap + slots;
    fos__mentry *nq = fos__alloc(c, sizeof(*nq) * ncap);
    if (!nq) return -ENOMEM;
    for (uint32_t i = 0; i < m->count; i++)
        nq[i] = m->q[fos__mbox_slot(m, i)];
    fos__mbox_free_q(c, m);
    m->q = nq;
    m->head = 0;
    m->qcap = ncap;
    return 0;
}

void fos__mbox_chan_arrive(fos_mbox *m, struct fos__ring *ring)
{
    /* Room is certain: the queue holds a place for every slot of every ring
     * attached, and a message takes at least one slot. */
    fos__mbox_push(m, (fos__mentry)ring | 1);
    fos_fiber *w = fos__fifo_pop(&m->waiters);
    if (w) fos__wake(w, 0, m->reply || m == m->core->reply_mbox);
}
