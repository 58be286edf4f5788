/* URPC channels on the virtual engine. The producer writes a message into its
 * ring and the consumer learns of it by an event one latency later; the
 * consumer copies it out and frees its slots at once, and the producer learns
 * of that release by an event one latency later too: it judges a full ring from
 * a view of the consumer that is one latency stale (DESIGN §2 rule 4). No index
 * is ever read by the other side's core, so workers could run the two sides in
 * the same window. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "channels/channel_kernel.h"
#include "mailbox/mailbox_kernel.h"

static int in_add(fos_core *c, fos__ring *r);
static void in_del(fos_core *c, const fos__ring *r);

static uint32_t slots_for(size_t bytes)
{
    return (uint32_t)((sizeof(fos__slot_hdr) + bytes + FOS_CHAN_SLOT_DATA - 1) /
                      FOS_CHAN_SLOT_DATA);
}

/* Where slot number `at` (a running count) lies in the ring: one division per
 * message, not one per copy, since it shows on the round trip. */
static uint32_t ring_index(const fos__ring *r, uint64_t at)
{
    return (uint32_t)(at % r->nslots);
}

/* The slot `k` places after index i. */
static fos__slot *ring_slot(const fos__ring *r, uint32_t i, size_t k)
{
    size_t j = i + k;
    return &r->slots[j < r->nslots ? j : j - r->nslots];
}

/* Copies between a buffer and the message bytes starting at slot index `at`,
 * from byte `off` of the message's data: the data of successive slots, skipping
 * their control words, wrapping at the ring's end. */
static void ring_copy_in(fos__ring *r, uint32_t at, const void *src, size_t n, size_t off)
{
    const unsigned char *s = src;
    while (n) {
        fos__slot *slot = ring_slot(r, at, off / FOS_CHAN_SLOT_DATA);
        size_t in = off % FOS_CHAN_SLOT_DATA;
        size_t chunk = FOS_CHAN_SLOT_DATA - in < n ? FOS_CHAN_SLOT_DATA - in : n;
        memcpy(slot->data + in, s, chunk);
        s += chunk;
        off += chunk;
        n -= chunk;
    }
}

static void ring_copy_out(const fos__ring *r, uint32_t at, void *dst, size_t n, size_t off)
{
    unsigned char *d = dst;
    while (n) {
        const fos__slot *slot = ring_slot(r, at, off / FOS_CHAN_SLOT_DATA);
        size_t in = off % FOS_CHAN_SLOT_DATA;
        size_t chunk = FOS_CHAN_SLOT_DATA - in < n ? FOS_CHAN_SLOT_DATA - in : n;
        memcpy(d, slot->data + in, chunk);
        d += chunk;
        off += chunk;
        n -= chunk;
    }
}

fos__ring *fos__chan_route(fos_core *c, fos_addr dst, fos_cap cap)
{
    for (uint32_t i = 0; i < c->nchan_out; i++) {
        fos__chan_out *o = &c->chan_out[i];
        if (o->dst.core == dst.core && o->dst.id == dst.id)
            return o->ring->cons_cap == cap && !o->ring->closed ? o->ring : NULL;
    }
    return NULL;
}

static int out_add(fos_core *c, fos_addr dst, fos__ring *r)
{
    for (uint32_t i = 0; i < c->nchan_out; i++) {
        if (c->chan_out[i].dst.core == dst.core && c->chan_out[i].dst.id == dst.id) {
            c->chan_out[i].ring = r; /* a newer channel to the same mailbox wins */
            return 0;
        }
    }
    if (c->nchan_out == c->chan_out_cap) {
        uint32_t ncap = c->chan_out_cap ? c->chan_out_cap * 2 : 4;
        fos__chan_out *nv = realloc(c->chan_out, sizeof(*nv) * ncap);
        if (!nv) return -ENOMEM;
        c->chan_out = nv;
        c->chan_out_cap = ncap;
    }
    c->chan_out[c->nchan_out++] = (fos__chan_out){dst, r};
    return 0;
}

static void out_del(fos_core *c, const fos_chan *ch)
{
    for (uint32_t i = 0; i < c->nchan_out;) {
        if (c->chan_out[i].ring->chan == ch)
            c->chan_out[i] = c->chan_out[--c->nchan_out];
        else
            i++;
    }
}

bool fos__ring_fits(const fos__ring *r, const fos_msg *msg)
{
    return slots_for(fos_msg_size(msg)) <= r->nslots;
}

