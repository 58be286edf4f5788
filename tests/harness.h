/* What the runtime's tests share: which engine they run on, and booting and
 * running a chip with assertions on the way.
 *
 * The runtime's semantic tests are built twice: once for the virtual engine and,
 * with FOSSIM_TEST_NATIVE defined, once for the native one (DESIGN: every test
 * of the engine's semantics runs on both engines). An assertion about an exact
 * simulated time holds only on the virtual engine: it goes under VIRTUAL_ONLY. */
#ifndef FOS_TESTS_HARNESS_H
#define FOS_TESTS_HARNESS_H

#include <criterion/criterion.h>

#include "fos/fos.h"

#ifdef FOSSIM_TEST_NATIVE
#define TEST_ENGINE SIM_ENGINE_NATIVE
#define TEST_IS_NATIVE 1
#else
#define TEST_ENGINE SIM_ENGINE_VIRTUAL
#define TEST_IS_NATIVE 0
#endif
#define VIRTUAL_ONLY if (!TEST_IS_NATIVE)

/* For a test whose set-up orders things by simulated time (a sleep of a few
 * thousand cycles "so that" something happened first): on real threads that is
 * a race, not a test. Its semantics are covered on the native engine by tests
 * that wait on messages instead. */
#define VIRTUAL_TIMING .disabled = TEST_IS_NATIVE

/* A chip of `cores` on the test's engine; max_msg 0 keeps the default. */
static inline sim *make_sim_cfg(uint32_t cores, size_t max_msg)
{
    sim_config cfg;
    sim *s = NULL;

    sim_config_default(&cfg);
    cfg.engine = TEST_ENGINE;
    cfg.chip.cores = cores;
    if (max_msg) cfg.max_msg_bytes = max_msg;
    cr_assert_eq(sim_create(&cfg, &s), 0, "sim_create with %u cores", cores);
    return s;
}

static inline sim *make_sim(uint32_t cores)
{
    return make_sim_cfg(cores, 0);
}

static inline void run_ok(sim *s)
{
    int r = sim_run(s);

    cr_assert_eq(r, 0, "sim_run returned %d (%s)", r, fos_err_name(r));
}

#endif
