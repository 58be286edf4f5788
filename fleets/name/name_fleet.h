/* The name-service fleet, for the harness that starts it. */
#ifndef FOS_FLEETS_NAME_NAME_FLEET_H
#define FOS_FLEETS_NAME_NAME_FLEET_H

#include "fos/fleet.h"

/* How a lookup of a name with children picks one (DESIGN §8's name policies). */
enum { FOS_NAME_ROUND_ROBIN, FOS_NAME_NEAREST, FOS_NAME_LEAST_LOADED };

extern const fos_fleet_ops fos_name_fleet;

/* The name_lookup application kind, for fossim's registry. */
struct fossim_registry;
int fos__name_register_app(struct fossim_registry *r);

#endif
