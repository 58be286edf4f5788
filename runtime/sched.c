/* The per-core micro-scheduler and the rules of virtual time it enforces.
 *
 * A core runs inside a window [T, wend). Events are delivered in (time, key)
 * order, and only those before wend: later ones may still be joined by events
 * other cores post during this window. A fiber acts only while its core's clock
 * is inside the window; at a yield point past wend it is parked and resumed in
 * the window that contains its clock. Together these make every delivery and
 * every action happen in time order whatever the order in which the engine runs
 * cores, which is what makes results independent of workers and partitioning. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "channels/channel_kernel.h"
#include "mailbox/mailbox_kernel.h"
#include "runtime/core_priv.h"
#include "runtime/switch.h"

__thread fos_core *fos__cur;

_Noreturn void fos__no_core(const char *call)
{
    fprintf(stderr,
            "fossim: %s was called outside a fiber of a simulated core (from a plugin's "
            "fossim_plugin_init, say, or a thread of its own): it runs only on a simulated "
            "core\n",
            call);
    abort();
}

bool fos__fifo_remove(fos__fifo *q, fos_fiber *f)
{
    fos_fiber *prev = NULL;
    for (fos_fiber *x = q->head; x; prev = x, x = x->next) {
        if (x != f) continue;
        if (prev)
            prev->next = x->next;
        else
            q->head = x->next;
        if (q->tail == x) q->tail = prev;
        x->next = NULL;
        return true;
    }
    return false;
}

void fos__timer_arm(fos_core *c, fos_fiber *f, fos_cycles until)
{
    fos__clock_now(c);
    f->wait_until = until;
    f->timer_armed = true;
    fos__post(c, c, until, FOS__EV_TIMER, 0, f, f->wait_gen);
}

/* The death notice to one watcher, sent by the dying core's kernel. */
static void notify_death(fos_core *c, const struct fos__watcher *w)
{
    struct {
        fos_msg h;
        uint32_t core;
    } m = {.h = {.type = FOS_MSG_CORE_DEAD, .len = sizeof(uint32_t)}, .core = c->id};
    fos__kernel_send(c, w->addr, w->cap, &m.h);
}

static void deliver_watch(fos_core *c, const fos__event *e)
{
    struct fos__watcher w = {{(fos_core_id)(e->u >> 32), (uint32_t)e->u}, (fos_cap)(uintptr_t)e->p};
    if (c->dead) {
        notify_death(c, &w);
        return;
    }
    if (c->nwatchers == c->watchers_cap) {
        uint32_t ncap = c->watchers_cap ? 2 * c->watchers_cap : 8;
        struct fos__watcher *nv = realloc(c->watchers, ncap * sizeof(*nv));
        if (!nv) {
            fprintf(stderr, "fossim: core %u: out of memory for a death watch\n", c->id);
            abort();
        }
        c->watchers = nv;
        c->watchers_cap = ncap;
    }
    c->watchers[c->nwatchers++] = w;
}

int fos_core_watch(fos_core_id core, fos_addr notify, fos_cap cap)
{
    fos_core *c = fos__self();
    struct sim *s = c->sim;
    if (core >= s->ncores || notify.core >= s->ncores) return -EINVAL;
    fos__sync(c);
    fos__post_cold(
        c, s->cores[core], fos__sat_add(c->clock, fos_topo_latency(&s->topo, c->id, core, 0)),
        FOS__EV_WATCH, 0, (void *)(uintptr_t)cap, (uint64_t)notify.core << 32 | notify.id);
    fos__charge(c, s->topo.costs.trap);
    return 0;
}

void fos__core_kill(fos_core *c, fos_cycles at)
{
    /* Senders on the native engine read it (mailbox/deposit.c). */
    __atomic_store_n(&c->dead, true, __ATOMIC_RELEASE);
    for (uint32_t i = 0; i < c->nwatchers; i++)
        notify_death(c, &c->watchers[i]);
    c->st_killed = 1;
    /* A virtual core learns of its kill at its next runtime call, which a long
     * charge may put past the kill's time; its applications died at that time. */
    fos__clock_now(c);
    c->died_at = at < c->clock ? at : c->clock;
    if (c->nlive_apps) fos__apps_exit(c, c->nlive_apps, at < c->clock ? at : c->clock);
    c->nlive_apps = 0;
    /* Dropping the mailboxes wakes their waiters: clear the queues after. */
    fos__mbox_drop_all(c, true);
    fos__chan_consumer_gone(c, 0);
    c->runq.head = c->runq.tail = NULL;
    c->runq_hi.head = c->runq_hi.tail = NULL;
}

