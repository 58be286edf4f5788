/* The runs of fleet_sweep (see fleet_chaos.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fos/fault.h"
#include "fos/fos.h"
#include "bench/fleet_chaos.h"

#define MEMBERS FLEET_CHAOS_MEMBERS
#define JOINERS_MAX 6
#define TABLE FLEET_CHAOS_CORES

static const fos_core_id member_core[MEMBERS] = {3, 5, 9, 12};
static const fos_core_id joiner_core[JOINERS_MAX] = {13, 14, 15, 1, 2, 4};

const fleet_chaos_scenario fleet_chaos_scenarios[] = {
    {"kills", "a member or joiner killed, slow hooks, failing hand-overs", 3, false, false, false,
     false, 0, 1},
    {"leaves", "as kills, and a member leaves", 3, true, false, false, false, 0, 400001},
    {"delays", "as kills, and joins, adds and gones delayed up to 25 M cycles", 4, false, true,
     false, false, 0, 700001},
    {"reply_delays", "as delays, confirms and answers too", 4, false, true, true, false, 0, 900001},
    {"reply_delays_one_fiber", "as reply_delays, each member with one server fiber", 4, false, true,
     true, false, 1, 910001},
    {"drops", "as kills, and joins, adds, gones and confirms lost (5 to 30%)", 4, false, true,
     false, true, 0, 1100001},
};
const int fleet_chaos_nscenarios =
    (int)(sizeof fleet_chaos_scenarios / sizeof fleet_chaos_scenarios[0]);

/* The run's choices: a linear congruential stream from the scenario's seed. */
static uint64_t g_rng;
static uint32_t pick(uint32_t n)
{
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return n ? (uint32_t)((g_rng >> 33) % n) : 0;
}

/* What the fleet's hooks read: set before each run. */
static struct {
    int fail_outs; /* hand-overs still to fail */
    uint32_t slow_member[2], slow_on[2];
    fos_cycles slow_for[2];
    fos_fleet *member[TABLE]; /* by member number, from init */
} g;

typedef struct sw_state {
    uint64_t value;
} sw_state;

static int sw_init(fos_fleet *f, void *state)
{
    (void)state;
    uint32_t self = fos_fleet_self(f);
    if (self < TABLE) g.member[self] = f;
    return 0;
}

static int sw_out(fos_fleet *f, void *state, void *buf, size_t cap, size_t *len)
{
    (void)f;
    if (g.fail_outs > 0) {
        g.fail_outs--;
        return -EIO;
    }
    if (cap < sizeof(uint64_t)) return -ENOSPC;
    memcpy(buf, &((sw_state *)state)->value, sizeof(uint64_t));
    *len = sizeof(uint64_t);
    return 0;
}

static int sw_in(fos_fleet *f, void *state, const void *buf, size_t len)
{
    (void)f;
    if (len != sizeof(uint64_t)) return -EBADMSG;
    memcpy(&((sw_state *)state)->value, buf, len);
    return 0;
}

static void sw_membership(fos_fleet *f, void *state, uint32_t m, bool present)
{
    (void)state;
    for (int k = 0; k < 2; k++)
        if (present && fos_fleet_self(f) == g.slow_member[k] && m == g.slow_on[k])
            fos_sleep(g.slow_for[k]);
}

static fos_fleet_ops g_ops = {
    .name = "sweep",
    .summary = "the fleet of fleet_sweep",
    .state_bytes = sizeof(sw_state),
    .init = sw_init,
    .state_out = sw_out,
    .state_in = sw_in,
    .membership = sw_membership,
};

typedef struct joiner {
    fos_cycles start, leave_after;
    int r;
    uint32_t self;
    bool done, left;
} joiner;

static void join_fiber(void *arg)
{
    joiner *j = arg;
    fos_sleep(j->start);
    fos_fleet *f;
    j->r = fos_fleet_join(&g_ops, NULL, &f);
    j->done = true;
    if (j->r == 0) {
        j->self = fos_fleet_self(f);
        if (j->leave_after) {
            fos_sleep(j->leave_after);
            j->left = fos_fleet_leave(f) == 0;
        }
    }
    /* The run goes on until late news is in: with 1.5e9 cycles, one more
     * run of reply_delays_one_fiber still disagreed, its news on the way. */
    fos_sleep(4000000000);
}

typedef struct leaver {
    uint32_t who;
    fos_cycles at;
    int r;
} leaver;

static void leave_fiber(void *arg)
{
    leaver *l = arg;
    fos_sleep(l->at);
    l->r = g.member[l->who] ? fos_fleet_leave(g.member[l->who]) : -ENOENT;
}

static int err_slot(int r)
{
    return r == -EIO ? 0 : r == -ENOENT ? 1 : r == -ETIMEDOUT ? 2 : r == -ESTALE ? 3 : 4;
}

