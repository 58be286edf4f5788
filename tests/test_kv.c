/* The replicated KV store: replicas agree after every committed write;
 * conflicting writes commit at most one at a time; a participant that never
 * votes aborts the write; a coordinator killed after PREPARE, or after it
 * recorded its decision, leaves the others agreeing, serving, and without a
 * lost acknowledged write; so does a member killed at any moment of a stream
 * of writes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fos/fos.h"
#include "tests/harness.h"

#define MEMBERS 4
static const fos_core_id member_core[MEMBERS] = {2, 5, 10, 13};

static sim *boot(sim_fleet **fl)
{
    sim *s = make_sim(16);
    cr_assert_eq(sim_fleet_start(s, &fos_kv_fleet, member_core, MEMBERS, NULL, fl), 0);
    return s;
}

/* Every live member's digest and key count. */
typedef struct {
    int r[MEMBERS];
    uint64_t digest[MEMBERS], keys[MEMBERS];
} census;

static void take_census(const fos_fleet_view *v, census *c)
{
    for (uint32_t i = 0; i < MEMBERS; i++) {
        c->r[i] = -ENOENT;
        if (v->m[i].present)
            c->r[i] = fos_kv_digest_at(v->m[i].addr, v->m[i].cap, &c->digest[i], &c->keys[i],
                                       FOS_CYCLES_MAX);
    }
}

static void expect_agree(const census *c, const bool *alive, uint64_t keys)
{
    int first = -1;
    for (int i = 0; i < MEMBERS; i++) {
        if (!alive[i]) continue;
        cr_expect_eq(c->r[i], 0, "member %d: %s", i, fos_err_name(c->r[i]));
        cr_expect_eq(c->keys[i], keys, "member %d has %lu keys", i, (unsigned long)c->keys[i]);
        if (first < 0)
            first = i;
        else
            cr_expect_eq(c->digest[i], c->digest[first], "members %d and %d disagree", i, first);
    }
}

/* ---- writes through every member, then every member's answer ---- */

typedef struct {
    int puts_failed, gets_wrong, del;
    census c;
} agree_state;

static void writer(void *arg)
{
    agree_state *st = arg;
    fos_fleet_view v;
    cr_assert_eq(fos_fleet_view_get("kv", &v), 0);
    for (int k = 0; k < 40; k++) {
        char key[16], val[16];
        snprintf(key, sizeof key, "key%d", k % 20); /* each key written twice */
        snprintf(val, sizeof val, "v%d", k);
        uint32_t m = (uint32_t)k % MEMBERS;
        if (fos_kv_put_at(v.m[m].addr, v.m[m].cap, key, val, strlen(val) + 1, FOS_CYCLES_MAX))
            st->puts_failed++;
    }
    st->del = fos_kv_delete_at(v.m[1].addr, v.m[1].cap, "key0", FOS_CYCLES_MAX);
    /* Every member answers a get with the last committed value. */
    for (int k = 1; k < 20; k++) {
        char key[16], want[16], got[16];
        snprintf(key, sizeof key, "key%d", k);
        snprintf(want, sizeof want, "v%d", k + 20);
        for (uint32_t m = 0; m < MEMBERS; m++) {
            size_t len;
            if (fos_kv_get(v.m[m].addr, v.m[m].cap, key, got, sizeof got, &len, FOS_CYCLES_MAX) ||
                strcmp(got, want))
                st->gets_wrong++;
        }
    }
    char got[16];
    size_t len;
    if (fos_kv_get(v.m[3].addr, v.m[3].cap, "key0", got, sizeof got, &len, FOS_CYCLES_MAX) !=
        -ENOENT)
        st->gets_wrong++;
    take_census(&v, &st->c);
}

Test(kv, replicas_agree_after_every_committed_write)
{
    sim_fleet *fl;
    sim *s = boot(&fl);
    agree_state st = {0};
    cr_assert_eq(sim_spawn(s, 0, writer, &st, "writer", false), 0);
    run_ok(s);
    cr_expect_eq(st.puts_failed, 0);
    cr_expect_eq(st.del, 0);
    cr_expect_eq(st.gets_wrong, 0);
    bool alive[MEMBERS] = {true, true, true, true};
    expect_agree(&st.c, alive, 19);
    sim_fleet_free(fl);
    sim_destroy(s);
}

