/* The virtual engine: conservative windows over a calendar of cores.
 *
 * Windows are aligned on multiples of the lookahead L: window k is [kL, (k+1)L).
 * Every event one core posts to another lands at least L after the sender's
 * clock, and a core only runs when its clock is inside the window, so nothing
 * posted during window k can be due in window k elsewhere: the cores of a window
 * are independent and may run in any order, on any worker. The calendar holds,
 * per window, the cores that have something to do in it. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <time.h>

#include "runtime/prefetch.h"
#include "runtime/switch.h"

/* Room for one more element in an engine array (calendar, outbox), doubled
 * from `first`; out of line, so that the pushes' common path saves no
 * registers for a call it does not make. Running out of host memory here
 * leaves nothing to go on with. */
static __attribute__((noinline, cold)) void *grow(void *v, uint32_t *cap, size_t elem,
                                                  uint32_t first)
{
    uint32_t ncap = *cap ? *cap * 2 : first;
    void *nv = realloc(v, elem * ncap);
    if (!nv) {
        fprintf(stderr, "fossim: out of memory in the engine's queues\n");
        abort();
    }
    *cap = ncap;
    return nv;
}

static inline void *room(void *v, uint32_t n, uint32_t *cap, size_t elem, uint32_t first)
{
    return n < *cap ? v : grow(v, cap, elem, first);
}

static __attribute__((noinline)) void far_push(fos__cal *cal, uint64_t win, uint32_t core)
{
    cal->far = room(cal->far, cal->nfar, &cal->farcap, sizeof(*cal->far), 64);
    uint32_t i = cal->nfar++;
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (cal->far[p].win <= win) break;
        cal->far[i] = cal->far[p];
        i = p;
    }
    cal->far[i] = (fos__cal_far){win, core};
}

static fos__cal_far far_pop(fos__cal *cal)
{
    fos__cal_far top = cal->far[0], last = cal->far[--cal->nfar];
    uint32_t i = 0, n = cal->nfar;
    for (;;) {
        uint32_t l = 2 * i + 1, m = i;
        fos__cal_far *best = &last;
        if (l < n && cal->far[l].win < best->win) {
            m = l;
            best = &cal->far[l];
        }
        if (l + 1 < n && cal->far[l + 1].win < best->win) m = l + 1;
        if (m == i) break;
        cal->far[i] = cal->far[m];
        i = m;
    }
    if (n) cal->far[i] = last;
    return top;
}

static __attribute__((noinline)) void bucket_push(fos__cal *cal, uint64_t win, uint32_t core)
{
    fos__cal_bucket *b = &cal->b[win % FOS__CAL_RING];
    b->v = room(b->v, b->n, &b->cap, sizeof(*b->v), 16);
    b->v[b->n++] = core;
    cal->ring_n++;
}

/* Puts core c in the calendar for time t, unless it is already due earlier. An
 * entry it leaves behind in a later window goes stale and is skipped. */
void fos__cal_wake(struct sim *s, fos_core *c, fos_cycles t)
{
    uint64_t win = t / s->lookahead;
    if (win >= c->sched_win) return;
    c->sched_win = win;
    fos__cal *cal = c->w->cal;
    fos__cal_bucket *b = &cal->b[win % FOS__CAL_RING];
    if (win - cal->cur < FOS__CAL_RING && b->n < b->cap) {
        /* The common case, written out: with no call on its path, it saves no
         * registers. */
        b->v[b->n++] = c->id;
        cal->ring_n++;
    } else if (win - cal->cur < FOS__CAL_RING) {
        bucket_push(cal, win, c->id);
    } else {
        far_push(cal, win, c->id);
    }
}

static void queue(fos_core *dst, const fos__event *e)
{
    if (fos__evq_push(&dst->evq, e) != 0) {
        fprintf(stderr, "fossim: core %u: out of memory queueing an event\n", dst->id);
        abort();
    }
}

/* Queues what an outbox holds at its destinations, which belong to the worker
 * w: at every window's end, or after its barrier with several workers. */
