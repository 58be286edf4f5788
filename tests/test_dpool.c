/* dPool, under each of its five schemes, as the pool of a fleet of its own
 * (the generic client RPCs serve it): elements are conserved under concurrent
 * gets and puts from many cores (no element is held twice, none is lost);
 * background schemes move elements toward an empty shard and the others do
 * not; estimation pushes less than plain push for the same load; the client
 * RPCs refuse malformed puts; fleets whose elements are resources do not serve
 * the generic RPCs at all. */
#include <criterion/criterion.h>
#include <errno.h>

#include "fos/fos.h"
#include "tests/harness.h"
#include "tests/params.h"

#define MEMBERS 4
#define ELEMS 1024
static const fos_core_id member_core[MEMBERS] = {9, 14, 49, 54};
/* Clients crowd around member 0 (core 9 of an 8 x 8 mesh): uneven load. */
#define CLIENTS 10
static const fos_core_id client_core[CLIENTS] = {0, 1, 2, 8, 10, 16, 17, 18, 3, 11};

static uint64_t held[ELEMS / 64];
static int dups, errors, dry;

/* ---- a fleet that is a pool and nothing else ------------------------------------- */

static const fos_param pool_params[] = {
    {.key = "scheme", .type = FOS_PARAM_STR, .def = "bulk", .choices = fos_dpool_scheme_names},
    {.key = "elems", .type = FOS_PARAM_INT, .def = "1024", .min = 1, .max = 1 << 20},
    {.key = "block", .type = FOS_PARAM_INT, .def = "16", .min = 1, .max = FOS_DPOOL_BATCH_MAX},
    /* 25% and 50% of the fair share at 1,024 elements over 4 members */
    {.key = "low_water", .type = FOS_PARAM_INT, .def = "64", .min = 1, .max = 1 << 20},
    {.key = "high_water", .type = FOS_PARAM_INT, .def = "128", .min = 1, .max = 1 << 20},
    {.key = "period", .type = FOS_PARAM_INT, .def = "5000", .min = 1, .max = 1 << 30},
    {0}};

static int pool_init(fos_fleet *f, void *state)
{
    fos_dpool **pool = state;
    const fos_params *p = fos_fleet_params(f);
    fos_dpool_opts o = {.elem_bytes = 8,
                        .block = (uint32_t)fos_params_u64(p, "block"),
                        .low_water = fos_params_u64(p, "low_water"),
                        .high_water = fos_params_u64(p, "high_water"),
                        .period = fos_params_u64(p, "period")};
    if (fos_dpool_scheme_parse(fos_params_str(p, "scheme"), &o.scheme)) return -EINVAL;
    int r = fos_dpool_attach(f, &o, pool);
    if (r == 0) {
        /* Loads that cannot be: none given, and more than any array holds. */
        uint64_t x = 0;
        cr_expect_eq(fos_dpool_load(*pool, NULL, 1), -EINVAL);
        cr_expect_eq(fos_dpool_load(*pool, &x, (size_t)1 << 61), -ENOMEM);
    }
    uint64_t n = fos_params_u64(p, "elems"), m = fos_fleet_self(f), k = fos_fleet_size(f);
    for (uint64_t e = n * m / k; r == 0 && e < n * (m + 1) / k; e++)
        r = fos_dpool_load(*pool, &e, 1);
    /* With elements held, a count that wraps their sum is refused too. */
    uint64_t x = 0;
    if (r == 0) cr_expect_eq(fos_dpool_load(*pool, &x, SIZE_MAX), -ENOMEM);
    return r ? r : fos_dpool_serve_clients(*pool);
}

static uint32_t pool_counters(fos_fleet *f, void *state, fos_fleet_counter *out, uint32_t max)
{
    (void)f;
    fos_dpool **pool = state;
    return *pool ? fos_dpool_counters(*pool, out, max) : 0;
}

static const fos_fleet_ops pool_fleet = {
    .name = "pool",
    .params = pool_params,
    .state_bytes = sizeof(fos_dpool *),
    .init = pool_init,
    .counters = pool_counters,
};

typedef struct pool_client {
    fos_addr addr;
    fos_cap cap;
    int member;
} pool_client;

static pool_client pool_open(void)
{
    fos_fleet_view v;
    cr_assert_eq(fos_fleet_view_get("pool", &v), 0);
    int m = fos_fleet_view_nearest(&v);
    cr_assert_geq(m, 0);
    return (pool_client){v.m[m].addr, v.m[m].cap, m};
}

