/* What a run did: the summary table on stdout and the JSON document. Both are
 * built from one set of figures (report_app), so they cannot disagree. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim/json.h"
#include "sim/registry.h"
#include "sim/report.h"

/* One server of an application with its clients, over the application's
 * measured interval. */
typedef struct report_server {
    sim_app_result r;
    const sim_hist *lat;
    uint64_t ops_measured;
    double tput_per_sim_s;
    double util;
} report_server;

/* The figures of one application, derived once. */
typedef struct report_app {
    const sim_app_spec *sp;
    sim_app_result r;
    bool measured;         /* after the warmup; else over the whole run */
    const sim_hist *lat;   /* the measured histogram, or every operation's */
    uint64_t ops_measured; /* the operations the throughput counts */
    fos_cycles from, span; /* the measured interval */
    double tput_per_sim_s;
    double client_util, server_util; /* mean busy fraction of their cores */
    report_server *srv;              /* per server, when it has servers */
    uint32_t nsrv;
} report_app;

static double core_util(const sim *s, const uint32_t *cores, uint32_t n, fos_cycles end)
{
    if (!cores || n == 0 || end == 0) return 0;
    double sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        sim_core_stats cs;
        /* A compute that runs past the end is charged in full when it starts;
         * the run saw only its part up to the end. */
        if (sim_get_core_stats(s, cores[i], &cs) == 0)
            sum += (double)(cs.busy_cycles < end ? cs.busy_cycles : end) / (double)end;
    }
    return sum / n;
}

/* What r counts over ra's measured interval (the operations after the warmup,
 * or all of them when the run is measured whole): the histogram, the count and
 * the throughput. The application and each of its servers are measured alike. */
static void measure(const sim_report_in *in, const report_app *ra, const sim_app_result *r,
                    const sim_hist **lat, uint64_t *ops, double *tput)
{
    *lat = ra->measured ? &r->lat : &r->lat_all;
    *ops = ra->measured ? r->ops_measured : r->ops;
    *tput = ra->span ? (double)*ops * (double)in->st->cycles_per_s / (double)ra->span : 0;
}

static int derive(const sim_report_in *in, uint32_t i, report_app *ra)
{
    const sim_app_spec *sp = &in->w->apps[i];
    memset(ra, 0, sizeof(*ra));
    ra->sp = sp;
    int e = sim_app_results(in->apps[i], &ra->r);
    if (e) return e;
    fos_cycles end = in->st->end_cycles;
    /* Measured after the warmup, unless the run ended before it: then over the
     * whole run, and the report says so. */
    bool before = ra->r.finished && ra->r.last < in->w->warmup;
    ra->measured = end > in->w->warmup && !before;
    ra->from = ra->measured ? in->w->warmup : 0;
    /* An application that finished early is measured up to its last
     * operation, not over the idle rest of the run. */
    fos_cycles until = ra->r.finished && ra->r.last > ra->from ? ra->r.last : end;
    ra->span = until - ra->from;
    measure(in, ra, &ra->r, &ra->lat, &ra->ops_measured, &ra->tput_per_sim_s);
    uint32_t nclient = sp->kind == SIM_APP_PINGPONG ? 2 * sp->instances : sp->instances;
    ra->client_util = core_util(in->s, sp->client_cores, nclient, end);
    ra->server_util = core_util(in->s, sp->server_cores, sp->server_cores ? sp->servers : 0, end);
    if (!sp->server_cores || sp->servers == 0) return 0;
    /* Each server with its clients, measured as the application is, so that
     * the rows add up to it. */
    ra->srv = calloc(sp->servers, sizeof(*ra->srv));
    if (!ra->srv) return -ENOMEM;
    for (uint32_t k = 0; k < sp->servers; k++) {
        report_server *rs = &ra->srv[k];
        ra->nsrv = k + 1; /* what report_app_fini releases */
        e = sim_app_server_results(in->apps[i], k, &rs->r);
        if (e) return e;
        measure(in, ra, &rs->r, &rs->lat, &rs->ops_measured, &rs->tput_per_sim_s);
        rs->util = core_util(in->s, &sp->server_cores[k], 1, end);
    }
    return 0;
}