/* ---- conflicting writes at once, through different coordinators ---- */

#define RIVALS 8

typedef struct {
    int r[RIVALS];
    census c;
    int done;
    char final[16];
    int final_r;
} rivals_state;

typedef struct {
    rivals_state *st;
    int i;
} rival_arg;

static void rival(void *arg)
{
    rival_arg *a = arg;
    fos_fleet_view v;
    cr_assert_eq(fos_fleet_view_get("kv", &v), 0);
    char val[16];
    snprintf(val, sizeof val, "r%d", a->i);
    uint32_t m = (uint32_t)a->i % MEMBERS;
    a->st->r[a->i] = fos_kv_put_at(v.m[m].addr, v.m[m].cap, "hot", val, sizeof val, FOS_CYCLES_MAX);
    a->st->done++;
}

static void judge(void *arg)
{
    rivals_state *st = arg;
    while (st->done < RIVALS)
        fos_sleep(5000);
    fos_fleet_view v;
    cr_assert_eq(fos_fleet_view_get("kv", &v), 0);
    size_t len;
    st->final_r = fos_kv_get(v.m[2].addr, v.m[2].cap, "hot", st->final, sizeof st->final, &len,
                             FOS_CYCLES_MAX);
    take_census(&v, &st->c);
}

Test(kv, conflicting_writes_commit_one_at_a_time, VIRTUAL_TIMING)
{
    sim_fleet *fl;
    sim *s = boot(&fl);
    rivals_state st = {0};
    rival_arg args[RIVALS];
    for (int i = 0; i < RIVALS; i++) {
        args[i] = (rival_arg){&st, i};
        cr_assert_eq(sim_spawn(s, (fos_core_id)(i % 2 ? 1 : 15), rival, &args[i], "rival", false),
                     0);
    }
    cr_assert_eq(sim_spawn(s, 0, judge, &st, "judge", false), 0);
    run_ok(s);
    int ok = 0;
    for (int i = 0; i < RIVALS; i++) {
        cr_expect(st.r[i] == 0 || st.r[i] == -EBUSY, "rival %d: %s", i, fos_err_name(st.r[i]));
        ok += st.r[i] == 0;
    }
    cr_expect_geq(ok, 1, "at least one write got through");
    cr_assert_eq(st.final_r, 0);
    bool alive[MEMBERS] = {true, true, true, true};
    expect_agree(&st.c, alive, 1);
    /* The value is one a rival wrote. */
    cr_expect_eq(st.final[0], 'r');
    sim_fleet_free(fl);
    sim_destroy(s);
}

/* ---- a participant that never votes ---- */

typedef struct {
    int r, rget;
    census c;
} silent_state;

static void silent_client(void *arg)
{
    silent_state *st = arg;
    fos_fleet_view v;
    cr_assert_eq(fos_fleet_view_get("kv", &v), 0);
    st->r = fos_kv_put_at(v.m[0].addr, v.m[0].cap, "k", "x", 2, FOS_CYCLES_MAX);
    char got[8];
    size_t len;
    st->rget = fos_kv_get(v.m[1].addr, v.m[1].cap, "k", got, sizeof got, &len, FOS_CYCLES_MAX);
    take_census(&v, &st->c);
}

Test(kv, a_participant_that_never_votes_aborts_the_write)
{
    sim_fleet *fl;
    sim *s = boot(&fl);
    /* Every PREPARE to member 3 is lost on the way. */
    sim_match m = {.src = FOS_CORE_NONE, .dst = member_core[3], .type = FOS_KV_MSG_PREPARE};
    cr_assert_eq(sim_fault_drop(s, &m, 1000000), 0);
    silent_state st = {0};
    cr_assert_eq(sim_spawn(s, 0, silent_client, &st, "client", false), 0);
    run_ok(s);
    cr_expect_eq(st.r, -ETIMEDOUT, "%s", fos_err_name(st.r));
    cr_expect_eq(st.rget, -ENOENT, "an aborted write is nowhere");
    bool alive[MEMBERS] = {true, true, true, true};
    expect_agree(&st.c, alive, 0);
    sim_fleet_free(fl);
    sim_destroy(s);
}

