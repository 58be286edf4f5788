/* The pma fleet: no page is handed out twice, every page comes back after a
 * run, a double or forged free is refused without harm, and a dry pool says
 * -ENOMEM. Built for both engines: on the native one the pages are real
 * frames, touched when handed out. A member that joins a running fleet starts
 * empty, fetches from the others and loses nothing; one that dies, at any
 * moment, never makes a page held twice (virtual engine: a sweep of kill
 * times). */
#include <criterion/criterion.h>
#include <errno.h>

#include "fos/fos.h"
#include "tests/harness.h"
#include "tests/params.h"

#define MEMBERS 2
#define PAGES 512
static const fos_core_id member_core[MEMBERS] = {1, 6};
#define CLIENTS 4
static const fos_core_id client_core[CLIENTS] = {0, 2, 3, 7};

static uint64_t held[PAGES / 64];
static int dups, errors, dry;

static sim *boot(test_params *tp, sim_fleet **fl)
{
    sim *s = make_sim(8);
    test_params_init(tp, fos_pma_fleet.params);
    test_param_u64(tp, "memory", PAGES * FOS_PAGE_BYTES);
    test_param_u64(tp, "block", 8);
    /* No background transfers: "the pool is dry" is exact only when no
     * elements are in flight between shards (the schemes: test_dpool). */
    test_param_str(tp, "scheme", "bulk");
    cr_assert_eq(sim_fleet_start(s, &fos_pma_fleet, member_core, MEMBERS, &tp->p, fl), 0);
    memset(held, 0, sizeof held);
    dups = errors = dry = 0;
    return s;
}

/* Allocates 8 pages at a time up to 160 (more than one member's share),
 * checks each frame, frees them all; 20 rounds. */
static void client(void *arg)
{
    (void)arg;
    fos_pma_client c;
    cr_assert_eq(fos_pma_open(&c), 0);
    uint64_t mine[160];
    for (int round = 0; round < 20; round++) {
        uint32_t n = 0;
        while (n < 160) {
            int r = fos_pma_alloc(&c, mine + n, 8, FOS_CYCLES_MAX);
            if (r == -ENOMEM) {
                __atomic_fetch_add(&dry, 1, __ATOMIC_RELAXED);
                break;
            }
            if (r) {
                __atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED);
                break;
            }
            for (uint32_t i = n; i < n + 8; i++) {
                test_hold(held, &dups, mine[i], true);
                volatile uint8_t *f = fos_pma_frame(mine[i]);
                /* Native: a real frame, already touched by the member. */
                if (TEST_IS_NATIVE && (!f || f[0] != 1))
                    __atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED);
                if (!TEST_IS_NATIVE && f) __atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED);
            }
            n += 8;
        }
        for (uint32_t i = 0; i < n; i++)
            test_hold(held, &dups, mine[i], false);
        for (uint32_t i = 0; i < n; i += 32)
            if (fos_pma_free(&c, mine + i, n - i < 32 ? n - i : 32, FOS_CYCLES_MAX))
                __atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED);
    }
}

Test(pma, never_twice_and_all_come_back)
{
    test_params tp;
    sim_fleet *fl;
    sim *s = boot(&tp, &fl);
    for (int i = 0; i < CLIENTS; i++)
        cr_assert_eq(sim_spawn(s, client_core[i], client, NULL, "client", false), 0);
    run_ok(s);
    cr_expect_eq(dups, 0, "%d pages held twice", dups);
    cr_expect_eq(errors, 0);
    cr_expect_eq(test_pool_elements(fl, MEMBERS), PAGES);
    cr_expect_eq(test_counter_sum(fl, MEMBERS, "bad_frees"), 0);
    sim_fleet_free(fl);
    sim_destroy(s);
}

static int double_free, forged, foreign, ok_free, dry_r, generic_put, generic_get;

