/* URPC channels: arrival through the endpoint's mailbox, wrap-around, messages
 * larger than a slot, a full ring seen late, teardown and fallback to the
 * mailbox, fos_send_name's automatic upgrade, many clients connecting at once,
 * and a stream that keeps its order while either end dies. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "fos/fos.h"
#include "tests/harness.h"

typedef struct {
    fos_msg h;
    uint32_t seq;
    unsigned char pad[1500];
} big_msg;

typedef struct {
    fos_mbox *sbox, *cbox;
    fos_addr saddr, caddr;
    fos_cap scap, ccap;
    int nmsgs;
    size_t page;
    int got, replies, bad, errs;
    int sent_ok, first_fail;
    int res[8];
    fos_chan *ch;
} cworld;

/* Four cores: the server's mailbox "/svc" on core 2 (scap messages), the
 * client's on core 1 (ccap); page 0 keeps the default channel page. */
static sim *boot_with(cworld *w, uint32_t upgrade_after, size_t page, size_t scap, size_t ccap)
{
    sim_config cfg;
    sim_config_default(&cfg);
    cfg.engine = TEST_ENGINE;
    cfg.chip.cores = 4;
    cfg.chan_upgrade_after = upgrade_after;
    if (page) cfg.chan_page_bytes = page;
    sim *s = NULL;
    cr_assert_eq(sim_create(&cfg, &s), 0);
    cr_assert_eq(sim_mbox_create(s, 2, scap, &w->sbox, &w->saddr, &w->scap), 0);
    cr_assert_eq(sim_mbox_create(s, 1, ccap, &w->cbox, &w->caddr, &w->ccap), 0);
    cr_assert_eq(sim_dir_register(s, "/svc", w->saddr, w->scap), 0);
    return s;
}

static sim *boot(cworld *w, uint32_t upgrade_after)
{
    return boot_with(w, upgrade_after, 0, 8, 8);
}

static uint32_t size_of(int i)
{
    return 8 + (uint32_t)(i * 37) % 1400; /* 1 to 23 slots: the ring wraps often */
}

/* Echoes every request back to its reply_to, checking content on the way. */
static void server(void *arg)
{
    cworld *w = arg;
    static big_msg m;
    while (fos_recv(w->sbox, &m.h, sizeof(m), FOS_CYCLES_MAX) == 0) {
        if (m.seq != (uint32_t)w->got || m.h.len != size_of(w->got) || m.h.from.core != 1 ||
            m.pad[m.h.len - 5] != (unsigned char)m.seq)
            w->bad++;
        w->got++;
        if (fos_send(m.h.reply_to, m.h.reply_cap, &m.h) != 0) w->errs++;
    }
}

static void client(void *arg)
{
    cworld *w = arg;
    fos_chan_opts o = {.reply = w->cbox, .page_bytes = w->page};
    cr_assert_eq(fos_chan_connect("/svc", &o, &w->ch), 0);
    static big_msg m, in;
    for (int i = 0; i < w->nmsgs; i++) {
        memset(&m, 0, sizeof(m));
        m.h.len = size_of(i);
        m.h.reply_to = w->caddr;
        m.h.reply_cap = w->ccap;
        m.seq = (uint32_t)i;
        m.pad[m.h.len - 5] = (unsigned char)i;
        int r;
        while ((r = fos_chan_send(w->ch, &m.h)) == -EAGAIN)
            fos_sleep(50);
        cr_assert_eq(r, 0, "send %d: %s", i, fos_err_name(r));
        cr_assert_eq(fos_recv(w->cbox, &in.h, sizeof(in), FOS_CYCLES_MAX), 0);
        if (in.seq != (uint32_t)i || in.h.len != m.h.len) w->bad++;
        w->replies++;
    }
}

Test(channel, round_trips_through_both_rings)
{
    cworld w = {.nmsgs = 300};
    sim *s = boot(&w, 0);
    cr_assert_eq(sim_spawn(s, 2, server, &w, "server", true), 0);
    cr_assert_eq(sim_spawn(s, 1, client, &w, "client", false), 0);
    cr_assert_eq(sim_run(s), 0);
    cr_assert_eq(w.got, 300);
    cr_assert_eq(w.replies, 300);
    cr_assert_eq(w.bad, 0);
    cr_assert_eq(w.errs, 0);
    sim_stats st;
    sim_get_stats(s, &st);
    /* Both directions went over the channel: no kernel message at all. */
    cr_assert_eq(st.chan_msgs, 600);
    cr_assert_eq(st.msgs, 0);
    sim_destroy(s);
}

