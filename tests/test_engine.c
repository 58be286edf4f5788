/* The virtual engine: determinism across processes, independence from the
 * window length, the timing rule under random traffic, fibers parked at window
 * ends, deadlock detection, and the random streams. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fos/fos.h"
#include "sim/phold.h"

static void run_ok(sim *s)
{
    int r = sim_run(s);

    cr_assert_eq(r, 0, "sim_run returned %d (%s)", r, fos_err_name(r));
}

/* ---- determinism of the command line across processes ---- */

/* Workloads for the command line: a ping-pong of 50 rounds per pair, and PHOLD. */
#define PINGPONG "-q --set apps.0.operations=50 '" FOSSIM_EXAMPLES "/pingpong.yaml'"
#define PHOLD "-q '" FOSSIM_EXAMPLES "/phold.yaml'"

/* Runs fossim and returns its "event digest:" line (without the newline). */
static void fossim_digest(const char *args, char *out, size_t outsz)
{
    char cmd[512];
    char line[512];
    FILE *p;

    snprintf(cmd, sizeof cmd, "'%s' %s", FOSSIM_BIN, args);
    fflush(NULL);
    p = popen(cmd, "r");
    cr_assert_not_null(p, "popen %s: %s", cmd, strerror(errno));
    out[0] = '\0';
    while (fgets(line, sizeof line, p))
        if (strncmp(line, "event digest:", 13) == 0) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(out, outsz, "%s", line);
        }
    int status = pclose(p);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: status %#x", cmd, status);
    cr_assert_neq(out[0], '\0', "%s printed no event digest", cmd);
}

/* The same, started with a much larger environment, which moves the stack
 * (ASLR moves the rest). */
static void fossim_digest_moved(const char *args, char *out, size_t outsz)
{
    char pad[257];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    setenv("FOSSIM_TEST_PADDING", pad, 1);
    fossim_digest(args, out, outsz);
    unsetenv("FOSSIM_TEST_PADDING");
}

Test(engine, fossim_digest_same_across_processes)
{
    char a[128], b[128], c[128];

    fossim_digest(PINGPONG " --cores 64", a, sizeof a);
    fossim_digest(PINGPONG " --cores 64", b, sizeof b);
    cr_expect_str_eq(a, b, "two runs of the same ping-pong differ");
    /* Another seed may or may not change a ping-pong's events: only check it
     * runs and reports. */
    fossim_digest(PINGPONG " --cores 64 --seed 2", c, sizeof c);
}

/* PHOLD through the command line: separate processes with different address
 * layouts (the environment's size moves the stack; ASLR the rest) must agree,
 * and another seed must not. */
Test(engine, phold_digest_same_across_exec_processes)
{
    char a[128], b[128], c[128];
    const char *args = PHOLD " --cores 256 --duration 30000 --seed 3";

    fossim_digest(args, a, sizeof a);
    fossim_digest_moved(args, b, sizeof b);
    cr_expect_str_eq(a, b, "two processes running the same PHOLD differ");
    fossim_digest(PHOLD " --cores 256 --duration 30000 --seed 4", c, sizeof c);
    cr_expect_str_neq(a, c, "another seed gave the same PHOLD");
    fossim_digest_moved(PHOLD " --cores 256 --duration 30000 --seed 3 --workers 2", c, sizeof c);
    cr_expect_str_eq(a, c, "PHOLD on two workers differs from one");
}

/* Spawns carry host pointers (the new fiber's function and argument): what the
 * digest folds of them must not differ between processes. */
Test(engine, spawn_digest_same_across_exec_processes)
{
    char a[128], b[128];
    const char *args = "-q '" FOSSIM_EXAMPLES "/spawn_storm.yaml'";

    fossim_digest(args, a, sizeof a);
    fossim_digest_moved(args, b, sizeof b);
    cr_expect_str_eq(a, b, "two processes running the same spawn storm differ");
}

/* ---- PHOLD in separate processes ---- */

typedef struct {
    int rc;
    int end;
    uint64_t digest, msgs, events, handled, errors, end_cycles;
} phold_result;

/* Runs the cores of each window in reverse (the engine's test hook). */
static bool g_reverse;
/* The host threads that run the windows (sim_config.workers). */
static uint32_t g_workers;

static void phold_run(uint64_t seed, fos_cycles shrink, fos_topo_kind kind, phold_result *out)
{
    sim_config cfg;
    sim *s;
    sim_phold p;
    sim_stats st;

    memset(out, 0, sizeof *out);
    sim_config_default(&cfg);
    cfg.chip.cores = 64;
    cfg.chip.kind = kind;
    cfg.seed = seed;
    cfg.duration = 40000;
    cfg.window_shrink = shrink;
    cfg.test_reverse_order = g_reverse;
    cfg.workers = g_workers;
    out->rc = sim_create(&cfg, &s);
    if (out->rc != 0) return;
    out->rc = sim_phold_setup(s, NULL, 0, 200, 4, 0, &p);
    if (out->rc == 0) out->rc = sim_run(s);
    sim_phold_collect(&p);
    sim_get_stats(s, &st);
    out->end = (int)st.end;
    out->digest = st.event_digest;
    out->msgs = st.msgs;
    out->events = st.events;
    out->end_cycles = st.end_cycles;
    out->handled = p.handled;
    out->errors = p.errors;
    sim_destroy(s);
}

/* Runs PHOLD in a forked child and reads its results through a pipe, so that
 * each run starts from a fresh process. */
/* Runs fn(arg, out) in a forked child and copies its `len` bytes of out back,
 * so that each run starts from a fresh process. */
static void in_child(void (*fn)(const void *arg, void *out), const void *arg, void *out, size_t len)
{
    int fd[2];

    cr_assert_eq(pipe(fd), 0, "pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(fd[0]);
        fn(arg, out);
        ssize_t w = write(fd[1], out, len);
        _exit(w == (ssize_t)len ? 0 : 1);
    }
    close(fd[1]);
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd[0], (char *)out + got, len - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: status %#x", status);
    cr_assert_eq(got, len, "short read from the child");
}

typedef struct {
    uint64_t seed;
    fos_cycles shrink;
    fos_topo_kind kind;
} phold_args;

