/* Topology and cost model: every expected number below was worked out by hand
 * from the rules in DESIGN §3 and include/fos/topo.h. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "fos/topo.h"

static fos_costs tile(void)
{
    fos_costs c;

    cr_assert_eq(fos_costs_preset("tile", &c), 0);
    return c;
}

static void make(fos_topo *t, fos_topo_kind kind, uint32_t cores)
{
    fos_topo_params p = {.kind = kind, .cores = cores, .costs = tile()};

    cr_assert_eq(fos_topo_init(t, &p), 0, "init %s %u", fos_topo_kind_name(kind), cores);
}

static void make_numa(fos_topo *t, uint32_t cores, uint32_t cps, uint32_t sh)
{
    fos_topo_params p = {
        .kind = FOS_TOPO_NUMA,
        .cores = cores,
        .cores_per_socket = cps,
        .socket_hops = sh,
        .costs = tile(),
    };

    cr_assert_eq(fos_topo_init(t, &p), 0);
}

/* ---- shapes ---- */

Test(topo, mesh_shape)
{
    /* cores -> width = ceil(sqrt), height = ceil(cores / width) */
    static const uint32_t cases[][3] = {
        {1, 1, 1},     {2, 2, 1},      {3, 2, 2},      {4, 2, 2},      {5, 3, 2},
        {10, 4, 3},    {16, 4, 4},     {17, 5, 4},     {64, 8, 8},     {65, 9, 8},
        {256, 16, 16}, {1000, 32, 32}, {1024, 32, 32}, {1025, 33, 32}, {1u << 20, 1024, 1024},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fos_topo t;

        make(&t, FOS_TOPO_MESH, cases[i][0]);
        cr_expect_eq(t.width, cases[i][1], "cores %u width %u", cases[i][0], t.width);
        cr_expect_eq(t.height, cases[i][2], "cores %u height %u", cases[i][0], t.height);
        cr_expect_eq(t.clock_hz, 1000000000ull);
        fos_topo_fini(&t);
    }
}

Test(topo, other_shapes_are_one_row)
{
    static const fos_topo_kind kinds[] = {FOS_TOPO_RING, FOS_TOPO_FULL, FOS_TOPO_NUMA};

    for (size_t i = 0; i < 3; i++) {
        fos_topo t;

        make(&t, kinds[i], 10);
        cr_expect_eq(t.width, 10);
        cr_expect_eq(t.height, 1);
        fos_topo_fini(&t);
    }
}

Test(topo, params_kept_and_defaulted)
{
    fos_topo t;
    fos_topo_params p = {
        .kind = FOS_TOPO_NUMA, .cores = 32, .clock_hz = 2600000000ull, .costs = tile()};

    cr_assert_eq(fos_topo_init(&t, &p), 0);
    cr_expect_eq(t.cores_per_socket, 8);
    cr_expect_eq(t.socket_hops, 4);
    cr_expect_eq(t.clock_hz, 2600000000ull);
    cr_expect_eq(t.costs.trap, 14);
    fos_topo_fini(&t);

    make_numa(&t, 32, 16, 3);
    cr_expect_eq(t.cores_per_socket, 16);
    cr_expect_eq(t.socket_hops, 3);
    fos_topo_fini(&t);
}

Test(topo, init_rejects_bad_params)
{
    fos_topo t;
    fos_topo_params p = {.kind = FOS_TOPO_MESH, .cores = 0, .costs = tile()};

    cr_expect_eq(fos_topo_init(&t, &p), -EINVAL, "zero cores");
    fos_topo_fini(&t); /* the failed init leaves t safe to fini */
    p.cores = (1u << 20) + 1;
    cr_expect_eq(fos_topo_init(&t, &p), -EINVAL, "coordinates would not fit");
    p.cores = UINT32_MAX;
    cr_expect_eq(fos_topo_init(&t, &p), -EINVAL);
    p.cores = 4;
    p.kind = (fos_topo_kind)99;
    cr_expect_eq(fos_topo_init(&t, &p), -EINVAL, "unknown kind");
    cr_expect_eq(fos_topo_init(&t, NULL), -EINVAL);
    fos_topo_fini(&t);
}

