/* The target chip's topology: distances, latencies, lookahead, placement. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fos/topo.h"

/* Coordinates are uint16 to keep the per-core arrays small and hot; 1 << 20
 * cores gives a 1024 x 1024 mesh, far inside that range, and is more than any
 * workload fossim can hold in memory anyway. */
#define TOPO_MAX_CORES (1u << 20)

#define NUMA_DEFAULT_CORES_PER_SOCKET 8
#define NUMA_DEFAULT_SOCKET_HOPS 4
#define DEFAULT_CLOCK_HZ 1000000000ull

static const char *const kind_names[] = {
    [FOS_TOPO_MESH] = "mesh", [FOS_TOPO_TORUS] = "torus", [FOS_TOPO_RING] = "ring",
    [FOS_TOPO_FULL] = "full", [FOS_TOPO_NUMA] = "numa",
};

#define NKINDS (sizeof(kind_names) / sizeof(kind_names[0]))

/* Smallest w with w * w >= n. Integer only: results must not depend on the
 * host's libm (DESIGN §3, rules of virtual time). */
static uint32_t ceil_sqrt(uint32_t n)
{
    uint32_t lo = 0, hi = 1u << 16; /* (1 << 16)^2 covers every uint32 */

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if ((uint64_t)mid * mid >= n)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static uint32_t absdiff(uint32_t a, uint32_t b)
{
    return a > b ? a - b : b - a;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* Saturating, so an absurd cost table gives "forever" rather than a small
 * wrapped-around latency that would reorder events. */
static fos_cycles sat_add(fos_cycles a, fos_cycles b)
{
    fos_cycles r;

    return __builtin_add_overflow(a, b, &r) ? FOS_CYCLES_MAX : r;
}

static fos_cycles sat_mul(fos_cycles a, fos_cycles b)
{
    fos_cycles r;

    return __builtin_mul_overflow(a, b, &r) ? FOS_CYCLES_MAX : r;
}

/* The fewest hops any two distinct cores are apart. */
static uint32_t min_hops(const fos_topo *t)
{
    /* A 1-core chip has no pair; it still needs a positive window, and one
     * hop is what a second core would cost. */
    if (t->cores < 2) return 1;
    if (t->kind == FOS_TOPO_NUMA) return t->cores_per_socket >= 2 ? 1 : t->socket_hops;
    return 1;
}

/* A bound on the hops between any two cores (not the diameter itself). */
static uint64_t max_hops(const fos_topo *t)
{
    switch (t->kind) {
    case FOS_TOPO_MESH:
    case FOS_TOPO_TORUS:
        return (uint64_t)t->width + t->height;
    case FOS_TOPO_NUMA:
        return t->socket_hops > 1 ? t->socket_hops : 1;
    case FOS_TOPO_FULL:
        return 1;
    default:
        return t->cores;
    }
}

int fos_topo_init(fos_topo *t, const fos_topo_params *p)
{
    uint32_t n;

    if (!t) return -EINVAL;
    memset(t, 0, sizeof(*t)); /* fini is then safe whatever happens below */
    if (!p) return -EINVAL;
    n = p->cores;
    if (n == 0 || n > TOPO_MAX_CORES || (unsigned)p->kind >= NKINDS) return -EINVAL;

    t->kind = p->kind;
    t->cores = n;
    t->clock_hz = p->clock_hz ? p->clock_hz : DEFAULT_CLOCK_HZ;
    t->costs = p->costs;
    t->width = n;
    t->height = 1;

    switch (p->kind) {
    case FOS_TOPO_MESH:
    case FOS_TOPO_TORUS:
        t->width = ceil_sqrt(n);
        t->height = (n + t->width - 1) / t->width;
        break;
    case FOS_TOPO_NUMA:
        t->cores_per_socket =
            p->cores_per_socket ? p->cores_per_socket : NUMA_DEFAULT_CORES_PER_SOCKET;
        t->socket_hops = p->socket_hops ? p->socket_hops : NUMA_DEFAULT_SOCKET_HOPS;
        break;
    default:
        break;
    }

    /* The cheapest way from one core to another: a mailbox send (trap) or one
     * channel slot (chan_slot_write), over the fewest hops. */
    fos_cycles overhead =
        t->costs.trap < t->costs.chan_slot_write ? t->costs.trap : t->costs.chan_slot_write;
    t->lookahead = sat_add(overhead, sat_mul(min_hops(t), t->costs.hop));
    if (t->lookahead == 0) {
        /* A zero window would never advance the virtual engine (rule 5). */
        memset(t, 0, sizeof(*t));
        return -EINVAL;
    }

    /* Every term of a latency below 2^53 for messages under 4 GiB: trap
     * < 2^40, hops and hop <= 2^20 each, bytes * q8 < 2^52. */
    t->lat_exact = t->costs.trap < (1ull << 40) && t->costs.hop <= (1u << 20) &&
                   max_hops(t) <= (1u << 20) && t->costs.copy_per_byte_q8 <= (1u << 20);

    if (t->kind == FOS_TOPO_MESH || t->kind == FOS_TOPO_TORUS) {
        t->xy = calloc(n, sizeof(*t->xy));
        if (!t->xy) {
            fos_topo_fini(t);
            return -ENOMEM;
        }
        for (uint32_t i = 0; i < n; i++) {
            t->xy[i] = i % t->width | (i / t->width) << 16;
        }
    }
    return 0;
}

void fos_topo_fini(fos_topo *t)
{
    if (!t) return;
    free(t->xy);
    t->xy = NULL;
}

/* Hops between two cores that exist. */
static inline uint32_t hops(const fos_topo *t, fos_core_id a, fos_core_id b)
{
    uint32_t dx, dy, d;

    if (a == b) return 0;
    switch (t->kind) {
    case FOS_TOPO_MESH:
        return absdiff(t->xy[a] & 0xffff, t->xy[b] & 0xffff) +
               absdiff(t->xy[a] >> 16, t->xy[b] >> 16);
    case FOS_TOPO_TORUS:
        dx = absdiff(t->xy[a] & 0xffff, t->xy[b] & 0xffff);
        dy = absdiff(t->xy[a] >> 16, t->xy[b] >> 16);
        return min_u32(dx, t->width - dx) + min_u32(dy, t->height - dy);
    case FOS_TOPO_RING:
        d = absdiff(a, b);
        return min_u32(d, t->cores - d);
    case FOS_TOPO_FULL:
        return 1;
    case FOS_TOPO_NUMA:
        /* A division, but numa chips are small; not worth a per-core table. */
        return a / t->cores_per_socket == b / t->cores_per_socket ? 1 : t->socket_hops;
    }
    return 0;
}

uint32_t fos_topo_hops(const fos_topo *t, fos_core_id a, fos_core_id b)
{
    if (a >= t->cores || b >= t->cores) return UINT32_MAX; /* no such core: unreachable */
    return hops(t, a, b);
}

fos_cycles fos_costs_copy(const fos_costs *c, size_t bytes)
{
    /* bytes = 256 * whole + part, so ceil(bytes * q8 / 256) is whole * q8 plus
     * ceil(part * q8 / 256) — exact, with no 128-bit product for large sizes. */
    uint64_t whole = (uint64_t)bytes >> 8;
    uint64_t part = (uint64_t)bytes & 0xff;
    uint64_t q8 = c->copy_per_byte_q8;

    return sat_add(sat_mul(whole, q8), (part * q8 + 255) >> 8);
}

static __attribute__((noinline)) fos_cycles latency_sat(const fos_topo *t, fos_core_id src,
                                                        fos_core_id dst, size_t bytes)
{
    fos_cycles wire = sat_mul(fos_topo_hops(t, src, dst), t->costs.hop);

    return sat_add(sat_add(t->costs.trap, wire), fos_costs_copy(&t->costs, bytes));
}

fos_cycles fos_topo_latency(const fos_topo *t, fos_core_id src, fos_core_id dst, size_t bytes)
{
    /* Every message asks for two, so the common case (a mesh, costs with
     * lat_exact) is small enough to be inlined where they are asked: no term
     * saturates there, and the copy's ceil(bytes * q8 / 256) is
     * fos_costs_copy's whole * q8 + ceil(part * q8 / 256) in one product. */
    if (t->kind == FOS_TOPO_MESH && t->lat_exact && bytes <= UINT32_MAX && src < t->cores &&
        dst < t->cores) {
        uint32_t a = t->xy[src], b = t->xy[dst];
        uint32_t h = absdiff(a & 0xffff, b & 0xffff) + absdiff(a >> 16, b >> 16);
        return t->costs.trap + (fos_cycles)h * t->costs.hop +
               (((uint64_t)bytes * t->costs.copy_per_byte_q8 + 255) >> 8);
    }
    return latency_sat(t, src, dst, bytes);
}

fos_cycles fos_topo_chan_latency(const fos_topo *t, fos_core_id src, fos_core_id dst,
                                 uint32_t slots)
{
    return sat_add(sat_mul(slots ? slots : 1, t->costs.chan_slot_write),
                   sat_mul(fos_topo_hops(t, src, dst), t->costs.hop));
}

fos_cycles fos_topo_lookahead(const fos_topo *t)
{
    return t->lookahead;
}

fos_core_id fos_topo_nearest(const fos_topo *t, fos_core_id from, const fos_core_id *set, size_t n)
{
    fos_core_id best = FOS_CORE_NONE;
    uint32_t best_hops = UINT32_MAX;

    for (size_t i = 0; i < n; i++) {
        uint32_t h = fos_topo_hops(t, from, set[i]);

        /* The set's order must not matter (rule 2), hence the id tie-break. */
        if (best == FOS_CORE_NONE || h < best_hops || (h == best_hops && set[i] < best)) {
            best = set[i];
            best_hops = h;
        }
    }
    return best;
}

uint32_t fos_topo_host_slot(const fos_topo *t, fos_core_id core, uint32_t nhost)
{
    uint32_t q, r, big;

    if (nhost <= 1 || core >= t->cores)
        return 0; /* nhost == 0 has no slot to give; 0 is the only safe index */
    /* The first r slots take q + 1 cores, the rest q: block sizes differ by at
     * most one, and row-major numbering keeps each block a band of neighbours. */
    q = t->cores / nhost;
    r = t->cores % nhost;
    big = r * (q + 1);
    if (core < big) return core / (q + 1);
    return r + (core - big) / q;
}

int fos_topo_kind_parse(const char *name, fos_topo_kind *out)
{
    if (!name || !out) return -EINVAL;
    for (size_t k = 0; k < NKINDS; k++) {
        if (strcmp(name, kind_names[k]) == 0) {
            *out = (fos_topo_kind)k;
            return 0;
        }
    }
    return -EINVAL;
}

const char *fos_topo_kind_name(fos_topo_kind k)
{
    /* Callers print this; an out-of-range kind must not become a NULL %s. */
    if ((unsigned)k >= NKINDS) return "unknown";
    return kind_names[k];
}
