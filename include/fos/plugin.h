/* Plugins: fleets and application kinds built as a shared object and loaded
 * with `fossim --plugin path.so` (or `plugins:` in a workload). A plugin
 * exports
 *
 *     const uint32_t fossim_plugin_api = FOSSIM_PLUGIN_API;
 *     int fossim_plugin_init(fossim_registry *r);
 *
 * and registers what it offers from fossim_plugin_init. fossim checks the API
 * version and every registration, and names the plugin in any error; a crash
 * inside a plugin's code is reported with its name and a non-zero exit. A
 * plugin keeps per-core state in the state fossim hands it (a fleet member's
 * state, an application client's context), never in globals shared by cores.
 * examples/fleets/lockd/ is a complete one. */
#ifndef FOS_PLUGIN_H
#define FOS_PLUGIN_H

#include "fos/fleet.h"

/* 2: fos_param grew `choices` and the SIZE type. 3: fos_params grew `owner`.
 * 4: fos_app_alloc. 5: fos_core_patience. 6: fos_deferred and fos_request grew
 * `taken`, fos_param `unit`. */
#define FOSSIM_PLUGIN_API 6

/* ---- application kinds ---------------------------------------------------------- */

/* One client of an application, as its fiber sees it. */
typedef struct fos_app_ctx fos_app_ctx;

typedef struct fos_app_kind {
    const char *name;    /* the workload's `kind` */
    const char *summary; /* one line for `fossim --list` */
    /* Keys of its own in the workload, besides name, kind, clients, placement,
     * operations and think; NULL-key terminated, may be NULL. */
    const fos_param *params;
    /* A fleet the application needs running (its `os:` entry), or NULL. */
    const char *needs_fleet;
    /* Runs one client, in a fiber of its own on the client's core: performs
     * fos_app_operations() operations (0: until the run's duration), timing each
     * with fos_app_record. */
    void (*client)(fos_app_ctx *c);
} fos_app_kind;

const fos_params *fos_app_params(const fos_app_ctx *c);
uint32_t fos_app_index(const fos_app_ctx *c);   /* which client, from 0 */
uint32_t fos_app_clients(const fos_app_ctx *c); /* how many */
uint64_t fos_app_operations(const fos_app_ctx *c);
fos_cycles fos_app_think(const fos_app_ctx *c); /* idle time before each operation */
/* An operation that started at `started` has completed now: counted, and timed
 * once the warmup is over. A start after now is the plugin's bug: it is
 * counted as an error instead, and said once. */
void fos_app_record(fos_app_ctx *c, fos_cycles started);
/* An operation failed. */
void fos_app_error(fos_app_ctx *c);
/* Zeroed memory for this client, aligned for any type, that fossim frees after
 * the run: a run may end while the client waits in an operation, and its
 * fiber is not resumed to free what it holds. NULL when none is left. */
void *fos_app_alloc(fos_app_ctx *c, size_t bytes);

/* ---- registration ----------------------------------------------------------------- */

typedef struct fossim_registry fossim_registry;

/* Registers a fleet or an application kind. The structures must outlive the
 * run (static data of the plugin). Returns 0, or -EINVAL with the reason
 * printed (an empty or taken name, a malformed parameter, a missing callback). */
int fossim_register_fleet(fossim_registry *r, const fos_fleet_ops *ops);
int fossim_register_app(fossim_registry *r, const fos_app_kind *k);

#endif
