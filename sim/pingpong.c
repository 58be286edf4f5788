/* pingpong: the cores of each pair bounce a message through mailboxes; the
 * first member of a pair measures each round trip. */
#include <errno.h>
#include <stdlib.h>

#include "sim/app_priv.h"

enum { PING = 1, PONG = 2 };

typedef struct pp_pair {
    fos_mbox *ping_box, *pong_box;
    fos_addr ping_addr, pong_addr;
    fos_cap ping_cap, pong_cap;
    uint64_t rounds;
    fos_cycles warmup, timeout;
    app_inst *in, *pong_in; /* the two cores' own figures: no line is shared */
} pp_pair;

typedef struct {
    fos_msg h;
    uint64_t seq;
} ping_msg;

static void pinger(void *arg)
{
    pp_pair *p = arg;
    ping_msg m = {.h = {.type = PING,
                        .len = sizeof(uint64_t),
                        .reply_to = p->ping_addr,
                        .reply_cap = p->ping_cap}};
    ping_msg in;
    for (uint64_t i = 0; i < p->rounds; i++) {
        fos_cycles t0 = fos_now();
        m.seq = i;
        m.h.corr = i;
        int r = fos_send(p->pong_addr, p->pong_cap, &m.h);
        /* A pong that comes after its ping timed out is dropped here. */
        do {
            if (r == 0) r = fos_recv(p->ping_box, &in.h, sizeof(in), p->timeout);
        } while (r == 0 && in.h.corr < i);
        if (r != 0 || in.h.corr != i || in.h.type != PONG) {
            p->in->errors++;
            if (r == -EHOSTDOWN) return; /* the pong core is dead: nobody to ask */
            continue;
        }
        app_record(p->in, p->warmup, t0, fos_now(), 0);
    }
    p->in->done = true;
}

static void ponger(void *arg)
{
    pp_pair *p = arg;
    ping_msg in;
    for (;;) {
        if (fos_recv(p->pong_box, &in.h, sizeof(in), FOS_CYCLES_MAX) != 0) return;
        in.h.type = PONG;
        p->pong_in->served++;
        if (fos_send(in.h.reply_to, in.h.reply_cap, &in.h) != 0) {
            p->pong_in->served--;
            p->pong_in->errors++;
        }
    }
}

int app_pingpong_start(sim *s, const sim_workload *w, sim_app *a)
{
    const sim_app_spec *sp = a->spec;
    uint32_t n = sp->instances;
    a->ninst = 2 * n;
    a->nclients = n;
    a->inst = calloc(2 * (size_t)n, sizeof(app_inst));
    pp_pair *pairs = calloc(n, sizeof(*pairs));
    a->priv = pairs;
    if (!a->inst || !pairs) return -ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        pp_pair *p = &pairs[i];
        sim_hist_init(&a->inst[i].lat), sim_hist_init(&a->inst[i].lat_all);
        p->rounds = sp->operations;
        p->warmup = a->warmup;
        p->timeout = app_reply_timeout(s, w);
        p->in = &a->inst[i];
        p->pong_in = &a->inst[n + i];
        sim_hist_init(&p->pong_in->lat), sim_hist_init(&p->pong_in->lat_all);
        fos_core_id c0 = sp->client_cores[2 * i], c1 = sp->client_cores[2 * i + 1];
        int r = sim_mbox_create(s, c0, 4, &p->ping_box, &p->ping_addr, &p->ping_cap);
        if (r == 0) r = sim_mbox_create(s, c1, 4, &p->pong_box, &p->pong_addr, &p->pong_cap);
        if (r == 0) r = sim_spawn(s, c0, pinger, p, "ping", false);
        if (r == 0) r = sim_spawn(s, c1, ponger, p, "pong", true);
        if (r != 0) return r;
    }
    return 0;
}
