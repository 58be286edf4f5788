/* Plugins through the command line: the example fleet loads, runs from a
 * workload and is listed; plugins that break their contract are refused with
 * their name, and one that crashes is named in the report. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/cli_run.h"

#define PL FOSSIM_PLUGIN_DIR
#define LOCKD_YAML FOSSIM_EXAMPLES "/fleets/lockd/lockd.yaml"

/* The example's plugins: line is relative to the top of the tree; tests give
 * the built plugin's own path instead (the same file in the default build). */
#define LOCKD_ARGS "-q --plugin " PL "/lockd.so --set plugins=[" PL "/lockd.so] '" LOCKD_YAML "'"

Test(plugin, lockd_runs_from_a_workload)
{
    run_out o;
    char j[64], args[1024];
    snprintf(j, sizeof j, "/tmp/fossim_pl_%d.json", getpid());
    snprintf(args, sizeof args, "%s --set apps.0.operations=20 --set duration=0 --json %s",
             LOCKD_ARGS, j);
    fossim(args, &o);
    cr_assert_eq(o.status, 0, "%s\n%s", o.out, o.err);
    static char buf[1 << 20];
    slurp(j, buf, sizeof buf);
    cJSON *r = cJSON_Parse(buf);
    cr_assert_not_null(r);
    cJSON *res = cJSON_GetObjectItem(r, "results");
    cJSON *app = cJSON_GetArrayItem(cJSON_GetObjectItem(res, "apps"), 0);
    double clients =
        cJSON_GetObjectItem(
            cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "config"), "apps"), 0),
            "clients")
            ->valuedouble;
    cr_expect_eq(cJSON_GetObjectItem(app, "operations")->valuedouble, 20 * clients);
    cr_expect_eq(cJSON_GetObjectItem(app, "errors")->valuedouble, 0);
    /* Every acquire and every release was answered by a member. */
    cJSON *members =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(res, "fleets"), 0), "members");
    double served = 0;
    for (int i = 0; i < cJSON_GetArraySize(members); i++) {
        cJSON *m = cJSON_GetArrayItem(members, i);
        double mine = cJSON_GetObjectItem(m, "served")->valuedouble;
        served += mine;
        /* A service time per answer, a lock's waits (deferred answers) included. */
        cJSON *svc = cJSON_GetObjectItem(m, "service_time");
        cr_assert_not_null(svc, "member %d has no service_time", i);
        cr_expect_eq(cJSON_GetObjectItem(svc, "count")->valuedouble, mine, "member %d", i);
        if (mine)
            cr_expect_geq(cJSON_GetObjectItem(svc, "max_cycles")->valuedouble,
                          cJSON_GetObjectItem(svc, "p50_cycles")->valuedouble);
    }
    /* ... plus each client's one request for the member table. */
    cr_expect_eq(served, 2 * 20 * clients + clients, "served %.0f", served);
    cJSON_Delete(r);
    unlink(j);
}

/* A plugin's path is the host's: it goes in `host` (resolved), not in
 * `config`, so that the same run elsewhere gives the same non-host JSON; and
 * --replay loads it from there, from any directory. */
