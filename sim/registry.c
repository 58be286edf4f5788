#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fleets/dds/kv_fleet.h"
#include "fleets/pma/pma_fleet.h"
#include "fleets/pms/pms_fleet.h"
#include "fleets/name/name_fleet.h"
#include "fos/error.h"
#include "sim/registry.h"
#include "sim/workload.h"

/* The oldest plugin API this fossim still runs. 6 made fos_deferred, which a
 * plugin allocates, bigger (fos_rpc_defer would overrun a 5 plugin's), and
 * fos_param, which it declares in arrays. */
#define PLUGIN_API_OLDEST 6

#define REG_MAX 64
#define PLUGINS_MAX 16

struct fossim_registry {
    const char *plugin; /* the plugin registering now */
    FILE *err;
    int bad;
};

static struct {
    sim_reg_fleet fleet[REG_MAX];
    unsigned nfleet;
    sim_reg_app app[REG_MAX];
    unsigned napp;
    char *path[PLUGINS_MAX];
    char *real[PLUGINS_MAX];
    void *handle[PLUGINS_MAX];
    unsigned nplugins;
} reg;

/* Built-in names a plugin may not take. */
static const char *const builtin_apps[] = {"echo", "null_syscall", "pingpong", "phold", NULL};

static int in(const char *const *v, const char *s)
{
    for (; *v; v++)
        if (!strcmp(*v, s)) return 1;
    return 0;
}

static int good_name(const char *s)
{
    if (!s || !*s || strlen(s) >= SIM_NAME_LEN) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) return 0;
    return 1;
}

/* Keys every application has; a plugin's own keys may not reuse them. */
static const char *const common_app_keys[] = {"name",       "kind",  "clients", "placement",
                                              "operations", "think", NULL};
static const char *const common_fleet_keys[] = {"members", "placement", NULL};

const char *sim_param_check(const fos_param *p)
{
    if (!good_name(p->key)) return "a key must be 1 to 31 of a-z, 0-9 and _";
    if (!p->help || !*p->help) return "every parameter needs a one-line help";
    if (!p->def) return "every parameter needs a default";
    if (p->unit && p->type != FOS_PARAM_INT && p->type != FOS_PARAM_SIZE)
        return "a unit applies to integer and size parameters only";
    fos_cycles c;
    char *end;
    switch (p->type) {
    case FOS_PARAM_INT: {
        /* Digits only: strtoull would take " -1" as 2^64 - 1 and saturate what
         * does not fit. */
        errno = 0;
        unsigned long long v = strtoull(p->def, &end, 10);
        if (p->def[0] < '0' || p->def[0] > '9' || *end || errno == ERANGE)
            return "the default is not an integer";
        if ((p->min || p->max) && (v < p->min || v > p->max)) return "the default is out of range";
        if (p->min > p->max && p->max) return "min is above max";
        if (p->unit && v % p->unit) return "the default is not a multiple of its unit";
        return NULL;
    }
    case FOS_PARAM_TIME:
        return sim_parse_duration(p->def, 1000000000ull, &c) == 0 ? NULL
                                                                  : "the default is not a time";
    case FOS_PARAM_SIZE: {
        uint64_t v;
        if (sim_parse_size(p->def, &v) != 0) return "the default is not a size";
        if ((p->min || p->max) && (v < p->min || v > p->max)) return "the default is out of range";
        if (p->unit && v % p->unit) return "the default is not a multiple of its unit";
        return NULL;
    }
    case FOS_PARAM_STR:
        if (!p->choices) return NULL;
        for (unsigned i = 0; p->choices[i]; i++)
            if (!strcmp(p->choices[i], p->def)) return NULL;
        return "the default is not one of its choices";
    }
    return "an unknown parameter type";
}

static int check_params(fossim_registry *r, const char *what, const fos_param *ps,
                        const char *const *reserved)
{
    for (unsigned i = 0; ps && ps[i].key; i++) {
        const char *why = sim_param_check(&ps[i]);
        if (!why && in(reserved, ps[i].key)) why = "the key is one fossim already gives it";
        for (unsigned j = 0; !why && j < i; j++)
            if (!strcmp(ps[j].key, ps[i].key)) why = "the key is declared twice";
        if (why) {
            fprintf(r->err, "fossim: plugin %s: %s, parameter '%s': %s\n", r->plugin, what,
                    ps[i].key ? ps[i].key : "(null)", why);
            return r->bad = -EINVAL;
        }
    }
    return 0;
}

