/* Fleets: a service as a set of cooperating servers, one per core. A fleet has
 * a name, members numbered from 0, and a coordinator (the lowest-numbered
 * member still present). Members are started on given cores, or join a
 * running fleet (the coordinator hands them its state), leave it, and
 * broadcast to each other. A researcher writes a new fleet against this API
 * and fos/rpc.h alone; see examples/fleets/lockd/.
 *
 * Every member's server is registered in the name service as
 * /sys/<fleet>/<member>. */
#ifndef FOS_FLEET_H
#define FOS_FLEET_H

#include <stdbool.h>

#include "fos/rpc.h"
#include "fos/sim.h"

/* ---- parameters ------------------------------------------------------------ */

/* A parameter a fleet or an application kind takes from the workload: its key,
 * type, default (as the workload would write it) and a one-line description. */
typedef enum fos_param_type {
    FOS_PARAM_INT,
    FOS_PARAM_TIME, /* a duration: the value is in cycles */
    FOS_PARAM_STR,
    FOS_PARAM_SIZE, /* bytes: an integer, or a number with B, KiB, MiB, GiB or TiB */
} fos_param_type;

typedef struct fos_param {
    const char *key;
    fos_param_type type;
    const char *def;
    const char *help;
    uint64_t min, max; /* FOS_PARAM_INT and _SIZE: the range; 0, 0 = any */
    /* FOS_PARAM_STR: the values allowed, NULL-terminated; NULL = any string. */
    const char *const *choices;
    uint64_t unit; /* FOS_PARAM_INT and _SIZE: values are multiples of it; 0 = any */
} fos_param;

/* The values a workload gave, every declared key present (defaults filled in). */
typedef struct fos_params {
    const fos_param *decl; /* NULL-key terminated */
    const uint64_t *u;     /* INT, TIME (cycles) and SIZE (bytes) values, by declaration index */
    const char *const *s;  /* STR values, by declaration index */
    const char *owner;     /* the fleet or application kind they are for: named
                            * when it asks for a key it did not declare */
} fos_params;

/* The value of a declared key; a key that was not declared, one read as the
 * other type (a string's as a number), or p NULL (a fleet joined without
 * parameters), aborts the run with a message naming the key and the fleet or
 * kind that asked (a programming error of the fleet, not of the user). */
uint64_t fos_params_u64(const fos_params *p, const char *key);
const char *fos_params_str(const fos_params *p, const char *key);

/* ---- writing a fleet --------------------------------------------------------- *
 *
 * Members watch each other's cores (fos_core_watch): a member that dies is
 * marked gone everywhere when its kernel's death notice arrives, and the
 * coordinator passes to the next member. */

typedef struct fos_fleet fos_fleet;

/* A figure a fleet reports about a member (commits, lookups, ...). */
typedef struct fos_fleet_counter {
    const char *name; /* static */
    uint64_t value;
} fos_fleet_counter;

#define FOS_FLEET_COUNTERS 12

typedef struct fos_fleet_ops {
    const char *name;        /* the fleet, e.g. "lockd": its names are /sys/lockd/N */
    const char *summary;     /* one line for `fossim --list` */
    const fos_param *params; /* NULL-key terminated; may be NULL */
    size_t state_bytes;      /* per-member state the framework allocates, zeroed */
    uint32_t fibers;         /* requests a member serves at once; 0 = 8 */
    /* On the member's core, once its server exists and before any request:
     * register handlers on fos_fleet_server(f). 0 or a negative errno. */
    int (*init)(fos_fleet *f, void *state);
    /* The coordinator writes its state for a joining member (at most cap bytes,
     * *len set); the joiner reads it in. No yield point may run inside either,
     * so the copy is consistent. NULL: nothing to copy. */
    int (*state_out)(fos_fleet *f, void *state, void *buf, size_t cap, size_t *len);
    int (*state_in)(fos_fleet *f, void *state, const void *buf, size_t len);
    /* Member `m` joined (present) or left, as this member has just learned.
     * Never before init (and a joiner's state_in) has returned 0: a change
     * learnt earlier is told, in order, right after, from the fiber that
     * started the member (a hook that blocks delays its start). core_dead
     * likewise. */
    void (*membership)(fos_fleet *f, void *state, uint32_t m, bool present);
    /* A core died that this member watches with fos_core_watch(core,
     * its server's address): members' cores are watched by the framework (and
     * reported through membership too); a fleet may watch others. */
    void (*core_dead)(fos_fleet *f, void *state, fos_core_id core);
    /* After the run, for the report: up to max of this member's figures.
     * Returns how many. NULL: none. */
    uint32_t (*counters)(fos_fleet *f, void *state, fos_fleet_counter *out, uint32_t max);
} fos_fleet_ops;