/* ---- the coordinator dies mid-transaction ---- */

typedef struct {
    int r_before, r_doomed, r_after, r_get_before, r_get_after;
    int doomed_present;
    census c;
} crash_state;

static void crash_client(void *arg)
{
    crash_state *st = arg;
    fos_fleet_view v;
    cr_assert_eq(fos_fleet_view_get("kv", &v), 0);
    /* Acknowledged before the crash: must survive it. */
    st->r_before = fos_kv_put_at(v.m[1].addr, v.m[1].cap, "before", "b", 2, FOS_CYCLES_MAX);
    /* Through member 0, which dies in the middle of it. */
    st->r_doomed = fos_kv_put_at(v.m[0].addr, v.m[0].cap, "doomed", "d", 2, 2000000);
    fos_sleep(500000); /* death notices and the survivors' termination */
    cr_assert_eq(fos_fleet_view_get("kv", &v), 0);
    /* The survivors keep serving. */
    st->r_after = fos_kv_put_at(v.m[2].addr, v.m[2].cap, "after", "a", 2, FOS_CYCLES_MAX);
    char got[8];
    size_t len;
    st->r_get_before =
        fos_kv_get(v.m[3].addr, v.m[3].cap, "before", got, sizeof got, &len, FOS_CYCLES_MAX);
    st->r_get_after =
        fos_kv_get(v.m[1].addr, v.m[1].cap, "after", got, sizeof got, &len, FOS_CYCLES_MAX);
    st->doomed_present =
        fos_kv_get(v.m[1].addr, v.m[1].cap, "doomed", got, sizeof got, &len, FOS_CYCLES_MAX) == 0;
    take_census(&v, &st->c);
}

static void coordinator_dies_on(uint32_t type, crash_state *st, fos_cycles slow_queries)
{
    sim_fleet *fl;
    sim *s = boot(&fl);
    if (slow_queries) {
        /* The survivors' questions take longer than a vote may. */
        sim_match q = {.src = FOS_CORE_NONE, .dst = FOS_CORE_NONE, .type = FOS_KV_MSG_QUERY};
        cr_assert_eq(sim_fault_delay(s, &q, 1000000, slow_queries), 0);
    }
    sim_match m = {.src = member_core[0], .dst = FOS_CORE_NONE, .type = type};
    cr_assert_eq(sim_fault_kill_on(s, member_core[0], &m), 0);
    cr_assert_eq(sim_spawn(s, 0, crash_client, st, "client", false), 0);
    run_ok(s);
    cr_expect_eq(st->r_before, 0);
    cr_expect_neq(st->r_doomed, 0, "the client of a dead coordinator is never told yes");
    cr_expect_eq(st->r_after, 0, "%s", fos_err_name(st->r_after));
    cr_expect_eq(st->r_get_before, 0, "an acknowledged write was lost");
    cr_expect_eq(st->r_get_after, 0);
    sim_fleet_free(fl);
    sim_destroy(s);
}

Test(kv, coordinator_killed_after_prepare_aborts_everywhere)
{
    crash_state st = {0};
    coordinator_dies_on(FOS_KV_MSG_PREPARE, &st, 0);
    cr_expect_not(st.doomed_present, "prepared and undecided: aborted");
    bool alive[MEMBERS] = {false, true, true, true};
    expect_agree(&st.c, alive, 2);
}

Test(kv, coordinator_killed_after_its_decision_commits_everywhere)
{
    crash_state st = {0};
    coordinator_dies_on(FOS_KV_MSG_DECIDE, &st, 0);
    /* One participant got COMMIT before the coordinator died: the others learn
     * it from that one. */
    cr_expect(st.doomed_present, "a decision one survivor knew was applied everywhere");
    bool alive[MEMBERS] = {false, true, true, true};
    expect_agree(&st.c, alive, 3);
}

