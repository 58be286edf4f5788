/* The native engine: the runtime's semantics with real threads. These tests
 * assert behaviour only, never timing, and run serially (they pin and spin). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "fos/fos.h"

static sim *boot(uint32_t cores)
{
    sim_config cfg;
    sim_config_default(&cfg);
    cfg.engine = SIM_ENGINE_NATIVE;
    cfg.chip.cores = cores;
    cfg.chip.costs.send_timeout = 2000000; /* TSC cycles: about a millisecond */
    sim *s = NULL;
    cr_assert_eq(sim_create(&cfg, &s), 0);
    return s;
}

enum { NCORES = 8, PER = 400 };

typedef struct {
    fos_msg h;
    uint32_t src, seq;
} nmsg;

typedef struct {
    fos_mbox *box[NCORES];
    fos_addr addr[NCORES];
    fos_cap cap[NCORES];
    uint32_t got[NCORES][NCORES]; /* [receiver][sender] */
    uint32_t last[NCORES][NCORES];
    uint32_t disorder[NCORES], errors[NCORES], sent[NCORES];
    uint64_t total_got; /* atomic */
} mesh_world;

typedef struct {
    mesh_world *w;
    uint32_t me;
} mesh_arg;

static void mesh_sender(void *arg)
{
    mesh_arg *a = arg;
    mesh_world *w = a->w;
    nmsg m = {.h = {.len = sizeof(m) - sizeof(fos_msg)}, .src = a->me};
    for (uint32_t i = 0; i < PER; i++) {
        uint32_t d = (a->me + 1 + (uint32_t)fos_rand_below(NCORES - 1)) % NCORES;
        m.seq = i + 1;
        int r;
        while ((r = fos_send(w->addr[d], w->cap[d], &m.h)) == -EAGAIN)
            fos_yield();
        if (r != 0)
            w->errors[a->me]++;
        else
            w->sent[a->me]++;
    }
    /* A send is done once the message is in the mailbox; the run ends with the
     * senders, so they wait (a while, at most) until the receivers have taken
     * everything. */
    for (int i = 0;
         i < 100000 && __atomic_load_n(&w->total_got, __ATOMIC_ACQUIRE) < (uint64_t)NCORES * PER;
         i++)
        fos_sleep(100000);
}

static void mesh_receiver(void *arg)
{
    mesh_arg *a = arg;
    mesh_world *w = a->w;
    nmsg m;
    while (fos_recv(w->box[a->me], &m.h, sizeof(m), FOS_CYCLES_MAX) == 0) {
        if (m.h.from.core != m.src || m.src >= NCORES) {
            w->errors[a->me]++;
            continue;
        }
        if (m.seq <= w->last[a->me][m.src]) w->disorder[a->me]++;
        w->last[a->me][m.src] = m.seq;
        w->got[a->me][m.src]++;
        __atomic_fetch_add(&w->total_got, 1, __ATOMIC_RELEASE);
    }
}

Test(native, many_cores_nothing_lost_or_duplicated, .timeout = 60)
{
    static mesh_world w;
    static mesh_arg args[NCORES];
    memset(&w, 0, sizeof(w));
    /* More cores than this host has CPUs: the oversubscribed case too. */
    sim *s = boot(NCORES);
    for (uint32_t i = 0; i < NCORES; i++) {
        cr_assert_eq(sim_mbox_create(s, i, 4, &w.box[i], &w.addr[i], &w.cap[i]), 0);
        args[i] = (mesh_arg){&w, i};
        cr_assert_eq(sim_spawn(s, i, mesh_receiver, &args[i], "recv", true), 0);
        cr_assert_eq(sim_spawn(s, i, mesh_sender, &args[i], "send", false), 0);
    }
    cr_assert_eq(sim_run(s), 0);
    uint64_t total = 0;
    for (uint32_t r = 0; r < NCORES; r++) {
        cr_assert_eq(w.errors[r], 0);
        cr_assert_eq(w.disorder[r], 0, "per-sender order broken at core %u", r);
        cr_assert_eq(w.sent[r], PER);
        for (uint32_t snd = 0; snd < NCORES; snd++)
            total += w.got[r][snd];
    }
    cr_assert_eq(total, (uint64_t)NCORES * PER);
    sim_stats st;
    sim_get_stats(s, &st);
    cr_assert(st.measured);
    cr_assert_eq(st.end, SIM_END_DONE);
    cr_assert_eq(st.msgs, (uint64_t)NCORES * PER);
    sim_destroy(s);
}

