/* Names: each core's cache, and the bootstrap directory it is filled from. The
 * directory lives on one core (sim_config.dir_core); every question to it is a
 * message there and an answer back, so a cache only changes by messages. The
 * name-service fleet replaces the directory in a later layer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "channels/channel_kernel.h"
#include "mailbox/mailbox_kernel.h"
#include "runtime/core_priv.h"
#include "runtime/name_proto.h"

enum { OP_LOOKUP, OP_REGISTER, OP_UNREGISTER };

/* The request travels to the directory and back as the events' payload; it lives
 * on the asking fiber's stack, which stays parked until the answer arrives. */
typedef struct fos__name_req {
    int op;
    int res;
    char name[FOS_NAME_MAX];
    fos_addr addr;
    fos_cap cap;
    fos_fiber *f;
    uint64_t gen;
    fos_core_id from;
} fos__name_req;

/* With a name fleet: the question goes to its members, nearest first, the next
 * when one is dead or silent. */
static int ask_fleet(fos_core *c, int op, const char *name, fos_addr *a, fos_cap *cap)
{
    fos__dir *d = &c->sim->dir;
    const fos_topo *t = &c->sim->topo;
    uint32_t order[64];
    uint32_t n = d->nns < 64 ? d->nns : 64;
    for (uint32_t i = 0; i < n; i++)
        order[i] = i;
    /* Nearest first; ties to the lower member. */
    for (uint32_t i = 1; i < n; i++)
        for (uint32_t j = i; j > 0; j--) {
            uint32_t x = order[j - 1], y = order[j];
            uint32_t hx = fos_topo_hops(t, c->id, d->ns_core[x]),
                     hy = fos_topo_hops(t, c->id, d->ns_core[y]);
            if (hx < hy || (hx == hy && x < y)) break;
            order[j - 1] = y;
            order[j] = x;
        }
    int r = -EHOSTDOWN;
    for (uint32_t k = 0, busy = 0; k < n; k++) {
        fos_addr ma = d->ns_addr[order[k]];
        fos_cap mc = d->ns_cap[order[k]];
        if (op == OP_LOOKUP) {
            struct fos__ns_lookup_req q = {.name = name};
            struct fos__ns_lookup_resp p;
            r = fos__ns_lookup_call(ma, mc, &q, &p, fos_core_patience(FOS__NS_TIMEOUT));
            if (r == 0) {
                *a = (fos_addr){p.core, p.id};
                *cap = p.cap;
            }
        } else if (op == OP_REGISTER) {
            struct fos__ns_register_req q = {name, a->core, a->id, *cap};
            struct fos__ns_register_resp p;
            r = fos__ns_register_call(ma, mc, &q, &p, fos_core_patience(FOS__NS_TIMEOUT));
        } else {
            struct fos__ns_unregister_req q = {.name = name};
            struct fos__ns_unregister_resp p;
            r = fos__ns_unregister_call(ma, mc, &q, &p, fos_core_patience(FOS__NS_TIMEOUT));
        }
        /* A busy member (its queue full): ask it again a little later; a
         * kernel's question does not fail because the service is loaded. */
        if (r == -EAGAIN && busy < 16) {
            fos_sleep((fos_cycles)100 << busy++);
            k--;
            continue;
        }
        busy = 0;
        /* A dead or silent member: the next one. Anything else is the answer. */
        if (r != -EHOSTDOWN && r != -ETIMEDOUT) return r;
    }
    return r;
}

static int ask(int op, const char *name, fos_addr *a, fos_cap *cap)
{
    fos_core *c = fos__self();
    size_t len = name ? strlen(name) : 0;
    if (len == 0) return -EINVAL;
    if (len >= FOS_NAME_MAX) return -ENAMETOOLONG;
    if (c->sim->dir.nns) return ask_fleet(c, op, name, a, cap);
    fos__sync(c);
    fos__name_req rq = {.op = op, .addr = *a, .cap = *cap, .f = c->current, .from = c->id};
    memcpy(rq.name, name, len + 1);
    rq.gen = rq.f->wait_gen;
    struct sim *s = c->sim;
    fos_core *dir = s->cores[s->cfg.dir_core];
    fos_cycles lat = fos_topo_latency(&s->topo, c->id, dir->id, sizeof(fos_msg) + len);
    fos__post(c, dir, fos__sat_add(c->clock, lat), FOS__EV_NAME_REQ, 0, &rq, 0);
    rq.f->wait = FOS__W_NAME;
    rq.f->wait_obj = rq.name;
    c->clock += s->topo.costs.trap;
    c->busy += s->topo.costs.trap;
    int r = fos__block(c);
    if (r != 0) return r;
    if (rq.res == 0 && op == OP_LOOKUP) {
        *a = rq.addr;
        *cap = rq.cap;
    }
    return rq.res;
}

