/* Fault hooks: kill on a predicate, drop and delay by predicate and
 * probability, each counted, each reproducible from the seed. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "fos/fos.h"
#include "tests/harness.h"

enum { T_PLAIN = 1, T_PREPARE = 7 };

typedef struct {
    fos_msg h;
    uint64_t seq;
    fos_cycles sent;
} tmsg;

typedef struct {
    fos_mbox *box[4];
    fos_addr addr[4];
    fos_cap cap[4];
    int res[64];
    fos_cycles done_at[64];
    int n;
    uint64_t got, late;
    fos_cycles min_extra;
    uint32_t type_seq[8];
    int nsends;
    fos_cycles linger; /* the sender stays this long after its sends */
} world;

static sim *boot(uint32_t cores, uint64_t seed, world *w)
{
    sim_config cfg;
    sim_config_default(&cfg);
    cfg.engine = TEST_ENGINE;
    cfg.chip.cores = cores;
    cfg.seed = seed;
    cfg.chip.costs.send_timeout = 5000;
    sim *s = NULL;
    cr_assert_eq(sim_create(&cfg, &s), 0);
    for (uint32_t i = 0; i < cores && i < 4; i++)
        cr_assert_eq(sim_mbox_create(s, i, 64, &w->box[i], &w->addr[i], &w->cap[i]), 0);
    return s;
}

/* Core 1 sends its sequence of types to core 2, recording each result. */
static void typed_sender(void *arg)
{
    world *w = arg;
    tmsg m = {.h = {.len = sizeof(m) - sizeof(fos_msg)}};
    for (int i = 0; i < w->nsends; i++) {
        m.h.type = w->type_seq[i];
        m.seq = (uint64_t)i;
        w->res[w->n] = fos_send(w->addr[2], w->cap[2], &m.h);
        w->done_at[w->n++] = fos_now();
    }
    if (w->linger) fos_sleep(w->linger);
}

static void drain(void *arg)
{
    world *w = arg;
    tmsg m;
    while (fos_recv(w->box[2], &m.h, sizeof(m), FOS_CYCLES_MAX) == 0)
        w->got++;
}

/* Messages that reached core 2: those its drain took, and those still queued
 * (on real threads the run may end before the drain's thread has taken the
 * last one from its mailbox). */
static uint64_t reached(const world *w)
{
    int queued = fos_mbox_count(w->box[2]);
    cr_assert_geq(queued, 0);
    return w->got + (uint64_t)queued;
}

/* Core 3 sends to core 1 long after core 1 should be dead. */
static void prober(void *arg)
{
    world *w = arg;
    tmsg m = {.h = {.type = T_PLAIN, .len = sizeof(m) - sizeof(fos_msg)}};
    /* Long after core 1 has sent its PREPARE: ~0.1 s of TSC on real threads. */
    fos_sleep(TEST_IS_NATIVE ? 300000000 : 100000);
    w->res[63] = fos_send(w->addr[1], w->cap[1], &m.h);
}

Test(fault, kill_on_predicate_after_first_prepare)
{
    world w = {.nsends = 4, .type_seq = {T_PLAIN, T_PREPARE, T_PLAIN, T_PLAIN}};
    sim *s = boot(4, 1, &w);
    sim_match m = {.src = 1, .dst = FOS_CORE_NONE, .type = T_PREPARE};
    cr_assert_eq(sim_fault_kill_on(s, 1, &m), 0);
    cr_assert_eq(sim_spawn(s, 1, typed_sender, &w, "sender", false), 0);
    cr_assert_eq(sim_spawn(s, 2, drain, &w, "drain", true), 0);
    cr_assert_eq(sim_spawn(s, 3, prober, &w, "prober", false), 0);
    cr_assert_eq(sim_run(s), 0);
    /* The PLAIN send completed; core 1 died right after sending the PREPARE, so
     * its fiber never saw that send's answer nor sent the rest. */
    cr_assert_eq(w.n, 1, "sends completed by core 1: %d", w.n);
    cr_assert_eq(w.res[0], 0);
    cr_assert_eq(reached(&w), 2, "the PREPARE still left: %llu", (unsigned long long)reached(&w));
    cr_assert_eq(w.res[63], -EHOSTDOWN);
    sim_stats st;
    sim_get_stats(s, &st);
    cr_assert_eq(st.cores_killed, 1);
    sim_core_stats cs;
    sim_get_core_stats(s, 1, &cs);
    cr_assert(cs.dead);
    sim_destroy(s);
}