/* The same, with the survivors' questions slower than a vote timeout: silence
 * is not an answer, so nobody aborts what another committed. */
Test(kv, slow_survivors_still_agree_after_the_coordinator_dies)
{
    crash_state st = {0};
    coordinator_dies_on(FOS_KV_MSG_DECIDE, &st, 150000);
    cr_expect(st.doomed_present);
    bool alive[MEMBERS] = {false, true, true, true};
    expect_agree(&st.c, alive, 3);
}

/* ---- a member joins a running store ---- */

typedef struct {
    int puts_failed, r_join, r_get, r_after;
    char got[16];
    uint64_t digest[MEMBERS + 1], keys[MEMBERS + 1];
    int rd[MEMBERS + 1];
    int joined;
} join_state;

static void join_writer(void *arg)
{
    join_state *st = arg;
    fos_fleet_view v;
    cr_assert_eq(fos_fleet_view_get("kv", &v), 0);
    /* Enough keys that the copy takes several chunks. */
    for (int k = 0; k < 60; k++) {
        char key[16], val[64];
        snprintf(key, sizeof key, "j%d", k);
        memset(val, 'a' + k % 26, sizeof val);
        if (fos_kv_put_at(v.m[k % 3].addr, v.m[k % 3].cap, key, val, sizeof val, FOS_CYCLES_MAX))
            st->puts_failed++;
    }
    while (!st->joined)
        fos_sleep(5000);
    cr_assert_eq(fos_fleet_view_get("kv", &v), 0);
    /* Writes after the join reach the new member too. */
    st->r_after = fos_kv_put_at(v.m[1].addr, v.m[1].cap, "later", "L", 2, FOS_CYCLES_MAX);
    for (uint32_t i = 0; i < v.size; i++)
        st->rd[i] =
            fos_kv_digest_at(v.m[i].addr, v.m[i].cap, &st->digest[i], &st->keys[i], FOS_CYCLES_MAX);
}

static void joiner(void *arg)
{
    join_state *st = arg;
    fos_sleep(200000); /* after the first writes */
    fos_fleet *f;
    st->r_join = fos_fleet_join(&fos_kv_fleet, NULL, &f);
    st->joined = 1;
}

Test(kv, a_joining_member_copies_the_table, VIRTUAL_TIMING)
{
    sim *s = make_sim(16);
    sim_fleet *fl;
    cr_assert_eq(sim_fleet_start(s, &fos_kv_fleet, member_core, 3, NULL, &fl), 0);
    join_state st = {0};
    cr_assert_eq(sim_spawn(s, 0, join_writer, &st, "writer", false), 0);
    cr_assert_eq(sim_spawn(s, 8, joiner, &st, "joiner", false), 0);
    run_ok(s);
    cr_expect_eq(st.puts_failed, 0);
    cr_assert_eq(st.r_join, 0, "%s", fos_err_name(st.r_join));
    cr_expect_eq(st.r_after, 0, "%s", fos_err_name(st.r_after));
    for (int i = 0; i < 4; i++) {
        cr_expect_eq(st.rd[i], 0, "member %d", i);
        cr_expect_eq(st.keys[i], 61, "member %d has %lu keys", i, (unsigned long)st.keys[i]);
        cr_expect_eq(st.digest[i], st.digest[0], "member %d disagrees", i);
    }
    sim_fleet_free(fl);
    sim_destroy(s);
}

/* ---- a member killed at any moment of a stream of writes ---- */

/* Three clients each write 30 keys of their own through every member in turn
 * while one member is killed, at a time swept across the writes. After the
 * dust settles: every acknowledged write is on every member left, with its
 * value, and those members agree. */
typedef struct {
    int acked[3][30]; /* per client and key: the put was acknowledged */
    int done;
    census c;
    int missing;
    bool alive[MEMBERS];
} sweep_state;

typedef struct {
    sweep_state *st;
    int w;
} sweep_arg;