int fos__ring_send(fos_core *c, fos__ring *r, const fos_msg *msg)
{
    struct sim *s = c->sim;
    if (r->closed) return -EPIPE;
    /* Per-sender FIFO across the two ways into one mailbox (native). */
    if (__builtin_expect(r->after.d != NULL, 0)) fos__dring_await_seen(c, &r->after);
    size_t size = fos_msg_size(msg);
    uint32_t need = slots_for(size);
    if (size > s->cfg.max_msg_bytes || need > r->nslots) return -EMSGSIZE;
    fos_cycles extra = 0;
    if (s->nrules && fos__fault_on_send(c, r->cons, msg->type, &extra)) {
        /* Lost on the way: no trap waits for an answer, so the sender cannot
         * tell; the slots were never written. */
        c->st_sent++;
        fos__sync(c);
        return 0;
    }
    /* Virtual: the view the releases brought back, one latency stale. Native:
     * the same local copy, refreshed from the consumer's index only when the
     * ring looks full, so a send rarely pulls the consumer's cache line. */
    if (s->native && r->nslots - (r->head - r->tail_seen) < need)
        r->tail_seen = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
    if (r->nslots - (r->head - r->tail_seen) < need) {
        c->st_chan_full++;
        fos__charge(c, s->topo.costs.poll);
        return -EAGAIN;
    }
    fos__slot_hdr h = {.bytes = (uint32_t)size, .nslots = need};
    uint32_t at = ring_index(r, r->head);
    /* The kernel is not involved, but the ring knows its producer. */
    fos_core_id me = c->id;
    if (need == 1) {
        /* Most messages fit one slot: three plain copies into one line. */
        unsigned char *d = r->slots[at].data;
        memcpy(d, &h, sizeof(h));
        memcpy(d + sizeof(h), msg, size);
        memcpy(d + sizeof(h) + offsetof(fos_msg, from.core), &me, sizeof(me));
    } else {
        ring_copy_in(r, at, &h, sizeof(h), 0);
        ring_copy_in(r, at, msg, size, sizeof(h));
        ring_copy_in(r, at, &me, sizeof(me), sizeof(h) + offsetof(fos_msg, from.core));
        for (uint32_t i = 1; i < need; i++)
            __atomic_store_n(&ring_slot(r, at, i)->ctl, 0, __ATOMIC_RELAXED);
    }
    /* The first slot's control word, written last, publishes the message. */
    uint64_t seq = r->seq + 1;
    __atomic_store_n(&r->seq, seq, __ATOMIC_RELAXED); /* read by fos__chans_idle */
    __atomic_store_n(&r->slots[at].ctl, seq, __ATOMIC_RELEASE);
    r->head += need;
    c->st_sent++;
    c->st_bytes += size;
    if (s->native) {
        fos__native_kick(s->cores[r->cons]);
        fos__sync(c);
        return 0;
    }
    fos_cycles when = fos__sat_add(fos__sat_add(c->clock, extra),
                                   fos_topo_chan_latency(&s->topo, c->id, r->cons, need));
    if (when < r->last_arrival) when = r->last_arrival;
    r->last_arrival = when;
    fos__post(c, s->cores[r->cons], when, FOS__EV_CHAN_MSG, 0, r, 0);
    fos__advance(c, (fos_cycles)need * s->topo.costs.chan_slot_write);
    return 0;
}

static void release(fos_core *c, fos__ring *r, uint32_t nslots, fos_cycles at)
{
    struct sim *s = c->sim;
    if (s->native) {
        /* Orders the copy out before the producer may reuse the slots. */
        __atomic_store_n(&r->tail, r->tail + nslots, __ATOMIC_RELEASE);
        return;
    }
    r->tail += nslots;
    fos__post(c, s->cores[r->prod],
              fos__sat_add(at, fos_topo_chan_latency(&s->topo, c->id, r->prod, 1)),
              FOS__EV_CHAN_REL, 0, r, r->tail);
}

int fos__ring_take(fos_core *c, fos__ring *r, fos_msg *buf, size_t bufsz)
{
    fos__slot_hdr h;
    uint32_t at = ring_index(r, r->tail);
    const unsigned char *d = r->slots[at].data;
    memcpy(&h, d, sizeof(h));
    if (h.bytes > bufsz) return -EMSGSIZE;
    if (h.nslots == 1)
        memcpy(buf, d + sizeof(h), h.bytes);
    else
        ring_copy_out(r, at, buf, h.bytes, sizeof(h));
    release(c, r, h.nslots, c->clock);
    c->st_chan_msgs++;
    c->st_chan_bytes += h.bytes;
    return 0;
}

