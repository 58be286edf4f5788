/* The fossim command line, run as a separate process: identical JSON outside
 * `host` from two processes and from --replay, counts that agree with what
 * the applications did, --print-default, and bad command lines. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/cli_run.h"

static cJSON *load_json(const char *path)
{
    static char buf[1 << 20];
    slurp(path, buf, sizeof buf);
    cJSON *j = cJSON_Parse(buf);
    cr_assert_not_null(j, "%s is not JSON", path);
    return j;
}

static double num(const cJSON *o, const char *path)
{
    char p[256];
    snprintf(p, sizeof p, "%s", path);
    const cJSON *cur = o;
    for (char *save, *tok = strtok_r(p, ".", &save); tok; tok = strtok_r(NULL, ".", &save)) {
        if (cJSON_IsArray(cur))
            cur = cJSON_GetArrayItem(cur, atoi(tok));
        else
            cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
        cr_assert_not_null(cur, "no %s", path);
    }
    cr_assert(cJSON_IsNumber(cur), "%s is not a number", path);
    return cur->valuedouble;
}

#define EX FOSSIM_EXAMPLES
#define ECHO_SMALL "-q --cores 64 --duration 200us --set warmup=20us '" EX "/echo.yaml'"

Test(cli, json_identical_outside_host_across_processes_and_replay)
{
    run_out o;
    char a[64], b[64], c[64], args[512];
    snprintf(a, sizeof a, "/tmp/fossim_cli_a_%d.json", getpid());
    snprintf(b, sizeof b, "/tmp/fossim_cli_b_%d.json", getpid());
    snprintf(c, sizeof c, "/tmp/fossim_cli_c_%d.json", getpid());
    snprintf(args, sizeof args, "%s --json %s", ECHO_SMALL, a);
    fossim(args, &o);
    cr_assert_eq(o.status, 0, "%s", o.err);
    /* Another process, with a different environment (another stack layout). */
    setenv("FOSSIM_TEST_PADDING", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
           1);
    snprintf(args, sizeof args, "%s --json %s", ECHO_SMALL, b);
    fossim(args, &o);
    unsetenv("FOSSIM_TEST_PADDING");
    cr_assert_eq(o.status, 0, "%s", o.err);
    snprintf(args, sizeof args, "-q --replay %s --json %s", a, c);
    fossim(args, &o);
    cr_assert_eq(o.status, 0, "%s", o.err);

    cJSON *ja = load_json(a), *jb = load_json(b), *jc = load_json(c);
    cr_expect(cJSON_IsObject(cJSON_GetObjectItem(ja, "host")), "host is there");
    cJSON_DeleteItemFromObject(ja, "host");
    cJSON_DeleteItemFromObject(jb, "host");
    cJSON_DeleteItemFromObject(jc, "host");
    char *sa = cJSON_Print(ja), *sb = cJSON_Print(jb), *sc = cJSON_Print(jc);
    cr_expect_str_eq(sa, sb, "two processes gave different results");
    cr_expect_str_eq(sa, sc, "--replay gave different results");
    cr_expect_eq(num(ja, "schema_version"), 2);
    cr_expect_eq(num(ja, "config.seed"), 1, "the seed is always written");
    cr_expect_gt(num(ja, "results.apps.0.operations"), 0);
    free(sa);
    free(sb);
    free(sc);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    cJSON_Delete(jc);

    /* Another seed is another run. */
    snprintf(args, sizeof args, "%s --seed 2 --json %s", ECHO_SMALL, b);
    fossim(args, &o);
    cr_assert_eq(o.status, 0, "%s", o.err);
    ja = load_json(a);
    jb = load_json(b);
    cr_expect_eq(num(jb, "config.seed"), 2);
    cr_expect_str_neq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(ja, "results"), "event_digest")->valuestring,
        cJSON_GetObjectItem(cJSON_GetObjectItem(jb, "results"), "event_digest")->valuestring);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    unlink(a);
    unlink(b);
    unlink(c);
}

/* Every operation the applications report is one the servers answered and the
 * kernel carried. */
