/* The fleet framework: members, the coordinator, joining, leaving and
 * broadcast, on top of servers and RPC. Members started by the harness have
 * their mailboxes made at boot, so every member's table is complete before
 * the first request; a member that joins later gets the table and the
 * coordinator's state in the answer to its JOIN, after the coordinator has
 * told every other member. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleets/fleet_priv.h"

/* The member table as it travels. */
typedef struct wire_member {
    uint32_t core, acore, aid, present;
    uint64_t cap;
} wire_member;

#define T_NONE(F)
#define TABLE_RESP(F) F(u32, size) F(bytes, table)
#define JOIN_REQ(F) F(u32, core) F(u32, acore) F(u32, aid) F(u64, cap)
#define JOIN_RESP(F) F(u32, index) F(u32, size) F(bytes, table) F(bytes, state)
/* An add, and its answer, carry the numbers its sender has as gone (bit per
 * number, FOS_FLEET_MAX of them): see gones_out. */
#define GONES(F) F(u64, gone_lo) F(u64, gone_hi)
#define ADD_REQ(F) F(u32, index) F(u32, core) F(u32, acore) F(u32, aid) F(u64, cap) GONES(F)
/* index FLEET_FORGET: every entry of the member (core, acore, aid, cap) but
 * number `keep`, said by that member itself. */
#define GONE_REQ(F) F(u32, index) F(u32, keep) F(u32, core) F(u32, acore) F(u32, aid) F(u64, cap)
#define FLEET_FORGET UINT32_MAX
/* The framework's own requests sit just below the reply bit. */
FOS_RPC(fleet_table, 0x7fff0001, T_NONE, TABLE_RESP)
FOS_RPC(fleet_join, 0x7fff0002, JOIN_REQ, JOIN_RESP)
FOS_RPC(fleet_add, 0x7fff0003, ADD_REQ, GONES)
FOS_RPC(fleet_gone, 0x7fff0004, GONE_REQ, T_NONE)
FOS_RPC(fleet_confirm, 0x7fff0005, T_NONE, T_NONE)

/* The framework's calls within a chip: far above any latency, so only a dead
 * or lost member reaches it. On the native engine a cycle is a TSC tick of a
 * host whose threads wake each other (tens of microseconds each, far more on
 * an oversubscribed or busy host): fos_core_patience widens it there, where a
 * join that timed out at a live coordinator failed with -EAGAIN. */
#define FLEET_TIMEOUT_CYCLES 10000000ull
#define FLEET_TIMEOUT fos_core_patience(FLEET_TIMEOUT_CYCLES)

/* Joiners that had a member forget them, remembered by it (24 KiB). */
#define FLEET_FORGOT_MAX 1024u

typedef struct member {
    fos_addr addr;
    fos_cap cap;
    fos_core_id core;
    bool present;
    bool joining; /* the coordinator is adding it (not present yet) */
    bool gone;    /* it was in, or was being added, and is out for good:
                   * indices are never reused, so nothing brings it back */
    /* The members that took it in when this one, coordinating, told them
     * (bit per number): asked again, it tells only the others. */
    uint32_t took[FOS_FLEET_MAX / 32];
} member;

/* A member's state as it travels in a table. */
enum { WIRE_ABSENT, WIRE_PRESENT, WIRE_JOINING, WIRE_GONE };

struct fos_fleet {
    const fos_fleet_ops *ops;
    const fos_params *params;
    fos_server *srv;
    void *state;
    uint32_t self, size;
    bool joined;             /* it joined a running fleet (rather than started with it) */
    bool placed;             /* it has its table: a joiner has none until the answer */
    bool ready;              /* init (and a joiner's state_in) done: its hooks may be told */
    bool gave_up;            /* a joiner that failed: its coordinator's on_confirm hears so */
    bool leaving;            /* fos_fleet_leave waits for the joins it coordinates */
    struct serving *serving; /* those joins: the fibers serving them */
    /* A joiner's: adds and gones that came before its table, applied after. */
    struct early {
        bool gone;
        fos_core_id asker;
        struct fleet_add_req add; /* gone: only the index */
    } * early;
    uint32_t nearly, early_cap;
    /* Joiners that had this member forget them by who they are (forget_me):
     * each with the one number it may keep (UINT32_MAX: none). An add of one
     * of them under any other number is refused as late, as one under a
     * number it has as gone is: the forget may come before the add, from a
     * coordinator serving a question its joiner has long given up on. */
    struct fleet_add_req *forgot; /* index: the number kept; a ring */
    uint32_t nforgot;             /* ever recorded */
    /* What the hooks learn before then, told in order once it is ready. */
    struct told {
        bool core_dead; /* else membership */
        bool present;
        uint32_t who; /* a member, or a core */
    } * told;
    uint32_t ntold, told_cap;
    member m[FOS_FLEET_MAX];
    wire_member wire[FOS_FLEET_MAX]; /* scratch for answers */
    /* The state handed to a joiner: written and packed with no yield point in
     * between, so one buffer per member serves every join. */
    unsigned char state_buf[FOS_RPC_MAX_BYTES / 2];
};

/* ---- what a member knows ----------------------------------------------------- */

fos_server *fos_fleet_server(fos_fleet *f)
{
    FOS__NEED(f);
    return f->srv;
}
void *fos_fleet_state(fos_fleet *f)
{
    FOS__NEED(f);
    return f->state;
}
const fos_params *fos_fleet_params(const fos_fleet *f)
{
    FOS__NEED(f);
    return f->params;
}
bool fos_fleet_joined(const fos_fleet *f)
{
    FOS__NEED(f);
    return f->joined;
}

