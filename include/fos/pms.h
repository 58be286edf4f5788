/* The process management fleet (PMS). spawn takes a PID from a dPool of PIDs
 * sharded over the members, allocates the process's first pages from the PMA
 * fleet, charges the cost table's spawn and starts the process's fiber on the
 * chosen core through the microkernel's spawn call. A process is a program
 * (registered by name before the run) with an argument; when its main
 * returns, its pages go back to the PMA and its status to the member that
 * spawned it. As in Unix, an exited process stays a zombie, holding its PID,
 * until its parent (the core that spawned it) waits for it; a process spawned
 * detached gives its PID back at once when it exits. A member watches the
 * cores of its processes and of their parents: a process whose core dies is
 * killed (its pages go back; its parent's wait gives status -EHOSTDOWN), and a
 * process whose parent's core dies is reaped when it ends.
 *
 * Workload: os: { pms: { members: 2, scheme: bulk, pids: 32768 } }. */
#ifndef FOS_PMS_H
#define FOS_PMS_H

#include "fos/dpool.h"

extern const fos_fleet_ops fos_pms_fleet;

/* What a process's main sees. */
typedef struct fos_proc {
    uint32_t pid;
    uint64_t arg;
    const uint64_t *pages; /* its first pages (PMA page numbers) */
    uint32_t npages;
} fos_proc;

/* A process's main: its return value is its exit status. */
typedef int (*fos_proc_main)(const fos_proc *p);

/* Registers a program, before any chip runs (from the host, or a plugin's
 * init). Returns 0, -EINVAL (a bad name), -EEXIST, -ENOSPC. */
int fos_pms_program(const char *name, fos_proc_main main);

/* A client's way to the fleet: its nearest member. */
typedef struct fos_pms_client {
    fos_addr addr;
    fos_cap cap;
} fos_pms_client;

int fos_pms_open(fos_pms_client *c);

#define FOS_PMS_DETACHED 1u /* nobody will wait: the PID goes back at exit */

/* A spawned process, as its parent knows it. */
typedef struct fos_pms_child {
    uint32_t pid;
    fos_addr at; /* the member that spawned it, which holds its record */
    fos_cap cap;
} fos_pms_child;

/* Starts `program` with arg on core (FOS_CORE_NONE: the caller's) with npages
 * first pages. Returns 0, -ENOENT (no such program), -EINVAL (no such core,
 * too many pages), -EAGAIN (out of PIDs), -ENOMEM (out of pages), -EHOSTDOWN
 * (the core is dead), a call's error. */
int fos_pms_spawn(const fos_pms_client *c, const char *program, uint64_t arg, fos_core_id core,
                  uint32_t npages, uint32_t flags, fos_pms_child *out);
/* Waits until the child has exited, then reaps it: *status is its main's
 * return value. Returns 0, -ECHILD (not a child of the caller, or reaped
 * already), -EBUSY (someone waits for it already), a call's error. */
int fos_pms_wait(const fos_pms_child *c, int *status, fos_cycles timeout);

#endif