Test(cli, counts_agree_with_the_applications)
{
    run_out o;
    char j[64], args[1024];
    snprintf(j, sizeof j, "/tmp/fossim_cli_n_%d.json", getpid());
    snprintf(args, sizeof args,
             "-q --cores 32 --set apps.0.operations=300 --set apps.1.operations=50 "
             "--set apps.1.think=0 --set duration=0 --set warmup=0 --json %s",
             j);
    fossim(args, &o);
    cr_assert_eq(o.status, 0, "%s\n%s", o.out, o.err);
    cJSON *r = load_json(j);
    double clients = num(r, "config.apps.1.clients");
    cr_expect_eq(clients, 32 - 1 - 1 - 1 - 8, "all: the cores the others left");
    cr_expect_eq(num(r, "results.apps.0.operations"), 300);
    cr_expect_eq(num(r, "results.apps.0.served"), 300);
    cr_expect_eq(num(r, "results.apps.1.operations"), 50 * clients);
    cr_expect_eq(num(r, "results.apps.1.served"), 50 * clients);
    double s = 0;
    for (int k = 0; k < 8; k++) {
        char p[64];
        snprintf(p, sizeof p, "results.apps.1.servers.%d.served", k);
        s += num(r, p);
    }
    cr_expect_eq(s, 50 * clients, "the servers' counts add up");
    cr_expect_eq(num(r, "results.apps.1.operations_by_kind.echo") +
                     num(r, "results.apps.1.operations_by_kind.ack"),
                 50 * clients);
    cr_expect_eq(num(r, "results.apps.1.latency.count"), 50 * clients);
    /* Each operation is a request and a reply, and so is each client's lookup
     * of its server at the name service; the name service answered exactly
     * those lookups. */
    double ops = 300 + 50 * clients, lookups = 1 + clients;
    cr_expect_eq(num(r, "results.mechanisms.mailbox.messages"), 2 * ops + 2 * lookups);
    cr_expect_eq(num(r, "results.name_service.members.0.served"), lookups);
    cr_expect_eq(num(r, "results.name_service.members.0.service_time.count"), lookups,
                 "a service time per answer");
    cr_expect_eq(num(r, "results.apps.0.errors") + num(r, "results.apps.1.errors"), 0);
    cJSON_Delete(r);
    unlink(j);
}

Test(cli, pingpong_and_channels_count_what_they_did)
{
    run_out o;
    char j[64], args[1024];
    snprintf(j, sizeof j, "/tmp/fossim_cli_p_%d.json", getpid());
    snprintf(args, sizeof args,
             "-q --cores 16 --set apps.0.operations=20 --json %s '%s/pingpong.yaml'", j, EX);
    fossim(args, &o);
    cr_assert_eq(o.status, 0, "%s", o.err);
    cJSON *r = load_json(j);
    cr_expect_eq(num(r, "config.apps.0.pairs"), 7, "15 free cores make 7 pairs");
    cr_expect_eq(num(r, "results.apps.0.operations"), 7 * 20);
    cr_expect_eq(num(r, "results.mechanisms.mailbox.messages"), 2 * 7 * 20);
    cJSON_Delete(r);

    snprintf(args, sizeof args,
             "-q --set apps.0.mechanism=channel --set apps.0.operations=100 --json %s "
             "'%s/null_syscall.yaml'",
             j, EX);
    fossim(args, &o);
    cr_assert_eq(o.status, 0, "%s", o.err);
    r = load_json(j);
    cr_expect_eq(num(r, "results.apps.0.operations"), 100);
    cr_expect_eq(num(r, "results.mechanisms.channel.messages"), 200,
                 "requests and replies went over the channel");
    cJSON_Delete(r);
    unlink(j);
}

Test(cli, print_default_is_the_example_and_loads)
{
    run_out o;
    fossim("--print-default", &o);
    cr_assert_eq(o.status, 0);
    static char file[16384];
    slurp(EX "/default.yaml", file, sizeof file);
    cr_expect_str_eq(o.out, file, "--print-default differs from examples/default.yaml");
    /* What it prints runs as a file, and the table names the seed. */
    char path[64], args[256];
    snprintf(path, sizeof path, "/tmp/fossim_cli_d_%d.yaml", getpid());
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(o.out, f);
    fclose(f);
    snprintf(args, sizeof args, "-q --cores 16 --duration 50us --set warmup=5us %s", path);
    fossim(args, &o);
    cr_expect_eq(o.status, 0, "%s", o.err);
    cr_expect_not_null(strstr(o.out, "seed 1\n"), "%s", o.out);
    unlink(path);
}

