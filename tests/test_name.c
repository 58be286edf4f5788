/* Names: the bootstrap directory, each core's cache, registration from fibers,
 * errors, and a stale cache entry refreshed on use. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "fos/fos.h"
#include "tests/harness.h"

typedef struct {
    fos_msg h;
    uint64_t v;
} small_msg;

static bool addr_eq(fos_addr a, fos_addr b)
{
    return a.core == b.core && a.id == b.id;
}

/* ---- the bootstrap directory and the cache ---- */

typedef struct {
    fos_mbox *box;
    fos_addr addr;
    fos_cap cap;
    fos_addr got1, got2;
    fos_cap cap1, cap2;
    int r1, r2, rs, rr;
    fos_cycles t0, t1, t2;
    uint64_t v;
} boot_state;

static void boot_client(void *arg)
{
    boot_state *st = arg;
    small_msg m = {.h = {.len = sizeof(uint64_t)}, .v = 4242};

    fos_compute(10);
    st->t0 = fos_now();
    st->r1 = fos_name_lookup("/sys/echo", &st->got1, &st->cap1);
    st->t1 = fos_now();
    st->r2 = fos_name_lookup("/sys/echo", &st->got2, &st->cap2);
    st->t2 = fos_now();
    st->rs = fos_send(st->got2, st->cap2, &m.h);
}

static void boot_server(void *arg)
{
    boot_state *st = arg;
    small_msg m;

    st->rr = fos_recv(st->box, &m.h, sizeof m, FOS_CYCLES_MAX);
    st->v = m.v;
}

Test(name, bootstrap_lookup_fills_cache)
{
    sim *s = make_sim(16);
    boot_state st = {0};
    const fos_topo *t = sim_topo(s);

    cr_assert_eq(sim_mbox_create(s, 5, 4, &st.box, &st.addr, &st.cap), 0);
    cr_assert_eq(sim_dir_register(s, "/sys/echo", st.addr, st.cap), 0);
    cr_assert_eq(sim_spawn(s, 9, boot_client, &st, "client", false), 0);
    cr_assert_eq(sim_spawn(s, 5, boot_server, &st, "server", false), 0);
    run_ok(s);
    cr_expect_eq(st.r1, 0, "first lookup gave %d", st.r1);
    cr_expect(addr_eq(st.got1, st.addr), "first lookup gave %u:%#x, want %u:%#x", st.got1.core,
              st.got1.id, st.addr.core, st.addr.id);
    cr_expect_eq(st.cap1, st.cap);
    /* The miss asks the directory (core 0): at least a round trip from core 9. */
    cr_expect_geq(st.t1, st.t0 + fos_topo_latency(t, 9, 0, 0) + fos_topo_latency(t, 0, 9, 0),
                  "the miss took %llu cycles", (unsigned long long)(st.t1 - st.t0));
    cr_expect_eq(st.r2, 0);
    cr_expect(addr_eq(st.got2, st.addr));
    cr_expect_eq(st.cap2, st.cap);
    /* A hit asks nobody: no simulated time passes (on real threads, some does). */
    VIRTUAL_ONLY cr_expect_eq(st.t2, st.t1, "a cached lookup took %llu cycles",
                              (unsigned long long)(st.t2 - st.t1));
    cr_expect_eq(st.rs, 0);
    cr_expect_eq(st.rr, 0);
    cr_expect_eq(st.v, 4242);
    sim_destroy(s);
}

/* ---- registering from a fiber ---- */

typedef struct {
    fos_addr reg_addr, got;
    fos_cap reg_cap, got_cap;
    int r_create, r_reg, r_look, r_send, r_recv;
    fos_cycles reg_done, look_start;
    fos_mbox *box;
    uint64_t v;
} reg_state;

static void registrar(void *arg)
{
    reg_state *st = arg;
    small_msg m;

    st->r_create = fos_mbox_create(4, &st->box, &st->reg_cap);
    if (st->r_create != 0) return;
    st->reg_addr = fos_mbox_addr(st->box);
    st->r_reg = fos_name_register("/svc/kv", st->reg_addr, st->reg_cap);
    st->reg_done = fos_now();
    st->r_recv = fos_recv(st->box, &m.h, sizeof m, FOS_CYCLES_MAX);
    st->v = m.v;
}

static void late_client(void *arg)
{
    reg_state *st = arg;
    small_msg m = {.h = {.len = sizeof(uint64_t)}, .v = 77};

    /* Well after the registration has reached the directory. */
    fos_sleep(3000);
    st->look_start = fos_now();
    st->r_look = fos_name_lookup("/svc/kv", &st->got, &st->got_cap);
    if (st->r_look == 0) st->r_send = fos_send(st->got, st->got_cap, &m.h);
}