int fossim_register_fleet(fossim_registry *r, const fos_fleet_ops *ops)
{
    /* Not the registry fossim handed the plugin: its init then fails, named. */
    if (!r) return -EINVAL;
    const char *why = NULL;
    if (!ops || !good_name(ops->name))
        why = "a fleet needs a name of 1 to 31 of a-z, 0-9 and _";
    else if (!strcmp(ops->name, "name"))
        why = "'name' is the name service's";
    else if (sim_registry_fleet(ops->name))
        why = "a fleet of that name is already registered";
    else if (!ops->summary || !*ops->summary)
        why = "a fleet needs a one-line summary";
    else if (!ops->init)
        why = "a fleet needs an init";
    else if (!ops->state_out != !ops->state_in)
        why = "state_out and state_in go together";
    else if (ops->fibers > 4096)
        why = "more than 4096 fibers per member";
    else if (reg.nfleet == REG_MAX)
        why = "too many fleets";
    if (why) {
        fprintf(r->err, "fossim: plugin %s: fleet '%s': %s\n", r->plugin,
                ops && ops->name ? ops->name : "(null)", why);
        return r->bad = -EINVAL;
    }
    if (check_params(r, ops->name, ops->params, common_fleet_keys)) return -EINVAL;
    reg.fleet[reg.nfleet++] = (sim_reg_fleet){ops, r->plugin};
    return 0;
}

int fossim_register_app(fossim_registry *r, const fos_app_kind *k)
{
    /* Not the registry fossim handed the plugin: its init then fails, named. */
    if (!r) return -EINVAL;
    const char *why = NULL;
    if (!k || !good_name(k->name))
        why = "an application kind needs a name of 1 to 31 of a-z, 0-9 and _";
    else if (in(builtin_apps, k->name) || sim_registry_app(k->name))
        why = "an application kind of that name exists already";
    else if (!k->summary || !*k->summary)
        why = "an application kind needs a one-line summary";
    else if (!k->client)
        why = "an application kind needs a client function";
    else if (reg.napp == REG_MAX)
        why = "too many application kinds";
    if (why) {
        fprintf(r->err, "fossim: plugin %s: application kind '%s': %s\n", r->plugin,
                k && k->name ? k->name : "(null)", why);
        return r->bad = -EINVAL;
    }
    if (check_params(r, k->name, k->params, common_app_keys)) return -EINVAL;
    reg.app[reg.napp++] = (sim_reg_app){k, r->plugin, NULL, NULL};
    return 0;
}

int sim_plugin_load(const char *path, FILE *err)
{
    char real[PATH_MAX];
    if (!realpath(path, real)) {
        fprintf(err, "fossim: plugin %s: %s\n", path, strerror(errno));
        return -EINVAL;
    }
    /* dlopen of a FIFO or a device waits for it, or reads it for good. */
    struct stat st;
    if (stat(real, &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(err, "fossim: plugin %s: not a regular file (a shared object)\n", path);
        return -EINVAL;
    }
    for (unsigned i = 0; i < reg.nplugins; i++)
        if (!strcmp(reg.real[i], real)) return 0;
    if (reg.nplugins == PLUGINS_MAX) {
        fprintf(err, "fossim: plugin %s: at most %d plugins\n", path, PLUGINS_MAX);
        return -EINVAL;
    }
    void *h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(err, "fossim: plugin %s: cannot load it: %s\n", path, dlerror());
        return -EINVAL;
    }
    const void *api = dlsym(h, "fossim_plugin_api");
    int (*init)(fossim_registry *) = (int (*)(fossim_registry *))dlsym(h, "fossim_plugin_init");
    /* Copied out, not dereferenced: a symbol of that name that is not an
     * aligned uint32_t (a function, say) must not be read as one. */
    uint32_t version = 0;
    if (api) memcpy(&version, api, sizeof version);
    const char *why = !api    ? "it does not export fossim_plugin_api"
                      : !init ? "it does not export fossim_plugin_init"
                      : version < PLUGIN_API_OLDEST || version > FOSSIM_PLUGIN_API
                          ? "it was built for another plugin API"
                          : NULL;
    if (why) {
        if (PLUGIN_API_OLDEST == FOSSIM_PLUGIN_API)
            fprintf(err, "fossim: plugin %s: %s (this fossim speaks API %d)\n", path, why,
                    FOSSIM_PLUGIN_API);
        else
            fprintf(err, "fossim: plugin %s: %s (this fossim speaks APIs %d to %d)\n", path, why,
                    PLUGIN_API_OLDEST, FOSSIM_PLUGIN_API);
        dlclose(h);
        return -EINVAL;
    }
    unsigned i = reg.nplugins;
    reg.path[i] = strdup(path);
    reg.real[i] = strdup(real);
    reg.handle[i] = h;
    if (!reg.path[i] || !reg.real[i]) {
        free(reg.path[i]);
        free(reg.real[i]);
        dlclose(h);
        return -ENOMEM;
    }
    reg.nplugins++;
    unsigned nf = reg.nfleet, na = reg.napp;
    fossim_registry r = {.plugin = reg.path[i], .err = err};
    int rc = init(&r);
    if (rc != 0 && !r.bad)
        fprintf(err, "fossim: plugin %s: fossim_plugin_init failed: %s\n", path, fos_strerror(rc));
    if (rc == 0 && !r.bad && reg.nfleet == nf && reg.napp == na) {
        fprintf(err, "fossim: plugin %s: registered nothing\n", path);
        rc = -EINVAL;
    }
    if (rc != 0 || r.bad) {
        /* Nothing of a plugin that failed stays registered. */
        reg.nfleet = nf;
        reg.napp = na;
        return -EINVAL;
    }
    return 0;
}