static void deliver_timer(const fos__event *e)
{
    fos_fiber *f = e->p;
    f->timer_armed = false;
    if (f->state != FOS__F_WAITING || f->wait_gen != e->u) return;
    if (f->wait == FOS__W_MBOX)
        fos__mbox_unwait(f);
    else if (f->wait == FOS__W_CHAN)
        fos__chan_unwait(f);
    fos__wake(f, f->wait == FOS__W_SLEEP ? 0 : -ETIMEDOUT, false);
}

static void deliver_spawn(fos_core *c, const fos__event *e)
{
    fos_fiber_fn fn = (fos_fiber_fn)e->p;
    bool daemon = e->arg != 0;
    if (fos__fiber_new(c, fn, (void *)(uintptr_t)e->u, NULL, false, daemon, NULL) != 0) {
        /* The only failure is host memory: nothing sensible can continue. */
        fprintf(stderr, "fossim: core %u: out of memory spawning a fiber\n", c->id);
        abort();
    }
    if (!daemon) fos__apps_add(c->sim, -1); /* counted while in flight; now counted as a fiber */
    /* The microkernel of the target core makes the fiber: its time, as a local
     * fos_fiber_spawn's is the caller's. */
    c->clock = fos__sat_add(c->clock, c->sim->topo.costs.spawn);
    c->busy += c->sim->topo.costs.spawn;
}

static void deliver(fos_core *c, const fos__event *e)
{
    c->st_events++;
    /* The digest covers what happened, not only when: the answer (arg), the
     * mailbox or wait (u), and a message's type and length. */
    uint64_t what = (uint64_t)e->kind << 32 ^ (uint32_t)e->arg;
    if (e->kind == FOS__EV_MSG)
        what ^= (uint64_t)((const fos__kmsg *)e->p)->msg.type << 40 ^
                (uint64_t)((const fos__kmsg *)e->p)->msg.len << 8;
    /* u goes in where it names something simulated (a mailbox, an address, a
     * ring's index), not where it is a host pointer (a spawn's argument: it
     * would differ between processes, rule 2) or a wait generation (a count of
     * the fiber's wakes, which depends on how the scheduler parks it, not on
     * what the simulated system did). */
    bool artefact = e->kind == FOS__EV_SPAWN || e->kind == FOS__EV_ACK ||
                    e->kind == FOS__EV_TIMER || e->kind == FOS__EV_CHAN_SETUP;
    uint64_t u = artefact ? 0 : e->u;
    /* Two rounds over four words: time and the source's key, then what and
     * its mailbox or wait (rotated so that neither half cancels the other). */
    c->digest = fos__mix(fos__mix(c->digest, e->time ^ (e->key << 23 | e->key >> 41)),
                         what ^ (u << 29 | u >> 35));
    if (c->dead) {
        /* A dead core's memory still answers senders, so they learn of the death. */
        if (e->kind == FOS__EV_MSG)
            fos__mbox_arrive(c, e);
        else if (e->kind == FOS__EV_NAME_REQ)
            fos__name_deliver(c, e);
        else if (e->kind == FOS__EV_CHAN_MSG || e->kind == FOS__EV_CHAN_SETUP)
            fos__chan_deliver(c, e);
        else if (e->kind == FOS__EV_SPAWN && !e->arg)
            fos__apps_add(c->sim, -1); /* an application that will never start */
        else if (e->kind == FOS__EV_WATCH)
            deliver_watch(c, e);
        else
            fos__event_discard(c, e); /* a name to drop from a cache no one reads */
        return;
    }
    switch (e->kind) {
    case FOS__EV_MSG:
        fos__mbox_arrive(c, e);
        break;
    case FOS__EV_ACK: {
        fos_fiber *f = e->p;
        if (f->state == FOS__F_WAITING && f->wait == FOS__W_ACK && f->wait_gen == e->u)
            fos__wake(f, e->arg, true);
        break;
    }
    case FOS__EV_TIMER:
        deliver_timer(e);
        break;
    case FOS__EV_SPAWN:
        deliver_spawn(c, e);
        break;
    case FOS__EV_KILL:
        fos__core_kill(c, e->time);
        break;
    case FOS__EV_WATCH:
        deliver_watch(c, e);
        break;
    case FOS__EV_NAME_INVAL:
        fos__name_inval_deliver(c, e);
        break;
    case FOS__EV_NAME_REQ:
    case FOS__EV_NAME_REP:
        fos__name_deliver(c, e);
        break;
    case FOS__EV_CHAN_MSG:
    case FOS__EV_CHAN_REL:
    case FOS__EV_CHAN_SETUP:
    case FOS__EV_CHAN_CLOSE:
        fos__chan_deliver(c, e);
        break;
    }
}