static void bad(const char *args, const char *needle);

/* Writes text to a fresh file named for tag and the process; returns it. */
static const char *write_tmp(const char *tag, const char *text)
{
    static char path[8][64];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, sizeof path[0], "/tmp/fossim_cli_%s_%d.json", tag, getpid());
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* --replay runs a run's configuration exactly or not at all: nothing after
 * the JSON, no string the loader's C strings would cut at a NUL, and integers
 * of 16 digits kept to the last one. */
Test(cli, replay_runs_exactly_or_refuses)
{
    run_out o;
    char a[64], c[64], args[512];
    static char text[1 << 20], edited[1 << 20];
    snprintf(a, sizeof a, "/tmp/fossim_cli_r_%d.json", getpid());
    snprintf(c, sizeof c, "/tmp/fossim_cli_r2_%d.json", getpid());
    snprintf(args, sizeof args, "%s --set apps.0.operations=9007199254740991 --json %s", ECHO_SMALL,
             a);
    fossim(args, &o);
    cr_assert_eq(o.status, 0, "%s", o.err);
    slurp(a, text, sizeof text);

    snprintf(args, sizeof args, "-q --replay %s --json %s", a, c);
    fossim(args, &o);
    cr_assert_eq(o.status, 0, "%s", o.err);
    cJSON *jc = load_json(c);
    const cJSON *ops = cJSON_GetObjectItem(
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(jc, "config"), "apps"), 0),
        "operations");
    cr_assert(cJSON_IsNumber(ops));
    cr_expect_eq(ops->valuedouble, 9007199254740991.0, "replayed as %.17g", ops->valuedouble);
    cJSON_Delete(jc);

    size_t tl = strlen(text);
    cr_assert_lt(tl + 16, sizeof edited);
    memcpy(edited, text, tl);
    strcpy(edited + tl, "}{ more\n");
    snprintf(args, sizeof args, "--replay %s", write_tmp("trail", edited));
    bad(args, "something after the JSON document");

    const char *name = strstr(text, "\"kind\":");
    cr_assert_not_null(name, "no kind in %s", text);
    const char *q = strchr(name + 7, '"'); /* the value's opening quote */
    cr_assert_not_null(q);
    size_t head = (size_t)(q + 1 - text);
    memcpy(edited, text, head);
    memcpy(edited + head, "\\u0000", 6);
    memcpy(edited + head + 6, q + 1, tl - head + 1); /* with its NUL */
    snprintf(args, sizeof args, "--replay %s", write_tmp("nul", edited));
    bad(args, "a NUL character");

    /* Its config is not the file the user has: a value is placed by its path. */
    snprintf(args, sizeof args, "--replay %s",
             write_tmp("path", "{\"version\": \"" FOSSIM_VERSION
                               "\", \"schema_version\": 1, \"config\": {\"chip\": {\"cores\": 16}, "
                               "\"seed\": \"x\", \"apps\": [{\"kind\": \"phold\"}], "
                               "\"duration\": 1000}}\n"));
    bad(args, "(config) /seed: expected an integer");
    snprintf(args, sizeof args, "--replay %s",
             write_tmp("key", "{\"version\": \"" FOSSIM_VERSION
                              "\", \"schema_version\": 1, \"config\": {\"chip\": {\"cores\": 16}, "
                              "\"sead\": 1, \"apps\": [{\"kind\": \"phold\"}], "
                              "\"duration\": 1000}}\n"));
    bad(args, "(config) /sead: unknown key 'sead' in the workload (did you mean 'seed'?)");
    snprintf(args, sizeof args, "--replay %s",
             write_tmp("big", "{\"version\": \"" FOSSIM_VERSION
                              "\", \"schema_version\": 1, \"config\": {\"chip\": {\"cores\": 16}, "
                              "\"seed\": 9007199254740993, \"apps\": [{\"kind\": \"phold\"}], "
                              "\"duration\": 1000}}\n"));
    bad(args, "config/seed: a number of 2^53 or more");
    /* Schema 1 (before units were in every key) has the same config: it runs;
     * a later one than this fossim's is refused. */
    snprintf(args, sizeof args, "-q --replay %s",
             write_tmp("v1", "{\"version\": \"" FOSSIM_VERSION
                             "\", \"schema_version\": 1, \"config\": {\"chip\": {\"cores\": 16}, "
                             "\"apps\": [{\"kind\": \"phold\"}], \"duration\": 1000}}\n"));
    run_out o1;
    fossim(args, &o1);
    cr_expect_eq(o1.status, 0, "%s: %s", args, o1.err);
    snprintf(args, sizeof args, "--replay %s",
             write_tmp("v3", "{\"version\": \"" FOSSIM_VERSION
                             "\", \"schema_version\": 3, \"config\": {\"chip\": {\"cores\": 16}, "
                             "\"apps\": [{\"kind\": \"phold\"}], \"duration\": 1000}}\n"));
    bad(args, "not a fossim run of schema_version 1 to 2");
    /* Which fossim wrote it: none is refused; another runs, and says so. */
    snprintf(args, sizeof args, "--replay %s",
             write_tmp("nover", "{\"schema_version\": 2, \"config\": {\"chip\": {\"cores\": "
                                "16}, \"apps\": [{\"kind\": \"phold\"}], \"duration\": 1000}}\n"));
    bad(args, "no 'version' string");
    snprintf(args, sizeof args, "-q --replay %s",
             write_tmp("oldver", "{\"version\": \"0.0.1\", \"schema_version\": 2, \"config\": "
                                 "{\"chip\": {\"cores\": 16}, \"apps\": [{\"kind\": "
                                 "\"phold\"}], \"duration\": 1000}}\n"));
    fossim(args, &o1);
    cr_expect_eq(o1.status, 0, "%s: %s", args, o1.err);
    cr_expect_not_null(strstr(o1.err, "written by fossim 0.0.1; this is " FOSSIM_VERSION), "%s",
                       o1.err);
    unlink(a);
    unlink(c);
}

