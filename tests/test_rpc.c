/* The dispatcher and RPC: typed stubs with variable-size arguments, statuses,
 * timeouts, many concurrent callers each getting its own reply, and requests
 * that are malformed or of an unknown type. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "fos/fos.h"
#include "runtime/server_priv.h"
#include "tests/harness.h"

/* One declaration gives the structs, the client stub and the server side. */
#define T_ECHO_REQ(F) F(str, text) F(bytes, blob) F(u64, n) F(i64, delta)
#define T_ECHO_RESP(F) F(str, text) F(bytes, blob) F(u64, n) F(u32, core)
FOS_RPC(t_echo, 1, T_ECHO_REQ, T_ECHO_RESP)

#define T_SLOW_REQ(F) F(u64, wait) F(u64, token)
#define T_SLOW_RESP(F) F(u64, token)
FOS_RPC(t_slow, 2, T_SLOW_REQ, T_SLOW_RESP)

#define T_NONE(F)
FOS_RPC(t_fail, 3, T_NONE, T_NONE)
FOS_RPC(t_unknown, 99, T_NONE, T_NONE)
FOS_RPC(t_buggy, 4, T_NONE, T_NONE)

typedef struct {
    uint64_t calls;
    char reversed[256];
} srv_state;

static int do_echo(void *ctx, const struct t_echo_req *in, struct t_echo_resp *out)
{
    srv_state *st = ctx;
    st->calls++;
    size_t n = strlen(in->text);
    if (n >= sizeof st->reversed) return -E2BIG;
    for (size_t i = 0; i < n; i++)
        st->reversed[i] = in->text[n - 1 - i];
    st->reversed[n] = '\0';
    out->text = st->reversed;
    out->blob = in->blob; /* points into the request: still valid while replying */
    out->blob_len = in->blob_len;
    out->n = in->n + (uint64_t)in->delta;
    out->core = fos_core_self();
    return 0;
}

static int do_slow(void *ctx, const struct t_slow_req *in, struct t_slow_resp *out)
{
    (void)ctx;
    fos_sleep(in->wait);
    out->token = in->token * 3 + 1;
    return 0;
}

/* Says "later" but kept no way back: a bug of the handler's. */
static int do_buggy(void *ctx, const struct t_buggy_req *in, struct t_buggy_resp *out)
{
    (void)ctx;
    (void)in;
    (void)out;
    return FOS_RPC_LATER;
}

static int do_fail(void *ctx, const struct t_fail_req *in, struct t_fail_resp *out)
{
    (void)ctx;
    (void)in;
    (void)out;
    return -EPERM;
}

/* Answers with a body too big for any message: the caller must learn it at
 * once, not at its timeout. */
#define T_HUGE_TYPE 5
static void do_huge(fos_request *rq, void *ctx)
{
    (void)ctx;
    _Alignas(8) unsigned char b[64];
    fos_msg *m = (fos_msg *)b;
    *m = (fos_msg){.len = 0xFFFFFFF0u};
    cr_expect_eq(fos_reply(rq, 0, m), -EMSGSIZE);
    cr_expect_eq(fos_reply(rq, 0, NULL), -EALREADY, "answered once, with the error");
}

/* Answers with the status the request carries, errno or not. */
#define T_STATUS_TYPE 6
static void do_status(fos_request *rq, void *ctx)
{
    (void)ctx;
    int32_t st = 0;
    memcpy(&st, fos_msg_data(rq->msg), sizeof st);
    fos_reply(rq, st, NULL);
}

typedef struct {
    srv_state srv;
    int created;
    fos_server *server;
} world;