static void report_app_fini(report_app *ra)
{
    sim_app_result_fini(&ra->r);
    for (uint32_t k = 0; k < ra->nsrv; k++)
        sim_app_result_fini(&ra->srv[k].r);
    free(ra->srv);
}

static double to_ns(const sim_report_in *in, uint64_t cycles)
{
    return (double)cycles * 1e9 / (double)in->st->cycles_per_s;
}

/* A histogram of cycles as the object `key` of o: count, mean and percentiles
 * in cycles and ns. */
static void add_hist(cJSON *o, const char *key, const sim_report_in *in, const sim_hist *h)
{
    static const struct {
        const char *name;
        double q;
    } qs[] = {{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"max", 1.0}};
    cJSON *l = cJSON_AddObjectToObject(o, key);
    sim_json_add_u64(l, "count", h->count);
    if (h->count == 0) return;
    sim_json_add_u64(l, "min_cycles", h->min);
    cJSON_AddNumberToObject(l, "mean_cycles", (double)h->sum / (double)h->count);
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        char k[32];
        uint64_t v = sim_hist_quantile(h, qs[i].q);
        snprintf(k, sizeof k, "%s_cycles", qs[i].name);
        sim_json_add_u64(l, k, v);
        snprintf(k, sizeof k, "%s_ns", qs[i].name);
        cJSON_AddNumberToObject(l, k, to_ns(in, v));
    }
    cJSON_AddStringToObject(l, "histogram",
                            "log-bucketed, 128 buckets per power of two: at most "
                            "0.4% relative error");
}

static cJSON *app_json(const sim_report_in *in, const report_app *ra)
{
    const sim_app_spec *sp = ra->sp;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", sp->name);
    cJSON_AddStringToObject(o, "kind", sim_app_spec_kind(sp));
    sim_json_add_u64(o, "operations", ra->r.ops);
    cJSON *ops = cJSON_AddObjectToObject(o, "operations_by_kind");
    const char *const *names = sim_app_ops(sp->kind);
    for (int k = 0; names[k]; k++)
        sim_json_add_u64(ops, names[k], ra->r.op_count[k]);
    sim_json_add_u64(o, "operations_measured", ra->ops_measured);
    sim_json_add_u64(o, "measured_from_cycles", ra->from);
    sim_json_add_u64(o, "measured_cycles", ra->span);
    cJSON_AddBoolToObject(o, "measured_whole_run", ra->from == 0);
    cJSON_AddNumberToObject(o, "throughput_per_sim_s", ra->tput_per_sim_s);
    sim_json_add_u64(o, "errors", ra->r.errors);
    if (sp->open_loop) sim_json_add_u64(o, "refused", ra->r.refused);
    if (sp->kind == SIM_APP_PHOLD) {
        char b[24];
        snprintf(b, sizeof b, "%016" PRIx64, ra->r.checksum);
        cJSON_AddStringToObject(o, "checksum", b);
    } else {
        add_hist(o, "latency", in, ra->lat);
    }
    cJSON_AddNumberToObject(o, "client_utilisation", ra->client_util);
    if (sp->server_cores) {
        cJSON_AddNumberToObject(o, "server_utilisation", ra->server_util);
        sim_json_add_u64(o, "served", ra->r.served);
        cJSON *sv = cJSON_AddArrayToObject(o, "servers");
        for (uint32_t k = 0; k < ra->nsrv; k++) {
            const report_server *rs = &ra->srv[k];
            cJSON *x = cJSON_CreateObject();
            sim_json_add_u64(x, "core", sp->server_cores[k]);
            sim_json_add_u64(x, "operations", rs->r.ops);
            sim_json_add_u64(x, "operations_measured", rs->ops_measured);
            cJSON_AddNumberToObject(x, "throughput_per_sim_s", rs->tput_per_sim_s);
            sim_json_add_u64(x, "errors", rs->r.errors);
            sim_json_add_u64(x, "served", rs->r.served);
            add_hist(x, "latency", in, rs->lat);
            cJSON_AddNumberToObject(x, "utilisation", rs->util);
            cJSON_AddItemToArray(sv, x);
        }
    }
    return o;
}