typedef struct {
    fos_mbox *box;
    fos_addr addr;
    fos_cap cap;
    int res[8];
    fos_cycles waited;
} err_world;

static void error_sender(void *arg)
{
    err_world *w = arg;
    fos_msg m = {.len = 0};
    w->res[0] = fos_send(w->addr, w->cap + 1, &m);
    w->res[1] = fos_send((fos_addr){w->addr.core, w->addr.id + 1}, w->cap, &m);
    w->res[2] = fos_send(w->addr, w->cap, &m);
    w->res[3] = fos_send(w->addr, w->cap, &m);
    w->res[4] = fos_send(w->addr, w->cap, &m);     /* capacity 2: full */
    w->res[5] = fos_send((fos_addr){3, 1}, 1, &m); /* core 3 is dead */
}

static void timeout_recv(void *arg)
{
    err_world *w = arg;
    fos_msg m;
    fos_mbox *mine;
    cr_assert_eq(fos_mbox_create(1, &mine, NULL), 0);
    fos_cycles t0 = fos_now();
    w->res[6] = fos_recv(mine, &m, sizeof(m), 100000);
    w->waited = fos_now() - t0;
    cr_assert_eq(fos_mbox_destroy(mine), 0);
}

Test(native, mailbox_errors_and_timeout, .timeout = 60)
{
    err_world w = {0};
    sim *s = boot(4);
    cr_assert_eq(sim_mbox_create(s, 1, 2, &w.box, &w.addr, &w.cap), 0);
    cr_assert_eq(sim_kill_core(s, 3, 0), 0);
    cr_assert_eq(sim_spawn(s, 0, error_sender, &w, "sender", false), 0);
    cr_assert_eq(sim_spawn(s, 2, timeout_recv, &w, "waiter", false), 0);
    cr_assert_eq(sim_run(s), 0);
    cr_assert_eq(w.res[0], -EPERM);
    cr_assert_eq(w.res[1], -ENOENT);
    cr_assert_eq(w.res[2], 0);
    cr_assert_eq(w.res[3], 0);
    cr_assert_eq(w.res[4], -EAGAIN);
    cr_assert_eq(w.res[5], -EHOSTDOWN);
    cr_assert_eq(w.res[6], -ETIMEDOUT);
    cr_assert_geq(w.waited, 100000);
    cr_assert_eq(fos_mbox_count(w.box), 2);
    sim_destroy(s);
}

/* A channel's round trips, and a dropped message timing out, on real threads. */
typedef struct {
    fos_mbox *sbox, *cbox;
    fos_addr saddr, caddr;
    fos_cap scap, ccap;
    int got, replies, bad, dropped_res;
} chan_world;

static void echo_server(void *arg)
{
    chan_world *w = arg;
    nmsg m;
    while (fos_recv(w->sbox, &m.h, sizeof(m), FOS_CYCLES_MAX) == 0) {
        if (m.seq != (uint32_t)w->got) w->bad++;
        w->got++;
        if (fos_send(m.h.reply_to, m.h.reply_cap, &m.h) != 0) w->bad++;
    }
}

static void chan_client(void *arg)
{
    chan_world *w = arg;
    fos_chan *ch;
    fos_chan_opts o = {.reply = w->cbox, .page_bytes = 512};
    cr_assert_eq(fos_chan_connect("/echo", &o, &ch), 0);
    nmsg m = {
        .h = {.len = sizeof(m) - sizeof(fos_msg), .reply_to = w->caddr, .reply_cap = w->ccap}};
    nmsg in;
    for (uint32_t i = 0; i < 2000; i++) {
        m.seq = i;
        int r;
        while ((r = fos_chan_send(ch, &m.h)) == -EAGAIN)
            fos_yield();
        cr_assert_eq(r, 0);
        cr_assert_eq(fos_recv(w->cbox, &in.h, sizeof(in), FOS_CYCLES_MAX), 0);
        if (in.seq != i) w->bad++;
        w->replies++;
    }
    cr_assert_eq(fos_chan_close(ch), 0);
    m.h.type = 9; /* dropped by the fault rule */
    w->dropped_res = fos_send(w->saddr, w->scap, &m.h);
}

