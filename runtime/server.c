/* The dispatcher: a server's mailbox served by a pool of fibers that each wait
 * on it, take one request, run its handler and reply. A handler that calls
 * other servers parks only its own fiber; the rest of the pool goes on. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "fos/rpc.h"
#include "mailbox/mailbox_kernel.h"
#include "runtime/core_priv.h"
#include "runtime/server_priv.h"

typedef struct handler_ent {
    uint32_t type;
    fos_handler h;
    int (*tramp)(fos_request *, fos__rpc_fn, void *);
    fos__rpc_fn fn;
    void *ctx;
} handler_ent;

/* A fiber of the pool and its request buffer. */
typedef struct server_fiber {
    struct fos_server *s;
    fos_msg *buf;
} server_fiber;

struct fos_server {
    struct fos_server *next; /* the core's servers, released with the core */
    fos_core *core;
    fos_addr addr; /* its mailbox: looked up, never held (mbox_of) */
    fos_cap cap;
    handler_ent *h;
    uint32_t nh, caph;
    fos_server_stats st;
    sim_hist service; /* cycles from taking a request to its answer */
    const char *name;
    server_fiber *pool; /* one allocation: the pool, then its buffers */
    uint32_t nfibers;   /* the most the pool may have */
    uint32_t started;   /* fibers made so far: the pool grows when all are busy */
    uint32_t idle;      /* fibers waiting for a request */
    const char *fname;
};

static const handler_ent *find(const fos_server *s, uint32_t type)
{
    for (uint32_t i = 0; i < s->nh; i++)
        if (s->h[i].type == type) return &s->h[i];
    return NULL;
}

static void serve(void *arg);

/* The server's mailbox, found by its address at each use rather than held: the
 * owner may destroy it under the server (fos_server_mbox hands it out), and a
 * new mailbox may then take its slot and free what a pointer would still
 * name. NULL once it is gone. */
static fos_mbox *mbox_of(const fos_server *s)
{
    fos_mbox *m = fos__mbox_find(s->core, s->addr.id);
    return m && m->q ? m : NULL;
}

/* One more fiber for the pool, if it may grow. Part of the server, like the
 * first: no spawn charge. */
static int grow(fos_server *s)
{
    if (s->started == s->nfibers) return 0;
    fos_fiber_opts fo = {.name = s->fname};
    server_fiber *sf = &s->pool[s->started];
    int r = fos__fiber_new(s->core, serve, sf, &fo, false, true, NULL);
    if (r == 0) s->started++;
    return r;
}

static void serve(void *arg)
{
    server_fiber *sf = arg;
    fos_server *s = sf->s;
    fos_msg *buf = sf->buf;
    size_t bufsz = s->core->sim->cfg.max_msg_bytes;
    fos_mbox *m;
    while ((m = mbox_of(s))) {
        s->idle++;
        int r = fos_recv(m, buf, bufsz, FOS_CYCLES_MAX);
        s->idle--;
        if (r == -ENOENT || r == -EINVAL) break; /* the mailbox is gone: the server with it */
        if (r != 0) continue;
        /* The last idle fiber took this one: the next request gets a new one,
         * up to the pool's size. */
        if (s->idle == 0 && grow(s) != 0)
            fprintf(stderr, "fossim: core %u: server %s: out of memory for a fiber\n", s->core->id,
                    s->name);
        fos_request rq = {.msg = buf, .server = s, .taken = fos_now()};
        fos_fiber *self = s->core->current;
        self->request = &rq;
        const handler_ent *h = find(s, buf->type);
        if (!h) {
            s->st.unknown_type++;
            fos_reply(&rq, -ENOSYS, NULL);
        } else if (h->tramp) {
            h->tramp(&rq, h->fn, h->ctx);
            /* The stub replies unless the request could not be unpacked. */
            if (!rq.replied) {
                s->st.malformed++;
                fos_reply(&rq, -EBADMSG, NULL);
            }
        } else {
            h->h(&rq, h->ctx);
        }
        self->request = NULL;
    }
}