Test(topo, fini_on_zeroed_struct_and_twice)
{
    fos_topo t;

    memset(&t, 0, sizeof(t));
    fos_topo_fini(&t);
    make(&t, FOS_TOPO_TORUS, 9);
    fos_topo_fini(&t);
    fos_topo_fini(&t);
    cr_expect_null(t.xy);
}

/* ---- hops ---- */

struct hop_case {
    fos_core_id a, b;
    uint32_t hops;
};

static void expect_hops(const fos_topo *t, const struct hop_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cr_expect_eq(fos_topo_hops(t, c[i].a, c[i].b), c[i].hops, "%s: hops(%u, %u) = %u, want %u",
                     fos_topo_kind_name(t->kind), c[i].a, c[i].b, fos_topo_hops(t, c[i].a, c[i].b),
                     c[i].hops);
        cr_expect_eq(fos_topo_hops(t, c[i].b, c[i].a), c[i].hops, "symmetric");
    }
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

Test(topo, mesh_hops_square)
{
    /* 4 x 4:  0  1  2  3 / 4  5  6  7 / 8  9 10 11 / 12 13 14 15 */
    static const struct hop_case c[] = {
        {0, 0, 0},  {0, 1, 1},  {0, 4, 1},  {5, 6, 1}, {0, 5, 2},
        {0, 15, 6}, {3, 12, 6}, {1, 14, 4}, {7, 8, 4}, {5, 10, 2},
    };
    fos_topo t;

    make(&t, FOS_TOPO_MESH, 16);
    expect_hops(&t, c, N(c));
    fos_topo_fini(&t);
}

Test(topo, mesh_hops_short_last_row)
{
    /* 10 cores, 4 wide, 3 high:  0 1 2 3 / 4 5 6 7 / 8 9 */
    static const struct hop_case c[] = {
        {0, 9, 3}, {3, 9, 4}, {8, 3, 5}, {9, 7, 3}, {8, 9, 1},
        {4, 8, 1}, {3, 7, 1}, {0, 8, 2}, {7, 8, 4},
    };
    fos_topo t;

    make(&t, FOS_TOPO_MESH, 10);
    expect_hops(&t, c, N(c));
    fos_topo_fini(&t);
}

Test(topo, mesh_hops_256)
{
    static const struct hop_case c[] = {
        {0, 255, 30}, {15, 240, 30}, {0, 15, 15}, {0, 240, 15}, {17, 34, 2}, {119, 136, 2},
    };
    fos_topo t;

    make(&t, FOS_TOPO_MESH, 256);
    expect_hops(&t, c, N(c));
    fos_topo_fini(&t);
}

Test(topo, torus_hops_wrap)
{
    static const struct hop_case c16[] = {
        {0, 3, 1},  /* x wraps */
        {0, 12, 1}, /* y wraps */
        {0, 15, 2}, /* both wrap: the mesh's 6 */
        {0, 10, 4}, /* halfway round both ways */
        {5, 15, 4}, {0, 1, 1}, {1, 14, 2}, {7, 8, 2},
    };
    /* 10 cores on the full 4 x 3 grid: 9 is at (1, 2), 8 at (0, 2) */
    static const struct hop_case c10[] = {
        {0, 9, 2}, {3, 8, 2}, {0, 8, 1}, {3, 9, 3}, {1, 9, 1}, {6, 9, 2},
    };
    /* 5 cores on the full 3 x 2 grid: 0 1 2 / 3 4 */
    static const struct hop_case c5[] = {
        {0, 2, 1},
        {2, 4, 2},
        {0, 4, 2},
        {1, 3, 2},
    };
    fos_topo t;

    make(&t, FOS_TOPO_TORUS, 16);
    expect_hops(&t, c16, N(c16));
    fos_topo_fini(&t);
    make(&t, FOS_TOPO_TORUS, 10);
    expect_hops(&t, c10, N(c10));
    fos_topo_fini(&t);
    make(&t, FOS_TOPO_TORUS, 5);
    expect_hops(&t, c5, N(c5));
    fos_topo_fini(&t);
}

