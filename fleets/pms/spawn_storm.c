/* The spawn_storm application: each client spawns processes through its
 * nearest PMS member as fast as it can and waits for each; an operation is
 * one process, from the spawn request until it is reaped. The processes run
 * the built-in program "work": they compute `work` cycles, write to their
 * pages (native engine), and exit with their argument's low byte. */
#include <errno.h>
#include <string.h>

#include "fleets/pms/pms_fleet.h"
#include "fos/fos.h"
#include "fos/pms.h"

#define TIMEOUT fos_core_patience(100000000ull)

static int work_main(const fos_proc *p)
{
    fos_compute(p->arg >> 8);
    for (uint32_t i = 0; i < p->npages; i++) {
        volatile uint8_t *f = fos_pma_frame(p->pages[i]);
        if (f) f[2] = 1;
    }
    return (int)(p->arg & 0xff);
}

static void spawn_storm_client(fos_app_ctx *c)
{
    const fos_params *p = fos_app_params(c);
    uint32_t pages = (uint32_t)fos_params_u64(p, "pages");
    uint64_t work = fos_params_u64(p, "work");
    bool spread = !strcmp(fos_params_str(p, "where"), "spread");
    uint64_t ops = fos_app_operations(c);
    fos_pms_client pms;
    if (fos_pms_open(&pms) != 0) {
        fos_app_error(c);
        return;
    }
    uint32_t cores = fos_core_count();
    for (uint64_t n = 0; ops == 0 || n < ops; n++) {
        if (fos_app_think(c)) fos_sleep(fos_app_think(c));
        fos_core_id core = spread && cores > 1
                               ? (fos_core_self() + 1 + (uint32_t)(n % (cores - 1))) % cores
                               : FOS_CORE_NONE;
        fos_cycles t0 = fos_now();
        fos_pms_child child;
        uint64_t arg = work << 8 | (n & 0xff);
        int r = fos_pms_spawn(&pms, "work", arg, core, pages, 0, &child);
        int status = -1;
        if (r == 0) r = fos_pms_wait(&child, &status, TIMEOUT);
        if (r == 0 && status == (int)(n & 0xff)) {
            fos_app_record(c, t0);
            continue;
        }
        fos_app_error(c);
        if (r == -EHOSTDOWN || r == -ENOENT) return; /* its member is gone */
        if (r == -EAGAIN || r == -ENOMEM) fos_sleep(10000);
    }
}

static const char *const where_names[] = {"self", "spread", NULL};

static const fos_param spawn_storm_params[] = {
    {.key = "pages",
     .type = FOS_PARAM_INT,
     .def = "4",
     .help = "first pages of each process, from the pma fleet (0: none, no pma needed)",
     .min = 0,
     .max = FOS_DPOOL_BATCH_MAX},
    {.key = "work",
     .type = FOS_PARAM_TIME,
     .def = "10000",
     .help = "what each process computes before it exits"},
    {.key = "where",
     .type = FOS_PARAM_STR,
     .def = "self",
     .help = "the processes' cores: the client's own, or spread over the others in turn",
     .choices = where_names},
    {0},
};

static const fos_app_kind spawn_storm_app = {
    .name = "spawn_storm",
    .summary = "spawn processes and wait for each, through the pms fleet",
    .params = spawn_storm_params,
    .needs_fleet = "pms",
    .client = spawn_storm_client,
};

int fos__pms_register(fossim_registry *r)
{
    int e = fos_pms_program("work", work_main);
    if (e == 0) e = fossim_register_fleet(r, &fos_pms_fleet);
    return e ? e : fossim_register_app(r, &spawn_storm_app);
}