static void misuser(void *arg)
{
    (void)arg;
    fos_pma_client c, other;
    cr_assert_eq(fos_pma_open(&c), 0);
    uint64_t pg[2];
    cr_assert_eq(fos_pma_alloc(&c, pg, 2, FOS_CYCLES_MAX), 0);
    ok_free = fos_pma_free(&c, pg, 1, FOS_CYCLES_MAX);
    double_free = fos_pma_free(&c, pg, 2, FOS_CYCLES_MAX); /* pg[0] is free already */
    uint64_t bogus = PAGES + 5;
    forged = fos_pma_free(&c, &bogus, 1, FOS_CYCLES_MAX);
    /* The other member did not hand pg[1] out. */
    fos_fleet_view v;
    cr_assert_eq(fos_fleet_view_get("pma", &v), 0);
    uint32_t o = 1 - c.member;
    other = (fos_pma_client){v.m[o].addr, v.m[o].cap, o};
    foreign = fos_pma_free(&other, &pg[1], 1, FOS_CYCLES_MAX);
    /* The pool's generic RPCs would take pg[1] back unchecked: not served. */
    generic_put = fos_dpool_put_at(c.addr, c.cap, &pg[1], 1, 8, FOS_CYCLES_MAX);
    generic_get = fos_dpool_get_at(c.addr, c.cap, pg, sizeof pg, 1, NULL, FOS_CYCLES_MAX);
    cr_assert_eq(fos_pma_free(&c, &pg[1], 1, FOS_CYCLES_MAX), 0);
    /* More than the whole memory: refused, and nothing kept. */
    uint64_t *all = malloc(sizeof(uint64_t) * 256);
    int got = 0;
    for (;;) {
        int r = fos_pma_alloc(&c, all, 256, FOS_CYCLES_MAX);
        if (r) {
            dry_r = r;
            break;
        }
        got++; /* kept: 256 at a time until the pool is dry */
    }
    cr_expect_eq(got, PAGES / 256);
    free(all);
}

Test(pma, bad_frees_are_refused)
{
    test_params tp;
    sim_fleet *fl;
    sim *s = boot(&tp, &fl);
    cr_assert_eq(sim_spawn(s, 0, misuser, NULL, "misuser", false), 0);
    run_ok(s);
    cr_expect_eq(ok_free, 0);
    cr_expect_eq(double_free, -EINVAL);
    cr_expect_eq(forged, -EINVAL);
    cr_expect_eq(foreign, -EINVAL);
    cr_expect_eq(generic_put, -ENOSYS);
    cr_expect_eq(generic_get, -ENOSYS);
    cr_expect_eq(dry_r, -ENOMEM);
    cr_expect_eq(test_counter_sum(fl, MEMBERS, "bad_frees"), 3);
    /* Everything was handed out at the end, once. */
    cr_expect_eq(test_pool_elements(fl, MEMBERS), 0);
    sim_fleet_free(fl);
    sim_destroy(s);
}

/* ---- a member that joins a running fleet ------------------------------------------- */

static int join_r, near_member, near_errs, joined, client_done;
static uint64_t joiner_local, joiner_fetches, joiner_moved, joiner_came;

/* Joins with an empty shard, waits out the client, then reads its own figures. */
static void pma_joiner(void *arg)
{
    test_params *tp = arg;
    fos_fleet *f;
    join_r = fos_fleet_join(&fos_pma_fleet, &tp->p, &f);
    __atomic_store_n(&joined, 1, __ATOMIC_RELEASE);
    if (join_r) return;
    while (!__atomic_load_n(&client_done, __ATOMIC_ACQUIRE))
        fos_sleep(10000);
    fos_fleet_counter out[FOS_FLEET_COUNTERS];
    uint32_t n = fos_pma_fleet.counters(f, fos_fleet_state(f), out, FOS_FLEET_COUNTERS);
    for (uint32_t i = 0; i < n; i++) {
        if (!strcmp(out[i].name, "local")) joiner_local = out[i].value;
        if (!strcmp(out[i].name, "remote_fetches")) joiner_fetches = out[i].value;
        if (!strcmp(out[i].name, "moved")) joiner_moved = out[i].value;
        if (!strcmp(out[i].name, "came")) joiner_came = out[i].value;
    }
}

/* On the joiner's core, so the joiner is its nearest member: every page it gets
 * the joiner first fetches from the others; every page it frees stays there. */
static void near_client(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&joined, __ATOMIC_ACQUIRE))
        fos_sleep(10000);
    fos_pma_client c;
    cr_assert_eq(fos_pma_open(&c), 0);
    near_member = (int)c.member;
    uint64_t pg[48];
    for (int i = 0; i < 3; i++)
        if (fos_pma_alloc(&c, pg + 16 * i, 16, FOS_CYCLES_MAX)) near_errs++;
    for (int i = 0; i < 48; i++)
        test_hold(held, &dups, pg[i], true);
    for (int i = 0; i < 48; i++)
        test_hold(held, &dups, pg[i], false);
    if (fos_pma_free(&c, pg, 48, FOS_CYCLES_MAX)) near_errs++;
    __atomic_store_n(&client_done, 1, __ATOMIC_RELEASE);
}

