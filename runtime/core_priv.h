/* What the runtime's files share: cores, fibers, events, the engine's hooks.
 * Nothing outside runtime/ and mailbox/ includes this. */
#ifndef FOS_RUNTIME_CORE_PRIV_H
#define FOS_RUNTIME_CORE_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "fos/fos.h"
#include "runtime/ctx.h"
#include "runtime/stack.h"
#include "runtime/tsc.h"

/* ---- events ---------------------------------------------------------------- */

enum fos__ev_kind {
    FOS__EV_MSG = 1,    /* a mailbox message arrives: p = fos__kmsg, u = mailbox id */
    FOS__EV_ACK,        /* a send's answer: p = sender fiber, u = its wait gen, arg = result */
    FOS__EV_TIMER,      /* p = fiber, u = wait gen */
    FOS__EV_SPAWN,      /* p = fos__spawn_req */
    FOS__EV_KILL,       /* the core dies */
    FOS__EV_NAME_REQ,   /* at the directory: p = fos__name_req */
    FOS__EV_NAME_REP,   /* back at the asker: p = fos__name_req */
    FOS__EV_CHAN_MSG,   /* a channel message reaches the consumer: p = ring */
    FOS__EV_CHAN_REL,   /* slots released, back at the producer: p = ring, u = tail */
    FOS__EV_CHAN_SETUP, /* at the endpoint's core: p = chan, u = asker's wait gen */
    FOS__EV_CHAN_CLOSE, /* at the other side: p = chan */
    FOS__EV_WATCH,      /* at a watched core: u = the watcher's address, p = its capability */
    FOS__EV_NAME_INVAL, /* at a core: drop p (a name, malloc'd) from its cache */
};

/* Ordered by (time, key); key = source core << 40 | source sequence, so the order
 * is total and the same on every host (DESIGN §2 rule 2). */
typedef struct fos__event {
    fos_cycles time;
    uint64_t key;
    uint32_t kind;
    int32_t arg;
    void *p;
    uint64_t u;
} fos__event;

#define FOS__SEQ_BITS 40

/* Times that a user's figure (a fault's delay, a cost) can push past the end
 * of time stay there, rather than wrapping into the past. */
static inline fos_cycles fos__sat_add(fos_cycles a, fos_cycles b)
{
    return a + b < a ? FOS_CYCLES_MAX : a + b;
}

/* A per-core queue of pending events: a sorted array, since a core holds only a
 * few at a time and new events usually go last. Live range v[head, head + n). */
typedef struct fos__evq {
    fos_cycles next; /* the first event's time, FOS_CYCLES_MAX when empty: the
                      * test at every yield point reads the core's line only */
    fos__event *v;
    uint32_t head, n, cap;
} fos__evq;

int fos__evq_init(fos__evq *q, uint32_t cap);
void fos__evq_fini(fos__evq *q);
/* Out of line: a full array, or an event that goes before the last. */
int fos__evq_insert(fos__evq *q, const fos__event *e);
/* Removes the first queued event of this kind with this payload; false if none. */
bool fos__evq_remove(fos__evq *q, uint32_t kind, const void *p);

static inline bool fos__ev_before(const fos__event *a, const fos__event *b)
{
    return a->time < b->time || (a->time == b->time && a->key < b->key);
}

/* Queues e in order: 0 or -ENOMEM. New events usually go last, into room
 * that is there: that path is inline. */
static inline int fos__evq_push(fos__evq *q, const fos__event *e)
{
    uint32_t end = q->head + q->n;
    if (end == q->cap || (q->n && fos__ev_before(e, &q->v[end - 1]))) return fos__evq_insert(q, e);
    q->v[end] = *e;
    if (q->n++ == 0) q->next = e->time;
    return 0;
}

static inline const fos__event *fos__evq_peek(const fos__evq *q)
{
    return q->n ? &q->v[q->head] : NULL;
}

static inline void fos__evq_pop(fos__evq *q, fos__event *out)
{
    *out = q->v[q->head++];
    if (--q->n == 0) {
        q->head = 0;
        q->next = FOS_CYCLES_MAX;
    } else {
        q->next = q->v[q->head].time;
    }
}

/* ---- fibers ---------------------------------------------------------------- */