Test(channel, small_page_wraps_with_multi_slot_messages)
{
    cworld w = {.nmsgs = 100, .page = 2048}; /* 32 slots: a 23-slot message wraps */
    sim *s = boot(&w, 0);
    cr_assert_eq(sim_spawn(s, 2, server, &w, "server", true), 0);
    cr_assert_eq(sim_spawn(s, 1, client, &w, "client", false), 0);
    cr_assert_eq(sim_run(s), 0);
    cr_assert_eq(w.replies, 100);
    cr_assert_eq(w.bad, 0);
    sim_destroy(s);
}

/* The server sleeps; the client fills the ring with one-slot messages. */
static void sleepy_server(void *arg)
{
    cworld *w = arg;
    fos_msg m;
    fos_sleep(100000);
    while (fos_recv(w->sbox, &m, sizeof(m), 0) == 0)
        w->got++;
}

static void filler(void *arg)
{
    cworld *w = arg;
    fos_chan_opts o = {.page_bytes = 1024}; /* 16 slots */
    cr_assert_eq(fos_chan_connect("/svc", &o, &w->ch), 0);
    fos_msg m = {.len = 0};
    w->first_fail = -1;
    for (int i = 0; i < 40; i++) {
        int r = fos_chan_send(w->ch, &m);
        if (r == 0)
            w->sent_ok++;
        else if (w->first_fail < 0)
            w->first_fail = r;
    }
    /* Too big for the ring at all. */
    static big_msg b = {.h = {.len = 1200}};
    w->res[0] = fos_chan_send(w->ch, &b.h);
    /* After the server drained, the releases travel back: room again. */
    fos_sleep(200000);
    w->res[1] = fos_chan_send(w->ch, &m);
}

Test(channel, full_ring_gives_eagain_then_room_after_release, VIRTUAL_TIMING)
{
    cworld w = {0};
    sim *s = boot(&w, 0);
    cr_assert_eq(sim_spawn(s, 2, sleepy_server, &w, "server", false), 0);
    cr_assert_eq(sim_spawn(s, 1, filler, &w, "filler", false), 0);
    cr_assert_eq(sim_run(s), 0);
    cr_assert_eq(w.sent_ok, 16);
    cr_assert_eq(w.first_fail, -EAGAIN);
    cr_assert_eq(w.res[0], -EMSGSIZE);
    cr_assert_eq(w.res[1], 0);
    cr_assert_eq(w.got, 16);
    sim_stats st;
    sim_get_stats(s, &st);
    cr_assert_eq(st.chan_full, 24);
    sim_destroy(s);
}

/* Teardown: after close, fos_send to the endpoint goes through the mailbox. */
static void closer(void *arg)
{
    cworld *w = arg;
    cr_assert_eq(fos_chan_connect("/svc", NULL, &w->ch), 0);
    fos_msg m = {.len = 0};
    w->res[0] = fos_send(w->saddr, w->scap, &m); /* routed over the channel */
    w->res[1] = fos_chan_close(w->ch);
    w->res[2] = fos_chan_send(w->ch, &m);
    w->res[3] = fos_send(w->saddr, w->scap, &m); /* the mailbox again */
    w->res[4] = fos_chan_close(w->ch);
}

/* Takes the two messages the closer sends. Not a daemon: on real threads the
 * run must not end (with the closer) before the second has arrived. */
static void counter(void *arg)
{
    cworld *w = arg;
    fos_msg m;
    while (w->got < 2 && fos_recv(w->sbox, &m, sizeof(m), FOS_CYCLES_MAX) == 0)
        w->got++;
}

Test(channel, teardown_falls_back_to_mailbox)
{
    cworld w = {0};
    sim *s = boot(&w, 0);
    cr_assert_eq(sim_spawn(s, 2, counter, &w, "server", false), 0);
    cr_assert_eq(sim_spawn(s, 1, closer, &w, "closer", false), 0);
    cr_assert_eq(sim_run(s), 0);
    cr_assert_eq(w.res[0], 0);
    cr_assert_eq(w.res[1], 0);
    cr_assert_eq(w.res[2], -EPIPE);
    cr_assert_eq(w.res[3], 0);
    cr_assert_eq(w.res[4], -EINVAL);
    cr_assert_eq(w.got, 2);
    sim_stats st;
    sim_get_stats(s, &st);
    cr_assert_eq(st.chan_msgs, 1);
    cr_assert_eq(st.msgs, 1);
    sim_destroy(s);
}

