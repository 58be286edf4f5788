/* The layout problem of the fos scheduler: every fleet member, server and client
 * on a core of its own, by the placement policy each group asks for. */
#ifndef FOS_SIM_LAYOUT_H
#define FOS_SIM_LAYOUT_H

#include <stdio.h>

#include "sim/workload.h"

/* Places the name fleet, then each application (its servers, then its clients),
 * in the order of the file. Fills the groups' core lists and dir_core. On an
 * impossible layout says where and why on err and returns -EINVAL. */
int sim_layout(sim_workload *w, FILE *err);

#endif