Test(native, channel_round_trips_and_dropped_message, .timeout = 60)
{
    chan_world w = {0};
    sim *s = boot(2);
    cr_assert_eq(sim_mbox_create(s, 1, 8, &w.sbox, &w.saddr, &w.scap), 0);
    cr_assert_eq(sim_mbox_create(s, 0, 8, &w.cbox, &w.caddr, &w.ccap), 0);
    cr_assert_eq(sim_dir_register(s, "/echo", w.saddr, w.scap), 0);
    sim_match drop9 = {.src = FOS_CORE_NONE, .dst = FOS_CORE_NONE, .type = 9};
    cr_assert_eq(sim_fault_drop(s, &drop9, 1000000), 0);
    cr_assert_eq(sim_spawn(s, 1, echo_server, &w, "echo", true), 0);
    cr_assert_eq(sim_spawn(s, 0, chan_client, &w, "client", false), 0);
    cr_assert_eq(sim_run(s), 0);
    cr_assert_eq(w.got, 2000);
    cr_assert_eq(w.replies, 2000);
    cr_assert_eq(w.bad, 0);
    cr_assert_eq(w.dropped_res, -ETIMEDOUT);
    sim_stats st;
    sim_get_stats(s, &st);
    cr_assert_eq(st.chan_msgs, 4000);
    cr_assert_eq(st.dropped_fault, 1);
    sim_destroy(s);
}

static void stuck(void *arg)
{
    fos_mbox *m = arg;
    fos_msg buf;
    fos_recv(m, &buf, sizeof(buf), FOS_CYCLES_MAX);
}

Test(native, deadlock_is_reported, .timeout = 60)
{
    sim *s = boot(2);
    fos_mbox *a, *b;
    cr_assert_eq(sim_mbox_create(s, 0, 1, &a, NULL, NULL), 0);
    cr_assert_eq(sim_mbox_create(s, 1, 1, &b, NULL, NULL), 0);
    cr_assert_eq(sim_spawn(s, 0, stuck, a, "stuck-a", false), 0);
    cr_assert_eq(sim_spawn(s, 1, stuck, b, "stuck-b", false), 0);
    cr_assert_eq(sim_run(s), -EDEADLK);
    sim_stats st;
    sim_get_stats(s, &st);
    cr_assert_eq(st.end, SIM_END_DEADLOCK);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_eq(sim_report_waits(s, f), 2);
    fclose(f);
    cr_assert_not_null(strstr(text, "mailbox"));
    free(text);
    sim_destroy(s);
}

/* Names through the directory core, and a spawn on another core. */
typedef struct {
    int res[4];
    fos_core_id ran_on;
} name_world;

static void spawned(void *arg)
{
    ((name_world *)arg)->ran_on = fos_core_self();
}

static void namer(void *arg)
{
    name_world *w = arg;
    fos_mbox *m;
    fos_cap cap;
    cr_assert_eq(fos_mbox_create(4, &m, &cap), 0);
    w->res[0] = fos_name_register("/n", fos_mbox_addr(m), cap);
    fos_addr a;
    fos_cap c2;
    w->res[1] = fos_name_lookup("/n", &a, &c2);
    w->res[2] = (a.core == fos_core_self() && c2 == cap) ? 0 : -1;
    w->res[3] = fos_spawn(2, spawned, w);
}

Test(native, names_and_remote_spawn, .timeout = 60)
{
    name_world w = {.ran_on = FOS_CORE_NONE};
    sim *s = boot(3);
    cr_assert_eq(sim_spawn(s, 1, namer, &w, "namer", false), 0);
    cr_assert_eq(sim_run(s), 0);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(w.res[i], 0, "step %d", i);
    cr_assert_eq(w.ran_on, 2);
    sim_destroy(s);
}

/* A run with a duration ends even while fibers never stop being runnable. */
static void spinner(void *arg)
{
    (void)arg;
    for (;;) {
        fos_yield();
        fos_compute(1000);
    }
}

/* Two cores and a run of a few milliseconds of TSC. */
static sim *boot_short(void)
{
    sim_config cfg;
    sim_config_default(&cfg);
    cfg.engine = SIM_ENGINE_NATIVE;
    cfg.chip.cores = 2;
    cfg.duration = 20000000;
    sim *s = NULL;
    cr_assert_eq(sim_create(&cfg, &s), 0);
    return s;
}

Test(native, duration_ends_a_busy_run, .timeout = 60)
{
    sim *s = boot_short();
    cr_assert_eq(sim_spawn(s, 0, spinner, NULL, "spin-a", true), 0);
    cr_assert_eq(sim_spawn(s, 1, spinner, NULL, "spin-b", true), 0);
    cr_assert_eq(sim_run(s), 0);
    sim_stats st;
    sim_get_stats(s, &st);
    cr_assert_eq(st.end, SIM_END_DURATION);
    sim_destroy(s);
}

/* A compute longer than the run is cut short by the run's end, not wrapped
 * into one that returns at once. */
