/* name_lookup: the name service under a read-dominated load. Every client
 * registers a name of its own (if it registers at all), then looks up other
 * clients' names at random,
 * and now and then registers its own again (a write through the KV store's
 * two-phase commit, whose invalidations go to the caches that held it). Each
 * lookup skips the asking core's cache: the application measures the
 * service, not the cache. */
#include <errno.h>
#include <stdio.h>

#include "fleets/name/name_fleet.h"
#include "fos/fos.h"
#include "fos/plugin.h"

static void lookup_client(fos_app_ctx *c)
{
    const fos_params *p = fos_app_params(c);
    uint64_t reg_pct = fos_params_u64(p, "register_percent");
    uint32_t clients = fos_app_clients(c);
    char mine[FOS_NAME_MAX];
    snprintf(mine, sizeof mine, "/app/lookup/%u", fos_app_index(c));
    /* Bound to a mailbox of this core: what it is matters to nobody here. */
    fos_mbox *box;
    fos_cap cap;
    if (fos_mbox_create(1, &box, &cap) != 0) {
        fos_app_error(c);
        return;
    }
    fos_addr me = fos_mbox_addr(box);
    fos_cycles t0;
    uint64_t ops = fos_app_operations(c), n = 0;
    /* A client that will register registers first, so that lookups find names;
     * with no registrations at all, lookups are answered "no such name", which
     * costs the service the same. */
    if (reg_pct) {
        t0 = fos_now();
        if (fos_name_register(mine, me, cap) == 0)
            fos_app_record(c, t0);
        else
            fos_app_error(c);
        n = 1;
    }
    for (; ops == 0 || n < ops; n++) {
        if (fos_app_think(c)) fos_sleep(fos_app_think(c));
        int r;
        t0 = fos_now();
        if (fos_rand_below(100) < reg_pct) {
            r = fos_name_register(mine, me, cap);
        } else {
            char name[FOS_NAME_MAX];
            snprintf(name, sizeof name, "/app/lookup/%u", (uint32_t)fos_rand_below(clients));
            fos_addr a;
            fos_cap ac;
            fos_name_invalidate(name);
            r = fos_name_lookup(name, &a, &ac);
            if (r == -ENOENT) r = 0; /* not registered yet: an answer all the same */
        }
        if (r == 0)
            fos_app_record(c, t0);
        else
            fos_app_error(c);
    }
}

static const fos_param params[] = {
    {.key = "register_percent",
     .type = FOS_PARAM_INT,
     .def = "5",
     .help = "operations that register (the rest look up)",
     .min = 0,
     .max = 100},
    {0},
};

static const fos_app_kind name_lookup_app = {
    .name = "name_lookup",
    .summary = "looks up names at the name service (read-dominated), sometimes registers",
    .params = params,
    .client = lookup_client,
};

int fos__name_register_app(fossim_registry *r)
{
    return fossim_register_app(r, &name_lookup_app);
}
