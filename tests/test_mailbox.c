/* Mailboxes: capacity, capabilities, addresses, dead cores, timeouts, sizes,
 * ordering, many senders, the kernel-set sender and the timing rule. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "fos/fos.h"
#include "tests/harness.h"

typedef struct {
    fos_msg h;
    uint64_t v;
} small_msg;

/* One mailbox and the results of sends to it, shared by the tests below. */
typedef struct {
    fos_mbox *box;
    fos_addr addr;
    fos_cap cap;
    int res[8];
    int n;
} box_state;

/* ---- refusals ---- */

static void send_three(void *arg)
{
    box_state *st = arg;
    small_msg m = {.h = {.len = sizeof(uint64_t)}};

    for (int i = 0; i < 3; i++) {
        m.v = (uint64_t)i;
        st->res[st->n++] = fos_send(st->addr, st->cap, &m.h);
    }
}

Test(mailbox, full_gives_eagain)
{
    sim *s = make_sim(4);
    box_state st = {0};
    sim_stats ss;

    cr_assert_eq(sim_mbox_create(s, 1, 2, &st.box, &st.addr, &st.cap), 0);
    cr_assert_eq(st.addr.core, 1);
    cr_assert_neq(st.cap, 0);
    cr_assert_eq(sim_spawn(s, 0, send_three, &st, "sender", false), 0);
    run_ok(s);
    cr_expect_eq(st.res[0], 0);
    cr_expect_eq(st.res[1], 0);
    cr_expect_eq(st.res[2], -EAGAIN, "third send to a full mailbox gave %d", st.res[2]);
    cr_expect_eq(fos_mbox_count(st.box), 2);
    sim_get_stats(s, &ss);
    cr_expect_eq(ss.msgs, 2);
    cr_expect_eq(ss.refused_full, 1);
    cr_expect_eq(ss.msg_bytes, 2 * sizeof(small_msg));
    /* The sender counts every attempt; the mailbox's core what it took in. */
    sim_core_stats cs;
    cr_assert_eq(sim_get_core_stats(s, 0, &cs), 0);
    cr_expect_eq(cs.msgs_sent, 3);
    cr_expect_eq(cs.bytes_sent, 3 * sizeof(small_msg));
    cr_assert_eq(sim_get_core_stats(s, 1, &cs), 0);
    cr_expect_eq(cs.msgs_recv, 2);
    cr_expect_eq(cs.msgs_sent, 0);
    cr_expect_eq(sim_get_core_stats(s, 4, &cs), -EINVAL);
    sim_destroy(s);
}

static void send_badly(void *arg)
{
    box_state *st = arg;
    small_msg m = {.h = {.len = sizeof(uint64_t)}};
    fos_addr bogus = {st->addr.core, 0x7777};
    fos_addr wrong_gen = {st->addr.core, st->addr.id + (1u << 16)};

    st->res[st->n++] = fos_send(st->addr, st->cap ^ 1, &m.h);
    st->res[st->n++] = fos_send(bogus, st->cap, &m.h);
    st->res[st->n++] = fos_send(wrong_gen, st->cap, &m.h);
    st->res[st->n++] = fos_send((fos_addr){99, st->addr.id}, st->cap, &m.h);
    st->res[st->n++] = fos_send(st->addr, st->cap, NULL);
    st->res[st->n++] = fos_send(st->addr, st->cap, &m.h); /* the right one */
}

Test(mailbox, bad_capability_and_address)
{
    sim *s = make_sim(4);
    box_state st = {0};
    sim_stats ss;

    cr_assert_eq(sim_mbox_create(s, 2, 4, &st.box, &st.addr, &st.cap), 0);
    cr_assert_eq(sim_spawn(s, 0, send_badly, &st, "sender", false), 0);
    run_ok(s);
    cr_expect_eq(st.res[0], -EPERM, "wrong capability gave %d", st.res[0]);
    cr_expect_eq(st.res[1], -ENOENT, "bogus id gave %d", st.res[1]);
    cr_expect_eq(st.res[2], -ENOENT, "wrong generation gave %d", st.res[2]);
    cr_expect_eq(st.res[3], -EINVAL, "core 99 of 4 gave %d", st.res[3]);
    cr_expect_eq(st.res[4], -EINVAL, "NULL message gave %d", st.res[4]);
    cr_expect_eq(st.res[5], 0);
    cr_expect_eq(fos_mbox_count(st.box), 1);
    sim_get_stats(s, &ss);
    cr_expect_eq(ss.refused_perm, 1);
    cr_expect_eq(ss.refused_noent, 2);
    cr_expect_eq(ss.msgs, 1);
    sim_destroy(s);
}

typedef struct {
    box_state b;
    int destroy_res, destroy_again, recv_after, count_after;
} destroyed_state;

static void destroyer(void *arg)
{
    destroyed_state *st = arg;
    small_msg m;

    st->destroy_res = fos_mbox_destroy(st->b.box);
    st->destroy_again = fos_mbox_destroy(st->b.box);
    st->recv_after = fos_recv(st->b.box, &m.h, sizeof m, 0);
    st->count_after = fos_mbox_count(st->b.box);
}