/* fos_send_name moves the pair to a channel after the configured count. */
static void name_client(void *arg)
{
    cworld *w = arg;
    static big_msg m, in;
    for (int i = 0; i < w->nmsgs; i++) {
        memset(&m.h, 0, sizeof(m.h));
        m.h.len = size_of(i);
        m.h.reply_to = w->caddr;
        m.h.reply_cap = w->ccap;
        m.seq = (uint32_t)i;
        m.pad[m.h.len - 5] = (unsigned char)i;
        cr_assert_eq(fos_send_name("/svc", &m.h), 0);
        cr_assert_eq(fos_recv(w->cbox, &in.h, sizeof(in), FOS_CYCLES_MAX), 0);
        w->replies++;
    }
}

Test(channel, send_name_upgrades_after_threshold)
{
    cworld w = {.nmsgs = 10};
    sim *s = boot(&w, 4);
    cr_assert_eq(sim_spawn(s, 2, server, &w, "server", true), 0);
    cr_assert_eq(sim_spawn(s, 1, name_client, &w, "client", false), 0);
    cr_assert_eq(sim_run(s), 0);
    cr_assert_eq(w.got, 10);
    cr_assert_eq(w.replies, 10);
    cr_assert_eq(w.bad, 0);
    sim_stats st;
    sim_get_stats(s, &st);
    cr_assert_eq(st.chan_upgrades, 1);
    /* Four requests and their replies by mailbox, the other six each way by
     * channel. On real threads the fourth reply may already find the channel. */
    cr_assert_eq(st.msgs + st.chan_msgs, 20);
    VIRTUAL_ONLY cr_assert_eq(st.msgs, 8, "kernel messages: %llu", (unsigned long long)st.msgs);
    cr_assert_geq(st.chan_msgs, 12);
    sim_destroy(s);
}

Test(channel, no_upgrade_when_disabled)
{
    cworld w = {.nmsgs = 10};
    sim *s = boot(&w, 0);
    cr_assert_eq(sim_spawn(s, 2, server, &w, "server", true), 0);
    cr_assert_eq(sim_spawn(s, 1, name_client, &w, "client", false), 0);
    cr_assert_eq(sim_run(s), 0);
    sim_stats st;
    sim_get_stats(s, &st);
    cr_assert_eq(st.chan_upgrades, 0);
    cr_assert_eq(st.msgs, 20);
    sim_destroy(s);
}

static void bad_connects(void *arg)
{
    cworld *w = arg;
    fos_chan *ch;
    w->res[0] = fos_chan_connect("/nope", NULL, &ch);
    w->res[1] = fos_chan_connect("/wrongcap", NULL, &ch);
    fos_chan_opts o = {.page_bytes = 100};
    w->res[2] = fos_chan_connect("/svc", &o, &ch);
    /* Past the largest page: a slot count that would not fit its ring. */
    o.page_bytes = (size_t)64 << 32;
    w->res[5] = fos_chan_connect("/svc", &o, &ch);
    o.page_bytes = FOS_CHAN_PAGE_MAX + 64;
    w->res[6] = fos_chan_connect("/svc", &o, &ch);
    fos_chan_opts gone = {0};
    cr_assert_eq(fos_mbox_create(4, &gone.reply, NULL), 0);
    cr_assert_eq(fos_mbox_destroy(gone.reply), 0);
    w->res[4] = fos_chan_connect("/svc", &gone, &ch);
    cr_assert_eq(fos_chan_connect("/svc", NULL, &ch), 0);
    fos_msg m;
    w->res[3] = fos_chan_recv(ch, &m, sizeof(m), 500);
}

Test(channel, bad_connects_and_recv_timeout)
{
    cworld w = {0};
    sim *s = boot(&w, 0);
    cr_assert_eq(sim_dir_register(s, "/wrongcap", w.saddr, w.scap + 1), 0);
    cr_assert_eq(sim_spawn(s, 1, bad_connects, &w, "client", false), 0);
    cr_assert_eq(sim_run(s), 0);
    cr_assert_eq(w.res[0], -ENOENT);
    cr_assert_eq(w.res[1], -EPERM);
    cr_assert_eq(w.res[2], -EINVAL);
    cr_assert_eq(w.res[3], -ETIMEDOUT);
    cr_assert_eq(w.res[4], -EINVAL, "a destroyed reply mailbox: %d", w.res[4]);
    cr_expect_eq(w.res[5], -EINVAL, "a 256 GiB page: %d", w.res[5]);
    cr_expect_eq(w.res[6], -EINVAL, "a page past FOS_CHAN_PAGE_MAX: %d", w.res[6]);
    sim_destroy(s);
}

/* Payload bytes that look like control words must never pass for a message:
 * multi-slot messages full of the numbers the consumer waits for. */