static void computes_forever(void *arg)
{
    int *after = arg;
    fos_compute(FOS_CYCLES_MAX);
    *after = 1;
}

Test(native, a_compute_past_the_end_of_time_lasts_the_run, .timeout = 60)
{
    sim *s = boot_short();
    static int after;
    after = 0;
    cr_assert_eq(sim_spawn(s, 1, computes_forever, &after, "forever", false), 0);
    cr_assert_eq(sim_run(s), 0);
    sim_stats st;
    sim_get_stats(s, &st);
    cr_expect_eq(st.end, SIM_END_DURATION, "ended %s", sim_end_name(st.end));
    cr_expect_eq(after, 0, "fos_compute(2^64-1) returned within the run");
    sim_destroy(s);
}

/* A core killed while a fiber waits on its mailbox does not keep a deadlocked
 * run alive. */
static void waiter(void *arg)
{
    fos_mbox *m = arg;
    fos_msg buf;
    fos_recv(m, &buf, sizeof(buf), FOS_CYCLES_MAX);
}

Test(native, killed_core_with_waiters_still_ends, .timeout = 60)
{
    sim *s = boot(3);
    fos_mbox *a, *b;
    cr_assert_eq(sim_mbox_create(s, 0, 1, &a, NULL, NULL), 0);
    cr_assert_eq(sim_mbox_create(s, 1, 1, &b, NULL, NULL), 0);
    cr_assert_eq(sim_spawn(s, 0, waiter, a, "doomed", true), 0);
    cr_assert_eq(sim_spawn(s, 1, waiter, b, "stuck", false), 0);
    cr_assert_eq(sim_kill_core(s, 0, 1000000), 0);
    cr_assert_eq(sim_run(s), -EDEADLK);
    sim_destroy(s);
}

/* ---- mailboxes written into by their senders ---- */

enum { SIZES = 40, KSENDERS = 3 };

typedef struct {
    fos_msg h;
    unsigned char data[300];
} sized_msg;

typedef struct {
    fos_mbox *box;
    fos_addr addr;
    fos_cap cap;
    int got, bad, errors;
} sized_world;

static size_t size_of(int i)
{
    return (size_t)(i * 7) % 301; /* inline (up to 16 bytes) and enveloped */
}

static void sized_sender(void *arg)
{
    sized_world *w = arg;
    sized_msg m;
    for (int i = 0; i < SIZES; i++) {
        m.h = (fos_msg){.type = (uint32_t)i, .len = (uint32_t)size_of(i)};
        for (size_t b = 0; b < m.h.len; b++)
            m.data[b] = (unsigned char)(i + (int)b);
        int r;
        while ((r = fos_send(w->addr, w->cap, &m.h)) == -EAGAIN)
            ;
        if (r != 0) w->errors++;
    }
}

static void sized_receiver(void *arg)
{
    sized_world *w = arg;
    sized_msg m;
    for (int i = 0; i < SIZES; i++) {
        if (fos_recv(w->box, &m.h, sizeof(m), FOS_CYCLES_MAX) != 0) {
            w->errors++;
            return;
        }
        bool ok = m.h.type == (uint32_t)i && m.h.len == size_of(i) && m.h.from.core == 0;
        for (size_t b = 0; ok && b < m.h.len; b++)
            ok = m.data[b] == (unsigned char)(i + (int)b);
        w->bad += !ok;
        w->got++;
    }
}

Test(native, messages_of_every_size_arrive_intact_and_in_order, .timeout = 60)
{
    sim *s = boot(2);
    static sized_world w;
    memset(&w, 0, sizeof(w));
    /* A small mailbox, so the sender keeps meeting a full one and cells wrap. */
    cr_assert_eq(sim_mbox_create(s, 1, 3, &w.box, &w.addr, &w.cap), 0);
    cr_assert_eq(sim_spawn(s, 1, sized_receiver, &w, "recv", false), 0);
    cr_assert_eq(sim_spawn(s, 0, sized_sender, &w, "send", false), 0);
    cr_assert_eq(sim_run(s), 0);
    cr_expect_eq(w.errors, 0);
    cr_expect_eq(w.got, SIZES);
    cr_expect_eq(w.bad, 0, "%d messages arrived changed or out of order", w.bad);
    sim_stats st;
    sim_get_stats(s, &st);
    cr_expect_eq(st.msgs, (uint64_t)SIZES);
    sim_destroy(s);
}

