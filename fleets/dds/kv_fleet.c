/* The kv fleet, replicas and nothing else, and the kv application kind that
 * drives it: registered with fossim like a plugin's, from inside. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fleets/dds/kv_fleet.h"
#include "fos/fos.h"
#include "fos/plugin.h"

typedef struct kv_member {
    fos_kv *kv;
} kv_member;

static const fos_param kv_params[] = {
    {.key = "vote_timeout",
     .type = FOS_PARAM_TIME,
     .def = "100000",
     .help = "how long a coordinator waits for votes before it aborts"},
    {.key = "retries",
     .type = FOS_PARAM_INT,
     .def = "8",
     .help = "attempts of a write that lost a conflict (at least 1)",
     .min = 1,
     .max = 1000},
    {0},
};

static int kv_init(fos_fleet *f, void *state)
{
    kv_member *m = state;
    const fos_params *p = fos_fleet_params(f);
    fos_kv_opts o = {0};
    if (p && p->decl) {
        o.vote_timeout = fos_params_u64(p, "vote_timeout");
        o.retries = (uint32_t)fos_params_u64(p, "retries");
    }
    return fos_kv_attach(f, &o, &m->kv);
}

static void kv_membership(fos_fleet *f, void *state, uint32_t who, bool present)
{
    (void)f;
    kv_member *m = state;
    if (!present && m->kv) fos_kv_member_gone(m->kv, who);
}

static uint32_t kv_counters(fos_fleet *f, void *state, fos_fleet_counter *out, uint32_t max)
{
    (void)f;
    kv_member *m = state;
    if (!m->kv || max < 7) return 0;
    fos_kv_stats st;
    fos_kv_get_stats(m->kv, &st);
    out[0] = (fos_fleet_counter){"gets", st.gets};
    out[1] = (fos_fleet_counter){"commits", st.commits};
    out[2] = (fos_fleet_counter){"aborts", st.aborts};
    out[3] = (fos_fleet_counter){"conflicts", st.conflicts};
    out[4] = (fos_fleet_counter){"vote_timeouts", st.vote_timeouts};
    out[5] = (fos_fleet_counter){"applied", st.applied};
    out[6] = (fos_fleet_counter){"terminations", st.terminations};
    return 7;
}

const fos_fleet_ops fos_kv_fleet = {
    .name = "kv",
    .summary = "a key-value store, fully replicated, written by two-phase commit",
    .params = kv_params,
    .state_bytes = sizeof(kv_member),
    .fibers = 16,
    .init = kv_init,
    .membership = kv_membership,
    .counters = kv_counters,
};

/* ---- the kv application: gets and puts over a key space ---------------------------------- */

static void kv_client(fos_app_ctx *c)
{
    const fos_params *p = fos_app_params(c);
    uint64_t keys = fos_params_u64(p, "keys");
    uint64_t put_pct = fos_params_u64(p, "put_percent");
    uint64_t hot_pct = fos_params_u64(p, "hot_percent");
    fos_fleet_view v;
    if (fos_fleet_view_get("kv", &v) != 0 || v.size == 0) {
        fos_app_error(c);
        return;
    }
    /* Each client talks to one member, round robin over the fleet, and moves
     * to the next one present when its member dies or stops answering. */
    uint32_t m = fos_app_index(c) % v.size;
    const fos_cycles timeout = fos_core_patience(5000000);
    uint64_t ops = fos_app_operations(c);
    char val[32];
    memset(val, 'v', sizeof val);
    for (uint64_t n = 0; ops == 0 || n < ops; n++) {
        if (fos_app_think(c)) fos_sleep(fos_app_think(c));
        /* Skewed: hot_percent of the operations go to the first tenth of the keys. */
        uint64_t hot = keys / 10 ? keys / 10 : 1;
        uint64_t k =
            hot_pct && fos_rand_below(100) < hot_pct ? fos_rand_below(hot) : fos_rand_below(keys);
        char key[32];
        snprintf(key, sizeof key, "k%llu", (unsigned long long)k);
        fos_cycles t0 = fos_now();
        int r;
        if (fos_rand_below(100) < put_pct) {
            snprintf(val, sizeof val, "%llu", (unsigned long long)n);
            r = fos_kv_put_at(v.m[m].addr, v.m[m].cap, key, val, sizeof val, timeout);
        } else {
            size_t len;
            r = fos_kv_get(v.m[m].addr, v.m[m].cap, key, val, sizeof val, &len, timeout);
            if (r == -ENOENT) r = 0; /* not written yet: an answer all the same */
        }
        if (r == 0) {
            fos_app_record(c, t0);
            continue;
        }
        fos_app_error(c);
        if (r == -EHOSTDOWN || r == -ETIMEDOUT || r == -ENOENT) {
            v.m[m].present = false;
            uint32_t tries = 0;
            do
                m = (m + 1) % v.size;
            while (!v.m[m].present && ++tries < v.size);
            if (!v.m[m].present) return; /* no member left */
        }
    }
}

static const fos_param client_params[] = {
    {.key = "keys",
     .type = FOS_PARAM_INT,
     .def = "1000",
     .help = "the key space",
     .min = 1,
     .max = 100000000},
    {.key = "put_percent",
     .type = FOS_PARAM_INT,
     .def = "10",
     .help = "operations that are puts (the rest are gets)",
     .min = 0,
     .max = 100},
    {.key = "hot_percent",
     .type = FOS_PARAM_INT,
     .def = "0",
     .help = "operations on the hottest tenth of the keys (0: uniform)",
     .min = 0,
     .max = 100},
    {0},
};

static const fos_app_kind kv_app = {
    .name = "kv",
    .summary = "gets and puts over a key space, against the kv fleet",
    .params = client_params,
    .needs_fleet = "kv",
    .client = kv_client,
};

int fos__kv_register(fossim_registry *r)
{
    int e = fossim_register_fleet(r, &fos_kv_fleet);
    return e ? e : fossim_register_app(r, &kv_app);
}