static void noisy_client(void *arg)
{
    cworld *w = arg;
    fos_chan_opts o = {.reply = w->cbox, .page_bytes = 1024};
    cr_assert_eq(fos_chan_connect("/svc", &o, &w->ch), 0);
    static big_msg m, in;
    for (int i = 0; i < w->nmsgs; i++) {
        m.h.len = 8 + (uint32_t)(i * 53) % 300;
        m.h.reply_to = w->caddr;
        m.h.reply_cap = w->ccap;
        m.seq = (uint32_t)i;
        /* Every 8-byte word of the payload holds a small message number. */
        for (uint32_t k = 0; k + 8 <= m.h.len - 4; k += 8) {
            uint64_t v = (uint64_t)(i + 1 + k / 8);
            memcpy(m.pad + k, &v, sizeof v);
        }
        m.pad[m.h.len - 5] = (unsigned char)i;
        int r;
        while ((r = fos_chan_send(w->ch, &m.h)) == -EAGAIN)
            fos_yield();
        cr_assert_eq(r, 0);
        cr_assert_eq(fos_recv(w->cbox, &in.h, sizeof(in), FOS_CYCLES_MAX), 0);
        if (in.seq != (uint32_t)i || in.h.len != m.h.len || memcmp(in.pad, m.pad, m.h.len - 4))
            w->bad++;
        w->replies++;
    }
}

static void checking_server(void *arg)
{
    cworld *w = arg;
    static big_msg m;
    while (fos_recv(w->sbox, &m.h, sizeof(m), FOS_CYCLES_MAX) == 0) {
        if (m.seq != (uint32_t)w->got || m.h.len != 8 + (uint32_t)(w->got * 53) % 300) w->bad++;
        w->got++;
        if (fos_send(m.h.reply_to, m.h.reply_cap, &m.h) != 0) w->errs++;
    }
}

Test(channel, payload_never_passes_for_a_control_word)
{
    cworld w = {.nmsgs = 2000};
    sim *s = boot(&w, 0);
    cr_assert_eq(sim_spawn(s, 2, checking_server, &w, "server", true), 0);
    cr_assert_eq(sim_spawn(s, 1, noisy_client, &w, "client", false), 0);
    cr_assert_eq(sim_run(s), 0);
    cr_assert_eq(w.got, 2000);
    cr_assert_eq(w.replies, 2000);
    cr_assert_eq(w.bad, 0);
    cr_assert_eq(w.errs, 0);
    sim_destroy(s);
}

/* A consumer that dies or destroys its mailbox tells the producer; its sends go
 * back through the mailbox path and get the mailbox's answer. Also: a message
 * too big for the ring takes the mailbox path. */
static void orphan_server(void *arg)
{
    cworld *w = arg;
    static big_msg m;
    cr_assert_eq(fos_recv(w->sbox, &m.h, sizeof(m), FOS_CYCLES_MAX), 0);
    w->got++;
    cr_assert_eq(fos_recv(w->sbox, &m.h, sizeof(m), FOS_CYCLES_MAX), 0); /* the big one */
    w->got++;
    cr_assert_eq(fos_mbox_destroy(w->sbox), 0);
}

static void orphan_client(void *arg)
{
    cworld *w = arg;
    fos_chan_opts o = {.page_bytes = 512};
    cr_assert_eq(fos_chan_connect("/svc", &o, &w->ch), 0);
    static big_msg m;
    m.h.len = 8;
    w->res[0] = fos_send(w->saddr, w->scap, &m.h); /* over the channel */
    m.h.len = 1000;                                /* 18 slots: more than the 8 there are */
    w->res[1] = fos_send(w->saddr, w->scap, &m.h);
    fos_sleep(TEST_IS_NATIVE ? 300000000 : 100000); /* the destroy and its news */
    m.h.len = 8;
    w->res[2] = fos_send(w->saddr, w->scap, &m.h);
}

Test(channel, consumer_gone_falls_back_to_the_mailbox_answer)
{
    cworld w = {0};
    sim *s = boot(&w, 0);
    cr_assert_eq(sim_spawn(s, 2, orphan_server, &w, "server", false), 0);
    cr_assert_eq(sim_spawn(s, 1, orphan_client, &w, "client", false), 0);
    cr_assert_eq(sim_run(s), 0);
    cr_assert_eq(w.res[0], 0);
    cr_assert_eq(w.res[1], 0, "a message too big for the ring gave %d", w.res[1]);
    cr_assert_eq(w.res[2], -ENOENT, "send after the consumer's mailbox went gave %d", w.res[2]);
    cr_assert_eq(w.got, 2);
    sim_stats st;
    sim_get_stats(s, &st);
    cr_assert_eq(st.chan_msgs, 1);
    sim_destroy(s);
}