Test(plugin, plugin_paths_are_the_hosts_and_replay_loads_them)
{
    run_out o;
    char j[64], j2[64], args[1024];
    snprintf(j, sizeof j, "/tmp/fossim_plr_%d.json", getpid());
    snprintf(j2, sizeof j2, "/tmp/fossim_plr2_%d.json", getpid());
    snprintf(args, sizeof args, "%s --set apps.0.operations=5 --set duration=0 --json %s",
             LOCKD_ARGS, j);
    fossim(args, &o);
    cr_assert_eq(o.status, 0, "%s", o.err);
    static char buf[1 << 20];
    slurp(j, buf, sizeof buf);
    cJSON *a = cJSON_Parse(buf);
    cr_assert_not_null(a);
    cr_expect_null(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "config"), "plugins"),
                   "a host path in config");
    cJSON *pl = cJSON_GetObjectItem(cJSON_GetObjectItem(a, "host"), "plugins");
    cr_assert(cJSON_IsArray(pl) && cJSON_GetArraySize(pl) == 1);
    const char *path = cJSON_GetArrayItem(pl, 0)->valuestring;
    cr_expect(path[0] == '/' && strstr(path, "lockd.so"), "host/plugins/0: %s", path);
    /* Replayed from another directory, with no --plugin. */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cd / && '%s' -q --replay %s --json %s >/dev/null 2>&1", FOSSIM_BIN,
             j, j2);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    slurp(j2, buf, sizeof buf);
    cJSON *b = cJSON_Parse(buf);
    cr_assert_not_null(b);
    cJSON_DeleteItemFromObject(b, "host");
    /* A plugin not where the run had it: said, and --plugin gives it. */
    cJSON *pls = cJSON_GetObjectItem(cJSON_GetObjectItem(a, "host"), "plugins");
    cJSON_ReplaceItemInArray(pls, 0, cJSON_CreateString("/nonexistent/lockd.so"));
    char *moved = cJSON_Print(a);
    FILE *mf = fopen(j2, "w");
    cr_assert_not_null(mf);
    fputs(moved, mf);
    fclose(mf);
    free(moved);
    char rargs[512];
    snprintf(rargs, sizeof rargs, "-q --replay %s", j2);
    fossim(rargs, &o);
    cr_expect_eq(o.status, 2, "%s", o.err);
    cr_expect_not_null(strstr(o.err, "host/plugins/0: warning: plugin '/nonexistent/lockd.so' not "
                                     "loaded"),
                       "%s", o.err);
    cr_expect_not_null(strstr(o.err, "unknown application kind 'lockd_client'"), "%s", o.err);
    snprintf(rargs, sizeof rargs, "-q --replay %s --plugin %s/lockd.so", j2, PL);
    fossim(rargs, &o);
    cr_expect_eq(o.status, 0, "%s", o.err);
    cJSON_DeleteItemFromObject(a, "host");
    cr_expect(cJSON_Compare(a, b, true), "the replay differs outside host");
    cJSON_Delete(a);
    cJSON_Delete(b);
    unlink(j);
    unlink(j2);
}

Test(plugin, list_shows_what_plugins_register)
{
    run_out o;
    fossim("--plugin " PL "/lockd.so --list", &o);
    cr_assert_eq(o.status, 0, "%s", o.err);
    cr_expect_not_null(strstr(o.out, "lockd_client"), "%s", o.out);
    cr_expect_not_null(strstr(o.out, "a lock service"), "%s", o.out);
    cr_expect_not_null(strstr(o.out, "locks"), "%s", o.out);
    fossim("--list", &o);
    cr_expect_eq(o.status, 0);
    cr_expect_null(strstr(o.out, "lockd"), "no plugin, no lockd");
}

static void refused(const char *plugin, const char *needle)
{
    run_out o;
    char args[512];
    snprintf(args, sizeof args, "--plugin %s/%s --list", PL, plugin);
    fossim(args, &o);
    cr_expect_eq(o.status, 2, "%s: status %d", plugin, o.status);
    cr_expect_not_null(strstr(o.err, plugin), "%s not named in: %s", plugin, o.err);
    cr_expect_not_null(strstr(o.err, needle), "'%s' not in: %s", needle, o.err);
}