int fos_server_create(const fos_server_opts *o, fos_server **out)
{
    fos_core *c = fos__self();
    size_t cap = o && o->capacity ? o->capacity : 64;
    uint32_t nf = o && o->fibers ? o->fibers : 8;
    if (!out || nf > 65536) return -EINVAL;
    /* The mailbox first: making it is a yield point, at which a run may end,
     * and nothing of the server's may be held then but what the core frees. */
    int r = 0;
    fos_mbox *m = NULL;
    fos_cap mcap = 0;
    bool own = !(o && o->mbox);
    if (!own) {
        m = o->mbox;
        if (fos_mbox_addr(m).core != c->id) return -EINVAL;
        /* A server of a mailbox that is gone would serve nothing; with the
         * wrong capability its callers would all be refused; beside another
         * server, each would take the other's requests. */
        if (!m->q) return -ENOENT;
        if (o->cap != m->cap) return -EPERM;
        for (const fos_server *x = c->servers; x; x = x->next)
            if (mbox_of(x) == m) return -EBUSY;
        mcap = o->cap;
    } else {
        r = fos_mbox_create(cap, &m, &mcap);
        if (r != 0) return r;
    }
    fos_server *s = fos__calloc(c, sizeof(*s));
    if (!s) {
        if (own) fos_mbox_destroy(m);
        return -ENOMEM;
    }
    s->core = c;
    sim_hist_init(&s->service);
    s->name = o && o->name ? o->name : "server";
    s->cap = mcap;
    s->addr = fos_mbox_addr(m);
    size_t bufsz = (c->sim->cfg.max_msg_bytes + 15) & ~(size_t)15;
    size_t head = ((size_t)nf * sizeof(server_fiber) + 15) & ~(size_t)15;
    char *mem = fos__calloc(c, head + (size_t)nf * bufsz);
    if (!mem) {
        fos__free(c, s);
        if (own) fos_mbox_destroy(m); /* a caller's mailbox stays the caller's */
        return -ENOMEM;
    }
    s->pool = (server_fiber *)mem;
    s->nfibers = nf;
    s->next = c->servers;
    c->servers = s;
    /* The pool is part of the server's set-up, not a process spawn: no spawn
     * charge. Its fibers are daemons: a server keeps no run alive. */
    fos_fiber_opts fo = {.name = s->name};
    for (uint32_t i = 0; i < nf; i++)
        s->pool[i] = (server_fiber){s, (fos_msg *)(mem + head + i * bufsz)};
    s->fname = fo.name;
    /* One fiber to start; the pool grows as requests overlap. */
    r = grow(s);
    if (r != 0) return r;
    *out = s;
    return 0;
}

int fos_server_handle(fos_server *s, uint32_t type, fos_handler h, void *ctx)
{
    if (!s || !h || (type & FOS_RPC_REPLY) || find(s, type)) return -EINVAL;
    int r = fos__rpc_serve(s, type, NULL, NULL, ctx);
    if (r == 0) s->h[s->nh - 1].h = h;
    return r;
}

int fos__rpc_serve(fos_server *s, uint32_t type, int (*tramp)(fos_request *, fos__rpc_fn, void *),
                   fos__rpc_fn fn, void *ctx)
{
    if (!s || (type & FOS_RPC_REPLY) || find(s, type)) return -EINVAL;
    if (s->nh == s->caph) {
        uint32_t ncap = s->caph ? 2 * s->caph : 8;
        handler_ent *nv = realloc(s->h, ncap * sizeof(*nv));
        if (!nv) return -ENOMEM;
        s->h = nv;
        s->caph = ncap;
    }
    s->h[s->nh++] = (handler_ent){.type = type, .tramp = tramp, .fn = fn, .ctx = ctx};
    return 0;
}

int fos_server_destroy(fos_server *s)
{
    /* Another core's server is not this core's to stop. */
    if (!s || s->core != fos__self()) return -EINVAL;
    fos_mbox *m = mbox_of(s);
    return m ? fos_mbox_destroy(m) : -EINVAL;
}

/* Sends an answer (status 0 with resp, or an error with an empty body) to a
 * caller. A caller that is gone or whose box is full loses it; the server
 * goes on. An answer too big for a message becomes -EMSGSIZE, sent, so the
 * caller learns now rather than at its timeout. */
