/* fossim: boot a simulated chip, start what a workload names, run, report. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fos/fos.h"
#include "sim/app.h"
#include "fleets/name/name_fleet.h"
#include "sim/crash.h"
#include "sim/progress.h"
#include "sim/registry.h"
#include "sim/read_file.h"
#include "sim/report.h"
#include "sim/workload.h"

static void usage(FILE *f)
{
    fprintf(f, "Usage: fossim [options] [workload.yaml]\n"
               "Boot a simulated fos chip, start the fleets and applications the workload names,\n"
               "run, and report. Without a file the built-in default workload runs\n"
               "(fossim --print-default shows it). Flags override the file.\n"
               "\n"
               "Options:\n"
               "  -c, --cores N          cores of the chip (chip.cores)\n"
               "  -e, --engine NAME      virtual (deterministic simulated time) or native (a\n"
               "                         pinned host thread per core, real time, measured)\n"
               "  -s, --seed S           the run's seed (default 1)\n"
               "  -d, --duration T       stop at this simulated time: cycles, or a number with\n"
               "                         ns, us, ms or s (e.g. 2ms)\n"
               "  -t, --topology NAME    mesh, torus, ring, full or numa (chip.topology)\n"
               "  -k, --costs PRESET     cost table: tile, fos2009 or host (chip.costs)\n"
               "  -j, --json FILE        write the configuration and every figure as JSON\n"
               "  -w, --workers N        virtual engine: host threads that run the simulated\n"
               "                         cores (default 1); results do not depend on it\n"
               "  -S, --set PATH=VALUE   set any field of the workload, e.g.\n"
               "                         --set chip.costs.trap=2000 or --set apps.0.clients=8;\n"
               "                         checked like the file\n"
               "  -q, --quiet            no progress line on stderr\n"
               "  -P, --plugin FILE.so   load fleets and application kinds from a plugin\n"
               "                         (repeatable; or `plugins:` in the workload)\n"
               "  -l, --list             list the application kinds and fleets there are\n"
               "  -p, --print-default    print the built-in default workload as YAML\n"
               "  -r, --replay FILE      run again the configuration saved in a --json FILE\n"
               "  -h, --help             this text\n"
               "  -V, --version          fossim's version\n"
               "\n"
               "Exit status: 0 when the run finished cleanly, 1 when it deadlocked or an\n"
               "application saw errors no fault explains, 2 for a bad command line or workload.\n");
}

#define MAX_OVERRIDES 64

typedef struct cli {
    sim_override ov[MAX_OVERRIDES];
    size_t nov;
    const char *file, *replay, *json;
    uint32_t workers; /* 0: not given */
    bool quiet, print_default, list;
    const char *plugin[16];
    unsigned nplugins;
} cli;

static int add_override(cli *c, const char *flag, const char *path, const char *value)
{
    if (c->nov == MAX_OVERRIDES) {
        fprintf(stderr, "fossim: at most %d overrides\n", MAX_OVERRIDES);
        return -1;
    }
    c->ov[c->nov++] = (sim_override){.flag = flag, .path = (char *)path, .value = (char *)value};
    return 0;
}

