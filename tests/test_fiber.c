/* Fibers: cooperative switching, spawn and join, sleeping, remote spawn, stack
 * pooling, many fibers on one core, and the guard page under each stack. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fos/fos.h"
#include "tests/harness.h"

/* The guard-page tests need the kernel's SIGSEGV to kill the child: ASan must
 * not catch it and report instead. This only affects this test binary. */
const char *__asan_default_options(void)
{
    return "handle_segv=0:allow_user_segv_handler=1";
}

/* A small chip with the default ("tile") costs. */
/* ---- alternation through fos_yield ---- */

typedef struct {
    char log[64][16];
    int n;
} order_log;

typedef struct {
    order_log *log;
    char tag;
    int rounds;
} yielder_arg;

static void yielder(void *arg)
{
    yielder_arg *a = arg;

    for (int i = 0; i < a->rounds; i++) {
        order_log *l = a->log;

        snprintf(l->log[l->n++], sizeof l->log[0], "%c%d", a->tag, i);
        fos_yield();
    }
}

Test(fiber, yield_alternates)
{
    sim *s = make_sim(2);
    order_log log = {0};
    yielder_arg a = {&log, 'a', 4}, b = {&log, 'b', 4};
    static const char *const want[] = {"a0", "b0", "a1", "b1", "a2", "b2", "a3", "b3"};

    cr_assert_eq(sim_spawn(s, 0, yielder, &a, "a", false), 0);
    cr_assert_eq(sim_spawn(s, 0, yielder, &b, "b", false), 0);
    run_ok(s);
    cr_assert_eq(log.n, 8, "%d entries logged", log.n);
    for (int i = 0; i < 8; i++)
        cr_expect_str_eq(log.log[i], want[i], "entry %d", i);
    sim_destroy(s);
}

Test(fiber, lone_yield_costs_a_poll, VIRTUAL_TIMING)
{
    /* A fiber alone on its core yields to itself: no switch is charged, only the
     * scheduler's pass (poll), so a yield loop moves time on. */
    sim *s = make_sim(2);
    order_log log = {0};
    yielder_arg a = {&log, 'a', 10};
    sim_stats st;

    cr_assert_eq(sim_spawn(s, 0, yielder, &a, "a", false), 0);
    run_ok(s);
    sim_get_stats(s, &st);
    cr_assert_eq(log.n, 10);
    cr_assert_eq(st.end, SIM_END_DONE, "ended %s", sim_end_name(st.end));
    cr_assert_eq(st.end_cycles, 10 * sim_topo(s)->costs.poll, "ten lone yields took %llu cycles",
                 (unsigned long long)st.end_cycles);
    sim_destroy(s);
}

/* ---- spawn and join ---- */

typedef struct {
    int in, out;
    bool ran;
    fos_core_id core;
} child_arg;

static void child_square(void *arg)
{
    child_arg *c = arg;

    fos_yield();
    c->out = c->in * c->in;
    c->ran = true;
    c->core = fos_core_self();
}

typedef struct {
    child_arg kids[3];
    int join_res[3];
    int late_join;
    int self_join;
    int null_join;
    int again;
    int bad_stack;
    bool done;
} join_state;

static void joiner(void *arg)
{
    join_state *st = arg;
    fos_fiber *f[3];

    for (int i = 0; i < 3; i++) {
        st->kids[i].in = i + 3;
        cr_assert_eq(fos_fiber_spawn(child_square, &st->kids[i], NULL, &f[i]), 0);
    }
    for (int i = 0; i < 3; i++)
        st->join_res[i] = fos_fiber_join(f[i]);
    st->self_join = fos_fiber_join(fos_fiber_self());
    st->null_join = fos_fiber_join(NULL);

    /* Joining a fiber that has already ended returns at once. */
    child_arg late = {.in = 9};
    fos_fiber *g;
    cr_assert_eq(fos_fiber_spawn(child_square, &late, NULL, &g), 0);
    while (!late.ran)
        fos_yield();
    st->late_join = fos_fiber_join(g);
    st->again = late.out;

    /* Stacks below a page are refused. */
    fos_fiber_opts tiny = {.stack_size = 100, .name = "tiny"};
    st->bad_stack = fos_fiber_spawn(child_square, &late, &tiny, &g);
    st->done = true;
}