uint32_t fos_fleet_self(const fos_fleet *f)
{
    FOS__NEED(f);
    return f->self;
}
uint32_t fos_fleet_size(const fos_fleet *f)
{
    FOS__NEED(f);
    return f->size;
}
bool fos_fleet_present(const fos_fleet *f, uint32_t m)
{
    FOS__NEED(f);
    return m < f->size && f->m[m].present;
}

uint32_t fos_fleet_count(const fos_fleet *f)
{
    FOS__NEED(f);
    uint32_t n = 0;
    for (uint32_t i = 0; i < f->size; i++)
        n += f->m[i].present;
    return n;
}

uint32_t fos_fleet_coordinator(const fos_fleet *f)
{
    FOS__NEED(f);
    for (uint32_t i = 0; i < f->size; i++)
        if (f->m[i].present) return i;
    return UINT32_MAX;
}

int fos_fleet_member(const fos_fleet *f, uint32_t m, fos_addr *a, fos_cap *cap)
{
    if (!f || !a || !cap) return -EINVAL;
    if (!fos_fleet_present(f, m)) return -ENOENT;
    *a = f->m[m].addr;
    *cap = f->m[m].cap;
    return 0;
}

int fos_fleet_broadcast(fos_fleet *f, fos_msg *msg)
{
    if (!f || !msg) return -EINVAL;
    int first = 0;
    for (uint32_t i = 0; i < f->size; i++) {
        if (i == f->self || !f->m[i].present) continue;
        int r = fos_send(f->m[i].addr, f->m[i].cap, msg);
        if (r && !first) first = r;
    }
    return first;
}

static uint32_t table_out(fos_fleet *f)
{
    for (uint32_t i = 0; i < f->size; i++)
        f->wire[i] = (wire_member){f->m[i].core, f->m[i].addr.core, f->m[i].addr.id,
                                   f->m[i].present   ? WIRE_PRESENT
                                   : f->m[i].joining ? WIRE_JOINING
                                   : f->m[i].gone    ? WIRE_GONE
                                                     : WIRE_ABSENT,
                                   f->m[i].cap};
    return f->size;
}

static int table_in(member *m, uint32_t *size, uint32_t n, const void *bytes, uint32_t len)
{
    if (n > FOS_FLEET_MAX || len != n * sizeof(wire_member)) return -EBADMSG;
    const wire_member *w = bytes;
    for (uint32_t i = 0; i < n; i++) {
        wire_member x;
        memcpy(&x, &w[i], sizeof x); /* the bytes may not be aligned */
        if (x.present > WIRE_GONE) return -EBADMSG;
        m[i] = (member){{x.acore, x.aid},
                        x.cap,
                        x.core,
                        x.present == WIRE_PRESENT,
                        x.present == WIRE_JOINING,
                        x.present == WIRE_GONE};
    }
    *size = n;
    return 0;
}

static char *member_name(const char *fleet, uint32_t i, char *buf, size_t n)
{
    snprintf(buf, n, "/sys/%s/%u", fleet, i);
    return buf;
}

/* The next member by name, /sys/FLEET/N for N from *i upwards (then *i is N): 0,
 * or -ENOENT when no more are named. Names may be missing anywhere: a member
 * that left took its name with it, and a failed join never had one. */
static int next_named(const char *fleet, uint32_t *i, fos_addr *a, fos_cap *c)
{
    char name[FOS_NAME_MAX];
    for (; *i < FOS_FLEET_MAX; (*i)++)
        if (fos_name_lookup(member_name(fleet, *i, name, sizeof name), a, c) == 0) return 0;
    return -ENOENT;
}

/* ---- the framework's handlers -------------------------------------------------- */

static int on_table(void *ctx, const struct fleet_table_req *in, struct fleet_table_resp *out)
{
    fos_fleet *f = ctx;
    (void)in;
    out->size = table_out(f);
    out->table = f->wire;
    out->table_len = out->size * (uint32_t)sizeof(wire_member);
    return 0;
}

/* Asks the kernel of member i's core to tell this member when it dies. */
static void watch(fos_fleet *f, uint32_t i)
{
    if (i != f->self && f->m[i].present)
        fos_core_watch(f->m[i].core, fos_server_addr(f->srv), fos_server_cap(f->srv));
}

/* Whether core `core` runs a present member: the framework's own requests
 * that change the table come only from members (the mailbox's capability is
 * every client's, so it proves nothing here; the asker's core, which its
 * kernel stamps, does). */
static bool from_member(const fos_fleet *f, fos_core_id core)
{
    for (uint32_t i = 0; i < f->size; i++)
        if (f->m[i].present && f->m[i].core == core) return true;
    return false;
}

/* The plugin's hooks hear of a change once its member is ready; before then
 * the change is kept, to be told in order by set_ready (the table itself
 * changes at once). */
static void call_hook(fos_fleet *f, const struct told *t)
{
    if (t->core_dead) {
        if (f->ops->core_dead) f->ops->core_dead(f, f->state, t->who);
    } else if (f->ops->membership) {
        f->ops->membership(f, f->state, t->who, t->present);
    }
}

static void tell(fos_fleet *f, bool core_dead, uint32_t who, bool present)
{
    struct told t = {core_dead, present, who};
    if (f->ready) {
        call_hook(f, &t);
        return;
    }
    if (f->ntold == f->told_cap) {
        uint32_t ncap = f->told_cap ? 2 * f->told_cap : 8;
        struct told *nv = realloc(f->told, ncap * sizeof(*nv));
        if (!nv) {
            fprintf(stderr, "fossim: fleet '%s': out of memory keeping a membership change\n",
                    f->ops->name);
            abort();
        }
        f->told = nv;
        f->told_cap = ncap;
    }
    f->told[f->ntold++] = t;
}