Test(name, register_then_lookup_elsewhere, VIRTUAL_TIMING)
{
    sim *s = make_sim(16);
    reg_state st = {0};

    cr_assert_eq(sim_spawn(s, 3, registrar, &st, "registrar", false), 0);
    cr_assert_eq(sim_spawn(s, 12, late_client, &st, "client", false), 0);
    run_ok(s);
    cr_assert_eq(st.r_create, 0);
    cr_expect_eq(st.reg_addr.core, 3);
    cr_expect_eq(st.r_reg, 0, "register gave %d", st.r_reg);
    cr_expect_lt(st.reg_done, st.look_start);
    cr_expect_eq(st.r_look, 0, "lookup gave %d", st.r_look);
    cr_expect(addr_eq(st.got, st.reg_addr));
    cr_expect_eq(st.got_cap, st.reg_cap);
    cr_expect_eq(st.r_send, 0);
    cr_expect_eq(st.r_recv, 0);
    cr_expect_eq(st.v, 77);
    sim_destroy(s);
}

/* ---- errors ---- */

typedef struct {
    int unknown, too_long, empty, null_name, reg_long, reg_empty, reg_nowhere, reg_none,
        longest_reg, longest_look;
    int unreg_unknown, send_unknown;
    fos_addr longest_addr;
} err_state;

static void err_fiber(void *arg)
{
    err_state *st = arg;
    char too_long[FOS_NAME_MAX + 1];
    char longest[FOS_NAME_MAX];
    fos_addr a;
    fos_cap cap;
    small_msg m = {.h = {.len = sizeof(uint64_t)}};

    memset(too_long, 'x', FOS_NAME_MAX);
    too_long[0] = '/';
    too_long[FOS_NAME_MAX] = '\0'; /* FOS_NAME_MAX characters: no room for the NUL */
    memset(longest, 'y', FOS_NAME_MAX - 1);
    longest[0] = '/';
    longest[FOS_NAME_MAX - 1] = '\0'; /* the longest that fits */

    st->unknown = fos_name_lookup("/no/such/name", &a, &cap);
    st->too_long = fos_name_lookup(too_long, &a, &cap);
    st->empty = fos_name_lookup("", &a, &cap);
    st->null_name = fos_name_lookup(NULL, &a, &cap);
    st->reg_long = fos_name_register(too_long, (fos_addr){1, 1}, 1);
    st->reg_empty = fos_name_register("", (fos_addr){1, 1}, 1);
    st->reg_nowhere = fos_name_register("/nowhere", (fos_addr){fos_core_count(), 1}, 1);
    st->reg_none = fos_name_register("/none", FOS_ADDR_NONE, 1);
    st->longest_reg = fos_name_register(longest, (fos_addr){1, 5}, 9);
    fos_name_invalidate(longest);
    st->longest_look = fos_name_lookup(longest, &st->longest_addr, &cap);
    st->unreg_unknown = fos_name_unregister("/never/registered");
    st->send_unknown = fos_send_name("/no/such/name", &m.h);
}

Test(name, errors)
{
    sim *s = make_sim(4);
    err_state st = {0};

    cr_assert_eq(sim_spawn(s, 2, err_fiber, &st, "errors", false), 0);
    run_ok(s);
    cr_expect_eq(st.unknown, -ENOENT, "unknown name gave %d", st.unknown);
    cr_expect_eq(st.too_long, -ENAMETOOLONG, "a %d-char name gave %d", FOS_NAME_MAX, st.too_long);
    cr_expect_eq(st.empty, -EINVAL, "empty name gave %d", st.empty);
    cr_expect_eq(st.null_name, -EINVAL, "NULL name gave %d", st.null_name);
    cr_expect_eq(st.reg_long, -ENAMETOOLONG, "registering a %d-char name gave %d", FOS_NAME_MAX,
                 st.reg_long);
    cr_expect_eq(st.reg_empty, -EINVAL);
    cr_expect_eq(st.reg_nowhere, -EINVAL, "an address on no core: %d", st.reg_nowhere);
    cr_expect_eq(st.reg_none, -EINVAL, "FOS_ADDR_NONE: %d", st.reg_none);
    cr_expect_eq(st.longest_reg, 0, "a %d-char name gave %d", FOS_NAME_MAX - 1, st.longest_reg);
    cr_expect_eq(st.longest_look, 0);
    cr_expect(addr_eq(st.longest_addr, (fos_addr){1, 5}));
    cr_expect_eq(st.unreg_unknown, -ENOENT);
    cr_expect_eq(st.send_unknown, -ENOENT);
    sim_destroy(s);
}