/* A fleet's own figures about a member. */
static void add_counters(cJSON *o, const sim_fleet_member_stats *st)
{
    if (!st->ncounters) return;
    cJSON *c = cJSON_AddObjectToObject(o, "counters");
    for (uint32_t i = 0; i < st->ncounters; i++)
        sim_json_add_u64(c, st->counter[i].name, st->counter[i].value);
}

/* A fleet member's requests per simulated second: over the whole run, since a
 * fleet serves from boot. */
static double member_tput(const sim_report_in *in, const sim_fleet_member_stats *st)
{
    fos_cycles end = in->st->end_cycles;
    return end ? (double)st->served * (double)in->st->cycles_per_s / (double)end : 0;
}

/* The members of a fleet (the name service's, or a plugin's), each an object
 * in a new array `members` of o. */
static void members_json(cJSON *o, const sim_report_in *in, const sim_fleet *fl, uint32_t n,
                         bool started)
{
    cJSON *ms = cJSON_AddArrayToObject(o, "members");
    for (uint32_t k = 0; k < n; k++) {
        sim_fleet_member_stats st;
        sim_fleet_get_member_stats(fl, k, &st);
        cJSON *mo = cJSON_CreateObject();
        cJSON_AddItemToArray(ms, mo);
        sim_json_add_u64(mo, "core", st.core);
        if (started) cJSON_AddBoolToObject(mo, "started", st.started);
        sim_json_add_u64(mo, "served", st.served);
        cJSON_AddNumberToObject(mo, "throughput_per_sim_s", member_tput(in, &st));
        sim_json_add_u64(mo, "errors", st.errors);
        cJSON_AddNumberToObject(mo, "utilisation",
                                core_util(in->s, &st.core, 1, in->st->end_cycles));
        if (st.service) add_hist(mo, "service_time", in, st.service);
        add_counters(mo, &st);
    }
}

static cJSON *results_json(const sim_report_in *in, const report_app *ra)
{
    const sim_stats *st = in->st;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddBoolToObject(r, "measured", st->measured);
    cJSON_AddStringToObject(r, "end", sim_end_name(st->end));
    sim_json_add_u64(r, "end_cycles", st->end_cycles);
    cJSON_AddNumberToObject(r, "end_ns", to_ns(in, st->end_cycles));
    char b[24];
    snprintf(b, sizeof b, "%016" PRIx64, st->event_digest);
    cJSON_AddStringToObject(r, "event_digest", b);
    cJSON *apps = cJSON_AddArrayToObject(r, "apps");
    for (uint32_t i = 0; i < in->w->napps; i++)
        cJSON_AddItemToArray(apps, app_json(in, &ra[i]));
    if (in->names)
        members_json(cJSON_AddObjectToObject(r, "name_service"), in, in->names,
                     in->w->name_fleet.members, false);
    if (in->w->nfleets) {
        cJSON *fa = cJSON_AddArrayToObject(r, "fleets");
        for (uint32_t i = 0; i < in->w->nfleets; i++) {
            const sim_plugin_fleet *pf = &in->w->fleets[i];
            cJSON *fo = cJSON_CreateObject();
            cJSON_AddItemToArray(fa, fo);
            cJSON_AddStringToObject(fo, "name", pf->ops->name);
            members_json(fo, in, in->fleets[i], pf->members, true);
        }
    }
    cJSON *m = cJSON_AddObjectToObject(r, "mechanisms");
    cJSON *mb = cJSON_AddObjectToObject(m, "mailbox");
    sim_json_add_u64(mb, "messages", st->msgs);
    sim_json_add_u64(mb, "message_bytes", st->msg_bytes);
    sim_json_add_u64(mb, "refused_full", st->refused_full);
    sim_json_add_u64(mb, "refused_perm", st->refused_perm);
    sim_json_add_u64(mb, "refused_noent", st->refused_noent);
    cJSON *ch = cJSON_AddObjectToObject(m, "channel");
    sim_json_add_u64(ch, "messages", st->chan_msgs);
    sim_json_add_u64(ch, "message_bytes", st->chan_bytes);
    sim_json_add_u64(ch, "full", st->chan_full);
    sim_json_add_u64(ch, "upgrades", st->chan_upgrades);
    cJSON *e = cJSON_AddObjectToObject(r, "engine");
    cJSON_AddStringToObject(e, "name", st->measured ? "native" : "virtual");
    sim_json_add_u64(e, "sim_time_cycles", st->end_cycles);
    cJSON_AddNumberToObject(e, "sim_time_ns", to_ns(in, st->end_cycles));
    sim_json_add_u64(e, "clock_cycles_per_sim_s", st->cycles_per_s);
    sim_json_add_u64(e, "events", st->events);
    sim_json_add_u64(e, "fibers_spawned", st->fibers_spawned);
    if (!st->measured) {
        sim_json_add_u64(e, "windows", st->windows);
        sim_json_add_u64(e, "window_cycles", fos_topo_lookahead(sim_topo(in->s)));
        sim_json_add_u64(e, "core_activations", st->activations);
    }
    cJSON *f = cJSON_AddObjectToObject(r, "faults");
    sim_json_add_u64(f, "cores_killed", st->cores_killed);
    sim_json_add_u64(f, "dropped_dead", st->dropped_dead);
    sim_json_add_u64(f, "dropped_fault", st->dropped_fault);
    sim_json_add_u64(f, "delayed_fault", st->delayed_fault);
    return r;
}