static int parse_args(int argc, char **argv, cli *c)
{
    static const struct option opts[] = {{"cores", required_argument, NULL, 'c'},
                                         {"engine", required_argument, NULL, 'e'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"duration", required_argument, NULL, 'd'},
                                         {"topology", required_argument, NULL, 't'},
                                         {"costs", required_argument, NULL, 'k'},
                                         {"json", required_argument, NULL, 'j'},
                                         {"set", required_argument, NULL, 'S'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"print-default", no_argument, NULL, 'p'},
                                         {"replay", required_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"plugin", required_argument, NULL, 'P'},
                                         {"list", no_argument, NULL, 'l'},
                                         {"version", no_argument, NULL, 'V'},
                                         {"workers", required_argument, NULL, 'w'},
                                         {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "c:e:s:d:t:k:j:S:qpr:P:lhVw:", opts, NULL)) != -1) {
        int r = 0;
        switch (o) {
        case 'c':
            r = add_override(c, "--cores", "chip.cores", optarg);
            break;
        case 'e':
            r = add_override(c, "--engine", "engine", optarg);
            break;
        case 's':
            r = add_override(c, "--seed", "seed", optarg);
            break;
        case 'd':
            r = add_override(c, "--duration", "duration", optarg);
            break;
        case 't':
            r = add_override(c, "--topology", "chip.topology", optarg);
            break;
        case 'k':
            r = add_override(c, "--costs", "chip.costs", optarg);
            break;
        case 'S': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                fprintf(stderr, "fossim: --set %s: expected PATH=VALUE (e.g. chip.cores=64)\n",
                        optarg);
                return 2;
            }
            *eq = '\0';
            r = add_override(c, "--set", optarg, eq + 1);
            break;
        }
        case 'j':
            c->json = optarg;
            break;
        case 'w': {
            char *end;
            errno = 0;
            unsigned long n = strtoul(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-' || n == 0 ||
                n > SIM_WORKERS_MAX) {
                fprintf(stderr, "fossim: --workers %s: expected a whole number from 1 to %d\n",
                        optarg, SIM_WORKERS_MAX);
                return 2;
            }
            c->workers = (uint32_t)n;
            break;
        }
        case 'q':
            c->quiet = true;
            break;
        case 'p':
            c->print_default = true;
            break;
        case 'r':
            c->replay = optarg;
            break;
        case 'P':
            if (c->nplugins == 16) {
                fprintf(stderr, "fossim: --plugin: at most 16\n");
                return 2;
            }
            c->plugin[c->nplugins++] = optarg;
            break;
        case 'l':
            c->list = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("fossim %s\n", FOSSIM_VERSION);
            return 0;
        default:
            /* getopt has said what was wrong, on one line: the whole of the
             * message, as for every other bad command line. */
            return 2;
        }
        if (r) return 2;
    }
    if (optind < argc) c->file = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "fossim: unexpected argument '%s' (one workload file at most)\n",
                argv[optind]);
        return 2;
    }
    /* The two that only print what there is would drop the rest unread. */
    bool run_opts = c->nov || c->file || c->replay || c->json || c->workers;
    if (c->print_default && (run_opts || c->list || c->nplugins)) {
        fprintf(stderr, "fossim: --print-default prints the built-in workload: it takes no other "
                        "option or file\n");
        return 2;
    }
    if (c->list && run_opts) {
        fprintf(stderr, "fossim: --list lists what there is (with --plugin, what plugins add): "
                        "it takes no workload, --replay, --json or run option\n");
        return 2;
    }
    if (c->replay && c->file) {
        fprintf(stderr,
                "fossim: --replay runs the configuration in %s: give no workload file "
                "with it\n",
                c->replay);
        return 2;
    }
    return -1; /* go on */
}

/* The line of the first NUL in a JSON text, raw or as the escape \u0000, or 0.
 * The parser's strings are C strings, so one would be cut there and run as
 * something else. */
static int nul_line(const char *s, size_t n)
{
    int line = 1;
    bool in = false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\0') return line;
        if (s[i] == '\n') {
            line++;
        } else if (s[i] == '"') {
            in = !in;
        } else if (in && s[i] == '\\' && i + 1 < n) {
            if (s[i + 1] == 'u' && i + 5 < n && !memcmp(s + i + 2, "0000", 4)) return line;
            i++;
        }
    }
    return 0;
}

/* Numbers as exact text: cJSON prints a double with 15 digits whenever that
 * reads back within its epsilon, which rounds integers of 16 digits. An
 * integer past 2^53 was rounded when it was read (cJSON keeps doubles): it is
 * refused, naming its key (fossim writes those as strings). 0, or -ERANGE
 * (said), or -ENOMEM. */
static int exact_numbers(cJSON *o, const char *path)
{
    for (cJSON *x = o ? o->child : NULL; x; x = x->next) {
        if (cJSON_IsNumber(x)) {
            char b[64];
            double d = x->valuedouble;
            /* Every double this large is an integer, or infinite. */
            if (d >= 9007199254740992.0 || d <= -9007199254740992.0) {
                fprintf(stderr,
                        "fossim: --replay %s: config%s%s: a number of 2^53 or more (read as "
                        "%.17g), which JSON does not hold exactly; write it as a string "
                        "(\"...\")\n",
                        path, x->string ? "/" : "", x->string ? x->string : "", d);
                return -ERANGE;
            }
            if (d > -9e18 && d < 9e18 && d == (double)(int64_t)d)
                snprintf(b, sizeof b, "%" PRId64, (int64_t)d);
            else
                snprintf(b, sizeof b, "%.17g", d);
            cJSON *raw = cJSON_CreateRaw(b);
            if (!raw) return -ENOMEM;
            raw->string = x->string; /* the key moves over with its string */
            x->string = NULL;
            cJSON_ReplaceItemViaPointer(o, x, raw);
            x = raw;
        } else {
            int r = exact_numbers(x, path);
            if (r) return r;
        }
    }
    return 0;
}

