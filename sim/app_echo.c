/* echo and null_syscall: clients send requests to servers and wait for the
 * answers, as plain receive/reply loops over mailboxes or channels. A closed
 * loop has one request outstanding per client (think, send, wait); an open loop
 * sends at Poisson arrival times whatever the answers do, and measures each
 * request from the time it was due, so a slow server cannot hide its queue. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/app_priv.h"

enum { T_REQ = 1, T_DONE = 100, T_REPLY = 200 };

typedef struct echo_server {
    fos_mbox *box;
    app_inst *in;
    fos_msg *buf;
    size_t bufsz;
    const sim_app_spec *spec;
} echo_server;

typedef struct echo_client {
    fos_mbox *box;
    fos_addr me;
    fos_cap mecap;
    char sname[SIM_NAME_LEN + 24];
    app_inst *in;
    const sim_app_spec *spec;
    fos_cycles warmup;
    fos_cycles gap;     /* open loop: mean cycles between requests */
    fos_cycles timeout; /* how long a reply may take before it is counted lost */
    uint32_t mix_total;
    uint64_t accepted, received;
    bool done;
    fos_msg *req, *rep;
    size_t bufsz;
} echo_client;

static void server_fiber(void *arg)
{
    echo_server *sv = arg;
    fos_msg *m = sv->buf;
    for (;;) {
        if (fos_recv(sv->box, m, sv->bufsz, FOS_CYCLES_MAX) != 0) {
            sv->in->errors++;
            continue;
        }
        if (sv->spec->service) fos_compute(sv->spec->service);
        unsigned op = m->type - T_REQ;
        /* echo answers with the payload; ack and null with nothing. */
        if (!(sv->spec->kind == SIM_APP_ECHO && op == 0)) m->len = 0;
        m->type = T_REPLY + op;
        /* Counted when answered: the run may end before the send's own
         * acknowledgement comes back, after the client has its reply. */
        sv->in->served++;
        int r;
        while ((r = fos_send(m->reply_to, m->reply_cap, m)) == -EAGAIN)
            fos_yield();
        if (r != 0) {
            sv->in->served--;
            sv->in->errors++;
        }
    }
}

/* Finds the server by name and, for the channel mechanism, connects to it. */
static int client_connect(echo_client *c, fos_addr *sa, fos_cap *scap)
{
    int r = fos_name_lookup(c->sname, sa, scap);
    if (r == 0 && c->spec->mechanism == SIM_MECH_CHANNEL) {
        fos_chan_opts o = {.reply = c->box};
        fos_chan *ch;
        r = fos_chan_connect(c->sname, &o, &ch);
    }
    return r;
}

static void fill_request(echo_client *c, unsigned op, uint64_t corr)
{
    fos_msg *q = c->req;
    q->type = T_REQ + op;
    q->len = c->spec->kind == SIM_APP_ECHO && op == 0 ? c->spec->request_bytes : 0;
    q->reply_to = c->me;
    q->reply_cap = c->mecap;
    q->corr = corr;
}

static void closed_client(void *arg)
{
    echo_client *c = arg;
    fos_addr sa;
    fos_cap scap;
    if (client_connect(c, &sa, &scap) != 0) {
        c->in->errors++;
        return;
    }
    const sim_app_spec *sp = c->spec;
    for (uint64_t n = 0; sp->operations == 0 || n < sp->operations; n++) {
        if (sp->think) fos_sleep(sp->think);
        unsigned op = app_pick_op(sp, c->mix_total);
        fill_request(c, op, n);
        fos_cycles t0 = fos_now();
        int r;
        while ((r = fos_send(sa, scap, c->req)) == -EAGAIN)
            fos_yield();
        /* A reply that comes after its request timed out is dropped here. */
        do {
            if (r == 0) r = fos_recv(c->box, c->rep, c->bufsz, c->timeout);
        } while (r == 0 && c->rep->corr < n);
        if (r != 0 || c->rep->corr != n || c->rep->type != T_REPLY + op ||
            c->rep->len != c->req->len) {
            c->in->errors++;
            if (r == -EHOSTDOWN) return;
            continue;
        }
        app_record(c->in, c->warmup, t0, fos_now(), op);
    }
    c->in->done = true;
}

/* Open loop, the sending half: requests at their due times, each carrying its
 * due time in corr; a full server queue refuses a request, which is counted and
 * not retried. */
static void open_sender(void *arg)
{
    echo_client *c = arg;
    fos_addr sa;
    fos_cap scap;
    const sim_app_spec *sp = c->spec;
    if (client_connect(c, &sa, &scap) == 0) {
        fos_cycles due = fos_now();
        for (uint64_t n = 0; sp->operations == 0 || n < sp->operations; n++) {
            due += fos_rand_exp(c->gap);
            fos_cycles now = fos_now();
            if (due > now) fos_sleep(due - now);
            unsigned op = app_pick_op(sp, c->mix_total);
            fill_request(c, op, due);
            int r = fos_send(sa, scap, c->req);
            if (r == 0) {
                c->accepted++;
            } else if (r == -EAGAIN) {
                c->in->refused++;
            } else {
                c->in->errors++;
                if (r == -EHOSTDOWN) break; /* the server is gone for good */
            }
        }
    } else {
        c->in->errors++;
    }
    /* Tell the receiving half that nothing more will be asked. */
    fos_msg done = {.type = T_DONE};
    if (fos_send(c->me, c->mecap, &done) != 0) c->in->errors++;
}

