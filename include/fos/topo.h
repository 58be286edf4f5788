/* The model of the target chip: topology, distances, latencies and the cost table.
 * Pure functions of the model: no core state, safe to call from any core or the
 * harness. */
#ifndef FOS_TOPO_H
#define FOS_TOPO_H

#include <stdbool.h>

#include "fos/types.h"

typedef enum fos_topo_kind {
    FOS_TOPO_MESH,
    FOS_TOPO_TORUS,
    FOS_TOPO_RING,
    FOS_TOPO_FULL,
    FOS_TOPO_NUMA,
} fos_topo_kind;

/* The cost table, in target cycles (DESIGN §8). copy_per_byte is fixed point:
 * cycles per byte in 1/256ths, so a chip can copy several bytes per cycle and
 * all arithmetic stays integer. */
typedef struct fos_costs {
    fos_cycles trap;
    fos_cycles hop;
    uint32_t copy_per_byte_q8;
    fos_cycles ctx_switch;
    fos_cycles poll;
    fos_cycles chan_slot_write;
    fos_cycles chan_slot_read;
    fos_cycles send_timeout;
    fos_cycles name_lookup;
    fos_cycles name_register;
    fos_cycles kv_apply;
    fos_cycles dpool_op;
    fos_cycles page_touch;
    fos_cycles spawn;
} fos_costs;

/* Parameters a workload gives; fos_topo_init derives the rest. */
typedef struct fos_topo_params {
    fos_topo_kind kind;
    uint32_t cores;
    uint32_t cores_per_socket; /* numa only; 0 = default 8 */
    uint32_t socket_hops;      /* numa only; 0 = default 4 */
    uint64_t clock_hz;         /* 0 = default 1 GHz */
    fos_costs costs;
} fos_topo_params;

typedef struct fos_topo {
    fos_topo_kind kind;
    uint32_t cores;
    uint32_t width;  /* mesh/torus: ceil(sqrt(cores)); otherwise cores */
    uint32_t height; /* mesh/torus: ceil(cores / width); otherwise 1 */
    uint32_t cores_per_socket;
    uint32_t socket_hops;
    uint64_t clock_hz;
    fos_costs costs;
    fos_cycles lookahead;
    /* mesh/torus: per-core coordinates, x | y << 16, precomputed for the hot
     * path (one load per core) */
    uint32_t *xy;
    /* The costs are small enough that no latency can saturate: the hot path
     * skips the overflow checks. */
    bool lat_exact;
} fos_topo;

/* Fills t from p. Returns 0, -EINVAL for a bad parameter (zero cores, more than
 * 1 << 20 cores, an unknown kind, a cost table whose lookahead is zero), or
 * -ENOMEM. On failure t is left zeroed. The caller owns t and releases it with
 * fos_topo_fini, which is also safe on a zeroed struct. */
int fos_topo_init(fos_topo *t, const fos_topo_params *p);
void fos_topo_fini(fos_topo *t);

/* Hops between two cores: 0 for a == b, UINT32_MAX if either does not exist. mesh: Manhattan;
 * torus: Manhattan with wrap-around on the full width x height grid; ring: shorter way round; full:
 * 1; numa: 1 inside a socket, socket_hops between sockets. */
uint32_t fos_topo_hops(const fos_topo *t, fos_core_id a, fos_core_id b);

/* Cycles for a message of `bytes` bytes from src to dst:
 * trap + hops * hop + ceil(bytes * copy_per_byte). For src == dst: trap + copy. */
fos_cycles fos_topo_latency(const fos_topo *t, fos_core_id src, fos_core_id dst, size_t bytes);

/* Cycles for a channel message of `slots` cache-line slots from src to dst:
 * slots * chan_slot_write + hops * hop; the same with one slot for the release
 * of slots travelling back. */
fos_cycles fos_topo_chan_latency(const fos_topo *t, fos_core_id src, fos_core_id dst,
                                 uint32_t slots);

/* Cycles to copy `bytes` bytes at the table's copy_per_byte, rounded up. */
fos_cycles fos_costs_copy(const fos_costs *c, size_t bytes);

/* The smallest latency between two distinct cores (a zero-byte mailbox message
 * or a one-slot channel message, whichever is cheaper, over the fewest hops the
 * topology has): the virtual engine's lookahead L. */
fos_cycles fos_topo_lookahead(const fos_topo *t);

/* The member of set[0..n) nearest to `from` by hops; ties go to the lowest id.
 * Returns FOS_CORE_NONE when n == 0. */
fos_core_id fos_topo_nearest(const fos_topo *t, fos_core_id from, const fos_core_id *set, size_t n);

/* Host placement: the index (0 .. nhost-1) of the host CPU or worker that runs
 * simulated core `core`, chosen so that neighbouring cores share a host CPU:
 * contiguous blocks in core-id order, sizes differing by at most one. With more
 * hosts than cores, core i gets slot i; nhost == 0 gives 0. */
uint32_t fos_topo_host_slot(const fos_topo *t, fos_core_id core, uint32_t nhost);

/* Names (DESIGN §8) <-> kinds. parse returns 0 or -EINVAL; name returns
 * "unknown" for a value outside the enum, never NULL. */
int fos_topo_kind_parse(const char *name, fos_topo_kind *out);
const char *fos_topo_kind_name(fos_topo_kind k);

/* Cost presets: "tile" (the default), "fos2009", "host". Returns 0 or -EINVAL for
 * an unknown name. "host" measures this machine (see sim/costs_host.c) and so is
 * not reproducible across hosts; it takes a few milliseconds and may also fail
 * with -EAGAIN when no second thread could be created or run. */
int fos_costs_preset(const char *name, fos_costs *out);
/* One line saying where a preset's numbers come from, or NULL. */
const char *fos_costs_preset_source(const char *name);

/* Cost-table key names (DESIGN §8) <-> fields, for workload files and reports.
 * get/set return 0 or -ENOENT for an unknown key; copy_per_byte is read and
 * written in 1/256ths of a cycle, and set refuses a value above UINT32_MAX for
 * it with -EINVAL. */
int fos_costs_get(const fos_costs *c, const char *key, uint64_t *out);
int fos_costs_set(fos_costs *c, const char *key, uint64_t v);
/* The keys, in table order, NULL-terminated. */
extern const char *const fos_costs_keys[];

#endif