/* The plugins a run loaded, from its JSON's `host` (their paths are the
 * host's, not the configuration's). One that cannot be loaded here is said,
 * not fatal: --plugin may give it from another path, and a kind or fleet that
 * nothing registered is refused where the configuration names it. 0 or
 * -EINVAL for a `plugins` that is not a list of paths. */
static int replay_plugins(const cJSON *host, const char *path)
{
    const cJSON *pl =
        cJSON_IsObject(host) ? cJSON_GetObjectItemCaseSensitive(host, "plugins") : NULL;
    if (!pl) return 0;
    if (!cJSON_IsArray(pl)) {
        fprintf(stderr, "fossim: --replay %s: host/plugins: expected a list of paths\n", path);
        return -EINVAL;
    }
    int i = 0;
    for (const cJSON *p = pl->child; p; p = p->next, i++) {
        if (!cJSON_IsString(p)) {
            fprintf(stderr, "fossim: --replay %s: host/plugins/%d: expected a path\n", path, i);
            return -EINVAL;
        }
        /* The loader says what went wrong; this line says where it was asked for. */
        if (sim_plugin_load(p->valuestring, stderr) != 0)
            fprintf(stderr,
                    "fossim: --replay %s: host/plugins/%d: warning: plugin '%s' not loaded (see "
                    "above); give what the run needs with --plugin\n",
                    path, i, p->valuestring);
    }
    return 0;
}

/* The `config` of a run's JSON, as text the workload loader reads (JSON is YAML). */
static char *replay_config(const char *path)
{
    char *buf;
    size_t n;
    int r = sim_read_file(path, SIM_RUN_JSON_MAX_BYTES, &buf, &n);
    if (r == -EFBIG) {
        fprintf(stderr, "fossim: --replay %s: more than %llu MiB; not a run's JSON\n", path,
                SIM_RUN_JSON_MAX_BYTES >> 20);
        return NULL;
    }
    if (r != 0) {
        fprintf(stderr, "fossim: --replay %s: %s\n", path, strerror(-r));
        return NULL;
    }
    int nul = nul_line(buf, n);
    if (nul) {
        fprintf(stderr, "fossim: --replay %s:%d: a NUL character, which no value may hold\n", path,
                nul);
        free(buf);
        return NULL;
    }
    /* One document and nothing after it, as the YAML loader requires of a file. */
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(buf, n + 1, &end, true); /* with its NUL */
    /* Where the parse stopped, as a line number: the text itself may be
     * anything (and goes with buf). */
    int line = 1;
    if (!doc && end)
        for (const char *p = buf; p < end && *p; p++)
            line += *p == '\n';
    /* One whole document, then more: said as such, not as "not JSON". */
    cJSON *first = doc ? NULL : cJSON_ParseWithLengthOpts(buf, n + 1, NULL, false);
    bool trailing = first != NULL;
    cJSON_Delete(first);
    free(buf);
    cJSON *cfg = doc ? cJSON_GetObjectItemCaseSensitive(doc, "config") : NULL;
    cJSON *sv = doc ? cJSON_GetObjectItemCaseSensitive(doc, "schema_version") : NULL;
    cJSON *ver = doc ? cJSON_GetObjectItemCaseSensitive(doc, "version") : NULL;
    char *text = NULL;
    if (!doc && trailing)
        fprintf(stderr, "fossim: --replay %s:%d: something after the JSON document\n", path, line);
    else if (!doc)
        fprintf(stderr, "fossim: --replay %s:%d: not JSON (expected the --json output of a run)\n",
                path, line);
    else if (!cJSON_IsNumber(sv) || (sv->valuedouble != 1 && sv->valuedouble != SIM_REPORT_SCHEMA))
        fprintf(stderr, "fossim: --replay %s: not a fossim run of schema_version 1 to %d\n", path,
                SIM_REPORT_SCHEMA);
    else if (!cJSON_IsString(ver))
        fprintf(stderr, "fossim: --replay %s: no 'version' string (which fossim wrote it)\n", path);
    else if (!cJSON_IsObject(cfg))
        fprintf(stderr, "fossim: --replay %s: no 'config' object\n", path);
    else if (exact_numbers(cfg, path) == 0 &&
             replay_plugins(cJSON_GetObjectItemCaseSensitive(doc, "host"), path) == 0)
        text = cJSON_PrintUnformatted(cfg);
    /* Results are the same only for the same version (DESIGN §2): another
     * one runs, and says so. */
    if (text && strcmp(ver->valuestring, FOSSIM_VERSION) != 0)
        fprintf(stderr,
                "fossim: warning: --replay %s was written by fossim %.64s; this is %s: its "
                "results may differ\n",
                path, ver->valuestring, FOSSIM_VERSION);
    cJSON_Delete(doc);
    return text;
}

