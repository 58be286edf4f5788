/* The calling simulated core: its identity, its clock, and charging work.
 * Every function here must be called from a fiber running on a simulated core. */
#ifndef FOS_CORE_H
#define FOS_CORE_H

#include <stdbool.h>

#include "fos/types.h"

typedef struct fos_core fos_core;

/* The id of the core the calling fiber runs on. */
fos_core_id fos_core_self(void);
/* Number of cores of the chip. */
uint32_t fos_core_count(void);

/* The calling core's clock (target cycles on the virtual engine). */
fos_cycles fos_now(void);

/* The chip's cost table (DESIGN §8): what a server charges for its work. */
const struct fos_costs *fos_core_costs(void);
/* The chip's topology: distances, for services that place or choose by them. */
const struct fos_topo *fos_core_topo(void);

/* The chip runs on the native engine: real threads, real time, real memory.
 * A service charges its cost-table entries only on the virtual engine; on the
 * native one its real work is its cost. */
bool fos_core_native(void);

/* How long to wait for a peer's answer before presuming it dead or silent,
 * given the figure that suits the virtual engine: that figure there. On the
 * native engine a live peer's host thread may be waiting for a CPU, so ten
 * times it, and that again times the cores that share each host CPU (at most
 * ten times) when there are more cores than CPUs. Saturates at FOS_CYCLES_MAX. */
fos_cycles fos_core_patience(fos_cycles cycles);

/* Runs fn(arg) when the chip is destroyed (sim_destroy), after every fiber of
 * the calling core is gone: where per-core state a fiber made is released.
 * Returns 0 or -ENOMEM. */
int fos_core_atexit(void (*fn)(void *), void *arg);

/* Charges n cycles of application work to the calling core. A yield point: on the
 * virtual engine a fiber whose clock passes the end of the current window is
 * parked here and resumed in a later window. */
void fos_compute(fos_cycles n);

#endif