static cJSON *host_json(const sim_report_in *in)
{
    const sim_stats *st = in->st;
    cJSON *h = cJSON_CreateObject();
    double host_s = (double)st->host_ns / 1e9;
    uint64_t msgs = st->msgs + st->chan_msgs;
    sim_json_add_u64(h, "host_time_ns", st->host_ns);
    cJSON_AddNumberToObject(h, "sim_msgs_per_host_s", host_s > 0 ? (double)msgs / host_s : 0);
    /* Events as discrete-event engines count them (PHOLD elsewhere): a mailbox
     * message is two here, its arrival and the answer to its sender. The native
     * engine has no events to speak of. */
    if (!st->measured)
        cJSON_AddNumberToObject(h, "sim_events_per_host_s",
                                host_s > 0 ? (double)st->events / host_s : 0);
    sim_json_add_u64(h, "workers", st->measured ? sim_topo(in->s)->cores : sim_workers(in->s));
    sim_json_add_u64(h, "host_cpus", in->host_cpus);
    cJSON_AddStringToObject(h, "workload", in->w->source);
    /* Resolved, so that --replay finds them from any directory. */
    const char *const *paths, *const *real;
    unsigned np = sim_registry_plugins(&paths, &real);
    if (np) {
        cJSON *pl = cJSON_AddArrayToObject(h, "plugins");
        for (unsigned i = 0; i < np; i++)
            cJSON_AddItemToArray(pl, cJSON_CreateString(real[i]));
    }
    if (in->json_path) cJSON_AddStringToObject(h, "json", in->json_path);
    return h;
}

static void print_lat(FILE *f, const sim_report_in *in, const char *what, uint64_t v)
{
    fprintf(f, " %s %" PRIu64 " (%.0f ns)", what, v, to_ns(in, v));
}

static void print_lats(FILE *f, const sim_report_in *in, const sim_hist *h)
{
    if (h->count == 0) {
        fprintf(f, " -\n");
        return;
    }
    print_lat(f, in, "p50", sim_hist_quantile(h, 0.5));
    print_lat(f, in, "p90", sim_hist_quantile(h, 0.9));
    print_lat(f, in, "p99", sim_hist_quantile(h, 0.99));
    print_lat(f, in, "max", h->max);
    fputc('\n', f);
}

/* The table shows this many servers of an application; the JSON has them all. */
#define TABLE_SERVERS 16

/* A row per server under its application's: the operations of the clients
 * that ask it, their latency, and its core's utilisation. */
static void print_servers(FILE *f, const sim_report_in *in, const report_app *a)
{
    uint32_t n = a->nsrv < TABLE_SERVERS ? a->nsrv : TABLE_SERVERS;
    for (uint32_t k = 0; k < n; k++) {
        const report_server *rs = &a->srv[k];
        char name[24];
        snprintf(name, sizeof name, "  core %u", a->sp->server_cores[k]);
        fprintf(f, "%-14s %-12s %10" PRIu64 " %10" PRIu64 " %14.4g %6s %5.0f%% ", name, "server",
                rs->r.ops, rs->r.errors, rs->tput_per_sim_s, "-", rs->util * 100);
        print_lats(f, in, rs->lat);
    }
    if (a->nsrv > n) fprintf(f, "  ... %u more servers (all of them in the JSON)\n", a->nsrv - n);
}

