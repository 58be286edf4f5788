/* Reading a whole input file (a workload, a run's JSON) into memory. */
#ifndef FOSSIM_SIM_READ_FILE_H
#define FOSSIM_SIM_READ_FILE_H

#include <stddef.h>

/* Inputs are a few kilobytes; this bound keeps an endless stream (a device, a
 * pipe that never ends) or a huge file from eating the host's memory. */
#define SIM_INPUT_MAX_BYTES (16u << 20)

/* Reads path into a fresh NUL-terminated buffer (*buf, *len without the NUL).
 * Returns 0; -errno from opening or reading it (-EISDIR for a directory);
 * -EFBIG past SIM_INPUT_MAX_BYTES; -ENOMEM. On error *buf is NULL. */
int sim_read_file(const char *path, char **buf, size_t *len);

#endif
