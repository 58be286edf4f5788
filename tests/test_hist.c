/* Latency histograms (sim/hist.h): every quantile is checked against the exact
 * one, found by sorting the same values, so the tests hold the documented error
 * bounds rather than numbers copied from the implementation. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>

#include "sim/hist.h"

/* Deterministic values: xorshift64 with a fixed seed, so a failure repeats. */
static uint64_t rng_state;

static void rng_seed(uint64_t s)
{
    rng_state = s;
}

static uint64_t rng(void)
{
    uint64_t x = rng_state;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* Log-uniform over 1..2^40: as many values in each power of two, so every group
 * of buckets from the exact ones up to the widest is exercised. */
static uint64_t spread_value(void)
{
    unsigned e = (unsigned)(rng() % 40);
    uint64_t lo = (uint64_t)1 << e;

    return lo + (rng() & (lo - 1));
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

/* The smallest value v with at least ceil(q * n) values <= v; sorted[] is the
 * values in ascending order. q is given in parts per million so the rank is
 * computed exactly, in integers. */
static uint64_t exact_quantile(const uint64_t *sorted, uint64_t n, uint64_t q_ppm)
{
    uint64_t rank = (q_ppm * n + 999999) / 1000000;

    if (rank == 0) rank = 1;
    return sorted[rank - 1];
}

/* |got - want| <= want / 100, in integers so nothing is lost to rounding. */
static int within_1pct(uint64_t got, uint64_t want)
{
    uint64_t d = got > want ? got - want : want - got;

    return d <= want / 100;
}

static const uint64_t quantiles_ppm[] = {500000, 900000, 990000, 999000};

/* ---- exactness ---- */

Test(hist, small_values_are_exact)
{
    /* Below 128 every value is its own bucket: 0..127 once each, and the
     * k/128 quantile (an exact binary fraction, so the rank is exactly k) is
     * the value k - 1. */
    sim_hist h;

    sim_hist_init(&h);
    for (uint64_t v = 0; v < 128; v++)
        sim_hist_add(&h, v);
    for (unsigned k = 1; k <= 128; k++)
        cr_expect_eq(sim_hist_quantile(&h, k / 128.0), k - 1, "q %u/128 -> %llu", k,
                     (unsigned long long)sim_hist_quantile(&h, k / 128.0));
    cr_expect_eq(h.count, 128);
    cr_expect_eq(h.sum, 127 * 128 / 2);
    cr_expect_eq(h.min, 0);
    cr_expect_eq(h.max, 127);
    sim_hist_fini(&h);
}

Test(hist, small_values_exact_with_repeats)
{
    /* Skewed counts below 128: value v recorded v + 1 times. Every quantile
     * is checked against the sorted list, and must match it exactly. */
    static uint64_t sorted[128 * 129 / 2];
    uint64_t n = 0;
    sim_hist h;

    sim_hist_init(&h);
    for (uint64_t v = 0; v < 128; v++)
        for (uint64_t i = 0; i <= v; i++) {
            sim_hist_add(&h, v);
            sorted[n++] = v;
        }
    for (uint64_t k = 1; k <= 64; k++) {
        /* k/64 is exact in binary, so the histogram's rank equals ours. */
        uint64_t want = exact_quantile(sorted, n, k * 1000000 / 64);

        cr_expect_eq(sim_hist_quantile(&h, k / 64.0), want, "q %llu/64", (unsigned long long)k);
    }
    sim_hist_fini(&h);
}

Test(hist, single_value_is_exact)
{
    /* One value: min and max clamp the bucket's midpoint, so every quantile is
     * that value exactly, whatever its size. */
    static const uint64_t vals[] = {
        0, 1, 127, 128, 129, 255, 256, 257, 1000, 123456789, (uint64_t)1 << 40, UINT64_MAX,
    };

    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        sim_hist h;

        sim_hist_init(&h);
        sim_hist_add(&h, vals[i]);
        cr_expect_eq(sim_hist_quantile(&h, 0.5), vals[i], "value %llu",
                     (unsigned long long)vals[i]);
        cr_expect_eq(sim_hist_quantile(&h, 1.0), vals[i]);
        cr_expect_eq(h.min, vals[i]);
        cr_expect_eq(h.max, vals[i]);
        cr_expect_eq(h.sum, vals[i]);
        cr_expect_eq(h.count, 1);
        sim_hist_fini(&h);
    }
}

/* ---- error bounds ---- */

Test(hist, bucket_error_is_at_most_1_in_256)
{
    /* The header's worst case: a value is reported at its bucket's midpoint,
     * at most 1/256 of it away. Bracketing v between 1 and 2^63 keeps min and
     * max from clamping, so the median (rank 2 of 3) is the raw midpoint. */
    rng_seed(0x9e3779b97f4a7c15ull);
    for (int i = 0; i < 20000; i++) {
        uint64_t v = rng() >> (rng() % 63);
        sim_hist h;

        if (v < 2 || v >= (uint64_t)1 << 63) continue;
        sim_hist_init(&h);
        sim_hist_add(&h, 1);
        sim_hist_add(&h, v);
        sim_hist_add(&h, (uint64_t)1 << 63);
        uint64_t got = sim_hist_quantile(&h, 0.5);
        uint64_t d = got > v ? got - v : v - got;

        cr_assert_leq(d, v / 256, "value %llu reported as %llu", (unsigned long long)v,
                      (unsigned long long)got);
        if (v < 128) cr_assert_eq(got, v);
        sim_hist_fini(&h);
    }
}

Test(hist, spread_quantiles_within_1pct)
{
    /* 200,000 values over 1..2^40: each quantile within 1% of the exact one,
     * and count, sum, min, max exact. */
    enum { N = 200000 };
    uint64_t *vals = malloc(N * sizeof(*vals));
    uint64_t sum = 0, min = UINT64_MAX, max = 0;
    sim_hist h;

    cr_assert_not_null(vals);
    sim_hist_init(&h);
    rng_seed(0x2545f4914f6cdd1dull);
    for (int i = 0; i < N; i++) {
        uint64_t v = spread_value();

        vals[i] = v;
        sum += v;
        if (v < min) min = v;
        if (v > max) max = v;
        sim_hist_add(&h, v);
    }
    qsort(vals, N, sizeof(*vals), cmp_u64);

    for (size_t i = 0; i < sizeof(quantiles_ppm) / sizeof(quantiles_ppm[0]); i++) {
        uint64_t want = exact_quantile(vals, N, quantiles_ppm[i]);
        uint64_t got = sim_hist_quantile(&h, quantiles_ppm[i] / 1e6);

        cr_expect(within_1pct(got, want), "q %.3f: got %llu, exact %llu", quantiles_ppm[i] / 1e6,
                  (unsigned long long)got, (unsigned long long)want);
    }
    /* Every percentile too, and the quantiles never go down as q goes up. */
    uint64_t prev = 0;
    for (uint64_t p = 1; p <= 100; p++) {
        uint64_t want = exact_quantile(vals, N, p * 10000);
        uint64_t got = sim_hist_quantile(&h, p / 100.0);

        cr_expect(within_1pct(got, want), "p%llu: got %llu, exact %llu", (unsigned long long)p,
                  (unsigned long long)got, (unsigned long long)want);
        cr_expect_geq(got, prev, "p%llu went down", (unsigned long long)p);
        prev = got;
    }

    cr_expect_eq(sim_hist_quantile(&h, 1.0), vals[N - 1], "q = 1 is the exact max");
    cr_expect_eq(h.count, N);
    cr_expect_eq(h.sum, sum);
    cr_expect_eq(h.min, min);
    cr_expect_eq(h.max, max);
    cr_expect_eq(min, vals[0]);
    cr_expect_eq(max, vals[N - 1]);
    /* The smallest quantile is the minimum's bucket: within 1% of it. */
    cr_expect(within_1pct(sim_hist_quantile(&h, 1e-9), vals[0]));
    sim_hist_fini(&h);
    free(vals);
}

Test(hist, uniform_quantiles_within_1pct)
{
    /* A different shape: uniform in [10^6, 10^6 + 10^9), so the mass sits in
     * the widest buckets where the relative error is largest. */
    enum { N = 100000 };
    uint64_t *vals = malloc(N * sizeof(*vals));
    sim_hist h;

    cr_assert_not_null(vals);
    sim_hist_init(&h);
    rng_seed(12345);
    for (int i = 0; i < N; i++) {
        vals[i] = 1000000 + rng() % 1000000000;
        sim_hist_add(&h, vals[i]);
    }
    qsort(vals, N, sizeof(*vals), cmp_u64);
    for (size_t i = 0; i < sizeof(quantiles_ppm) / sizeof(quantiles_ppm[0]); i++) {
        uint64_t want = exact_quantile(vals, N, quantiles_ppm[i]);
        uint64_t got = sim_hist_quantile(&h, quantiles_ppm[i] / 1e6);

        cr_expect(within_1pct(got, want), "q %.3f: got %llu, exact %llu", quantiles_ppm[i] / 1e6,
                  (unsigned long long)got, (unsigned long long)want);
    }
    cr_expect_eq(sim_hist_quantile(&h, 1.0), vals[N - 1]);
    cr_expect_eq(h.min, vals[0]);
    sim_hist_fini(&h);
    free(vals);
}

Test(hist, huge_values)
{
    /* The top group (2^63 and up) must neither overflow the bucket arithmetic
     * nor fall off the group array. */
    static const uint64_t vals[] = {
        UINT64_MAX,
        UINT64_MAX - 1,
        UINT64_MAX / 2,
        (uint64_t)1 << 63,
        ((uint64_t)1 << 63) + 1,
        ((uint64_t)1 << 63) + ((uint64_t)1 << 62),
        UINT64_MAX - ((uint64_t)1 << 56),
        ((uint64_t)1 << 62) + 12345,
    };
    enum { N = sizeof(vals) / sizeof(vals[0]) };
    uint64_t sorted[N];
    sim_hist h;

    sim_hist_init(&h);
    for (int i = 0; i < N; i++) {
        sim_hist_add(&h, vals[i]);
        sorted[i] = vals[i];
    }
    qsort(sorted, N, sizeof(*sorted), cmp_u64);
    for (uint64_t k = 1; k <= N; k++) {
        /* k/8 is exact in binary, so the rank is exactly k. */
        uint64_t got = sim_hist_quantile(&h, (double)k / N);

        cr_expect(within_1pct(got, sorted[k - 1]), "rank %llu: got %llu, exact %llu",
                  (unsigned long long)k, (unsigned long long)got,
                  (unsigned long long)sorted[k - 1]);
    }
    cr_expect_eq(sim_hist_quantile(&h, 1.0), UINT64_MAX);
    cr_expect_eq(h.max, UINT64_MAX);
    cr_expect_eq(h.min, sorted[0]);
    cr_expect_eq(h.count, N);
    cr_expect_eq(h.nomem, 0);
    sim_hist_fini(&h);
}

/* ---- merging ---- */

static void expect_same(const sim_hist *a, const sim_hist *b)
{
    cr_expect_eq(a->count, b->count);
    cr_expect_eq(a->sum, b->sum);
    cr_expect_eq(a->min, b->min);
    cr_expect_eq(a->max, b->max);
    cr_expect_eq(a->nomem, b->nomem);
    for (int p = 1; p <= 1000; p++)
        cr_expect_eq(sim_hist_quantile(a, p / 1000.0), sim_hist_quantile(b, p / 1000.0), "q %.3f",
                     p / 1000.0);
    cr_expect_eq(sim_hist_quantile(a, 0.999999), sim_hist_quantile(b, 0.999999));
}

Test(hist, merge_equals_one_histogram)
{
    /* Two histograms with different ranges (so dst must allocate groups it
     * never had) merged are the same as one fed every value. */
    enum { N = 50000 };
    sim_hist all, a, b;

    sim_hist_init(&all);
    sim_hist_init(&a);
    sim_hist_init(&b);
    rng_seed(0xdeadbeefcafef00dull);
    for (int i = 0; i < N; i++) {
        uint64_t v = spread_value();

        sim_hist_add(&all, v);
        /* small values mostly to a, large ones to b, a few crossing over */
        sim_hist_add((v < ((uint64_t)1 << 20)) != (i % 97 == 0) ? &a : &b, v);
    }
    cr_assert_eq(sim_hist_merge(&a, &b), 0);
    expect_same(&a, &all);
    /* src is left as it was */
    cr_expect_lt(b.count, (uint64_t)N);
    cr_expect_gt(b.count, 0);
    sim_hist_fini(&all);
    sim_hist_fini(&a);
    sim_hist_fini(&b);
}

Test(hist, merge_with_empty)
{
    /* An empty source changes nothing; an empty destination becomes a copy. */
    sim_hist h, empty, copy;

    sim_hist_init(&h);
    sim_hist_init(&empty);
    sim_hist_init(&copy);
    rng_seed(42);
    for (int i = 0; i < 10000; i++)
        sim_hist_add(&h, spread_value());
    sim_hist_add(&h, 0);

    cr_assert_eq(sim_hist_merge(&copy, &h), 0);
    expect_same(&copy, &h);
    cr_assert_eq(sim_hist_merge(&copy, &empty), 0);
    expect_same(&copy, &h);
    cr_expect_eq(copy.min, 0);

    /* empty into empty stays empty */
    cr_assert_eq(sim_hist_merge(&empty, &empty), 0);
    cr_expect_eq(empty.count, 0);
    cr_expect_eq(sim_hist_quantile(&empty, 0.5), 0);
    sim_hist_fini(&h);
    sim_hist_fini(&empty);
    sim_hist_fini(&copy);
}

/* ---- lifecycle ---- */

Test(hist, empty_returns_zero)
{
    sim_hist h;

    sim_hist_init(&h);
    cr_expect_eq(sim_hist_quantile(&h, 1e-9), 0);
    cr_expect_eq(sim_hist_quantile(&h, 0.5), 0);
    cr_expect_eq(sim_hist_quantile(&h, 0.999), 0);
    cr_expect_eq(sim_hist_quantile(&h, 1.0), 0);
    cr_expect_eq(h.count, 0);
    cr_expect_eq(h.sum, 0);
    /* nothing recorded, nothing allocated */
    for (int g = 0; g < SIM_HIST_GROUPS; g++)
        cr_expect_null(h.group[g]);
    sim_hist_fini(&h);
    sim_hist_fini(&h); /* fini leaves an empty histogram: twice is safe */
    cr_expect_eq(sim_hist_quantile(&h, 0.5), 0);
}

Test(hist, fini_then_reuse)
{
    /* After fini nothing of the old values remains: min, max and quantiles are
     * those of the new values alone. */
    sim_hist h;

    sim_hist_init(&h);
    for (uint64_t v = 1; v <= 1000000; v += 7)
        sim_hist_add(&h, v);
    sim_hist_add(&h, UINT64_MAX);
    sim_hist_fini(&h);
    cr_expect_eq(h.count, 0);
    cr_expect_eq(sim_hist_quantile(&h, 0.5), 0);
    for (int g = 0; g < SIM_HIST_GROUPS; g++)
        cr_expect_null(h.group[g]);

    sim_hist_add(&h, 50);
    sim_hist_add(&h, 60);
    sim_hist_add(&h, 70);
    cr_expect_eq(h.count, 3);
    cr_expect_eq(h.sum, 180);
    cr_expect_eq(h.min, 50);
    cr_expect_eq(h.max, 70);
    cr_expect_eq(sim_hist_quantile(&h, 0.5), 60);
    cr_expect_eq(sim_hist_quantile(&h, 1.0), 70);
    cr_expect_eq(sim_hist_quantile(&h, 0.01), 50);
    sim_hist_fini(&h);
}

Test(hist, groups_are_lazy)
{
    /* Only the powers of two that values land in are allocated: values below
     * 128 use group 0 alone, one value near 2^20 adds exactly one more. */
    sim_hist h;
    int used = 0;

    sim_hist_init(&h);
    for (uint64_t v = 0; v < 128; v++)
        sim_hist_add(&h, v);
    for (int g = 0; g < SIM_HIST_GROUPS; g++)
        used += h.group[g] != NULL;
    cr_expect_eq(used, 1);
    cr_expect_not_null(h.group[0]);

    sim_hist_add(&h, ((uint64_t)1 << 20) + 5);
    sim_hist_add(&h, ((uint64_t)1 << 21) - 1);
    used = 0;
    for (int g = 0; g < SIM_HIST_GROUPS; g++)
        used += h.group[g] != NULL;
    cr_expect_eq(used, 2);
    sim_hist_fini(&h);
}