enum fos__wait {
    FOS__W_NONE,
    FOS__W_MBOX,  /* fos_recv: wait_addr */
    FOS__W_ACK,   /* fos_send's answer: wait_addr */
    FOS__W_SLEEP, /* wait_until */
    FOS__W_JOIN,  /* wait_obj = the fiber joined */
    FOS__W_NAME,  /* wait_obj = the name */
    FOS__W_CHAN,  /* fos_chan_recv: wait_obj = the ring */
};

enum fos__fstate { FOS__F_RUNNABLE, FOS__F_RUNNING, FOS__F_WAITING, FOS__F_DONE };

/* The first line holds what every switch, wake and wait touches, the second
 * what a wait records; the engine prefetches both (prefetch.h). */
struct fos_fiber {
    fos__ctx ctx; /* first: the switch reads and writes it */
    struct fos_core *core;
    struct fos_fiber *next; /* run queue or wait queue */
    uint64_t id;            /* per core, in spawn order */
    uint64_t wait_gen;      /* bumped at every wake: stale timers and answers are ignored */
    int state;
    int wait;
    int wake_res;
    bool timer_armed; /* a timer event for this wait is queued on its core */
    bool joinable, daemon, joined;
    /* Second line. */
    const void *stack_hi; /* its stack's top: where a parked fiber's frames end */
    const void *wait_obj;
    fos_addr wait_addr;
    fos_cycles wait_until;
    struct fos_request *request; /* a server's fiber: the request it is handling */
    fos__stack *stack;
    fos_fiber_fn fn;
    void *arg;
    /* Cold. */
    struct fos_fiber *all_prev, *all_next; /* the core's live fibers */
    const char *name;
    struct fos_fiber *joiner;
    void *asan_fake;
};

typedef struct fos__fifo {
    fos_fiber *head, *tail;
} fos__fifo;

static inline void fos__fifo_push(fos__fifo *q, fos_fiber *f)
{
    f->next = NULL;
    if (q->tail)
        q->tail->next = f;
    else
        q->head = f;
    q->tail = f;
}

static inline void fos__fifo_push_front(fos__fifo *q, fos_fiber *f)
{
    f->next = q->head;
    q->head = f;
    if (!q->tail) q->tail = f;
}

static inline fos_fiber *fos__fifo_pop(fos__fifo *q)
{
    fos_fiber *f = q->head;
    if (f) {
        q->head = f->next;
        if (!q->head) q->tail = NULL;
    }
    return f;
}

/* Removes f if queued; returns whether it was. */
bool fos__fifo_remove(fos__fifo *q, fos_fiber *f);

/* ---- kernel message buffers ------------------------------------------------- */

/* A message in flight or queued: the kernel's envelope around the user's fos_msg.
 * Buffers come from per-core free lists by size class; never malloc'd per message. */
typedef struct fos__kmsg {
    struct fos__kmsg *next;
    uint32_t cls;
    fos_core_id owner; /* the core whose free list it comes from and returns to */
    uint32_t dst_id;
    fos_cap cap;
    fos_fiber *sender; /* waits for the answer */
    uint64_t sender_gen;
    fos_msg msg;
} fos__kmsg;

#define FOS__KMSG_CLASSES 12 /* 128 B << 11 = 256 KiB envelope, header included */

/* Free envelopes, one LIFO per size class. */
typedef struct fos__kmsg_lists {
    fos__kmsg *head[FOS__KMSG_CLASSES];
    uint32_t n[FOS__KMSG_CLASSES];
} fos__kmsg_lists;

/* ---- the native engine's inbox ------------------------------------------------ */

/* Events for a core from other host threads: a bounded multi-producer ring in the
 * receiving core's memory, drained by the core's own thread into its event
 * queue. A producer claims a ticket on `tail` and publishes its cell by writing
 * the ticket + 1 into the cell's sequence word, which the consumer polls; room is
 * judged from the consumer's `head`, read only when the ring looks full. So the
 * consumer never writes a cell and a message moves one cache line, once. */
typedef struct fos__inbox_cell {
    _Alignas(64) uint64_t seq; /* atomic: the cell's turn */
    fos__event ev;
} fos__inbox_cell; /* one cache line: a producer's cell never shares one with the next */

typedef struct fos__inbox {
    fos__inbox_cell *cells;
    uint64_t mask;
    _Alignas(64) uint64_t tail;     /* atomic: producers claim cells here */
    uint64_t head_seen;             /* atomic: head, as producers last read it */
    _Alignas(64) uint64_t head;     /* atomic: written by the consumer alone */
    _Alignas(64) uint32_t sleeping; /* atomic: the consumer may be in futex_wait */
    uint32_t bell;                  /* atomic: the futex word */
} fos__inbox;