Test(topo, ring_hops)
{
    static const struct hop_case c[] = {
        {0, 9, 1}, {0, 5, 5}, {2, 8, 4}, {7, 1, 4}, {3, 4, 1}, {4, 4, 0}, {1, 6, 5},
    };
    fos_topo t;

    make(&t, FOS_TOPO_RING, 10);
    expect_hops(&t, c, N(c));
    fos_topo_fini(&t);
    make(&t, FOS_TOPO_RING, 2);
    cr_expect_eq(fos_topo_hops(&t, 0, 1), 1);
    fos_topo_fini(&t);
}

Test(topo, full_hops)
{
    static const struct hop_case c[] = {{0, 4, 1}, {3, 3, 0}, {1, 2, 1}, {0, 1, 1}};
    fos_topo t;

    make(&t, FOS_TOPO_FULL, 5);
    expect_hops(&t, c, N(c));
    fos_topo_fini(&t);
}

Test(topo, numa_hops)
{
    /* defaults: sockets of 8, 4 hops between them */
    static const struct hop_case def[] = {
        {0, 7, 1}, {7, 8, 4}, {8, 15, 1}, {16, 19, 1}, {0, 19, 4}, {5, 5, 0},
    };
    static const struct hop_case small[] = {{3, 4, 2}, {0, 3, 1}, {4, 7, 1}, {0, 9, 2}};
    fos_topo t;

    make_numa(&t, 20, 0, 0);
    expect_hops(&t, def, N(def));
    fos_topo_fini(&t);
    make_numa(&t, 10, 4, 2);
    expect_hops(&t, small, N(small));
    fos_topo_fini(&t);
}

/* Cross-checks on every kind and many sizes: symmetric, zero on the diagonal,
 * positive off it, triangle inequality, and mesh/torus against coordinates
 * recomputed here by division. */
Test(topo, hop_properties_all_kinds)
{
    static const fos_topo_kind kinds[] = {FOS_TOPO_MESH, FOS_TOPO_TORUS, FOS_TOPO_RING,
                                          FOS_TOPO_FULL, FOS_TOPO_NUMA};

    for (size_t k = 0; k < N(kinds); k++) {
        for (uint32_t n = 1; n <= 27; n++) {
            fos_topo t;

            make(&t, kinds[k], n);
            for (uint32_t a = 0; a < n; a++) {
                for (uint32_t b = 0; b < n; b++) {
                    uint32_t h = fos_topo_hops(&t, a, b);

                    cr_assert_eq(h, fos_topo_hops(&t, b, a));
                    cr_assert_eq(h == 0, a == b, "%s n=%u %u-%u", fos_topo_kind_name(kinds[k]), n,
                                 a, b);
                    if (kinds[k] == FOS_TOPO_MESH) {
                        uint32_t dx = a % t.width > b % t.width ? a % t.width - b % t.width
                                                                : b % t.width - a % t.width;
                        uint32_t dy = a / t.width > b / t.width ? a / t.width - b / t.width
                                                                : b / t.width - a / t.width;

                        cr_assert_eq(h, dx + dy);
                    }
                    for (uint32_t c = 0; c < n; c++)
                        cr_assert_leq(fos_topo_hops(&t, a, c), h + fos_topo_hops(&t, b, c));
                }
            }
            fos_topo_fini(&t);
        }
    }
}

/* ---- latency and copy ---- */

