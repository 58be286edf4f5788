/* The runtime's semantic tests are built twice: once for the virtual engine and,
 * with FOSSIM_TEST_NATIVE defined, once for the native one (DESIGN: every test
 * of the engine's semantics runs on both engines). An assertion about an exact
 * simulated time holds only on the virtual engine: it goes under VIRTUAL_ONLY. */
#ifndef FOS_TESTS_ENGINE_PARAM_H
#define FOS_TESTS_ENGINE_PARAM_H

#include "fos/sim.h"

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

#endif
