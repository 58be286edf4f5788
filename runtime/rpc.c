/* fos_rpc_call: a request, and a wait on a reply mailbox of the caller's own
 * until the reply with its correlation id comes back. Each call in flight on a
 * core holds one reply mailbox; idle ones are kept for the next call, so a
 * steady caller creates none. */
#include <errno.h>
#include <string.h>

#include "fos/rpc.h"
#include "mailbox/mailbox_kernel.h"
#include "runtime/core_priv.h"

typedef struct fos__rpc_box {
    struct fos__rpc_box *next; /* idle boxes */
    struct fos__rpc_box *all;  /* every box of the core, for the end of the run */
    fos_mbox *m;
    fos_addr addr;
    fos_cap cap;
    fos_msg *scratch; /* a message of any size, made when first needed */
} rpc_box;

/* Freed with the box at the end of the run, even if a call was cut short. */
static fos_msg *scratch(fos_core *c, rpc_box *b)
{
    if (!b->scratch) b->scratch = fos__calloc(c, c->sim->cfg.max_msg_bytes);
    return b->scratch;
}

/* Replies that come after their call timed out wait in an idle box until the
 * next call drops them: room for a few. */
#define RPC_BOX_CAPACITY 16

static int box_take(fos_core *c, rpc_box **out)
{
    rpc_box *b = c->rpc_free;
    if (b) {
        c->rpc_free = b->next;
        *out = b;
        return 0;
    }
    /* The mailbox first: making it is a yield point, at which the run may
     * end, and a box not yet on the core's list would be lost then. */
    fos_mbox *m;
    fos_cap cap;
    int r = fos_mbox_create(RPC_BOX_CAPACITY, &m, &cap);
    if (r != 0) return r;
    b = fos__calloc(c, sizeof(*b));
    if (!b) {
        fos_mbox_destroy(m);
        return -ENOMEM;
    }
    b->m = m;
    b->cap = cap;
    fos__mbox_mark_reply(b->m);
    b->addr = fos_mbox_addr(b->m);
    b->all = c->rpc_all;
    c->rpc_all = b;
    *out = b;
    return 0;
}

/* Takes out the message at the head of b that did not fit the caller's buffer,
 * so the box stays usable; says whether it was the reply to `corr` from core
 * `from`. */
static int drop_big(fos_core *c, rpc_box *b, uint64_t corr, fos_core_id from, bool *mine)
{
    size_t sz = c->sim->cfg.max_msg_bytes;
    fos_msg *tmp = scratch(c, b);
    if (!tmp) return -ENOMEM;
    int r = fos_recv(b->m, tmp, sz, 0);
    *mine = r == 0 && tmp->corr == corr && tmp->from.core == from;
    return r;
}

int fos_rpc_call(fos_addr dst, fos_cap cap, fos_msg *req, fos_msg *resp, size_t respsz,
                 fos_cycles timeout)
{
    fos_core *c = fos__self();
    if (!req || !resp || respsz < sizeof(fos_msg) || (req->type & FOS_RPC_REPLY)) return -EINVAL;
    rpc_box *b;
    int r = box_take(c, &b);
    if (r != 0) return r;
    uint64_t corr = ++c->rpc_corr;
    req->corr = corr;
    req->reply_to = b->addr;
    req->reply_cap = b->cap;
    fos_cycles deadline = fos__deadline(c, timeout);
    r = fos_send(dst, cap, req);
    while (r == 0) {
        fos_cycles now = fos_now();
        if (now >= deadline) {
            r = -ETIMEDOUT;
            break;
        }
        r = fos_recv(b->m, resp, respsz,
                     deadline == FOS_CYCLES_MAX ? FOS_CYCLES_MAX : deadline - now);
        /* The answer comes from the core asked, as the kernel stamps it: one
         * from elsewhere that guessed the number (reply boxes are pooled,
         * numbers counted) is dropped, as a late one is. */
        bool mine = r == 0 && resp->corr == corr && resp->from.core == dst.core;
        if (r == -EMSGSIZE) {
            r = drop_big(c, b, corr, dst.core, &mine);
            if (r == 0 && mine) r = -EMSGSIZE;
            if (r != 0) break;
            continue;
        }
        if (r != 0) break;
        if (!mine) continue; /* a late reply to an earlier call: dropped */
        if (!(resp->type & FOS_RPC_REPLY))
            r = -EBADMSG;
        else
            r = -(int)(resp->type & ~FOS_RPC_REPLY);
        break;
    }
    b->next = c->rpc_free;
    c->rpc_free = b;
    return r;
}

int fos_rpc_gather(const fos_addr *dst, const fos_cap *cap, uint32_t n, fos_msg *req,
                   fos_msg *const *resp, size_t respsz, int *status, fos_cycles timeout)
{
    fos_core *c = fos__self();
    if (!req || !status || (n && (!dst || !cap)) || (req->type & FOS_RPC_REPLY)) return -EINVAL;
    rpc_box *b;
    int r = box_take(c, &b);
    if (r != 0) return r;
    uint64_t corr = ++c->rpc_corr;
    req->corr = corr;
    req->reply_to = b->addr;
    req->reply_cap = b->cap;
    fos_cycles deadline = fos__deadline(c, timeout);
    uint32_t waiting = 0;
    for (uint32_t i = 0; i < n; i++) {
        status[i] = fos_send(dst[i], cap[i], req);
        if (status[i] == 0) {
            status[i] = 1; /* sent, not answered yet */
            waiting++;
        }
    }
    /* Replies carry the request's corr; who answered is the kernel's from.core. */
    size_t sz = c->sim->cfg.max_msg_bytes;
    fos_msg *tmp = waiting ? scratch(c, b) : NULL;
    if (waiting && !tmp) waiting = 0, r = -ENOMEM;
    while (waiting) {
        fos_cycles now = fos_now();
        if (now >= deadline) break;
        int rr =
            fos_recv(b->m, tmp, sz, deadline == FOS_CYCLES_MAX ? FOS_CYCLES_MAX : deadline - now);
        if (rr != 0) break;
        if (tmp->corr != corr || !(tmp->type & FOS_RPC_REPLY)) continue;
        for (uint32_t i = 0; i < n; i++) {
            if (status[i] != 1 || dst[i].core != tmp->from.core) continue;
            status[i] = -(int)(tmp->type & ~FOS_RPC_REPLY);
            if (resp && resp[i]) {
                if (fos_msg_size(tmp) <= respsz)
                    memcpy(resp[i], tmp, fos_msg_size(tmp));
                else
                    status[i] = -EMSGSIZE;
            }
            waiting--;
            break;
        }
    }
    int ok = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (status[i] == 1) status[i] = -ETIMEDOUT;
        ok += status[i] == 0;
    }
    b->next = c->rpc_free;
    c->rpc_free = b;
    return r ? r : ok;
}

void fos__rpc_fini(fos_core *c)
{
    /* Boxes of calls still waiting when the run ended are on this list too. */
    while (c->rpc_all) {
        rpc_box *b = c->rpc_all;
        c->rpc_all = b->all;
        fos__free(c, b->scratch);
        fos__free(c, b);
    }
    c->rpc_free = NULL;
}
