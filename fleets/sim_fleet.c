/* Starting a fleet from the harness: each member's mailbox is made at boot and
 * bound to /sys/<fleet>/<member>, so every member's table is complete at time
 * 0; a boot fiber on each core builds the member around its mailbox. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleets/fleet_priv.h"
#include "runtime/server_priv.h"

typedef struct boot_arg {
    struct sim_fleet *fl;
    uint32_t i;
    bool counters_said; /* its counters hook's faults are told once, not per report */
} boot_arg;

struct sim_fleet {
    const fos_fleet_ops *ops;
    const fos_params *params;
    uint32_t n;
    fos_core_id *cores;
    fos_mbox **mbox;
    fos_addr *addr;
    fos_cap *cap;
    fos_fleet **member; /* filled by the boot fibers */
    int *boot_err;
    boot_arg *boot; /* the boot fibers' arguments: freed with the record, since a run
                     * may end before a daemon's first turn */
};

static void member_boot(void *arg)
{
    boot_arg *b = arg;
    sim_fleet *fl = b->fl;
    fos__fleet_member_init init = {
        .self = b->i, .size = fl->n, .cores = fl->cores, .addr = fl->addr, .cap = fl->cap};
    fl->boot_err[b->i] = fos__fleet_member_start(fl->ops, fl->params, fl->mbox[b->i], fl->cap[b->i],
                                                 &init, &fl->member[b->i]);
    /* A member that cannot start is said, not left to show as silence. */
    if (fl->boot_err[b->i])
        fprintf(stderr, "fossim: fleet %s: member %u on core %u did not start: %s\n", fl->ops->name,
                b->i, fl->cores[b->i], fos_strerror(fl->boot_err[b->i]));
}

int sim_fleet_start(sim *s, const fos_fleet_ops *ops, const fos_core_id *cores, uint32_t n,
                    const fos_params *p, sim_fleet **out)
{
    if (!ops || !ops->name || !cores || n == 0 || n > FOS_FLEET_MAX) return -EINVAL;
    sim_fleet *fl = calloc(1, sizeof(*fl));
    if (!fl) return -ENOMEM;
    fl->ops = ops;
    fl->params = p;
    fl->n = n;
    fl->cores = calloc(n, sizeof(*fl->cores));
    fl->mbox = calloc(n, sizeof(*fl->mbox));
    fl->addr = calloc(n, sizeof(*fl->addr));
    fl->cap = calloc(n, sizeof(*fl->cap));
    fl->member = calloc(n, sizeof(*fl->member));
    fl->boot_err = calloc(n, sizeof(*fl->boot_err));
    fl->boot = calloc(n, sizeof(*fl->boot));
    int r = fl->cores && fl->mbox && fl->addr && fl->cap && fl->member && fl->boot_err && fl->boot
                ? 0
                : -ENOMEM;
    if (r == 0) memcpy(fl->cores, cores, n * sizeof(*cores));
    for (uint32_t i = 0; i < n && r == 0; i++) {
        char name[FOS_NAME_MAX];
        snprintf(name, sizeof name, "/sys/%s/%u", ops->name, i);
        /* Room for a request from every core at once. */
        r = sim_mbox_create(s, cores[i], sim_topo(s)->cores + 64, &fl->mbox[i], &fl->addr[i],
                            &fl->cap[i]);
        if (r == 0) r = sim_dir_register(s, name, fl->addr[i], fl->cap[i]);
        fl->boot[i] = (boot_arg){fl, i};
        if (r == 0) r = sim_spawn(s, cores[i], member_boot, &fl->boot[i], ops->name, true);
    }
    if (r != 0) {
        sim_fleet_free(fl);
        return r;
    }
    *out = fl;
    return 0;
}

int sim_fleet_get_member_stats(const sim_fleet *fl, uint32_t m, sim_fleet_member_stats *out)
{
    if (!fl || m >= fl->n) return -EINVAL;
    memset(out, 0, sizeof(*out));
    out->core = fl->cores[m];
    fos_fleet *f = fl->member[m];
    if (!f || fl->boot_err[m]) return 0;
    out->started = true;
    fos_server_stats st;
    fos_server_get_stats(fos_fleet_server(f), &st);
    out->served = st.served;
    out->errors = st.errors;
    out->service = fos__server_service(fos_fleet_server(f));
    if (!fl->ops->counters) return 0;
    uint32_t n = fl->ops->counters(f, fos_fleet_state(f), out->counter, FOS_FLEET_COUNTERS);
    /* A plugin's hook that breaks its contract is said (once), and only what
     * it really wrote, named and once each, is kept. */
    uint32_t given = n, nameless = 0, twice = 0;
    if (n > FOS_FLEET_COUNTERS) n = FOS_FLEET_COUNTERS;
    for (uint32_t i = 0; i < n; i++) {
        const char *name = out->counter[i].name;
        uint32_t k = 0;
        while (name && name[0] && k < out->ncounters && strcmp(out->counter[k].name, name) != 0)
            k++;
        if (!name || !name[0])
            nameless++;
        else if (k < out->ncounters)
            twice++;
        else
            out->counter[out->ncounters++] = out->counter[i];
    }
    if ((given > n || nameless || twice) && !fl->boot[m].counters_said) {
        fl->boot[m].counters_said = true;
        fprintf(stderr,
                "fossim: fleet '%s', member %u: its counters hook returned %u counters for room "
                "for %d, %u without a name and %u with a name given before; %u are reported\n",
                fl->ops->name, m, given, FOS_FLEET_COUNTERS, nameless, twice, out->ncounters);
    }
    return 0;
}

int sim_fleet_member_addr(const sim_fleet *fl, uint32_t m, fos_addr *a, fos_cap *cap)
{
    if (!fl || m >= fl->n) return -EINVAL;
    *a = fl->addr[m];
    *cap = fl->cap[m];
    return 0;
}

void sim_fleet_free(sim_fleet *fl)
{
    if (!fl) return;
    free(fl->cores);
    free(fl->mbox);
    free(fl->addr);
    free(fl->cap);
    free(fl->member);
    free(fl->boot_err);
    free(fl->boot);
    free(fl);
}