static void outbox_flush(fos__worker *w, fos__outbox *o)
{
    fos__outbox_entry *v = o->v;
    uint32_t n = o->n;
    for (uint32_t i = 0; i < n; i++) {
        /* Two stages ahead: the destination's queue line, then the slot the
         * event will go to (found from that line). */
        if (i + 8 < n) {
            __builtin_prefetch(v[i + 8].dst); /* id, w: for the calendar */
            __builtin_prefetch(&v[i + 8].dst->sched_win);
        }
        if (i + 4 < n) {
            const fos__evq *q = &v[i + 4].dst->evq;
            __builtin_prefetch(q->v + q->head + q->n);
        }
        queue(v[i].dst, &v[i].e);
        fos__cal_wake(w->sim, v[i].dst, v[i].e.time);
    }
    o->n = 0;
}

void fos__post(fos_core *src, fos_core *dst, fos_cycles time, uint32_t kind, int32_t arg, void *p,
               uint64_t u)
{
    uint64_t key = ((uint64_t)src->id << FOS__SEQ_BITS) | src->seq++;
    /* Every post to another core is due at the window's end or later (rule
     * 5); one that is not (a clock that wrapped) is queued at once, as it
     * always was, rather than left for a window already gone. Only the
     * virtual engine has windows. Written in place: this is every message.
     * With several workers, every post to another core goes through the
     * outboxes, since its queue may belong to another thread. */
    fos__worker *w = src->w;
    if (dst != src && w->in_window && (time >= w->wend || w->nw > 1)) {
        fos__outbox *o = w->out;
        if (w->nw > 1) {
            o += dst->widx;
            if (time < w->out_min) w->out_min = time;
        }
        o->v = room(o->v, o->n, &o->cap, sizeof(*o->v), 256);
        o->v[o->n++] = (fos__outbox_entry){
            dst, {.time = time, .key = key, .kind = kind, .arg = arg, .p = p, .u = u}};
        return;
    }
    fos__event e = {.time = time, .key = key, .kind = kind, .arg = arg, .p = p, .u = u};
    if (src->sim->running && dst != src) {
        /* Native: another host thread owns dst's queue. */
        fos__native_post(src, dst, &e);
        return;
    }
    queue(dst, &e);
    /* The running core recomputes its own place when it stops. */
    if (dst != fos__cur && !src->sim->native) fos__cal_wake(src->sim, dst, time);
}

/* For the rare posts (death notices, watches, invalidations): one call site,
 * so that fos__post stays inlined where messages are sent. */
__attribute__((noinline)) void fos__post_cold(fos_core *src, fos_core *dst, fos_cycles time,
                                              uint32_t kind, int32_t arg, void *p, uint64_t u)
{
    fos__post(src, dst, time, kind, arg, p, u);
}

/* Moves entries from the far heap into the ring once their window is near. */
static void migrate(struct sim *s, fos__cal *cal)
{
    while (cal->nfar && cal->far[0].win - cal->cur < FOS__CAL_RING) {
        fos__cal_far f = far_pop(cal);
        if (s->cores[f.core]->sched_win == f.win) bucket_push(cal, f.win, f.core);
    }
}

/* Whether window `win`'s bucket holds a core still due in it. One holding
 * only stale entries (cores since woken earlier) is no window with work: how
 * many of those there are depends on the order in which a core's wakes came,
 * which the engine does not fix (the order of a window's cores, the workers),
 * so they must not count as windows, nor end a run by lying past its end. */
static bool bucket_live(const struct sim *s, const fos__cal_bucket *b, uint64_t win)
{
    for (uint32_t i = 0; i < b->n; i++)
        if (s->cores[b->v[i]]->sched_win == win) return true;
    return false;
}

static void bucket_drop(fos__cal *cal, fos__cal_bucket *b)
{
    cal->ring_n -= b->n;
    b->n = 0;
}