void fos__name_deliver(fos_core *c, const fos__event *e)
{
    fos__name_req *rq = e->p;
    if (e->kind == FOS__EV_NAME_REP) {
        fos_fiber *f = rq->f;
        if (f->state == FOS__F_WAITING && f->wait == FOS__W_NAME && f->wait_gen == rq->gen)
            fos__wake(f, 0, true);
        return;
    }
    struct sim *s = c->sim;
    fos_cycles cost = s->topo.costs.name_lookup;
    if (c->dead) {
        rq->res = -EHOSTDOWN;
    } else if (rq->op == OP_LOOKUP) {
        fos__name_entry *en = fos__names_find(&s->dir.t, rq->name);
        rq->res = en ? 0 : -ENOENT;
        if (en) {
            rq->addr = en->addr;
            rq->cap = en->cap;
        }
    } else if (rq->op == OP_REGISTER) {
        rq->res = fos__names_put(&s->dir.t, rq->name, rq->addr, rq->cap);
        cost = s->topo.costs.name_register;
    } else {
        rq->res = fos__names_find(&s->dir.t, rq->name) ? 0 : -ENOENT;
        fos__names_del(&s->dir.t, rq->name);
        cost = s->topo.costs.name_register;
    }
    fos_core *to = s->cores[rq->from];
    fos_cycles lat = fos_topo_latency(&s->topo, c->id, to->id, sizeof(fos_msg) + sizeof(fos_addr));
    fos__post(c, to, fos__sat_add(fos__sat_add(e->time, cost), lat), FOS__EV_NAME_REP, 0, rq, 0);
}

int fos_name_register(const char *name, fos_addr a, fos_cap cap)
{
    /* A binding to no core would be handed to every asker. */
    if (a.core >= fos__self()->sim->ncores) return -EINVAL;
    return ask(OP_REGISTER, name, &a, &cap);
}

int fos_name_unregister(const char *name)
{
    fos_core *c = fos__self();
    fos_addr a = FOS_ADDR_NONE;
    fos_cap cap = 0;
    int r = ask(OP_UNREGISTER, name, &a, &cap);
    if (r == 0 || r == -ENOENT) fos__names_del(&c->names, name);
    return r;
}

int fos_name_lookup(const char *name, fos_addr *a, fos_cap *cap)
{
    fos_core *c = fos__self();
    if (!a || !cap) return -EINVAL;
    fos__sync(c); /* the cache changes only by messages: take those due first */
    fos__name_entry *en = name ? fos__names_find(&c->names, name) : NULL;
    if (en) {
        *a = en->addr;
        *cap = en->cap;
        return 0;
    }
    fos_addr fa = FOS_ADDR_NONE;
    fos_cap fc = 0;
    int r = ask(OP_LOOKUP, name, &fa, &fc);
    if (r != 0) return r;
    /* A full cache only costs a later miss. */
    (void)fos__names_put(&c->names, name, fa, fc);
    *a = fa;
    *cap = fc;
    return 0;
}

int fos_name_push_invalidate(fos_core_id core, const char *name)
{
    fos_core *c = fos__self();
    struct sim *s = c->sim;
    size_t len = name ? strlen(name) : 0;
    if (core >= s->ncores || len == 0 || len >= FOS_NAME_MAX) return -EINVAL;
    fos__sync(c);
    char *copy = malloc(len + 1);
    if (!copy) return -ENOMEM;
    memcpy(copy, name, len + 1);
    fos__post_cold(c, s->cores[core],
                   fos__sat_add(c->clock, fos_topo_latency(&s->topo, c->id, core, len)),
                   FOS__EV_NAME_INVAL, 0, copy, 0);
    fos__charge(c, s->topo.costs.trap);
    return 0;
}

void fos__name_inval_deliver(fos_core *c, const fos__event *e)
{
    fos__names_del(&c->names, e->p);
    free(e->p);
}

int fos__name_boot_each(void (*fn)(void *, const char *, fos_addr, fos_cap), void *ctx)
{
    fos_core *c = fos__self();
    fos__name_table *t = &c->sim->dir.t;
    int n = 0;
    /* In slot order: the table's layout depends on names only, not addresses. */
    for (uint32_t i = 0; i < t->cap; i++)
        if (t->v[i].used) {
            fn(ctx, t->v[i].name, t->v[i].addr, t->v[i].cap);
            n++;
        }
    return n;
}

void fos_name_invalidate(const char *name)
{
    if (name) fos__names_del(&fos__self()->names, name);
}

static bool stale(int r)
{
    return r == -ENOENT || r == -EPERM || r == -EHOSTDOWN;
}

/* fos created channels for processes that talk often: after the configured
 * number of messages to a name, the pair moves to a channel, and fos_send
 * routes over it from then on. Replies come back over it to the sender's
 * reply mailbox when it gave one on this core. */
static void maybe_upgrade(fos_core *c, const char *name, fos_addr a, fos_cap cap,
                          const fos_msg *msg)
{
    uint32_t after = c->sim->cfg.chan_upgrade_after;
    fos__name_entry *en = after ? fos__names_find(&c->names, name) : NULL;
    if (!en || ++en->sent != after || fos__chan_route(c, a, cap)) return;
    fos_mbox *reply = msg->reply_to.core == c->id ? fos__mbox_find(c, msg->reply_to.id) : NULL;
    if (reply && reply->cap != msg->reply_cap) reply = NULL;
    fos_chan *ch;
    if (fos__chan_open(c, a, cap, 0, reply, &ch) == 0) c->st_chan_upgrades++;
}

int fos_send_name(const char *name, const fos_msg *msg)
{
    fos_addr a;
    fos_cap cap;
    if (!msg) return -EINVAL;
    int r = fos_name_lookup(name, &a, &cap);
    if (r != 0) return r;
    r = fos_send(a, cap, msg);
    if (r == 0) maybe_upgrade(fos__self(), name, a, cap, msg);
    if (!stale(r)) return r;
    fos_name_invalidate(name);
    fos_addr b;
    fos_cap cap2;
    int r2 = fos_name_lookup(name, &b, &cap2);
    if (r2 != 0) return r2;
    if (b.core == a.core && b.id == a.id && cap2 == cap)
        return r; /* the directory agrees: the failure is real, not staleness */
    return fos_send(b, cap2, msg);
}
