/* The pms fleet: spawn, exit and wait; a process's status reaches its parent;
 * no two live processes share a PID, even while a member of pms or pma dies;
 * PIDs and pages all come back; the errors a caller can make are named. */
#include <criterion/criterion.h>
#include <errno.h>

#include "fos/fos.h"
#include "tests/harness.h"
#include "tests/params.h"

#define PIDS 64
static const fos_core_id pma_core[2] = {1, 9};
static const fos_core_id pms_core[2] = {6, 14};

static uint64_t live[PIDS / 64 + 1];
static int dup_pids, bad_pages;

static int child_main(const fos_proc *p)
{
    uint64_t bit = 1ull << (p->pid % 64);
    if (__atomic_fetch_or(&live[p->pid / 64], bit, __ATOMIC_RELAXED) & bit)
        __atomic_fetch_add(&dup_pids, 1, __ATOMIC_RELAXED);
    if (p->npages != (uint32_t)(p->arg >> 8)) __atomic_fetch_add(&bad_pages, 1, __ATOMIC_RELAXED);
    fos_compute(2000);
    __atomic_fetch_and(&live[p->pid / 64], ~bit, __ATOMIC_RELAXED);
    return (int)(p->arg & 0xff);
}

typedef struct fleets {
    sim *s;
    sim_fleet *pma, *pms;
    test_params pp, sp;
} fleets;

static void boot(fleets *f, uint32_t pids)
{
    cr_assert_eq(fos_pms_program("child", child_main), 0);
    f->s = make_sim(16);
    test_params_init(&f->pp, fos_pma_fleet.params);
    test_param_u64(&f->pp, "memory", 1024 * FOS_PAGE_BYTES);
    test_params_init(&f->sp, fos_pms_fleet.params);
    test_param_u64(&f->sp, "pids", pids);
    cr_assert_eq(sim_fleet_start(f->s, &fos_pma_fleet, pma_core, 2, &f->pp.p, &f->pma), 0);
    cr_assert_eq(sim_fleet_start(f->s, &fos_pms_fleet, pms_core, 2, &f->sp.p, &f->pms), 0);
    memset(live, 0, sizeof live);
    dup_pids = bad_pages = 0;
}

static void done(fleets *f)
{
    sim_fleet_free(f->pma);
    sim_fleet_free(f->pms);
    sim_destroy(f->s);
}

/* ---- many parents, many children ----------------------------------------------------- */

static int statuses_wrong, failures;

static void parent(void *arg)
{
    uintptr_t me = (uintptr_t)arg;
    fos_pms_client c;
    cr_assert_eq(fos_pms_open(&c), 0);
    for (int round = 0; round < 6; round++) {
        fos_pms_child kids[5];
        for (int k = 0; k < 5; k++) {
            uint32_t pages = (uint32_t)(k % 3);
            uint64_t arg8 = (uint64_t)pages << 8 | (me * 16 + (uint64_t)k);
            fos_core_id where = (fos_core_id)((me + (uintptr_t)k) % 16);
            if (fos_pms_spawn(&c, "child", arg8, where, pages, 0, &kids[k])) failures++;
        }
        for (int k = 0; k < 5; k++) {
            int st = -1;
            if (fos_pms_wait(&kids[k], &st, FOS_CYCLES_MAX)) failures++;
            if (st != (int)(me * 16 + (uint64_t)k)) statuses_wrong++;
        }
    }
}

Test(pms, spawn_exit_wait_and_unique_pids)
{
    fleets f;
    statuses_wrong = failures = 0;
    boot(&f, PIDS);
    const fos_core_id parents[6] = {0, 3, 5, 10, 12, 15};
    for (uintptr_t i = 0; i < 6; i++)
        cr_assert_eq(sim_spawn(f.s, parents[i], parent, (void *)i, "parent", false), 0);
    run_ok(f.s);
    cr_expect_eq(failures, 0);
    cr_expect_eq(statuses_wrong, 0);
    cr_expect_eq(dup_pids, 0, "%d PIDs held by two live processes", dup_pids);
    cr_expect_eq(bad_pages, 0);
    cr_expect_eq(test_counter_sum(f.pms, 2, "spawned"), 180);
    cr_expect_eq(test_counter_sum(f.pms, 2, "reaped"), 180);
    cr_expect_eq(test_counter_sum(f.pms, 2, "pids_local"), PIDS, "every PID is back");
    cr_expect_eq(test_counter_sum(f.pma, 2, "local"), 1024, "every page is back");
    done(&f);
}