/* A message written into a mailbox's ring (native engine): the ring and its ticket. */
typedef struct fos__dring_mark {
    struct fos__dring *d; /* NULL: none */
    uint64_t ticket;
} fos__dring_mark;

/* ---- cores ------------------------------------------------------------------ */

struct sim;
struct fos__worker;

typedef struct fos__name_entry {
    char name[FOS_NAME_MAX];
    fos_addr addr;
    fos_cap cap;
    bool used;
    uint32_t sent; /* messages fos_send_name sent to it: the channel upgrade counts them */
} fos__name_entry;

typedef struct fos__name_table {
    fos__name_entry *v;
    uint32_t cap, n;
} fos__name_table;

struct fos_core {
    /* Hot: touched by nearly every activation and message, kept to the first
     * few cache lines (the engine prefetches them ahead). */
    fos_core_id id;
    bool dead;
    uint32_t nchan_out; /* channels this core sends on (chan_out) */
    uint32_t widx;      /* virtual engine: the index of the worker that runs it */
    struct sim *sim;
    struct fos__worker *w;
    fos__inbox *inbox;         /* native engine only: also the scheduler's test
                                * for which engine runs, on the core's own line */
    struct fos__dring ***dtab; /* native: its mailboxes' rings, by slot (two levels,
                                * never moved while the run lasts) */
    fos_cycles kill_at;        /* the earliest kill the harness scheduled for it: on the
                                * native engine, senders treat it as dead from then on */
    /* What other cores' threads read to post here (inbox, id) stays on a line
     * of its own: sharing one with the clock and the running fiber, which the
     * core writes all the time, cost every post a cache miss. */
    _Alignas(64) fos_cycles clock;
    fos_cycles wend; /* end of the window the core is running in */
    fos_cycles busy;
    fos_fiber *current;  /* running fiber, or NULL in the engine */
    uint64_t last_id;    /* id + 1 of the last fiber that ran (0: none): a switch
                          * to another is charged. An id, never a pointer, so the
                          * charge cannot depend on where a fiber was allocated. */
    fos_fiber *last;     /* the same fiber, for prefetching only; NULL once freed */
    void *park_sp;       /* the stack pointer its fiber that last left saved (ctx.h) */
    const void *park_hi; /* and that fiber's stack top: its frames lie in between */
    /* What a post to this core touches on the virtual engine, in one line. */
    _Alignas(64) uint64_t sched_win; /* the window of its valid calendar entry, or UINT64_MAX */
    fos__evq evq;
    uint64_t seq;
    uint64_t digest;
    /* Mailboxes of this core: slot i holds one whose id is i | generation << 16. */
    struct fos_mbox **mbox;
    fos__fifo runq_hi; /* woken by replies */
    fos__fifo runq;
    struct fos_mbox *reply_mbox;
    struct fos_mbox *hot_mbox; /* the last one fos_recv read: prefetched (NULL once freed) */
    uint32_t nmbox, mbox_cap;
    uint64_t st_bytes_in;
    fos_rng rng_app;
    uint64_t st_events, st_sent, st_recv, st_bytes;
    /* Colder: the engine prefetches the lines above (FOS__CORE_HOT_LINES). */
    fos__kmsg_lists kfree; /* native: this core's envelopes */
    fos_fiber *all;        /* live fibers */
    uint64_t nlive, nlive_apps, fiber_ids;
    fos_rng rng_cap, rng_fault;
    uint64_t fault_fired; /* kill rules this core has fired (bit per rule) */
    fos_cycles died_at;   /* when it was killed: its clock may have been charged past it */
    uint32_t *mbox_free;
    uint32_t nmbox_free;
    unsigned arena;
    fos__name_table names;         /* the name cache */
    struct fos__rpc_box *rpc_free; /* idle reply mailboxes of fos_rpc_call */
    struct fos__rpc_box *rpc_all;  /* all of them */
    struct fos_server *servers;    /* the dispatchers made here */
    struct fos__atexit *atexit;    /* fos_core_atexit's, newest first */
    struct fos__watcher *watchers; /* told when this core dies (fos_core_watch) */
    struct fos__dring *dretired;   /* native: rings of destroyed mailboxes */
    /* Native: the rings of this core's mailboxes, which senders write into:
     * dtab (above) for senders, dlive for polling. dsent/dseen (atomic) count messages written by
     * this core and seen here, so the run's end can tell none is unseen. */
    struct fos__dring **dlive;
    uint32_t ndlive, dlive_cap;
    uint64_t dsent, dseen;
    uint32_t nwatchers, watchers_cap;
    uint64_t rpc_corr; /* the last correlation id a call used */
    struct fos__chan_out *chan_out;
    uint32_t chan_out_cap;
    uint32_t parked;            /* native engine, atomic: asleep with nothing pending */
    struct fos__ring **chan_in; /* rings this core consumes (polled on native) */
    uint32_t nchan_in, chan_in_cap;
    uint64_t activity; /* native engine, atomic: rounds of its loop that did work */
    uint64_t st_full, st_perm, st_noent, st_dropped, st_fault_dropped, st_fault_delayed, st_killed,
        st_chan_msgs, st_chan_bytes, st_chan_full, st_chan_upgrades, st_kmsg_allocs;
    /* Envelopes other cores have finished with, coming home (atomic stack). */
    _Alignas(64) fos__kmsg *kret;
};