static void late_sender(void *arg)
{
    destroyed_state *st = arg;
    small_msg m = {.h = {.len = sizeof(uint64_t)}};

    fos_sleep(500);
    st->b.res[st->b.n++] = fos_send(st->b.addr, st->b.cap, &m.h);
}

Test(mailbox, destroyed_gives_enoent, VIRTUAL_TIMING)
{
    sim *s = make_sim(4);
    destroyed_state st = {0};

    cr_assert_eq(sim_mbox_create(s, 1, 4, &st.b.box, &st.b.addr, &st.b.cap), 0);
    cr_assert_eq(sim_spawn(s, 1, destroyer, &st, "destroyer", false), 0);
    cr_assert_eq(sim_spawn(s, 0, late_sender, &st, "sender", false), 0);
    run_ok(s);
    cr_expect_eq(st.destroy_res, 0);
    cr_expect_eq(st.destroy_again, -EINVAL, "second destroy gave %d", st.destroy_again);
    cr_expect_eq(st.recv_after, -ENOENT, "recv on a destroyed mailbox gave %d", st.recv_after);
    cr_expect_eq(st.count_after, -ENOENT, "count of a destroyed mailbox gave %d", st.count_after);
    cr_expect_eq(st.b.res[0], -ENOENT, "send to a destroyed mailbox gave %d", st.b.res[0]);
    sim_destroy(s);
}

static void foreign_destroyer(void *arg)
{
    destroyed_state *st = arg;

    /* Only the owning core may destroy or set a reply mailbox. */
    st->destroy_res = fos_mbox_destroy(st->b.box);
    st->destroy_again = fos_mbox_set_reply(st->b.box);
}

Test(mailbox, foreign_core_cannot_destroy)
{
    sim *s = make_sim(4);
    destroyed_state st = {0};

    cr_assert_eq(sim_mbox_create(s, 1, 4, &st.b.box, &st.b.addr, &st.b.cap), 0);
    cr_assert_eq(sim_spawn(s, 3, foreign_destroyer, &st, "foreign", false), 0);
    run_ok(s);
    cr_expect_eq(st.destroy_res, -EINVAL);
    cr_expect_eq(st.destroy_again, -EINVAL);
    sim_destroy(s);
}

/* ---- dead cores ---- */

static void send_after_kill(void *arg)
{
    box_state *st = arg;
    small_msg m = {.h = {.len = sizeof(uint64_t)}};

    fos_sleep(1000); /* core 1 died at 100 */
    st->res[st->n++] = fos_send(st->addr, st->cap, &m.h);
}

Test(mailbox, dead_core_gives_ehostdown)
{
    sim *s = make_sim(4);
    box_state st = {0};
    sim_core_stats cs;
    sim_stats ss;

    cr_assert_eq(sim_mbox_create(s, 1, 4, &st.box, &st.addr, &st.cap), 0);
    cr_assert_eq(sim_kill_core(s, 1, 100), 0);
    cr_assert_eq(sim_spawn(s, 0, send_after_kill, &st, "sender", false), 0);
    run_ok(s);
    cr_expect_eq(st.res[0], -EHOSTDOWN, "send to a dead core gave %d", st.res[0]);
    cr_assert_eq(sim_get_core_stats(s, 1, &cs), 0);
    cr_expect(cs.dead);
    cr_assert_eq(sim_get_core_stats(s, 0, &cs), 0);
    cr_expect_not(cs.dead);
    sim_get_stats(s, &ss);
    cr_expect_eq(ss.msgs, 0);
    cr_expect_eq(ss.dropped_dead, 1, "the message lost in flight: dropped %llu",
                 (unsigned long long)ss.dropped_dead);
    sim_destroy(s);
}

static void send_three_then_wait(void *arg)
{
    send_three(arg);
    /* Outlive the kill at 1000, so the run reaches it. */
    fos_sleep(2000);
}

Test(mailbox, queued_messages_of_dead_core_are_dropped, VIRTUAL_TIMING)
{
    sim *s = make_sim(4);
    box_state st = {0};
    sim_stats ss;

    cr_assert_eq(sim_mbox_create(s, 1, 8, &st.box, &st.addr, &st.cap), 0);
    cr_assert_eq(sim_kill_core(s, 1, 1000), 0);
    cr_assert_eq(sim_spawn(s, 0, send_three_then_wait, &st, "sender", false), 0);
    run_ok(s);
    for (int i = 0; i < 3; i++)
        cr_expect_eq(st.res[i], 0, "send %d gave %d", i, st.res[i]);
    sim_get_stats(s, &ss);
    cr_expect_eq(ss.msgs, 3);
    cr_expect_eq(ss.dropped_dead, 3, "dropped %llu", (unsigned long long)ss.dropped_dead);
    cr_expect_eq(fos_mbox_count(st.box), -ENOENT, "a dead core's mailbox counted as empty");
    sim_destroy(s);
}

/* ---- receiving ---- */

typedef struct {
    fos_mbox *box;
    fos_cycles t0, t1, t2;
    int r_wait, r_poll;
} timeout_state;