Test(name, dir_register_checks_names)
{
    sim *s = make_sim(4);
    char too_long[FOS_NAME_MAX + 1];

    memset(too_long, 'z', FOS_NAME_MAX);
    too_long[FOS_NAME_MAX] = '\0';
    cr_expect_eq(sim_dir_register(s, too_long, (fos_addr){1, 1}, 1), -ENAMETOOLONG);
    cr_expect_eq(sim_dir_register(s, "", (fos_addr){1, 1}, 1), -EINVAL);
    cr_expect_eq(sim_dir_register(s, NULL, (fos_addr){1, 1}, 1), -EINVAL);
    cr_expect_eq(sim_dir_register(s, "/ok", (fos_addr){1, 1}, 1), 0);
    sim_destroy(s);
}

/* ---- a stale cache entry is refreshed on use ---- */

typedef struct {
    fos_mbox *old_box, *new_box;
    fos_addr old_addr, new_addr;
    fos_cap old_cap, new_cap;
    int r_first, r_second, r_old_recv, r_new_recv, r_reg1, r_reg2, r_destroy;
    uint64_t old_v, new_v;
    fos_cycles rebound_at, second_at;
} stale_state;

static void stale_server(void *arg)
{
    stale_state *st = arg;
    small_msg m;

    cr_assert_eq(fos_mbox_create(4, &st->old_box, &st->old_cap), 0);
    st->old_addr = fos_mbox_addr(st->old_box);
    st->r_reg1 = fos_name_register("/svc", st->old_addr, st->old_cap);
    st->r_old_recv = fos_recv(st->old_box, &m.h, sizeof m, FOS_CYCLES_MAX);
    st->old_v = m.v;
    /* Move: a new mailbox (in the same slot, with a new generation and a new
     * capability) bound to the same name. */
    st->r_destroy = fos_mbox_destroy(st->old_box);
    cr_assert_eq(fos_mbox_create(4, &st->new_box, &st->new_cap), 0);
    st->new_addr = fos_mbox_addr(st->new_box);
    st->r_reg2 = fos_name_register("/svc", st->new_addr, st->new_cap);
    st->rebound_at = fos_now();
    st->r_new_recv = fos_recv(st->new_box, &m.h, sizeof m, FOS_CYCLES_MAX);
    st->new_v = m.v;
}

static void stale_client(void *arg)
{
    stale_state *st = arg;
    small_msg m = {.h = {.len = sizeof(uint64_t)}};

    fos_sleep(2000); /* the first registration is in */
    m.v = 1;
    st->r_first = fos_send_name("/svc", &m.h);
    fos_sleep(5000); /* and the move is done */
    m.v = 2;
    st->second_at = fos_now();
    st->r_second = fos_send_name("/svc", &m.h);
}

Test(name, stale_entry_refreshed, VIRTUAL_TIMING)
{
    sim *s = make_sim(16);
    stale_state st = {0};

    cr_assert_eq(sim_spawn(s, 6, stale_server, &st, "server", false), 0);
    cr_assert_eq(sim_spawn(s, 13, stale_client, &st, "client", false), 0);
    run_ok(s);
    cr_expect_eq(st.r_reg1, 0);
    cr_expect_eq(st.r_first, 0, "first send_name gave %d", st.r_first);
    cr_expect_eq(st.r_old_recv, 0);
    cr_expect_eq(st.old_v, 1);
    cr_expect_eq(st.r_destroy, 0);
    cr_expect_eq(st.r_reg2, 0);
    cr_expect(!addr_eq(st.old_addr, st.new_addr), "the new mailbox has the old address");
    cr_expect_lt(st.rebound_at, st.second_at);
    cr_expect_eq(st.r_second, 0, "send_name through a stale entry gave %d", st.r_second);
    cr_expect_eq(st.r_new_recv, 0);
    cr_expect_eq(st.new_v, 2, "the new mailbox got %llu", (unsigned long long)st.new_v);
    sim_destroy(s);
}

typedef struct {
    fos_mbox *box;
    fos_cap cap;
    int r_first, r_second;
} gone_state;

