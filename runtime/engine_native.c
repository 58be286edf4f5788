/* The native engine: every simulated core is a host thread pinned to a CPU,
 * running its own micro-scheduler; time is the TSC. It shares everything above
 * the event queue with the virtual engine: a message, an answer, a timer is the
 * same event, and a core delivers it the same way. What differs is how events
 * cross cores (a bounded multi-producer ring in the receiver's memory, the
 * inbox, instead of the calendar) and how a core waits (spin, then futex).
 * Results are measurements: not reproducible, and marked so. */
#include <errno.h>
#include <linux/futex.h>
#include <numa.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "channels/channel_kernel.h"
#include "mailbox/mailbox_kernel.h"
#include "runtime/core_priv.h"
#include "runtime/switch.h"

#ifndef FOSSIM_SANITIZE
#include <jemalloc/jemalloc.h>
#endif

/* Events in flight to one core. Senders wait (and drain their own inbox) when
 * it is full, so it only bounds memory, never correctness. */
#define INBOX_CELLS 256
/* An idle core polls this long before it sleeps: a futex wake-up costs tens of
 * microseconds on a virtual machine, far more than most waits. */
#define SPIN_NS 50000
/* The longest a core sleeps without looking at its timers and the run's end. */
#define NAP_NS 2000000

static long futex(uint32_t *w, int op, uint32_t v, const struct timespec *ts)
{
    return syscall(SYS_futex, w, op, v, ts, NULL, 0);
}

int fos__native_init(struct sim *s)
{
    for (uint32_t i = 0; i < s->ncores; i++) {
        /* Producers' and the consumer's fields sit on separate lines. */
        fos__inbox *ib = aligned_alloc(64, (sizeof(*ib) + 63) & ~(size_t)63);
        if (ib) memset(ib, 0, sizeof(*ib));
        fos__inbox_cell *cells = ib ? aligned_alloc(64, INBOX_CELLS * sizeof(*cells)) : NULL;
        if (!cells) {
            free(ib);
            return -ENOMEM;
        }
        memset(cells, 0, INBOX_CELLS * sizeof(*cells)); /* ticket k's cell waits for k + 1 */
        ib->cells = cells;
        ib->mask = INBOX_CELLS - 1;
        s->cores[i]->inbox = ib;
    }
    return 0;
}