Test(plugin, broken_plugins_are_refused_by_name)
{
    refused("bad_plugin_1.so", "built for another plugin API");
    refused("bad_plugin_2.so", "registered nothing");
    refused("bad_plugin_3.so", "parameter 'x': every parameter needs a one-line help");
    refused("bad_plugin_5.so", "does not export fossim_plugin_init");
    refused("bad_plugin_6.so", "parameter 'x': the default is not an integer");
    refused("bad_plugin_7.so", "fossim_plugin_init failed: invalid argument");
    refused("bad_plugin_8.so", "built for another plugin API");
    refused("bad_plugin_9.so", "fossim_plugin_init failed: unknown error");
    refused("nonexistent.so", "No such file or directory");
    refused("bad_plugin_14.so", "built for another plugin API (this fossim speaks API 6)");
    /* The API just before: a plugin's fos_deferred would be too small. */
    refused("bad_plugin_15.so", "built for another plugin API (this fossim speaks API 6)");
    refused("bad_plugin_16.so",
            "parameter 'x': a unit applies to integer and size parameters only");
    /* A FIFO would hold dlopen for good; a directory is no shared object. */
    run_out o;
    char fifo[64], args[128];
    snprintf(fifo, sizeof fifo, "/tmp/fossim_fifo_%d.so", getpid());
    unlink(fifo);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    snprintf(args, sizeof args, "--plugin %s --list", fifo);
    fossim(args, &o);
    unlink(fifo);
    cr_expect_eq(o.status, 2);
    cr_expect_not_null(strstr(o.err, "not a regular file"), "%s", o.err);
    fossim("--plugin / --list", &o);
    cr_expect_eq(o.status, 2);
    cr_expect_not_null(strstr(o.err, "not a regular file"), "%s", o.err);
    /* A workload naming a fleet nobody registered. */
    fossim("-q --set os.lockd.members=2", &o);
    cr_expect_eq(o.status, 2);
    cr_expect_not_null(strstr(o.err, "unknown key 'lockd' in os"), "%s", o.err);
}

/* A counters hook that says it wrote more than it had room for, one without a
 * name and names given twice: said once per member, and only what it really
 * wrote, named once each, reaches the report. */
Test(plugin, a_lying_counters_hook_is_said_and_contained)
{
    run_out o;
    char json[64], args[512];
    snprintf(json, sizeof json, "/tmp/fossim_plugin_liar_%d.json", getpid());
    snprintf(args, sizeof args, "-q --plugin %s/bad_plugin_10.so --set os.liar.members=2 --json %s",
             PL, json);
    fossim(args, &o);
    cr_expect_eq(o.status, 0, "status %d: %s", o.status, o.err);
    cr_expect_not_null(strstr(o.err, "fossim: fleet 'liar', member 0: its counters hook returned "
                                     "1012 counters for room for 12, 1 without a name and 10 with "
                                     "a name given before; 1 are reported"),
                       "%s", o.err);
    const char *second = strstr(o.err, "member 0:");
    cr_expect_null(second ? strstr(second + 1, "member 0:") : NULL, "said twice: %s", o.err);
    static char buf[1 << 20];
    slurp(json, buf, sizeof buf);
    unlink(json);
    cJSON *doc = cJSON_Parse(buf);
    cr_assert_not_null(doc);
    cJSON *fleets = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "results"), "fleets");
    cJSON *liar = NULL, *it;
    cJSON_ArrayForEach(it, fleets)
    {
        if (!strcmp(cJSON_GetObjectItem(it, "name")->valuestring, "liar")) liar = it;
    }
    cr_assert_not_null(liar);
    cJSON *c = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(liar, "members"), 0),
                                   "counters");
    cr_assert_not_null(c);
    cr_expect_eq(cJSON_GetArraySize(c), 1);
    cr_expect_eq(cJSON_GetObjectItem(c, "same")->valuedouble, 1.0);
    cJSON_Delete(doc);
}

/* A client of bad_plugin_11's `kind` breaks the parameters' contract: the run
 * stops and says which kind did what. */
static void misuse(const char *kind, const char *needle)
{
    run_out o;
    char path[64], text[128], args[512];
    snprintf(text, sizeof text,
             "chip: {cores: 4}\napps:\n  - {kind: %s, clients: 1, operations: 1}\n", kind);
    snprintf(path, sizeof path, "/tmp/fossim_pl_%s_%d.yaml", kind, getpid());
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    snprintf(args, sizeof args, "-q --plugin %s/bad_plugin_11.so %s", PL, path);
    fossim(args, &o);
    unlink(path);
    cr_expect_neq(o.status, 0, "%s", kind);
    cr_expect_not_null(strstr(o.err, needle), "%s", o.err);
}