/* ---- the engine ------------------------------------------------------------- */

/* The calendar of cores: a ring of buckets, one per window, of the cores due in
 * that window (lazily: a core moved earlier leaves a stale entry that is skipped),
 * plus a heap for cores due beyond the ring. A short ring keeps the buckets
 * being filled in cache (4096 measured 3% slower on PHOLD, where nearly every
 * wake lies within 30 windows); what lies further goes to the heap. */
#define FOS__CAL_RING 256

typedef struct fos__cal_bucket {
    uint32_t *v;
    uint32_t n, cap;
} fos__cal_bucket;

typedef struct fos__cal_far {
    uint64_t win;
    uint32_t core;
} fos__cal_far;

typedef struct fos__cal {
    _Alignas(64) uint64_t cur; /* window being run; lines of its own: one per worker */
    fos__cal_bucket b[FOS__CAL_RING];
    uint64_t ring_n;
    fos__cal_far *far;
    uint32_t nfar, farcap;
} fos__cal;

/* Events a window's cores post to other cores, held until the window ends:
 * they are due no sooner than the next window (rule 5), and queued together
 * their destinations' lines are fetched ahead instead of missed one by one in
 * the middle of a sender's run. */
typedef struct fos__outbox_entry {
    fos_core *dst;
    fos__event e;
} fos__outbox_entry;

typedef struct fos__outbox {
    _Alignas(64) fos__outbox_entry *v; /* a line each: another worker empties it */
    uint32_t n, cap;
} fos__outbox;

typedef struct fos__worker {
    _Alignas(64) fos__ctx ctx; /* the engine's own context: run start and end only */
    void *asan_fake;
    const void *stack_lo;
    size_t stack_size;
    fos__stack_pool pool;
    fos__cal *cal; /* virtual engine: the calendar of the worker's cores */
    struct sim *sim;
    fos_fiber *zombie; /* ended, its stack in use until the next switch */
    /* Where the engine is: any fiber that has nothing left on its core calls
     * fos__engine_next to go straight to the next core's fiber. */
    fos_core *run_core; /* core being run in the current window */
    uint32_t bi;        /* next entry of the current window's bucket */
    bool in_window, last_window;
    fos_cycles wend;
    /* Virtual engine: the envelopes of all the worker's cores, in one LIFO per
     * class. The envelope a receiver has just copied out is the next a sender
     * takes, still in cache, and nothing crosses cores or takes an atomic. */
    fos__kmsg_lists kfree;
    /* Virtual engine. The outboxes of the window being run, one per
     * destination worker: `out` points into outv, which holds two sets, used
     * in alternate windows, so that a set is read by the other workers after
     * a window's barrier while its writer fills the other one. */
    fos__outbox *out;
    fos_cycles out_min; /* the earliest event posted in this window (nw > 1) */
    uint64_t activations;
    uint64_t progress; /* atomic: activations, which the watchdog reads */
    uint32_t idx, nw;
    /* What the other workers read, once a window, away from what this one
     * writes all the time. */
    _Alignas(64) fos__outbox *outv;
    uint64_t cand; /* the next window this worker has work in, for the barrier */
    pthread_t thread;
} fos__worker;