void fos__ring_skip(fos_core *c, fos__ring *r)
{
    fos__slot_hdr h;
    ring_copy_out(r, ring_index(r, r->tail), &h, sizeof(h), 0);
    release(c, r, h.nslots, c->clock);
}

void fos__ring_charge_read(fos_core *c, const fos_msg *m)
{
    fos__advance(c, (fos_cycles)slots_for(fos_msg_size(m)) * c->sim->topo.costs.chan_slot_read);
}

static fos_chan *chan_new(fos_core *c, fos_core_id server, size_t page)
{
    struct sim *s = c->sim;
    if (page == 0) page = s->cfg.chan_page_bytes;
    /* The rings keep each side's fields on cache lines of their own. */
    fos_chan *ch = aligned_alloc(64, (sizeof(*ch) + 63) & ~(size_t)63);
    if (ch) memset(ch, 0, sizeof(*ch));
    void *a = NULL, *b = NULL;
    if (!ch || posix_memalign(&a, 4096, page) || posix_memalign(&b, 4096, page)) {
        free(a);
        free(ch);
        return NULL;
    }
    ch->client = c->id;
    ch->server = server;
    ch->fwd = (fos__ring){.slots = a,
                          .nslots = (uint32_t)(page / FOS_CHAN_SLOT),
                          .prod = c->id,
                          .cons = server,
                          .chan = ch};
    ch->rev = (fos__ring){.slots = b,
                          .nslots = (uint32_t)(page / FOS_CHAN_SLOT),
                          .prod = server,
                          .cons = c->id,
                          .chan = ch};
    /* Cores of the native engine make channels at once: a lock-free push. */
    ch->next = __atomic_load_n(&s->chans, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(&s->chans, &ch->next, ch, true, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED))
        ;
    return ch;
}

bool fos__chans_idle(struct sim *s)
{
    for (fos_chan *ch = __atomic_load_n(&s->chans, __ATOMIC_ACQUIRE); ch; ch = ch->next)
        if (__atomic_load_n(&ch->fwd.seq, __ATOMIC_ACQUIRE) !=
                __atomic_load_n(&ch->fwd.cseq, __ATOMIC_ACQUIRE) ||
            __atomic_load_n(&ch->rev.seq, __ATOMIC_ACQUIRE) !=
                __atomic_load_n(&ch->rev.cseq, __ATOMIC_ACQUIRE))
            return false;
    return true;
}

void fos__chan_free_all(struct sim *s)
{
    while (s->chans) {
        fos_chan *ch = s->chans;
        s->chans = ch->next;
        free(ch->fwd.slots);
        free(ch->rev.slots);
        free(ch);
    }
}

int fos__chan_open(fos_core *c, fos_addr dst, fos_cap cap, size_t page, fos_mbox *reply,
                   fos_chan **out)
{
    struct sim *s = c->sim;
    /* A destroyed reply mailbox is a tombstone: given slots, they would leak. */
    if (dst.core >= s->ncores || dst.core == c->id || (reply && (reply->core != c || !reply->q)))
        return -EINVAL;
    /* Bounded: the ring counts its slots in 32 bits. */
    if (page && (page < 2 * FOS_CHAN_SLOT || page % FOS_CHAN_SLOT || page > FOS_CHAN_PAGE_MAX))
        return -EINVAL;
    fos_chan *ch = chan_new(c, dst.core, page);
    if (!ch) return -ENOMEM;
    ch->fwd.cons_id = dst.id;
    ch->fwd.cons_cap = cap;
    if (reply) {
        int r = fos__mbox_reserve(reply, ch->rev.nslots);
        if (r != 0) return r;
        ch->rev.cons_id = reply->id;
        ch->rev.cons_cap = reply->cap;
    }
    /* The microkernel call: the endpoint's core checks the mailbox and its
     * capability, attaches the ring and answers. */
    /* Native: replies may come over the reverse ring as soon as the endpoint
     * has set up, before the answer is here: poll it from now on, after what
     * the reply mailbox holds already. */
    struct fos__dring *d = reply ? fos__dring_of(reply) : NULL;
    if (d && fos__dring_absorb(c, d) != 0) return -ENOMEM;
    if (in_add(c, &ch->rev) != 0) return -ENOMEM;
    fos_fiber *self = c->current;
    ch->asker = self;
    fos__post(c, s->cores[dst.core],
              fos__sat_add(c->clock, fos_topo_latency(&s->topo, c->id, dst.core, sizeof(fos_msg))),
              FOS__EV_CHAN_SETUP, 0, ch, self->wait_gen);
    c->clock += s->topo.costs.trap;
    c->busy += s->topo.costs.trap;
    self->wait = FOS__W_ACK;
    self->wait_addr = dst;
    int r = fos__block(c);
    if (r != 0) {
        ch->fwd.closed = ch->rev.closed = true;
        in_del(c, &ch->rev);
        return r;
    }
    if (out_add(c, dst, &ch->fwd) != 0) return -ENOMEM;
    *out = ch;
    return 0;
}