Test(topo, copy_rounds_up)
{
    fos_costs c = {0};

    c.copy_per_byte_q8 = 64; /* a quarter cycle a byte */
    cr_expect_eq(fos_costs_copy(&c, 0), 0);
    cr_expect_eq(fos_costs_copy(&c, 1), 1);
    cr_expect_eq(fos_costs_copy(&c, 4), 1);
    cr_expect_eq(fos_costs_copy(&c, 5), 2);
    cr_expect_eq(fos_costs_copy(&c, 64), 16);
    cr_expect_eq(fos_costs_copy(&c, 4096), 1024);
    c.copy_per_byte_q8 = 256;
    cr_expect_eq(fos_costs_copy(&c, 115), 115);
    c.copy_per_byte_q8 = 1;
    cr_expect_eq(fos_costs_copy(&c, 1), 1);
    cr_expect_eq(fos_costs_copy(&c, 256), 1);
    cr_expect_eq(fos_costs_copy(&c, 257), 2);
    cr_expect_eq(fos_costs_copy(&c, 1000), 4);
    c.copy_per_byte_q8 = 3;
    cr_expect_eq(fos_costs_copy(&c, 1000), 12); /* 3000 / 256 = 11.7 */
    c.copy_per_byte_q8 = 600;
    cr_expect_eq(fos_costs_copy(&c, 300), 704); /* 180000 / 256 = 703.1 */
    c.copy_per_byte_q8 = 0;
    cr_expect_eq(fos_costs_copy(&c, 1000), 0);
    c.copy_per_byte_q8 = UINT32_MAX;
    cr_expect_eq(fos_costs_copy(&c, SIZE_MAX), FOS_CYCLES_MAX, "saturates");
    cr_expect_eq(fos_costs_copy(&c, 1u << 20), (uint64_t)UINT32_MAX << 12);
}

Test(topo, latency_tile_mesh)
{
    fos_topo t;

    make(&t, FOS_TOPO_MESH, 256);
    cr_expect_eq(fos_topo_latency(&t, 0, 1, 0), 15, "neighbour");
    cr_expect_eq(fos_topo_latency(&t, 0, 255, 0), 44, "corner to corner");
    cr_expect_eq(fos_topo_latency(&t, 0, 255, 64), 60);
    cr_expect_eq(fos_topo_latency(&t, 0, 1, 1), 16);
    cr_expect_eq(fos_topo_latency(&t, 0, 1, 3), 16);
    cr_expect_eq(fos_topo_latency(&t, 0, 1, 5), 17);
    cr_expect_eq(fos_topo_latency(&t, 3, 3, 8), 16, "to itself: trap + copy");
    cr_expect_eq(fos_topo_latency(&t, 3, 3, 0), 14);
    cr_expect_eq(fos_topo_latency(&t, 17, 34, 4096), 14 + 2 + 1024);
    fos_topo_fini(&t);
}

/* The mesh's short path (small costs) and the saturating one agree with the
 * definition, trap + hops * hop + copy, on every pair and message size. */
static fos_cycles latency_by_definition(const fos_topo *t, fos_core_id a, fos_core_id b,
                                        size_t bytes)
{
    fos_cycles wire, sum;
    if (__builtin_mul_overflow((fos_cycles)fos_topo_hops(t, a, b), t->costs.hop, &wire) ||
        __builtin_add_overflow(t->costs.trap, wire, &sum) ||
        __builtin_add_overflow(sum, fos_costs_copy(&t->costs, bytes), &sum))
        return FOS_CYCLES_MAX;
    return sum;
}