static void server_boot(void *arg)
{
    world *w = arg;
    fos_server *s;
    fos_server_opts o = {.fibers = 16, .capacity = 128, .name = "t"};
    cr_assert_eq(fos_server_create(&o, &s), 0);
    w->server = s;
    cr_assert_eq(FOS_RPC_SERVE(s, t_echo, do_echo, &w->srv), 0);
    cr_assert_eq(FOS_RPC_SERVE(s, t_slow, do_slow, NULL), 0);
    cr_assert_eq(FOS_RPC_SERVE(s, t_fail, do_fail, NULL), 0);
    cr_assert_eq(FOS_RPC_SERVE(s, t_buggy, do_buggy, NULL), 0);
    cr_assert_eq(fos_server_handle(s, T_HUGE_TYPE, do_huge, NULL), 0);
    cr_assert_eq(fos_server_handle(s, T_STATUS_TYPE, do_status, NULL), 0);
    cr_assert_eq(FOS_RPC_SERVE(s, t_echo, do_echo, NULL), -EINVAL, "a type is served once");
    cr_assert_eq(fos_name_register("/t/srv", fos_server_addr(s), fos_server_cap(s)), 0);
    w->created = 1;
}

/* Waits for the server's name (it is registered by a message, one latency on). */
static void find_server(fos_addr *a, fos_cap *cap)
{
    for (int i = 0; i < 10000; i++) {
        if (fos_name_lookup("/t/srv", a, cap) == 0) return;
        fos_name_invalidate("/t/srv");
        fos_sleep(100);
    }
    cr_assert_fail("the server never registered");
}

static sim *boot(uint32_t cores, world *w)
{
    sim *s = make_sim(cores);
    cr_assert_eq(sim_spawn(s, 1, server_boot, w, "boot", false), 0);
    return s;
}

/* ---- an answer forged from another core ---- */

/* Keeps the request's way back for the forger, then answers it a while later. */
#define T_LEAK_TYPE 7
#define LEAK_STEP(x) (TEST_IS_NATIVE ? 3000ull * (x) : (x))
static fos_addr g_leak_to;
static fos_cap g_leak_cap;
static uint64_t g_leak_corr;

static void do_leak(fos_request *rq, void *ctx)
{
    (void)ctx;
    g_leak_to = rq->msg->reply_to;
    g_leak_cap = rq->msg->reply_cap;
    __atomic_store_n(&g_leak_corr, rq->msg->corr, __ATOMIC_RELEASE); /* native: another thread */
    fos_sleep(LEAK_STEP(5000));
    struct {
        fos_msg h;
        uint64_t v;
    } a = {.h = {.len = 8}, .v = 1};
    fos_reply(rq, 0, &a.h);
}

/* A one-fiber server of `type` on the calling core, published in *out for
 * callers on other cores (native: other threads). */
static void serve_one(fos_server **out, uint32_t type, fos_handler h)
{
    fos_server *srv;
    fos_server_opts o = {.fibers = 1, .capacity = 8};
    cr_assert_eq(fos_server_create(&o, &srv), 0);
    cr_assert_eq(fos_server_handle(srv, type, h, NULL), 0);
    __atomic_store_n(out, srv, __ATOMIC_RELEASE);
}

static void leak_server(void *arg)
{
    serve_one(arg, T_LEAK_TYPE, do_leak);
}

/* Calls the server once it exists, with an empty request of `type`; keeps
 * the status and the answer's word. */
typedef struct {
    fos_server **srv;
    uint32_t type;
    int r;
    uint64_t v;
} one_call;

static void call_one(void *arg)
{
    one_call *l = arg;
    fos_server *srv;
    while (!(srv = __atomic_load_n(l->srv, __ATOMIC_ACQUIRE)))
        fos_sleep(LEAK_STEP(100));
    struct {
        fos_msg h;
        uint64_t v;
    } q = {.h = {.type = l->type}}, a = {{0}};
    l->r = fos_rpc_call(fos_server_addr(srv), fos_server_cap(srv), &q.h, &a.h, sizeof a,
                        FOS_CYCLES_MAX);
    l->v = a.v;
}

