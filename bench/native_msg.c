/* Messaging between two fibers on two cores of the native engine, through the
 * scheduler and the runtime's own calls: mailboxes, or a channel. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "fos/fos.h"

enum { WARMUP = 1000 };

typedef struct {
    fos_msg h;
    fos_cycles sent;
} stamped;

typedef struct {
    fos_mbox *sbox, *cbox;
    fos_addr saddr, caddr;
    fos_cap scap, ccap;
    int iters, over_channel;
    double *rtt, *oneway, *null_rtt;
    int err;
    /* The server's own line: written on every message, it must not share one
     * with what the client reads, or the figure measures false sharing. */
    _Alignas(64) int n_oneway;
    int server_err;
    char pad[56];
} bench_world;

static void server(void *arg)
{
    bench_world *w = arg;
    stamped m;
    while (fos_recv(w->sbox, &m.h, sizeof(m), FOS_CYCLES_MAX) == 0) {
        if (m.h.len == sizeof(fos_cycles)) {
            fos_cycles now = fos_now();
            if (w->n_oneway < w->iters + WARMUP) w->oneway[w->n_oneway++] = (double)(now - m.sent);
        }
        if (fos_send(m.h.reply_to, m.h.reply_cap, &m.h) != 0) w->server_err++;
    }
}

static void client(void *arg)
{
    bench_world *w = arg;
    if (w->over_channel) {
        fos_chan *ch;
        fos_chan_opts o = {.reply = w->cbox};
        if (fos_chan_connect("/bench", &o, &ch) != 0) {
            w->err++;
            return;
        }
    }
    stamped m = {.h = {.reply_to = w->caddr, .reply_cap = w->ccap}}, in;
    for (int pass = 0; pass < 2; pass++) {
        /* Pass 0 carries a timestamp; pass 1 is the null system call: empty. */
        m.h.len = pass == 0 ? sizeof(fos_cycles) : 0;
        double *out = pass == 0 ? w->rtt : w->null_rtt;
        for (int i = 0; i < w->iters + WARMUP; i++) {
            fos_cycles t0 = fos_now();
            m.sent = t0;
            if (fos_send(w->saddr, w->scap, &m.h) != 0 ||
                fos_recv(w->cbox, &in.h, sizeof(in), FOS_CYCLES_MAX) != 0) {
                w->err++;
                return;
            }
            out[i] = (double)(fos_now() - t0);
        }
    }
}

int bench_native_messaging(int iters, int over_channel, bench_msg_figures *out)
{
    sim_config cfg;
    sim_config_default(&cfg);
    cfg.engine = SIM_ENGINE_NATIVE;
    cfg.chip.cores = 2;
    sim *s;
    int r = sim_create(&cfg, &s);
    if (r != 0) return r;
    bench_world w = {.iters = iters, .over_channel = over_channel};
    w.rtt = calloc((size_t)(iters + WARMUP), sizeof(double));
    w.oneway = calloc((size_t)(iters + WARMUP), sizeof(double));
    w.null_rtt = calloc((size_t)(iters + WARMUP), sizeof(double));
    if (!w.rtt || !w.oneway || !w.null_rtt) r = -ENOMEM;
    if (r == 0) r = sim_mbox_create(s, 1, 16, &w.sbox, &w.saddr, &w.scap);
    if (r == 0) r = sim_mbox_create(s, 0, 16, &w.cbox, &w.caddr, &w.ccap);
    if (r == 0) r = sim_dir_register(s, "/bench", w.saddr, w.scap);
    if (r == 0) r = sim_spawn(s, 1, server, &w, "server", true);
    if (r == 0) r = sim_spawn(s, 0, client, &w, "client", false);
    if (r == 0) r = sim_run(s);
    if (r == 0 && (w.err || w.server_err)) r = -EIO;
    if (r == 0) {
        sim_stats st;
        sim_get_stats(s, &st);
        double ns = 1e9 / (double)st.cycles_per_s;
        out->iters = iters;
        out->cycles_per_s = st.cycles_per_s;
        out->rtt_cycles = bench_median(w.rtt + WARMUP, iters);
        out->oneway_cycles = bench_median(w.oneway + WARMUP, iters);
        out->null_rtt_cycles = bench_median(w.null_rtt + WARMUP, iters);
        out->rtt_ns = out->rtt_cycles * ns;
        out->oneway_ns = out->oneway_cycles * ns;
    }
    free(w.rtt);
    free(w.oneway);
    free(w.null_rtt);
    sim_destroy(s);
    return r;
}