Test(fiber, spawn_join_result)
{
    sim *s = make_sim(4);
    join_state st = {0};
    sim_stats ss;

    cr_assert_eq(sim_spawn(s, 2, joiner, &st, "joiner", false), 0);
    run_ok(s);
    cr_assert(st.done, "the joiner did not finish");
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(st.join_res[i], 0, "join %d gave %d", i, st.join_res[i]);
        cr_expect(st.kids[i].ran, "child %d did not run", i);
        cr_expect_eq(st.kids[i].out, (i + 3) * (i + 3), "child %d result %d", i, st.kids[i].out);
        cr_expect_eq(st.kids[i].core, 2, "child %d ran on core %u", i, st.kids[i].core);
    }
    cr_expect_eq(st.self_join, -EINVAL, "join of self gave %d", st.self_join);
    cr_expect_eq(st.null_join, -EINVAL, "join of NULL gave %d", st.null_join);
    cr_expect_eq(st.late_join, 0, "join of an ended fiber gave %d", st.late_join);
    cr_expect_eq(st.again, 81);
    cr_expect_eq(st.bad_stack, -EINVAL, "a 100-byte stack gave %d", st.bad_stack);
    sim_get_stats(s, &ss);
    cr_expect_eq(ss.fibers_spawned, 5, "fibers_spawned %llu",
                 (unsigned long long)ss.fibers_spawned);
    sim_destroy(s);
}

typedef struct {
    fos_fiber *detached;
    int join_detached;
    bool sleeper_done;
} detach_state;

static void detached_sleeper(void *arg)
{
    detach_state *st = arg;

    st->detached = fos_fiber_self();
    fos_sleep(1000);
    st->sleeper_done = true;
}

static void detach_joiner(void *arg)
{
    detach_state *st = arg;

    /* The sleeper ran first (spawned first) and is now parked, still alive. */
    cr_assert_not_null(st->detached);
    st->join_detached = fos_fiber_join(st->detached);
}

Test(fiber, join_detached_is_einval)
{
    sim *s = make_sim(2);
    detach_state st = {0};

    cr_assert_eq(sim_spawn(s, 1, detached_sleeper, &st, "sleeper", false), 0);
    cr_assert_eq(sim_spawn(s, 1, detach_joiner, &st, "joiner", false), 0);
    run_ok(s);
    cr_expect_eq(st.join_detached, -EINVAL, "join of a detached fiber gave %d", st.join_detached);
    cr_expect(st.sleeper_done);
    sim_destroy(s);
}

typedef struct {
    fos_fiber *child;
    int cross_join, own_join;
    bool child_done;
} cross_state;

static void cross_child(void *arg)
{
    cross_state *st = arg;

    fos_sleep(2000);
    st->child_done = true;
}

static void cross_parent(void *arg)
{
    cross_state *st = arg;

    cr_assert_eq(fos_fiber_spawn(cross_child, st, NULL, &st->child), 0);
    fos_sleep(1000);
    st->own_join = fos_fiber_join(st->child);
}

static void cross_other(void *arg)
{
    cross_state *st = arg;

    /* By 100 the child exists (spawned at 0 on core 1) and lives until 2000+:
     * an order in simulated time, a race on real threads (VIRTUAL_TIMING). */
    fos_sleep(100);
    st->cross_join = fos_fiber_join(st->child);
}

Test(fiber, join_other_core_is_einval, VIRTUAL_TIMING)
{
    sim *s = make_sim(2);
    cross_state st = {0};

    cr_assert_eq(sim_spawn(s, 1, cross_parent, &st, "parent", false), 0);
    cr_assert_eq(sim_spawn(s, 0, cross_other, &st, "other", false), 0);
    run_ok(s);
    cr_expect_eq(st.cross_join, -EINVAL, "join from another core gave %d", st.cross_join);
    cr_expect_eq(st.own_join, 0, "join by its own core gave %d", st.own_join);
    cr_expect(st.child_done);
    sim_destroy(s);
}