int fleet_chaos_run(const fleet_chaos_scenario *sc, int it, fleet_chaos_tally *t)
{
    g_rng = sc->seed + (uint64_t)it * 7919;
    memset(&g, 0, sizeof g);
    g.fail_outs = (int)pick(3) - 1;
    for (int k = 0; k < 2; k++) {
        g.slow_member[k] = pick(MEMBERS + 1); /* MEMBERS: a joiner, or none */
        g.slow_on[k] = MEMBERS + pick((uint32_t)sc->joiners);
        g.slow_for[k] = (fos_cycles)pick(30) * 1000000;
    }
    g_ops.fibers = sc->fibers;
    sim_config cfg;
    sim_config_default(&cfg);
    cfg.chip.cores = TABLE;
    sim *s;
    if (sim_create(&cfg, &s) != 0) return -1;
    sim_fleet *fl;
    if (sim_fleet_start(s, &g_ops, member_core, MEMBERS, NULL, &fl) != 0) {
        sim_destroy(s);
        return -1;
    }
    joiner j[JOINERS_MAX] = {{0}};
    int rc = 0;
    for (int k = 0; k < sc->joiners; k++) {
        j[k].start = 20000 + pick(4000000);
        j[k].leave_after = pick(3) == 0 ? 1 + pick(3000000) : 0;
        rc |= sim_spawn(s, joiner_core[k], join_fiber, &j[k], "joiner", false);
    }
    leaver lv = {MEMBERS, 0, 1};
    if (sc->leaves) {
        lv.who = pick(MEMBERS + 1);
        lv.at = 20000 + pick(5000000);
        if (lv.who < MEMBERS)
            rc |= sim_spawn(s, member_core[lv.who], leave_fiber, &lv, "leaver", false);
    }
    if (sc->delays) {
        fos_core_id all[MEMBERS + JOINERS_MAX];
        uint32_t nall = MEMBERS + (uint32_t)sc->joiners;
        memcpy(all, member_core, sizeof member_core);
        memcpy(all + MEMBERS, joiner_core, sizeof joiner_core);
        /* join, add, gone; with reply_delays also confirm (twice as likely)
         * and every successful answer (the reply bit, no error). */
        const uint32_t types[] = {0x7fff0002, 0x7fff0003, 0x7fff0004};
        const uint32_t reply_types[] = {0x7fff0002, 0x7fff0003, 0x7fff0005, 0x7fff0005,
                                        0x80000000u};
        int rules = 1 + (int)pick(3);
        for (int q = 0; q < rules; q++) {
            sim_match m = {all[pick(nall)], all[pick(nall)],
                           sc->reply_delays ? reply_types[pick(5)] : types[pick(3)], false};
            if (pick(3) == 0) m.src = FOS_CORE_NONE;
            if (pick(3) == 0) m.dst = FOS_CORE_NONE;
            if (sc->drops) {
                m.type = 0x7fff0002 + pick(4); /* join, add, gone, confirm */
                rc |= sim_fault_drop(s, &m, 50000 + pick(250001));
                continue;
            }
            fos_cycles extra = 1 + pick(25000000);
            rc |= sim_fault_delay(s, &m, 200000 + pick(800001), extra);
        }
    }
    uint32_t vk = pick(MEMBERS + (uint32_t)sc->joiners + 3); /* past the cores: none */
    fos_core_id victim = vk < MEMBERS                           ? member_core[vk]
                         : vk < MEMBERS + (uint32_t)sc->joiners ? joiner_core[vk - MEMBERS]
                                                                : FOS_CORE_NONE;
    if (victim != FOS_CORE_NONE) rc |= sim_kill_core(s, victim, 20000 + pick(6000000));
    if (rc == 0) rc = sim_run(s);
    if (rc != 0) {
        fprintf(stderr, "fleet_sweep: %s, run %d: %s\n", sc->name, it, fos_err_name(rc));
        sim_fleet_free(fl);
        sim_destroy(s);
        return -1;
    }
    bool want[TABLE] = {false};
    for (uint32_t m = 0; m < MEMBERS; m++)
        want[m] = member_core[m] != victim && !(lv.who == m && lv.r == 0);
    for (int k = 0; k < sc->joiners; k++) {
        if (!j[k].done) continue; /* killed before its join ended */
        t->joins++;
        if (j[k].r != 0) {
            t->failed++;
            t->failed_by[err_slot(j[k].r)]++;
        } else if (joiner_core[k] != victim && !j[k].left && j[k].self < TABLE) {
            want[j[k].self] = true;
        }
    }
    bool diverged = false;
    for (uint32_t l = 0; l < TABLE; l++) {
        if (!want[l]) continue;
        if (!g.member[l]) {
            diverged = true; /* a member no one started */
            continue;
        }
        for (uint32_t m = 0; m < TABLE; m++)
            diverged |= fos_fleet_present(g.member[l], m) != want[m];
    }
    t->runs++;
    if (diverged && t->diverged < FLEET_CHAOS_LISTED) t->diverged_run[t->diverged] = it;
    t->diverged += diverged;
    sim_fleet_free(fl);
    sim_destroy(s);
    return 0;
}