static void recv_timeout(void *arg)
{
    timeout_state *st = arg;
    small_msg m;

    st->t0 = fos_now();
    st->r_wait = fos_recv(st->box, &m.h, sizeof m, 500);
    st->t1 = fos_now();
    st->r_poll = fos_recv(st->box, &m.h, sizeof m, 0);
    st->t2 = fos_now();
}

Test(mailbox, recv_timeout)
{
    sim *s = make_sim(2);
    timeout_state st = {0};

    cr_assert_eq(sim_mbox_create(s, 0, 4, &st.box, NULL, NULL), 0);
    cr_assert_eq(sim_spawn(s, 0, recv_timeout, &st, "receiver", false), 0);
    run_ok(s);
    cr_expect_eq(st.r_wait, -ETIMEDOUT, "gave %d", st.r_wait);
    cr_expect_geq(st.t1, st.t0 + 500, "timed out after %llu cycles",
                  (unsigned long long)(st.t1 - st.t0));
    cr_expect_eq(st.r_poll, -ETIMEDOUT, "a poll of an empty mailbox gave %d", st.r_poll);
    VIRTUAL_ONLY cr_expect_lt(st.t2 - st.t1, 500, "a poll waited");
    sim_destroy(s);
}

typedef struct {
    fos_msg h;
    unsigned char pay[64];
} mid_msg;

typedef struct {
    fos_mbox *box;
    fos_addr addr;
    fos_cap cap;
    int r_small, r_big, r_send;
    size_t count_after_small;
    mid_msg got;
} size_state;

static void size_sender(void *arg)
{
    size_state *st = arg;
    mid_msg m = {.h = {.type = 7, .len = sizeof m.pay}};

    for (size_t i = 0; i < sizeof m.pay; i++)
        m.pay[i] = (unsigned char)(i * 3 + 1);
    st->r_send = fos_send(st->addr, st->cap, &m.h);
}

static void size_receiver(void *arg)
{
    size_state *st = arg;
    struct {
        fos_msg h;
        unsigned char pay[8];
    } tiny;

    /* Wait for the message to be there, then ask with too small a buffer. */
    while (fos_mbox_count(st->box) == 0)
        fos_sleep(10);
    st->r_small = fos_recv(st->box, &tiny.h, sizeof tiny, 0);
    st->count_after_small = fos_mbox_count(st->box);
    st->r_big = fos_recv(st->box, &st->got.h, sizeof st->got, 0);
}

Test(mailbox, recv_buffer_too_small)
{
    sim *s = make_sim(4);
    size_state st = {0};

    cr_assert_eq(sim_mbox_create(s, 3, 4, &st.box, &st.addr, &st.cap), 0);
    cr_assert_eq(sim_spawn(s, 0, size_sender, &st, "sender", false), 0);
    cr_assert_eq(sim_spawn(s, 3, size_receiver, &st, "receiver", false), 0);
    run_ok(s);
    cr_expect_eq(st.r_send, 0);
    cr_expect_eq(st.r_small, -EMSGSIZE, "gave %d", st.r_small);
    cr_expect_eq(st.count_after_small, 1, "the message did not stay queued");
    cr_expect_eq(st.r_big, 0);
    cr_expect_eq(st.got.h.type, 7);
    cr_expect_eq(st.got.h.len, 64);
    for (size_t i = 0; i < 64; i++)
        cr_expect_eq(st.got.pay[i], (unsigned char)(i * 3 + 1), "byte %zu", i);
    cr_expect_eq(fos_mbox_count(st.box), 0);
    sim_destroy(s);
}

#define MAXB 1024

typedef struct {
    fos_mbox *box;
    fos_addr addr;
    fos_cap cap;
    int r_fit, r_over, r_recv;
    uint32_t got_len;
} max_state;

typedef struct {
    fos_msg h;
    unsigned char pay[MAXB];
} max_msg;

static void max_sender(void *arg)
{
    max_state *st = arg;
    max_msg m = {0};

    m.h.len = MAXB - sizeof(fos_msg) + 1;
    st->r_over = fos_send(st->addr, st->cap, &m.h);
    m.h.len = MAXB - sizeof(fos_msg);
    st->r_fit = fos_send(st->addr, st->cap, &m.h);
}

static void max_receiver(void *arg)
{
    max_state *st = arg;
    max_msg m;

    st->r_recv = fos_recv(st->box, &m.h, sizeof m, FOS_CYCLES_MAX);
    st->got_len = m.h.len;
}

Test(mailbox, message_over_max_is_refused)
{
    sim *s = make_sim_cfg(4, MAXB);
    max_state st = {0};
    sim_stats ss;

    cr_assert_eq(sim_mbox_create(s, 1, 4, &st.box, &st.addr, &st.cap), 0);
    cr_assert_eq(sim_spawn(s, 0, max_sender, &st, "sender", false), 0);
    cr_assert_eq(sim_spawn(s, 1, max_receiver, &st, "receiver", false), 0);
    run_ok(s);
    cr_expect_eq(st.r_over, -EMSGSIZE, "a message of max+1 bytes gave %d", st.r_over);
    cr_expect_eq(st.r_fit, 0, "a message of exactly max bytes gave %d", st.r_fit);
    cr_expect_eq(st.r_recv, 0);
    cr_expect_eq(st.got_len, MAXB - sizeof(fos_msg));
    sim_get_stats(s, &ss);
    cr_expect_eq(ss.msgs, 1);
    sim_destroy(s);
}