/* Advances cal->cur to the next window with work; false when there is none. */
static bool next_window(struct sim *s, fos__cal *cal)
{
    for (;;) {
        if (cal->ring_n == 0) {
            if (cal->nfar == 0) return false;
            cal->cur = cal->far[0].win;
            migrate(s, cal);
            continue;
        }
        fos__cal_bucket *b = &cal->b[cal->cur % FOS__CAL_RING];
        if (b->n) {
            if (bucket_live(s, b, cal->cur)) return true;
            bucket_drop(cal, b);
        }
        cal->cur++;
        migrate(s, cal);
    }
}

static uint64_t host_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Closes the core the worker was running: it goes back into the calendar at
 * its next time. A window cut short by the duration is the last: nothing is
 * rescheduled after it. */
static void close_core(fos__worker *w)
{
    fos_core *c = w->run_core;
    if (!c) return;
    __atomic_store_n(&w->run_core, NULL, __ATOMIC_RELAXED);
    c->current = NULL;
    fos_cycles key = fos__core_key(c);
    if (key != FOS_CYCLES_MAX && !w->last_window) fos__cal_wake(w->sim, c, key);
}

/* The window just run is counted; true when the run ends with it: its last
 * application ended in it (the rest of that window, < L cycles, has run too,
 * the same way on every host), or it was the last before the duration. */
static bool window_ran(struct sim *s, bool last)
{
    s->st.windows++;
    /* For sim_progress: a sum over the cores every 256 windows costs a few
     * loads per window. */
    if ((s->st.windows & 255) == 0) {
        uint64_t m = 0;
        for (uint32_t i = 0; i < s->ncores; i++)
            m += s->cores[i]->st_recv + s->cores[i]->st_chan_msgs;
        __atomic_store_n(&s->pub_msgs, m, __ATOMIC_RELAXED);
    }
    if (s->any_app && __atomic_load_n(&s->apps_live, __ATOMIC_RELAXED) == 0) {
        s->st.end = SIM_END_DONE;
        s->st.end_cycles = s->last_app_exit;
        return true;
    }
    if (last) {
        s->st.end = SIM_END_DURATION;
        s->st.end_cycles = s->cfg.duration;
        return true;
    }
    return false;
}

/* Whether window `win` starts at or past the duration, which ends the run
 * (said so); it is published as where the run is. */
static bool past_duration(struct sim *s, uint64_t win)
{
    fos_cycles start = win * s->lookahead, dur = s->cfg.duration;
    __atomic_store_n(&s->pub_time, start, __ATOMIC_RELAXED);
    if (!dur || start < dur) return false;
    s->st.end = SIM_END_DURATION;
    s->st.end_cycles = dur;
    return true;
}

/* w runs window `win` next: its end, cut at the duration. */
static void open_window(struct sim *s, fos__worker *w, uint64_t win)
{
    fos_cycles start = win * s->lookahead, dur = s->cfg.duration;
    w->wend = start + s->lookahead < start ? FOS_CYCLES_MAX : start + s->lookahead;
    w->last_window = dur && w->wend >= dur;
    if (w->last_window) w->wend = dur;
    w->in_window = true;
    w->bi = 0;
}

/* The window's bucket, walked: emptied. */
static void close_window(fos__worker *w)
{
    fos__cal *cal = w->cal;
    bucket_drop(cal, &cal->b[cal->cur % FOS__CAL_RING]);
    w->bi = 0;
    w->in_window = false;
}

/* Ends the window just run; false when the run ends with it. */
static bool end_window(struct sim *s, fos__worker *w)
{
    outbox_flush(w, w->out);
    close_window(w);
    if (window_ran(s, w->last_window)) return false;
    w->cal->cur++;
    migrate(s, w->cal);
    return true;
}

/* Opens the next window with work; false when the run ends instead. */
static bool begin_window(struct sim *s, fos__worker *w)
{
    /* Nothing left: sim_run tells idle from deadlock. */
    if (!next_window(s, w->cal) || past_duration(s, w->cal->cur)) return false;
    open_window(s, w, w->cal->cur);
    return true;
}

