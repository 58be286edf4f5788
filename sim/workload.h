/* A workload: everything one run of fossim needs, loaded from YAML (a file, the
 * built-in default, or the `config` of a run's JSON), overridden by flags and
 * --set, validated and laid out on the chip before anything runs. */
#ifndef FOS_SIM_WORKLOAD_H
#define FOS_SIM_WORKLOAD_H

#include <stdbool.h>
#include <stdio.h>

#include "fos/fault.h"
#include "fos/plugin.h"
#include "fos/sim.h"

#define SIM_NAME_LEN 32
#define SIM_OPS_MAX 4

/* Where a value came from, for errors found after loading (placement). */
typedef struct sim_srcpos {
    char where[128]; /* "file:line:col" or "--set chip.cores" */
} sim_srcpos;

typedef enum sim_place_kind {
    SIM_PLACE_SPREAD,  /* evenly over the cores still free */
    SIM_PLACE_COMPACT, /* the lowest-numbered free cores */
    SIM_PLACE_NEAR,    /* each on the free core nearest a member of another group */
    SIM_PLACE_CORES,   /* an explicit list */
} sim_place_kind;

typedef struct sim_placement {
    sim_place_kind kind;
    char near[SIM_NAME_LEN]; /* SIM_PLACE_NEAR: a fleet or application name */
    uint32_t *cores;         /* SIM_PLACE_CORES */
    uint32_t ncores;
    sim_srcpos pos;
} sim_placement;

typedef enum sim_app_kind {
    SIM_APP_ECHO,         /* clients send requests, servers answer them */
    SIM_APP_NULL_SYSCALL, /* an empty request to a server core and back */
    SIM_APP_PINGPONG,     /* pairs of cores bounce a message */
    SIM_APP_PHOLD,        /* the discrete-event engines' benchmark */
    SIM_APP_PLUGIN,       /* a kind a plugin registered */
} sim_app_kind;

/* A plugin's parameter values, every declared key filled in. */
typedef struct sim_pvals {
    uint64_t *u;
    char **s;
    fos_params p;
} sim_pvals;

typedef enum sim_mech { SIM_MECH_MAILBOX, SIM_MECH_CHANNEL } sim_mech;
typedef enum sim_choice { SIM_CHOICE_ROUND_ROBIN, SIM_CHOICE_NEAREST } sim_choice;

typedef struct sim_app_spec {
    char name[SIM_NAME_LEN];
    sim_app_kind kind;
    uint32_t instances; /* clients; pingpong: pairs; phold: cores */
    uint32_t servers;   /* echo, null_syscall */
    bool instances_all; /* "all": every core still free when it is placed */
    sim_placement place, server_place;
    sim_mech mechanism;
    sim_choice server_choice;
    bool open_loop;
    uint64_t rate_per_sim_s;    /* open loop: requests per simulated second, per client */
    fos_cycles think;           /* closed loop: idle time before each request */
    uint64_t operations;        /* per client (pingpong: round trips per pair); 0 = until
                                 * the run's duration */
    uint32_t request_bytes;     /* echo: payload of a request */
    fos_cycles service;         /* echo: cycles a server computes per request */
    uint32_t mix[SIM_OPS_MAX];  /* weights of the kind's operations */
    fos_cycles mean_delay;      /* phold */
    uint32_t population;        /* phold: messages each core starts with */
    const fos_app_kind *plugin; /* SIM_APP_PLUGIN */
    sim_pvals params;
    sim_srcpos pos;
    /* Filled by layout. */
    uint32_t *server_cores, *client_cores;
} sim_app_spec;

/* The operations of an application kind, NULL-terminated: the keys of `mix`. */
const char *const *sim_app_ops(sim_app_kind k);
const char *sim_app_kind_name(sim_app_kind k);
/* The kind as the workload names it (a plugin's kind by its own name). */
const char *sim_app_spec_kind(const sim_app_spec *a);

typedef struct sim_fleet_spec {
    bool enabled;
    uint32_t members;
    sim_placement place;
    uint32_t upgrade_after; /* name: channel after this many messages to a name */
    int policy;             /* name: how a fleet's name picks a member (FOS_NAME_*) */
    uint32_t *cores;        /* filled by layout */
    sim_srcpos pos;
} sim_fleet_spec;