typedef struct {
    fos_mbox *box;
    int r_forever, r_timed;
    fos_cycles woke_at, timed_woke_at;
} wake_state;

static void wait_forever(void *arg)
{
    wake_state *st = arg;
    small_msg m;

    st->r_forever = fos_recv(st->box, &m.h, sizeof m, FOS_CYCLES_MAX);
    st->woke_at = fos_now();
}

static void destroy_later(void *arg)
{
    wake_state *st = arg;

    fos_sleep(300);
    cr_assert_eq(fos_mbox_destroy(st->box), 0);
}

Test(mailbox, destroy_wakes_receiver)
{
    sim *s = make_sim(2);
    wake_state st = {0};

    cr_assert_eq(sim_mbox_create(s, 1, 4, &st.box, NULL, NULL), 0);
    cr_assert_eq(sim_spawn(s, 1, wait_forever, &st, "waiter", false), 0);
    cr_assert_eq(sim_spawn(s, 1, destroy_later, &st, "destroyer", false), 0);
    run_ok(s);
    cr_expect_eq(st.r_forever, -ENOENT, "a receiver of a destroyed mailbox got %d", st.r_forever);
    cr_expect_geq(st.woke_at, 300);
    sim_destroy(s);
}

/* ---- a recv's timer outliving its fiber ---- */

typedef struct {
    fos_mbox *a_box, *b_box;
    fos_addr a_addr, b_addr;
    fos_cap a_cap, b_cap;
    int ra, rb;
    fos_cycles b_woke;
    void *a_self, *b_self;
} stale_state;

static void recv_with_timeout(void *arg)
{
    stale_state *st = arg;
    small_msg m;

    st->a_self = fos_fiber_self();
    /* Answered long before the timeout: the timer at 10000 goes stale. */
    st->ra = fos_recv(st->a_box, &m.h, sizeof m, 10000);
}

static void recv_forever(void *arg)
{
    stale_state *st = arg;
    small_msg m;

    st->b_self = fos_fiber_self();
    st->rb = fos_recv(st->b_box, &m.h, sizeof m, FOS_CYCLES_MAX);
    st->b_woke = fos_now();
}

static void stale_driver(void *arg)
{
    stale_state *st = arg;
    small_msg m = {.h = {.len = sizeof(uint64_t)}};

    cr_assert_eq(fos_send(st->a_addr, st->a_cap, &m.h), 0);
    fos_sleep(1000);
    /* The first receiver has ended: a new fiber may take its place in memory. */
    cr_assert_eq(fos_fiber_spawn(recv_forever, st, NULL, NULL), 0);
    fos_sleep(20000);
    cr_assert_eq(fos_send(st->b_addr, st->b_cap, &m.h), 0);
}

/* A fiber that got its message before its recv timeout has ended; the timeout's
 * event must neither touch it (freed) nor wake another fiber later created in
 * its place: here B, waiting forever, must get its message after 21000, not
 * -ETIMEDOUT at 10000. */
Test(mailbox, stale_recv_timer_after_fiber_end, VIRTUAL_TIMING)
{
    sim *s = make_sim(2);
    stale_state st = {0};

    cr_assert_eq(sim_mbox_create(s, 1, 4, &st.a_box, &st.a_addr, &st.a_cap), 0);
    cr_assert_eq(sim_mbox_create(s, 1, 4, &st.b_box, &st.b_addr, &st.b_cap), 0);
    cr_assert_eq(sim_spawn(s, 1, recv_with_timeout, &st, "A", false), 0);
    cr_assert_eq(sim_spawn(s, 1, stale_driver, &st, "driver", false), 0);
    run_ok(s);
    cr_expect_eq(st.ra, 0);
    cr_expect_eq(st.rb, 0, "B (fiber %p; A was %p) waiting forever got %d (%s) at %llu", st.b_self,
                 st.a_self, st.rb, fos_err_name(st.rb), (unsigned long long)st.b_woke);
    cr_expect_geq(st.b_woke, 21000);
    sim_destroy(s);
}

/* ---- ordering ---- */

typedef struct {
    fos_msg h;
    uint32_t sender, seq;
    fos_cycles sent_at;
    unsigned char pad[1500];
} seq_msg;

#define SEQ_HDR (sizeof(uint32_t) * 2 + sizeof(fos_cycles))

typedef struct {
    fos_mbox *box;
    fos_addr addr;
    fos_cap cap;
    uint32_t n;
    uint32_t got, bad_order, bad_len, bad_time, retries;
    uint32_t next;
    const fos_topo *topo;
} fifo_state;