/* Tells what was kept, then everything as it comes; a hook that yields may
 * let more be kept meanwhile, which the loop tells too, in order. */
static void set_ready(fos_fleet *f)
{
    for (uint32_t i = 0; i < f->ntold; i++) {
        struct told t = f->told[i];
        call_hook(f, &t);
    }
    free(f->told);
    f->told = NULL;
    f->ntold = f->told_cap = 0;
    f->ready = true;
}

/* Makes index a place in f's table, as an entry never heard of. */
static void reach(fos_fleet *f, uint32_t index)
{
    while (f->size <= index)
        f->m[f->size++] = (member){.present = false};
}

static bool same_member(const member *m, const struct fleet_add_req *in)
{
    return m->core == in->core && m->addr.core == in->acore && m->addr.id == in->aid &&
           m->cap == in->cap;
}

static const struct fleet_add_req *forgot_find(const fos_fleet *f, const struct fleet_add_req *who)
{
    uint32_t n = f->nforgot < FLEET_FORGOT_MAX ? f->nforgot : FLEET_FORGOT_MAX;
    for (uint32_t i = 0; i < n; i++)
        if (f->forgot[i].core == who->core && f->forgot[i].acore == who->acore &&
            f->forgot[i].aid == who->aid && f->forgot[i].cap == who->cap)
            return &f->forgot[i];
    return NULL;
}

/* Whether `who` had this member forget it, under any number but `index`. */
static bool forgotten(const fos_fleet *f, const struct fleet_add_req *who, uint32_t index)
{
    const struct fleet_add_req *t = forgot_find(f, who);
    return t && t->index != index;
}

/* A new member, told by the coordinator (or taken in by it). Indices are
 * never reused: told again of one it has, a member has nothing to do; an
 * index it has for another member is a clash (-EEXIST). */
static int add_member(fos_fleet *f, const struct fleet_add_req *in)
{
    if (in->index >= FOS_FLEET_MAX) return -EINVAL;
    if (in->index < f->size && f->m[in->index].gone) return -ESTALE; /* a late add */
    if (forgotten(f, in, in->index)) return -ESTALE;
    if (in->index < f->size && f->m[in->index].present)
        return same_member(&f->m[in->index], in) ? 0 : -EEXIST;
    reach(f, in->index);
    /* The coordinator's own entry keeps who took it in (send_adds). */
    member *m = &f->m[in->index], was = *m;
    *m = (member){{in->acore, in->aid}, in->cap, in->core, true};
    memcpy(m->took, was.took, sizeof m->took);
    watch(f, in->index);
    tell(f, false, in->index, true);
    return 0;
}

/* A joiner told of a change before its table came: kept, to be judged
 * against the table (who may say so) and applied once it is in. */
static int keep_early(fos_fleet *f, bool gone, const struct fleet_add_req *add)
{
    if (f->nearly == f->early_cap) {
        uint32_t ncap = f->early_cap ? 2 * f->early_cap : 8;
        struct early *nv = realloc(f->early, ncap * sizeof(*nv));
        if (!nv) return -ENOMEM;
        f->early = nv;
        f->early_cap = ncap;
    }
    f->early[f->nearly++] = (struct early){gone, fos_rpc_asker(), *add};
    return 0;
}

/* Death notices from the kernels of members' cores (fos_core_watch). */
static void on_core_dead(fos_request *rq, void *ctx)
{
    fos_fleet *f = ctx;
    uint32_t core;
    if (rq->msg->len != sizeof core) return;
    memcpy(&core, fos_msg_data(rq->msg), sizeof core);
    /* A notice comes from the dead core's own kernel: its sender cannot be forged. */
    if (rq->msg->from.core != core) return;
    for (uint32_t i = 0; i < f->size; i++) {
        if (!f->m[i].present || f->m[i].core != core || i == f->self) continue;
        f->m[i].present = false;
        f->m[i].gone = true;
        tell(f, false, i, false);
    }
    /* Cores the fleet itself watches (say, what its bindings point to). */
    tell(f, true, core, false);
}

/* Marks number index gone; true when it was present (the hooks are told). An
 * index not seen yet is marked too: its add may still be on the way. */
static bool mark_gone(fos_fleet *f, uint32_t index)
{
    reach(f, index);
    bool was = f->m[index].present;
    f->m[index].present = f->m[index].joining = false;
    f->m[index].gone = true;
    return was;
}

static int gone_member(fos_fleet *f, uint32_t index, fos_core_id asker)
{
    if (index >= FOS_FLEET_MAX) return -EINVAL;
    /* A member says it leaves itself, or the coordinator takes back a join it
     * could not finish, or a joiner that failed forgets itself; no one outside
     * the fleet may say so. */
    bool known = index < f->size && (f->m[index].present || f->m[index].joining);
    if (!(known && asker == f->m[index].core) && !from_member(f, asker)) return -EACCES;
    if (mark_gone(f, index)) tell(f, false, index, false);
    return 0;
}

_Static_assert(FOS_FLEET_MAX == 128, "gones travel as two 64-bit words");

/* The numbers this member has as gone. Gone is for good and a number gone
 * anywhere is gone everywhere, so members pass what they know on with the
 * adds, both ways: a member that missed every retry of a gone (a leave's, a
 * take-back's) learns it at the next join. */