typedef struct {
    int before, after;
} exit_state;

static void exits_early(void *arg)
{
    exit_state *st = arg;

    st->before = 1;
    fos_fiber_exit();
    st->after = 1; /* never reached */
}

static void exit_parent(void *arg)
{
    fos_fiber *f;

    cr_assert_eq(fos_fiber_spawn(exits_early, arg, NULL, &f), 0);
    cr_assert_eq(fos_fiber_join(f), 0);
}

Test(fiber, exit_ends_the_fiber)
{
    sim *s = make_sim(2);
    exit_state st = {0};

    cr_assert_eq(sim_spawn(s, 0, exit_parent, &st, "parent", false), 0);
    run_ok(s);
    cr_expect_eq(st.before, 1);
    cr_expect_eq(st.after, 0, "code after fos_fiber_exit ran");
    sim_destroy(s);
}

/* ---- sleeping ---- */

typedef struct {
    fos_cycles t0, t1, t2;
    int r;
} sleep_state;

static void sleeper(void *arg)
{
    sleep_state *st = arg;

    fos_compute(37);
    st->t0 = fos_now();
    st->r = fos_sleep(1000);
    st->t1 = fos_now();
    fos_sleep(0);
    st->t2 = fos_now();
}

static void zero_sleeper(void *arg)
{
    for (int i = 0; i < 10; i++)
        fos_sleep(0);
    *(fos_cycles *)arg = fos_now();
}

Test(fiber, a_sleep_of_zero_costs_a_yield, VIRTUAL_TIMING)
{
    /* As a yield does, so a loop of them waiting for another core moves time
     * on (before, it stood still until the watchdog stopped the run). */
    sim *s = make_sim(2);
    fos_cycles end = 0;
    cr_assert_eq(sim_spawn(s, 0, zero_sleeper, &end, "sleeper", false), 0);
    run_ok(s);
    cr_assert_eq(end, 10 * sim_topo(s)->costs.poll, "ten sleeps of 0 took %llu cycles",
                 (unsigned long long)end);
    sim_destroy(s);
}

Test(fiber, sleep_advances_clock)
{
    sim *s = make_sim(2);
    sleep_state st = {0};
    const fos_costs *k = &sim_topo(s)->costs;

    cr_assert_eq(sim_spawn(s, 1, sleeper, &st, "sleeper", false), 0);
    run_ok(s);
    cr_expect_eq(st.r, 0);
    VIRTUAL_ONLY cr_expect_eq(st.t0, 37);
    cr_expect_geq(st.t1, st.t0 + 1000, "slept from %llu to %llu", (unsigned long long)st.t0,
                  (unsigned long long)st.t1);
    /* A lone fiber is not switched away from, so nothing but the sleep is due:
     * at most a trap's worth of overhead. */
    VIRTUAL_ONLY cr_expect_leq(st.t1, st.t0 + 1000 + k->trap, "slept from %llu to %llu",
                               (unsigned long long)st.t0, (unsigned long long)st.t1);
    cr_expect_geq(st.t2, st.t1);
    sim_destroy(s);
}

/* ---- spawning on another core ---- */

typedef struct {
    fos_cycles sent_at, ran_at;
    fos_core_id ran_on;
    int issued, bad_core;
    bool ran;
} remote_state;

static void remote_fn(void *arg)
{
    remote_state *st = arg;

    st->ran_at = fos_now();
    st->ran_on = fos_core_self();
    st->ran = true;
}

static void remote_spawner(void *arg)
{
    remote_state *st = arg;

    fos_compute(100);
    st->sent_at = fos_now();
    st->issued = fos_spawn(15, remote_fn, st);
    st->bad_core = fos_spawn(16, remote_fn, st);
    /* Stay alive until the spawned fiber has run: see spawn_outlives_spawner. */
    while (!st->ran)
        fos_sleep(50);
}

