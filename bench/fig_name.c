/* The fos name-service experiment: lookups per simulated second against the
 * number of clients, for name fleets of 1, 2, 4, 8 and 16 members, on a
 * 256-core chip with the virtual engine; and the price of full replication:
 * the latency of a put against the size of the KV fleet.
 *
 * Each point is one run of fossim (found next to this program's directory),
 * with every parameter fixed here and written into the JSON. With --json the
 * figures come as JSON; without, as a table. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/fossim_run.h"

static const int members[] = {1, 2, 4, 8, 16};
static const int clients[] = {1, 2, 4, 8, 16, 32, 64, 128, 200};
#define NM (int)(sizeof members / sizeof members[0])
#define NC (int)(sizeof clients / sizeof clients[0])

#define CORES 256
#define DURATION "200us"
#define WARMUP "20us"

static char fossim[PATH_MAX];

static cJSON *run(const char *workload)
{
    return bench_fossim_yaml(fossim, workload);
}

int main(int argc, char **argv)
{
    int as_json = argc > 1 && !strcmp(argv[1], "--json");
    if (bench_fossim_beside(fossim, sizeof fossim)) return 1;

    cJSON *par;
    cJSON *out = bench_figure_new(&par);
    bench_params_virtual_mesh(par, CORES, DURATION, WARMUP);
    cJSON_AddStringToObject(par, "name_placement", "spread");
    cJSON_AddStringToObject(par, "client_placement", "spread over the cores left");
    cJSON_AddStringToObject(par, "operation",
                            "name_lookup: every lookup goes to the service (the client's cache "
                            "is skipped); register_percent 0; think 0; closed loop");
    cJSON *points = cJSON_AddArrayToObject(out, "points");
    if (!as_json)
        printf("%8s %8s %18s %14s\n", "members", "clients", "lookups/sim s", "p50 cycles");
    for (int m = 0; m < NM; m++)
        for (int c = 0; c < NC; c++) {
            char w[1024];
            snprintf(w, sizeof w,
                     "chip: {cores: %d, topology: mesh, costs: tile}\nseed: 1\nduration: %s\n"
                     "warmup: %s\nos:\n  name: {members: %d, placement: spread, policy: nearest}\n"
                     "apps:\n  - {kind: name_lookup, clients: %d, operations: 0, "
                     "register_percent: 0}\n",
                     CORES, DURATION, WARMUP, members[m], clients[c]);
            cJSON *doc = run(w);
            if (!doc) return 1;
            double x = bench_app_figure(doc, "throughput_per_sim_s", NULL);
            double p50 = bench_app_figure(doc, "p50_cycles", "latency");
            cJSON_Delete(doc);
            cJSON *pt = cJSON_CreateObject();
            cJSON_AddNumberToObject(pt, "members", members[m]);
            cJSON_AddNumberToObject(pt, "clients", clients[c]);
            cJSON_AddNumberToObject(pt, "lookups_per_sim_s", x);
            cJSON_AddNumberToObject(pt, "lookup_p50_cycles", p50);
            cJSON_AddItemToArray(points, pt);
            if (!as_json) printf("%8d %8d %18.4g %14.0f\n", members[m], clients[c], x, p50);
        }
    /* The price of full replication: a put is a two-phase commit over every
     * replica. One client, no conflicts. */
    cJSON *put_pts = cJSON_AddArrayToObject(out, "put_latency");
    cJSON_AddStringToObject(par, "put_operation",
                            "kv: one client, put_percent 100, 1000 keys, 200 puts, no conflicts");
    if (!as_json) printf("\n%8s %14s %14s\n", "replicas", "put p50", "put p99");
    for (int m = 0; m < NM; m++) {
        char w[1024];
        snprintf(w, sizeof w,
                 "chip: {cores: %d, topology: mesh, costs: tile}\nseed: 1\nos:\n"
                 "  kv: {members: %d, placement: spread}\napps:\n"
                 "  - {kind: kv, clients: 1, operations: 200, put_percent: 100, keys: 1000}\n",
                 CORES, members[m]);
        cJSON *doc = run(w);
        if (!doc) return 1;
        double p50 = bench_app_figure(doc, "p50_cycles", "latency");
        double p99 = bench_app_figure(doc, "p99_cycles", "latency");
        cJSON_Delete(doc);
        cJSON *pt = cJSON_CreateObject();
        cJSON_AddNumberToObject(pt, "replicas", members[m]);
        cJSON_AddNumberToObject(pt, "put_p50_cycles", p50);
        cJSON_AddNumberToObject(pt, "put_p99_cycles", p99);
        cJSON_AddItemToArray(put_pts, pt);
        if (!as_json) printf("%8d %14.0f %14.0f\n", members[m], p50, p99);
    }
    bench_json_done(out, as_json);
    return 0;
}