static void phold_in_child(const void *arg, void *out)
{
    const phold_args *a = arg;
    phold_run(a->seed, a->shrink, a->kind, out);
}

static phold_result phold_child(uint64_t seed, fos_cycles shrink, fos_topo_kind kind)
{
    phold_result r;
    phold_args a = {seed, shrink, kind};

    in_child(phold_in_child, &a, &r, sizeof r);
    cr_assert_eq(r.rc, 0, "PHOLD child: %d (%s)", r.rc, fos_err_name(r.rc));
    cr_assert_eq(r.end, SIM_END_DURATION, "PHOLD ended %s", sim_end_name((sim_end)r.end));
    cr_assert_eq(r.end_cycles, 40000);
    cr_assert_eq(r.errors, 0, "PHOLD had %llu errors", (unsigned long long)r.errors);
    cr_assert_gt(r.handled, 1000, "PHOLD handled only %llu messages",
                 (unsigned long long)r.handled);
    return r;
}

Test(engine, phold_same_seed_same_digest)
{
    phold_result a = phold_child(7, 0, FOS_TOPO_MESH);
    phold_result b = phold_child(7, 0, FOS_TOPO_MESH);

    cr_expect_eq(a.digest, b.digest, "digests %016llx and %016llx", (unsigned long long)a.digest,
                 (unsigned long long)b.digest);
    cr_expect_eq(a.msgs, b.msgs);
    cr_expect_eq(a.events, b.events);
    cr_expect_eq(a.handled, b.handled);
}

Test(engine, phold_other_seed_other_digest)
{
    phold_result a = phold_child(7, 0, FOS_TOPO_MESH);
    phold_result b = phold_child(8, 0, FOS_TOPO_MESH);

    cr_expect_neq(a.digest, b.digest, "seeds 7 and 8 gave the same digest %016llx",
                  (unsigned long long)a.digest);
}

Test(engine, phold_independent_of_window_length)
{
    phold_result full = phold_child(3, 0, FOS_TOPO_MESH);
    phold_result shrunk = phold_child(3, 7, FOS_TOPO_MESH);

    cr_expect_eq(full.digest, shrunk.digest, "windows of 15: %016llx, of 8: %016llx",
                 (unsigned long long)full.digest, (unsigned long long)shrunk.digest);
    cr_expect_eq(full.msgs, shrunk.msgs);
    cr_expect_eq(full.events, shrunk.events);
    cr_expect_eq(full.handled, shrunk.handled);

    phold_result tfull = phold_child(3, 0, FOS_TOPO_TORUS);
    phold_result tshrunk = phold_child(3, 14, FOS_TOPO_TORUS); /* windows of one cycle */

    cr_expect_eq(tfull.digest, tshrunk.digest, "torus: windows of 15: %016llx, of 1: %016llx",
                 (unsigned long long)tfull.digest, (unsigned long long)tshrunk.digest);
    cr_expect_eq(tfull.msgs, tshrunk.msgs);
}

Test(engine, window_shrink_must_leave_a_window)
{
    sim_config cfg;
    sim *s = NULL;

    sim_config_default(&cfg);
    cfg.chip.cores = 4;
    cfg.window_shrink = 15; /* the whole lookahead */
    cr_expect_eq(sim_create(&cfg, &s), -EINVAL);
    cfg.window_shrink = 0;
    cfg.chip.cores = 0;
    cr_expect_eq(sim_create(&cfg, &s), -EINVAL);
    /* A default channel page past the largest a channel takes. */
    cfg.chip.cores = 4;
    cfg.chan_page_bytes = FOS_CHAN_PAGE_MAX + 64;
    cr_expect_eq(sim_create(&cfg, &s), -EINVAL);
}

/* ---- the timing rule under random traffic on a torus ---- */

#define TCORES 64
#define TPER 40

typedef struct {
    fos_msg h;
    fos_cycles sent_at;
    uint32_t seq;
} rt_msg;

typedef struct {
    fos_mbox *box[TCORES];
    fos_addr addr[TCORES];
    fos_cap cap[TCORES];
    const fos_topo *topo;
    uint64_t received, early, bad_from, sent, errors, eagain;
} traffic_state;

static void traffic_sender(void *arg)
{
    traffic_state *st = arg;
    rt_msg m = {.h = {.len = sizeof m - sizeof m.h}};

    for (uint32_t i = 0; i < TPER; i++) {
        uint32_t d = (uint32_t)fos_rand_below(TCORES);

        fos_compute(fos_rand_exp(50));
        m.seq = i;
        for (;;) {
            m.sent_at = fos_now();
            int r = fos_send(st->addr[d], st->cap[d], &m.h);
            if (r == 0) {
                st->sent++;
                break;
            }
            if (r != -EAGAIN) {
                st->errors++;
                break;
            }
            st->eagain++;
            fos_sleep(30);
        }
    }
}

static void traffic_receiver(void *arg)
{
    traffic_state *st = arg;
    fos_core_id me = fos_core_self();
    rt_msg m;

    for (;;) {
        if (fos_recv(st->box[me], &m.h, sizeof m, FOS_CYCLES_MAX) != 0) return;
        st->received++;
        fos_core_id src = m.h.from.core;
        if (src >= TCORES) {
            st->bad_from++;
            continue;
        }
        if (fos_now() < m.sent_at + fos_topo_latency(st->topo, src, me, fos_msg_size(&m.h)))
            st->early++;
    }
}

