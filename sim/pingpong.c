#include <errno.h>
#include <stdlib.h>

#include "fos/fos.h"
#include "sim/pingpong.h"

enum { PING = 1, PONG = 2 };

typedef struct sim_pingpong_pair {
    fos_mbox *ping_box, *pong_box;
    fos_addr ping_addr, pong_addr;
    fos_cap ping_cap, pong_cap;
    uint64_t rounds, completed, errors;
    fos_cycles rtt_sum, rtt_min, rtt_max;
} pair_t;

typedef struct {
    fos_msg h;
    uint64_t seq;
} ping_msg;

static void pinger(void *arg)
{
    pair_t *p = arg;
    ping_msg m = {.h = {.type = PING,
                        .len = sizeof(uint64_t),
                        .reply_to = p->ping_addr,
                        .reply_cap = p->ping_cap}};
    ping_msg in;
    for (uint64_t i = 0; i < p->rounds; i++) {
        fos_cycles t0 = fos_now();
        m.seq = i;
        m.h.corr = i;
        if (fos_send(p->pong_addr, p->pong_cap, &m.h) != 0 ||
            fos_recv(p->ping_box, &in.h, sizeof(in), FOS_CYCLES_MAX) != 0 || in.h.corr != i) {
            p->errors++;
            continue;
        }
        fos_cycles rtt = fos_now() - t0;
        p->completed++;
        p->rtt_sum += rtt;
        if (rtt < p->rtt_min) p->rtt_min = rtt;
        if (rtt > p->rtt_max) p->rtt_max = rtt;
    }
}

static void ponger(void *arg)
{
    pair_t *p = arg;
    ping_msg in;
    for (;;) {
        if (fos_recv(p->pong_box, &in.h, sizeof(in), FOS_CYCLES_MAX) != 0) return;
        in.h.type = PONG;
        if (fos_send(in.h.reply_to, in.h.reply_cap, &in.h) != 0) p->errors++;
    }
}

int sim_pingpong_setup(sim *s, uint64_t rounds, sim_pingpong *pp)
{
    uint32_t cores = sim_topo(s)->cores;
    if (cores < 2) return -EINVAL;
    *pp = (sim_pingpong){.pairs = cores / 2, .rounds = rounds, .rtt_min = FOS_CYCLES_MAX};
    pp->pair = calloc(pp->pairs, sizeof(*pp->pair));
    if (!pp->pair) return -ENOMEM;
    for (uint32_t i = 0; i < pp->pairs; i++) {
        pair_t *p = &pp->pair[i];
        p->rounds = rounds;
        p->rtt_min = FOS_CYCLES_MAX;
        int r = sim_mbox_create(s, 2 * i, 4, &p->ping_box, &p->ping_addr, &p->ping_cap);
        if (r == 0) r = sim_mbox_create(s, 2 * i + 1, 4, &p->pong_box, &p->pong_addr, &p->pong_cap);
        if (r == 0) r = sim_spawn(s, 2 * i, pinger, p, "ping", false);
        if (r == 0) r = sim_spawn(s, 2 * i + 1, ponger, p, "pong", true);
        if (r != 0) {
            free(pp->pair);
            pp->pair = NULL;
            return r;
        }
    }
    return 0;
}

void sim_pingpong_collect(sim_pingpong *pp)
{
    for (uint32_t i = 0; i < pp->pairs; i++) {
        pair_t *p = &pp->pair[i];
        pp->completed += p->completed;
        pp->errors += p->errors;
        pp->rtt_sum += p->rtt_sum;
        if (p->rtt_min < pp->rtt_min) pp->rtt_min = p->rtt_min;
        if (p->rtt_max > pp->rtt_max) pp->rtt_max = p->rtt_max;
    }
    free(pp->pair);
    pp->pair = NULL;
}