/* A bad command line: exit status 2 and one line that says why. */
static void bad(const char *args, const char *needle)
{
    run_out o;
    fossim(args, &o);
    cr_expect_eq(o.status, 2, "%s: status %d", args, o.status);
    size_t lines = 0;
    for (const char *p = o.err; *p; p++)
        lines += *p == '\n';
    cr_expect_eq(lines, 1, "%s: %zu lines:\n%s", args, lines, o.err);
    cr_expect_not_null(strstr(o.err, needle), "%s: '%s' not in:\n%s", args, needle, o.err);
    cr_expect_str_eq(o.out, "", "%s printed on stdout", args);
}

Test(cli, bad_command_lines_exit_2)
{
    bad("--cores", "requires an argument");
    bad("--cores x", "fossim: --cores x: expected an integer");
    bad("--cores 1", "out of range");
    bad("--bogus", "unrecognized option '--bogus'");
    bad("--engine fast", "unknown engine 'fast'");
    bad("--duration 1parsec", "expected a time");
    bad("--topology hypercube", "unknown topology 'hypercube'");
    bad("--set nonsense", "expected PATH=VALUE");
    bad("--set chip.corse=3", "did you mean 'cores'?");
    bad("a.yaml b.yaml", "unexpected argument 'b.yaml'");
    bad("/nonexistent/w.yaml", "No such file or directory");
    bad("--replay /nonexistent/run.json", "No such file or directory");
    bad("--replay /", "--replay /: Is a directory");
    bad("/dev/zero", "/dev/zero: more than 16 MiB");
    bad("--cores 4", "cores needed but only");
    bad("--replay '" EX "/echo.yaml'", "not JSON");
    bad("--json /nonexistent/dir/run.json", "No such file or directory");
    bad("--set output.json=/nonexistent/dir/run.json",
        "fossim: --set output.json=/nonexistent/dir/run.json: output.json "
        "/nonexistent/dir/run.json: No such file or directory");
    bad("--set 'output.json=\"\"'", "output.json: expected a file name, got an empty string");
    bad("--set 'apps.0.name=\"a\\0b\"' '" EX "/echo.yaml'", "a NUL character in a key or a value");
    /* Options that print what there is take nothing they would leave unread. */
    bad("--print-default --cores 0", "--print-default prints the built-in workload");
    bad("--print-default --list", "--print-default prints the built-in workload");
    bad("--list '" EX "/echo.yaml'", "--list lists what there is");
    bad("--workers 0", "--workers 0: expected a whole number from 1 to 64");
    bad("--workers two", "--workers two: expected a whole number");
    bad("--workers -1", "--workers -1: expected a whole number");
    bad("--workers 65", "--workers 65: expected a whole number from 1 to 64");
    const char *four =
        write_tmp("four", "chip: {cores: 4}\napps: [{kind: pingpong, pairs: 1, operations: 10}]\n");
    char line[256];
    snprintf(line, sizeof line, "--workers 5 %s", four);
    bad(line, "--workers 5: more workers than the chip has cores");
    unlink(four);
    bad("--workers 2 --engine native", "the native engine runs a thread per core");
    bad("--print-default --workers 2", "--print-default prints the built-in workload");
}