static void fifo_sender(void *arg)
{
    fifo_state *st = arg;
    seq_msg m = {0};

    for (uint32_t i = 0; i < st->n; i++) {
        /* Large and small in turn: a small one must not overtake a large one. */
        m.h.len = (i & 1) ? SEQ_HDR : SEQ_HDR + sizeof m.pad;
        m.seq = i;
        for (;;) {
            m.sent_at = fos_now();
            int r = fos_send(st->addr, st->cap, &m.h);
            if (r == 0) break;
            cr_assert_eq(r, -EAGAIN, "send %u gave %d", i, r);
            st->retries++;
            fos_sleep(100);
        }
    }
}

static void fifo_receiver(void *arg)
{
    fifo_state *st = arg;
    seq_msg m;

    while (st->got < st->n) {
        cr_assert_eq(fos_recv(st->box, &m.h, sizeof m, FOS_CYCLES_MAX), 0);
        if (m.seq != st->next) st->bad_order++;
        st->next = m.seq + 1;
        if (m.h.len != ((m.seq & 1) ? SEQ_HDR : SEQ_HDR + sizeof m.pad)) st->bad_len++;
        if (fos_now() < m.sent_at + fos_topo_latency(st->topo, m.h.from.core, fos_core_self(),
                                                     fos_msg_size(&m.h)))
            st->bad_time++;
        st->got++;
    }
}

Test(mailbox, per_sender_fifo)
{
    sim *s = make_sim(16);
    fifo_state st = {.n = 200, .topo = sim_topo(s)};

    cr_assert_eq(sim_mbox_create(s, 10, 4, &st.box, &st.addr, &st.cap), 0);
    cr_assert_eq(sim_spawn(s, 5, fifo_sender, &st, "sender", false), 0);
    cr_assert_eq(sim_spawn(s, 10, fifo_receiver, &st, "receiver", false), 0);
    run_ok(s);
    cr_expect_eq(st.got, 200);
    cr_expect_eq(st.bad_order, 0, "%u messages out of order", st.bad_order);
    cr_expect_eq(st.bad_len, 0);
    cr_expect_eq(st.bad_time, 0, "%u messages seen before send time + latency", st.bad_time);
    sim_destroy(s);
}

/* ---- many senders into one small mailbox ---- */

#define NSEND 31
#define PER 300

typedef struct {
    fos_msg h;
    uint32_t sender, seq;
    fos_cycles sent_at;
} tag_msg;

typedef struct {
    fos_mbox *box;
    fos_addr addr;
    fos_cap cap;
    const fos_topo *topo;
    uint8_t seen[NSEND + 1][PER];
    int32_t last[NSEND + 1];
    uint32_t got, dup, bad_order, bad_from, bad_time, bad_id;
    uint64_t accepted, eagain, errors;
} many_state;

typedef struct {
    many_state *st;
    uint32_t id;
} many_arg;

static void many_sender(void *arg)
{
    many_arg *a = arg;
    many_state *st = a->st;
    tag_msg m = {.h = {.len = sizeof m - sizeof m.h}, .sender = a->id};

    for (uint32_t i = 0; i < PER; i++) {
        m.seq = i;
        /* A lie the kernel must overwrite. */
        m.h.from = (fos_addr){(a->id + 7) % (NSEND + 1), 12345};
        for (;;) {
            m.sent_at = fos_now();
            int r = fos_send(st->addr, st->cap, &m.h);
            /* Senders are host threads on the native engine: count atomically. */
            if (r == 0) {
                __atomic_fetch_add(&st->accepted, 1, __ATOMIC_RELAXED);
                break;
            }
            if (r != -EAGAIN) {
                __atomic_fetch_add(&st->errors, 1, __ATOMIC_RELAXED);
                break;
            }
            __atomic_fetch_add(&st->eagain, 1, __ATOMIC_RELAXED);
            fos_sleep(20 + fos_rand_below(40));
        }
    }
}

static void many_receiver(void *arg)
{
    many_state *st = arg;
    tag_msg m;

    while (st->got < NSEND * PER) {
        if (fos_recv(st->box, &m.h, sizeof m, FOS_CYCLES_MAX) != 0) {
            st->errors++;
            return;
        }
        st->got++;
        if (m.sender < 1 || m.sender > NSEND || m.seq >= PER) {
            st->bad_id++;
            continue;
        }
        if (m.h.from.core != m.sender) st->bad_from++;
        if (st->seen[m.sender][m.seq]++) st->dup++;
        if ((int32_t)m.seq <= st->last[m.sender]) st->bad_order++;
        st->last[m.sender] = (int32_t)m.seq;
        if (fos_now() < m.sent_at + fos_topo_latency(st->topo, m.sender, 0, fos_msg_size(&m.h)))
            st->bad_time++;
    }
}