static void gones_out(const fos_fleet *f, uint64_t *lo, uint64_t *hi)
{
    *lo = *hi = 0;
    for (uint32_t i = 0; i < f->size; i++)
        if (f->m[i].gone) *(i < 64 ? lo : hi) |= 1ull << (i % 64);
}

static bool gone_bit(uint64_t lo, uint64_t hi, uint32_t i)
{
    return i < FOS_FLEET_MAX && (i < 64 ? lo : hi) >> (i % 64) & 1;
}

/* What member core `from` has as gone, taken in: told to the hooks now, or
 * kept in `held` (bit per number) for later. Not this member's own number: a
 * member counted out while it serves is a split that no table change mends
 * (none takes a member back), and there the others' tables alone agree. */
static void gones_in(fos_fleet *f, uint64_t lo, uint64_t hi, fos_core_id from, uint64_t *held)
{
    if (!from_member(f, from)) return;
    for (uint32_t i = 0; i < FOS_FLEET_MAX; i++) {
        if (!gone_bit(lo, hi, i) || i == f->self || (i < f->size && f->m[i].gone) ||
            !mark_gone(f, i))
            continue;
        if (held)
            held[i / 64] |= 1ull << (i % 64);
        else
            tell(f, false, i, false);
    }
}

static int on_add(void *ctx, const struct fleet_add_req *in, struct fleet_add_resp *out)
{
    fos_fleet *f = ctx;
    out->gone_lo = out->gone_hi = 0;
    if (!f->placed) return keep_early(f, false, in); /* its table will say */
    if (!from_member(f, fos_rpc_asker())) return -EACCES;
    /* The add first: the hooks of what came with it may take a while. Not
     * if the coordinator has the number as gone itself (its joiner gave up
     * meanwhile): that is a take-back, and the hooks would hear of a member
     * that was never in. */
    int r = gone_bit(in->gone_lo, in->gone_hi, in->index) ? -ESTALE : add_member(f, in);
    gones_in(f, in->gone_lo, in->gone_hi, fos_rpc_asker(), NULL);
    gones_out(f, &out->gone_lo, &out->gone_hi);
    return r;
}

/* A joiner forgets itself where it could not read the table (forget_me): every
 * entry of it, whatever its number, but `keep`. */
static int forget_member(fos_fleet *f, const struct fleet_add_req *who, uint32_t keep,
                         fos_core_id asker)
{
    if (asker != who->core) return -EACCES;
    for (uint32_t i = 0; i < f->size; i++)
        if (i != keep && (f->m[i].present || f->m[i].joining) && same_member(&f->m[i], who))
            gone_member(f, i, asker);
    if (forgot_find(f, who)) return 0;
    if (!f->forgot) {
        f->forgot = malloc(FLEET_FORGOT_MAX * sizeof(*f->forgot));
        if (!f->forgot) return -ENOMEM;
    }
    /* The oldest makes room: what it guards against, a question read long
     * after its joiner gave up, comes long before a thousand other joiners
     * have given up here. */
    f->forgot[f->nforgot++ % FLEET_FORGOT_MAX] =
        (struct fleet_add_req){keep, who->core, who->acore, who->aid, who->cap};
    return 0;
}

static int on_gone(void *ctx, const struct fleet_gone_req *in, struct fleet_gone_resp *out)
{
    fos_fleet *f = ctx;
    (void)out;
    if (in->index == FLEET_FORGET) {
        /* Sent to named members only, so never to a joiner still without its
         * table (it learns from the coordinator, which is told). */
        struct fleet_add_req who = {0, in->core, in->acore, in->aid, in->cap};
        return f->placed ? forget_member(f, &who, in->keep, fos_rpc_asker()) : 0;
    }
    if (!f->placed) return keep_early(f, true, &(struct fleet_add_req){.index = in->index});
    return gone_member(f, in->index, fos_rpc_asker());
}

/* The coordinator asks a joiner, once every other member has it and before
 * it takes it in itself, whether it still waits: a question can be read long
 * after its joiner gave up and had every member forget it (none had it yet),
 * and taken in then, it would stay a phantom in every table. One that gives
 * up after saying yes finds itself in the tables, and has it forgotten. */
static int on_confirm(void *ctx, const struct fleet_confirm_req *in, struct fleet_confirm_resp *out)
{
    fos_fleet *f = ctx;
    (void)in;
    (void)out;
    return f->gave_up ? -ESTALE : 0;
}

/* The joiner has its table: what it was told before, in order. */
static void apply_early(fos_fleet *f)
{
    for (uint32_t i = 0; i < f->nearly; i++) {
        const struct early *e = &f->early[i];
        if (e->gone)
            gone_member(f, e->add.index, e->asker);
        else if (from_member(f, e->asker))
            add_member(f, &e->add); /* one the table has as gone stays out */
    }
    /* Joins under way elsewhere: this member learns how they end from their
     * adds and gones, and must not take one for its own if it coordinates. */
    for (uint32_t i = 0; i < f->size; i++)
        f->m[i].joining = false;
    free(f->early);
    f->early = NULL;
    f->nearly = f->early_cap = 0;
}

/* Whether to ask a member again to change its table (add, gone: asked twice,
 * a change is made once). A full mailbox is asked again a while later, and
 * a request or answer lost or late up to `lost_max` more times: a member that
 * misses one keeps a table unlike the others'. One dead or gone says so. */
static bool ask_again(int r, int *busy, int *lost, int lost_max)
{
    if (r == -EAGAIN && *busy < 8) {
        fos_sleep((fos_cycles)1000 << (*busy)++);
        return true;
    }
    return r == -ETIMEDOUT && (*lost)++ < lost_max;
}