/* ---- several workers -------------------------------------------------------
 *
 * Each worker runs the cores it owns through the same sequence of windows and
 * meets the others at a barrier after each. Posts to other cores wait in the
 * sender's outboxes, one per destination worker, and the destination's
 * worker queues them after the barrier; so no thread touches another's cores
 * inside a window. What a window then runs does not depend on the workers:
 * each core sees the same events in the same order (rule 2), and the order in
 * which a worker runs a window's cores does not matter (the engine's premise,
 * which cfg.test_reverse_order tests). */

/* The first window from cal->cur on in which one of the worker's cores is
 * due, or UINT64_MAX: the same as next_window finds, without moving cur. What
 * it passes that is stale it drops. */
static uint64_t cal_first(struct sim *s, fos__cal *cal)
{
    while (cal->nfar && s->cores[cal->far[0].core]->sched_win != cal->far[0].win)
        far_pop(cal);
    uint64_t best = cal->nfar ? cal->far[0].win : UINT64_MAX;
    for (uint64_t k = cal->cur; cal->ring_n && k < best && k - cal->cur < FOS__CAL_RING; k++) {
        fos__cal_bucket *b = &cal->b[k % FOS__CAL_RING];
        if (!b->n) continue;
        if (bucket_live(s, b, k)) return k;
        bucket_drop(cal, b);
    }
    return best;
}

/* The last worker to reach the barrier decides for all, while the others
 * wait: so it alone reads the run's shared state, and at a time when nobody
 * changes it. ran: a window has just been run (not the run's start). */
static void decide(struct sim *s, bool ran)
{
    fos__bar *b = &s->bar;
    b->seq++;
    /* Every worker ran the same window: the first's flag is everyone's. */
    if (ran && window_ran(s, s->workers[0].last_window)) {
        b->stop = true;
        return;
    }
    uint64_t next = UINT64_MAX;
    for (uint32_t i = 0; i < s->nworkers; i++)
        if (s->workers[i].cand < next) next = s->workers[i].cand;
    b->next = next;
    /* Nothing left: sim_run tells idle from deadlock. */
    b->stop = next == UINT64_MAX || past_duration(s, next);
}

/* Spins for the others: sleeping costs tens of microseconds here (DESIGN
 * §6), far more than a window; but a worker that shares its CPU with another
 * must let it run: at once, where there are more workers than CPUs (then
 * the one waited for may be the one waiting for this CPU). */
static void await_gen(const fos__bar *b, uint32_t gen)
{
    for (unsigned spins = 0; __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) == gen; spins++) {
        if (spins < b->spins)
            fos__cpu_relax();
        else
            sched_yield();
    }
}

/* Arrives at the barrier with w->cand set; returns once all have. */
static void arrive(struct sim *s, fos__worker *w, bool ran)
{
    fos__bar *b = &s->bar;
    uint32_t gen = __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&b->count, 1, __ATOMIC_ACQ_REL) == w->nw) {
        __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
        decide(s, ran);
        __atomic_store_n(&b->gen, gen + 1, __ATOMIC_RELEASE);
        return;
    }
    await_gen(b, gen);
}

/* Ends the window just run and waits at the barrier with the next window this
 * worker has work in: its own cores' or what it posted to anyone's. */
static void end_shared(struct sim *s, fos__worker *w)
{
    fos__cal *cal = w->cal;
    close_window(w);
    /* No migrate here: the posts of this window come in after the barrier,
     * and a far entry they make stale must not be taken into the ring first
     * (begin_shared migrates, as a single worker does after its flush). */
    cal->cur++;
    uint64_t cand = cal_first(s, cal);
    if (w->out_min != FOS_CYCLES_MAX) {
        /* Not before the window after this one: a post due sooner (a clock
         * that wrapped) is queued late, rather than in a window gone. */
        uint64_t win = w->out_min / s->lookahead;
        if (win < cal->cur) win = cal->cur;
        if (win < cand) cand = win;
    }
    w->cand = cand;
    arrive(s, w, true);
}

/* Another worker's outbox was written on another CPU: every line of it, and
 * the envelopes of the messages in it, which the cores will read when they
 * run, are misses there. Asked for all at once, they come in parallel rather
 * than one by one as the merge and the cores reach them. */