/* The built-in fleets and kinds that use the plugin interface, registered
 * the first time anyone looks. */
static int builtins_done;
/* Where a built-in's registration comes from, in messages about it. */
static const char builtin_src[] = "(built-in)";

static void builtins(void)
{

    if (builtins_done) return;
    builtins_done = 1;
    fossim_registry r = {.plugin = builtin_src, .err = stderr};
    /* Our own declarations: a bug if they are refused. */
    if (fos__kv_register(&r) != 0 || fos__name_register_app(&r) != 0 ||
        fos__pma_register(&r) != 0 || fos__pms_register(&r) != 0)
        abort();
    /* A process's first pages come from the pma fleet, which pms asks only
     * when a spawn wants pages: without it every spawn fails, after the
     * member has looked for pma for a while. */
    for (unsigned i = 0; i < reg.napp; i++)
        if (!strcmp(reg.app[i].kind->name, "spawn_storm")) {
            reg.app[i].param = "pages"; /* an integer: workload.c reads it as one */
            reg.app[i].fleet = "pma";
        }
}

const sim_reg_fleet *sim_registry_fleet(const char *name)
{
    builtins();
    for (unsigned i = 0; i < reg.nfleet; i++)
        if (!strcmp(reg.fleet[i].ops->name, name)) return &reg.fleet[i];
    return NULL;
}

const sim_reg_app *sim_registry_app(const char *name)
{
    builtins();
    for (unsigned i = 0; i < reg.napp; i++)
        if (!strcmp(reg.app[i].kind->name, name)) return &reg.app[i];
    return NULL;
}

unsigned sim_registry_plugins(const char *const **paths, const char *const **real)
{
    builtins();
    *paths = (const char *const *)reg.path;
    if (real) *real = (const char *const *)reg.real;
    return reg.nplugins;
}

/* Ends a --list line: a plugin's kind or fleet says which file it came from. */
static void list_source(FILE *f, const char *plugin)
{
    if (plugin == builtin_src)
        fputc('\n', f);
    else
        fprintf(f, " [from %s]\n", plugin);
}

static void list_params(FILE *f, const fos_param *ps)
{
    static const char *const type[] = {"integer", "time", "string", "size"};
    for (unsigned i = 0; ps && ps[i].key; i++) {
        char one_of[256] = "";
        for (unsigned k = 0; ps[i].choices && ps[i].choices[k]; k++) {
            size_t n = strlen(one_of);
            snprintf(one_of + n, sizeof one_of - n, "%s%s", k ? ", " : "one of ", ps[i].choices[k]);
        }
        fprintf(f, "      %-18s %s (%s, default %s)\n", ps[i].key, ps[i].help,
                *one_of ? one_of : type[ps[i].type], ps[i].def);
    }
}

void sim_registry_list(FILE *f)
{
    builtins();
    fprintf(f, "Application kinds:\n");
    fprintf(f, "  %-16s %s\n", "echo", "clients send requests to servers that answer them");
    fprintf(f, "  %-16s %s\n", "null_syscall", "an empty request to a server core and back");
    fprintf(f, "  %-16s %s\n", "pingpong", "pairs of cores bounce a message");
    fprintf(f, "  %-16s %s\n", "phold", "the discrete-event engines' benchmark");
    for (unsigned i = 0; i < reg.napp; i++) {
        fprintf(f, "  %-16s %s", reg.app[i].kind->name, reg.app[i].kind->summary);
        list_source(f, reg.app[i].plugin);
        list_params(f, reg.app[i].kind->params);
    }
    fprintf(f, "Fleets:\n");
    fprintf(f, "  %-16s %s\n", "name",
            "the name service: bindings in a replicated KV store, a fleet's name resolved by a "
            "policy");
    fprintf(f, "      %-18s %s\n", "members", "name servers (integer, default 1)");
    fprintf(f, "      %-18s %s\n", "policy",
            "round_robin, nearest or least_loaded (default round_robin)");
    fprintf(f, "      %-18s %s\n", "upgrade_after",
            "messages to a name before the pair moves to a channel (integer, default 0: never)");
    for (unsigned i = 0; i < reg.nfleet; i++) {
        fprintf(f, "  %-16s %s", reg.fleet[i].ops->name, reg.fleet[i].ops->summary);
        list_source(f, reg.fleet[i].plugin);
        list_params(f, reg.fleet[i].ops->params);
    }
    fprintf(f, "(the README describes every key of the built-ins)\n");
}