Test(mailbox, many_senders_one_mailbox)
{
    sim *s = make_sim(NSEND + 1);
    static many_state st; /* too big for comfort on the test's stack */
    many_arg args[NSEND + 1];
    sim_stats ss;

    memset(&st, 0, sizeof st);
    st.topo = sim_topo(s);
    for (int i = 0; i <= NSEND; i++)
        st.last[i] = -1;
    cr_assert_eq(sim_mbox_create(s, 0, 8, &st.box, &st.addr, &st.cap), 0);
    cr_assert_eq(sim_spawn(s, 0, many_receiver, &st, "receiver", false), 0);
    for (uint32_t i = 1; i <= NSEND; i++) {
        args[i] = (many_arg){&st, i};
        cr_assert_eq(sim_spawn(s, i, many_sender, &args[i], "sender", false), 0);
    }
    run_ok(s);
    sim_get_stats(s, &ss);
    cr_expect_eq(st.errors, 0);
    cr_expect_eq(st.accepted, NSEND * PER);
    cr_expect_eq(st.got, NSEND * PER, "received %u", st.got);
    cr_expect_eq(st.bad_id, 0);
    cr_expect_eq(st.dup, 0, "%u duplicates", st.dup);
    uint32_t missing = 0;
    for (uint32_t i = 1; i <= NSEND; i++)
        for (uint32_t j = 0; j < PER; j++)
            missing += st.seen[i][j] == 0;
    cr_expect_eq(missing, 0, "%u messages never seen", missing);
    cr_expect_eq(st.bad_order, 0, "%u out of per-sender order", st.bad_order);
    cr_expect_eq(st.bad_from, 0, "%u with a forged msg.from.core", st.bad_from);
    cr_expect_eq(st.bad_time, 0, "%u seen before send time + latency", st.bad_time);
    cr_expect_eq(ss.msgs, st.accepted, "sim counted %llu accepted, senders %llu",
                 (unsigned long long)ss.msgs, (unsigned long long)st.accepted);
    cr_expect_eq(ss.refused_full, st.eagain);
    /* On real threads whether it ever fills is up to the host's scheduler. */
    VIRTUAL_ONLY cr_expect_gt(st.eagain, 0, "a capacity-8 mailbox with 31 senders was never full");
    sim_destroy(s);
}

/* ---- the timing rule, exactly ---- */

typedef struct {
    fos_mbox *box;
    fos_addr addr;
    fos_cap cap;
    fos_cycles sent_at, send_returned, recv_at;
    int rs, rr;
} exact_state;

static void exact_sender(void *arg)
{
    exact_state *st = arg;
    small_msg m = {.h = {.len = sizeof(uint64_t)}};

    fos_compute(1000);
    st->sent_at = fos_now();
    st->rs = fos_send(st->addr, st->cap, &m.h);
    st->send_returned = fos_now();
}

static void exact_receiver(void *arg)
{
    exact_state *st = arg;
    small_msg m;

    st->rr = fos_recv(st->box, &m.h, sizeof m, FOS_CYCLES_MAX);
    st->recv_at = fos_now();
}

Test(mailbox, send_round_trip_times, VIRTUAL_TIMING)
{
    /* 0 -> 15 on a 4x4 mesh: 6 hops. A 48-byte message: copy 12 cycles. */
    sim *s = make_sim(16);
    exact_state st = {0};
    const fos_topo *t = sim_topo(s);
    const fos_costs *k = &t->costs;

    cr_assert_eq(sim_mbox_create(s, 15, 4, &st.box, &st.addr, &st.cap), 0);
    cr_assert_eq(sim_spawn(s, 0, exact_sender, &st, "sender", false), 0);
    cr_assert_eq(sim_spawn(s, 15, exact_receiver, &st, "receiver", false), 0);
    run_ok(s);
    cr_expect_eq(st.rs, 0);
    cr_expect_eq(st.rr, 0);
    fos_cycles lat = fos_topo_latency(t, 0, 15, sizeof(small_msg));
    cr_assert_eq(lat, k->trap + 6 * k->hop + 12);
    cr_expect_geq(st.recv_at, st.sent_at + lat, "sent %llu, received %llu",
                  (unsigned long long)st.sent_at, (unsigned long long)st.recv_at);
    /* The answer travels back: fos_send returns no earlier than the round trip. */
    cr_expect_geq(st.send_returned, st.sent_at + lat + fos_topo_latency(t, 15, 0, 0),
                  "send returned at %llu", (unsigned long long)st.send_returned);
    sim_destroy(s);
}

/* A receiver that polls the count in a loop instead of waiting in fos_recv:
 * each look costs a poll, so its clock moves on, the window ends and the
 * message comes, no earlier than it was sent plus the latency. */
static void count_poller(void *arg)
{
    exact_state *st = arg;
    small_msg m;
    int looks = 0;

    while (fos_mbox_count(st->box) == 0)
        looks++;
    st->recv_at = fos_now();
    st->rr = fos_recv(st->box, &m.h, sizeof m, 0);
    st->sent_at = (fos_cycles)looks;
}

static void count_sender(void *arg)
{
    exact_state *st = arg;
    small_msg m = {.h = {.len = sizeof(uint64_t)}};

    fos_compute(1000);
    st->send_returned = fos_now(); /* here: when it sends */
    st->rs = fos_send(st->addr, st->cap, &m.h);
}