static void dead_end_client(void *arg)
{
    cworld *w = arg;
    cr_assert_eq(fos_chan_connect("/svc", NULL, &w->ch), 0);
    fos_msg m = {.len = 0};
    w->res[0] = fos_send(w->saddr, w->scap, &m);
    fos_sleep(TEST_IS_NATIVE ? 1000000000 : 100000); /* core 2 dies meanwhile */
    w->res[1] = fos_send(w->saddr, w->scap, &m);
}

static void quiet_server(void *arg)
{
    cworld *w = arg;
    fos_msg m;
    while (fos_recv(w->sbox, &m, sizeof(m), FOS_CYCLES_MAX) == 0)
        w->got++;
}

Test(channel, dead_consumer_gives_ehostdown)
{
    cworld w = {0};
    sim *s = boot(&w, 0);
    cr_assert_eq(sim_spawn(s, 2, quiet_server, &w, "server", true), 0);
    cr_assert_eq(sim_spawn(s, 1, dead_end_client, &w, "client", false), 0);
    /* Native: late enough (~0.1 s of TSC) that four threads sharing a loaded
     * host's CPUs have connected and sent first. */
    cr_assert_eq(sim_kill_core(s, 2, TEST_IS_NATIVE ? 300000000 : 50000), 0);
    cr_assert_eq(sim_run(s), 0);
    cr_assert_eq(w.res[0], 0);
    cr_assert_eq(w.res[1], -EHOSTDOWN, "send to a dead consumer gave %d", w.res[1]);
    sim_destroy(s);
}

/* Fault rules apply to channel messages too. */
Test(channel, faults_apply_to_channel_messages)
{
    cworld w = {.nmsgs = 0};
    sim *s = boot(&w, 0);
    sim_match all = {.src = 1, .dst = 2, .any_type = true};
    cr_assert_eq(sim_fault_drop(s, &all, 1000000), 0);
    cr_assert_eq(sim_spawn(s, 2, quiet_server, &w, "server", true), 0);
    cr_assert_eq(sim_spawn(s, 1, dead_end_client, &w, "client", false), 0);
    cr_assert_eq(sim_run(s), 0);
    cr_assert_eq(w.got, 0, "a dropped channel message arrived");
    sim_stats st;
    sim_get_stats(s, &st);
    cr_assert_eq(st.dropped_fault, 2);
    cr_assert_eq(st.chan_msgs, 0);
    sim_destroy(s);
}

/* A ring nobody reads fills after exactly its slots, on either engine: the
 * consumer frees slots only when a message is taken. */
static void fill_unread(void *arg)
{
    cworld *w = arg;
    fos_chan_opts o = {.page_bytes = 512}; /* 8 slots */
    cr_assert_eq(fos_chan_connect("/svc", &o, &w->ch), 0);
    /* 8 bytes of slot header + 40 of fos_msg + 16 of payload = 64 > 56: two slots. */
    struct {
        fos_msg h;
        uint64_t pay[2];
    } m = {.h = {.len = 16}};
    w->first_fail = 0;
    for (int i = 0; i < 10; i++) {
        int r = fos_chan_send(w->ch, &m.h);
        if (r == 0)
            w->sent_ok++;
        else if (!w->first_fail)
            w->first_fail = r;
    }
}

Test(channel, unread_ring_fills_after_its_slots)
{
    cworld w = {0};
    sim *s = boot(&w, 0);
    cr_assert_eq(sim_spawn(s, 1, fill_unread, &w, "filler", false), 0);
    cr_assert_eq(sim_run(s), 0);
    cr_assert_eq(w.sent_ok, 4, "sent %d two-slot messages into 8 slots", w.sent_ok);
    cr_assert_eq(w.first_fail, -EAGAIN);
    sim_stats st;
    sim_get_stats(s, &st);
    cr_assert_eq(st.chan_full, 6);
    sim_destroy(s);
}

/* ---- many clients connecting at once ---- */

#define CROWD 5
#define CROWD_MSGS 40

typedef struct {
    fos_addr saddr;
    fos_cap scap;
    int replies[CROWD + 1], bad;
} crowd_world;

static fos_mbox *crowd_box;

static void crowd_echo(void *arg)
{
    crowd_world *w = arg;
    big_msg m;
    while (fos_recv(crowd_box, &m.h, sizeof(m), FOS_CYCLES_MAX) == 0)
        if (fos_send(m.h.reply_to, m.h.reply_cap, &m.h) != 0) w->bad++;
}

/* Each connects its own channel at the same moment as the others (on the
 * native engine, from its own thread), then makes round trips over it. */