/* A line of a fleet's members (the first 16; the JSON has all). */
static void print_members(FILE *f, const sim_report_in *in, const char *label, const sim_fleet *fl,
                          uint32_t n)
{
    fprintf(f, "%s:", label);
    for (uint32_t k = 0; k < n && k < TABLE_SERVERS; k++) {
        sim_fleet_member_stats ms;
        sim_fleet_get_member_stats(fl, k, &ms);
        fprintf(f, " core %u served %" PRIu64 " (%.4g/%s, %.0f%% busy", ms.core, ms.served,
                member_tput(in, &ms), in->st->measured ? "s" : "sim s",
                core_util(in->s, &ms.core, 1, in->st->end_cycles) * 100);
        if (ms.service && ms.service->count)
            fprintf(f, ", service p50 %" PRIu64 " p99 %" PRIu64 " cycles",
                    sim_hist_quantile(ms.service, 0.5), sim_hist_quantile(ms.service, 0.99));
        fprintf(f, ")%s", k + 1 < n ? "," : "");
    }
    fprintf(f, "%s\n", n > TABLE_SERVERS ? " ..." : "");
}

static void print_table(FILE *f, const sim_report_in *in, const report_app *ra)
{
    const sim_stats *st = in->st;
    const sim_workload *w = in->w;
    const fos_topo *t = sim_topo(in->s);
    if (st->measured)
        fprintf(f,
                "fossim %s: native engine (a measurement: cycles are TSC cycles at %.2f GHz), %u "
                "cores on %u host CPUs, seed %" PRIu64 "\n",
                in->version, (double)st->cycles_per_s / 1e9, t->cores, in->host_cpus, w->cfg.seed);
    else
        fprintf(f,
                "fossim %s: virtual engine, %u cores, %s, costs %s, clock %.2f GHz, seed %" PRIu64
                "\n",
                in->version, t->cores, fos_topo_kind_name(t->kind), w->costs_preset,
                (double)t->clock_hz / 1e9, w->cfg.seed);
    fprintf(f, "workload %s: ended %s at %" PRIu64 " cycles (%.3f ms %s)\n", w->source,
            sim_end_name(st->end), st->end_cycles, to_ns(in, st->end_cycles) / 1e6,
            st->measured ? "elapsed" : "simulated");
    fprintf(f, "\n%-14s %-12s %10s %10s %14s %6s %6s  %s\n", "application", "kind", "operations",
            "errors", st->measured ? "ops/s" : "ops/sim s", "util", "srv", "latency, cycles (ns)");
    for (uint32_t i = 0; i < w->napps; i++) {
        const report_app *a = &ra[i];
        char srv[16] = "-";
        if (a->sp->server_cores) snprintf(srv, sizeof srv, "%.0f%%", a->server_util * 100);
        fprintf(f, "%-14s %-12s %10" PRIu64 " %10" PRIu64 " %14.4g %5.0f%% %6s ", a->sp->name,
                sim_app_spec_kind(a->sp), a->r.ops, a->r.errors, a->tput_per_sim_s,
                a->client_util * 100, srv);
        if (a->sp->kind == SIM_APP_PHOLD)
            fprintf(f, " -\n");
        else
            print_lats(f, in, a->lat);
        print_servers(f, in, a);
    }
    bool whole = false;
    for (uint32_t i = 0; i < w->napps; i++)
        whole |= ra[i].from == 0 && w->warmup > 0;
    if (w->warmup && !whole)
        fprintf(f, "(throughput and latency measured after a warmup of %" PRIu64 " cycles)\n",
                w->warmup);
    else if (whole)
        fprintf(f,
                "(the run ended before its warmup of %" PRIu64
                " cycles: throughput and latency are over the whole run)\n",
                w->warmup);
    for (uint32_t i = 0; i < w->napps; i++)
        if (ra[i].r.refused)
            fprintf(f, "%s: %" PRIu64 " requests refused by full server queues (open loop)\n",
                    ra[i].sp->name, ra[i].r.refused);
    if (in->names) print_members(f, in, "name service", in->names, w->name_fleet.members);
    for (uint32_t i = 0; i < w->nfleets; i++) {
        char label[96];
        snprintf(label, sizeof label, "fleet %s", w->fleets[i].ops->name);
        print_members(f, in, label, in->fleets[i], w->fleets[i].members);
    }
    fprintf(f,
            "\nmailbox: %" PRIu64 " messages, %" PRIu64 " bytes; refused %" PRIu64 " full, %" PRIu64
            " capability, %" PRIu64 " no mailbox\n",
            st->msgs, st->msg_bytes, st->refused_full, st->refused_perm, st->refused_noent);
    fprintf(f,
            "channel: %" PRIu64 " messages, %" PRIu64 " bytes; %" PRIu64
            " found the ring full; %" PRIu64 " pairs upgraded\n",
            st->chan_msgs, st->chan_bytes, st->chan_full, st->chan_upgrades);
    if (st->cores_killed || st->dropped_fault || st->delayed_fault || st->dropped_dead)
        fprintf(f,
                "faults: %" PRIu64 " cores killed, %" PRIu64 " messages dropped by rules, %" PRIu64
                " delayed, %" PRIu64 " lost to dead cores\n",
                st->cores_killed, st->dropped_fault, st->delayed_fault, st->dropped_dead);
    double host_s = (double)st->host_ns / 1e9;
    fprintf(f, "engine: %" PRIu64 " events", st->events);
    if (!st->measured)
        fprintf(f, " in %" PRIu64 " windows of %" PRIu64 " cycles, %" PRIu64 " core activations",
                st->windows, fos_topo_lookahead(t), st->activations);
    uint32_t nw = sim_workers(in->s);
    fprintf(f, "; %.3f host s", host_s);
    if (!st->measured) fprintf(f, " on %" PRIu32 " worker%s", nw, nw == 1 ? "" : "s");
    fprintf(f, ", %.2f M simulated messages per host second\n",
            host_s > 0 ? (double)(st->msgs + st->chan_msgs) / host_s / 1e6 : 0.0);
    fprintf(f, "event digest: %016" PRIx64 "\n", st->event_digest);
}

