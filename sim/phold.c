#include <errno.h>
#include <stdlib.h>

#include "fos/fos.h"
#include "sim/phold.h"

typedef struct sim_phold_core {
    fos_mbox *box;
    struct sim_phold *p;
    uint32_t index; /* this member's place in the directory */
    uint64_t handled, measured, retries, errors, checksum, seq;
} phold_core;

typedef struct {
    fos_msg h;
    uint64_t seq;
} phold_msg;

static int send_random(phold_core *pc, const fos_addr *addrs, const fos_cap *caps, uint32_t n)
{
    phold_msg m = {.h = {.type = 1, .len = sizeof(uint64_t)}, .seq = pc->seq++};
    for (int tries = 0; tries < 16; tries++) {
        /* Always another member: every message crosses the chip (100% remote). */
        uint32_t me = pc->index;
        uint32_t d = n > 1 ? (me + 1 + (uint32_t)fos_rand_below(n - 1)) % n : me;
        int r = fos_send(addrs[d], caps[d], &m.h);
        if (r == 0) return 0;
        if (r != -EAGAIN) return r;
        pc->retries++;
    }
    return -EAGAIN;
}

/* The table of every core's mailbox: written at boot, read-only during the run,
 * like the addresses a real workload would have been handed at start. */
typedef struct {
    fos_addr *addr;
    fos_cap *cap;
    uint32_t n;
} phold_dir;

typedef struct {
    phold_core *pc;
    const phold_dir *dir;
} phold_arg;

static void phold_fiber(void *arg)
{
    phold_core *pc = ((phold_arg *)arg)->pc;
    const phold_dir *dir = ((phold_arg *)arg)->dir;
    for (uint32_t i = 0; i < pc->p->population; i++)
        if (send_random(pc, dir->addr, dir->cap, dir->n) != 0) pc->errors++;
    phold_msg in;
    for (;;) {
        if (fos_recv(pc->box, &in.h, sizeof(in), FOS_CYCLES_MAX) != 0) {
            pc->errors++;
            return;
        }
        pc->checksum += (uint64_t)in.h.from.core * 0x9e3779b97f4a7c15ull ^ in.seq;
        pc->handled++;
        if (fos_now() >= pc->p->warmup) pc->measured++;
        fos_compute(fos_rand_exp(pc->p->mean_delay));
        if (send_random(pc, dir->addr, dir->cap, dir->n) != 0) pc->errors++;
    }
}

int sim_phold_setup(sim *s, const uint32_t *cores, uint32_t n, fos_cycles mean_delay,
                    uint32_t population, fos_cycles warmup, sim_phold *p)
{
    if (!cores) n = sim_topo(s)->cores;
    *p = (sim_phold){
        .mean_delay = mean_delay, .population = population, .warmup = warmup, .ncores = n};
    if (population == 0 || n == 0) return -EINVAL;
    /* One allocation holds the per-core state, the fibers' arguments and the
     * directory, freed together by collect. */
    size_t sz = n * (sizeof(phold_core) + sizeof(phold_arg) + sizeof(fos_addr) + sizeof(fos_cap)) +
                sizeof(phold_dir);
    char *mem = calloc(1, sz);
    if (!mem) return -ENOMEM;
    p->core = (phold_core *)mem;
    phold_arg *args = (phold_arg *)(p->core + n);
    phold_dir *dir = (phold_dir *)(args + n);
    dir->addr = (fos_addr *)(dir + 1);
    dir->cap = (fos_cap *)(dir->addr + n);
    dir->n = n;
    for (uint32_t i = 0; i < n; i++) {
        phold_core *pc = &p->core[i];
        pc->p = p;
        pc->index = i;
        fos_core_id core = cores ? cores[i] : i;
        int r = sim_mbox_create(s, core, 4 + 2 * population, &pc->box, &dir->addr[i], &dir->cap[i]);
        args[i] = (phold_arg){pc, dir};
        if (r == 0) r = sim_spawn(s, core, phold_fiber, &args[i], "phold", true);
        if (r != 0) {
            free(mem);
            p->core = NULL;
            return r;
        }
    }
    return 0;
}

void sim_phold_member(const sim_phold *p, uint32_t i, uint64_t *handled, uint64_t *measured,
                      uint64_t *errors, uint64_t *checksum)
{
    const phold_core *pc = &p->core[i];
    *handled = pc->handled;
    *measured = pc->measured;
    *errors = pc->errors;
    *checksum = pc->checksum;
}

void sim_phold_collect(sim_phold *p)
{
    for (uint32_t i = 0; i < p->ncores && p->core; i++) {
        p->handled += p->core[i].handled;
        p->handled_measured += p->core[i].measured;
        p->retries += p->core[i].retries;
        p->errors += p->core[i].errors;
        p->checksum += p->core[i].checksum;
    }
    free(p->core);
    p->core = NULL;
}