Test(engine, no_message_before_latency_on_torus)
{
    sim_config cfg;
    sim *s;
    static traffic_state st;
    sim_stats ss;

    memset(&st, 0, sizeof st);
    sim_config_default(&cfg);
    cfg.chip.cores = TCORES;
    cfg.chip.kind = FOS_TOPO_TORUS;
    cfg.seed = 11;
    cr_assert_eq(sim_create(&cfg, &s), 0);
    st.topo = sim_topo(s);
    cr_assert_eq(st.topo->width, 8);
    for (uint32_t i = 0; i < TCORES; i++) {
        cr_assert_eq(sim_mbox_create(s, i, 16, &st.box[i], &st.addr[i], &st.cap[i]), 0);
        cr_assert_eq(sim_spawn(s, i, traffic_receiver, &st, "receiver", true), 0);
        cr_assert_eq(sim_spawn(s, i, traffic_sender, &st, "sender", false), 0);
    }
    run_ok(s);
    sim_get_stats(s, &ss);
    cr_expect_eq(ss.end, SIM_END_DONE, "ended %s", sim_end_name(ss.end));
    cr_expect_eq(st.errors, 0);
    cr_expect_eq(st.sent, TCORES * TPER);
    cr_expect_eq(ss.msgs, TCORES * TPER);
    /* The run stops once the senders are done; a receiver may not have taken
     * its last messages yet. */
    uint64_t queued = 0;
    for (uint32_t i = 0; i < TCORES; i++)
        queued += fos_mbox_count(st.box[i]);
    cr_expect_eq(st.received + queued, TCORES * TPER, "received %llu + queued %llu",
                 (unsigned long long)st.received, (unsigned long long)queued);
    cr_expect_eq(st.bad_from, 0);
    cr_expect_eq(st.early, 0, "%llu messages seen before send time + latency",
                 (unsigned long long)st.early);
    sim_destroy(s);
}

/* ---- fibers parked at window ends ---- */

#define NCOMP 1000
#define NPING 20

typedef struct {
    fos_msg h;
    uint32_t seq;
} ping_msg;

typedef struct {
    fos_mbox *box, *pong_box;
    fos_addr addr, pong_addr;
    fos_cap cap, pong_cap;
    fos_cycles start, end;
    uint32_t bad_delta, answered, pongs, bad_pong, errors;
    fos_cycles compute_sum;
} park_state;

static void answer(park_state *st, ping_msg *m)
{
    m->h.type = 2;
    if (fos_send(m->h.reply_to, m->h.reply_cap, &m->h) != 0)
        st->errors++;
    else
        st->answered++;
}

static void parked_computer(void *arg)
{
    park_state *st = arg;
    ping_msg m;

    st->start = fos_now();
    for (int i = 0; i < NCOMP; i++) {
        fos_cycles t = fos_now();

        /* 23 > L = 15: every call crosses at least one window end. */
        fos_compute(23);
        fos_cycles d = fos_now() - t;
        st->compute_sum += d;
        if (d != 23) st->bad_delta++;
        if (fos_recv(st->box, &m.h, sizeof m, 0) == 0) answer(st, &m);
    }
    st->end = fos_now();
    while (st->answered < NPING) {
        if (fos_recv(st->box, &m.h, sizeof m, FOS_CYCLES_MAX) != 0) {
            st->errors++;
            return;
        }
        answer(st, &m);
    }
}

static void pinger(void *arg)
{
    park_state *st = arg;
    ping_msg m = {.h = {.type = 1,
                        .len = sizeof(uint32_t),
                        .reply_to = st->pong_addr,
                        .reply_cap = st->pong_cap}};
    ping_msg in;

    for (uint32_t i = 0; i < NPING; i++) {
        m.seq = i;
        if (fos_send(st->addr, st->cap, &m.h) != 0) {
            st->errors++;
            return;
        }
        if (fos_recv(st->pong_box, &in.h, sizeof in, FOS_CYCLES_MAX) != 0 || in.seq != i ||
            in.h.type != 2 || in.h.from.core != 0)
            st->bad_pong++;
        else
            st->pongs++;
        fos_compute(300);
    }
}

Test(engine, parked_fibers_resume_exactly)
{
    sim_config cfg;
    sim *s;
    park_state st = {0};
    sim_stats ss;

    sim_config_default(&cfg);
    cfg.chip.cores = 4;
    cr_assert_eq(sim_create(&cfg, &s), 0);
    cr_assert_eq(sim_mbox_create(s, 0, 4, &st.box, &st.addr, &st.cap), 0);
    cr_assert_eq(sim_mbox_create(s, 1, 4, &st.pong_box, &st.pong_addr, &st.pong_cap), 0);
    cr_assert_eq(sim_spawn(s, 0, parked_computer, &st, "computer", false), 0);
    cr_assert_eq(sim_spawn(s, 1, pinger, &st, "pinger", false), 0);
    run_ok(s);
    sim_get_stats(s, &ss);
    cr_expect_eq(st.start, 0);
    cr_expect_eq(st.bad_delta, 0, "%u of %d fos_compute(23) did not advance the clock by 23",
                 st.bad_delta, NCOMP);
    cr_expect_eq(st.compute_sum, 23 * NCOMP);
    cr_expect_geq(st.end, 23 * NCOMP);
    cr_expect_eq(st.errors, 0);
    cr_expect_eq(st.answered, NPING);
    cr_expect_eq(st.pongs, NPING, "%u of %d pings answered", st.pongs, NPING);
    cr_expect_eq(st.bad_pong, 0);
    /* Each compute moves the clock past a window end: a window per call at least. */
    cr_expect_geq(ss.windows, NCOMP, "only %llu windows", (unsigned long long)ss.windows);
    sim_destroy(s);
}

typedef struct {
    fos_cycles end;
} lone_state;

static void lone_computer(void *arg)
{
    lone_state *st = arg;

    for (int i = 0; i < NCOMP; i++)
        fos_compute(23);
    st->end = fos_now();
}

static void ping_pair(void *arg)
{
    park_state *st = arg;
    ping_msg m = {.h = {.type = 1,
                        .len = sizeof(uint32_t),
                        .reply_to = st->pong_addr,
                        .reply_cap = st->pong_cap}};
    ping_msg in;

    for (uint32_t i = 0; i < NPING; i++) {
        m.seq = i;
        if (fos_send(st->addr, st->cap, &m.h) != 0 ||
            fos_recv(st->pong_box, &in.h, sizeof in, FOS_CYCLES_MAX) != 0 || in.seq != i)
            st->bad_pong++;
        else
            st->pongs++;
    }
}

static void echo(void *arg)
{
    park_state *st = arg;
    ping_msg m;

    for (;;) {
        if (fos_recv(st->box, &m.h, sizeof m, FOS_CYCLES_MAX) != 0) return;
        fos_send(m.h.reply_to, m.h.reply_cap, &m.h);
    }
}