static bool inbox_push(fos__inbox *ib, const fos__event *e)
{
    uint64_t pos = __atomic_load_n(&ib->tail, __ATOMIC_RELAXED);
    for (;;) {
        if (pos - __atomic_load_n(&ib->head_seen, __ATOMIC_ACQUIRE) > ib->mask) {
            /* Looks full: look at the consumer's head. Its release orders the
             * consumer's copy out of the cell before our write into it. */
            uint64_t head = __atomic_load_n(&ib->head, __ATOMIC_ACQUIRE);
            __atomic_store_n(&ib->head_seen, head, __ATOMIC_RELEASE);
            if (pos - head > ib->mask) return false; /* full */
        }
        if (__atomic_compare_exchange_n(&ib->tail, &pos, pos + 1, true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            break;
    }
    fos__inbox_cell *cell = &ib->cells[pos & ib->mask];
    cell->ev = *e;
    /* Publishes the event to the consumer's acquire of seq. */
    __atomic_store_n(&cell->seq, pos + 1, __ATOMIC_RELEASE);
    return true;
}

/* Moves everything in c's inbox into its event queue; returns how many. */
uint32_t fos__native_drain(fos_core *c)
{
    fos__inbox *ib = c->inbox;
    uint32_t n = 0;
    /* Senders stamp events with clocks read lazily (fos__clock_due), so a stamp
     * may lie in the past. Where it could matter, against what is queued here
     * already (a receive's timeout, say), an event counts as arrived no earlier
     * than now: a late answer does not beat the timer that expired before it. */
    bool stamp = c->evq.n != 0;
    if (stamp) fos__clock_now(c);
    for (;;) {
        fos__inbox_cell *cell = &ib->cells[ib->head & ib->mask];
        if (__atomic_load_n(&cell->seq, __ATOMIC_ACQUIRE) != ib->head + 1) return n;
        fos__event e = cell->ev;
        /* Hands the cell back to producers (they read head when the ring looks full). */
        __atomic_store_n(&ib->head, ib->head + 1, __ATOMIC_RELEASE);
        if (stamp && e.time < c->clock) e.time = c->clock;
        if (fos__evq_push(&c->evq, &e) != 0) {
            fprintf(stderr, "fossim: core %u: out of memory queueing an event\n", c->id);
            abort();
        }
        n++;
    }
}

void fos__native_discard_inbox(fos_core *c)
{
    fos__inbox *ib = c->inbox;
    if (!ib) return;
    for (;; ib->head++) {
        fos__inbox_cell *cell = &ib->cells[ib->head & ib->mask];
        if (__atomic_load_n(&cell->seq, __ATOMIC_ACQUIRE) != ib->head + 1) return;
        fos__event_discard(c, &cell->ev);
    }
}

static bool inbox_empty(const fos__inbox *ib)
{
    const fos__inbox_cell *cell = &ib->cells[ib->head & ib->mask];
    return __atomic_load_n(&cell->seq, __ATOMIC_ACQUIRE) != ib->head + 1;
}

void fos__native_post(fos_core *src, fos_core *dst, const fos__event *e)
{
    fos__inbox *ib = dst->inbox;
    for (unsigned spins = 0; !inbox_push(ib, e); spins++) {
        /* dst may itself be waiting to post to us: keep our own inbox moving. */
        if (fos__cur == src) fos__native_drain(src);
        /* The run is over: dst's thread may be gone, and nobody will read it. */
        if (__atomic_load_n(&src->sim->stop, __ATOMIC_ACQUIRE)) {
            fos__event_discard(src, e);
            return;
        }
        if (spins % 1024 == 1023)
            sched_yield(); /* oversubscribed: let dst's thread run */
        else
            fos__cpu_relax();
    }
    fos__native_kick(dst);
}

void fos__native_kick(fos_core *dst)
{
    fos__inbox *ib = dst->inbox;
    /* Pairs with the sleeper's store to `sleeping` and its re-check: one of the
     * two sees the other (a Dekker handshake, hence seq_cst on both sides). */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(&ib->sleeping, __ATOMIC_RELAXED)) {
        __atomic_fetch_add(&ib->bell, 1, __ATOMIC_RELEASE);
        fos__native_wake(dst);
    }
}

void fos__native_wake(fos_core *dst)
{
    futex(&dst->inbox->bell, FUTEX_WAKE_PRIVATE, 1, NULL);
}

/* Whether something for c lies in shared memory, unseen. */
static bool pending(const fos_core *c)
{
    return !inbox_empty(c->inbox) || (c->nchan_in && fos__chan_pending(c)) ||
           (c->ndlive && fos__dring_pending(c));
}

static uint64_t host_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* TSC cycles per second, against the monotonic clock: measured once per
 * process (20 ms), so that a workload's times and the run agree on it. */
static uint64_t tsc_hz;
static pthread_once_t tsc_once = PTHREAD_ONCE_INIT;

static void measure_tsc(void)
{
    uint64_t n0 = host_ns(), t0 = fos__tsc();
    struct timespec d = {0, 20000000};
    nanosleep(&d, NULL);
    uint64_t n1 = host_ns(), t1 = fos__tsc();
    tsc_hz = n1 > n0 ? (uint64_t)((double)(t1 - t0) * 1e9 / (double)(n1 - n0)) : 1000000000ull;
}

uint64_t sim_native_cycles_per_s(void)
{
    pthread_once(&tsc_once, measure_tsc);
    return tsc_hz;
}

static uint64_t tsc_rate(void)
{
    return sim_native_cycles_per_s();
}

void fos__native_compute(fos_core *c, fos_cycles n)
{
    /* Saturated, not wrapped (a huge n would otherwise return at once), and
     * cut short by the run's end, as the virtual engine's clock is. */
    uint64_t end = fos__sat_add(fos__tsc(), n);
    while (fos__tsc() < end && !__atomic_load_n(&c->sim->stop, __ATOMIC_RELAXED))
        fos__cpu_relax();
    fos__clock_now(c);
}

/* The spin before a core goes back to its loop: short, since the loop spins on. */
#define BRIEF_SPINS 2048

bool fos__native_wait_briefly(fos_core *c)
{
    /* With cores sharing CPUs, a spinning thread only delays the one it waits for. */
    if (c->sim->oversubscribed) return false;
    const fos__event *h = fos__evq_peek(&c->evq);
    uint64_t due = h ? h->time + c->sim->tsc0 : UINT64_MAX;
    for (int i = 0; i < BRIEF_SPINS; i++) {
        if (pending(c)) return true;
        /* The TSC is slow to read on some hosts: look at it now and then. */
        if ((i & 63) == 0 &&
            (fos__tsc() >= due || __atomic_load_n(&c->sim->stop, __ATOMIC_RELAXED)))
            return fos__tsc() >= due;
        fos__cpu_relax();
    }
    return false;
}

/* Waits until the inbox has something, the next timer is due, or the run ends. */
static void idle(fos_core *c, uint64_t rate)
{
    struct sim *s = c->sim;
    fos__inbox *ib = c->inbox;
    const fos__event *h = fos__evq_peek(&c->evq);
    uint64_t due = h ? h->time + s->tsc0 : UINT64_MAX;
    uint64_t spin_until = fos__tsc() + (s->oversubscribed ? 0 : rate / (1000000000ull / SPIN_NS));
    for (uint32_t i = 0; !pending(c); i++) {
        if ((i & 63) == 0) {
            uint64_t now = fos__tsc();
            if (now >= due || now >= spin_until || __atomic_load_n(&s->stop, __ATOMIC_RELAXED))
                break;
        }
        fos__cpu_relax();
    }
    if (pending(c) || fos__tsc() >= due || __atomic_load_n(&s->stop, __ATOMIC_RELAXED)) return;
    uint64_t nap = NAP_NS;
    if (due != UINT64_MAX) {
        uint64_t now = fos__tsc();
        uint64_t ns = due > now ? (uint64_t)((double)(due - now) * 1e9 / (double)rate) : 0;
        if (ns < nap) nap = ns;
    }
    uint32_t bell = __atomic_load_n(&ib->bell, __ATOMIC_ACQUIRE);
    __atomic_store_n(&ib->sleeping, 1, __ATOMIC_SEQ_CST);
    /* Orders that store before the re-checks below on every architecture. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    __atomic_store_n(&c->parked, c->dead || (!h && !c->runq.head && !c->runq_hi.head),
                     __ATOMIC_RELEASE);
    if (!pending(c) && !__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST)) {
        struct timespec ts = {(time_t)(nap / 1000000000ull), (long)(nap % 1000000000ull)};
        futex(&ib->bell, FUTEX_WAIT_PRIVATE, bell, &ts);
    }
    __atomic_store_n(&ib->sleeping, 0, __ATOMIC_RELAXED);
}

typedef struct core_thread {
    fos_core *c;
    int cpu; /* -1: not pinned */
    uint64_t rate;
} core_thread;

static void *core_main(void *arg)
{
    core_thread *t = arg;
    fos_core *c = t->c;
    struct sim *s = c->sim;
    if (t->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(t->cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
        /* Where the host has several nodes, the core's memory comes from its own. */
        if (numa_available() >= 0 && numa_num_configured_nodes() > 1)
            numa_set_preferred(numa_node_of_cpu(t->cpu));
    }
#ifndef FOSSIM_SANITIZE
    /* The core's own arena, behind its free lists (DESIGN §5). */
    mallctl("thread.arena", NULL, NULL, &c->arena, sizeof(c->arena));
#endif
    fos__worker_stack(c->w);
    fos__cur = c;
    c->wend = FOS_CYCLES_MAX;
    while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
        uint32_t got = fos__native_drain(c);
        fos_fiber *f = fos__pick(c);
        if (f) {
            __atomic_store_n(&c->parked, 0, __ATOMIC_RELAXED);
            __atomic_fetch_add(&c->activity, 1, __ATOMIC_RELAXED);
            uint64_t t0 = fos__tsc();
            f->state = FOS__F_RUNNING;
            fos__switch_to_fiber(&c->w->ctx, &c->w->asan_fake, f);
            fos__reap(c->w);
            c->busy += fos__tsc() - t0;
            continue;
        }
        if (got) {
            __atomic_store_n(&c->parked, 0, __ATOMIC_RELAXED);
            __atomic_fetch_add(&c->activity, 1, __ATOMIC_RELAXED);
            continue;
        }
        idle(c, t->rate);
    }
    /* Senders took the core for dead from its kill's time on: if the run
     * ended before the thread got to the kill, it dies now, as it did for them. */
    if (!c->dead && c->kill_at != FOS_CYCLES_MAX && fos__clock_tsc(c) >= c->kill_at)
        fos__core_kill(c, c->kill_at);
    fos__dring_settle(c);
    fos__clock_now(c); /* the report's clock: read lazily during the run */
    c->current = NULL;
    fos__cur = NULL;
    return NULL;
}

/* The host CPUs this process may run on, in id order. */
static int host_cpus(int *cpus, int max)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
    int n = 0;
    for (int i = 0; i < CPU_SETSIZE && n < max; i++)
        if (CPU_ISSET(i, &set)) cpus[n++] = i;
    return n;
}