/* A join being served, on its fiber's stack: a coordinator that leaves first
 * finishes the joins it is coordinating (members that have heard of its leave
 * refuse its adds), except one whose own hook is leaving. */
struct serving {
    fos_fiber *fiber;
    uint32_t index; /* the joiner's number, once it has one */
    /* Numbers found gone in the adds' answers, whose hooks wait until the
     * join is in: run amid the adds, a hook that leaves would have the rest
     * refused (-EACCES) and the joiner in some tables only. */
    uint64_t held[2];
    struct serving *next;
};

/* The calling fiber's join, if it serves one. */
static struct serving *serving_self(const fos_fleet *f)
{
    for (struct serving *s = f->serving; s; s = s->next)
        if (s->fiber == fos_fiber_self()) return s;
    return NULL;
}

static void tell_held(fos_fleet *f, struct serving *me)
{
    for (uint32_t i = 0; i < FOS_FLEET_MAX; i++)
        if (me->held[i / 64] >> (i % 64) & 1) {
            me->held[i / 64] &= ~(1ull << (i % 64));
            tell(f, false, i, false);
        }
}

/* Tells member i of the add, with what this member has as gone, and takes in
 * what it has as gone. */
static int add_to(fos_fleet *f, uint32_t i, const struct fleet_add_req *add)
{
    struct fleet_add_req q = *add;
    struct fleet_add_resp ar;
    int r, busy = 0, lost = 0;
    do {
        gones_out(f, &q.gone_lo, &q.gone_hi);
        r = fleet_add_call(f->m[i].addr, f->m[i].cap, &q, &ar, FLEET_TIMEOUT);
    } while (ask_again(r, &busy, &lost, 4));
    if (r == 0) {
        struct serving *me = serving_self(f);
        gones_in(f, ar.gone_lo, ar.gone_hi, f->m[i].core, me ? me->held : NULL);
    }
    return r;
}

static int gone_to(fos_addr a, fos_cap c, const struct fleet_gone_req *g)
{
    struct fleet_gone_resp gr;
    int r, busy = 0, lost = 0;
    do
        r = fleet_gone_call(a, c, g, &gr, FLEET_TIMEOUT);
    while (ask_again(r, &busy, &lost, 4));
    return r;
}

/* Tells every other present member that member idx is gone (best effort: one
 * that does not answer is dead or leaving itself). */
static void say_gone(fos_fleet *f, uint32_t idx)
{
    struct fleet_gone_req g = {idx};
    for (uint32_t i = 0; i < f->size; i++) {
        /* Joiners still being added keep it until their table comes. */
        if (i == f->self || i == idx || !(f->m[i].present || f->m[i].joining)) continue;
        gone_to(f->m[i].addr, f->m[i].cap, &g);
    }
}

/* A join the coordinator could not finish: everyone it told forgets the
 * member, so that no phantom stays in anyone's table. */
static int retract(fos_fleet *f, uint32_t idx, int r)
{
    f->m[idx].joining = false;
    f->m[idx].gone = true;
    if (f->m[idx].present) {
        f->m[idx].present = false;
        tell(f, false, idx, false);
    }
    say_gone(f, idx);
    return r;
}

/* Tells the members from number `from` up (present, or still being added:
 * they keep it until their table comes) of the new member `add`, but those
 * that took it in already. The size is read afresh at every step, so a join
 * begun meanwhile is told too. True when one has the number as gone. */
static bool send_adds(fos_fleet *f, const struct fleet_add_req *add, uint32_t from)
{
    bool stale = false;
    for (uint32_t i = from; i < f->size; i++) {
        uint32_t *took = f->m[add->index].took;
        if (i == f->self || i == add->index || !(f->m[i].present || f->m[i].joining) ||
            took[i / 32] >> (i % 32) & 1)
            continue;
        int r = add_to(f, i, add);
        if (r == 0) took[i / 32] |= 1u << (i % 32);
        stale |= r == -ESTALE;
    }
    return stale;
}

/* Asks the joiner whether it still waits (on_confirm); a full mailbox is asked
 * again. One that gave up, or whose server is gone, says so; one that does not
 * answer in time is taken for gone too (asking again measured more tables
 * that disagree under delayed messages: its join takes longer, and the
 * joiner gives up after it is in everywhere). */
static int confirm(const struct fleet_join_req *in)
{
    fos_addr ja = {in->acore, in->aid};
    struct fleet_confirm_req cq = {0};
    struct fleet_confirm_resp cr;
    int r, busy = 0, lost = 0;
    do
        r = fleet_confirm_call(ja, in->cap, &cq, &cr, FLEET_TIMEOUT);
    while (ask_again(r, &busy, &lost, 0));
    return r;
}

/* Whether another fiber here is serving a question of joiner number idx. */
static bool served_elsewhere(const fos_fleet *f, const struct serving *me, uint32_t idx)
{
    for (const struct serving *s = f->serving; s; s = s->next)
        if (s != me && s->index == idx) return true;
    return false;
}

/* The coordinator takes in a new member: everyone else learns of it first, so
 * that by the time the joiner serves, every member can reach it. */