Test(engine, lone_computer_exact_beside_traffic)
{
    /* A core computing alone ends at exactly its sum, whatever other cores'
     * messages do to the windows around it. */
    sim_config cfg;
    sim *s;
    park_state st = {0};
    lone_state lone = {0};
    sim_stats ss;

    sim_config_default(&cfg);
    cfg.chip.cores = 4;
    cr_assert_eq(sim_create(&cfg, &s), 0);
    cr_assert_eq(sim_mbox_create(s, 2, 4, &st.box, &st.addr, &st.cap), 0);
    cr_assert_eq(sim_mbox_create(s, 1, 4, &st.pong_box, &st.pong_addr, &st.pong_cap), 0);
    cr_assert_eq(sim_spawn(s, 0, lone_computer, &lone, "computer", false), 0);
    cr_assert_eq(sim_spawn(s, 1, ping_pair, &st, "pinger", false), 0);
    cr_assert_eq(sim_spawn(s, 2, echo, &st, "echo", true), 0);
    run_ok(s);
    sim_get_stats(s, &ss);
    cr_expect_eq(lone.end, 23 * NCOMP);
    cr_expect_eq(st.pongs, NPING);
    cr_expect_eq(ss.end, SIM_END_DONE);
    cr_expect_eq(ss.end_cycles, 23 * NCOMP);
    sim_destroy(s);
}

/* ---- deadlock ---- */

typedef struct {
    fos_mbox *box[2];
    int r[2];
} dl_state;

static void wait_on_own(void *arg)
{
    dl_state *st = arg;
    fos_core_id me = fos_core_self();
    fos_msg m;

    st->r[me] = fos_recv(st->box[me], &m, sizeof m, FOS_CYCLES_MAX);
}

Test(engine, deadlock_detected, .timeout = 30)
{
    sim_config cfg;
    sim *s;
    dl_state st = {.r = {1, 1}};
    sim_stats ss;
    char *text = NULL;
    size_t len = 0;

    sim_config_default(&cfg);
    cfg.chip.cores = 2;
    cr_assert_eq(sim_create(&cfg, &s), 0);
    cr_assert_eq(sim_mbox_create(s, 0, 4, &st.box[0], NULL, NULL), 0);
    cr_assert_eq(sim_mbox_create(s, 1, 4, &st.box[1], NULL, NULL), 0);
    cr_assert_eq(sim_spawn(s, 0, wait_on_own, &st, "w0", false), 0);
    cr_assert_eq(sim_spawn(s, 1, wait_on_own, &st, "w1", false), 0);
    int r = sim_run(s);
    cr_expect_eq(r, -EDEADLK, "sim_run gave %d (%s)", r, fos_err_name(r));
    sim_get_stats(s, &ss);
    cr_expect_eq(ss.end, SIM_END_DEADLOCK, "ended %s", sim_end_name(ss.end));
    cr_expect_eq(st.r[0], 1, "a deadlocked receiver returned");
    cr_expect_eq(st.r[1], 1);

    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    int n = sim_report_waits(s, f);
    fclose(f);
    cr_expect_eq(n, 2, "%d waiting fibers reported:\n%s", n, text);
    cr_expect_not_null(strstr(text, "mailbox"), "report: %s", text);
    cr_expect_not_null(strstr(text, "w0"), "report: %s", text);
    cr_expect_not_null(strstr(text, "w1"), "report: %s", text);
    free(text);
    cr_expect_eq(sim_run(s), -EINVAL, "a second sim_run was accepted");
    sim_destroy(s);
}

static void compute_forever(void *arg)
{
    int *after = arg;

    fos_compute(FOS_CYCLES_MAX);
    *after = 1;
}

/* A charge that saturates the clock leaves its fiber runnable but never run:
 * the run must end as stuck, and the report must name that fiber too, not
 * only the one that waits for it. */
Test(engine, a_fiber_past_the_end_of_time_is_reported, .timeout = 30)
{
    sim_config cfg;
    sim *s;
    dl_state st = {.r = {1, 1}};
    int after = 0;
    char *text = NULL;
    size_t len = 0;

    sim_config_default(&cfg);
    cfg.chip.cores = 2;
    cr_assert_eq(sim_create(&cfg, &s), 0);
    cr_assert_eq(sim_mbox_create(s, 1, 4, &st.box[1], NULL, NULL), 0);
    cr_assert_eq(sim_spawn(s, 0, compute_forever, &after, "eternal", false), 0);
    cr_assert_eq(sim_spawn(s, 1, wait_on_own, &st, "w1", false), 0);
    int r = sim_run(s);
    cr_expect_eq(r, -EDEADLK, "sim_run gave %d (%s)", r, fos_err_name(r));
    cr_expect_eq(after, 0, "a fiber ran past the end of time");

    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    int n = sim_report_waits(s, f);
    fclose(f);
    cr_expect_eq(n, 2, "%d stuck fibers reported:\n%s", n, text);
    cr_expect_not_null(strstr(text, "\"eternal\" can run only past the end of time"), "report: %s",
                       text);
    cr_expect_not_null(strstr(text, "w1"), "report: %s", text);
    free(text);
    sim_destroy(s);
}

/* With a duration, the same core is busy through it: the run ends there, not
 * as stuck at the end of time. */
Test(engine, a_charge_to_the_end_of_time_runs_to_the_duration, .timeout = 30)
{
    sim_config cfg;
    sim *s;
    dl_state st = {.r = {1, 1}};
    int after = 0;

    sim_config_default(&cfg);
    cfg.chip.cores = 2;
    cfg.duration = 200000;
    cr_assert_eq(sim_create(&cfg, &s), 0);
    cr_assert_eq(sim_mbox_create(s, 1, 4, &st.box[1], NULL, NULL), 0);
    cr_assert_eq(sim_spawn(s, 0, compute_forever, &after, "eternal", false), 0);
    cr_assert_eq(sim_spawn(s, 1, wait_on_own, &st, "w1", false), 0);
    int r = sim_run(s);
    cr_expect_eq(r, 0, "sim_run gave %d (%s)", r, fos_err_name(r));
    sim_stats ss;
    sim_get_stats(s, &ss);
    cr_expect_eq(ss.end, SIM_END_DURATION);
    cr_expect_eq(ss.end_cycles, 200000, "ended at %llu", (unsigned long long)ss.end_cycles);
    cr_expect_eq(after, 0);
    sim_destroy(s);
}