/* The barrier that ends every window when several workers run them: the last
 * to arrive decides, from every worker's next window and the run's state,
 * what comes next for all, and publishes it with the new generation. */
typedef struct fos__bar {
    _Alignas(64) uint32_t count; /* atomic: workers arrived */
    _Alignas(64) uint32_t gen;   /* atomic: bumped by the last to arrive */
    uint32_t spins;              /* a waiter's spins before it yields its CPU */
    bool stop;                   /* the run ends here */
    uint64_t next;               /* the next window with work anywhere */
    uint64_t seq;                /* windows run so far: picks the outbox set */
} fos__bar;

typedef struct fos__dir {
    fos__name_table t;
    /* The name fleet, once started: its members' mailboxes, known from boot.
     * Then questions go to them, and t is only the fleet's boot image. */
    fos_addr *ns_addr;
    fos_cap *ns_cap;
    fos_core_id *ns_core;
    uint32_t nns;
} fos__dir;

typedef struct fos__fault_rule {
    enum { FOS__FAULT_KILL, FOS__FAULT_DROP, FOS__FAULT_DELAY } kind;
    sim_match m;
    fos_core_id victim;
    uint32_t per_million;
    fos_cycles extra;
} fos__fault_rule;

struct sim {
    sim_config cfg;
    bool native;
    bool running;        /* native: the core threads are up; posts go through inboxes */
    uint32_t stop;       /* native, atomic: the run is over */
    bool oversubscribed; /* native: more cores than host CPUs, so waiting must not spin */
    uint64_t tsc0;       /* native: TSC at the run's start */
    uint32_t host_cpus;
    fos__fault_rule rules[SIM_FAULT_RULES_MAX];
    uint32_t nrules;
    fos_topo topo;
    fos_cycles lookahead; /* window length */
    fos_core **cores;
    uint32_t ncores;
    fos__worker *workers; /* virtual engine: the host threads that run windows */
    uint32_t nworkers;
    fos__cal *cals;              /* one per virtual worker */
    fos__bar bar;                /* virtual, nworkers > 1 */
    fos__worker *native_workers; /* native engine: one per core thread */
    fos__dir dir;
    bool ran;
    bool tearing_down;
    bool any_app;
    uint64_t apps_live;
    fos_cycles last_app_exit;
    /* Written once a window by the engine: on lines of their own, away from
     * what every message reads (tearing_down, the topology, the cores). */
    _Alignas(64) fos_cycles pub_time; /* atomic: start of the window being run, for sim_progress */
    uint64_t pub_msgs;                /* atomic: messages delivered, refreshed every few windows */
    struct fos_chan *chans;           /* every channel made, freed at the end */
    sim_stats st;
};

/* The core the calling host thread is running, or NULL in the harness. */
extern __thread fos_core *fos__cur;

/* Stops the run: `call` was made off any simulated core. */
_Noreturn void fos__no_core(const char *call);

/* The calling core; the function that asks is named if there is none. */
static inline fos_core *fos__self_in(const char *call)
{
    fos_core *c = fos__cur;
    if (__builtin_expect(!c, 0)) fos__no_core(call);
    return c;
}
#define fos__self() fos__self_in(__func__)

/* Posts an event from core `src` (or the harness for src == dst at boot) to dst. */
void fos__post(fos_core *src, fos_core *dst, fos_cycles time, uint32_t kind, int32_t arg, void *p,
               uint64_t u);
/* The same, for rare events: keeps fos__post's own call sites few enough that
 * the compiler inlines it on the message path. */
void fos__post_cold(fos_core *src, fos_core *dst, fos_cycles time, uint32_t kind, int32_t arg,
                    void *p, uint64_t u);

/* The calling fiber waits: it has recorded what on, and is switched away until
 * something wakes it. Returns the waker's result. */
int fos__block(fos_core *c);

/* Switches away from the calling fiber, which has ended, for good. */
_Noreturn void fos__leave_final(fos_core *c);

/* A yield point for a fiber that stays runnable: delivers what is due and parks
 * the fiber if its clock has passed the window's end. */
void fos__sync(fos_core *c);

/* Charges cycles to the calling core and passes a yield point. */
void fos__charge(fos_core *c, fos_cycles n);
/* Charges cycles without parking: for the tail of a call (a copy out) after
 * which the fiber only computes on what it owns. Every call that observes or
 * acts starts with fos__sync, which parks a fiber whose clock has left the
 * window, so a window edge costs a park only where it matters. */
