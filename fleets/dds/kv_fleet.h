/* The built-in kv fleet and application kind, for fossim's registry. */
#ifndef FOS_FLEETS_DDS_KV_FLEET_H
#define FOS_FLEETS_DDS_KV_FLEET_H

#include "fos/plugin.h"

int fos__kv_register(fossim_registry *r);

#endif