/* The JSON outside `host` of `args` (with a workload) on 1 and on n workers,
 * which `host.workers` tells apart; returns the first run's JSON. */
static cJSON *expect_same_on_workers(const char *args, unsigned n)
{
    run_out o;
    char a[64], b[64], line[1024];
    snprintf(a, sizeof a, "/tmp/fossim_cli_wa_%d.json", getpid());
    snprintf(b, sizeof b, "/tmp/fossim_cli_wb_%d.json", getpid());
    snprintf(line, sizeof line, "-q --json %s %s", a, args);
    fossim(line, &o);
    int status = o.status;
    snprintf(line, sizeof line, "-q --workers %u --json %s %s", n, b, args);
    fossim(line, &o);
    cr_expect_eq(o.status, status, "%s on %u workers: status %d, on one %d", args, n, o.status,
                 status);
    cJSON *ja = load_json(a), *jb = load_json(b);
    cr_expect_eq(num(ja, "host.workers"), 1);
    cr_expect_eq(num(jb, "host.workers"), n);
    cJSON_DeleteItemFromObject(ja, "host");
    cJSON_DeleteItemFromObject(jb, "host");
    char *sa = cJSON_Print(ja), *sb = cJSON_Print(jb);
    cr_expect_str_eq(sa, sb, "%s: 1 and %u workers gave different results", args, n);
    free(sa);
    free(sb);
    cJSON_Delete(jb);
    unlink(a);
    unlink(b);
    return ja;
}

/* A core killed while parked in a long computation leaves its place in the
 * calendar behind, far ahead; how many such stale places a run passes depends
 * on the order of wakes, which the workers change. They are not windows: the
 * count of windows, the end (here idle rather than the duration) and where it
 * lies are the same on any number of workers. */
Test(cli, stale_wakes_count_no_windows_on_any_workers)
{
    const char *far =
        write_tmp("far", "chip: {cores: 4}\nduration: 20ms\nwarmup: 0\napps:\n"
                         "  - {kind: phold, cores: 3, placement: [1, 2, 3], mean_delay: 1000000}\n"
                         "faults:\n  - {kill: 1, when: {src: 3, dst: 2, type: any}}\n");
    char args[256];
    snprintf(args, sizeof args, "--seed 9 --duration 508185 %s", far);
    cJSON_Delete(expect_same_on_workers(args, 2));
    /* The killed core's clock had been charged far past its death (a delay
     * of ~1M cycles): that is no time the run reached. */
    run_out o;
    char j[64], line[512];
    snprintf(j, sizeof j, "/tmp/fossim_cli_far_%d.out.json", getpid());
    snprintf(line, sizeof line, "-q --json %s %s", j, args);
    fossim(line, &o);
    cJSON *r = load_json(j);
    double end = num(r, "results.end_cycles");
    cr_expect_leq(end, 508185, "the run ended at %.0f cycles, past its duration", end);
    cJSON_Delete(r);
    unlink(j);
    snprintf(args, sizeof args, "--seed 1 %s", far);
    cJSON_Delete(expect_same_on_workers(args, 3));
    unlink(far);
    const char *many =
        write_tmp("many", "chip: {cores: 16}\nduration: 300us\nwarmup: 0\napps:\n"
                          "  - {kind: phold, cores: all, mean_delay: 5000}\nfaults:\n"
                          "  - {kill: 1, when: {src: 3, dst: 2, type: any}}\n"
                          "  - {kill: 4, when: {src: 5, dst: 6, type: any}}\n"
                          "  - {kill: 7, when: {src: 8, dst: 9, type: any}}\n"
                          "  - {kill: 10, when: {src: 11, dst: 12, type: any}}\n"
                          "  - {kill: 13, when: {src: 14, dst: 15, type: any}}\n"
                          "  - {kill: 15, when: {src: 12, dst: 3, type: any}}\n");
    snprintf(args, sizeof args, "--seed 376 %s", many);
    cJSON_Delete(expect_same_on_workers(args, 2));
    snprintf(args, sizeof args, "--seed 664 %s", many);
    cJSON_Delete(expect_same_on_workers(args, 5));
    unlink(many);
}