void fos__advance(fos_core *c, fos_cycles n);

/* The core dies, its kill due at `at`: its fibers stop (its applications
 * ended then), its mailboxes' messages are dropped and counted, its watchers
 * are told. */
void fos__core_kill(fos_core *c, fos_cycles at);

/* Makes f runnable with result res; hi: it was woken by a reply. Inline:
 * every message's arrival and every send's answer wakes a fiber. */
static inline void fos__wake(fos_fiber *f, int res, bool hi)
{
    if (__builtin_expect(f->timer_armed, 0)) {
        /* Woken before its timeout: the timer must not outlive the wait, since
         * the fiber may end and be freed before the timer's time comes. */
        fos__evq_remove(&f->core->evq, FOS__EV_TIMER, f);
        f->timer_armed = false;
    }
    f->wait_gen++;
    f->wake_res = res;
    f->wait = FOS__W_NONE;
    f->state = FOS__F_RUNNABLE;
    fos__fifo_push(hi ? &f->core->runq_hi : &f->core->runq, f);
}

/* Parks the calling fiber on a timer at absolute time `until`. */
void fos__timer_arm(fos_core *c, fos_fiber *f, fos_cycles until);

/* Fiber creation on core c (from the harness or a fiber of c). */
int fos__fiber_new(fos_core *c, fos_fiber_fn fn, void *arg, const fos_fiber_opts *o, bool joinable,
                   bool daemon, fos_fiber **out);
/* Releases every fiber of c (teardown). */
void fos__fibers_drop(fos_core *c);
/* Frees a fiber's struct; its stack is already released. */
void fos__fiber_free(fos_core *c, fos_fiber *f);

/* Allocation seam: the core's jemalloc arena (libc malloc in sanitizer builds). */
void *fos__alloc(fos_core *c, size_t n);
struct fos__watcher {
    fos_addr addr;
    fos_cap cap;
};

/* A message the kernel of core c sends on its own (no fiber waits for an
 * answer): a death notice. */
void fos__kernel_send(fos_core *c, fos_addr dst, fos_cap cap, const fos_msg *msg);

struct fos__atexit {
    struct fos__atexit *next;
    void (*fn)(void *);
    void *arg;
};

void fos__name_inval_deliver(fos_core *c, const fos__event *e);

/* Releases the core's idle RPC reply boxes (their mailboxes go with the core's). */
void fos__rpc_fini(fos_core *c);
/* Releases the core's servers (their fibers and mailboxes go with the core's). */
void fos__servers_fini(fos_core *c);

void *fos__calloc(fos_core *c, size_t n);
void fos__free(fos_core *c, void *p);
/* The process-wide arena for core index idx. 0 or -ENOMEM. */
#define FOS__ARENAS 256
int fos__arena_get(unsigned idx, unsigned *out);

fos__kmsg *fos__kmsg_get(fos_core *c, size_t bytes);
/* The same off the message path (see fos__post_cold). */
fos__kmsg *fos__kmsg_get_cold(fos_core *c, size_t bytes);
void fos__kmsg_put(fos_core *c, fos__kmsg *k);
/* Frees every envelope on the lists (the end of a run). */
void fos__kmsg_lists_free(fos__kmsg_lists *l);

/* Fault rules, judged as the sender's kernel takes a message (fault.c). Returns
 * true when the message is to be dropped; *extra gets any added delay. */
bool fos__fault_on_send(fos_core *c, fos_core_id dst, uint32_t type, fos_cycles *extra);

/* Frees what an event that will never be delivered owns (teardown, a run's end). */
static inline void fos__event_discard(fos_core *c, const fos__event *e)
{
    if (e->kind == FOS__EV_MSG) fos__free(c, e->p); /* an envelope */
    if (e->kind == FOS__EV_NAME_INVAL) free(e->p);  /* a name, malloc'd */
}

/* Folds a value into a digest. */
static inline uint64_t fos__mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

/* Name tables (the cache of each core and the directory). */
int fos__names_init(fos__name_table *t);
void fos__names_fini(fos__name_table *t);
fos__name_entry *fos__names_find(fos__name_table *t, const char *name);
int fos__names_put(fos__name_table *t, const char *name, fos_addr a, fos_cap cap);
void fos__names_del(fos__name_table *t, const char *name);
void fos__name_deliver(fos_core *c, const fos__event *e);

