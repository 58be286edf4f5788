/* The "host" cost preset: measured on the machine at hand (costs_host.c). */
#ifndef FOS_SIM_COSTS_HOST_H
#define FOS_SIM_COSTS_HOST_H

#include "fos/topo.h"

int sim_costs_host_measure(fos_costs *out);

#endif