static void deliver_setup(fos_core *c, const fos__event *e)
{
    fos_chan *ch = e->p;
    struct sim *s = c->sim;
    fos_mbox *m = c->dead ? NULL : fos__mbox_find(c, ch->fwd.cons_id);
    int res = c->dead                      ? -EHOSTDOWN
              : !m || !m->q                ? -ENOENT
              : m->cap != ch->fwd.cons_cap ? -EPERM
                                           : 0;
    if (res == 0) res = fos__mbox_reserve(m, ch->fwd.nslots);
    if (res == 0 && ch->rev.cons_id)
        res = out_add(c, (fos_addr){ch->client, ch->rev.cons_id}, &ch->rev);
    /* What the asker wrote into the mailbox before goes before what it will
     * send over the channel. */
    struct fos__dring *d = res == 0 ? fos__dring_of(m) : NULL;
    if (d) res = fos__dring_absorb(c, d);
    /* What this core wrote into the asker's reply mailbox goes before what it
     * will send back over the channel (native). */
    if (res == 0 && ch->rev.cons_id && s->native)
        fos__dring_mark_claimed(s->cores[ch->client], ch->rev.cons_id, &ch->rev.after);
    if (res == 0) res = in_add(c, &ch->fwd);
    fos_core *cl = s->cores[ch->client];
    /* The answer wakes the asker as a send's answer would. */
    fos__post(c, cl, fos__sat_add(e->time, fos_topo_latency(&s->topo, c->id, cl->id, 0)),
              FOS__EV_ACK, res, ch->asker, e->u);
}

/* A message on r has reached its consumer core c. */
static void arrive(fos_core *c, fos__ring *r)
{
    if (c->dead) {
        c->st_dropped++;
        return;
    }
    if (r->cons_id == 0) {
        r->ready++;
        fos_fiber *w = fos__fifo_pop(&r->waiters);
        if (w) fos__wake(w, 0, false);
        return;
    }
    fos_mbox *m = fos__mbox_find(c, r->cons_id);
    if (!m || !m->q) {
        /* Its mailbox is gone: the message is lost, its slots come back. */
        c->st_dropped++;
        fos__ring_skip(c, r);
        return;
    }
    fos__mbox_chan_arrive(m, r);
}

static bool ring_has_new(const fos__ring *r)
{
    const fos__slot *s = &r->slots[r->scan % r->nslots];
    return __atomic_load_n(&s->ctl, __ATOMIC_ACQUIRE) == r->cseq + 1;
}

bool fos__chan_pending(const fos_core *c)
{
    for (uint32_t i = 0; i < c->nchan_in; i++)
        if (ring_has_new(c->chan_in[i])) return true;
    return false;
}

void fos__chan_consumer_gone(fos_core *c, uint32_t mbox_id)
{
    struct sim *s = c->sim;
    for (uint32_t i = 0; i < c->nchan_in; i++) {
        fos__ring *r = c->chan_in[i];
        if (r->gone || (mbox_id && r->cons_id != mbox_id)) continue;
        r->gone = true;
        fos__post(c, s->cores[r->prod],
                  fos__sat_add(c->clock, fos_topo_latency(&s->topo, c->id, r->prod, 0)),
                  FOS__EV_CHAN_CLOSE, 0, r->chan, 0);
    }
}

uint32_t fos__chan_poll(fos_core *c)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < c->nchan_in; i++) {
        fos__ring *r = c->chan_in[i];
        while (ring_has_new(r)) {
            fos__slot_hdr h;
            ring_copy_out(r, ring_index(r, r->scan), &h, sizeof(h), 0);
            r->scan += h.nslots;
            __atomic_store_n(&r->cseq, r->cseq + 1, __ATOMIC_RELAXED);
            arrive(c, r);
            n++;
        }
    }
    return n;
}

static int in_add(fos_core *c, fos__ring *r)
{
    if (c->nchan_in == c->chan_in_cap) {
        uint32_t ncap = c->chan_in_cap ? c->chan_in_cap * 2 : 4;
        fos__ring **nv = realloc(c->chan_in, sizeof(*nv) * ncap);
        if (!nv) return -ENOMEM;
        c->chan_in = nv;
        c->chan_in_cap = ncap;
    }
    c->chan_in[c->nchan_in++] = r;
    return 0;
}