/* A run that never ran leaves no empty JSON behind. */
static void drop_json(FILE *f, const char *path)
{
    if (!f) return;
    fclose(f);
    unlink(path);
}

/* The name fleet on the cores the layout gave it; its members' mailboxes become
 * what every core's kernel asks. */
static int start_name_service(sim *s, const sim_workload *w, const fos_params *p, sim_fleet **out)
{
    const sim_fleet_spec *nf = &w->name_fleet;
    int r = sim_fleet_start(s, &fos_name_fleet, nf->cores, nf->members, p, out);
    fos_addr a[FOS_FLEET_MAX];
    fos_cap c[FOS_FLEET_MAX];
    for (uint32_t i = 0; r == 0 && i < nf->members; i++)
        r = sim_fleet_member_addr(*out, i, &a[i], &c[i]);
    if (r == 0) r = sim_name_service(s, a, c, nf->members);
    if (r != 0) fprintf(stderr, "fossim: cannot start the name service: %s\n", fos_strerror(r));
    return r;
}

static bool any_fault_rules(const sim_workload *w)
{
    return w->nfaults > 0;
}

static int install_faults(sim *s, const sim_workload *w)
{
    for (uint32_t i = 0; i < w->nfaults; i++) {
        const sim_fault_spec *f = &w->faults[i];
        int r = 0;
        switch (f->kind) {
        case SIM_FAULT_KILL_AT:
            r = sim_kill_core(s, f->core, f->at);
            break;
        case SIM_FAULT_KILL_ON:
            r = sim_fault_kill_on(s, f->core, &f->match);
            break;
        case SIM_FAULT_DROP:
            r = sim_fault_drop(s, &f->match, f->per_million);
            break;
        case SIM_FAULT_DELAY:
            r = sim_fault_delay(s, &f->match, f->per_million, f->by);
            break;
        }
        if (r != 0) {
            fprintf(stderr, "%s: cannot install this fault: %s\n", f->pos.where, fos_strerror(r));
            return r;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    cli c = {0};
    argv[0] = (char *)"fossim"; /* getopt names the program in its messages */
    sim_crash_report_install();
    int rc = parse_args(argc, argv, &c);
    if (rc >= 0) return rc;
    if (c.print_default) {
        fputs(sim_default_workload, stdout);
        return 0;
    }
    for (unsigned i = 0; i < c.nplugins; i++)
        if (sim_plugin_load(c.plugin[i], stderr) != 0) return 2;
    if (c.list) {
        sim_registry_list(stdout);
        return 0;
    }

    sim_workload w;
    int r;
    if (c.replay) {
        char *text = replay_config(c.replay);
        if (!text) return 2;
        char name[512];
        snprintf(name, sizeof name, "%s (config)", c.replay);
        r = sim_workload_load_config(text, strlen(text), name, c.ov, c.nov, stderr, &w);
        free(text);
    } else if (c.file) {
        r = sim_workload_load_file(c.file, c.ov, c.nov, stderr, &w);
    } else {
        r = sim_workload_load(sim_default_workload, strlen(sim_default_workload),
                              "(built-in default)", c.ov, c.nov, stderr, &w);
    }
    if (r == -ENOMEM) {
        fprintf(stderr, "fossim: out of memory loading the workload\n");
        return 1;
    }
    if (r != 0) return 2;
    if (c.json) {
        free(w.json_path);
        w.json_path = strdup(c.json);
    }
    if (c.quiet) w.quiet = true;
    /* How many threads run it is the host's business, not the workload's:
     * it goes under `host` in the JSON, and --replay does not carry it. */
    if (c.workers) {
        const char *why = w.cfg.engine == SIM_ENGINE_NATIVE
                              ? "the native engine runs a thread per core and takes no workers"
                          : c.workers > w.cfg.chip.cores ? "more workers than the chip has cores"
                                                         : NULL;
        if (why) {
            fprintf(stderr, "fossim: --workers %u: %s\n", c.workers, why);
            sim_workload_free(&w);
            return 2;
        }
        w.cfg.workers = c.workers;
    }

    /* A path that cannot be written fails now, not after the run. */
    FILE *json = NULL;
    if (w.json_path && !(json = fopen(w.json_path, "w"))) {
        /* Said as the user gave it: the flag, or the workload's output.json. */
        if (c.json)
            fprintf(stderr, "fossim: --json %s: %s\n", w.json_path, strerror(errno));
        else
            fprintf(stderr, "%s: output.json %s: %s\n", w.json_pos.where, w.json_path,
                    strerror(errno));
        sim_workload_free(&w);
        return 2;
    }

    sim *s;
    r = sim_create(&w.cfg, &s);
    if (r != 0) {
        fprintf(stderr, "fossim: cannot boot the chip: %s\n", fos_strerror(r));
        drop_json(json, w.json_path);
        sim_workload_free(&w);
        return r == -EINVAL ? 2 : 1;
    }
    sim_app **apps = calloc(w.napps, sizeof(*apps));
    sim_fleet **fleets = calloc(w.nfleets + 1, sizeof(*fleets));
    r = apps && fleets ? install_faults(s, &w) : -ENOMEM;
    /* The name service first: everything else is found through it. */
    sim_fleet *names = NULL;
    uint64_t policy = (uint64_t)w.name_fleet.policy;
    fos_params name_params = {fos_name_fleet.params, &policy, NULL, fos_name_fleet.name};
    if (r == 0) r = start_name_service(s, &w, &name_params, &names);
    for (uint32_t i = 0; i < w.nfleets && r == 0; i++) {
        sim_plugin_fleet *pf = &w.fleets[i];
        r = sim_fleet_start(s, pf->ops, pf->cores, pf->members, &pf->params.p, &fleets[i]);
        if (r != 0)
            fprintf(stderr, "%s: cannot start the %s fleet: %s\n", pf->pos.where, pf->ops->name,
                    fos_strerror(r));
    }
    for (uint32_t i = 0; i < w.napps && r == 0; i++) {
        r = sim_app_start(s, &w, &w.apps[i], &apps[i]);
        if (r != 0)
            fprintf(stderr, "%s: cannot start %s: %s%s\n", w.apps[i].pos.where, w.apps[i].name,
                    fos_strerror(r),
                    r == -ENOMEM ? " (each fiber's stack is two memory mappings, and Linux's "
                                   "vm.max_map_count limits a process to about 32,000 fibers)"
                                 : "");
    }
    int exit_code = 1;
    if (r != 0) drop_json(json, w.json_path);
    if (r == 0) {
        sim_stats st;
        sim_get_stats(s, &st);
        sim_progress_bar *bar =
            w.quiet ? NULL : sim_progress_start(s, w.cfg.duration, st.cycles_per_s, stderr);
        int rr = sim_run(s);
        sim_progress_stop(bar);
        if (rr == -EAGAIN) {
            /* Nothing ran: no report of a run that never was. */
            fprintf(stderr, "fossim: cannot start the engine's %u worker threads: %s\n",
                    sim_workers(s), strerror(EAGAIN));
            drop_json(json, w.json_path);
            goto done;
        }
        sim_get_stats(s, &st);
        sim_report_in in = {.w = &w,
                            .s = s,
                            .st = &st,
                            .apps = apps,
                            .fleets = fleets,
                            .names = names,
                            .version = FOSSIM_VERSION,
                            .json_path = w.json_path,
                            .json = json,
                            .host_cpus = st.host_cpus ? st.host_cpus
                                                      : (uint32_t)sysconf(_SC_NPROCESSORS_ONLN)};
        int rep = sim_report(&in, stdout, stderr);
        uint64_t errors = 0;
        for (uint32_t i = 0; i < w.napps; i++) {
            sim_app_result ar;
            if (sim_app_results(apps[i], &ar) == 0) errors += ar.errors;
            sim_app_result_fini(&ar);
        }
        if (rr == -EDEADLK) {
            fprintf(stderr, "fossim: deadlock: every fiber waits and nothing can wake one:\n");
            sim_report_waits(s, stderr);
        } else if (errors && !any_fault_rules(&w)) {
            fprintf(stderr, "fossim: %" PRIu64 " operations failed with no fault to explain them\n",
                    errors);
        }
        exit_code = rep == 0 && rr == 0 && (errors == 0 || any_fault_rules(&w)) ? 0 : 1;
    }
done:
    sim_destroy(s);
    for (uint32_t i = 0; apps && i < w.napps; i++)
        sim_app_free(apps[i]);
    free(apps);
    for (uint32_t i = 0; fleets && i < w.nfleets; i++)
        sim_fleet_free(fleets[i]);
    free(fleets);
    sim_fleet_free(names);
    sim_workload_free(&w);
    return exit_code;
}