static void crowd_client(void *arg)
{
    crowd_world *w = arg;
    fos_core_id me = fos_core_self();
    fos_mbox *reply;
    fos_cap rcap;
    cr_assert_eq(fos_mbox_create(4, &reply, &rcap), 0);
    fos_chan *ch;
    fos_chan_opts o = {.reply = reply};
    cr_assert_eq(fos_chan_connect("/svc", &o, &ch), 0);
    big_msg m = {.h = {.len = 8, .reply_to = fos_mbox_addr(reply), .reply_cap = rcap}}, in;
    for (int i = 0; i < CROWD_MSGS; i++) {
        m.seq = me * 1000u + (uint32_t)i;
        cr_assert_eq(fos_chan_send(ch, &m.h), 0);
        cr_assert_eq(fos_recv(reply, &in.h, sizeof(in), FOS_CYCLES_MAX), 0);
        if (in.seq != m.seq) w->bad++;
        w->replies[me]++;
    }
}

Test(channel, many_clients_connect_at_once)
{
    sim_config cfg;
    sim_config_default(&cfg);
    cfg.engine = TEST_ENGINE;
    cfg.chip.cores = CROWD + 1;
    sim *s = NULL;
    crowd_world w = {0};
    cr_assert_eq(sim_create(&cfg, &s), 0);
    cr_assert_eq(sim_mbox_create(s, 0, 64, &crowd_box, &w.saddr, &w.scap), 0);
    cr_assert_eq(sim_dir_register(s, "/svc", w.saddr, w.scap), 0);
    cr_assert_eq(sim_spawn(s, 0, crowd_echo, &w, "echo", true), 0);
    for (fos_core_id c = 1; c <= CROWD; c++)
        cr_assert_eq(sim_spawn(s, c, crowd_client, &w, "client", false), 0);
    cr_assert_eq(sim_run(s), 0);
    for (fos_core_id c = 1; c <= CROWD; c++)
        cr_expect_eq(w.replies[c], CROWD_MSGS, "client %u", c);
    cr_expect_eq(w.bad, 0);
    sim_stats st;
    sim_get_stats(s, &st);
    /* Every request and reply over a channel: each client's own pair of rings. */
    cr_expect_eq(st.chan_msgs, 2 * CROWD * CROWD_MSGS);
    sim_destroy(s); /* frees every channel made: one lost off the list leaks (ASan) */
}

/* Per-sender FIFO across the upgrade: a sender that does not wait for replies
 * has messages in the mailbox when the channel opens; they still come first.
 * Sizes alternate between what a channel page carries and what it does not,
 * so the sender moves back and forth between the two. */
static void fifo_server(void *arg)
{
    cworld *w = arg;
    static big_msg m;
    uint32_t next = 0;
    while (fos_recv(w->sbox, &m.h, sizeof(m), FOS_CYCLES_MAX) == 0) {
        if (m.seq != next && !w->bad++) {
            w->res[0] = (int)next; /* the first disorder, for the report */
            w->res[1] = (int)m.seq;
        }
        next = m.seq + 1;
        __atomic_fetch_add(&w->got, 1, __ATOMIC_RELEASE);
    }
}

static void fifo_client(void *arg)
{
    cworld *w = arg;
    static big_msg m;
    for (int i = 0; i < w->nmsgs; i++) {
        memset(&m.h, 0, sizeof(m.h));
        /* A 256-byte page holds 4 slots: 8 bytes fit, 400 do not. */
        m.h.len = i % 7 == 6 ? 400 : 8;
        m.seq = (uint32_t)i;
        int r;
        while ((r = fos_send_name("/svc", &m.h)) == -EAGAIN)
            fos_yield();
        if (r != 0) w->errs++;
    }
    /* The run ends with the client: it waits (a while, at most) for the server
     * to have taken everything. */
    for (int i = 0; i < 100000 && __atomic_load_n(&w->got, __ATOMIC_ACQUIRE) < w->nmsgs; i++)
        fos_sleep(10000);
}

Test(channel, upgrade_keeps_per_sender_fifo)
{
    cworld w = {.nmsgs = 300};
    sim *s = boot_with(&w, 3, 256, 8, 8);
    cr_assert_eq(sim_spawn(s, 2, fifo_server, &w, "server", true), 0);
    cr_assert_eq(sim_spawn(s, 1, fifo_client, &w, "client", false), 0);
    cr_assert_eq(sim_run(s), 0);
    cr_assert_eq(w.errs, 0);

    cr_expect_eq(w.bad, 0, "%d of %d messages out of order, first %d where %d was due", w.bad,
                 w.got, w.res[1], w.res[0]);
    cr_expect_eq(w.got, w.nmsgs);
    sim_stats st;
    sim_get_stats(s, &st);
    cr_expect_eq(st.chan_upgrades, 1);
    cr_expect_gt(st.chan_msgs, 0);
    cr_expect_gt(st.msgs, 3);
    sim_destroy(s);
}

