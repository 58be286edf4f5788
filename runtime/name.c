/* Names: each core's cache, and the bootstrap directory it is filled from. The
 * directory lives on one core (sim_config.dir_core); every question to it is a
 * message there and an answer back, so a cache only changes by messages. The
 * name-service fleet replaces the directory in a later layer. */
#include <errno.h>
#include <string.h>

#include "channels/channel_kernel.h"
#include "mailbox/mailbox_kernel.h"
#include "runtime/core_priv.h"

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

static int ask(int op, const char *name, fos_addr *a, fos_cap *cap)
{
    fos_core *c = fos__self();
    size_t len = name ? strlen(name) : 0;
    if (len == 0) return -EINVAL;
    if (len >= FOS_NAME_MAX) return -ENAMETOOLONG;
    fos__sync(c);
    fos__name_req rq = {.op = op, .addr = *a, .cap = *cap, .f = c->current, .from = c->id};
    memcpy(rq.name, name, len + 1);
    rq.gen = rq.f->wait_gen;
    struct sim *s = c->sim;
    fos_core *dir = s->cores[s->cfg.dir_core];
    fos_cycles lat = fos_topo_latency(&s->topo, c->id, dir->id, sizeof(fos_msg) + len);
    fos__post(c, dir, c->clock + lat, FOS__EV_NAME_REQ, 0, &rq, 0);
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
    fos__post(c, to, e->time + cost + lat, FOS__EV_NAME_REP, 0, rq, 0);
}

int fos_name_register(const char *name, fos_addr a, fos_cap cap)
{
    return ask(OP_REGISTER, name, &a, &cap);
}

int fos_name_unregister(const char *name)
{
    fos_addr a = FOS_ADDR_NONE;
    fos_cap cap = 0;
    int r = ask(OP_UNREGISTER, name, &a, &cap);
    if (r == 0 || r == -ENOENT) fos__names_del(&fos__self()->names, name);
    return r;
}

int fos_name_lookup(const char *name, fos_addr *a, fos_cap *cap)
{
    fos_core *c = fos__self();
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
