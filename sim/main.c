/* fossim: boot a simulated chip on the virtual engine, run the built-in
 * ping-pong, and report. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fos/fos.h"
#include "sim/phold.h"
#include "sim/pingpong.h"

static void usage(FILE *f)
{
    fprintf(f, "Usage: fossim [options]\n"
               "Boot a simulated fos chip on the virtual engine and run a ping-pong\n"
               "between the cores of each pair (2i, 2i+1).\n\n"
               "Options:\n"
               "  -c, --cores N        cores of the chip (default 256)\n"
               "  -e, --engine NAME    virtual (default: deterministic simulated time) or\n"
               "                       native (a pinned host thread per core, real time)\n"
               "  -t, --topology NAME  mesh, torus, ring, full or numa (default mesh)\n"
               "  -k, --costs PRESET   tile, fos2009 or host (default tile)\n"
               "  -s, --seed S         run seed (default 1)\n"
               "  -a, --app NAME       pingpong (default) or phold (each core, on each\n"
               "                       message, waits an exponential delay and sends to\n"
               "                       another core at random; needs --duration)\n"
               "  -r, --rounds R       pingpong: round trips per pair (default 1000)\n"
               "  -m, --mean-delay C   phold: mean delay in cycles (default 100)\n"
               "  -d, --duration C     stop at this simulated time, in cycles\n"
               "  -h, --help           this text\n"
               "  -V, --version        fossim's version\n");
}

static int parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
        fprintf(stderr, "fossim: %s: expected an integer in [%" PRIu64 ", %" PRIu64 "], got '%s'\n",
                opt, min, max, s);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

/* The topology's shape in words, for the banner. */
static const char *shape(const fos_topo *t, char *buf, size_t n)
{
    if (t->kind == FOS_TOPO_MESH || t->kind == FOS_TOPO_TORUS)
        snprintf(buf, n, "%ux%u", t->width, t->height);
    else if (t->kind == FOS_TOPO_NUMA)
        snprintf(buf, n, "sockets of %u, %u hops apart", t->cores_per_socket, t->socket_hops);
    else
        buf[0] = '\0';
    return buf;
}