/* Per-sender FIFO the other way: the endpoint writes into the asker's reply
 * mailbox while the asker's fos_send_name moves the pair to a channel. */
enum { REV_N = 1000 };

static void rev_server(void *arg)
{
    cworld *w = arg;
    static big_msg m;
    for (int i = 0; i < REV_N; i++) {
        memset(&m.h, 0, sizeof(m.h));
        m.h.len = i % 3 == 2 ? 400 : 8; /* 400 bytes: too big for a 256-byte page */
        m.seq = (uint32_t)i;
        int r;
        while ((r = fos_send(w->caddr, w->ccap, &m.h)) == -EAGAIN)
            fos_yield();
        if (r != 0) w->errs++;
    }
}

static void rev_client(void *arg)
{
    cworld *w = arg;
    static big_msg m, in;
    for (int i = 0; i < 3; i++) { /* the third moves the pair to a channel */
        memset(&m.h, 0, sizeof(m.h));
        m.h.len = 8;
        m.h.reply_to = w->caddr;
        m.h.reply_cap = w->ccap;
        if (fos_send_name("/svc", &m.h) != 0) w->errs++;
    }
    uint32_t next = 0;
    for (int i = 0; i < REV_N; i++) {
        if (fos_recv(w->cbox, &in.h, sizeof(in), FOS_CYCLES_MAX) != 0) {
            w->errs++;
            break;
        }
        if (in.seq != next && !w->bad++) {
            w->res[0] = (int)next;
            w->res[1] = (int)in.seq;
        }
        next = in.seq + 1;
        w->got++;
    }
}

Test(channel, replies_keep_fifo_while_the_pair_upgrades)
{
    cworld w = {0};
    sim *s = boot_with(&w, 3, 256, 64, 1024);
    cr_assert_eq(sim_spawn(s, 2, rev_server, &w, "server", false), 0);
    cr_assert_eq(sim_spawn(s, 1, rev_client, &w, "client", false), 0);
    cr_assert_eq(sim_run(s), 0);
    cr_expect_eq(w.errs, 0);
    cr_expect_eq(w.got, REV_N);
    cr_expect_eq(w.bad, 0, "%d out of order, first %d where %d was due", w.bad, w.res[1], w.res[0]);
    sim_destroy(s);
}

/* Both ends of a channel send to each other, alternating messages the page
 * carries and messages it does not: a message that goes by the mailbox holds
 * back the channel's next until it is seen, and two cores holding back for
 * each other must both go on. */
enum { MIX_N = 2000 };

typedef struct {
    cworld *w;
    fos_addr to;
    fos_cap cap;
    fos_mbox *from;
    bool connect; /* the client's end opens the channel first */
    int sent_errs, got, bad, first, due;
} mix_end;

static void mix_send(void *arg)
{
    mix_end *e = arg;
    big_msg m; /* on the fiber's stack: both ends' fibers may share a thread */
    if (e->connect) {
        fos_chan_opts o = {.reply = e->w->cbox};
        fos_chan *ch;
        cr_assert_eq(fos_chan_connect("/svc", &o, &ch), 0);
        __atomic_store_n(&e->w->ch, ch, __ATOMIC_RELEASE);
    } else {
        /* Both ends send over the channel from the start. */
        while (!__atomic_load_n(&e->w->ch, __ATOMIC_ACQUIRE))
            fos_sleep(1000);
    }
    for (int i = 0; i < MIX_N; i++) {
        memset(&m.h, 0, sizeof(m.h));
        m.h.len = i % 2 ? 8 : 400;
        m.seq = (uint32_t)i;
        int r;
        while ((r = fos_send(e->to, e->cap, &m.h)) == -EAGAIN)
            fos_yield();
        if (r != 0) e->sent_errs++;
    }
}

static void mix_recv(void *arg)
{
    mix_end *e = arg;
    big_msg in;
    for (uint32_t next = 0; e->got < MIX_N; next++) {
        if (fos_recv(e->from, &in.h, sizeof(in), FOS_CYCLES_MAX) != 0) break;
        if (in.seq != next && !e->bad++) e->first = (int)in.seq, e->due = (int)next;
        e->got++;
    }
}