/* Several workers run the same simulation: with faults of every kind, a
 * fleet on the KV store, the name service's channel upgrades and clients
 * that end early, the JSON outside `host` is the same on 1 and 3 workers;
 * `host` says how many ran it. */
Test(cli, workers_change_nothing_outside_host)
{
    const char *wl = write_tmp(
        "workers",
        "chip: {cores: 48}\nduration: 150us\nos:\n  name: {members: 2, upgrade_after: 4}\n"
        "  kv: {members: 3}\napps:\n"
        "  - {kind: echo, servers: 3, clients: 12, mechanism: channel, think: 1us}\n"
        "  - {kind: name_lookup, clients: 6}\n"
        "  - {kind: kv, clients: 8, put_percent: 30}\n"
        "  - {kind: pingpong, pairs: 4, operations: 300}\n"
        "faults:\n  - {kill: 20, at: 30us}\n"
        "  - {drop: {src: any, dst: any, type: any, probability: 0.002}}\n"
        "  - {delay: {src: any, dst: any, type: any, probability: 0.05, by: 2us}}\n");
    cJSON *r = expect_same_on_workers(wl, 3);
    cr_expect_gt(num(r, "results.apps.0.operations"), 0);
    cr_expect_gt(num(r, "results.mechanisms.channel.messages"), 0);
    cr_expect_gt(num(r, "results.faults.cores_killed"), 0);
    cJSON_Delete(r);
    unlink(wl);
}

/* A run cut short by its duration leaves page_alloc's clients parked inside
 * an allocation, holding their buffers (fos_app_alloc): fossim frees them.
 * Under the sanitizers (CI's second tree) a leak makes the exit non-zero. */
Test(cli, a_run_cut_short_frees_what_its_clients_hold)
{
    run_out o;
    fossim("-q --duration 30us '" EX "/page_alloc.yaml'", &o);
    cr_expect_eq(o.status, 0, "%s", o.err);
    cr_expect_not_null(strstr(o.out, "page_alloc"), "%s", o.out);
}

/* The rows of app's servers add up to its own: every client asks one server. */
static void expect_servers_add_up(const cJSON *r, int app, int servers)
{
    static const char *const keys[] = {"operations", "operations_measured", "errors", "served",
                                       "latency.count"};
    char p[128];
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        double sum = 0;
        for (int k = 0; k < servers; k++) {
            snprintf(p, sizeof p, "results.apps.%d.servers.%d.%s", app, k, keys[i]);
            sum += num(r, p);
        }
        snprintf(p, sizeof p, "results.apps.%d.%s", app, keys[i]);
        cr_expect_eq(sum, num(r, p), "app %d: the servers' %s add up to %.0f, not %.0f", app,
                     keys[i], sum, num(r, p));
    }
    double tput = 0;
    for (int k = 0; k < servers; k++) {
        snprintf(p, sizeof p, "results.apps.%d.servers.%d.throughput_per_sim_s", app, k);
        tput += num(r, p);
    }
    snprintf(p, sizeof p, "results.apps.%d.throughput_per_sim_s", app);
    double want = num(r, p);
    cr_expect(tput > want * (1 - 1e-9) && tput < want * (1 + 1e-9), "app %d: %.1f vs %.1f", app,
              tput, want);
}

/* Each server's row: its clients' operations and latency, its core's
 * utilisation. Every client asks one server, so the rows add up to the
 * application's, whether the run ends done or at its duration with replies on
 * the way, and with a warmup that splits requests answered before it from
 * replies received after. */