static int join_serve(fos_fleet *f, struct serving *me, const struct fleet_join_req *in,
                      struct fleet_join_resp *out)
{
    if (fos_fleet_coordinator(f) != f->self) return -EAGAIN; /* ask the coordinator */
    /* A joiner serves on its own core: the core its kernel stamps, which a
     * later leave is checked against. */
    if (in->core != fos_rpc_asker()) return -EACCES;
    /* A joiner asks again when its coordinator died before answering, or when
     * its question timed out while this coordinator was slow (waiting on a
     * member that died): the members told already have it, under the index it
     * was given, and this one is among them if anyone is (members are told
     * lowest first, and the lowest left coordinates). Keep that index, so that
     * no second entry of the same joiner is made. A join of it still under way
     * here says so: the joiner waits for it rather than give up. */
    uint32_t idx = f->size;
    const struct fleet_add_req who = {0, in->core, in->acore, in->aid, in->cap};
    for (uint32_t i = 0; i < f->size; i++) {
        if (!same_member(&f->m[i], &who)) continue;
        /* Taken back, or forgotten by a joiner that gave up: a late question. */
        if (f->m[i].gone) return -ESTALE;
        if (f->m[i].present || f->m[i].joining) idx = i;
    }
    bool again = idx < f->size;
    /* It gave up and had this member forget it: a late question too. */
    if (again ? forgotten(f, &who, idx) : forgot_find(f, &who) != NULL) return -ESTALE;
    /* A question asked again while another of the same joiner is served
     * here waits for that one too: each sends every member the add again,
     * and under late answers their retries filled members' mailboxes until
     * a take-back's gones could not get in. */
    if (again && (f->m[idx].joining || served_elsewhere(f, me, idx))) return -EINPROGRESS;
    /* Leaving once the joins under way are done: a new joiner waits, as for
     * one under way, and then asks the next coordinator. */
    if (f->leaving && !again) return -EINPROGRESS;
    if (!again && f->size == FOS_FLEET_MAX) return -ENOSPC;
    /* A new index is taken before the first yield (the calls below), so that
     * a join served meanwhile by another fiber gets the next one. */
    if (!again) f->m[f->size++] = (member){{in->acore, in->aid}, in->cap, in->core, false, true};
    me->index = idx;
    struct fleet_add_req add = {idx, in->core, in->acore, in->aid, in->cap};
    /* Asked again, it tells only those that have not taken the joiner in
     * from it: telling them all again took longer, under late answers, than
     * the joiner waits for its answer, question after question. */
    bool stale = send_adds(f, &add, 0);
    uint32_t told = f->size;
    /* A member has the number as gone: a take-back (by a coordinator that
     * died with its news still on the way, or by another fiber here whose
     * hand-over failed) or the joiner's own forgetting reached it first. A
     * number gone anywhere is gone everywhere: finish the take-back rather
     * than split the fleet over who is in. */
    if (stale || f->m[idx].gone) return retract(f, idx, -ESTALE);
    int r = 0;
    if (!again) {
        r = confirm(in);
        /* Joins taken in while the confirm was out were not told: they are
         * now, and nothing yields between the last of them and add_member. */
        if (r == 0 && send_adds(f, &add, told)) r = -ESTALE;
        if (r == 0) r = add_member(f, &add);
    }
    if (r != 0) return retract(f, idx, r);
    tell_held(f, me);
    /* The state is written with no yield point between here and the reply's
     * packing: what the joiner gets is one moment of the coordinator. */
    size_t len = 0;
    /* The answer carries the table too: the state gets what one message has left. */
    size_t room = FOS_RPC_MAX_BYTES - sizeof(fos_msg) - 32 - f->size * sizeof(wire_member);
    if (room > sizeof f->state_buf) room = sizeof f->state_buf;
    if (f->ops->state_out) {
        r = f->ops->state_out(f, f->state, f->state_buf, room, &len);
        if (r > 0) {
            fprintf(stderr,
                    "fossim: fleet '%s': its state_out hook returned %d, where 0 or a negative "
                    "errno belongs; the join is refused\n",
                    f->ops->name, r);
            r = -EINVAL;
        }
        /* Asked again for a member already in: it stays; only this answer fails. */
        if (r) return again ? r : retract(f, idx, r);
        if (len > room) {
            /* The plugin's hook broke its contract: send nothing past the room. */
            fprintf(stderr,
                    "fossim: fleet '%s': its state_out hook said it wrote %zu bytes into room for "
                    "%zu; the join is refused\n",
                    f->ops->name, len, room);
            return again ? -EMSGSIZE : retract(f, idx, -EMSGSIZE);
        }
    }
    out->index = idx;
    out->size = table_out(f);
    out->table = f->wire;
    out->table_len = out->size * (uint32_t)sizeof(wire_member);
    out->state = f->state_buf;
    out->state_len = (uint32_t)len;
    return 0;
}

static int on_join(void *ctx, const struct fleet_join_req *in, struct fleet_join_resp *out)
{
    fos_fleet *f = ctx;
    struct serving me = {fos_fiber_self(), UINT32_MAX, {0, 0}, f->serving};
    f->serving = &me;
    int r = join_serve(f, &me, in, out);
    if (r != 0) tell_held(f, &me); /* a join that is in told them before its answer */
    for (struct serving **p = &f->serving; *p; p = &(*p)->next)
        if (*p == &me) {
            *p = me.next;
            break;
        }
    return r;
}

/* Whether joins other than the caller's own are being served. */
static bool joins_elsewhere(const fos_fleet *f)
{
    for (const struct serving *s = f->serving; s; s = s->next)
        if (s->fiber != fos_fiber_self()) return true;
    return false;
}

/* ---- members ----------------------------------------------------------------------- */

static void member_free(void *arg)
{
    fos_fleet *f = arg;
    free(f->told);
    free(f->early);
    free(f->forgot);
    free(f->state);
    free(f);
}