/* The rings c consumes into mailbox `mbox_id` (0: all of them) lose their
 * consumer: each producer is told, and its sends go back to the mailbox path,
 * where they get -ENOENT or -EHOSTDOWN (channels/). */
void fos__chan_consumer_gone(fos_core *c, uint32_t mbox_id);

/* Mailboxes (mailbox/). Discards every mailbox of a core (death and teardown),
 * counting the messages lost when `count`; free_all also releases the tables. */
void fos__mbox_drop_all(fos_core *c, bool count);
void fos__mbox_free_all(fos_core *c);
int fos__mbox_new(fos_core *c, size_t capacity, struct fos_mbox **out, fos_cap *cap);

/* The native engine (engine_native.c). */
void fos__native_post(fos_core *src, fos_core *dst, const fos__event *e);
int fos__native_run(struct sim *s);
int fos__native_init(struct sim *s);
void fos__native_compute(fos_core *c, fos_cycles n);
uint32_t fos__native_drain(fos_core *c);
/* Teardown: frees what events published to c's inbox but never taken own. */
void fos__native_discard_inbox(fos_core *c);
/* Spins a little for something to arrive or fall due; true if it did. */
bool fos__native_wait_briefly(fos_core *c);
/* Wakes dst's thread if it sleeps: something for it is in shared memory. */
void fos__native_kick(fos_core *dst);
/* Wakes dst's thread, known to be asleep (futex). */
void fos__native_wake(fos_core *dst);
/* The core's clock: TSC cycles since the run began on the native engine; a
 * virtual core's clock moves only by charges. */
static inline fos_cycles fos__clock_tsc(const fos_core *c)
{
    uint64_t t = fos__tsc() - c->sim->tsc0;
    return t > c->clock ? t : c->clock;
}
static inline void fos__clock_now(fos_core *c)
{
    if (c->sim->native) c->clock = fos__clock_tsc(c);
}
/* The clock where only queued events need it: a native core reads the TSC
 * (~9 ns here) only when it has an event whose time must be compared with it.
 * Whatever sets a deadline or reports a time reads it with fos__clock_now. */
static inline void fos__clock_due(fos_core *c)
{
    /* inbox: native; a virtual core's clock moves only by charges */
    if (c->inbox && c->evq.n) c->clock = fos__clock_tsc(c);
}
/* The time `timeout` from now (FOS_CYCLES_MAX: never), the clock read first. */
static inline fos_cycles fos__deadline(fos_core *c, fos_cycles timeout)
{
    if (timeout == FOS_CYCLES_MAX) return FOS_CYCLES_MAX;
    fos__clock_now(c);
    return c->clock + timeout < c->clock ? FOS_CYCLES_MAX : c->clock + timeout;
}
/* Records the calling thread's stack, for ASan's view of switches back to it. */
void fos__worker_stack(fos__worker *w);

/* Shared counters: atomic, since the native engine's cores update them from
 * their own threads. */
static inline void fos__apps_add(struct sim *s, int64_t d)
{
    __atomic_fetch_add(&s->apps_live, (uint64_t)d, __ATOMIC_ACQ_REL);
}

/* n application fibers of c end at time t (they return, or c is killed): the
 * run, if they were the last, ended at the latest such time. */
static inline void fos__apps_exit(fos_core *c, uint64_t n, fos_cycles t)
{
    fos_cycles prev = __atomic_load_n(&c->sim->last_app_exit, __ATOMIC_RELAXED);
    while (t > prev && !__atomic_compare_exchange_n(&c->sim->last_app_exit, &prev, t, false,
                                                    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
    fos__apps_add(c->sim, -(int64_t)n);
}

/* Puts c in its engine's calendar for time t unless it is due earlier already. */
void fos__cal_wake(struct sim *s, fos_core *c, fos_cycles t);

/* Engine side of the scheduler (sched.c): the next fiber c runs in its window
 * [.., c->wend), or NULL when c is done with the window. */
fos_fiber *fos__pick(fos_core *c);
/* The earliest time the core has something to do, or FOS_CYCLES_MAX. */
fos_cycles fos__core_key(const fos_core *c);
/* The next fiber to run on any core of the worker, moving through the window's
 * cores and on to later windows; NULL when the run is over. Sets fos__cur. */
fos_fiber *fos__engine_next(fos__worker *w);

#endif