Test(cli, the_servers_figures_add_up_to_their_applications)
{
    run_out o;
    char j[64], args[512];
    snprintf(j, sizeof j, "/tmp/fossim_cli_srv_%d.json", getpid());
    snprintf(args, sizeof args,
             "-q --cores 64 --set warmup=0 "
             "--set 'apps=[{kind: echo, servers: 4, clients: 18, operations: 40, service: 300}]' "
             "--json %s",
             j);
    fossim(args, &o);
    cr_assert_eq(o.status, 0, "%s\n%s", o.out, o.err);
    cr_expect_not_null(strstr(o.out, "ended done"), "%s", o.out);
    cr_expect_not_null(strstr(o.out, "  core "), "no server rows: %s", o.out);
    cJSON *r = load_json(j);
    cr_expect_eq(num(r, "results.apps.0.operations"), 18 * 40);
    expect_servers_add_up(r, 0, 4);
    double lo = num(r, "results.apps.0.latency.min_cycles");
    double hi = num(r, "results.apps.0.latency.max_cycles");
    for (int k = 0; k < 4; k++) {
        char p[96];
        /* Clients 0..17 ask server i % 4: two servers have five, two four. */
        snprintf(p, sizeof p, "results.apps.0.servers.%d.operations", k);
        double mine = num(r, p);
        cr_expect(mine == 5 * 40 || mine == 4 * 40, "server %d: %.0f operations", k, mine);
        snprintf(p, sizeof p, "results.apps.0.servers.%d.latency.min_cycles", k);
        cr_expect_geq(num(r, p), lo, "server %d", k);
        snprintf(p, sizeof p, "results.apps.0.servers.%d.latency.max_cycles", k);
        cr_expect_leq(num(r, p), hi, "server %d", k);
        snprintf(p, sizeof p, "results.apps.0.servers.%d.utilisation", k);
        cr_expect_gt(num(r, p), 0, "server %d", k);
    }
    cJSON_Delete(r);
    snprintf(args, sizeof args,
             "-q --cores 64 --set warmup=2000 --duration 50000 "
             "--set 'apps=[{kind: echo, servers: 2, clients: 4, operations: 40}, "
             "{kind: null_syscall, servers: 2, clients: 4}]' --json %s",
             j);
    fossim(args, &o);
    cr_assert_eq(o.status, 0, "%s\n%s", o.out, o.err);
    r = load_json(j);
    expect_servers_add_up(r, 0, 2);
    expect_servers_add_up(r, 1, 2);
    cJSON_Delete(r);
    unlink(j);
}

/* A fault that kills the only server: the clients time out, see the core is
 * gone and stop; the run ends (no deadlock) and the errors are explained by the
 * fault, so the exit status is 0. */
Test(cli, a_killed_server_ends_the_run_cleanly)
{
    run_out o;
    char path[64], args[256];
    snprintf(path, sizeof path, "/tmp/fossim_cli_k_%d.yaml", getpid());
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("chip: {cores: 16}\napps:\n  - {kind: echo, servers: 1, clients: 4, "
          "server_placement: [3], operations: 100}\nfaults:\n  - {kill: 3, at: 5us}\n",
          f);
    fclose(f);
    snprintf(args, sizeof args, "-q %s", path);
    fossim(args, &o);
    cr_expect_eq(o.status, 0, "%s\n%s", o.out, o.err);
    cr_expect_not_null(strstr(o.out, "ended done"), "%s", o.out);
    cr_expect_not_null(strstr(o.out, "1 cores killed"), "%s", o.out);
    /* The open loop over a channel, whose replies can never come. */
    snprintf(
        args, sizeof args,
        "-q --set apps.0.loop=open --set apps.0.rate=1000000 --set apps.0.mechanism=channel %s",
        path);
    fossim(args, &o);
    cr_expect_eq(o.status, 0, "%s\n%s", o.out, o.err);
    cr_expect_not_null(strstr(o.out, "ended done"), "%s", o.out);
    unlink(path);
    /* A pingpong whose pong core dies: the ping times out, learns the core
     * is gone and stops. */
    const char *pp = write_tmp("pp", "chip: {cores: 4}\napps: [{kind: pingpong, pairs: 1, "
                                     "operations: 1000}]\nfaults: [{kill: 2, at: 1000}]\n");
    snprintf(args, sizeof args, "-q %s", pp);
    fossim(args, &o);
    cr_expect_eq(o.status, 0, "%s\n%s", o.out, o.err);
    cr_expect_not_null(strstr(o.out, "ended done"), "%s", o.out);
    unlink(pp);
}