static void fetch_remote(const fos__outbox *o)
{
    const char *p = (const char *)o->v, *end = (const char *)(o->v + o->n);
    for (; p < end; p += 64)
        __builtin_prefetch(p);
    for (uint32_t i = 0; i < o->n; i++)
        if (o->v[i].e.kind == FOS__EV_MSG) {
            __builtin_prefetch(o->v[i].e.p);
            __builtin_prefetch((const char *)o->v[i].e.p + 64);
        }
}

/* After the barrier: opens the window it decided on, taking in first what the
 * workers posted to this one's cores in the window before. */
static bool begin_shared(struct sim *s, fos__worker *w)
{
    const fos__bar *b = &s->bar;
    uint32_t nw = w->nw, set = (uint32_t)(b->seq & 1);
    /* Even at the end: what is queued is freed with its core. */
    for (uint32_t i = 0; i < nw; i++) {
        fos__outbox *o = &s->workers[i].outv[(set ^ 1) * nw + w->idx];
        if (i != w->idx) fetch_remote(o);
        outbox_flush(w, o);
    }
    if (b->stop) return false;
    fos__cal *cal = w->cal;
    cal->cur = b->next; /* every window before it is empty everywhere */
    migrate(s, cal);
    w->out = &w->outv[set * nw];
    w->out_min = FOS_CYCLES_MAX;
    open_window(s, w, b->next);
    return true;
}