/* Answers the call first, from a third core, with the right number. */
static void forger(void *arg)
{
    (void)arg;
    uint64_t corr;
    while (!(corr = __atomic_load_n(&g_leak_corr, __ATOMIC_ACQUIRE)))
        fos_sleep(LEAK_STEP(100));
    struct {
        fos_msg h;
        uint64_t v[32];
    } f = {.h = {.type = FOS_RPC_REPLY, .len = sizeof f.v, .corr = corr}, .v = {666}};
    /* Too big for the caller's buffer (it would end the call with -EMSGSIZE),
     * then one that fits. */
    cr_assert_eq(fos_send(g_leak_to, g_leak_cap, &f.h), 0);
    f.h.len = 8;
    cr_assert_eq(fos_send(g_leak_to, g_leak_cap, &f.h), 0);
}

Test(rpc, an_answer_from_another_core_is_not_the_answer)
{
    sim *s = make_sim(8);
    fos_server *srv = NULL;
    one_call l = {&srv, T_LEAK_TYPE, 1, 0};
    g_leak_corr = 0;
    cr_assert_eq(sim_spawn(s, 2, leak_server, &srv, "server", false), 0);
    cr_assert_eq(sim_spawn(s, 1, call_one, &l, "caller", false), 0);
    cr_assert_eq(sim_spawn(s, 5, forger, NULL, "forger", false), 0);
    cr_assert_eq(sim_run(s), 0);
    cr_expect_eq(l.r, 0, "%s", fos_err_name(l.r));
    cr_expect_eq(l.v, 1, "the caller took the forger's answer (%llu)", (unsigned long long)l.v);
    sim_destroy(s);
}

/* A deferred request answered from another core than the server's is refused
 * (the caller would drop it); from the server's core it is the answer. */
#define T_DEFER_TYPE 8
static fos_deferred g_defer;
static int g_deferred; /* atomic: g_defer is set */
static int g_elsewhere = 1;

static void do_defer(fos_request *rq, void *ctx)
{
    (void)rq;
    (void)ctx;
    cr_assert_eq(fos_rpc_defer(&g_defer), 0);
    __atomic_store_n(&g_deferred, 1, __ATOMIC_RELEASE);
}

static void defer_server(void *arg)
{
    serve_one(arg, T_DEFER_TYPE, do_defer);
    while (__atomic_load_n(&g_deferred, __ATOMIC_ACQUIRE) < 2) /* the other core has tried */
        fos_sleep(LEAK_STEP(100));
    struct {
        fos_msg h;
        uint64_t v;
    } a = {.h = {.len = 8}, .v = 7};
    cr_assert_eq(fos_rpc_answer(&g_defer, 0, &a.h), 0);
}

static void answer_elsewhere(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&g_deferred, __ATOMIC_ACQUIRE))
        fos_sleep(LEAK_STEP(100));
    g_elsewhere = fos_rpc_answer(&g_defer, -EIO, NULL);
    __atomic_store_n(&g_deferred, 2, __ATOMIC_RELEASE);
}

Test(rpc, a_deferred_request_is_answered_from_its_servers_core)
{
    sim *s = make_sim(8);
    fos_server *srv = NULL;
    one_call l = {&srv, T_DEFER_TYPE, 1, 0};
    cr_assert_eq(sim_spawn(s, 2, defer_server, &srv, "server", false), 0);
    cr_assert_eq(sim_spawn(s, 1, call_one, &l, "caller", false), 0);
    cr_assert_eq(sim_spawn(s, 5, answer_elsewhere, NULL, "elsewhere", false), 0);
    cr_assert_eq(sim_run(s), 0);
    cr_expect_eq(g_elsewhere, -EXDEV, "%s", fos_err_name(g_elsewhere));
    cr_expect_eq(l.r, 0, "%s", fos_err_name(l.r));
    cr_expect_eq(l.v, 7);
    sim_destroy(s);
}

/* Service times: from the dispatcher taking a request to its answer, one per
 * answer, deferred answers timed to when they are given. */
#define T_WORK_TYPE 9
#define T_LATER_TYPE 10
#define WORK_CYCLES 700
#define LATER_CYCLES 5000
static fos_deferred g_later;
static int g_later_set;