Test(plugin, an_undeclared_parameter_names_the_kind_that_asked)
{
    misuse("forgetful",
           "fossim: 'forgetful' asked for parameter 'speed', which it did not declare");
    /* A number read as a string is the same kind of bug. */
    misuse("misreader",
           "fossim: 'misreader' read parameter 'rate' as a string, but declared it a number");
}

/* The runtime called off any simulated core: the call is named, the run stops. */
Test(plugin, a_runtime_call_from_init_is_named)
{
    run_out o;
    fossim("-q --plugin " PL "/bad_plugin_17.so --list", &o);
    cr_expect_neq(o.status, 0);
    cr_expect_not_null(strstr(o.err, "fossim: fos_now was called outside a fiber of a simulated "
                                     "core"),
                       "%s", o.err);
}

Test(plugin, a_fleet_joined_without_parameters_is_told_so)
{
    run_out o;
    char path[64], args[512];
    snprintf(path, sizeof path, "/tmp/fossim_pl_nop_%d.yaml", getpid());
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("chip: {cores: 4}\nos: {nop: {members: 1}}\napps:\n  - {kind: joiner, clients: 1}\n", f);
    fclose(f);
    snprintf(args, sizeof args, "-q --plugin %s/bad_plugin_13.so %s", PL, path);
    fossim(args, &o);
    unlink(path);
    cr_expect_neq(o.status, 0);
    cr_expect_not_null(strstr(o.err, "asked for parameter 'service' but was given no parameters"),
                       "%s", o.err);
}

Test(plugin, a_record_from_the_future_is_an_error_said_once)
{
    run_out o;
    char path[64], json[64], args[512];
    snprintf(path, sizeof path, "/tmp/fossim_pl_seer_%d.yaml", getpid());
    snprintf(json, sizeof json, "/tmp/fossim_pl_seer_%d.json", getpid());
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("chip: {cores: 4}\napps:\n  - {name: s, kind: seer, clients: 2, operations: 1}\n", f);
    fclose(f);
    snprintf(args, sizeof args, "-q --plugin %s/bad_plugin_12.so --json %s %s", PL, json, path);
    fossim(args, &o);
    unlink(path);
    /* Errors with no fault to explain them fail the run. */
    cr_expect_eq(o.status, 1, "status %d: %s", o.status, o.err);
    const char *said = strstr(o.err, "fos_app_record was given a start of 1000 cycles, after now");
    cr_expect_not_null(said, "%s", o.err);
    cr_expect_null(said ? strstr(said + 1, "fos_app_record") : NULL, "said twice: %s", o.err);
    static char buf[1 << 20];
    slurp(json, buf, sizeof buf);
    unlink(json);
    cJSON *doc = cJSON_Parse(buf);
    cr_assert_not_null(doc);
    cJSON *app =
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "results"), "apps"), 0);
    cr_assert_not_null(app);
    cr_expect_eq(cJSON_GetObjectItem(app, "errors")->valuedouble, 2.0);
    cr_expect_eq(cJSON_GetObjectItem(app, "operations")->valuedouble, 2.0,
                 "the honest records count");
    cJSON *lat = cJSON_GetObjectItem(app, "latency");
    cr_expect_eq(cJSON_GetObjectItem(lat, "max_cycles")->valuedouble, 50.0, "no wrapped latency");
    cJSON_Delete(doc);
}

Test(plugin, a_crash_inside_a_plugin_is_named)
{
    run_out o;
    char path[64], args[512];
    snprintf(path, sizeof path, "/tmp/fossim_pl_%d.yaml", getpid());
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("chip: {cores: 4}\napps:\n  - {kind: crasher, clients: 1, operations: 1}\n", f);
    fclose(f);
    snprintf(args, sizeof args, "-q --plugin %s/bad_plugin_4.so %s", PL, path);
    fossim(args, &o);
    cr_expect_neq(o.status, 0);
    /* A sanitizer build reports the crash itself, naming the source file. */
    cr_expect_not_null(strstr(o.err, "bad_plugin"), "the plugin is not named: %s", o.err);
    unlink(path);
}