static void in_del(fos_core *c, const fos__ring *r)
{
    for (uint32_t i = 0; i < c->nchan_in; i++)
        if (c->chan_in[i] == r) {
            c->chan_in[i] = c->chan_in[--c->nchan_in];
            return;
        }
}

void fos__chan_deliver(fos_core *c, const fos__event *e)
{
    fos__ring *r = e->p;
    switch (e->kind) {
    case FOS__EV_CHAN_MSG:
        arrive(c, r);
        break;
    case FOS__EV_CHAN_REL:
        if (e->u > r->tail_seen) r->tail_seen = e->u;
        break;
    case FOS__EV_CHAN_SETUP:
        deliver_setup(c, e);
        break;
    case FOS__EV_CHAN_CLOSE: {
        fos_chan *ch = e->p;
        fos__ring *mine = c->id == ch->client ? &ch->fwd : &ch->rev;
        mine->closed = true;
        out_del(c, ch);
        break;
    }
    }
}

/* ---- the public calls ---------------------------------------------------- */

int fos_chan_connect(const char *name, const fos_chan_opts *o, fos_chan **out)
{
    fos_core *c = fos__self();
    if (!out) return -EINVAL;
    fos_addr a;
    fos_cap cap;
    int r = fos_name_lookup(name, &a, &cap);
    if (r != 0) return r;
    fos__sync(c);
    return fos__chan_open(c, a, cap, o ? o->page_bytes : 0, o ? o->reply : NULL, out);
}

/* The ring the calling core sends on, or NULL if it is neither side. */
static fos__ring *out_ring(fos_core *c, fos_chan *ch)
{
    return c->id == ch->client ? &ch->fwd : c->id == ch->server ? &ch->rev : NULL;
}

int fos_chan_send(fos_chan *ch, const fos_msg *msg)
{
    fos_core *c = fos__self();
    fos__ring *r = ch && msg ? out_ring(c, ch) : NULL;
    if (!r) return -EINVAL;
    if (r == &ch->rev && ch->rev.cons_id == 0 && ch->rev.prod != c->id) return -EINVAL;
    fos__sync(c); /* fos_send's route gets here already synced */
    return fos__ring_send(c, r, msg);
}

int fos_chan_recv(fos_chan *ch, fos_msg *buf, size_t bufsz, fos_cycles timeout)
{
    fos_core *c = fos__self();
    if (!ch || !buf) return -EINVAL;
    fos__ring *r = c->id == ch->client ? &ch->rev : c->id == ch->server ? &ch->fwd : NULL;
    if (!r || r->cons_id != 0)
        return -EINVAL; /* its messages arrive in a mailbox: fos_recv takes them */
    fos__charge(c, c->sim->topo.costs.poll);
    fos_cycles deadline = fos__deadline(c, timeout);
    fos_fiber *self = c->current;
    while (r->ready == 0) {
        if (timeout == 0 || c->clock >= deadline) return -ETIMEDOUT;
        self->wait = FOS__W_CHAN;
        self->wait_obj = r;
        self->wait_addr = (fos_addr){r->prod, 0};
        fos__fifo_push(&r->waiters, self);
        if (deadline != FOS_CYCLES_MAX) fos__timer_arm(c, self, deadline);
        int rr = fos__block(c);
        if (rr != 0) return rr;
    }
    int rr = fos__ring_take(c, r, buf, bufsz);
    if (rr != 0) return rr;
    r->ready--;
    fos__ring_charge_read(c, buf);
    return 0;
}

int fos_chan_close(fos_chan *ch)
{
    fos_core *c = fos__self();
    fos__ring *mine = ch ? out_ring(c, ch) : NULL;
    if (!mine || mine->closed) return -EINVAL;
    fos__sync(c);
    struct sim *s = c->sim;
    /* Each side closes the direction it sends on, the other when the news
     * arrives: no core reads a flag the other writes (DESIGN §2 rule 1). */
    mine->closed = true;
    out_del(c, ch);
    fos_core_id other = c->id == ch->client ? ch->server : ch->client;
    fos__post(c, s->cores[other],
              fos__sat_add(c->clock, fos_topo_latency(&s->topo, c->id, other, 0)),
              FOS__EV_CHAN_CLOSE, 0, ch, 0);
    fos__charge(c, s->topo.costs.trap);
    return 0;
}

void fos__chan_unwait(fos_fiber *f)
{
    fos__fifo_remove(&((fos__ring *)f->wait_obj)->waiters, f);
}