Test(mailbox, polling_the_count_waits_in_simulated_time, VIRTUAL_TIMING)
{
    sim *s = make_sim(16);
    exact_state st = {0};
    const fos_topo *t = sim_topo(s);

    cr_assert_eq(sim_mbox_create(s, 15, 4, &st.box, &st.addr, &st.cap), 0);
    cr_assert_eq(sim_spawn(s, 0, count_sender, &st, "sender", false), 0);
    cr_assert_eq(sim_spawn(s, 15, count_poller, &st, "poller", false), 0);
    run_ok(s);
    cr_expect_eq(st.rs, 0);
    cr_expect_eq(st.rr, 0);
    fos_cycles due = st.send_returned + fos_topo_latency(t, 0, 15, sizeof(small_msg));
    cr_expect_geq(st.recv_at, due, "seen at %llu, due at %llu", (unsigned long long)st.recv_at,
                  (unsigned long long)due);
    /* Every look cost one poll, and nothing else moved the poller's clock. */
    cr_expect_eq(st.recv_at, (st.sent_at + 1) * t->costs.poll, "%llu looks, seen at %llu",
                 (unsigned long long)st.sent_at, (unsigned long long)st.recv_at);
    cr_expect_lt(st.recv_at, due + 2 * t->costs.poll, "seen at %llu, due at %llu",
                 (unsigned long long)st.recv_at, (unsigned long long)due);
    sim_destroy(s);
}

/* ---- sending to one's own core ---- */

typedef struct {
    fos_mbox *box;
    fos_addr addr;
    fos_cap cap;
    int rs, rr;
    uint64_t v;
    fos_cycles sent_at, recv_at;
} self_state;

static void self_sender(void *arg)
{
    self_state *st = arg;
    small_msg m = {.h = {.len = sizeof(uint64_t)}, .v = 31337};
    small_msg in;

    st->sent_at = fos_now();
    st->rs = fos_send(st->addr, st->cap, &m.h);
    st->rr = fos_recv(st->box, &in.h, sizeof in, 0); /* already queued */
    st->recv_at = fos_now();
    st->v = in.v;
}

Test(mailbox, send_to_own_core)
{
    sim *s = make_sim(2);
    self_state st = {0};
    const fos_topo *t = sim_topo(s);

    cr_assert_eq(sim_mbox_create(s, 1, 4, &st.box, &st.addr, &st.cap), 0);
    cr_assert_eq(sim_spawn(s, 1, self_sender, &st, "self", false), 0);
    run_ok(s);
    cr_expect_eq(st.rs, 0);
    cr_expect_eq(st.rr, 0, "the message was not queued when fos_send returned: %d", st.rr);
    cr_expect_eq(st.v, 31337);
    cr_expect_geq(st.recv_at, st.sent_at + fos_topo_latency(t, 1, 1, sizeof(small_msg)));
    sim_destroy(s);
}

/* ---- simultaneous arrivals ---- */

typedef struct {
    fos_mbox *box;
    fos_addr addr;
    fos_cap cap;
    int res[16];
    fos_core_id order[4];
    int n;
} tie_state;

static void tie_sender(void *arg)
{
    tie_state *st = arg;
    small_msg m = {.h = {.len = sizeof(uint64_t)}, .v = fos_core_self()};

    fos_sleep(100);
    st->res[fos_core_self()] = fos_send(st->addr, st->cap, &m.h);
}

static void tie_receiver(void *arg)
{
    tie_state *st = arg;
    small_msg m;

    fos_sleep(1000);
    while (fos_recv(st->box, &m.h, sizeof m, 0) == 0)
        st->order[st->n++] = m.h.from.core;
}

/* Cores 1 and 4 are both one hop from core 0 on a 4x4 mesh: their messages,
 * sent at the same time, arrive at the same time. Order is (time, source core,
 * sequence): core 1's first, whichever core the engine happens to run first.
 * With room for one, core 1's is taken and core 4's refused. */
Test(mailbox, simultaneous_arrivals_ordered_by_core, VIRTUAL_TIMING)
{
    for (size_t cap = 1; cap <= 2; cap++) {
        sim *s = make_sim(16);
        tie_state st = {0};

        cr_assert_eq(sim_mbox_create(s, 0, cap, &st.box, &st.addr, &st.cap), 0);
        cr_assert_eq(sim_spawn(s, 4, tie_sender, &st, "s4", false), 0);
        cr_assert_eq(sim_spawn(s, 1, tie_sender, &st, "s1", false), 0);
        cr_assert_eq(sim_spawn(s, 0, tie_receiver, &st, "receiver", false), 0);
        cr_assert_eq(fos_topo_latency(sim_topo(s), 1, 0, 48),
                     fos_topo_latency(sim_topo(s), 4, 0, 48));
        run_ok(s);
        cr_expect_eq(st.res[1], 0);
        cr_expect_eq(st.res[4], cap == 1 ? -EAGAIN : 0, "capacity %zu: core 4 got %d", cap,
                     st.res[4]);
        cr_assert_eq(st.n, (int)cap);
        cr_expect_eq(st.order[0], 1, "capacity %zu: first from core %u", cap, st.order[0]);
        if (cap == 2) cr_expect_eq(st.order[1], 4);
        sim_destroy(s);
    }
}

