/* Progress while a run goes: on a terminal, one line on stderr redrawn in place;
 * otherwise a plain status line every 10 host seconds. */
#ifndef FOS_SIM_PROGRESS_H
#define FOS_SIM_PROGRESS_H

#include <stdio.h>

#include "fos/sim.h"

typedef struct sim_progress_bar sim_progress_bar;

/* Starts reporting on f for a run of `total` simulated cycles (0: unknown) at
 * cycles_per_s. Returns NULL (and reports nothing) if no thread could start. */
sim_progress_bar *sim_progress_start(const sim *s, fos_cycles total, uint64_t cycles_per_s,
                                     FILE *f);
/* Stops, and clears the line it drew. NULL is fine. */
void sim_progress_stop(sim_progress_bar *p);

#endif