static void daemon_waits(void *arg)
{
    dl_state *st = arg;
    fos_msg m;

    fos_recv(st->box[0], &m, sizeof m, FOS_CYCLES_MAX);
}

Test(engine, only_daemons_waiting_is_idle)
{
    sim_config cfg;
    sim *s;
    dl_state st = {0};
    sim_stats ss;

    sim_config_default(&cfg);
    cfg.chip.cores = 2;
    cr_assert_eq(sim_create(&cfg, &s), 0);
    cr_assert_eq(sim_mbox_create(s, 0, 4, &st.box[0], NULL, NULL), 0);
    cr_assert_eq(sim_spawn(s, 0, daemon_waits, &st, "server", true), 0);
    run_ok(s);
    sim_get_stats(s, &ss);
    cr_expect_eq(ss.end, SIM_END_IDLE, "ended %s", sim_end_name(ss.end));
    sim_destroy(s);
}

/* ---- random streams ---- */

Test(engine, rng_exp_mean)
{
    fos_rng r;
    uint64_t sum = 0;
    const int n = 100000;

    fos_rng_seed(&r, 1, 0, 2);
    for (int i = 0; i < n; i++)
        sum += fos_rng_exp(&r, 1000);
    double mean = (double)sum / n;
    cr_expect(mean > 980.0 && mean < 1020.0, "sample mean %.2f of exp(1000)", mean);
}

Test(engine, rng_streams)
{
    fos_rng a, b, c, d;
    int same_ab = 0, same_ac = 0, same_ad = 0;

    fos_rng_seed(&a, 42, 5, 1);
    fos_rng_seed(&b, 42, 5, 1);
    fos_rng_seed(&c, 42, 5, 2);
    fos_rng_seed(&d, 42, 6, 1);
    for (int i = 0; i < 1000; i++) {
        uint64_t x = fos_rng_next(&a), y = fos_rng_next(&b);
        uint64_t z = fos_rng_next(&c), w = fos_rng_next(&d);

        same_ab += x == y;
        same_ac += x == z;
        same_ad += x == w;
    }
    cr_expect_eq(same_ab, 1000, "the same (seed, core, stream) diverged");
    cr_expect_eq(same_ac, 0, "another stream matched %d draws", same_ac);
    cr_expect_eq(same_ad, 0, "another core matched %d draws", same_ad);
}

Test(engine, rng_below_in_range)
{
    fos_rng r;
    uint32_t hist[7] = {0};

    fos_rng_seed(&r, 9, 0, 0);
    for (int i = 0; i < 70000; i++) {
        uint64_t v = fos_rng_below(&r, 7);

        cr_assert_lt(v, 7);
        hist[v]++;
    }
    /* Each bucket expects 10000 (sd ~93). */
    for (int i = 0; i < 7; i++)
        cr_expect(hist[i] > 9500 && hist[i] < 10500, "bucket %d got %u", i, hist[i]);
    cr_expect_eq(fos_rng_below(&r, 1), 0);
}

/* ---- killing a core ---- */

typedef struct {
    int count;
    bool finished;
} killed_state;

static void computes_until_killed(void *arg)
{
    killed_state *st = arg;

    for (int i = 0; i < NCOMP; i++) {
        fos_compute(23);
        st->count++;
    }
    st->finished = true;
}

static void waits_until_killed(void *arg)
{
    dl_state *st = arg;
    fos_msg m;

    st->r[0] = fos_recv(st->box[0], &m, sizeof m, FOS_CYCLES_MAX);
}

Test(engine, killed_core_stops_its_fibers)
{
    sim_config cfg;
    sim *s;
    killed_state ks = {0};
    dl_state ws = {.r = {1, 1}};
    sim_stats ss;
    sim_core_stats cs;

    sim_config_default(&cfg);
    cfg.chip.cores = 4;
    cr_assert_eq(sim_create(&cfg, &s), 0);
    cr_assert_eq(sim_mbox_create(s, 2, 4, &ws.box[0], NULL, NULL), 0);
    cr_assert_eq(sim_spawn(s, 1, computes_until_killed, &ks, "computer", false), 0);
    cr_assert_eq(sim_spawn(s, 2, waits_until_killed, &ws, "waiter", false), 0);
    cr_assert_eq(sim_kill_core(s, 1, 5000), 0);
    cr_assert_eq(sim_kill_core(s, 2, 300), 0);
    /* Both non-daemon fibers die with their cores: the run ends, no deadlock. */
    run_ok(s);
    sim_get_stats(s, &ss);
    cr_expect_eq(ss.end, SIM_END_DONE, "ended %s", sim_end_name(ss.end));
    /* 217 * 23 = 4991 < 5000 <= 218 * 23: the 218th compute ends after the
     * core died and never returns. */
    cr_expect_eq(ks.count, 217, "%d computes returned", ks.count);
    cr_expect_not(ks.finished);
    cr_expect_eq(ws.r[0], 1, "a fiber of a dead core returned from fos_recv");
    cr_assert_eq(sim_get_core_stats(s, 1, &cs), 0);
    cr_expect(cs.dead);
    cr_assert_eq(sim_get_core_stats(s, 2, &cs), 0);
    cr_expect(cs.dead);
    sim_destroy(s);
}

/* ---- window independence with RPCs, reply priority, timers and yields ---- */

#define RCORES 16
#define RCALLS 30

typedef struct {
    fos_msg h;
    uint64_t x;
} rpc_msg;

typedef struct {
    fos_mbox *srv[RCORES], *rep[RCORES];
    fos_addr srv_addr[RCORES], rep_addr[RCORES];
    fos_cap srv_cap[RCORES], rep_cap[RCORES];
    /* Per core: the engine may run the cores of a window in any order, so only
     * what each core observes of its own clock can be compared in sequence;
     * and on several workers, cores run at once, sharing nothing. */
    uint64_t rtt_sum[RCORES], ticks[RCORES], errors[RCORES], replies[RCORES];
    uint64_t mix[RCORES];
} rpc_state;