static __attribute__((noinline)) void deliver_some(fos_core *c, fos_cycles lim)
{
    /* n too: an empty queue's next is FOS_CYCLES_MAX, which a limit of
     * FOS_CYCLES_MAX (a window end of 0, which no running core has) would pass. */
    while (c->evq.n && c->evq.next <= lim) {
        fos__event e;
        fos__evq_pop(&c->evq, &e);
        deliver(c, &e);
    }
}

/* Delivers every event due by the core's clock that lies inside the window.
 * Called at every yield point, and usually nothing is due: that test is inline. */
static inline void deliver_due(fos_core *c)
{
    fos_cycles lim = c->clock < c->wend ? c->clock : c->wend - 1;
    if (c->evq.next <= lim) deliver_some(c, lim);
}

/* The next fiber to run on c in this window, or NULL when the core is done with
 * the window (nothing runnable before wend, or its clock has passed wend). An
 * idle core's clock jumps to its next event. */
static fos_fiber *pick(fos_core *c)
{
    for (;;) {
        /* Native: take what other threads sent before deciding, so a reply that
         * is already here does not cost a trip through the core's loop. */
        if (c->inbox) {
            /* The run is over: hand the thread back to the core's loop. */
            if (__atomic_load_n(&c->sim->stop, __ATOMIC_ACQUIRE)) return NULL;
            fos__native_drain(c);
        }
        fos__clock_due(c);
        deliver_due(c);
        /* What lies in shared memory counts as arrived now: after the timers
         * that expired before it, so a late reply does not beat the timeout
         * its caller already reached (as the inbox's stamping rule says). */
        if (c->inbox) {
            if (c->nchan_in) fos__chan_poll(c);
            if (c->ndlive) fos__dring_poll(c);
        }
        bool runnable = c->runq_hi.head || c->runq.head;
        if (!c->dead && runnable) {
            if (c->clock >= c->wend) return NULL;
            bool hi = c->runq_hi.head != NULL;
            fos_fiber *f = fos__fifo_pop(hi ? &c->runq_hi : &c->runq);
            c->current = f;
            c->last = f;
            if (c->last_id == f->id + 1 || c->last_id == 0) {
                c->last_id = f->id + 1;
                return f;
            }
            /* Switching to f: charge it, then deliver what the charge made due.
             * f is committed; if the charge carried the clock past the window,
             * it runs first in the next one. */
            c->last_id = f->id + 1;
            c->clock += c->sim->topo.costs.ctx_switch;
            c->busy += c->sim->topo.costs.ctx_switch;
            deliver_due(c);
            if (c->dead || c->clock >= c->wend) {
                if (!c->dead) fos__fifo_push_front(&c->runq_hi, f);
                return NULL;
            }
            return f;
        }
        /* Idle: a virtual clock jumps to the next event; a native one waits
         * for it in real time: briefly right here, on the waiting fiber's stack,
         * so that a quick answer costs no switch, then in the core's loop. */
        if (c->inbox) {
            if (fos__native_wait_briefly(c)) continue;
            return NULL;
        }
        fos_cycles next = c->evq.next;
        if (next >= c->wend) return NULL;
        if (next > c->clock) c->clock = next;
    }
}

void fos__reap(fos__worker *w)
{
    fos_fiber *z = w->zombie;
    if (!z) return;
    w->zombie = NULL;
    fos__stack_put(&w->pool, z->stack);
    z->stack = NULL;
    if (!z->joinable) fos__fiber_free(z->core, z);
}

/* Hands the host thread from the running fiber self (already queued, waiting or
 * ended) to the next fiber: of its own core if one is due in the window, else of
 * the next core with work, else back to the engine's context at the run's end.
 * Going straight from core to core halves the switches per activation. */
static void leave(fos_core *c, fos_fiber *self, void **fake)
{
    fos__worker *w = c->w;
    fos_fiber *next = pick(c);
    if (!next && !c->inbox) next = fos__engine_next(w);
    if (next == self) {
        self->state = FOS__F_RUNNING;
        return;
    }
    c->park_hi = self->stack_hi;
    if (next) {
        next->state = FOS__F_RUNNING;
        fos__switch_to_fiber(&self->ctx, fake, next);
    } else {
        fos__switch_to_engine(&self->ctx, fake, w);
    }
    fos__reap(w);
}