static sim *boot(test_params *tp, const char *scheme, sim_fleet **fl)
{
    sim *s = make_sim(64);
    test_params_init(tp, pool_params);
    test_param_str(tp, "scheme", scheme);
    cr_assert_eq(sim_fleet_start(s, &pool_fleet, member_core, MEMBERS, &tp->p, fl), 0);
    memset(held, 0, sizeof held);
    dups = errors = dry = 0;
    return s;
}

/* Takes a few elements at a time through the generic get, keeps up to 120,
 * gives them all back, again and again; at the end gives back the rest. */
static void churner(void *arg)
{
    (void)arg;
    pool_client c = pool_open();
    uint64_t mine[160], got[32];
    uint32_t n = 0;
    for (int round = 0; round < 60; round++) {
        uint32_t k = 1 + (uint32_t)fos_rand_below(32), eb = 0;
        int r = fos_dpool_get_at(c.addr, c.cap, got, sizeof got, k, &eb, FOS_CYCLES_MAX);
        if (r == -ENOMEM) {
            __atomic_fetch_add(&dry, 1, __ATOMIC_RELAXED);
        } else if (r != 0 || eb != 8) {
            __atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED);
        } else {
            for (uint32_t i = 0; i < k; i++) {
                test_hold(held, &dups, got[i], true);
                mine[n++] = got[i];
            }
        }
        if (n > 120 || round == 59) {
            for (uint32_t i = 0; i < n; i++)
                test_hold(held, &dups, mine[i], false);
            for (uint32_t i = 0; i < n; i += 64) {
                uint32_t part = n - i < 64 ? n - i : 64;
                if (fos_dpool_put_at(c.addr, c.cap, mine + i, part, 8, FOS_CYCLES_MAX))
                    __atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED);
            }
            n = 0;
        }
    }
}

typedef struct totals {
    uint64_t local, moved, came, fetches;
} totals;

static totals sum(const sim_fleet *fl)
{
    return (totals){test_counter_sum(fl, MEMBERS, "local"), test_counter_sum(fl, MEMBERS, "moved"),
                    test_counter_sum(fl, MEMBERS, "came"),
                    test_counter_sum(fl, MEMBERS, "remote_fetches")};
}

static totals churn(const char *scheme)
{
    test_params tp;
    sim_fleet *fl;
    sim *s = boot(&tp, scheme, &fl);
    for (int i = 0; i < CLIENTS; i++)
        cr_assert_eq(sim_spawn(s, client_core[i], churner, NULL, "churner", false), 0);
    run_ok(s);
    totals t = sum(fl);
    cr_expect_eq(dups, 0, "%s: %d elements held twice (or given back unheld)", scheme, dups);
    cr_expect_eq(errors, 0, "%s: %d failed gets or puts", scheme, errors);
    /* Every element is in a shard or on its way between two. */
    cr_expect_geq(t.moved, t.came, "%s", scheme);
    cr_expect_eq(t.local + (t.moved - t.came), ELEMS,
                 "%s: %lu in shards + %lu in flight != %d elements", scheme, (unsigned long)t.local,
                 (unsigned long)(t.moved - t.came), ELEMS);
    sim_fleet_free(fl);
    sim_destroy(s);
    return t;
}

Test(dpool, storage_conserves)
{
    churn("storage");
}
Test(dpool, bulk_conserves)
{
    churn("bulk");
}
Test(dpool, pull_conserves)
{
    churn("pull");
}
Test(dpool, push_conserves)
{
    churn("push");
}
Test(dpool, push_estimate_conserves)
{
    churn("push_estimate");
}

/* Ten clients crowd one member of four: its shard (256) runs out and the
 * others' elements must come to it. */
Test(dpool, crowded_shard_fetches)
{
    totals t = churn("storage");
    cr_expect_gt(t.fetches, 0);
    cr_expect_eq(dry, 0, "the pool never runs dry: %d", dry);
}

/* Estimation pushes only toward poorer shards, so elements do not bounce. */
Test(dpool, estimation_pushes_less)
{
    totals plain = churn("push");
    totals est = churn("push_estimate");
    cr_expect_lt(est.moved, plain.moved, "push_estimate moved %lu, push %lu",
                 (unsigned long)est.moved, (unsigned long)plain.moved);
}

