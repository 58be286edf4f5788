/* What fossim can run beyond its built-ins: the fleets and application kinds
 * that plugins register, and the plugins themselves. One registry per
 * process, filled before a workload is read. */
#ifndef FOS_SIM_REGISTRY_H
#define FOS_SIM_REGISTRY_H

#include <stdio.h>

#include "fos/plugin.h"

typedef struct sim_reg_fleet {
    const fos_fleet_ops *ops;
    const char *plugin; /* its path */
} sim_reg_fleet;

typedef struct sim_reg_app {
    const fos_app_kind *kind;
    const char *plugin;
    /* A built-in kind whose parameter `param`, when not 0, needs the fleet
     * `fleet` besides needs_fleet (spawn_storm's pages come from pma); NULL:
     * none. The plugin interface has no field to say so. */
    const char *param, *fleet;
} sim_reg_app;

/* Loads a plugin (once per file: a second load of the same file does nothing):
 * dlopen, the API version, fossim_plugin_init and every registration checked.
 * On failure says why on err, naming the plugin, and returns -EINVAL or
 * -ENOMEM. */
int sim_plugin_load(const char *path, FILE *err);

const sim_reg_fleet *sim_registry_fleet(const char *name);
const sim_reg_app *sim_registry_app(const char *name);
/* The plugins loaded, in order: their paths as given, and resolved (absolute,
 * links followed; real may be NULL). */
unsigned sim_registry_plugins(const char *const **paths, const char *const **real);

/* Checks one parameter declaration; NULL if good, else why not. */
const char *sim_param_check(const fos_param *p);

/* `fossim --list`: the built-in application kinds and fleets, then the
 * plugins', each with its parameters and one-line descriptions. */
void sim_registry_list(FILE *f);

#endif