Test(fiber, remote_spawn_runs_there_after_latency)
{
    sim *s = make_sim(16);
    remote_state st = {0};
    const fos_topo *t = sim_topo(s);

    cr_assert_eq(sim_spawn(s, 0, remote_spawner, &st, "spawner", false), 0);
    run_ok(s);
    cr_expect_eq(st.issued, 0);
    cr_expect_eq(st.bad_core, -EINVAL, "fos_spawn to core 16 of 16 gave %d", st.bad_core);
    cr_assert(st.ran, "the spawned fiber never ran");
    cr_expect_eq(st.ran_on, 15, "ran on core %u", st.ran_on);
    /* 0 -> 15 is corner to corner of a 4x4 mesh: 6 hops. */
    fos_cycles lat = fos_topo_latency(t, 0, 15, 0);
    cr_expect_eq(lat, t->costs.trap + 6 * t->costs.hop);
    cr_expect_geq(st.ran_at, st.sent_at + lat, "sent at %llu, ran at %llu",
                  (unsigned long long)st.sent_at, (unsigned long long)st.ran_at);
    sim_destroy(s);
}

static void spawn_and_leave(void *arg)
{
    remote_state *st = arg;

    st->sent_at = fos_now();
    st->issued = fos_spawn(3, remote_fn, st);
}

/* A non-daemon fiber's fos_spawn is work of the application: the fiber it
 * starts is itself non-daemon, so the run must not end before it has run
 * just because its spawner ended while the spawn was in flight. */
Test(fiber, spawn_outlives_spawner)
{
    sim *s = make_sim(4);
    remote_state st = {0};

    cr_assert_eq(sim_spawn(s, 0, spawn_and_leave, &st, "spawner", false), 0);
    run_ok(s);
    cr_expect_eq(st.issued, 0);
    cr_expect(st.ran, "a fiber fos_spawn'd by a non-daemon fiber that then ended never ran: "
                      "the run ended with the spawn in flight");
    sim_destroy(s);
}

/* ---- stack pooling ---- */

typedef struct {
    uintptr_t addr[8];
    int n;
} stack_state;

static void note_stack(void *arg)
{
    stack_state *st = arg;
    volatile char local = 1;

    st->addr[st->n++] = (uintptr_t)&local;
}

static void serial_spawner(void *arg)
{
    stack_state *st = arg;

    for (int i = 0; i < 8; i++) {
        fos_fiber *f;

        cr_assert_eq(fos_fiber_spawn(note_stack, st, NULL, &f), 0);
        cr_assert_eq(fos_fiber_join(f), 0);
    }
}

Test(fiber, stacks_are_reused)
{
    sim *s = make_sim(2);
    stack_state st = {0};

    cr_assert_eq(sim_spawn(s, 0, serial_spawner, &st, "spawner", false), 0);
    run_ok(s);
    cr_assert_eq(st.n, 8);
    /* Each child ended before the next was spawned: the pool hands the same
     * stack back, so the same local lands at the same address. */
    for (int i = 1; i < 8; i++)
        cr_expect_eq(st.addr[i], st.addr[0], "child %d's local at %#lx, child 0's at %#lx", i,
                     (unsigned long)st.addr[i], (unsigned long)st.addr[0]);
    sim_destroy(s);
}

/* ---- many fibers ---- */

typedef struct {
    int done;
    int steps;
} many_state;

static void many_fn(void *arg)
{
    many_state *st = arg;

    for (int i = 0; i < 3; i++) {
        st->steps++;
        fos_yield();
    }
    st->done++;
}

Test(fiber, ten_thousand_fibers)
{
    sim *s = make_sim(2);
    many_state st = {0};
    sim_stats ss;

    for (int i = 0; i < 10000; i++)
        cr_assert_eq(sim_spawn(s, 1, many_fn, &st, "many", false), 0, "spawn %d", i);
    run_ok(s);
    sim_get_stats(s, &ss);
    cr_expect_eq(st.done, 10000, "%d of 10000 fibers completed", st.done);
    cr_expect_eq(st.steps, 30000);
    cr_expect_eq(ss.fibers_spawned, 10000);
    cr_expect_eq(ss.end, SIM_END_DONE, "ended %s", sim_end_name(ss.end));
    sim_destroy(s);
}

