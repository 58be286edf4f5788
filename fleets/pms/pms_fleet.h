/* The built-in pms fleet and spawn_storm application kind, for fossim's registry. */
#ifndef FOS_FLEETS_PMS_PMS_FLEET_H
#define FOS_FLEETS_PMS_PMS_FLEET_H

#include "fos/plugin.h"

int fos__pms_register(fossim_registry *r);

#endif