_Noreturn void fos__leave_final(fos_core *c)
{
    /* No fake-stack slot: ASan may free this fiber's fake frames now. */
    leave(c, c->current, NULL);
    __builtin_unreachable();
}

int fos__block(fos_core *c)
{
    fos_fiber *self = c->current;
    self->state = FOS__F_WAITING;
    leave(c, self, &self->asan_fake);
    return self->wake_res;
}

/* Leaves for another core: c is done with this window. */
static void leave_core(fos_core *c, fos_fiber *self)
{
    fos__worker *w = c->w;
    fos_fiber *next = c->inbox ? NULL : fos__engine_next(w);
    if (next == self) {
        self->state = FOS__F_RUNNING;
        return;
    }
    c->park_hi = self->stack_hi;
    if (next) {
        next->state = FOS__F_RUNNING;
        fos__switch_to_fiber(&self->ctx, &self->asan_fake, next);
    } else {
        fos__switch_to_engine(&self->ctx, &self->asan_fake, w);
    }
    fos__reap(w);
}

void fos__sync(fos_core *c)
{
    fos__clock_due(c);
    deliver_due(c);
    fos_fiber *self = c->current;
    if (c->dead) {
        /* Killed under our feet: this fiber never runs again. */
        self->state = FOS__F_WAITING;
        leave_core(c, self);
        __builtin_unreachable();
    }
    if (c->clock < c->wend && !(c->inbox && __atomic_load_n(&c->sim->stop, __ATOMIC_ACQUIRE)))
        return;
    /* Past the window (or, native, the run is over): park first in line, to
     * resume where it stopped. Through leave, as a wait is: parked and
     * resumed fibers then return through the same frames, which the CPU's
     * return predictor has seen (pick finds nothing more for c here). */
    self->state = FOS__F_RUNNABLE;
    fos__fifo_push_front(&c->runq_hi, self);
    leave(c, self, &self->asan_fake);
}

/* Inline where fos_compute charges, so that a fiber parked in it returns
 * through the same frames as one parked in a wait (see leave). */
static inline void charge(fos_core *c, fos_cycles n)
{
    c->clock = fos__sat_add(c->clock, n);
    c->busy += n;
    fos__sync(c);
}

void fos__charge(fos_core *c, fos_cycles n)
{
    charge(c, n);
}

void fos__advance(fos_core *c, fos_cycles n)
{
    c->clock = fos__sat_add(c->clock, n);
    c->busy += n;
    fos__clock_due(c);
    deliver_due(c);
}

fos_fiber *fos__pick(fos_core *c)
{
    return pick(c);
}

fos_cycles fos__core_key(const fos_core *c)
{
    fos_cycles key = FOS_CYCLES_MAX;
    if (!c->dead && (c->runq_hi.head || c->runq.head)) key = c->clock;
    return c->evq.next < key ? c->evq.next : key;
}

/* ---- the public calls ---------------------------------------------------- */

fos_core_id fos_core_self(void)
{
    return fos__self()->id;
}

uint32_t fos_core_count(void)
{
    return fos__self()->sim->ncores;
}

fos_cycles fos_now(void)
{
    fos_core *c = fos__self();
    fos__clock_now(c);
    return c->clock;
}

void fos_compute(fos_cycles n)
{
    fos_core *c = fos__self();
    if (c->sim->native) {
        fos__native_compute(c, n);
        fos__sync(c);
        return;
    }
    charge(c, n);
}

void fos_yield(void)
{
    fos_core *c = fos__self();
    fos_fiber *self = c->current;
    fos__sync(c);
    /* A pass through the scheduler costs a poll, so a fiber that yields in a
     * loop waiting for something moves time on and lets it come. */
    c->clock = fos__sat_add(c->clock, c->sim->topo.costs.poll);
    c->busy += c->sim->topo.costs.poll;
    fos__clock_now(c);
    deliver_due(c);
    self->state = FOS__F_RUNNABLE;
    fos__fifo_push(&c->runq, self);
    leave(c, self, &self->asan_fake);
}

int fos_sleep(fos_cycles d)
{
    /* A timer due now would park and wake the fiber at no cost: a loop of
     * them, waiting for another core, would never let time move on. */
    if (d == 0) {
        fos_yield();
        return 0;
    }
    fos_core *c = fos__self();
    fos_fiber *self = c->current;
    fos__sync(c);
    fos__clock_now(c);
    fos_cycles until = c->clock + d < c->clock ? FOS_CYCLES_MAX : c->clock + d;
    self->wait = FOS__W_SLEEP;
    fos__timer_arm(c, self, until);
    return fos__block(c);
}