typedef struct {
    fos_mbox *box;
    fos_addr addr;
    fos_cap cap;
    uint64_t got;
    uint64_t ok[KSENDERS + 1], down[KSENDERS + 1], other[KSENDERS + 1];
} kill_world;

static void kill_sender(void *arg)
{
    kill_world *w = arg;
    fos_core_id me = fos_core_self();
    struct {
        fos_msg h;
        unsigned char pad[64]; /* some inline, some in envelopes */
    } m = {0};
    for (uint32_t i = 0;; i++) {
        m.h.len = i % 2 ? 64 : 8;
        int r = fos_send(w->addr, w->cap, &m.h);
        if (r == 0)
            w->ok[me]++;
        else if (r == -EHOSTDOWN)
            w->down[me]++;
        else if (r != -EAGAIN)
            w->other[me]++;
        if (r == -EHOSTDOWN || w->other[me]) return;
    }
}

static void kill_receiver(void *arg)
{
    kill_world *w = arg;
    struct {
        fos_msg h;
        unsigned char pad[64];
    } m;
    while (fos_recv(w->box, &m.h, sizeof(m), FOS_CYCLES_MAX) == 0)
        w->got++;
}

Test(native, a_core_killed_under_senders_loses_nothing_uncounted, .timeout = 60)
{
    sim *s = boot(KSENDERS + 1);
    static kill_world w;
    memset(&w, 0, sizeof(w));
    cr_assert_eq(sim_mbox_create(s, 0, 8, &w.box, &w.addr, &w.cap), 0);
    cr_assert_eq(sim_spawn(s, 0, kill_receiver, &w, "recv", true), 0);
    for (fos_core_id i = 1; i <= KSENDERS; i++)
        cr_assert_eq(sim_spawn(s, i, kill_sender, &w, "send", false), 0);
    cr_assert_eq(sim_kill_core(s, 0, 5000000), 0); /* TSC cycles: a few ms in */
    cr_assert_eq(sim_run(s), 0);
    uint64_t ok = 0, down = 0;
    for (int i = 1; i <= KSENDERS; i++) {
        cr_expect_eq(w.other[i], 0, "core %d got an error other than -EHOSTDOWN", i);
        cr_expect_eq(w.down[i], 1, "core %d stopped without -EHOSTDOWN", i);
        ok += w.ok[i];
        down += w.down[i];
    }
    sim_stats st;
    sim_get_stats(s, &st);
    /* The run may end before the victim's thread has run its kill: then what
     * was accepted is still in the mailbox (once it has, the mailbox is gone
     * and holds nothing). */
    int left = fos_mbox_count(w.box);
    if (left == -ENOENT) left = 0;
    cr_assert_geq(left, 0, "count gave %d", left);
    /* Each accepted message was received, lost with the core and counted, or
     * is still there. (msgs counts what reached the mailbox, some of which
     * died there.) */
    cr_expect_geq(st.msgs, w.got);
    cr_expect_eq(ok, w.got + (st.dropped_dead - down) + (uint64_t)left,
                 "accepted %llu, received %llu, dropped %llu (of which refused %llu), left %d",
                 (unsigned long long)ok, (unsigned long long)w.got,
                 (unsigned long long)st.dropped_dead, (unsigned long long)down, left);
    sim_destroy(s);
}

/* Waits for peers are widened on native: ten times, and again times the cores
 * per host CPU when they share CPUs (a name lookup that timed out at a live
 * member on an oversubscribed host failed outright). */
static void patience(void *arg)
{
    fos_cycles *out = arg;
    out[0] = fos_core_patience(1000);
    out[1] = fos_core_patience(FOS_CYCLES_MAX / 3);
}

Test(native, patience_widens_with_cores_per_cpu, .timeout = 60)
{
    sim *s = boot(64); /* more cores than this host has CPUs: oversubscribed */
    static fos_cycles got[2];
    cr_assert_eq(sim_spawn(s, 5, patience, got, "patience", false), 0);
    cr_assert_eq(sim_run(s), 0);
    sim_stats st;
    sim_get_stats(s, &st);
    cr_assert_gt(st.host_cpus, 0);
    uint64_t per_cpu = st.host_cpus >= 64 ? 1 : (64 + st.host_cpus - 1) / st.host_cpus;
    if (per_cpu > 10) per_cpu = 10; /* capped: a dead peer's wait stays bounded */
    cr_expect_eq(got[0], 10000 * per_cpu, "patience %llu with %u host CPUs",
                 (unsigned long long)got[0], st.host_cpus);
    cr_expect_eq(got[1], FOS_CYCLES_MAX, "a wide wait saturates");
    sim_destroy(s);
}
