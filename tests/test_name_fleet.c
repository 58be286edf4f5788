/* The name-service fleet: register, lookup, unregister through it; a lookup of
 * a fleet's name by each policy; a changed binding pushed out of the caches
 * that held it; bad names refused; acknowledged registrations that outlive a
 * member killed in the middle of them. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "fleets/name/name_fleet.h"
#include "fos/fos.h"
#include "tests/harness.h"

#define SVC 4
static const fos_core_id svc_core[SVC] = {1, 6, 11, 14};

typedef struct world {
    sim *s;
    sim_fleet *fl;
    fos_addr svc[SVC];
    fos_cap svc_cap[SVC];
    uint64_t policy_v;
    fos_params params;
} world;

/* A 4x4 mesh; name members on cores 0 and 15; four services /sys/svc/N bound
 * at boot. */
static void boot(world *w, int policy)
{
    w->s = make_sim(16);
    for (int i = 0; i < SVC; i++) {
        fos_mbox *m;
        char name[32];
        cr_assert_eq(sim_mbox_create(w->s, svc_core[i], 8, &m, &w->svc[i], &w->svc_cap[i]), 0);
        snprintf(name, sizeof name, "/sys/svc/%d", i);
        cr_assert_eq(sim_dir_register(w->s, name, w->svc[i], w->svc_cap[i]), 0);
    }
    w->policy_v = (uint64_t)policy;
    w->params = (fos_params){fos_name_fleet.params, &w->policy_v, NULL};
    fos_core_id members[2] = {0, 15};
    cr_assert_eq(sim_fleet_start(w->s, &fos_name_fleet, members, 2, &w->params, &w->fl), 0);
    fos_addr a[2];
    fos_cap c[2];
    for (uint32_t i = 0; i < 2; i++)
        cr_assert_eq(sim_fleet_member_addr(w->fl, i, &a[i], &c[i]), 0);
    cr_assert_eq(sim_name_service(w->s, a, c, 2), 0);
}

static void done(world *w)
{
    sim_fleet_free(w->fl);
    sim_destroy(w->s);
}

static int which(const world *w, fos_addr a)
{
    for (int i = 0; i < SVC; i++)
        if (w->svc[i].core == a.core && w->svc[i].id == a.id) return i;
    return -1;
}

/* ---- policies ---- */

typedef struct {
    world *w;
    int picked[12];
    int r[12];
} picks;

static void picker(void *arg)
{
    picks *p = arg;
    for (int i = 0; i < 12; i++) {
        fos_addr a;
        fos_cap cap;
        fos_name_invalidate("/sys/svc"); /* each lookup asks the service */
        p->r[i] = fos_name_lookup("/sys/svc", &a, &cap);
        p->picked[i] = p->r[i] ? -1 : which(p->w, a);
    }
}

static void run_picks(int policy, fos_core_id at, picks *p)
{
    world w;
    boot(&w, policy);
    p->w = &w;
    cr_assert_eq(sim_spawn(w.s, at, picker, p, "picker", false), 0);
    run_ok(w.s);
    done(&w);
    for (int i = 0; i < 12; i++)
        cr_assert_eq(p->r[i], 0, "lookup %d: %s", i, fos_err_name(p->r[i]));
}

Test(name_fleet, round_robin_takes_each_member_in_turn)
{
    picks p = {0};
    run_picks(FOS_NAME_ROUND_ROBIN, 5, &p);
    for (int i = 0; i < 12; i++)
        cr_expect_eq(p.picked[i], i % SVC, "lookup %d gave %d", i, p.picked[i]);
}

Test(name_fleet, nearest_takes_the_nearest_member)
{
    picks p = {0};
    run_picks(FOS_NAME_NEAREST, 13, &p); /* core 13 is next to 14, member 3 */
    for (int i = 0; i < 12; i++)
        cr_expect_eq(p.picked[i], 3, "lookup %d gave %d", i, p.picked[i]);
}