Test(topo, latency_short_path_matches_definition)
{
    static const size_t sizes[] = {0, 1, 7, 255, 256, 257, 4096, 65535, (size_t)1 << 31};
    fos_topo_params p = {.kind = FOS_TOPO_MESH, .cores = 37, .costs = tile()};
    fos_topo t;

    for (int costly = 0; costly < 3; costly++) {
        if (costly == 1) {
            /* An odd byte cost, so every rounding shows. */
            p.costs.trap = 1000;
            p.costs.hop = 3;
            p.costs.copy_per_byte_q8 = 77;
        }
        if (costly == 2) {
            /* Past the short path's bounds: the saturating path answers. */
            p.costs.trap = FOS_CYCLES_MAX / 2;
            p.costs.hop = FOS_CYCLES_MAX / 4;
            p.costs.copy_per_byte_q8 = UINT32_MAX;
        }
        cr_assert_eq(fos_topo_init(&t, &p), 0);
        for (fos_core_id a = 0; a < 37; a += 3)
            for (fos_core_id b = 0; b < 37; b++)
                for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
                    cr_expect_eq(fos_topo_latency(&t, a, b, sizes[i]),
                                 latency_by_definition(&t, a, b, sizes[i]),
                                 "%u -> %u, %zu bytes, costly %d", a, b, sizes[i], costly);
        for (size_t bytes = 0; bytes < 600; bytes++)
            cr_expect_eq(fos_topo_latency(&t, 36, 2, bytes),
                         latency_by_definition(&t, 36, 2, bytes), "%zu bytes, costly %d", bytes,
                         costly);
        if (costly == 2) cr_expect_eq(fos_topo_latency(&t, 0, 36, 1), FOS_CYCLES_MAX, "saturates");
        fos_topo_fini(&t);
    }
}

Test(topo, latency_every_kind_fos2009)
{
    fos_costs c;
    fos_topo t;
    fos_topo_params p = {.cores = 16};

    cr_assert_eq(fos_costs_preset("fos2009", &c), 0);
    p.costs = c;

    p.kind = FOS_TOPO_MESH;
    cr_assert_eq(fos_topo_init(&t, &p), 0);
    cr_expect_eq(fos_topo_latency(&t, 0, 15, 100), 9900 + 60 + 100);
    fos_topo_fini(&t);

    p.kind = FOS_TOPO_TORUS;
    cr_assert_eq(fos_topo_init(&t, &p), 0);
    cr_expect_eq(fos_topo_latency(&t, 0, 15, 100), 9900 + 20 + 100);
    fos_topo_fini(&t);

    p.kind = FOS_TOPO_RING;
    cr_assert_eq(fos_topo_init(&t, &p), 0);
    cr_expect_eq(fos_topo_latency(&t, 0, 15, 100), 9900 + 10 + 100);
    cr_expect_eq(fos_topo_latency(&t, 0, 8, 0), 9900 + 80);
    fos_topo_fini(&t);

    p.kind = FOS_TOPO_FULL;
    cr_assert_eq(fos_topo_init(&t, &p), 0);
    cr_expect_eq(fos_topo_latency(&t, 0, 15, 7), 9900 + 10 + 7);
    fos_topo_fini(&t);

    p.kind = FOS_TOPO_NUMA; /* sockets of 8, 4 hops apart */
    cr_assert_eq(fos_topo_init(&t, &p), 0);
    cr_expect_eq(fos_topo_latency(&t, 0, 15, 1), 9900 + 40 + 1);
    cr_expect_eq(fos_topo_latency(&t, 0, 7, 1), 9900 + 10 + 1);
    cr_expect_eq(fos_topo_latency(&t, 9, 9, 1), 9900 + 1);
    fos_topo_fini(&t);
}

Test(topo, fos2009_null_syscall_near_paper)
{
    /* The client's round trip of a 48-byte null request between neighbours:
     * the request's latency, the server's copy out, the reply's latency, the
     * client's copy out: 2 * (9900 + 10 + 48) + 2 * 48 = 20,012, within 0.1% of
     * the 20,031 cycles fos measured. */
    fos_costs c;
    fos_topo t;
    fos_topo_params p = {.kind = FOS_TOPO_MESH, .cores = 4};
    fos_cycles rt;

    cr_assert_eq(fos_costs_preset("fos2009", &c), 0);
    p.costs = c;
    cr_assert_eq(fos_topo_init(&t, &p), 0);
    rt = fos_topo_latency(&t, 0, 1, 48) + fos_costs_copy(&c, 48) + fos_topo_latency(&t, 1, 0, 48) +
         fos_costs_copy(&c, 48);
    cr_expect_eq(rt, 20012);
    fos_topo_fini(&t);
}