/* ---- what a caller can get wrong ------------------------------------------------------ */

static int no_prog, no_core, twice, other_wait, out_of_pids, detached_wait, st_first, forged_pid;

static void stranger(void *arg)
{
    fos_pms_child *kid = arg;
    other_wait = fos_pms_wait(kid, NULL, FOS_CYCLES_MAX);
}

static void misuser(void *arg)
{
    (void)arg;
    fos_pms_client c;
    cr_assert_eq(fos_pms_open(&c), 0);
    fos_pms_child k, kids[4];
    /* A PID put back through the pool's generic RPC would be handed out twice. */
    uint32_t pid = 1;
    forged_pid = fos_dpool_put_at(c.addr, c.cap, &pid, 1, 4, FOS_CYCLES_MAX);
    no_prog = fos_pms_spawn(&c, "nosuch", 0, FOS_CORE_NONE, 0, 0, &k);
    no_core = fos_pms_spawn(&c, "child", 0, 999, 0, 0, &k);
    cr_assert_eq(fos_pms_spawn(&c, "child", 7, FOS_CORE_NONE, 0, 0, &k), 0);
    /* Another core is not its parent. */
    static fos_pms_child shared;
    shared = k;
    fos_spawn(4, stranger, &shared);
    fos_sleep(50000);
    cr_assert_eq(fos_pms_wait(&k, &st_first, FOS_CYCLES_MAX), 0);
    twice = fos_pms_wait(&k, NULL, FOS_CYCLES_MAX);
    /* 4 PIDs: the fifth spawn finds none. */
    for (int i = 0; i < 4; i++)
        cr_assert_eq(fos_pms_spawn(&c, "child", 0, FOS_CORE_NONE, 0, 0, &kids[i]), 0);
    out_of_pids = fos_pms_spawn(&c, "child", 0, FOS_CORE_NONE, 0, 0, &k);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(fos_pms_wait(&kids[i], NULL, FOS_CYCLES_MAX), 0);
    cr_assert_eq(fos_pms_spawn(&c, "child", 0, FOS_CORE_NONE, 0, FOS_PMS_DETACHED, &k), 0);
    detached_wait = fos_pms_wait(&k, NULL, FOS_CYCLES_MAX);
    fos_sleep(50000); /* it exits: its PID comes back by itself */
}

Test(pms, errors_are_named)
{
    fleets f;
    boot(&f, 4);
    cr_assert_eq(sim_spawn(f.s, 0, misuser, NULL, "misuser", false), 0);
    run_ok(f.s);
    cr_expect_eq(forged_pid, -ENOSYS);
    cr_expect_eq(no_prog, -ENOENT);
    cr_expect_eq(no_core, -EINVAL);
    cr_expect_eq(other_wait, -ECHILD);
    cr_expect_eq(st_first, 7);
    cr_expect_eq(twice, -ECHILD);
    cr_expect_eq(out_of_pids, -EAGAIN);
    cr_expect_eq(detached_wait, -ECHILD);
    cr_expect_eq(test_counter_sum(f.pms, 2, "pids_local"), 4);
    done(&f);
}

static int other_main(const fos_proc *p)
{
    (void)p;
    return 0;
}

Test(pms, programs)
{
    cr_expect_eq(fos_pms_program("child", child_main), 0, "the same again is no error");
    cr_expect_eq(fos_pms_program("child", other_main), -EEXIST);
    cr_expect_eq(fos_pms_program("", child_main), -EINVAL);
}

/* ---- a core that dies ------------------------------------------------------------------ */

static int sleeper_main(const fos_proc *p)
{
    fos_sleep(p->arg);
    return 5;
}

static int killed_status, killed_wait, orphan_spawn, dead_spawn;

/* Its child on core 5 is killed with its core; the parent's wait says so. */
static void bereaved(void *arg)
{
    (void)arg;
    fos_pms_client c;
    cr_assert_eq(fos_pms_open(&c), 0);
    fos_pms_child k, d;
    cr_assert_eq(fos_pms_spawn(&c, "sleeper", 1000000, 5, 3, 0, &k), 0);
    cr_assert_eq(fos_pms_spawn(&c, "sleeper", 1000000, 5, 2, FOS_PMS_DETACHED, &d), 0);
    killed_status = 0;
    killed_wait = fos_pms_wait(&k, &killed_status, 10000000);
    fos_sleep(10000);
    dead_spawn = fos_pms_spawn(&c, "sleeper", 10, 5, 0, 0, &k);
    fos_sleep(500000); /* past the orphan's end */
}