static void gone_server(void *arg)
{
    gone_state *st = arg;
    small_msg m;

    cr_assert_eq(fos_mbox_create(4, &st->box, &st->cap), 0);
    cr_assert_eq(fos_name_register("/gone", fos_mbox_addr(st->box), st->cap), 0);
    cr_assert_eq(fos_recv(st->box, &m.h, sizeof m, FOS_CYCLES_MAX), 0);
    /* Gone for good, but still bound in the directory. */
    cr_assert_eq(fos_mbox_destroy(st->box), 0);
}

static void gone_client(void *arg)
{
    gone_state *st = arg;
    small_msg m = {.h = {.len = sizeof(uint64_t)}};

    fos_sleep(2000);
    st->r_first = fos_send_name("/gone", &m.h);
    fos_sleep(5000);
    st->r_second = fos_send_name("/gone", &m.h);
}

Test(name, stale_entry_directory_agrees, VIRTUAL_TIMING)
{
    sim *s = make_sim(16);
    gone_state st = {0};

    cr_assert_eq(sim_spawn(s, 6, gone_server, &st, "server", false), 0);
    cr_assert_eq(sim_spawn(s, 13, gone_client, &st, "client", false), 0);
    run_ok(s);
    cr_expect_eq(st.r_first, 0);
    /* The refresh finds the same binding: the failure is real. */
    cr_expect_eq(st.r_second, -ENOENT, "gave %d", st.r_second);
    sim_destroy(s);
}

/* ---- unregistering ---- */

typedef struct {
    int r_reg, r_look1, r_unreg, r_look2, r_other, r_unreg2;
} unreg_state;

static void unreg_fiber(void *arg)
{
    unreg_state *st = arg;
    fos_addr a;
    fos_cap cap;

    st->r_reg = fos_name_register("/svc/x", (fos_addr){2, 3}, 99);
    st->r_look1 = fos_name_lookup("/svc/x", &a, &cap); /* now cached here */
    st->r_unreg = fos_name_unregister("/svc/x");
    st->r_look2 = fos_name_lookup("/svc/x", &a, &cap);
    st->r_unreg2 = fos_name_unregister("/svc/x");
}

static void unreg_other(void *arg)
{
    unreg_state *st = arg;
    fos_addr a;
    fos_cap cap;

    fos_sleep(5000);
    st->r_other = fos_name_lookup("/svc/x", &a, &cap);
}

Test(name, unregister_then_lookup, VIRTUAL_TIMING)
{
    sim *s = make_sim(16);
    unreg_state st = {0};

    cr_assert_eq(sim_spawn(s, 1, unreg_fiber, &st, "unreg", false), 0);
    cr_assert_eq(sim_spawn(s, 14, unreg_other, &st, "other", false), 0);
    run_ok(s);
    cr_expect_eq(st.r_reg, 0);
    cr_expect_eq(st.r_look1, 0);
    cr_expect_eq(st.r_unreg, 0);
    cr_expect_eq(st.r_look2, -ENOENT, "lookup after unregister gave %d", st.r_look2);
    cr_expect_eq(st.r_unreg2, -ENOENT);
    cr_expect_eq(st.r_other, -ENOENT, "lookup from another core gave %d", st.r_other);
    sim_destroy(s);
}

/* ---- many names ---- */

typedef struct {
    int bad_reg, bad_look, bad_val;
} bulk_state;

static void bulk(void *arg)
{
    bulk_state *st = arg;
    char name[32];

    /* Enough to make both the directory's table and the cache grow. */
    for (uint32_t i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "/bulk/%u", i);
        if (fos_name_register(name, (fos_addr){i % 4, i}, 1000 + i) != 0) st->bad_reg++;
    }
    for (uint32_t i = 0; i < 100; i += 2) {
        snprintf(name, sizeof name, "/bulk/%u", i);
        if (fos_name_unregister(name) != 0) st->bad_reg++;
    }
    for (uint32_t i = 0; i < 100; i++) {
        fos_addr a;
        fos_cap cap;

        snprintf(name, sizeof name, "/bulk/%u", i);
        int r = fos_name_lookup(name, &a, &cap);
        if (r != (i % 2 ? 0 : -ENOENT))
            st->bad_look++;
        else if (r == 0 && (a.core != i % 4 || a.id != i || cap != 1000 + i))
            st->bad_val++;
    }
}

Test(name, many_names)
{
    sim *s = make_sim(4);
    bulk_state st = {0};

    cr_assert_eq(sim_spawn(s, 3, bulk, &st, "bulk", false), 0);
    run_ok(s);
    cr_expect_eq(st.bad_reg, 0);
    cr_expect_eq(st.bad_look, 0);
    cr_expect_eq(st.bad_val, 0);
    sim_destroy(s);
}