static void open_receiver(void *arg)
{
    echo_client *c = arg;
    while (!c->done || c->received < c->accepted) {
        int r = fos_recv(c->box, c->rep, c->bufsz, c->timeout);
        if (r == -ETIMEDOUT && c->done) {
            /* Nothing more will come: the rest were lost (a dead server). */
            c->in->errors += c->accepted - c->received;
            break;
        }
        if (r == -ETIMEDOUT) continue;
        if (r != 0) {
            c->in->errors++;
            break;
        }
        if (c->rep->type == T_DONE) {
            c->done = true;
            continue;
        }
        c->received++;
        unsigned op = c->rep->type - T_REPLY;
        if (op >= SIM_OPS_MAX) {
            c->in->errors++;
            continue;
        }
        app_record(c->in, c->warmup, c->rep->corr, fos_now(), op);
    }
    c->in->done = true;
}

int app_echo_start(sim *s, const sim_workload *w, sim_app *a)
{
    const sim_app_spec *sp = a->spec;
    const fos_topo *t = sim_topo(s);
    uint32_t nc = sp->instances, ns = sp->servers;
    size_t bufsz = sizeof(fos_msg) + sp->request_bytes;
    size_t stride = (bufsz + 15) & ~(size_t)15;
    /* One allocation for servers, clients, their message buffers and the
     * assignment table, released with the application. */
    size_t head = ns * sizeof(echo_server) + nc * sizeof(echo_client);
    head = (head + (ns + nc) * sizeof(uint32_t) + 15) & ~(size_t)15;
    a->ninst = nc + ns;
    a->nclients = nc;
    a->inst = calloc(a->ninst, sizeof(app_inst));
    char *mem = calloc(1, head + (ns + 2 * (size_t)nc) * stride);
    a->priv = mem;
    if (!a->inst || !mem) return -ENOMEM;
    for (uint32_t i = 0; i < a->ninst; i++)
        sim_hist_init(&a->inst[i].lat), sim_hist_init(&a->inst[i].lat_all);
    echo_server *sv_all = (echo_server *)mem;
    echo_client *cl_all = (echo_client *)(sv_all + ns);
    uint32_t *load = (uint32_t *)(cl_all + nc), *target = load + ns;
    char *bufs = mem + head;

    /* Which server each client talks to: decided here, like an address a
     * real client would have been configured with. */
    for (uint32_t i = 0; i < nc; i++) {
        target[i] = i % ns;
        if (sp->server_choice == SIM_CHOICE_NEAREST) {
            fos_core_id c = fos_topo_nearest(t, sp->client_cores[i], sp->server_cores, ns);
            for (uint32_t k = 0; k < ns; k++)
                if (sp->server_cores[k] == c) target[i] = k;
        }
        load[target[i]]++;
        a->inst[i].server = target[i];
    }
    uint32_t per_client = sp->open_loop ? 16 : 1;

    int r = 0;
    for (uint32_t k = 0; k < ns && r == 0; k++) {
        echo_server *sv = &sv_all[k];
        *sv = (echo_server){.in = &a->inst[nc + k],
                            .buf = (fos_msg *)(bufs + k * stride),
                            .bufsz = bufsz,
                            .spec = sp};
        fos_addr addr;
        fos_cap cap;
        char name[SIM_NAME_LEN + 24];
        snprintf(name, sizeof name, "/%s/%u", sp->name, k);
        r = sim_mbox_create(s, sp->server_cores[k], (size_t)load[k] * per_client + 4, &sv->box,
                            &addr, &cap);
        if (r == 0) r = sim_dir_register(s, name, addr, cap);
        if (r == 0) r = sim_spawn(s, sp->server_cores[k], server_fiber, sv, "server", true);
    }
    uint64_t hz = t->clock_hz;
    for (uint32_t i = 0; i < nc && r == 0; i++) {
        echo_client *c = &cl_all[i];
        *c = (echo_client){.in = &a->inst[i],
                           .spec = sp,
                           .warmup = a->warmup,
                           .bufsz = bufsz,
                           .req = (fos_msg *)(bufs + (ns + 2 * i) * stride),
                           .rep = (fos_msg *)(bufs + (ns + 2 * i + 1) * stride)};
        for (int k = 0; k < SIM_OPS_MAX; k++)
            c->mix_total += sp->mix[k];
        c->timeout = app_reply_timeout(s, w);
        if (sp->open_loop) {
            c->gap = hz / sp->rate_per_sim_s;
            if (c->gap == 0) c->gap = 1;
        }
        snprintf(c->sname, sizeof c->sname, "/%s/%u", sp->name, target[i]);
        fos_core_id core = sp->client_cores[i];
        size_t cap = sp->open_loop ? (size_t)load[target[i]] * per_client + 8 : 2;
        r = sim_mbox_create(s, core, cap, &c->box, &c->me, &c->mecap);
        if (r == 0 && !sp->open_loop) r = sim_spawn(s, core, closed_client, c, "client", false);
        if (r == 0 && sp->open_loop) r = sim_spawn(s, core, open_sender, c, "sender", false);
        if (r == 0 && sp->open_loop) r = sim_spawn(s, core, open_receiver, c, "receiver", false);
    }
    return r;
}
