/* The harness: boot a simulated chip, put fibers on its cores, run it, read what
 * happened. Called from the host program, never from a simulated core. */
#ifndef FOS_SIM_H
#define FOS_SIM_H

#include <stdbool.h>
#include <stdio.h>

#include "fos/fiber.h"
#include "fos/mailbox.h"
#include "fos/topo.h"

typedef struct sim sim;

typedef enum sim_engine {
    SIM_ENGINE_VIRTUAL, /* deterministic simulated time on the model (the default) */
    SIM_ENGINE_NATIVE,  /* one pinned host thread per core; real time, measured */
} sim_engine;

/* The largest max_msg_bytes a chip may have: a message travels in one of the
 * kernel's envelopes, the largest of which is 256 KiB with its header. */
#define SIM_MAX_MSG_BYTES (255u * 1024)

typedef struct sim_config {
    sim_engine engine;
    fos_topo_params chip;
    uint64_t seed;               /* default 1 */
    fos_cycles duration;         /* stop at this simulated time; 0 = run until done */
    size_t max_msg_bytes;        /* largest message, header included; default 4096, at
                                  * most SIM_MAX_MSG_BYTES */
    fos_core_id dir_core;        /* the core that hosts the bootstrap directory; default 0 */
    size_t chan_page_bytes;      /* channel page per direction (128 to 1 MiB); default 4096 */
    uint32_t chan_upgrade_after; /* fos_send_name moves a sender-name pair to a channel
                                  * after this many messages; 0 = never (default) */
    /* Test hook: run windows this much shorter than the lookahead allows. Results
     * must not change; 0 = use the full lookahead. */
    fos_cycles window_shrink;
    /* Test hook: run the cores of each window in reverse order. Results must not
     * change: nothing may depend on the order cores run within a window. */
    bool test_reverse_order;
    /* Virtual engine: a fiber that runs this many host seconds while its core's
     * clock stands still (a loop with no runtime call, or with calls that cost
     * no time) is reported, with where it is, and the process exits with status
     * 3 (nothing else can stop it). 0 = never; default 10. */
    unsigned watchdog_s;
    /* Virtual engine: the host threads that run each window's cores, each
     * owning a contiguous block of them. Results do not depend on it (DESIGN
     * §2); 0 or 1 = one, at most SIM_WORKERS_MAX and the number of cores. The
     * native engine runs a thread per core and takes none. */
    uint32_t workers;
} sim_config;

#define SIM_WORKERS_MAX 64

/* Defaults: 256 cores on a mesh, the "tile" costs, 1 GHz, seed 1. */
void sim_config_default(sim_config *c);

/* Boots a chip. Returns 0, -EINVAL (bad configuration), or -ENOMEM. */
int sim_create(const sim_config *c, sim **out);
void sim_destroy(sim *s);

/* Boot-time wiring, before sim_run. */
/* Starts fn(arg) on core at time 0. A daemon fiber (a server) may still be waiting
 * when the run ends; the run ends once every non-daemon fiber has finished. */
int sim_spawn(sim *s, fos_core_id core, fos_fiber_fn fn, void *arg, const char *name, bool daemon);
/* Creates a mailbox on core at boot, its capability drawn from that core's
 * stream as fos_mbox_create's would be. */
int sim_mbox_create(sim *s, fos_core_id core, size_t capacity, fos_mbox **m, fos_addr *a,
                    fos_cap *cap);
/* Fills the bootstrap directory. Returns 0, -EINVAL, -ENOMEM. */
int sim_dir_register(sim *s, const char *name, fos_addr a, fos_cap cap);
/* Hands names to the name fleet: from now on every core's name questions go to
 * these mailboxes (nearest first), and the bootstrap directory is only the
 * fleet's boot image. Returns 0, -EINVAL, -ENOMEM. */
int sim_name_service(sim *s, const fos_addr *a, const fos_cap *cap, uint32_t n);

/* Kills core at simulated time `at`: its fibers stop, sends to it give
 * -EHOSTDOWN, messages queued in it are dropped and counted. */
