/* Everything code on a simulated core, and the harness around it, can call. */
#ifndef FOS_FOS_H
#define FOS_FOS_H

#include "fos/types.h"
#include "fos/error.h"
#include "fos/core.h"
#include "fos/fiber.h"
#include "fos/mailbox.h"
#include "fos/channel.h"
#include "fos/name.h"
#include "fos/rand.h"
#include "fos/rpc.h"
#include "fos/topo.h"
#include "fos/sim.h"
#include "fos/fault.h"
#include "fos/fleet.h"
#include "fos/dpool.h"
#include "fos/kv.h"
#include "fos/pma.h"
#include "fos/pms.h"

#endif