Test(name_fleet, least_loaded_spreads_the_lookups)
{
    picks p = {0};
    run_picks(FOS_NAME_LEAST_LOADED, 5, &p);
    int count[SVC] = {0};
    for (int i = 0; i < 12; i++)
        count[p.picked[i]]++;
    for (int i = 0; i < SVC; i++)
        cr_expect_eq(count[i], 3, "member %d picked %d times", i, count[i]);
}

/* ---- register, lookup, unregister, invalidation ---- */

typedef struct {
    world *w;
    int r_reg, r_look, r_unreg, r_gone, r_bad[4], r_second_reg;
    fos_addr got, fresh;
    int cached_first;
    int phase;
} story;

static void registrar(void *arg)
{
    story *st = arg;
    st->r_reg = fos_name_register("/app/x", st->w->svc[0], st->w->svc_cap[0]);
    st->r_bad[0] = fos_name_register("noslash", st->w->svc[0], st->w->svc_cap[0]);
    st->r_bad[1] = fos_name_register("/a//b", st->w->svc[0], st->w->svc_cap[0]);
    st->r_bad[2] = fos_name_register("/trailing/", st->w->svc[0], st->w->svc_cap[0]);
    st->r_bad[3] = fos_name_register("/", st->w->svc[0], st->w->svc_cap[0]);
    st->phase = 1;
    fos_sleep(100000); /* the reader caches /app/x meanwhile */
    /* The binding changes: the reader's cache must be told. */
    st->r_second_reg = fos_name_register("/app/x", st->w->svc[3], st->w->svc_cap[3]);
    st->phase = 2;
    fos_sleep(100000);
    st->r_unreg = fos_name_unregister("/app/x");
    st->phase = 3;
}

static void reader(void *arg)
{
    story *st = arg;
    fos_cap cap;
    fos_sleep(50000);
    st->r_look = fos_name_lookup("/app/x", &st->got, &cap);
    fos_sleep(120000); /* after the change and its invalidation */
    /* No fos_name_invalidate here: the push has dropped the old entry. */
    fos_name_lookup("/app/x", &st->fresh, &cap);
    fos_sleep(150000);
    fos_addr gone;
    st->r_gone = fos_name_lookup("/app/x", &gone, &cap); /* the removal was pushed too */
}

Test(name_fleet, register_lookup_change_unregister, VIRTUAL_TIMING)
{
    world w;
    story st = {0};
    boot(&w, FOS_NAME_ROUND_ROBIN);
    st.w = &w;
    cr_assert_eq(sim_spawn(w.s, 2, registrar, &st, "registrar", false), 0);
    cr_assert_eq(sim_spawn(w.s, 9, reader, &st, "reader", false), 0);
    run_ok(w.s);
    cr_expect_eq(st.r_reg, 0, "%s", fos_err_name(st.r_reg));
    for (int i = 0; i < 4; i++)
        cr_expect_eq(st.r_bad[i], -EINVAL, "bad name %d: %s", i, fos_err_name(st.r_bad[i]));
    cr_expect_eq(st.r_look, 0);
    cr_expect_eq(which(&w, st.got), 0);
    cr_expect_eq(st.r_second_reg, 0);
    cr_expect_eq(which(&w, st.fresh), 3, "the cache kept the old binding");
    cr_expect_eq(st.r_unreg, 0);
    cr_expect_eq(st.r_gone, -ENOENT, "unregistered: %s", fos_err_name(st.r_gone));
    done(&w);
}

/* After the death notice has had time to arrive. */
static void late_picker(void *arg)
{
    fos_sleep(5000);
    picker(arg);
}

/* A fleet member's core dies: the name service stops handing it out. */
Test(name_fleet, a_dead_member_is_not_handed_out, VIRTUAL_TIMING)
{
    world w;
    picks p = {0};
    boot(&w, FOS_NAME_NEAREST);
    p.w = &w;
    cr_assert_eq(sim_kill_core(w.s, svc_core[3], 0), 0); /* the nearest to core 13 */
    cr_assert_eq(sim_spawn(w.s, 13, late_picker, &p, "picker", false), 0);
    run_ok(w.s);
    done(&w);
    for (int i = 0; i < 12; i++) {
        cr_expect_eq(p.r[i], 0);
        cr_expect_neq(p.picked[i], 3, "lookup %d handed out the dead member (%d %d %d)", i,
                      p.picked[0], p.picked[1], p.picked[2]);
    }
}