Test(costs, preset_fos2009)
{
    fos_costs c;

    cr_assert_eq(fos_costs_preset("fos2009", &c), 0);
    cr_expect_eq(c.trap, 9900);
    cr_expect_eq(c.hop, 10);
    cr_expect_eq(c.copy_per_byte_q8, 256);
    cr_expect_eq(c.ctx_switch, 300);
    cr_expect_eq(c.poll, 20);
    cr_expect_eq(c.chan_slot_write, 40);
    cr_expect_eq(c.chan_slot_read, 40);
    cr_expect_eq(c.send_timeout, 20000000);
    cr_expect_eq(c.name_lookup, 500);
    cr_expect_eq(c.name_register, 2000);
    cr_expect_eq(c.kv_apply, 1000);
    cr_expect_eq(c.dpool_op, 800);
    cr_expect_eq(c.page_touch, 1000);
    cr_expect_eq(c.spawn, 50000);
}

Test(costs, preset_unknown)
{
    fos_costs c;

    memset(&c, 0xab, sizeof(c));
    cr_expect_eq(fos_costs_preset("tilera", &c), -EINVAL);
    cr_expect_eq(fos_costs_preset("", &c), -EINVAL);
    cr_expect_eq(fos_costs_preset("TILE", &c), -EINVAL);
    cr_expect_eq(fos_costs_preset(NULL, &c), -EINVAL);
    cr_expect_eq(c.trap, 0xababababababababull, "untouched on error");
    cr_expect_null(fos_costs_preset_source("tilera"));
    cr_expect_null(fos_costs_preset_source(NULL));
}

Test(costs, preset_sources)
{
    cr_expect_not_null(strstr(fos_costs_preset_source("tile"), "15-45 cycles"));
    cr_expect_not_null(strstr(fos_costs_preset_source("fos2009"), "20,031"));
    cr_expect_not_null(strstr(fos_costs_preset_source("fos2009"), "by construction"));
    cr_expect_not_null(strstr(fos_costs_preset_source("host"), "measured"));
}

