/* The fleet framework under faults (fleet_chaos.h): each scenario's runs, and
 * how many of them ended with tables that disagree.
 *
 * build/bench/fleet_sweep [--json] [--runs N] */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/fleet_chaos.h"

int main(int argc, char **argv)
{
    bool as_json = false;
    int runs = 4000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            as_json = true;
        } else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 1 || n > 1000000) {
                fprintf(stderr, "fleet_sweep: --runs %s: expected 1 to 1000000\n", argv[i]);
                return 2;
            }
            runs = (int)n;
        } else {
            fprintf(stderr, "usage: fleet_sweep [--json] [--runs N]\n");
            return 2;
        }
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "schema_version", 1);
    cJSON *par = cJSON_AddObjectToObject(out, "parameters");
    cJSON_AddNumberToObject(par, "cores", FLEET_CHAOS_CORES);
    cJSON_AddStringToObject(par, "engine", "virtual");
    cJSON_AddNumberToObject(par, "members", FLEET_CHAOS_MEMBERS);
    cJSON_AddNumberToObject(par, "runs_per_scenario", runs);
    cJSON_AddStringToObject(par, "joins_start",
                            "20,000 to 4,020,000 cycles; a third leave "
                            "again within 3 M cycles");
    cJSON_AddStringToObject(par, "slow_hooks",
                            "two, each 0 to 29 M cycles, one member "
                            "hearing of one joiner");
    cJSON_AddStringToObject(par, "kill", "one core of the fleet's or none, 20,000 to 6 M cycles");
    cJSON *res = cJSON_AddArrayToObject(out, "scenarios");
    if (!as_json)
        printf("%-24s %6s %9s %6s %7s  %s\n", "scenario", "runs", "diverged", "joins", "failed",
               "EIO/ENOENT/ETIMEDOUT/ESTALE/other");
    for (int k = 0; k < fleet_chaos_nscenarios; k++) {
        const fleet_chaos_scenario *sc = &fleet_chaos_scenarios[k];
        fleet_chaos_tally t = {0};
        for (int it = 0; it < runs; it++)
            if (fleet_chaos_run(sc, it, &t) != 0) return 1;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", sc->name);
        cJSON_AddStringToObject(o, "what", sc->what);
        cJSON_AddNumberToObject(o, "joiners", sc->joiners);
        cJSON_AddNumberToObject(o, "member_fibers", sc->fibers ? sc->fibers : 8);
        cJSON_AddNumberToObject(o, "seed", (double)sc->seed);
        cJSON_AddNumberToObject(o, "runs", t.runs);
        cJSON_AddNumberToObject(o, "diverged", t.diverged);
        cJSON *which = cJSON_AddArrayToObject(o, "diverged_runs");
        for (int d = 0; d < t.diverged && d < FLEET_CHAOS_LISTED; d++)
            cJSON_AddItemToArray(which, cJSON_CreateNumber(t.diverged_run[d]));
        cJSON_AddNumberToObject(o, "joins", t.joins);
        cJSON_AddNumberToObject(o, "joins_failed", t.failed);
        cJSON *by = cJSON_AddObjectToObject(o, "joins_failed_by");
        const char *names[] = {"EIO", "ENOENT", "ETIMEDOUT", "ESTALE", "other"};
        for (int e = 0; e < 5; e++)
            cJSON_AddNumberToObject(by, names[e], t.failed_by[e]);
        cJSON_AddItemToArray(res, o);
        if (!as_json)
            printf("%-24s %6d %9d %6d %7d  %d/%d/%d/%d/%d\n", sc->name, t.runs, t.diverged, t.joins,
                   t.failed, t.failed_by[0], t.failed_by[1], t.failed_by[2], t.failed_by[3],
                   t.failed_by[4]);
    }
    if (as_json) {
        char *txt = cJSON_Print(out);
        puts(txt);
        free(txt);
    }
    cJSON_Delete(out);
    return 0;
}
