/* The built-in pma fleet and page_alloc application kind, for fossim's registry. */
#ifndef FOS_FLEETS_PMA_PMA_FLEET_H
#define FOS_FLEETS_PMA_PMA_FLEET_H

#include "fos/plugin.h"

int fos__pma_register(fossim_registry *r);

#endif