static bool all_parked(struct sim *s, uint64_t *activity)
{
    uint64_t sum = 0, dsent = 0, dseen = 0;
    bool parked = true;
    for (uint32_t i = 0; i < s->ncores; i++) {
        const fos__inbox *ib = s->cores[i]->inbox;
        /* A message claimed but not yet taken keeps the run alive, however long
         * its receiver's thread waits for a CPU. */
        parked &= __atomic_load_n(&s->cores[i]->parked, __ATOMIC_ACQUIRE) != 0 &&
                  __atomic_load_n(&ib->tail, __ATOMIC_ACQUIRE) ==
                      __atomic_load_n(&ib->head, __ATOMIC_ACQUIRE);
        sum += __atomic_load_n(&s->cores[i]->activity, __ATOMIC_RELAXED);
        dsent += __atomic_load_n(&s->cores[i]->dsent, __ATOMIC_ACQUIRE);
        dseen += __atomic_load_n(&s->cores[i]->dseen, __ATOMIC_ACQUIRE);
    }
    /* ... and no message written into a mailbox that its core has not seen, */
    parked = parked && dseen == dsent;
    /* ... and no channel message published but unseen: counted by the rings
     * themselves, so a send touches no line of the consumer's but the slot. */
    parked = parked && fos__chans_idle(s);
    bool still = parked && sum == *activity;
    *activity = sum;
    return still;
}