/* ---- the guard page ---- */

static volatile unsigned long depth;
/* Never reached: only there so the compiler sees a way out of the recursion. */
static volatile unsigned long depth_limit = ~0ul;

static __attribute__((noinline)) int recurse(int n)
{
    volatile char buf[256];

    /* Touch the whole frame so the fall into the guard page is a write. */
    for (size_t i = 0; i < sizeof buf; i += 64)
        buf[i] = (char)n;
    if (++depth >= depth_limit) return n;
    return recurse(n + 1) + buf[n & 255];
}

static void overflow(void *arg)
{
    (void)arg;
    recurse(0);
}

static void overflow_small(void *arg)
{
    fos_fiber_opts o = {.stack_size = 16 * 1024, .name = "small"};
    fos_fiber *f;

    (void)arg;
    if (fos_fiber_spawn(overflow, NULL, &o, &f) == 0) fos_fiber_join(f);
}

/* Runs fn as a fiber in a forked child and returns its wait status. The child
 * must die of SIGSEGV on the guard page; if it ever returns, it exits 0. */
static int run_overflow_child(fos_fiber_fn fn)
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1, "fork: %s", strerror(errno));
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        sim_config cfg;
        sim *s;

        setrlimit(RLIMIT_CORE, &no_core); /* no core dump for the expected crash */
        signal(SIGSEGV, SIG_DFL);
        sim_config_default(&cfg);
        cfg.engine = TEST_ENGINE;
        cfg.chip.cores = 2;
        if (sim_create(&cfg, &s) != 0) _exit(3);
        if (sim_spawn(s, 0, fn, NULL, "overflow", false) != 0) _exit(4);
        sim_run(s);
        _exit(0);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return status;
}

Test(fiber, guard_page_default_stack)
{
    int status = run_overflow_child(overflow);

    cr_expect(WIFSIGNALED(status), "child was not killed by a signal: status %#x", status);
    if (WIFSIGNALED(status))
        cr_expect_eq(WTERMSIG(status), SIGSEGV, "child died of signal %d", WTERMSIG(status));
}

Test(fiber, guard_page_small_stack)
{
    int status = run_overflow_child(overflow_small);

    cr_expect(WIFSIGNALED(status), "child was not killed by a signal: status %#x", status);
    if (WIFSIGNALED(status))
        cr_expect_eq(WTERMSIG(status), SIGSEGV, "child died of signal %d", WTERMSIG(status));
}

static void spawn_to_dead(void *arg)
{
    remote_state *st = arg;

    fos_sleep(100); /* core 1 died at 10 */
    st->issued = fos_spawn(1, remote_fn, st);
    fos_sleep(1000);
}

Test(fiber, spawn_to_dead_core_is_dropped)
{
    sim *s = make_sim(4);
    remote_state st = {0};

    cr_assert_eq(sim_kill_core(s, 1, 10), 0);
    cr_assert_eq(sim_spawn(s, 0, spawn_to_dead, &st, "spawner", false), 0);
    run_ok(s);
    cr_expect_eq(st.issued, 0, "fos_spawn returns once issued, even to a dead core");
    cr_expect_not(st.ran, "a fiber ran on a dead core");
    sim_destroy(s);
}

static void smallest_stack_parent(void *arg)
{
    child_arg *c = arg;
    fos_fiber_opts o = {.stack_size = 4096, .name = "small"};
    fos_fiber *f;

    cr_assert_eq(fos_fiber_spawn(child_square, c, &o, &f), 0);
    cr_assert_eq(fos_fiber_join(f), 0);
}

Test(fiber, smallest_stack_runs)
{
    /* One page is the smallest stack accepted; a fiber must be able to use it. */
    sim *s = make_sim(2);
    child_arg c = {.in = 12};

    cr_assert_eq(sim_spawn(s, 1, smallest_stack_parent, &c, "parent", false), 0);
    run_ok(s);
    cr_expect(c.ran);
    cr_expect_eq(c.out, 144);
    cr_expect_eq(c.core, 1);
    sim_destroy(s);
}