/* The largest errno: Linux keeps them below 4096. */
#define FOS__ERRNO_MAX 4095

static int answer(fos_server *s, fos_addr to, fos_cap cap, uint64_t corr, fos_cycles taken,
                  int status, fos_msg *resp)
{
    s->st.served++; /* every answer, errors included */
    /* Before the reply's send: that is the caller's wait, not the server's
     * work. A TSC that steps back (an unsynchronised host) counts as 0, not 2^64. */
    fos_cycles now = fos_now();
    sim_hist_add(&s->service, now > taken ? now - taken : 0);
    if (status != 0) s->st.errors++;
    if (to.core == FOS_CORE_NONE) return 0; /* nobody asked for an answer */
    /* The reply's type carries the errno below its top bit: a status that is
     * no errno (INT_MIN would become 0x80000000, a success) goes as -EINVAL. */
    if (status < -FOS__ERRNO_MAX) status = -EINVAL;
    fos_msg empty = {0};
    fos_msg *m = resp && status == 0 ? resp : &empty;
    m->type = FOS_RPC_REPLY | (uint32_t)-status;
    m->corr = corr;
    m->reply_to = FOS_ADDR_NONE;
    m->reply_cap = 0;
    int r = fos_send(to, cap, m);
    if (r == -EMSGSIZE && m != &empty) {
        s->st.errors++;
        empty =
            (fos_msg){.type = FOS_RPC_REPLY | EMSGSIZE, .corr = corr, .reply_to = FOS_ADDR_NONE};
        fos_send(to, cap, &empty);
    }
    return r;
}

fos_core_id fos_rpc_asker(void)
{
    fos_core *c = fos__self();
    fos_request *rq = c->current ? c->current->request : NULL;
    return rq ? rq->msg->from.core : FOS_CORE_NONE;
}

int fos_rpc_defer(fos_deferred *d)
{
    fos_core *c = fos__self();
    fos_request *rq = c->current ? c->current->request : NULL;
    if (!rq || !d || rq->replied) return -EINVAL;
    *d =
        (fos_deferred){rq->msg->reply_to, rq->msg->reply_cap, rq->msg->corr, rq->server, rq->taken};
    rq->replied = 1;
    return 0;
}

int fos_rpc_answer(fos_deferred *d, int status, fos_msg *resp)
{
    if (!d || !d->server || status > 0) return -EINVAL;
    fos_server *s = d->server;
    /* The caller takes an answer only from the core it asked (fos_rpc_call). */
    if (fos__self() != s->core) return -EXDEV;
    d->server = NULL; /* once */
    return answer(s, d->to, d->cap, d->corr, d->taken, status, resp);
}

void fos__servers_fini(fos_core *c)
{
    while (c->servers) {
        fos_server *s = c->servers;
        c->servers = s->next;
        free(s->h);
        sim_hist_fini(&s->service);
        fos__free(c, s->pool);
        fos__free(c, s);
    }
}

fos_addr fos_server_addr(const fos_server *s)
{
    return s ? s->addr : FOS_ADDR_NONE;
}

fos_cap fos_server_cap(const fos_server *s)
{
    return s ? s->cap : 0;
}

fos_mbox *fos_server_mbox(const fos_server *s)
{
    return s ? mbox_of(s) : NULL;
}

void fos_server_get_stats(const fos_server *s, fos_server_stats *out)
{
    FOS__NEED(s);
    FOS__NEED(out);
    *out = s->st;
    out->fibers = s->started;
}

const sim_hist *fos__server_service(const fos_server *s)
{
    FOS__NEED(s);
    return &s->service;
}

int fos_reply(fos_request *rq, int status, fos_msg *resp)
{
    if (!rq || !rq->msg || !rq->server || status > 0) return -EINVAL;
    if (rq->replied) return -EALREADY;
    rq->replied = 1;
    const fos_msg *q = rq->msg;
    return answer(rq->server, q->reply_to, q->reply_cap, q->corr, rq->taken, status, resp);
}
