/* Basic types shared by every fos header. */
#ifndef FOS_TYPES_H
#define FOS_TYPES_H

#include <stddef.h>
#include <stdint.h>

/* Time on a simulated core: target-chip cycles on the virtual engine, TSC cycles
 * on the native one. */
typedef uint64_t fos_cycles;

#define FOS_CYCLES_MAX UINT64_MAX

/* A simulated core's id: 0 .. cores-1. */
typedef uint32_t fos_core_id;

#define FOS_CORE_NONE UINT32_MAX

#endif