static void rpc_server(void *arg)
{
    rpc_state *st = arg;
    fos_core_id me = fos_core_self();
    rpc_msg m;

    for (;;) {
        if (fos_recv(st->srv[me], &m.h, sizeof m, FOS_CYCLES_MAX) != 0) return;
        fos_compute(fos_rand_exp(30));
        m.x = m.x * 3 + me;
        while (fos_send(m.h.reply_to, m.h.reply_cap, &m.h) == -EAGAIN)
            fos_sleep(17);
    }
}

static void rpc_client(void *arg)
{
    rpc_state *st = arg;
    fos_core_id me = fos_core_self();
    rpc_msg m = {
        .h = {.len = sizeof(uint64_t), .reply_to = st->rep_addr[me], .reply_cap = st->rep_cap[me]}};
    rpc_msg in;

    fos_mbox_set_reply(st->rep[me]);
    for (uint32_t i = 0; i < RCALLS; i++) {
        uint32_t d = (uint32_t)fos_rand_below(RCORES);

        fos_compute(fos_rand_exp(40));
        m.x = i;
        m.h.corr = i;
        fos_cycles t0 = fos_now();
        int r;
        while ((r = fos_send(st->srv_addr[d], st->srv_cap[d], &m.h)) == -EAGAIN)
            fos_sleep(23);
        if (r != 0 || fos_recv(st->rep[me], &in.h, sizeof in, 100000) != 0 || in.h.corr != i) {
            st->errors[me]++;
            continue;
        }
        st->replies[me]++;
        st->rtt_sum[me] += fos_now() - t0;
        st->mix[me] = st->mix[me] * 31 + in.x + fos_now();
        if (i % 7 == 0) fos_yield();
    }
}

static void ticker(void *arg)
{
    rpc_state *st = arg;

    fos_core_id me = fos_core_self();

    for (int i = 0; i < 40; i++) {
        fos_sleep(97);
        fos_compute(5);
        st->ticks[me]++;
        st->mix[me] ^= fos_now() << (i % 13);
    }
}

static void rpc_run(fos_cycles shrink, phold_result *out, uint64_t extra[3])
{
    sim_config cfg;
    sim *s;
    rpc_state st;
    sim_stats ss;

    memset(&st, 0, sizeof st);
    memset(out, 0, sizeof *out);
    sim_config_default(&cfg);
    cfg.chip.cores = RCORES;
    cfg.seed = 5;
    cfg.window_shrink = shrink;
    cfg.workers = g_workers;
    out->rc = sim_create(&cfg, &s);
    if (out->rc != 0) return;
    for (uint32_t i = 0; i < RCORES && out->rc == 0; i++) {
        out->rc = sim_mbox_create(s, i, 4, &st.srv[i], &st.srv_addr[i], &st.srv_cap[i]);
        if (out->rc == 0)
            out->rc = sim_mbox_create(s, i, 2, &st.rep[i], &st.rep_addr[i], &st.rep_cap[i]);
        if (out->rc == 0) out->rc = sim_spawn(s, i, rpc_server, &st, "server", true);
        if (out->rc == 0) out->rc = sim_spawn(s, i, rpc_client, &st, "client", false);
        if (out->rc == 0) out->rc = sim_spawn(s, i, ticker, &st, "ticker", false);
    }
    if (out->rc == 0) out->rc = sim_run(s);
    sim_get_stats(s, &ss);
    out->end = (int)ss.end;
    out->digest = ss.event_digest;
    out->msgs = ss.msgs;
    out->events = ss.events;
    out->end_cycles = ss.end_cycles;
    extra[0] = extra[1] = extra[2] = 0;
    for (uint32_t i = 0; i < RCORES; i++) {
        out->handled += st.replies[i];
        out->errors += st.errors[i];
        extra[0] += st.rtt_sum[i];
        extra[1] += st.ticks[i];
        extra[2] = extra[2] * 1000003 + st.mix[i];
    }
    sim_destroy(s);
}

typedef struct {
    phold_result r;
    uint64_t extra[3];
} rpc_out;

static void rpc_in_child(const void *arg, void *out)
{
    rpc_out *o = out;
    rpc_run(*(const fos_cycles *)arg, &o->r, o->extra);
}

static void rpc_child(fos_cycles shrink, phold_result *r, uint64_t extra[3])
{
    rpc_out msg;

    in_child(rpc_in_child, &shrink, &msg, sizeof msg);
    cr_assert_eq(msg.r.rc, 0, "rpc run: %d (%s)", msg.r.rc, fos_err_name(msg.r.rc));
    cr_assert_eq(msg.r.end, SIM_END_DONE, "ended %s", sim_end_name((sim_end)msg.r.end));
    cr_assert_eq(msg.r.errors, 0);
    cr_assert_eq(msg.r.handled, RCORES * RCALLS);
    cr_assert_eq(msg.extra[1], RCORES * 40);
    *r = msg.r;
    memcpy(extra, msg.extra, sizeof msg.extra);
}

Test(engine, rpc_independent_of_window_length)
{
    static const fos_cycles shrinks[] = {0, 7, 14};
    phold_result r[3];
    uint64_t x[3][3];

    for (int i = 0; i < 3; i++)
        rpc_child(shrinks[i], &r[i], x[i]);
    for (int i = 1; i < 3; i++) {
        cr_expect_eq(r[i].digest, r[0].digest, "shrink %llu: digest %016llx, full %016llx",
                     (unsigned long long)shrinks[i], (unsigned long long)r[i].digest,
                     (unsigned long long)r[0].digest);
        cr_expect_eq(r[i].end_cycles, r[0].end_cycles, "shrink %llu: ended at %llu, full %llu",
                     (unsigned long long)shrinks[i], (unsigned long long)r[i].end_cycles,
                     (unsigned long long)r[0].end_cycles);
        cr_expect_eq(r[i].msgs, r[0].msgs);
        cr_expect_eq(r[i].events, r[0].events);
        cr_expect_eq(x[i][0], x[0][0], "shrink %llu: rtt sum %llu, full %llu",
                     (unsigned long long)shrinks[i], (unsigned long long)x[i][0],
                     (unsigned long long)x[0][0]);
        cr_expect_eq(x[i][2], x[0][2], "shrink %llu: observed times differ",
                     (unsigned long long)shrinks[i]);
    }
}