int fos__native_run(struct sim *s)
{
    int cpus[CPU_SETSIZE];
    int ncpu = host_cpus(cpus, CPU_SETSIZE);
    s->host_cpus = (uint32_t)ncpu;
    s->oversubscribed = ncpu > 0 && s->ncores > (uint32_t)ncpu;
    if (s->oversubscribed)
        fprintf(stderr,
                "fossim: warning: %u simulated cores on %d host CPUs: cores share CPUs, so "
                "native timings mean little\n",
                s->ncores, ncpu);
    uint64_t rate = tsc_rate();
    s->st.cycles_per_s = rate;
    core_thread *t = calloc(s->ncores, sizeof(*t));
    pthread_t *th = calloc(s->ncores, sizeof(*th));
    if (!t || !th) {
        free(t);
        free(th);
        return -ENOMEM;
    }
    __atomic_store_n(&s->tsc0, fos__tsc(), __ATOMIC_RELAXED);
    s->running = true;
    uint64_t h0 = host_ns();
    uint32_t started = 0;
    int r = 0;
    for (uint32_t i = 0; i < s->ncores; i++) {
        t[i] = (core_thread){s->cores[i], -1, rate};
        /* Oversubscribed, pinning would stack several spinning cores on one CPU
         * and starve the rest; the scheduler spreads them better. */
        if (ncpu > 0 && s->ncores <= (uint32_t)ncpu)
            t[i].cpu = cpus[fos_topo_host_slot(&s->topo, i, (uint32_t)ncpu)];
        if (pthread_create(&th[i], NULL, core_main, &t[i]) != 0) {
            r = -EAGAIN;
            break;
        }
        started++;
    }
    /* Watch for the end: every application done, the duration, or every core
     * asleep with nothing pending twice in a row (idle, or a deadlock). */
    s->st.end = SIM_END_IDLE;
    uint64_t activity = 0;
    int quiet = 0;
    while (r == 0) {
        struct timespec d = {0, 200000};
        nanosleep(&d, NULL);
        if (__atomic_load_n(&s->any_app, __ATOMIC_ACQUIRE) &&
            __atomic_load_n(&s->apps_live, __ATOMIC_ACQUIRE) == 0) {
            s->st.end = SIM_END_DONE;
            break;
        }
        if (s->cfg.duration && fos__tsc() - s->tsc0 >= s->cfg.duration) {
            s->st.end = SIM_END_DURATION;
            break;
        }
        quiet = all_parked(s, &activity) ? quiet + 1 : 0;
        if (quiet >= 3) break;
    }
    __atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
    for (uint32_t i = 0; i < started; i++) {
        fos__inbox *ib = s->cores[i]->inbox;
        __atomic_fetch_add(&ib->bell, 1, __ATOMIC_RELEASE);
        futex(&ib->bell, FUTEX_WAKE_PRIVATE, 1, NULL);
    }
    for (uint32_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    s->running = false;
    s->st.host_ns = host_ns() - h0;
    s->st.end_cycles = fos__tsc() - s->tsc0;
    if (s->st.end == SIM_END_DONE) s->st.end_cycles = s->last_app_exit;
    free(t);
    free(th);
    if (r != 0) return r;
    if (s->st.end == SIM_END_IDLE && s->apps_live > 0) {
        s->st.end = SIM_END_DEADLOCK;
        return -EDEADLK;
    }
    return 0;
}