/* ---- an emptied shard --------------------------------------------------------------- */

static uint64_t drained_local0;

/* Takes all of member 0's share and one block more, holds it, and looks at
 * member 0's shard after 40 background periods. */
static void drainer(void *arg)
{
    (void)arg;
    pool_client c = pool_open();
    cr_assert_eq(c.member, 0);
    uint64_t got[64];
    for (int i = 0; i < ELEMS / MEMBERS / 64 + 1; i++)
        cr_assert_eq(
            fos_dpool_get_at(c.addr, c.cap, got, sizeof got, i < 4 ? 64 : 16, NULL, FOS_CYCLES_MAX),
            0);
    fos_sleep(40 * 5000);
}

static uint64_t drain(const char *scheme)
{
    test_params tp;
    sim_fleet *fl;
    sim *s = boot(&tp, scheme, &fl);
    cr_assert_eq(sim_spawn(s, 1, drainer, NULL, "drainer", false), 0);
    run_ok(s);
    drained_local0 = test_counter(fl, 0, "local");
    sim_fleet_free(fl);
    sim_destroy(s);
    return drained_local0;
}

Test(dpool, background_schemes_refill_an_empty_shard)
{
    cr_expect_eq(drain("storage"), 0);
    cr_expect_eq(drain("bulk"), 0);
    /* pull: back to its low-water mark (25% of 256) at least. */
    cr_expect_geq(drain("pull"), 64);
    cr_expect_geq(drain("push"), 16);
    cr_expect_geq(drain("push_estimate"), 16);
}

/* ---- malformed requests ------------------------------------------------------------- */

static int bad_put, bad_size, bad_get, null_get, null_put, huge_put, small_get;

static void prodder(void *arg)
{
    (void)arg;
    pool_client c = pool_open();
    uint64_t e[2] = {1, 2};
    bad_size = fos_dpool_put_at(c.addr, c.cap, e, 2, 4, FOS_CYCLES_MAX); /* wrong size */
    bad_put = fos_dpool_put_at(c.addr, c.cap, e, 0, 8, FOS_CYCLES_MAX) == 0 ? 0 : -1;
    uint64_t out[1];
    bad_get = fos_dpool_get_at(c.addr, c.cap, out, sizeof out, FOS_DPOOL_BATCH_MAX + 1, NULL,
                               FOS_CYCLES_MAX);
    null_get = fos_dpool_get_at(c.addr, c.cap, NULL, 64, 1, NULL, FOS_CYCLES_MAX);
    /* Room for one of two: refused before anything is taken (all or none). */
    small_get = fos_dpool_get_at(c.addr, c.cap, out, sizeof out, 2, NULL, FOS_CYCLES_MAX);
    null_put = fos_dpool_put_at(c.addr, c.cap, NULL, 1, 8, FOS_CYCLES_MAX);
    /* 2^29 elements of 8 bytes: a length of 2^32, which 32 bits would hold as 0. */
    huge_put = fos_dpool_put_at(c.addr, c.cap, e, 1u << 29, 8, FOS_CYCLES_MAX);
}

Test(dpool, malformed_requests_are_refused)
{
    test_params tp;
    sim_fleet *fl;
    sim *s = boot(&tp, "bulk", &fl);
    cr_assert_eq(sim_spawn(s, 1, prodder, NULL, "prodder", false), 0);
    run_ok(s);
    cr_expect_eq(bad_size, -EINVAL);
    cr_expect_eq(bad_put, 0, "an empty put is no harm");
    cr_expect_eq(bad_get, -EINVAL);
    cr_expect_eq(null_get, -EINVAL);
    cr_expect_eq(null_put, -EINVAL);
    cr_expect_eq(small_get, -EMSGSIZE);
    cr_expect_eq(huge_put, -EMSGSIZE, "a length that would wrap: %d", huge_put);
    cr_expect_eq(sum(fl).local, ELEMS);
    sim_fleet_free(fl);
    sim_destroy(s);
}

Test(dpool, scheme_names)
{
    fos_dpool_scheme k;
    for (int i = 0; fos_dpool_scheme_names[i]; i++) {
        cr_expect_eq(fos_dpool_scheme_parse(fos_dpool_scheme_names[i], &k), 0);
        cr_expect_eq((int)k, i);
    }
    cr_expect_eq(fos_dpool_scheme_parse("pushy", &k), -EINVAL);
}