static void do_work(fos_request *rq, void *ctx)
{
    (void)ctx;
    fos_compute(WORK_CYCLES);
    fos_reply(rq, 0, NULL);
}

static void do_later(fos_request *rq, void *ctx)
{
    (void)rq;
    (void)ctx;
    cr_assert_eq(fos_rpc_defer(&g_later), 0);
    g_later_set = 1;
}

static void timed_server(void *arg)
{
    fos_server *srv;
    fos_server_opts o = {.fibers = 2, .capacity = 8};
    cr_assert_eq(fos_server_create(&o, &srv), 0);
    cr_assert_eq(fos_server_handle(srv, T_WORK_TYPE, do_work, NULL), 0);
    cr_assert_eq(fos_server_handle(srv, T_LATER_TYPE, do_later, NULL), 0);
    __atomic_store_n((fos_server **)arg, srv, __ATOMIC_RELEASE);
    while (!g_later_set) /* the same core's fibers: no atomics */
        fos_sleep(100);
    fos_sleep(LATER_CYCLES);
    cr_assert_eq(fos_rpc_answer(&g_later, 0, NULL), 0);
}

static void timed_client(void *arg)
{
    fos_server **srvp = arg;
    fos_server *srv;
    while (!(srv = __atomic_load_n(srvp, __ATOMIC_ACQUIRE)))
        fos_sleep(LEAK_STEP(100));
    fos_msg q = {.type = T_WORK_TYPE}, a;
    for (int i = 0; i < 5; i++)
        cr_assert_eq(fos_rpc_call(fos_server_addr(srv), fos_server_cap(srv), &q, &a, sizeof a,
                                  FOS_CYCLES_MAX),
                     0);
    q.type = T_LATER_TYPE;
    cr_assert_eq(
        fos_rpc_call(fos_server_addr(srv), fos_server_cap(srv), &q, &a, sizeof a, FOS_CYCLES_MAX),
        0);
}

Test(rpc, service_times_run_from_taking_a_request_to_its_answer)
{
    sim *s = make_sim(4);
    fos_server *srv = NULL;
    cr_assert_eq(sim_spawn(s, 1, timed_server, &srv, "server", false), 0);
    cr_assert_eq(sim_spawn(s, 3, timed_client, &srv, "client", false), 0);
    cr_assert_eq(sim_run(s), 0);
    fos_server_stats ss;
    fos_server_get_stats(srv, &ss);
    const sim_hist *h = fos__server_service(srv);
    cr_expect_eq(ss.served, 6);
    cr_expect_eq(h->count, ss.served, "%llu service times for %llu answers",
                 (unsigned long long)h->count, (unsigned long long)ss.served);
    /* The handler's own work, no more: the reply's trip is the caller's. */
    VIRTUAL_ONLY cr_expect_eq(h->min, WORK_CYCLES, "min %llu", (unsigned long long)h->min);
    uint64_t p80 = sim_hist_quantile(h, 0.8); /* five of six: within a bucket of 700 */
    VIRTUAL_ONLY cr_expect(p80 >= WORK_CYCLES - 7 && p80 <= WORK_CYCLES + 7, "p80 %llu",
                           (unsigned long long)p80);
    cr_expect_geq(h->min, WORK_CYCLES, "min %llu", (unsigned long long)h->min);
    cr_expect_geq(h->max, LATER_CYCLES, "the deferred answer took %llu",
                  (unsigned long long)h->max);
    sim_destroy(s);
}

/* ---- typed calls with variable-size arguments ---- */

typedef struct {
    world *w;
    int r;
    char text[64];
    unsigned char blob[300];
    uint32_t blob_len;
    uint64_t n;
    uint32_t core;
} echo_call;

