/* A fleet's parameters for a test that starts it with sim_fleet_start (every
 * declared key at its default, then the test's own values), and what a test
 * reads back: members' counters, and which pool elements its clients hold. */
#ifndef FOS_TESTS_PARAMS_H
#define FOS_TESTS_PARAMS_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "fos/fleet.h"
#include "sim/workload.h"

#define TEST_PARAMS_MAX 16

typedef struct test_params {
    uint64_t u[TEST_PARAMS_MAX];
    const char *s[TEST_PARAMS_MAX];
    fos_params p;
} test_params;

static inline void test_params_init(test_params *t, const fos_param *decl)
{
    memset(t, 0, sizeof(*t));
    for (unsigned i = 0; decl[i].key; i++) {
        cr_assert_lt(i, TEST_PARAMS_MAX);
        const fos_param *d = &decl[i];
        if (d->type == FOS_PARAM_STR)
            t->s[i] = d->def;
        else if (d->type == FOS_PARAM_SIZE)
            cr_assert_eq(sim_parse_size(d->def, &t->u[i]), 0);
        else /* INT, and TIME in cycles at the default 1 GHz */
            cr_assert_eq(sim_parse_duration(d->def, 1000000000ull, &t->u[i]), 0);
    }
    t->p = (fos_params){decl, t->u, t->s};
}

static inline unsigned test_param_index(test_params *t, const char *key)
{
    for (unsigned i = 0; t->p.decl[i].key; i++)
        if (!strcmp(t->p.decl[i].key, key)) return i;
    cr_assert_fail("no parameter %s", key);
    return 0;
}

static inline void test_param_u64(test_params *t, const char *key, uint64_t v)
{
    t->u[test_param_index(t, key)] = v;
}

static inline void test_param_str(test_params *t, const char *key, const char *v)
{
    t->s[test_param_index(t, key)] = v;
}

/* A counter a member reported after the run. */
static inline uint64_t test_counter(const sim_fleet *fl, uint32_t m, const char *name)
{
    sim_fleet_member_stats ms;
    cr_assert_eq(sim_fleet_get_member_stats(fl, m, &ms), 0);
    for (uint32_t i = 0; i < ms.ncounters; i++)
        if (!strcmp(ms.counter[i].name, name)) return ms.counter[i].value;
    cr_assert_fail("member %u reports no counter %s", m, name);
    return 0;
}

/* A counter summed over members 0 .. n-1. */
static inline uint64_t test_counter_sum(const sim_fleet *fl, uint32_t n, const char *name)
{
    uint64_t v = 0;
    for (uint32_t m = 0; m < n; m++)
        v += test_counter(fl, m, name);
    return v;
}

/* A dPool's elements in shards or on their way between two (local + moved - came). */
static inline uint64_t test_pool_elements(const sim_fleet *fl, uint32_t n)
{
    return test_counter_sum(fl, n, "local") + test_counter_sum(fl, n, "moved") -
           test_counter_sum(fl, n, "came");
}

/* Marks element e held (on) or given back in a bitmap that clients on any
 * core share; holding one held already, or giving back one not held, counts
 * in *bad. */
static inline void test_hold(uint64_t *bitmap, int *bad, uint64_t e, bool on)
{
    uint64_t bit = 1ull << (e % 64);
    uint64_t was = on ? __atomic_fetch_or(&bitmap[e / 64], bit, __ATOMIC_RELAXED)
                      : __atomic_fetch_and(&bitmap[e / 64], ~bit, __ATOMIC_RELAXED);
    if (on == !!(was & bit)) __atomic_fetch_add(bad, 1, __ATOMIC_RELAXED);
}

#endif