static int member_new(const fos_fleet_ops *ops, const fos_params *p, fos_mbox *mbox, fos_cap cap,
                      fos_fleet **out)
{
    fos_fleet *f = calloc(1, sizeof(*f));
    if (!f) return -ENOMEM;
    /* Released with the chip, whoever started it and whenever it left. */
    if (fos_core_atexit(member_free, f) != 0) {
        free(f);
        return -ENOMEM;
    }
    f->ops = ops;
    f->params = p;
    if (ops->state_bytes && !(f->state = calloc(1, ops->state_bytes))) {
        free(f);
        return -ENOMEM;
    }
    fos_server_opts so = {.fibers = ops->fibers, .name = ops->name, .mbox = mbox, .cap = cap};
    int r = fos_server_create(&so, &f->srv);
    if (r == 0) r = FOS_RPC_SERVE(f->srv, fleet_table, on_table, f);
    if (r == 0) r = FOS_RPC_SERVE(f->srv, fleet_join, on_join, f);
    if (r == 0) r = FOS_RPC_SERVE(f->srv, fleet_add, on_add, f);
    if (r == 0) r = FOS_RPC_SERVE(f->srv, fleet_gone, on_gone, f);
    if (r == 0) r = FOS_RPC_SERVE(f->srv, fleet_confirm, on_confirm, f);
    if (r == 0) r = fos_server_handle(f->srv, FOS_MSG_CORE_DEAD, on_core_dead, f);
    if (r != 0) return r; /* f goes with the chip */
    *out = f;
    return 0;
}

int fos__fleet_member_start(const fos_fleet_ops *ops, const fos_params *p, fos_mbox *mbox,
                            fos_cap cap, const fos__fleet_member_init *init, fos_fleet **out)
{
    fos_fleet *f;
    int r = member_new(ops, p, mbox, cap, &f);
    if (r != 0) return r;
    f->self = init->self;
    f->size = init->size;
    for (uint32_t i = 0; i < init->size; i++)
        f->m[i] = (member){init->addr[i], init->cap[i], init->cores[i], true};
    f->placed = true;
    for (uint32_t i = 0; i < init->size; i++)
        watch(f, i);
    if (ops->init) r = ops->init(f, f->state);
    if (r == 0) set_ready(f);
    if (r != 0) {
        /* The others booted with it in their tables: left there, it would be
         * asked and never answer. */
        f->m[f->self].present = false; /* its server answers meanwhile: not as a member */
        say_gone(f, f->self);
        fos_server_destroy(f->srv);
        return r;
    }
    *out = f;
    return 0;
}

/* What a pass over the members goes on after: that member is gone, busy, or
 * not the coordinator. */
static bool join_retry(int r)
{
    return r == -EHOSTDOWN || r == -ETIMEDOUT || r == -ENOENT || r == -EAGAIN || r == -EINPROGRESS;
}

/* A join that failed with no number for the joiner may still have been told
 * to members (by a coordinator that died, or whose answer failed): each member
 * is told who to forget, and remembers it (a coordinator that reads the
 * joiner's question only later would tell it the joiner again, whether it had
 * it before or not), and the members its table lists are told that its
 * entries of this joiner are gone. A member takes that from the joiner's own
 * core. */
static void forget_me(const char *fleet, const struct fleet_join_req *q, uint32_t except)
{
    fos_addr ma;
    fos_cap mc;
    for (uint32_t i = 0; next_named(fleet, &i, &ma, &mc) == 0; i++) {
        struct fleet_table_req tq = {0};
        struct fleet_table_resp ta;
        member m[FOS_FLEET_MAX];
        uint32_t n;
        /* The table first: once told, the member lists the joiner no more. */
        bool read = fleet_table_call(ma, mc, &tq, &ta, FLEET_TIMEOUT) == 0 &&
                    table_in(m, &n, ta.size, ta.table, ta.table_len) == 0;
        struct fleet_gone_req who = {FLEET_FORGET, except, q->core, q->acore, q->aid, q->cap};
        gone_to(ma, mc, &who);
        if (!read) continue; /* its answers late or lost: what it was told must do */
        struct fleet_add_req me = {0, q->core, q->acore, q->aid, q->cap};
        for (uint32_t k = 0; k < n; k++) {
            if (k == except || !(m[k].present || m[k].joining) || !same_member(&m[k], &me))
                continue;
            /* Every member the table lists, named yet or not (one still in
             * its init has no name). One numbering another member k only
             * refuses: the asker is not that member's core. */
            struct fleet_gone_req g = {k};
            for (uint32_t t = 0; t < n; t++) {
                if (!(m[t].present || m[t].joining) || t == k) continue;
                gone_to(m[t].addr, m[t].cap, &g);
            }
        }
    }
}