Test(fault, kill_other_core_a_lookahead_later)
{
    /* The run ends when the sender does: it stays long enough for core 3's
     * thread to take its death on real threads too. */
    world w = {.nsends = 1, .type_seq = {T_PREPARE}, .linger = TEST_IS_NATIVE ? 300000000 : 0};
    sim *s = boot(4, 1, &w);
    sim_match m = {.src = 1, .dst = 2, .type = T_PREPARE};
    cr_assert_eq(sim_fault_kill_on(s, 3, &m), 0);
    cr_assert_eq(sim_spawn(s, 1, typed_sender, &w, "sender", false), 0);
    cr_assert_eq(sim_spawn(s, 2, drain, &w, "drain", true), 0);
    cr_assert_eq(sim_run(s), 0);
    sim_core_stats cs;
    sim_get_core_stats(s, 3, &cs);
    cr_assert(cs.dead);
    sim_get_core_stats(s, 1, &cs);
    cr_assert_not(cs.dead);
    cr_assert_eq(w.res[0], 0);
    sim_destroy(s);
}

Test(fault, drop_all_gives_timeout_and_counts)
{
    world w = {.nsends = 3, .type_seq = {T_PLAIN, T_PREPARE, T_PLAIN}};
    sim *s = boot(4, 1, &w);
    sim_match m = {.src = FOS_CORE_NONE, .dst = 2, .type = T_PREPARE};
    cr_assert_eq(sim_fault_drop(s, &m, 1000000), 0);
    cr_assert_eq(sim_spawn(s, 1, typed_sender, &w, "sender", false), 0);
    cr_assert_eq(sim_spawn(s, 2, drain, &w, "drain", true), 0);
    cr_assert_eq(sim_run(s), 0);
    cr_assert_eq(w.n, 3);
    cr_assert_eq(w.res[0], 0);
    cr_assert_eq(w.res[1], -ETIMEDOUT);
    cr_assert_eq(w.res[2], 0);
    /* The dropped send waited out the whole send_timeout. */
    cr_assert_geq(w.done_at[1] - w.done_at[0], 5000);
    cr_assert_eq(reached(&w), 2);
    sim_stats st;
    sim_get_stats(s, &st);
    cr_assert_eq(st.dropped_fault, 1);
    cr_assert_eq(st.msgs, 2);
    sim_destroy(s);
}

/* Many sends through a 50% drop rule: about half arrive, and the same seed
 * drops exactly the same ones. */
typedef struct {
    int results[400];
} drop_run;

static void many_sender(void *arg)
{
    world *w = arg;
    tmsg m = {.h = {.type = T_PLAIN, .len = sizeof(m) - sizeof(fos_msg)}};
    for (int i = 0; i < 400; i++) {
        m.seq = (uint64_t)i;
        int r = fos_send(w->addr[2], w->cap[2], &m.h);
        if (r == 0) w->n++;
        ((drop_run *)w->box[3])->results[i] = r;
    }
}

static void run_half(uint64_t seed, drop_run *out, sim_stats *st)
{
    world w = {0};
    sim *s = boot(3, seed, &w);
    w.box[3] = (fos_mbox *)out; /* spare slot carries the result array */
    sim_match m = {.src = 1, .dst = FOS_CORE_NONE, .any_type = true};
    cr_assert_eq(sim_fault_drop(s, &m, 500000), 0);
    cr_assert_eq(sim_spawn(s, 1, many_sender, &w, "sender", false), 0);
    cr_assert_eq(sim_spawn(s, 2, drain, &w, "drain", true), 0);
    cr_assert_eq(sim_run(s), 0);
    sim_get_stats(s, st);
    cr_assert_eq(reached(&w), (uint64_t)w.n);
    cr_assert_eq(st->dropped_fault + st->msgs, 400);
    sim_destroy(s);
}

Test(fault, drop_by_probability_reproducible)
{
    static drop_run a, b, c;
    sim_stats sa, sb, sc;
    run_half(5, &a, &sa);
    run_half(5, &b, &sb);
    run_half(6, &c, &sc);
    cr_assert_gt(sa.dropped_fault, 150);
    cr_assert_lt(sa.dropped_fault, 250);
    cr_assert_eq(memcmp(a.results, b.results, sizeof(a.results)), 0);
    /* The drops come from the senders' seeded streams on either engine; the
     * event times, and so the digest, only repeat on the virtual one. */
    VIRTUAL_ONLY cr_assert_eq(sa.event_digest, sb.event_digest);
    cr_assert_neq(memcmp(a.results, c.results, sizeof(a.results)), 0);
}