static void sweep_writer(void *arg)
{
    sweep_arg *a = arg;
    fos_fleet_view v;
    cr_assert_eq(fos_fleet_view_get("kv", &v), 0);
    for (int k = 0; k < 30; k++) {
        char key[16], val[16];
        snprintf(key, sizeof key, "c%d-k%d", a->w, k);
        snprintf(val, sizeof val, "v%d-%d", a->w, k);
        uint32_t m = (uint32_t)(k + a->w) % MEMBERS;
        a->st->acked[a->w][k] =
            fos_kv_put_at(v.m[m].addr, v.m[m].cap, key, val, strlen(val) + 1, 3000000) == 0;
    }
    a->st->done++;
}

static void sweep_judge(void *arg)
{
    sweep_state *st = arg;
    while (st->done < 3)
        fos_sleep(5000);
    fos_sleep(2000000);
    fos_fleet_view v;
    cr_assert_eq(fos_fleet_view_get("kv", &v), 0);
    take_census(&v, &st->c);
    for (int w = 0; w < 3; w++)
        for (int k = 0; k < 30; k++) {
            if (!st->acked[w][k]) continue;
            char key[16], want[16], got[16];
            snprintf(key, sizeof key, "c%d-k%d", w, k);
            snprintf(want, sizeof want, "v%d-%d", w, k);
            for (uint32_t m = 0; m < MEMBERS; m++) {
                if (!v.m[m].present) continue;
                size_t len;
                if (fos_kv_get(v.m[m].addr, v.m[m].cap, key, got, sizeof got, &len,
                               FOS_CYCLES_MAX) ||
                    strcmp(got, want))
                    st->missing++;
            }
        }
    for (uint32_t m = 0; m < MEMBERS; m++)
        st->alive[m] = v.m[m].present;
}

static void kill_sweep(int victim)
{
    for (fos_cycles at = 1000; at <= 120000; at += 1499) {
        sim_fleet *fl;
        sim *s = boot(&fl);
        sweep_state st = {0};
        sweep_arg a[3];
        fos_core_id wc[3] = {0, 1, 3};
        for (int w = 0; w < 3; w++) {
            a[w] = (sweep_arg){&st, w};
            cr_assert_eq(sim_spawn(s, wc[w], sweep_writer, &a[w], "writer", false), 0);
        }
        cr_assert_eq(sim_spawn(s, 4, sweep_judge, &st, "judge", false), 0);
        cr_assert_eq(sim_kill_core(s, member_core[victim], at), 0);
        run_ok(s);
        int acked = 0;
        for (int w = 0; w < 3; w++)
            for (int k = 0; k < 30; k++)
                acked += st.acked[w][k];
        cr_expect_eq(st.missing, 0, "victim %d at %llu: %d acked gets wrong", victim,
                     (unsigned long long)at, st.missing);
        int first = -1;
        for (int i = 0; i < MEMBERS; i++) {
            if (!st.alive[i]) continue;
            cr_expect_eq(st.c.r[i], 0, "victim %d at %llu: member %d census %d", victim,
                         (unsigned long long)at, i, st.c.r[i]);
            cr_expect_geq(st.c.keys[i], (uint64_t)acked,
                          "victim %d at %llu: member %d keys %lu < acked %d", victim,
                          (unsigned long long)at, i, (unsigned long)st.c.keys[i], acked);
            if (first < 0)
                first = i;
            else
                cr_expect_eq(st.c.digest[i], st.c.digest[first],
                             "victim %d at %llu: members %d and %d disagree (keys %lu vs %lu)",
                             victim, (unsigned long long)at, i, first, (unsigned long)st.c.keys[i],
                             (unsigned long)st.c.keys[first]);
        }
        cr_expect(!st.alive[victim], "victim %d at %llu still present", victim,
                  (unsigned long long)at);
        sim_fleet_free(fl);
        sim_destroy(s);
    }
}

Test(kv, the_first_member_killed_at_any_moment_loses_no_acknowledged_write, .timeout = 120)
{
    kill_sweep(0);
}

Test(kv, another_member_killed_at_any_moment_loses_no_acknowledged_write, .timeout = 120)
{
    kill_sweep(2);
}