/* A fault that kills the only client's core: the run is done when it dies,
 * and its figures are over the time it lived, not over nothing. */
Test(cli, a_killed_client_ends_the_run_at_its_death)
{
    run_out o;
    char j[64], args[320];
    snprintf(j, sizeof j, "/tmp/fossim_cli_kc_%d.json", getpid());
    const char *path = write_tmp("kc", "chip: {cores: 16}\napps:\n  - {kind: null_syscall, "
                                       "servers: 1, clients: 1, operations: 1000, "
                                       "server_placement: [5], placement: [6]}\n"
                                       "faults:\n  - {kill: 6, at: 5000}\n");
    snprintf(args, sizeof args, "-q --json %s %s", j, path);
    fossim(args, &o);
    cr_assert_eq(o.status, 0, "%s\n%s", o.out, o.err);
    cJSON *r = load_json(j);
    cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "results"), "end")->valuestring,
                     "done");
    double end = num(r, "results.end_cycles"), ops = num(r, "results.apps.0.operations");
    cr_expect_eq(end, 5000, "ended at %.0f cycles", end);
    cr_expect_gt(ops, 0);
    cr_expect_gt(num(r, "results.apps.0.throughput_per_sim_s"), 0);
    cJSON_Delete(r);
    unlink(j);
    unlink(path);
}

Test(cli, quiet_is_quiet)
{
    run_out o;
    fossim("-q --cores 16 --duration 20us --set warmup=2us", &o);
    cr_expect_eq(o.status, 0);
    cr_expect_str_eq(o.err, "", "stderr with --quiet: %s", o.err);
}

Test(cli, help_and_version)
{
    run_out o;
    fossim("--help", &o);
    cr_expect_eq(o.status, 0);
    cr_expect_not_null(strstr(o.out, "Usage: fossim [options] [workload.yaml]"));
    fossim("--version", &o);
    cr_expect_eq(o.status, 0);
    cr_expect_eq(strncmp(o.out, "fossim ", 7), 0);
}

/* A thousand clients looking their servers up at once: the name service is
 * loaded, never failing (a full queue is asked again). */
Test(cli, a_thousand_clients_start_cleanly)
{
    run_out o;
    fossim("-q --cores 1024 --duration 200us --set warmup=20us '" EX "/echo.yaml'", &o);
    cr_expect_eq(o.status, 0, "%s\n%s", o.out, o.err);
    cr_expect_str_eq(o.err, "");
}

/* The kv fleet's own figures agree with what the clients did: every put they
 * counted is a commit at the member that coordinated it, and applied at every
 * replica. */
Test(cli, kv_counters_agree_with_the_clients)
{
    run_out o;
    char j[64], args[1024];
    snprintf(j, sizeof j, "/tmp/fossim_cli_kv_%d.json", getpid());
    snprintf(args, sizeof args,
             "-q --cores 16 --set 'os.kv={members: 3}' "
             "--set 'apps=[{kind: kv, clients: 4, operations: 50, put_percent: 100, keys: 500}]' "
             "--json %s",
             j);
    fossim(args, &o);
    cr_assert_eq(o.status, 0, "%s\n%s", o.out, o.err);
    cJSON *r = load_json(j);
    double ops = num(r, "results.apps.0.operations");
    cr_expect_eq(ops, 200);
    double commits = 0;
    for (int m = 0; m < 3; m++) {
        char p[96];
        snprintf(p, sizeof p, "results.fleets.0.members.%d.counters.commits", m);
        commits += num(r, p);
        snprintf(p, sizeof p, "results.fleets.0.members.%d.counters.applied", m);
        cr_expect_eq(num(r, p), 200, "member %d applied %.0f", m, num(r, p));
    }
    cr_expect_eq(commits, 200);
    cJSON_Delete(r);
    unlink(j);
}