/* Dies (with core 7) before its child on core 8 ends: nobody waits for the
 * child, and its PID comes back all the same. */
static void orphaner(void *arg)
{
    (void)arg;
    fos_pms_client c;
    cr_assert_eq(fos_pms_open(&c), 0);
    fos_pms_child k;
    orphan_spawn = fos_pms_spawn(&c, "sleeper", 300000, 8, 1, 0, &k);
    fos_sleep(1000000);
}

Test(pms, a_dead_core_kills_its_processes_and_orphans_are_reaped)
{
    fleets f;
    cr_assert_eq(fos_pms_program("sleeper", sleeper_main), 0);
    boot(&f, PIDS);
    cr_assert_eq(sim_spawn(f.s, 0, bereaved, NULL, "bereaved", false), 0);
    cr_assert_eq(sim_spawn(f.s, 7, orphaner, NULL, "orphaner", false), 0);
    cr_assert_eq(sim_kill_core(f.s, 5, 100000), 0);
    cr_assert_eq(sim_kill_core(f.s, 7, 100000), 0);
    sim_run(f.s);
    cr_expect_eq(killed_wait, 0);
    cr_expect_eq(killed_status, -EHOSTDOWN);
    cr_expect_eq(dead_spawn, -EHOSTDOWN);
    cr_expect_eq(orphan_spawn, 0);
    cr_expect_eq(test_counter_sum(f.pms, 2, "killed"), 2);
    cr_expect_eq(test_counter_sum(f.pms, 2, "reaped"), 3);
    cr_expect_eq(test_counter_sum(f.pms, 2, "pids_local"), PIDS, "every PID is back");
    cr_expect_eq(test_counter_sum(f.pma, 2, "local"), 1024, "every page is back");
    done(&f);
}

/* ---- a member of either fleet dies while parents spawn ------------------------------ */

static int sk_fail;

/* A parent that goes to the nearest pms member left when a spawn fails; its
 * children run on cores that are never killed, so that each ends and clears
 * its PID. */
static void kparent(void *arg)
{
    uintptr_t me = (uintptr_t)arg;
    fos_pms_client c;
    if (fos_pms_open(&c)) return;
    for (int round = 0; round < 6; round++) {
        fos_pms_child kids[5];
        int ok[5] = {0};
        for (int k = 0; k < 5; k++) {
            uint32_t pages = (uint32_t)(k % 3);
            uint64_t arg8 = (uint64_t)pages << 8 | (me * 16 + (uint64_t)k);
            static const fos_core_id safe[8] = {0, 2, 3, 4, 5, 7, 8, 10};
            fos_core_id where = safe[(me + (uintptr_t)k) % 8];
            ok[k] = fos_pms_spawn(&c, "child", arg8, where, pages, 0, &kids[k]) == 0;
            if (!ok[k]) {
                sk_fail++;
                fos_pms_client c2;
                if (fos_pms_open(&c2) == 0) c = c2;
            }
        }
        for (int k = 0; k < 5; k++) {
            int st = -1;
            if (ok[k] && fos_pms_wait(&kids[k], &st, 5000000)) sk_fail++;
        }
    }
}

/* A pms member (core 6) or a pma member (core 1) is killed at a time swept
 * across six parents' spawns: the run ends, and no PID is ever held by two
 * live processes. */
Test(pms, a_member_that_dies_never_makes_a_pid_live_twice, .timeout = 120)
{
    const fos_core_id victims[2] = {6, 1};
    for (int v = 0; v < 2; v++)
        for (fos_cycles at = 1000; at <= 300000; at += 9999) {
            fleets f;
            boot(&f, PIDS);
            sk_fail = 0;
            const fos_core_id parents[6] = {0, 3, 5, 10, 12, 15};
            for (uintptr_t i = 0; i < 6; i++)
                cr_assert_eq(sim_spawn(f.s, parents[i], kparent, (void *)i, "parent", false), 0);
            cr_assert_eq(sim_kill_core(f.s, victims[v], at), 0);
            int r = sim_run(f.s);
            cr_expect_eq(r, 0, "victim %u at %llu: run %d", victims[v], (unsigned long long)at, r);
            cr_expect_eq(dup_pids, 0, "victim %u at %llu: %d dup pids", victims[v],
                         (unsigned long long)at, dup_pids);
            done(&f);
        }
}