/* ---- several workers ---- */

/* The same PHOLD on 1 to 5 workers (64 cores: blocks of 64, 32, 22/21, 16 and
 * 13/12), with windows shrunk and the cores of each window reversed too: one
 * result. */
Test(engine, phold_independent_of_workers)
{
    phold_result one = phold_child(9, 0, FOS_TOPO_MESH);
    for (uint32_t n = 2; n <= 5; n++) {
        g_workers = n;
        phold_result r = phold_child(9, 0, FOS_TOPO_MESH);
        g_workers = 0;
        cr_expect_eq(r.digest, one.digest, "%u workers: digest %016llx, one: %016llx", n,
                     (unsigned long long)r.digest, (unsigned long long)one.digest);
        cr_expect_eq(r.msgs, one.msgs, "%u workers", n);
        cr_expect_eq(r.events, one.events, "%u workers", n);
        cr_expect_eq(r.handled, one.handled, "%u workers", n);
    }
    phold_result t = phold_child(9, 6, FOS_TOPO_TORUS);
    g_workers = 3;
    g_reverse = true;
    phold_result tw = phold_child(9, 6, FOS_TOPO_TORUS);
    g_reverse = false;
    g_workers = 0;
    cr_expect_eq(tw.digest, t.digest, "torus, 3 workers, reversed: %016llx, one: %016llx",
                 (unsigned long long)tw.digest, (unsigned long long)t.digest);
    cr_expect_eq(tw.handled, t.handled);
}

/* RPCs, timers and a run that ends when its clients are done: what each
 * fiber saw (round trips, the times it read) and where the run ended do not
 * depend on the workers either. */
Test(engine, rpc_independent_of_workers)
{
    phold_result one, r;
    uint64_t x1[3], x[3];

    rpc_child(0, &one, x1);
    for (uint32_t n = 2; n <= 4; n += 2) {
        g_workers = n;
        rpc_child(0, &r, x);
        g_workers = 0;
        cr_expect_eq(r.digest, one.digest, "%u workers: digest %016llx, one: %016llx", n,
                     (unsigned long long)r.digest, (unsigned long long)one.digest);
        cr_expect_eq(r.end_cycles, one.end_cycles, "%u workers: ended at %llu, one: %llu", n,
                     (unsigned long long)r.end_cycles, (unsigned long long)one.end_cycles);
        cr_expect_eq(r.events, one.events);
        cr_expect_eq(x[0], x1[0], "%u workers: rtt sum differs", n);
        cr_expect_eq(x[2], x1[2], "%u workers: observed times differ", n);
    }
}

/* Two cores on two workers, each waiting on its own mailbox: the deadlock is
 * found and reported as on one worker, not left spinning at the barrier. */
Test(engine, deadlock_detected_on_two_workers, .timeout = 30)
{
    sim_config cfg;
    sim *s;
    dl_state st = {.r = {1, 1}};
    sim_stats ss;

    sim_config_default(&cfg);
    cfg.chip.cores = 2;
    cfg.workers = 2;
    cr_assert_eq(sim_create(&cfg, &s), 0);
    cr_expect_eq(sim_workers(s), 2);
    cr_assert_eq(sim_mbox_create(s, 0, 4, &st.box[0], NULL, NULL), 0);
    cr_assert_eq(sim_mbox_create(s, 1, 4, &st.box[1], NULL, NULL), 0);
    cr_assert_eq(sim_spawn(s, 0, wait_on_own, &st, "w0", false), 0);
    cr_assert_eq(sim_spawn(s, 1, wait_on_own, &st, "w1", false), 0);
    cr_expect_eq(sim_run(s), -EDEADLK);
    sim_get_stats(s, &ss);
    cr_expect_eq(ss.end, SIM_END_DEADLOCK, "ended %s", sim_end_name(ss.end));
    cr_expect_eq(ss.activations, 2);
    FILE *f = fopen("/dev/null", "w");
    cr_assert_not_null(f);
    cr_expect_eq(sim_report_waits(s, f), 2);
    fclose(f);
    sim_destroy(s);
}

Test(engine, workers_checked)
{
    sim_config cfg;
    sim *s;

    sim_config_default(&cfg);
    cfg.chip.cores = 4;
    cfg.workers = 0; /* one */
    cr_assert_eq(sim_create(&cfg, &s), 0);
    cr_expect_eq(sim_workers(s), 1);
    sim_destroy(s);
    cfg.workers = 4;
    cr_assert_eq(sim_create(&cfg, &s), 0);
    cr_expect_eq(sim_workers(s), 4);
    sim_destroy(s);
    cfg.workers = 5; /* more than the cores */
    cr_expect_eq(sim_create(&cfg, &s), -EINVAL);
    cfg.chip.cores = 1024;
    cfg.workers = SIM_WORKERS_MAX + 1;
    cr_expect_eq(sim_create(&cfg, &s), -EINVAL);
    cfg.chip.cores = 4;
    cfg.workers = 2;
    cfg.engine = SIM_ENGINE_NATIVE; /* a thread per core already */
    cr_expect_eq(sim_create(&cfg, &s), -EINVAL);
}

/* ---- the harness ---- */

static void nothing(void *arg)
{
    (void)arg;
}