static void echo_client(void *arg)
{
    echo_call *e = arg;
    fos_addr a;
    fos_cap cap;
    find_server(&a, &cap);
    unsigned char blob[300];
    for (int i = 0; i < 300; i++)
        blob[i] = (unsigned char)(i * 7);
    struct t_echo_req q = {.text = "fleet", .blob = blob, .blob_len = 300, .n = 40, .delta = -2};
    struct t_echo_resp p;
    e->r = t_echo_call(a, cap, &q, &p, FOS_CYCLES_MAX);
    if (e->r) return;
    snprintf(e->text, sizeof e->text, "%s", p.text);
    memcpy(e->blob, p.blob, p.blob_len);
    e->blob_len = p.blob_len;
    e->n = p.n;
    e->core = p.core;
}

Test(rpc, typed_call_with_strings_and_bytes)
{
    world w = {0};
    echo_call e = {.w = &w};
    sim *s = boot(4, &w);
    cr_assert_eq(sim_spawn(s, 3, echo_client, &e, "client", false), 0);
    run_ok(s);
    cr_assert_eq(e.r, 0, "%s", fos_err_name(e.r));
    cr_expect_str_eq(e.text, "teelf");
    cr_expect_eq(e.blob_len, 300);
    for (int i = 0; i < 300; i++)
        cr_expect_eq(e.blob[i], (unsigned char)(i * 7));
    cr_expect_eq(e.n, 38);
    cr_expect_eq(e.core, 1);
    cr_expect_eq(w.srv.calls, 1);
    sim_destroy(s);
}

/* ---- many callers, replies out of order ---- */

#define NCALLERS 40

typedef struct {
    int r[NCALLERS];
    uint64_t got[NCALLERS];
    uint64_t want[NCALLERS];
} many;

typedef struct {
    many *m;
    int i;
} caller_arg;

static void caller(void *arg)
{
    caller_arg *ca = arg;
    fos_addr a;
    fos_cap cap;
    find_server(&a, &cap);
    /* Later callers wait less: replies come back in another order than the
     * requests went, and each must reach its own fiber. */
    struct t_slow_req q = {.wait = (uint64_t)(NCALLERS - ca->i) * 500, .token = 1000 + ca->i};
    struct t_slow_resp p;
    ca->m->r[ca->i] = t_slow_call(a, cap, &q, &p, FOS_CYCLES_MAX);
    ca->m->got[ca->i] = p.token;
    ca->m->want[ca->i] = q.token * 3 + 1;
}

Test(rpc, concurrent_callers_get_their_own_replies)
{
    world w = {0};
    many m = {0};
    caller_arg args[NCALLERS];
    sim *s = boot(8, &w);
    for (int i = 0; i < NCALLERS; i++) {
        args[i] = (caller_arg){&m, i};
        /* Half on one core (sharing its reply boxes), the rest spread. */
        fos_core_id core = i % 2 ? 2 : (fos_core_id)(3 + i % 5);
        cr_assert_eq(sim_spawn(s, core, caller, &args[i], "caller", false), 0);
    }
    run_ok(s);
    for (int i = 0; i < NCALLERS; i++) {
        cr_expect_eq(m.r[i], 0, "caller %d: %s", i, fos_err_name(m.r[i]));
        cr_expect_eq(m.got[i], m.want[i], "caller %d got another's reply", i);
    }
    /* Forty requests that each wait: the pool grew to its full size, no more.
     * (On real threads how many overlap is a matter of timing: only the bound.) */
    fos_server_stats ss;
    fos_server_get_stats(w.server, &ss);
    VIRTUAL_ONLY cr_expect_eq(ss.fibers, 16, "the pool has %u fibers", ss.fibers);
    cr_expect_leq(ss.fibers, 16, "the pool has %u fibers", ss.fibers);
    cr_expect_geq(ss.fibers, 1);
    cr_expect_eq(ss.served, NCALLERS);
    sim_destroy(s);
}

/* ---- statuses, timeouts, late replies ---- */

typedef struct {
    int r_fail, r_unknown, r_timeout, r_after, r_raw, r_short, r_buggy, r_huge;
    int r_status[3];
    fos_cycles waited, waited_huge;
    uint64_t token_after;
} errs;