/* For cfg.test_reverse_order: the window's cores in the opposite order. */
static void reverse(uint32_t *v, uint32_t n)
{
    for (uint32_t i = 0, j = n ? n - 1 : 0; i < j; i++, j--) {
        uint32_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

fos_fiber *fos__engine_next(fos__worker *w)
{
    struct sim *s = w->sim;
    fos__cal *cal = w->cal;
    close_core(w);
    for (;;) {
        if (!w->in_window && !(w->nw > 1 ? begin_shared(s, w) : begin_window(s, w))) break;
        /* Nothing posted during a window lands in it; the bucket grows while
         * it is walked only when a core closes with work left in the window
         * (one that died in it), and the walk then comes to it again. */
        fos__cal_bucket *b = &cal->b[cal->cur % FOS__CAL_RING];
        while (w->bi < b->n) {
            if (w->bi == 0 && s->cfg.test_reverse_order) reverse(b->v, b->n);
            uint32_t i = w->bi++;
            fos_core *c = s->cores[b->v[i]];
            /* Cores of a window are cold: fetch the next ones' state while this
             * one runs (the prototype's biggest win, DESIGN §6). */
            if (i + 3 < b->n) fos__core_prefetch0(s->cores[b->v[i + 3]]);
            if (i + 2 < b->n) fos__core_prefetch1(s->cores[b->v[i + 2]]);
            if (c->sched_win != cal->cur)
                continue; /* stale: it moved earlier and has run already */
            c->sched_win = UINT64_MAX;
            c->wend = w->wend;
            w->activations++;
            fos__cur = c;
            __atomic_store_n(&w->run_core, c, __ATOMIC_RELAXED);
            __atomic_store_n(&w->progress, w->progress + 1, __ATOMIC_RELAXED);
            fos_fiber *f = fos__pick(c);
            if (f) return f;
            close_core(w);
        }
        if (w->nw > 1)
            end_shared(s, w);
        else if (!end_window(s, w))
            break;
    }
    fos__cur = NULL;
    return NULL;
}

/* The watchdog: a fiber that runs while its core's clock stands still holds
 * the host thread for good, and nothing cooperative can stop it; say where it
 * is and exit. It loops with no runtime call, or with calls that cost no time:
 * either way simulated time cannot move on. So what counts as moving on is a
 * core activation or a change of the running core's clock, not a call. */
typedef struct watchdog {
    sim *s;
    bool stop;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
} watchdog;

/* Reads how far the workers have got: activations and the running cores'
 * clocks, summed (one stuck worker holds every other at the barrier, so the
 * sums stand still too), and a core whose fiber runs. Racy by design: the
 * workers write these with plain stores, and a torn or stale value only
 * delays the verdict by a tick. */
__attribute__((no_sanitize("thread"))) static fos_core *sample(sim *s, uint64_t *now,
                                                               fos_cycles *clocks)
{
    fos_core *stuck = NULL;
    *now = 0;
    *clocks = 0;
    for (uint32_t i = 0; i < s->nworkers; i++) {
        *now += __atomic_load_n(&s->workers[i].progress, __ATOMIC_RELAXED);
        fos_core *c = __atomic_load_n(&s->workers[i].run_core, __ATOMIC_RELAXED);
        if (!c) continue;
        *clocks += __atomic_load_n(&c->clock, __ATOMIC_RELAXED);
        if (!stuck && __atomic_load_n(&c->current, __ATOMIC_RELAXED)) stuck = c;
    }
    return stuck;
}

static void *watchdog_main(void *arg)
{
    watchdog *wd = arg;
    sim *s = wd->s;
    uint64_t last = UINT64_MAX;
    fos_cycles last_clocks = 0;
    unsigned still = 0;
    pthread_mutex_lock(&wd->lock);
    while (!wd->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&wd->cond, &wd->lock, &until);
        if (wd->stop) break;
        uint64_t now;
        fos_cycles clocks;
        fos_core *stuck = sample(s, &now, &clocks);
        still = now == last && clocks == last_clocks ? still + 1 : 0;
        last = now;
        last_clocks = clocks;
        if (still < 10 * s->cfg.watchdog_s) continue;
        fos_fiber *f = stuck ? __atomic_load_n(&stuck->current, __ATOMIC_RELAXED) : NULL;
        if (f)
            fprintf(stderr,
                    "fossim: core %u: fiber %llu \"%s\" has run for %u host seconds while the "
                    "core's clock stood still at %llu cycles: it loops with no runtime call, or "
                    "with calls that cost no time; stopping\n",
                    stuck->id, (unsigned long long)f->id, f->name, s->cfg.watchdog_s,
                    (unsigned long long)__atomic_load_n(&stuck->clock, __ATOMIC_RELAXED));
        else
            fprintf(stderr,
                    "fossim: the engine has not moved on for %u host seconds (between two "
                    "cores' turns); stopping\n",
                    s->cfg.watchdog_s);
        _exit(3);
    }
    pthread_mutex_unlock(&wd->lock);
    return NULL;
}

/* One worker's run: from the first window to the last, handing the thread
 * from fiber to fiber. With several, each first tells the others where its
 * cores' work begins. */
static void worker_run(fos__worker *w)
{
    fos__worker_stack(w);
    if (w->nw > 1) {
        w->out_min = FOS_CYCLES_MAX;
        w->cand = cal_first(w->sim, w->cal);
        arrive(w->sim, w, false);
    }
    fos_fiber *f = fos__engine_next(w);
    if (f) {
        /* Fibers hand the thread to each other, core to core; it comes back
         * here only when the run is over. */
        fos__switch_to_fiber(&w->ctx, &w->asan_fake, f);
        fos__reap(w);
    }
}

/* Pins the calling thread to the i-th CPU it may use, where there are enough
 * for every worker to have one: a worker that moves between CPUs carries its
 * cores' lines with it. allowed: NULL when the host would not say. */
static void pin(const cpu_set_t *allowed, uint32_t i, uint32_t nw)
{
    if (!allowed || (uint32_t)CPU_COUNT(allowed) < nw) return;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, allowed) || i--) continue;
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
        return;
    }
}

typedef struct {
    fos__worker *w;
    const cpu_set_t *allowed;
    uint32_t *go; /* atomic: 0 wait, 1 run, 2 give up (another could not start) */
} worker_start;

static void *worker_main(void *arg)
{
    worker_start *ws = arg;
    pin(ws->allowed, ws->w->idx, ws->w->nw);
    uint32_t go;
    while ((go = __atomic_load_n(ws->go, __ATOMIC_ACQUIRE)) == 0)
        sched_yield();
    if (go == 1) worker_run(ws->w);
    return NULL;
}