int main(int argc, char **argv)
{
    char shape_buf[64];
    static const struct option opts[] = {
        {"cores", required_argument, NULL, 'c'},      {"topology", required_argument, NULL, 't'},
        {"costs", required_argument, NULL, 'k'},      {"seed", required_argument, NULL, 's'},
        {"rounds", required_argument, NULL, 'r'},     {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},          {"engine", required_argument, NULL, 'e'},
        {"app", required_argument, NULL, 'a'},        {"duration", required_argument, NULL, 'd'},
        {"mean-delay", required_argument, NULL, 'm'}, {NULL, 0, NULL, 0}};
    sim_config cfg;
    sim_config_default(&cfg);
    const char *preset = "tile";
    uint64_t rounds = 1000, mean = 100, v;
    bool phold = false;
    int o;
    while ((o = getopt_long(argc, argv, "c:t:k:s:r:e:a:d:m:hV", opts, NULL)) != -1) {
        switch (o) {
        case 'a':
            if (strcmp(optarg, "pingpong") && strcmp(optarg, "phold")) {
                fprintf(stderr,
                        "fossim: --app: unknown application '%s' (expected pingpong or "
                        "phold)\n",
                        optarg);
                return 2;
            }
            phold = !strcmp(optarg, "phold");
            break;
        case 'd':
            if (parse_u64("--duration", optarg, 1, UINT64_MAX / 2, &cfg.duration)) return 2;
            break;
        case 'm':
            if (parse_u64("--mean-delay", optarg, 0, UINT64_MAX / 4, &mean)) return 2;
            break;
        case 'e':
            if (!strcmp(optarg, "virtual")) {
                cfg.engine = SIM_ENGINE_VIRTUAL;
            } else if (!strcmp(optarg, "native")) {
                cfg.engine = SIM_ENGINE_NATIVE;
            } else {
                fprintf(stderr,
                        "fossim: --engine: unknown engine '%s' (expected virtual or "
                        "native)\n",
                        optarg);
                return 2;
            }
            break;
        case 'c':
            if (parse_u64("--cores", optarg, 2, 1u << 16, &v)) return 2;
            cfg.chip.cores = (uint32_t)v;
            break;
        case 't':
            if (fos_topo_kind_parse(optarg, &cfg.chip.kind) != 0) {
                fprintf(stderr,
                        "fossim: --topology: unknown topology '%s' (expected mesh, "
                        "torus, ring, full or numa)\n",
                        optarg);
                return 2;
            }
            break;
        case 'k':
            if (fos_costs_preset(optarg, &cfg.chip.costs) != 0) {
                fprintf(stderr,
                        "fossim: --costs: unknown preset '%s' (expected tile, fos2009 "
                        "or host)\n",
                        optarg);
                return 2;
            }
            preset = optarg;
            break;
        case 's':
            if (parse_u64("--seed", optarg, 0, UINT64_MAX, &cfg.seed)) return 2;
            break;
        case 'r':
            if (parse_u64("--rounds", optarg, 1, UINT64_MAX / 2, &rounds)) return 2;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("fossim %s\n", FOSSIM_VERSION);
            return 0;
        default:
            /* getopt has said what was wrong, on one line. */
            fprintf(stderr, "Try 'fossim --help'.\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr,
                "fossim: unexpected argument '%s' (workload files are not supported "
                "yet)\n",
                argv[optind]);
        return 2;
    }
    if (phold && !cfg.duration) {
        fprintf(stderr, "fossim: --app phold: PHOLD never ends by itself; give --duration\n");
        return 2;
    }

    sim *s;
    int r = sim_create(&cfg, &s);
    if (r != 0) {
        fprintf(stderr, "fossim: cannot boot the chip: %s\n", fos_strerror(r));
        return 1;
    }
    sim_pingpong pp = {0};
    sim_phold ph = {0};
    r = phold ? sim_phold_setup(s, mean, 1, &ph) : sim_pingpong_setup(s, rounds, &pp);
    if (r != 0) {
        fprintf(stderr, "fossim: cannot set up the application: %s\n", fos_strerror(r));
        sim_destroy(s);
        return 1;
    }
    int rr = sim_run(s);
    if (phold)
        sim_phold_collect(&ph);
    else
        sim_pingpong_collect(&pp);
    sim_stats st;
    sim_get_stats(s, &st);
    const fos_topo *t = sim_topo(s);
    double ns_per_cycle = 1e9 / (double)(st.cycles_per_s ? st.cycles_per_s : t->clock_hz);
    double host_s = (double)st.host_ns / 1e9;

    if (st.measured)
        printf("fossim %s: native engine (measured, TSC %.2f GHz), %u cores on %u host CPUs, "
               "seed %" PRIu64 "\n",
               FOSSIM_VERSION, (double)st.cycles_per_s / 1e9, t->cores, st.host_cpus, cfg.seed);
    else
        printf(
            "fossim %s: virtual engine, %u cores, %s%s%s, costs %s, clock %.2f GHz, seed %" PRIu64
            "\n",
            FOSSIM_VERSION, t->cores, fos_topo_kind_name(t->kind),
            shape(t, shape_buf, sizeof shape_buf)[0] ? " " : "", shape_buf, preset,
            (double)t->clock_hz / 1e9, cfg.seed);
    if (phold)
        printf("phold: %u cores, mean delay %" PRIu64 " cycles: %" PRIu64
               " messages handled, %" PRIu64 " sent elsewhere after -EAGAIN, %" PRIu64 " errors\n",
               t->cores, mean, ph.handled, ph.retries, ph.errors);
    else
        printf("ping-pong: %u pairs x %" PRIu64 " rounds: %" PRIu64 " round trips, %" PRIu64
               " errors\n",
               pp.pairs, rounds, pp.completed, pp.errors);
    if (pp.completed)
        printf("round trip: mean %.1f cycles (%.1f ns), min %" PRIu64 ", max %" PRIu64 " cycles\n",
               (double)pp.rtt_sum / (double)pp.completed,
               (double)pp.rtt_sum / (double)pp.completed * ns_per_cycle, pp.rtt_min, pp.rtt_max);
    printf("mailbox: %" PRIu64 " messages, %" PRIu64 " bytes; refused: %" PRIu64 " full, %" PRIu64
           " capability, %" PRIu64 " no mailbox\n",
           st.msgs, st.msg_bytes, st.refused_full, st.refused_perm, st.refused_noent);
    printf("channel: %" PRIu64 " messages, %" PRIu64 " bytes; %" PRIu64
           " sender-name pairs upgraded from mailboxes; %" PRIu64 " sends found the ring full\n",
           st.chan_msgs, st.chan_bytes, st.chan_upgrades, st.chan_full);
    printf("engine: ended %s at %" PRIu64 " cycles (%.3f ms simulated), %" PRIu64
           " events in %" PRIu64 " windows of %" PRIu64 " cycles, %" PRIu64 " core activations\n",
           sim_end_name(st.end), st.end_cycles, (double)st.end_cycles * ns_per_cycle / 1e6,
           st.events, st.windows, fos_topo_lookahead(t), st.activations);
    printf("host: %.3f s, %.2f M simulated messages per host second\n", host_s,
           host_s > 0 ? (double)st.msgs / host_s / 1e6 : 0.0);
    printf("event digest: %016" PRIx64 "\n", st.event_digest);
    if (rr == -EDEADLK) {
        fprintf(stderr, "fossim: deadlock: every fiber waits and nothing can wake one:\n");
        sim_report_waits(s, stderr);
    }
    sim_destroy(s);
    return rr == 0 && pp.errors == 0 && ph.errors == 0 ? 0 : 1;
}