/* ---- a member killed at any moment of a burst of registrations ---- */

typedef struct {
    int acked[3][12]; /* per client and name: the registration was acknowledged */
    fos_addr addr[3];
    int done, wrong, checked;
} nsweep;

typedef struct {
    nsweep *st;
    int w;
} nsweep_arg;

static void nreg(void *arg)
{
    nsweep_arg *a = arg;
    fos_mbox *m;
    fos_cap cap;
    cr_assert_eq(fos_mbox_create(4, &m, &cap), 0);
    a->st->addr[a->w] = fos_mbox_addr(m);
    for (int k = 0; k < 12; k++) {
        char name[32];
        snprintf(name, sizeof name, "/t/c%d/n%d", a->w, k);
        a->st->acked[a->w][k] = fos_name_register(name, fos_mbox_addr(m), cap) == 0;
    }
    a->st->done++;
}

static void njudge(void *arg)
{
    nsweep *st = arg;
    while (st->done < 3)
        fos_sleep(5000);
    fos_sleep(3000000);
    for (int w = 0; w < 3; w++)
        for (int k = 0; k < 12; k++) {
            if (!st->acked[w][k]) continue;
            char name[32];
            snprintf(name, sizeof name, "/t/c%d/n%d", w, k);
            fos_name_invalidate(name);
            fos_addr a;
            fos_cap c;
            int r = fos_name_lookup(name, &a, &c);
            st->checked++;
            if (r || a.core != st->addr[w].core || a.id != st->addr[w].id) st->wrong++;
        }
}

/* Three members; three clients register twelve names each while one member is
 * killed, at a time swept across the registrations; long after, every
 * acknowledged binding is found (past the cache) where it was registered. */
Test(name_fleet, acknowledged_registrations_survive_a_member_killed_at_any_moment, .timeout = 120)
{
    for (int v = 0; v < 3; v++)
        for (fos_cycles at = 100; at <= 20000; at += 197) {
            sim *s = make_sim(16);
            fos_core_id members[3] = {0, 15, 5};
            uint64_t pol = 0;
            fos_params params = {fos_name_fleet.params, &pol, NULL};
            sim_fleet *fl;
            cr_assert_eq(sim_fleet_start(s, &fos_name_fleet, members, 3, &params, &fl), 0);
            fos_addr a[3];
            fos_cap c[3];
            for (uint32_t i = 0; i < 3; i++)
                cr_assert_eq(sim_fleet_member_addr(fl, i, &a[i], &c[i]), 0);
            cr_assert_eq(sim_name_service(s, a, c, 3), 0);
            nsweep st = {0};
            nsweep_arg na[3];
            fos_core_id cc[3] = {2, 9, 12};
            for (int w = 0; w < 3; w++) {
                na[w] = (nsweep_arg){&st, w};
                cr_assert_eq(sim_spawn(s, cc[w], nreg, &na[w], "reg", false), 0);
            }
            cr_assert_eq(sim_spawn(s, 7, njudge, &st, "judge", false), 0);
            cr_assert_eq(sim_kill_core(s, members[v], at), 0);
            sim_run(s);
            int acked = 0;
            for (int w = 0; w < 3; w++)
                for (int k = 0; k < 12; k++)
                    acked += st.acked[w][k];
            cr_expect_eq(st.wrong, 0, "victim %d at %llu: %d of %d wrong", v,
                         (unsigned long long)at, st.wrong, st.checked);
            cr_expect_eq(st.checked, acked, "victim %d at %llu: checked %d of %d", v,
                         (unsigned long long)at, st.checked, acked);
            sim_fleet_free(fl);
            sim_destroy(s);
        }
}