/* The receiver checks every message against send time + latency + delay. */
static void timed_sender(void *arg)
{
    world *w = arg;
    tmsg m = {.h = {.type = T_PREPARE, .len = sizeof(m) - sizeof(fos_msg)}};
    for (int i = 0; i < 20; i++) {
        m.sent = fos_now();
        cr_assert_eq(fos_send(w->addr[2], w->cap[2], &m.h), 0);
    }
}

static void timed_drain(void *arg)
{
    world *w = arg;
    tmsg m;
    while (fos_recv(w->box[2], &m.h, sizeof(m), FOS_CYCLES_MAX) == 0) {
        fos_cycles lat = fos_now() - m.sent;
        if (lat < w->min_extra) w->min_extra = lat;
        w->got++;
    }
}

Test(fault, delay_adds_to_latency)
{
    world w = {.min_extra = FOS_CYCLES_MAX};
    sim *s = boot(4, 1, &w);
    sim_match m = {.src = 1, .dst = 2, .type = T_PREPARE};
    cr_assert_eq(sim_fault_delay(s, &m, 1000000, 10000), 0);
    cr_assert_eq(sim_spawn(s, 1, timed_sender, &w, "sender", false), 0);
    cr_assert_eq(sim_spawn(s, 2, timed_drain, &w, "drain", true), 0);
    cr_assert_eq(sim_run(s), 0);
    cr_assert_eq(reached(&w), 20);
    fos_cycles base = fos_topo_latency(sim_topo(s), 1, 2, sizeof(tmsg));
    cr_assert_geq(w.min_extra, base + 10000, "min latency %llu", (unsigned long long)w.min_extra);
    sim_stats st;
    sim_get_stats(s, &st);
    cr_assert_eq(st.delayed_fault, 20);
    sim_destroy(s);
}

/* Delays that add up past the end of time stay there: two of 2^63 must not
 * wrap to none (a message would then arrive before its latency, inside the
 * lookahead). The message never arrives, so the sender waits for good. */
Test(fault, delays_saturate_at_the_end_of_time)
{
    if (TEST_IS_NATIVE) return; /* the wait for good is a deadlock only in virtual time */
    world w = {.min_extra = FOS_CYCLES_MAX};
    sim *s = boot(4, 1, &w);
    sim_match m = {.src = 1, .dst = 2, .type = T_PREPARE};
    cr_assert_eq(sim_fault_delay(s, &m, 1000000, 1ull << 63), 0);
    cr_assert_eq(sim_fault_delay(s, &m, 1000000, 1ull << 63), 0);
    cr_assert_eq(sim_spawn(s, 1, timed_sender, &w, "sender", false), 0);
    cr_assert_eq(sim_spawn(s, 2, timed_drain, &w, "drain", true), 0);
    cr_assert_eq(sim_run(s), -EDEADLK);
    cr_assert_eq(reached(&w), 0, "a message arrived %llu cycles after it was sent",
                 (unsigned long long)w.min_extra);
    sim_stats st;
    sim_get_stats(s, &st);
    cr_assert_eq(st.delayed_fault, 1);
    sim_destroy(s);
}

Test(fault, bad_rules_rejected)
{
    world w = {0};
    sim *s = boot(4, 1, &w);
    sim_match bad = {.src = 99, .dst = FOS_CORE_NONE, .any_type = true};
    sim_match ok = {.src = FOS_CORE_NONE, .dst = FOS_CORE_NONE, .any_type = true};
    cr_assert_eq(sim_fault_drop(s, &bad, 10), -EINVAL);
    cr_assert_eq(sim_fault_drop(s, &ok, 1000001), -EINVAL);
    cr_assert_eq(sim_fault_kill_on(s, 4, &ok), -EINVAL);
    cr_assert_eq(sim_fault_drop(s, NULL, 10), -EINVAL);
    for (int i = 0; i < SIM_FAULT_RULES_MAX; i++)
        cr_assert_eq(sim_fault_delay(s, &ok, 0, 1), 0);
    cr_assert_eq(sim_fault_delay(s, &ok, 0, 1), -ENOSPC);
    sim_destroy(s);
}
