/* Reading a whole input file (a workload, a run's JSON) into memory. */
#ifndef FOSSIM_SIM_READ_FILE_H
#define FOSSIM_SIM_READ_FILE_H

#include <stddef.h>

/* Bounds that keep an endless stream (a device, a pipe that never ends) or a
 * huge file from eating the host's memory. A workload is a few kilobytes; a
 * run's JSON grows with its applications and fleets (~1 KB each). */
#define SIM_WORKLOAD_MAX_BYTES (16ull << 20)
#define SIM_RUN_JSON_MAX_BYTES (256ull << 20)

/* Reads path into a fresh NUL-terminated buffer (*buf, *len without the NUL).
 * Returns 0; -errno from opening or reading it (-EISDIR for a directory);
 * -EFBIG past max bytes; -ENOMEM. On error *buf is NULL. */
int sim_read_file(const char *path, size_t max, char **buf, size_t *len);

#endif