Test(costs, preset_host)
{
    fos_costs c;
    fos_topo t;
    fos_topo_params p = {.kind = FOS_TOPO_MESH, .cores = 64};
    struct timespec a, b;
    double ms;

    clock_gettime(CLOCK_MONOTONIC, &a);
    cr_assert_eq(fos_costs_preset("host", &c), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    cr_log_info("host preset in %.1f ms: trap %llu hop %llu copy_per_byte_q8 %u ctx_switch %llu "
                "poll %llu slot %llu/%llu send_timeout %llu name %llu/%llu kv %llu dpool %llu "
                "page %llu spawn %llu",
                ms, (unsigned long long)c.trap, (unsigned long long)c.hop, c.copy_per_byte_q8,
                (unsigned long long)c.ctx_switch, (unsigned long long)c.poll,
                (unsigned long long)c.chan_slot_write, (unsigned long long)c.chan_slot_read,
                (unsigned long long)c.send_timeout, (unsigned long long)c.name_lookup,
                (unsigned long long)c.name_register, (unsigned long long)c.kv_apply,
                (unsigned long long)c.dpool_op, (unsigned long long)c.page_touch,
                (unsigned long long)c.spawn);
    /* The budget is four tries of 30 ms; this only catches a wait without a
     * bound, so it leaves a loaded runner room to preempt us. */
    cr_expect_lt(ms, 2000.0);
    cr_expect_geq(c.trap, 1);
    cr_expect_geq(c.hop, 1);
    cr_expect_geq(c.copy_per_byte_q8, 1);
    /* The derivations documented in sim/costs_host.c. */
    cr_expect_eq(c.copy_per_byte_q8, c.hop);
    cr_expect_eq(c.chan_slot_write, c.hop);
    cr_expect_eq(c.chan_slot_read, c.hop);
    cr_expect_eq(c.kv_apply, c.trap);
    cr_expect_eq(c.name_register, 2 * c.trap);
    cr_expect_eq(c.spawn, 2 * (c.trap + c.hop) + 4 * c.trap);
    cr_expect_eq(c.page_touch, 2 * c.trap + fos_costs_copy(&c, 4096));
    cr_expect_geq(c.send_timeout, 1000000);
    p.costs = c;
    cr_assert_eq(fos_topo_init(&t, &p), 0, "a measured table is always usable");
    cr_expect_eq(fos_topo_lookahead(&t),
                 (c.trap < c.chan_slot_write ? c.trap : c.chan_slot_write) + c.hop);
    fos_topo_fini(&t);
}

/* ---- keys ---- */

Test(costs, key_table_order)
{
    static const char *const want[] = {
        "trap",           "hop",          "copy_per_byte",
        "ctx_switch",     "poll",         "chan_slot_write",
        "chan_slot_read", "send_timeout", "name_lookup",
        "name_register",  "kv_apply",     "dpool_op",
        "page_touch",     "spawn",
    };
    size_t i;

    for (i = 0; fos_costs_keys[i]; i++) {
        cr_assert_lt(i, N(want));
        cr_expect_str_eq(fos_costs_keys[i], want[i]);
    }
    cr_expect_eq(i, N(want));
}

Test(costs, set_get_every_key)
{
    fos_costs c;
    uint64_t v;

    memset(&c, 0, sizeof(c));
    for (size_t i = 0; fos_costs_keys[i]; i++)
        cr_assert_eq(fos_costs_set(&c, fos_costs_keys[i], 101 + i), 0, "%s", fos_costs_keys[i]);
    /* each key landed in its own field */
    cr_expect_eq(c.trap, 101);
    cr_expect_eq(c.hop, 102);
    cr_expect_eq(c.copy_per_byte_q8, 103);
    cr_expect_eq(c.ctx_switch, 104);
    cr_expect_eq(c.poll, 105);
    cr_expect_eq(c.chan_slot_write, 106);
    cr_expect_eq(c.chan_slot_read, 107);
    cr_expect_eq(c.send_timeout, 108);
    cr_expect_eq(c.name_lookup, 109);
    cr_expect_eq(c.name_register, 110);
    cr_expect_eq(c.kv_apply, 111);
    cr_expect_eq(c.dpool_op, 112);
    cr_expect_eq(c.page_touch, 113);
    cr_expect_eq(c.spawn, 114);
    for (size_t i = 0; fos_costs_keys[i]; i++) {
        cr_assert_eq(fos_costs_get(&c, fos_costs_keys[i], &v), 0);
        cr_expect_eq(v, 101 + i, "%s", fos_costs_keys[i]);
    }

    /* Full 64-bit range round-trips for the cycle fields. */
    for (size_t i = 0; fos_costs_keys[i]; i++) {
        uint64_t big = strcmp(fos_costs_keys[i], "copy_per_byte") ? UINT64_MAX - i : UINT32_MAX;

        cr_assert_eq(fos_costs_set(&c, fos_costs_keys[i], big), 0);
        cr_assert_eq(fos_costs_get(&c, fos_costs_keys[i], &v), 0);
        cr_expect_eq(v, big, "%s", fos_costs_keys[i]);
    }
}

Test(costs, get_set_errors)
{
    fos_costs c = tile();
    uint64_t v = 7;

    cr_expect_eq(fos_costs_get(&c, "traps", &v), -ENOENT);
    cr_expect_eq(fos_costs_get(&c, "copy_per_byte_q8", &v), -ENOENT);
    cr_expect_eq(fos_costs_get(&c, NULL, &v), -ENOENT);
    cr_expect_eq(v, 7);
    cr_expect_eq(fos_costs_set(&c, "Trap", 1), -ENOENT);
    cr_expect_eq(fos_costs_set(&c, "", 1), -ENOENT);
    cr_expect_eq(fos_costs_set(&c, "copy_per_byte", (uint64_t)UINT32_MAX + 1), -EINVAL);
    cr_expect_eq(c.copy_per_byte_q8, 64, "a refused set changes nothing");
    cr_expect_eq(c.trap, 14);
}
