/* The fos PMA experiment (the report's figure 5): the page-allocation fleet's
 * response rate against the number of clients, for fleets of 1, 2, 4 and 8
 * members and each of dPool's five schemes, on the virtual engine.
 *
 * Pages start evenly spread over the members. The clients take the lowest-
 * numbered free cores (the top rows of the mesh), so they crowd the members
 * placed there and leave the others idle: the load is uneven, which is what
 * rebalancing is for. Each client allocates `batch` pages per request, holds
 * up to `hold`, then frees them all; a response is an alloc or a free
 * answered. Every parameter is fixed here and written into the JSON. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/fossim_run.h"

static const char *const schemes[] = {"storage", "bulk", "pull", "push", "push_estimate"};
static const int members[] = {1, 2, 4, 8};
static const int clients[] = {1, 2, 4, 8, 16, 32, 64, 128};
#define NS (int)(sizeof schemes / sizeof schemes[0])
#define NM (int)(sizeof members / sizeof members[0])
#define NC (int)(sizeof clients / sizeof clients[0])

#define CORES 256
#define DURATION "1ms"
#define WARMUP "100us"
#define MEMORY "128MiB"
#define BATCH 16
#define HOLD 256
#define THINK "10us" /* the client's own work between two allocs */
#define BLOCK 64
#define LOW_PCT 25
#define HIGH_PCT 50
#define PERIOD "20us"

int main(int argc, char **argv)
{
    int as_json = argc > 1 && !strcmp(argv[1], "--json");
    char fossim[PATH_MAX];
    if (bench_fossim_beside(fossim, sizeof fossim)) return 1;

    cJSON *par;
    cJSON *out = bench_figure_new(&par);
    bench_params_virtual_mesh(par, CORES, DURATION, WARMUP);
    cJSON_AddStringToObject(par, "memory", MEMORY);
    cJSON_AddNumberToObject(par, "batch_pages", BATCH);
    cJSON_AddNumberToObject(par, "hold_pages", HOLD);
    cJSON_AddStringToObject(par, "think", THINK);
    cJSON_AddNumberToObject(par, "block", BLOCK);
    cJSON_AddNumberToObject(par, "low_water_percent", LOW_PCT);
    cJSON_AddNumberToObject(par, "high_water_percent", HIGH_PCT);
    cJSON_AddStringToObject(par, "period", PERIOD);
    cJSON_AddStringToObject(par, "pma_placement", "spread");
    cJSON_AddStringToObject(par, "client_placement",
                            "compact: the lowest-numbered free cores (crowding the members there)");
    cJSON_AddStringToObject(par, "operation",
                            "page_alloc: alloc `batch` pages, hold up to `hold`, free them all; "
                            "rate = allocs and frees answered per simulated second");
    cJSON *points = cJSON_AddArrayToObject(out, "points");
    if (!as_json)
        printf("%-14s %7s %7s %16s %12s\n", "scheme", "members", "clients", "responses/sim s",
               "moved pages");
    for (int s = 0; s < NS; s++)
        for (int m = 0; m < NM; m++)
            for (int c = 0; c < NC; c++) {
                char w[2048];
                snprintf(w, sizeof w,
                         "chip: {cores: %d, topology: mesh, costs: tile}\nseed: 1\n"
                         "duration: %s\nwarmup: %s\nos:\n"
                         "  pma: {members: %d, placement: spread, scheme: %s, memory: %s,\n"
                         "        block: %d, low_water_percent: %d, high_water_percent: %d,\n"
                         "        period: %s}\n"
                         "apps:\n  - {kind: page_alloc, clients: %d, placement: compact,\n"
                         "     operations: 0, think: %s, batch: %d, hold: %d}\n",
                         CORES, DURATION, WARMUP, members[m], schemes[s], MEMORY, BLOCK, LOW_PCT,
                         HIGH_PCT, PERIOD, clients[c], THINK, BATCH, HOLD);
                cJSON *doc = bench_fossim_yaml(fossim, w);
                if (!doc) return 1;
                double x = bench_app_figure(doc, "throughput_per_sim_s", NULL);
                double moved = 0;
                cJSON *fl = cJSON_GetArrayItem(
                    cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "results"), "fleets"), 0);
                cJSON *mem;
                cJSON_ArrayForEach(mem, cJSON_GetObjectItem(fl, "members"))
                {
                    cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(mem, "counters"), "moved");
                    if (cJSON_IsNumber(v)) moved += v->valuedouble;
                }
                cJSON_Delete(doc);
                cJSON *pt = cJSON_CreateObject();
                cJSON_AddStringToObject(pt, "scheme", schemes[s]);
                cJSON_AddNumberToObject(pt, "members", members[m]);
                cJSON_AddNumberToObject(pt, "clients", clients[c]);
                cJSON_AddNumberToObject(pt, "rate_per_sim_s", x);
                cJSON_AddNumberToObject(pt, "moved_pages", moved);
                cJSON_AddItemToArray(points, pt);
                if (!as_json)
                    printf("%-14s %7d %7d %16.4g %12.0f\n", schemes[s], members[m], clients[c], x,
                           moved);
            }
    bench_json_done(out, as_json);
    return 0;
}