Test(engine, boot_calls_checked)
{
    sim_config cfg;
    sim *s;
    fos_mbox *m;
    fos_addr a;
    fos_cap cap;

    sim_config_default(&cfg);
    cfg.chip.cores = 4;
    cr_assert_eq(sim_create(&cfg, &s), 0);
    cr_expect_eq(sim_spawn(s, 4, nothing, NULL, "x", false), -EINVAL);
    cr_expect_eq(sim_spawn(s, 0, NULL, NULL, "x", false), -EINVAL);
    cr_expect_eq(sim_kill_core(s, 4, 10), -EINVAL);
    cr_assert_eq(sim_mbox_create(s, 1, 4, &m, &a, &cap), 0);
    cr_assert_eq(sim_spawn(s, 0, nothing, NULL, "x", false), 0);
    run_ok(s);
    /* Wiring is for boot only. */
    cr_expect_eq(sim_spawn(s, 0, nothing, NULL, "x", false), -EINVAL);
    cr_expect_eq(sim_mbox_create(s, 1, 4, &m, &a, &cap), -EINVAL);
    cr_expect_eq(sim_dir_register(s, "/late", a, cap), -EINVAL);
    cr_expect_eq(sim_kill_core(s, 1, 10), -EINVAL);
    cr_expect_eq(sim_run(s), -EINVAL);
    sim_destroy(s);
}

Test(engine, config_defaults)
{
    sim_config cfg;
    sim *s;

    sim_config_default(&cfg);
    cr_expect_eq(cfg.chip.kind, FOS_TOPO_MESH);
    cr_expect_eq(cfg.chip.cores, 256);
    cr_expect_eq(cfg.seed, 1);
    cr_expect_eq(cfg.max_msg_bytes, 4096);
    cr_expect_eq(cfg.duration, 0);
    cr_expect_eq(cfg.chip.costs.trap, 14);
    cr_expect_eq(cfg.chip.costs.ctx_switch, 200);
    cfg.chip.cores = 16;
    cr_assert_eq(sim_create(&cfg, &s), 0);
    cr_expect_eq(sim_topo(s)->lookahead, 15);
    cr_expect_eq(sim_topo(s)->width, 4);
    sim_destroy(s);
    cfg.max_msg_bytes = sizeof(fos_msg) - 1;
    cr_expect_eq(sim_create(&cfg, &s), -EINVAL);
    cfg.max_msg_bytes = 4096;
    cfg.dir_core = 16;
    cr_expect_eq(sim_create(&cfg, &s), -EINVAL);
}

/* Nothing may depend on the order in which the cores of a window run. */
Test(engine, core_order_within_window_does_not_matter)
{
    g_reverse = false;
    phold_result a = phold_child(11, 0, FOS_TOPO_MESH);
    g_reverse = true;
    phold_result b = phold_child(11, 0, FOS_TOPO_MESH);
    phold_result c = phold_child(11, 5, FOS_TOPO_TORUS);
    g_reverse = false;
    phold_result d = phold_child(11, 5, FOS_TOPO_TORUS);
    cr_assert_eq(a.rc, 0);
    cr_assert_eq(b.rc, 0);
    cr_assert_eq(a.digest, b.digest, "reversed core order changed the digest");
    cr_assert_eq(a.msgs, b.msgs);
    cr_assert_eq(c.digest, d.digest);
}

/* A fiber whose clock never leaves its window holds the host thread for good:
 * the watchdog names it and stops the process, whether it makes no runtime
 * call or only calls that cost no time. */
static void runaway(void *arg)
{
    (void)arg;
    for (;;)
        (void)fos_now();
}

static void runaway_free_calls(void *arg)
{
    (void)arg;
    for (;;)
        fos_compute(0);
}

static void expect_watchdog(fos_fiber_fn fn, uint32_t workers)
{
    int err[2];
    cr_assert_eq(pipe(err), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        close(err[0]);
        dup2(err[1], 2);
        /* A watchdog that never fires must not leave the child spinning. */
        alarm(20);
        sim_config cfg;
        sim_config_default(&cfg);
        cfg.chip.cores = 4;
        cfg.watchdog_s = 1;
        cfg.workers = workers;
        sim *s;
        if (sim_create(&cfg, &s) != 0 || sim_spawn(s, 2, fn, NULL, "spinner", false) != 0) _exit(9);
        sim_run(s);
        _exit(0);
    }
    close(err[1]);
    char buf[512] = {0};
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(err[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    close(err[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 3, "status %#x", status);
    cr_assert_not_null(strstr(buf, "core 2"), "report: %s", buf);
    cr_assert_not_null(strstr(buf, "spinner"), "report: %s", buf);
}

Test(engine, watchdog_reports_a_runaway_fiber, .timeout = 30)
{
    expect_watchdog(runaway, 1);
}

/* On the second of two workers, while the first waits at the barrier. */
Test(engine, watchdog_reports_a_runaway_fiber_of_another_worker, .timeout = 30)
{
    expect_watchdog(runaway, 2);
}

Test(engine, watchdog_reports_a_loop_of_free_calls, .timeout = 30)
{
    expect_watchdog(runaway_free_calls, 1);
}

/* A fiber that computes in small steps for longer than the watchdog's limit,
 * all inside one window (a cost table whose lookahead is huge), moves its
 * core's clock all the while: it is working, not stuck, and is not reported. */
static void long_fine_work(void *arg)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        for (int i = 0; i < 1000; i++)
            fos_compute(1);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000000000ll + (t.tv_nsec - t0.tv_nsec) < 2500000000ll);
    *(fos_cycles *)arg = fos_now();
}

Test(engine, watchdog_spares_long_work_inside_one_window, .timeout = 60)
{
    sim_config cfg;
    sim_config_default(&cfg);
    cfg.chip.cores = 4;
    cfg.chip.costs.trap = 1000000000000ull; /* the lookahead: the cheaper of the two */
    cfg.chip.costs.chan_slot_write = 1000000000000ull;
    cfg.watchdog_s = 1;
    sim *s;
    fos_cycles end = 0;
    cr_assert_eq(sim_create(&cfg, &s), 0);
    cr_assert_gt(fos_topo_lookahead(sim_topo(s)), 100000000000ull);
    cr_assert_eq(sim_spawn(s, 2, long_fine_work, &end, "worker", false), 0);
    cr_assert_eq(sim_run(s), 0);
    cr_expect_gt(end, 1000, "it computed %llu cycles", (unsigned long long)end);
    cr_expect_lt(end, fos_topo_lookahead(sim_topo(s)), "all inside the first window");
    sim_destroy(s);
}