static void err_client(void *arg)
{
    errs *e = arg;
    fos_addr a;
    fos_cap cap;
    find_server(&a, &cap);
    struct t_fail_req fq = {0};
    struct t_fail_resp fp;
    e->r_fail = t_fail_call(a, cap, &fq, &fp, FOS_CYCLES_MAX);
    struct t_buggy_req bq = {0};
    struct t_buggy_resp bp;
    e->r_buggy = t_buggy_call(a, cap, &bq, &bp, FOS_CYCLES_MAX);
    struct t_unknown_req uq = {0};
    struct t_unknown_resp up;
    e->r_unknown = t_unknown_call(a, cap, &uq, &up, FOS_CYCLES_MAX);

    /* A call that times out; its reply comes later and must not be taken for
     * the next call's. */
    struct t_slow_req sq = {.wait = 50000, .token = 7};
    struct t_slow_resp sp;
    fos_cycles t0 = fos_now();
    e->r_timeout = t_slow_call(a, cap, &sq, &sp, 2000);
    e->waited = fos_now() - t0;
    sq = (struct t_slow_req){.wait = 100000, .token = 8};
    e->r_after = t_slow_call(a, cap, &sq, &sp, FOS_CYCLES_MAX);
    e->token_after = sp.token;

    /* A request whose lengths lie: the server answers -EBADMSG. */
    struct {
        fos_msg h;
        uint32_t len;
        char s[4];
    } raw = {.h = {.type = t_echo_TYPE, .len = 8}, .len = 1000, .s = "abc"};
    struct {
        fos_msg h;
        char pad[64];
    } resp;
    e->r_raw = fos_rpc_call(a, cap, &raw.h, &resp.h, sizeof resp, FOS_CYCLES_MAX);
    /* A reply larger than the caller's buffer. */
    struct {
        fos_msg h;
        char pad[8];
    } tiny;
    static unsigned char big[1000];
    struct t_echo_req q = {.text = "x", .blob = big, .blob_len = sizeof big};
    _Alignas(8) unsigned char req[2048];
    fos_msg *m = (fos_msg *)req;
    *m = (fos_msg){.type = t_echo_TYPE};
    cr_assert_eq(t_echo_pack_req(m, sizeof req - sizeof(fos_msg), &q), 0);
    e->r_short = fos_rpc_call(a, cap, m, &tiny.h, sizeof tiny, FOS_CYCLES_MAX);
    /* An answer too big to send. */
    fos_msg hq = {.type = T_HUGE_TYPE};
    t0 = fos_now();
    /* Native: about a second of TSC, so that a loaded host is not taken for the bug. */
    e->r_huge = fos_rpc_call(a, cap, &hq, &tiny.h, sizeof tiny, 3000000000ull);
    e->waited_huge = fos_now() - t0;
    /* Statuses that are no errno (INT_MIN's negation is the reply bit itself)
     * and one that is an errno fos does not list. */
    static const int32_t statuses[3] = {INT32_MIN, -5000, -EIO};
    for (int i = 0; i < 3; i++) {
        struct {
            fos_msg h;
            int32_t st;
        } sr = {.h = {.type = T_STATUS_TYPE, .len = sizeof(int32_t)}, .st = statuses[i]};
        e->r_status[i] = fos_rpc_call(a, cap, &sr.h, &tiny.h, sizeof tiny, FOS_CYCLES_MAX);
    }
}