/* Runs every worker: the calling thread is worker 0. -EAGAIN when the host
 * would not start the others' threads; nothing has run then. */
static int run_workers(sim *s)
{
    uint32_t nw = s->nworkers, go = 0;
    if (nw == 1) {
        worker_run(&s->workers[0]);
        return 0;
    }
    worker_start *ws = calloc(nw, sizeof(*ws));
    if (!ws) return -EAGAIN;
    cpu_set_t mine;
    bool have_mask = pthread_getaffinity_np(pthread_self(), sizeof(mine), &mine) == 0;
    const cpu_set_t *allowed = have_mask ? &mine : NULL;
    uint32_t cpus = have_mask ? (uint32_t)CPU_COUNT(&mine) : 0;
    s->bar.spins = cpus && cpus < nw ? 0 : 4096;
    if (cpus && cpus < nw)
        fprintf(stderr,
                "fossim: warning: %u workers on %u host CPUs: workers wait for a CPU at every "
                "window, so the run is slower than on %u (its results are the same)\n",
                nw, cpus, cpus);
    uint32_t started = 1;
    for (uint32_t i = 1; i < nw; i++, started++) {
        ws[i] = (worker_start){&s->workers[i], allowed, &go};
        if (pthread_create(&s->workers[i].thread, NULL, worker_main, &ws[i]) != 0) break;
    }
    __atomic_store_n(&go, started == nw ? 1 : 2, __ATOMIC_RELEASE);
    if (started == nw) {
        pin(allowed, 0, nw);
        worker_run(&s->workers[0]);
    }
    for (uint32_t i = 1; i < started; i++)
        pthread_join(s->workers[i].thread, NULL);
    if (have_mask) pthread_setaffinity_np(pthread_self(), sizeof(mine), &mine);
    free(ws);
    return started == nw ? 0 : -EAGAIN;
}

int sim_run(sim *s)
{
    if (s->ran) return -EINVAL;
    s->ran = true;
    if (s->native) return fos__native_run(s);
    uint64_t t0 = host_now_ns();
    s->st.end = SIM_END_IDLE;
    watchdog wd = {.s = s, .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    bool watching = s->cfg.watchdog_s && pthread_create(&wd.thread, NULL, watchdog_main, &wd) == 0;
    int r = run_workers(s);
    if (watching) {
        pthread_mutex_lock(&wd.lock);
        wd.stop = true;
        pthread_cond_signal(&wd.cond);
        pthread_mutex_unlock(&wd.lock);
        pthread_join(wd.thread, NULL);
    }
    s->st.host_ns = host_now_ns() - t0;
    if (r != 0) return r;
    for (uint32_t i = 0; i < s->nworkers; i++)
        s->st.activations += s->workers[i].activations;
    if (s->st.end != SIM_END_IDLE) return 0;
    /* A core whose charge ran to the end of time has work it can never do:
     * with a duration, that core is busy through it, and the run ends there;
     * without one, it is stuck (sim_report_waits names it). Either way the
     * end of time is no time the run reached. Nor is where a charge cut short
     * by the core's death would have taken its clock. */
    bool past_end = false;
    for (uint32_t i = 0; i < s->ncores; i++) {
        const fos_core *c = s->cores[i];
        fos_cycles t = c->dead && c->died_at < c->clock ? c->died_at : c->clock;
        if (t == FOS_CYCLES_MAX)
            past_end = true;
        else if (t > s->st.end_cycles)
            s->st.end_cycles = t;
    }
    if (past_end && s->cfg.duration) {
        s->st.end = SIM_END_DURATION;
        s->st.end_cycles = s->cfg.duration;
        return 0;
    }
    if (s->apps_live > 0) {
        s->st.end = SIM_END_DEADLOCK;
        return -EDEADLK;
    }
    if (s->any_app) {
        s->st.end = SIM_END_DONE;
        s->st.end_cycles = s->last_app_exit;
    }
    return 0;
}