int sim_kill_core(sim *s, fos_core_id core, fos_cycles at);

/* Why a run ended. */
typedef enum sim_end {
    SIM_END_DONE,     /* every non-daemon fiber finished */
    SIM_END_IDLE,     /* nothing left to do: no events, only daemons waiting */
    SIM_END_DURATION, /* reached the configured duration */
    SIM_END_DEADLOCK, /* non-daemon fibers wait and nothing can wake them */
} sim_end;

/* Runs to the end. Returns 0, or -EDEADLK (a deadlock: sim_report_waits says who
 * waits on what), or -EINVAL (called twice). */
int sim_run(sim *s);

/* Totals for the whole chip. Simulated figures are deterministic; host_ns is not. */
typedef struct sim_stats {
    sim_end end;
    fos_cycles end_cycles;  /* simulated time when the run ended */
    uint64_t events;        /* events delivered */
    uint64_t msgs;          /* mailbox messages accepted */
    uint64_t msg_bytes;     /* their bytes, headers included */
    uint64_t refused_full;  /* sends answered -EAGAIN */
    uint64_t refused_perm;  /* -EPERM */
    uint64_t refused_noent; /* -ENOENT */
    uint64_t dropped_dead;  /* messages lost to dead cores (queued or in flight) */
    uint64_t dropped_fault; /* messages dropped by a fault rule */
    uint64_t delayed_fault; /* messages delayed by a fault rule */
    uint64_t cores_killed;
    uint64_t chan_msgs; /* messages that arrived over channels */
    uint64_t chan_bytes;
    uint64_t chan_full;       /* channel sends answered -EAGAIN */
    uint64_t chan_upgrades;   /* sender-name pairs fos_send_name moved to a channel */
    uint64_t envelope_allocs; /* message envelopes taken from the allocator: bounded,
                               * not per message (they are reused) */
    uint64_t fibers_spawned;
    uint64_t windows;       /* windows executed */
    uint64_t activations;   /* virtual: times a core ran in a window (an engine figure:
                             * it depends on the window length) */
    fos_cycles busy_cycles; /* summed over cores */
    uint64_t event_digest;  /* hash over every delivered event, in order */
    uint64_t host_ns;       /* host time spent in sim_run (not deterministic) */
    bool measured;          /* native engine: a measurement, not reproducible */
    uint64_t cycles_per_s;  /* what a cycle is: the chip clock, or the TSC rate */
    uint32_t host_cpus;     /* native engine: host CPUs the cores ran on */
} sim_stats;

void sim_get_stats(const sim *s, sim_stats *out);

/* While sim_run runs, from another host thread: the simulated time reached and
 * the messages delivered so far. Both lag a little (the virtual engine publishes
 * them every window and every 256 windows); native runs give the time elapsed
 * and no message count (0). For progress reports, never for results. */
void sim_progress(const sim *s, fos_cycles *now, uint64_t *msgs);

/* Per-core figures. */
typedef struct sim_core_stats {
    fos_cycles clock;
    fos_cycles busy_cycles;
    uint64_t events;
    uint64_t msgs_sent, msgs_recv;
    uint64_t bytes_sent;
    bool dead;
} sim_core_stats;

int sim_get_core_stats(const sim *s, fos_core_id core, sim_core_stats *out);

/* Writes, per core, each live fiber and what it waits on (mailbox, send answer,
 * timer, join, name), and each runnable fiber that can never run (its core's
 * clock saturated). Returns the number of fibers it names. */
int sim_report_waits(const sim *s, FILE *f);

/* What a cycle is on the native engine: TSC cycles per second, measured once
 * per process. A workload's times (2ms, 500ns) for a native run convert at
 * this rate. */
uint64_t sim_native_cycles_per_s(void);

const fos_topo *sim_topo(const sim *s);
/* The virtual engine's workers (1 on the native engine, which has a thread per core). */
uint32_t sim_workers(const sim *s);
const char *sim_end_name(sim_end e);

#endif