Test(rpc, statuses_timeouts_and_bad_requests)
{
    world w = {0};
    errs e = {0};
    sim *s = boot(4, &w);
    cr_assert_eq(sim_spawn(s, 2, err_client, &e, "client", false), 0);
    run_ok(s);
    cr_expect_eq(e.r_fail, -EPERM, "the handler's status: %s", fos_err_name(e.r_fail));
    cr_expect_eq(e.r_unknown, -ENOSYS, "%s", fos_err_name(e.r_unknown));
    cr_expect_eq(e.r_buggy, -EINVAL, "a handler's bug is not bad input: %s",
                 fos_err_name(e.r_buggy));
    cr_expect_eq(e.r_timeout, -ETIMEDOUT, "%s", fos_err_name(e.r_timeout));
    VIRTUAL_ONLY
    {
        cr_expect_geq(e.waited, 2000);
        cr_expect_lt(e.waited, 2000 + 200, "waited %lu", (unsigned long)e.waited);
    }
    cr_expect_eq(e.r_after, 0, "%s", fos_err_name(e.r_after));
    cr_expect_eq(e.token_after, 8 * 3 + 1, "the late reply to the first call was taken");
    cr_expect_eq(e.r_raw, -EBADMSG, "%s", fos_err_name(e.r_raw));
    cr_expect_eq(e.r_short, -EMSGSIZE, "%s", fos_err_name(e.r_short));
    cr_expect_eq(e.r_huge, -EMSGSIZE, "%s", fos_err_name(e.r_huge));
    VIRTUAL_ONLY cr_expect_lt(e.waited_huge, 10000, "waited %lu", (unsigned long)e.waited_huge);
    cr_expect_eq(e.r_status[0], -EINVAL, "INT_MIN: %s", fos_err_name(e.r_status[0]));
    cr_expect_eq(e.r_status[1], -EINVAL, "-5000: %s", fos_err_name(e.r_status[1]));
    cr_expect_eq(e.r_status[2], -EIO, "-EIO: %s", fos_err_name(e.r_status[2]));
    sim_destroy(s);
}

/* Unpacking never reads past a message, whatever its lengths say. */
Test(rpc, unpack_checks_every_length)
{
    _Alignas(8) unsigned char buf[256];
    fos_msg *m = (fos_msg *)buf;
    struct t_echo_req q = {.text = "abc", .blob = "xyz", .blob_len = 3, .n = 5};
    cr_assert_eq(t_echo_pack_req(m, sizeof buf - sizeof(fos_msg), &q), 0);
    struct t_echo_req out;
    cr_assert_eq(t_echo_unpack_req(m, &out), 0);
    cr_expect_str_eq(out.text, "abc");
    cr_expect_eq(out.n, 5);
    uint32_t full = m->len;
    for (uint32_t len = 0; len < full; len++) {
        m->len = len;
        cr_expect_eq(t_echo_unpack_req(m, &out), -EBADMSG, "truncated to %u", len);
    }
    m->len = full + 1;
    cr_expect_eq(t_echo_unpack_req(m, &out), -EBADMSG, "a trailing byte");
    m->len = full;
    /* A str without its NUL. */
    ((char *)fos_msg_data(m))[4 + 3] = 'd';
    cr_expect_eq(t_echo_unpack_req(m, &out), -EBADMSG);
    /* Packing what does not fit says so. */
    cr_expect_eq(t_echo_pack_req(m, 10, &q), -EMSGSIZE);
}

/* A server's mailbox destroyed under it by its owner, and its slot taken by a
 * new mailbox: the server stops, and nothing still names the old mailbox (the
 * sanitizer build would see a use after free). Another core cannot stop it. */
/* Native: steps ~0.1 s of TSC apart, so that a loaded host keeps their order. */
#define STEP(x) (TEST_IS_NATIVE ? 3000ull * (x) : (x))

typedef struct {
    fos_server *s;
    fos_addr addr;
    fos_cap cap;
    int r_foreign, r_call_after_foreign, r_destroy_mbox, r_create, r_destroy, r_call_after;
} owner_story;

static void owner(void *arg)
{
    owner_story *o = arg;
    fos_server_opts so = {.name = "owned"};
    cr_assert_eq(fos_server_create(&so, &o->s), 0);
    cr_assert_eq(FOS_RPC_SERVE(o->s, t_fail, do_fail, NULL), 0);
    o->addr = fos_server_addr(o->s);
    o->cap = fos_server_cap(o->s);
    fos_sleep(STEP(100000)); /* the stranger's turn */
    o->r_destroy_mbox = fos_mbox_destroy(fos_server_mbox(o->s));
    fos_mbox *m;
    fos_cap c;
    o->r_create = fos_mbox_create(4, &m, &c);
    fos_sleep(STEP(1000));
    o->r_destroy = fos_server_destroy(o->s);
    cr_expect_null(fos_server_mbox(o->s), "the server names no mailbox once its own is gone");
    fos_sleep(STEP(100000));
}