Test(pma, a_joiner_starts_empty_and_fetches)
{
    test_params tp;
    sim_fleet *fl;
    sim *s = boot(&tp, &fl);
    joiner_local = joiner_fetches = joiner_moved = joiner_came = UINT64_MAX;
    joined = client_done = 0;
    cr_assert_eq(sim_spawn(s, 4, pma_joiner, &tp, "joiner", false), 0);
    cr_assert_eq(sim_spawn(s, 4, near_client, NULL, "client", false), 0);
    run_ok(s);
    cr_assert_eq(join_r, 0, "%s", fos_err_name(join_r));
    cr_expect_eq(near_member, MEMBERS, "the joiner is member %d", MEMBERS);
    cr_expect_eq(near_errs, 0);
    cr_expect_eq(dups, 0);
    cr_expect_gt(joiner_fetches, 0);
    cr_expect_eq(joiner_local, 48, "what the client freed stays with the joiner");
    /* In a shard or between two, over all three members. */
    cr_expect_eq(test_pool_elements(fl, MEMBERS) + joiner_local + joiner_moved - joiner_came, PAGES,
                 "no page lost");
    sim_fleet_free(fl);
    sim_destroy(s);
}

/* ---- a member dies while clients allocate and free ---- */

/* A client that goes to the nearest member left when its own stops answering. */
static void kclient(void *arg)
{
    (void)arg;
    fos_pma_client c;
    if (fos_pma_open(&c)) return;
    uint64_t mine[64];
    for (int round = 0; round < 30; round++) {
        uint32_t n = 0;
        while (n < 64) {
            int r = fos_pma_alloc(&c, mine + n, 8, 2000000);
            if (r == -ENOMEM) break;
            if (r) {
                fos_pma_client c2;
                if (fos_pma_open(&c2) == 0) c = c2;
                break;
            }
            for (uint32_t i = n; i < n + 8; i++)
                test_hold(held, &dups, mine[i], true);
            n += 8;
        }
        for (uint32_t i = 0; i < n; i++)
            test_hold(held, &dups, mine[i], false);
        for (uint32_t i = 0; i < n; i += 32)
            if (fos_pma_free(&c, mine + i, n - i < 32 ? n - i : 32, 2000000)) {
                fos_pma_client c2;
                if (fos_pma_open(&c2) == 0) c = c2;
            }
    }
}

/* Three members; the one on core `victim` is killed at a time swept across
 * the clients' work: no page is ever handed out twice, whatever the shard's
 * transfers were doing when it died. */
static void ksweep(const char *scheme, fos_core_id victim)
{
    static const fos_core_id mc[3] = {1, 4, 6};
    for (fos_cycles at = 1000; at <= 200000; at += 9999) {
        test_params tp;
        sim_fleet *fl;
        sim *s = make_sim(8);
        test_params_init(&tp, fos_pma_fleet.params);
        test_param_u64(&tp, "memory", PAGES * FOS_PAGE_BYTES);
        test_param_u64(&tp, "block", 8);
        test_param_str(&tp, "scheme", scheme);
        cr_assert_eq(sim_fleet_start(s, &fos_pma_fleet, mc, 3, &tp.p, &fl), 0);
        memset(held, 0, sizeof held);
        dups = errors = dry = 0;
        cr_assert_eq(sim_kill_core(s, victim, at), 0);
        static const fos_core_id cc[4] = {0, 2, 3, 7};
        for (int i = 0; i < 4; i++)
            cr_assert_eq(sim_spawn(s, cc[i], kclient, NULL, "client", false), 0);
        sim_run(s);
        cr_expect_eq(dups, 0, "%s victim %u at %llu: %d pages held twice", scheme, victim,
                     (unsigned long long)at, dups);
        sim_fleet_free(fl);
        sim_destroy(s);
    }
}

Test(pma, a_member_that_dies_never_makes_a_page_held_twice, VIRTUAL_TIMING, .timeout = 120)
{
    const char *schemes[] = {"bulk", "pull", "push_estimate"};
    for (int k = 0; k < 3; k++) {
        ksweep(schemes[k], 1);
        ksweep(schemes[k], 4);
    }
}