Test(channel, both_ends_mixing_sizes_never_wait_on_each_other, .timeout = 60)
{
    cworld w = {0};
    sim *s = boot_with(&w, 0, 256, 16, 16);
    /* The client's sender connects; then both send at once. */
    static mix_end cl, sv;
    cl = (mix_end){&w, w.saddr, w.scap, w.cbox, true};
    sv = (mix_end){&w, w.caddr, w.ccap, w.sbox, false};
    cr_assert_eq(sim_spawn(s, 1, mix_send, &cl, "client-send", false), 0);
    cr_assert_eq(sim_spawn(s, 1, mix_recv, &cl, "client-recv", false), 0);
    cr_assert_eq(sim_spawn(s, 2, mix_send, &sv, "server-send", false), 0);
    cr_assert_eq(sim_spawn(s, 2, mix_recv, &sv, "server-recv", false), 0);
    cr_assert_eq(sim_run(s), 0);
    cr_expect_eq(cl.sent_errs + sv.sent_errs, 0);
    cr_expect_eq(cl.got, MIX_N);
    cr_expect_eq(sv.got, MIX_N);
    cr_expect_eq(cl.bad + sv.bad, 0,
                 "out of order: %d to the client (first %d where %d was due), %d to the server "
                 "(first %d where %d was due)",
                 cl.bad, cl.first, cl.due, sv.bad, sv.first, sv.due);
    sim_destroy(s);
}

/* ---- an end dies in the middle of a stream ---- */

/* What the producer got done and what the consumer saw. */
typedef struct {
    int sent, lastr, order_bad, seen;
    uint32_t next;
} kstream;

static kstream g_ks;

static void kproducer(void *arg)
{
    cworld *w = arg;
    fos_chan *ch;
    if (fos_chan_connect("/svc", NULL, &ch)) {
        g_ks.lastr = -ENOTCONN;
        return;
    }
    static big_msg m;
    for (int i = 0; i < 400; i++) {
        memset(&m, 0, sizeof(m));
        m.h.len = size_of(i);
        m.seq = (uint32_t)i;
        m.pad[m.h.len - 5] = (unsigned char)i;
        int r;
        /* Two in three over the channel, the rest by trap to the same mailbox. */
        while ((r = (i % 3 ? fos_chan_send(ch, &m.h) : fos_send(w->saddr, w->scap, &m.h))) ==
               -EAGAIN)
            fos_sleep(50);
        g_ks.lastr = r;
        if (r) return;
        g_ks.sent++;
    }
}

static void kconsumer(void *arg)
{
    cworld *w = arg;
    static big_msg m;
    while (fos_recv(w->sbox, &m.h, sizeof(m), FOS_CYCLES_MAX) == 0) {
        if (m.seq != g_ks.next || m.h.len != size_of((int)m.seq) ||
            m.pad[m.h.len - 5] != (unsigned char)m.seq)
            g_ks.order_bad++;
        g_ks.next = m.seq + 1;
        g_ks.seen++;
    }
}

/* The consumer (core 2) or the producer (core 1) is killed at a time swept
 * across a stream of 400 sequence-numbered messages of mixed sizes, over a
 * channel and by trap: the consumer sees them in order with nothing changed,
 * never more than were sent; a producer whose consumer died is told so
 * (-EPIPE on the channel, -EHOSTDOWN by trap); the run ends. */
static void end_dies_mid_stream(fos_core_id victim)
{
    for (fos_cycles at = 500; at <= 60000; at += 977) {
        cworld w = {0};
        sim *s = boot_with(&w, 0, 0, 64, 8);
        memset(&g_ks, 0, sizeof g_ks);
        cr_assert_eq(sim_spawn(s, 2, kconsumer, &w, "consumer", true), 0);
        cr_assert_eq(sim_spawn(s, 1, kproducer, &w, "producer", false), 0);
        cr_assert_eq(sim_kill_core(s, victim, at), 0);
        int r = sim_run(s);
        cr_expect_eq(r, 0, "at %llu: run %d", (unsigned long long)at, r);
        cr_expect_eq(g_ks.order_bad, 0, "at %llu: %d out of order", (unsigned long long)at,
                     g_ks.order_bad);
        cr_expect(victim != 2 || g_ks.sent == 400 || g_ks.lastr == -EHOSTDOWN ||
                      g_ks.lastr == -EPIPE,
                  "at %llu: sent %d, last %d", (unsigned long long)at, g_ks.sent, g_ks.lastr);
        cr_expect_leq(g_ks.seen, g_ks.sent, "at %llu", (unsigned long long)at);
        sim_destroy(s);
    }
}

Test(channel, the_consumer_dies_mid_stream, VIRTUAL_TIMING)
{
    end_dies_mid_stream(2);
}

Test(channel, the_producer_dies_mid_stream, VIRTUAL_TIMING)
{
    end_dies_mid_stream(1);
}