/* A fleet a plugin registered, as the workload's `os:` runs it. */
typedef struct sim_plugin_fleet {
    const fos_fleet_ops *ops;
    uint32_t members;
    sim_placement place;
    sim_pvals params;
    uint32_t *cores; /* filled by layout */
    sim_srcpos pos;
} sim_plugin_fleet;

typedef enum sim_fault_kind {
    SIM_FAULT_KILL_AT, /* kill `core` at `at` */
    SIM_FAULT_KILL_ON, /* kill `core` when a message matches */
    SIM_FAULT_DROP,
    SIM_FAULT_DELAY,
} sim_fault_kind;

typedef struct sim_fault_spec {
    sim_fault_kind kind;
    fos_core_id core;
    fos_cycles at, by;
    sim_match match;
    uint32_t per_million;
    sim_srcpos pos;
} sim_fault_spec;

typedef struct sim_workload {
    sim_config cfg;        /* engine, chip, seed, duration, message sizes */
    char costs_preset[16]; /* the table the costs started from */
    fos_cycles warmup;
    sim_fleet_spec name_fleet;
    sim_plugin_fleet *fleets; /* in the order of the file */
    uint32_t nfleets;
    sim_app_spec *apps;
    uint32_t napps;
    sim_fault_spec *faults;
    uint32_t nfaults;
    char *json_path;     /* output.json, or NULL */
    sim_srcpos json_pos; /* where output.json was given, for a message about it */
    bool quiet;
    char *source; /* the file it came from, or "(built-in default)" */
} sim_workload;

/* An override from the command line: PATH=VALUE, with the flag that gave it
 * ("--set" or "--cores", ...) for messages. */
typedef struct sim_override {
    const char *flag;
    char *path;
    char *value;
} sim_override;

/* The built-in default workload, as YAML text (examples/default.yaml). */
extern const char sim_default_workload[];

/* Loads YAML text (name is used in messages), applies the overrides in order,
 * validates everything and lays the workload out on the chip. On any error
 * prints "name:line:col: message" (or "fossim: --flag: message") on err and
 * returns -EINVAL; -ENOMEM when memory runs out. */
int sim_workload_load(const char *text, size_t len, const char *name, const sim_override *ov,
                      size_t nov, FILE *err, sim_workload *w);
/* The same for a run's `config` as JSON text (--replay): its text is not the
 * file the user has, so messages place a value by its path in the config
 * ("name /apps/0/operations: message"), not by line and column. */
int sim_workload_load_config(const char *json, size_t len, const char *name, const sim_override *ov,
                             size_t nov, FILE *err, sim_workload *w);
/* Reads a file (at most SIM_WORKLOAD_MAX_BYTES) and loads it. Returns as
 * sim_workload_load; a file that cannot be read is said on err, -EINVAL. */
int sim_workload_load_file(const char *path, const sim_override *ov, size_t nov, FILE *err,
                           sim_workload *w);
void sim_workload_free(sim_workload *w);

/* The workload's resolved configuration as JSON (cJSON *, opaque here so that
 * this header does not need cJSON): loadable again by sim_workload_load. */
void *sim_workload_to_json(const sim_workload *w);

/* Parses a duration: an integer (cycles) or a number with a unit: cycles, ns,
 * us, ms, s; times are converted at clock_hz, rounded to the nearest cycle.
 * Returns 0, -EINVAL, or -ERANGE for a time above 0 that rounds to 0 cycles. */
int sim_parse_duration(const char *s, uint64_t clock_hz, fos_cycles *out);
/* Parses a size: an integer (bytes) or a number with B, KiB, MiB, GiB or TiB
 * that comes to whole bytes. Returns 0 or -EINVAL. */
int sim_parse_size(const char *s, uint64_t *out);
/* Whether s starts as a plain decimal number does (a digit, or a point and a
 * digit) and holds no hexadecimal: strtod and strtoull also take leading
 * spaces, a sign (" -1" wraps to 2^64 - 1) and hexadecimal floats (0x1.Ep3). */
bool sim_decimal_text(const char *s);

#endif