int sim_report(const sim_report_in *in, FILE *table, FILE *err)
{
    uint32_t n = in->w->napps;
    report_app *ra = calloc(n ? n : 1, sizeof(*ra));
    int r = ra ? 0 : -ENOMEM;
    /* Every figure first: what can fail (host memory) fails before anything is
     * printed, so there is never half a table. */
    for (uint32_t i = 0; i < n && r == 0; i++)
        r = derive(in, i, &ra[i]);
    if (r != 0) {
        fprintf(err, "fossim: cannot gather the report: %s\n", strerror(-r));
        if (in->json) fclose(in->json);
    }
    if (r == 0 && table) print_table(table, in, ra);
    if (r == 0 && in->json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddNumberToObject(doc, "schema_version", SIM_REPORT_SCHEMA);
        cJSON_AddStringToObject(doc, "version", in->version);
        cJSON_AddItemToObject(doc, "config", sim_workload_to_json(in->w));
        cJSON_AddItemToObject(doc, "results", results_json(in, ra));
        cJSON_AddItemToObject(doc, "host", host_json(in));
        char *text = cJSON_Print(doc);
        cJSON_Delete(doc);
        FILE *f = text ? in->json : NULL;
        if (!f || fputs(text, f) < 0 || fputc('\n', f) < 0) {
            fprintf(err, "fossim: --json %s: cannot write: %s\n", in->json_path,
                    text ? strerror(errno) : "out of memory");
            r = -EIO;
        }
        if (in->json && fclose(in->json) != 0 && r == 0) {
            fprintf(err, "fossim: --json %s: cannot write: %s\n", in->json_path, strerror(errno));
            r = -EIO;
        }
        free(text);
    }
    for (uint32_t i = 0; i < n && ra; i++)
        report_app_fini(&ra[i]);
    free(ra);
    return r;
}