/* What a member knows, from a fiber on its core. */
fos_server *fos_fleet_server(fos_fleet *f);
void *fos_fleet_state(fos_fleet *f);
const fos_params *fos_fleet_params(const fos_fleet *f);
uint32_t fos_fleet_self(const fos_fleet *f);
/* The member joined a running fleet: its init may copy state the coordinator's
 * single message cannot carry. */
bool fos_fleet_joined(const fos_fleet *f);
/* Member numbers run 0 .. size-1; some may have left. */
uint32_t fos_fleet_size(const fos_fleet *f);
bool fos_fleet_present(const fos_fleet *f, uint32_t m);
uint32_t fos_fleet_count(const fos_fleet *f); /* members present */
uint32_t fos_fleet_coordinator(const fos_fleet *f);
/* Member m's server. Returns 0 or -ENOENT (no such member, or it left). */
int fos_fleet_member(const fos_fleet *f, uint32_t m, fos_addr *a, fos_cap *cap);

/* Sends m to every other member present, one after another. Returns 0, or the
 * first error (the others are still tried). A yield point. */
int fos_fleet_broadcast(fos_fleet *f, fos_msg *m);

/* Joins the running fleet `ops->name` from the calling core: asks the
 * coordinator, which adds the new member everywhere and hands over its state.
 * A coordinator that is gone or slow is asked again, a while apart (up to
 * eight passes over the members), and one still adding this joiner, or
 * leaving once its joins under way are done, is waited for. Before taking the
 * joiner in itself, the coordinator asks it whether it still waits: a
 * question read after its joiner gave up is taken back. Returns 0, -ENOENT
 * (no such fleet, or no coordinator answered), -ETIMEDOUT (the coordinator
 * never finished adding it), -ESTALE (the join was taken back: say the
 * coordinator's state_out failed with an error the joiner asks again after,
 * or a member already had the number as gone; a number taken back is not
 * given again), or an error of init or state_in. */
int fos_fleet_join(const fos_fleet_ops *ops, const fos_params *p, fos_fleet **out);
/* Leaves, once the joins this member coordinates are done (but for the one
 * whose hook calls this): every other member is told, the name is withdrawn,
 * and the member's server stops taking requests. A yield point. */
int fos_fleet_leave(fos_fleet *f);

/* ---- using a fleet ------------------------------------------------------------ */

/* Members a fleet may have: its member table travels in one message. */
#define FOS_FLEET_MAX 128

/* A client's view of a fleet: its members' servers, from any member. */
typedef struct fos_fleet_view {
    uint32_t size;
    struct {
        fos_addr addr;
        fos_cap cap;
        fos_core_id core;
        bool present;
    } m[FOS_FLEET_MAX];
} fos_fleet_view;

/* Asks a member of fleet `name` for the member table. Returns 0, -ENOENT. */
int fos_fleet_view_get(const char *name, fos_fleet_view *v);
/* The member present nearest the calling core by the chip's topology (the
 * lowest-numbered of equals). Returns its index, -ENOENT, or -EINVAL (a size
 * above FOS_FLEET_MAX). */
int fos_fleet_view_nearest(const fos_fleet_view *v);

/* ---- the harness -------------------------------------------------------------- */

typedef struct sim_fleet sim_fleet;

/* Starts members 0 .. n-1 of a fleet on cores[0..n) at time 0. Returns 0,
 * -EINVAL, -ENOMEM. */
int sim_fleet_start(sim *s, const fos_fleet_ops *ops, const fos_core_id *cores, uint32_t n,
                    const fos_params *p, sim_fleet **out);

struct sim_hist;
typedef struct sim_fleet_member_stats {
    fos_core_id core;
    bool started; /* its server came up */
    uint64_t served, errors;
    /* Its service times (fos__server_service); NULL when its server never came up. */
    const struct sim_hist *service;
    fos_fleet_counter counter[FOS_FLEET_COUNTERS]; /* the fleet's own figures */
    uint32_t ncounters;
} sim_fleet_member_stats;

/* After the run and before sim_destroy: what member m (of the first n) served. */
int sim_fleet_get_member_stats(const sim_fleet *fl, uint32_t m, sim_fleet_member_stats *out);
/* Member m's mailbox, made at boot. Returns 0 or -EINVAL. */
int sim_fleet_member_addr(const sim_fleet *fl, uint32_t m, fos_addr *a, fos_cap *cap);
/* Frees the harness's record; the members themselves go with the chip. */
void sim_fleet_free(sim_fleet *fl);

#endif