/* ---- creating mailboxes ---- */

typedef struct {
    int r_zero, r_ok, r_set, r_clear, r_null;
    fos_cap cap;
    fos_addr addr;
} create_state;

static void creator(void *arg)
{
    create_state *st = arg;
    fos_mbox *m = NULL;

    st->r_zero = fos_mbox_create(0, &m, NULL);
    st->r_null = fos_mbox_create(4, NULL, NULL);
    st->r_ok = fos_mbox_create(4, &m, &st->cap);
    if (st->r_ok != 0) return;
    st->addr = fos_mbox_addr(m);
    st->r_set = fos_mbox_set_reply(m);
    st->r_clear = fos_mbox_set_reply(NULL);
    fos_mbox_destroy(m);
}

Test(mailbox, create_checks)
{
    sim *s = make_sim(4);
    create_state st = {0};

    cr_assert_eq(sim_spawn(s, 3, creator, &st, "creator", false), 0);
    cr_expect_eq(sim_mbox_create(s, 1, 0, NULL, NULL, NULL), -EINVAL);
    cr_expect_eq(sim_mbox_create(s, 4, 4, NULL, NULL, NULL), -EINVAL);
    run_ok(s);
    cr_expect_eq(st.r_zero, -EINVAL);
    cr_expect_eq(st.r_null, -EINVAL);
    cr_expect_eq(st.r_ok, 0);
    cr_expect_neq(st.cap, 0, "capability 0 was issued");
    cr_expect_eq(st.addr.core, 3);
    cr_expect_eq(st.r_set, 0);
    cr_expect_eq(st.r_clear, 0);
    sim_destroy(s);
}

/* ---- error names ---- */

Test(mailbox, error_names)
{
    static const int errs[] = {EAGAIN, EPERM,  ENOENT,   EHOSTDOWN, ETIMEDOUT,
                               EINVAL, ENOMEM, EMSGSIZE, EDEADLK,   ENAMETOOLONG};
    static const char *const names[] = {"EAGAIN",    "EPERM",       "ENOENT", "EHOSTDOWN",
                                        "ETIMEDOUT", "EINVAL",      "ENOMEM", "EMSGSIZE",
                                        "EDEADLK",   "ENAMETOOLONG"};

    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        cr_expect_str_eq(fos_err_name(-errs[i]), names[i]);
        cr_expect_not_null(fos_strerror(-errs[i]));
    }
    cr_expect_str_eq(fos_strerror(-EHOSTDOWN), "destination core is dead");
    /* An errno fos does not list keeps its C name; what is not one has none. */
    cr_expect_str_eq(fos_err_name(-EBADF), "EBADF");
    cr_expect_str_eq(fos_err_name(-5000), "E?");
    cr_expect_str_eq(fos_err_name(7), "E?");
    cr_expect_not_null(fos_strerror(-EBADF));
}

/* ---- envelopes are reused, even when traffic only flows one way ---- */

typedef struct {
    fos_mbox *box;
    fos_addr addr;
    fos_cap cap;
    uint32_t got, errors;
} oneway_state;

static void oneway_sender(void *arg)
{
    oneway_state *st = arg;
    small_msg m = {.h = {.len = sizeof(uint64_t)}};
    for (int i = 0; i < 5000; i++) {
        int r;
        while ((r = fos_send(st->addr, st->cap, &m.h)) == -EAGAIN)
            fos_yield();
        if (r != 0) __atomic_fetch_add(&st->errors, 1, __ATOMIC_RELAXED);
    }
}

/* An application, not a daemon: the run ends when the applications do, and on
 * threads a sender's last fos_send returns once its message lies in the
 * mailbox, possibly before the receiver has taken it. */
static void oneway_receiver(void *arg)
{
    oneway_state *st = arg;
    small_msg m;
    while (st->got < 15000 && fos_recv(st->box, &m.h, sizeof m, FOS_CYCLES_MAX) == 0)
        st->got++;
}

Test(mailbox, one_way_traffic_reuses_envelopes, .timeout = 60)
{
    sim *s = make_sim(4);
    oneway_state st = {0};
    sim_stats ss;

    cr_assert_eq(sim_mbox_create(s, 0, 16, &st.box, &st.addr, &st.cap), 0);
    cr_assert_eq(sim_spawn(s, 0, oneway_receiver, &st, "receiver", false), 0);
    for (uint32_t i = 1; i < 4; i++)
        cr_assert_eq(sim_spawn(s, i, oneway_sender, &st, "sender", false), 0);
    run_ok(s);
    sim_get_stats(s, &ss);
    cr_assert_eq(st.errors, 0);
    cr_assert_eq(st.got, 15000);
    /* Each sender needs a handful of envelopes in flight, not one per message. */
    cr_assert_lt(ss.envelope_allocs, 200, "%llu envelopes allocated for 15000 messages",
                 (unsigned long long)ss.envelope_allocs);
    sim_destroy(s);
}