int fos_fleet_join(const fos_fleet_ops *ops, const fos_params *p, fos_fleet **out)
{
    if (!ops || !ops->name || !out) return -EINVAL;
    fos_fleet *f;
    int r = member_new(ops, p, NULL, 0, &f);
    if (r != 0) return r;
    fos_addr me = fos_server_addr(f->srv);
    struct fleet_join_req q = {fos_core_self(), me.core, me.id, fos_server_cap(f->srv)};
    /* The coordinator is the lowest member still there: ask upwards. */
    struct fleet_join_resp a;
    r = -ENOENT;
    char name[FOS_NAME_MAX];
    /* A coordinator may be slow to answer (waiting on a member that died) or
     * gone before its successor knows: passes over the members, a while
     * apart, until one takes the join. One still adding this joiner (its
     * question timed out there) says so, and is asked again until it is done:
     * a joiner that gave up then would stay in every table, a phantom. */
    bool asked = true, timed_out = false, again = false;
    fos_cycles waited = 0;
    for (int round = 0; round < 8 && asked && !timed_out && join_retry(r); round++) {
        if (round) fos_sleep((fos_cycles)10000 << round);
        r = -ENOENT;
        asked = false; /* no member's name at all: there is no such fleet */
        fos_addr ca;
        fos_cap cc;
        for (uint32_t i = 0; r != 0 && next_named(ops->name, &i, &ca, &cc) == 0; i++) {
            asked = true;
            r = fleet_join_call(ca, cc, &q, &a, FLEET_TIMEOUT);
            again |= r == -ETIMEDOUT || r == -EHOSTDOWN || r == -EINPROGRESS;
            while (r == -EINPROGRESS && !timed_out) {
                fos_sleep(FLEET_TIMEOUT / 16);
                waited += FLEET_TIMEOUT / 16;
                timed_out = waited >= FOS_FLEET_MAX * FLEET_TIMEOUT;
                r = fleet_join_call(ca, cc, &q, &a, FLEET_TIMEOUT);
            }
            if (!join_retry(r) || timed_out) break;
        }
    }
    if (join_retry(r)) r = timed_out ? -ETIMEDOUT : -ENOENT; /* no coordinator took it */
    if (r == 0) r = table_in(f->m, &f->size, a.size, a.table, a.table_len);
    if (r == 0 && a.index >= f->size) r = -EBADMSG;
    /* From here on the others have it in their tables, under that index. */
    if (r == 0) {
        f->self = a.index;
        f->placed = true;
        apply_early(f);
    }
    f->joined = true;
    for (uint32_t i = 0; r == 0 && i < f->size; i++)
        watch(f, i);
    if (r == 0 && ops->init) r = ops->init(f, f->state);
    if (r == 0 && ops->state_in) r = ops->state_in(f, f->state, a.state, a.state_len);
    if (r == 0) set_ready(f);
    if (r == 0)
        r = fos_name_register(member_name(ops->name, f->self, name, sizeof name), me,
                              fos_server_cap(f->srv));
    if (r != 0) {
        /* The members that added it learn it is gone: no phantom stays. */
        if (f->placed) {
            f->m[f->self].present = false;
            say_gone(f, f->self);
        } else {
            f->gave_up = true; /* a question still unread is taken back (on_confirm) */
            forget_me(ops->name, &q, UINT32_MAX);
        }
        fos_server_destroy(f->srv);
        return r;
    }
    /* Asked more than once: a number an earlier question got, from a
     * coordinator that died or was slow, may be left with members that never
     * heard what became of it (one may since have handed its table on): they
     * forget it. */
    if (again) forget_me(ops->name, &q, f->self);
    *out = f;
    return 0;
}

int fos_fleet_leave(fos_fleet *f)
{
    if (!f || !f->m[f->self].present || f->leaving) return -EINVAL;
    /* Joins it coordinates finish first (new ones are sent on): an add it
     * sent after the others heard of its leave would be refused, and a join
     * answered as done would be in some tables and not in others. Bounded,
     * like a joiner's wait for a coordinator. */
    f->leaving = true;
    for (fos_cycles waited = 0; joins_elsewhere(f) && waited < FOS_FLEET_MAX * FLEET_TIMEOUT;
         waited += FLEET_TIMEOUT / 1000)
        fos_sleep(FLEET_TIMEOUT / 1000);
    /* Absent first: its server answers while the others are told, and must
     * not hand out a table, or take a join, as a member. */
    f->m[f->self].present = false;
    say_gone(f, f->self);
    char name[FOS_NAME_MAX];
    fos_name_unregister(member_name(f->ops->name, f->self, name, sizeof name));
    return fos_server_destroy(f->srv);
}

/* One pass over the members by name: the first that answers gives its table. */
static int view_once(const char *fleet, fos_fleet_view *v)
{
    struct fleet_table_resp a;
    fos_addr ma;
    fos_cap mc;
    for (uint32_t i = 0; next_named(fleet, &i, &ma, &mc) == 0; i++) {
        struct fleet_table_req q = {0};
        if (fleet_table_call(ma, mc, &q, &a, FLEET_TIMEOUT) != 0) continue;
        member m[FOS_FLEET_MAX];
        uint32_t n;
        if (table_in(m, &n, a.size, a.table, a.table_len) != 0) continue;
        v->size = n;
        for (uint32_t k = 0; k < n; k++) {
            v->m[k].addr = m[k].addr;
            v->m[k].cap = m[k].cap;
            v->m[k].core = m[k].core;
            v->m[k].present = m[k].present;
        }
        return 0;
    }
    return -ENOENT;
}

int fos_fleet_view_get(const char *fleet, fos_fleet_view *v)
{
    if (!fleet || !v) return -EINVAL;
    /* Busy members (full mailboxes, slow answers) are asked again a few
     * times before the fleet is called absent. */
    int r = -ENOENT;
    for (int round = 0; round < 8 && r != 0; round++) {
        if (round) fos_sleep((fos_cycles)10000 << round);
        r = view_once(fleet, v);
    }
    return r;
}

int fos_fleet_view_nearest(const fos_fleet_view *v)
{
    if (!v || v->size > FOS_FLEET_MAX) return -EINVAL;
    const fos_topo *t = fos_core_topo();
    fos_core_id self = fos_core_self();
    int best = -ENOENT;
    uint32_t best_hops = UINT32_MAX;
    for (uint32_t i = 0; i < v->size; i++) {
        if (!v->m[i].present) continue;
        uint32_t h = fos_topo_hops(t, self, v->m[i].core);
        if (h < best_hops) {
            best_hops = h;
            best = (int)i;
        }
    }
    return best;
}