static void stranger(void *arg)
{
    owner_story *o = arg;
    fos_sleep(STEP(20000));
    o->r_foreign = fos_server_destroy(o->s);
    struct t_fail_req q = {0};
    struct t_fail_resp p;
    o->r_call_after_foreign = t_fail_call(o->addr, o->cap, &q, &p, STEP(50000));
    fos_sleep(STEP(200000));
    o->r_call_after = t_fail_call(o->addr, o->cap, &q, &p, STEP(50000));
}

Test(rpc, a_server_whose_mailbox_is_destroyed_under_it_stops_cleanly)
{
    owner_story o = {0};
    sim *s = make_sim(4);
    cr_assert_eq(sim_spawn(s, 1, owner, &o, "owner", false), 0);
    cr_assert_eq(sim_spawn(s, 2, stranger, &o, "stranger", false), 0);
    run_ok(s);
    cr_expect_eq(o.r_foreign, -EINVAL, "%s", fos_err_name(o.r_foreign));
    cr_expect_eq(o.r_call_after_foreign, -EPERM, "still served: %s",
                 fos_err_name(o.r_call_after_foreign));
    cr_expect_eq(o.r_destroy_mbox, 0);
    cr_expect_eq(o.r_create, 0);
    cr_expect_eq(o.r_destroy, -EINVAL, "already stopped: %s", fos_err_name(o.r_destroy));
    cr_expect_eq(o.r_call_after, -ENOENT, "%s", fos_err_name(o.r_call_after));
    sim_destroy(s);
}

/* A server of a mailbox it cannot serve is refused, not made to serve
 * nothing; a request the dispatcher never made is not answered. */
typedef struct {
    int r_gone, r_cap, r_first, r_twice, r_forged;
} bad_servers;

static void make_bad_servers(void *arg)
{
    bad_servers *b = arg;
    fos_mbox *m;
    fos_cap cap;
    fos_server *srv;
    cr_assert_eq(fos_mbox_create(4, &m, &cap), 0);
    fos_server_opts o = {.mbox = m, .cap = cap + 1};
    b->r_cap = fos_server_create(&o, &srv);
    o.cap = cap;
    b->r_first = fos_server_create(&o, &srv);
    b->r_twice = fos_server_create(&o, &srv);
    fos_mbox *gone;
    fos_cap gcap;
    cr_assert_eq(fos_mbox_create(4, &gone, &gcap), 0);
    cr_assert_eq(fos_mbox_destroy(gone), 0);
    o = (fos_server_opts){.mbox = gone, .cap = gcap};
    b->r_gone = fos_server_create(&o, &srv);
    fos_msg q = {0};
    fos_request forged = {.msg = &q};
    b->r_forged = fos_reply(&forged, 0, NULL);
}

Test(rpc, a_server_of_a_mailbox_it_cannot_serve_is_refused)
{
    sim *s = make_sim(4);
    bad_servers b = {0};
    cr_assert_eq(sim_spawn(s, 1, make_bad_servers, &b, "maker", false), 0);
    run_ok(s);
    cr_expect_eq(b.r_cap, -EPERM, "another capability: %s", fos_err_name(b.r_cap));
    cr_expect_eq(b.r_first, 0, "%s", fos_err_name(b.r_first));
    cr_expect_eq(b.r_twice, -EBUSY, "a second server: %s", fos_err_name(b.r_twice));
    cr_expect_eq(b.r_gone, -ENOENT, "a destroyed mailbox: %s", fos_err_name(b.r_gone));
    cr_expect_eq(b.r_forged, -EINVAL, "a request of no server: %s", fos_err_name(b.r_forged));
    sim_destroy(s);
}
