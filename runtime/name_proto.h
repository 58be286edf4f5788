/* The name service's protocol: what a core's kernel asks a member of the name
 * fleet, and what the fleet's members serve (fleets/name). */
#ifndef FOS_RUNTIME_NAME_PROTO_H
#define FOS_RUNTIME_NAME_PROTO_H

#include "fos/rpc.h"

#define FOS__NS_NONE(F)
#define FOS__NS_NAME(F) F(str, name)
#define FOS__NS_BINDING(F) F(u32, core) F(u32, id) F(u64, cap)
#define FOS__NS_REGISTER(F) F(str, name) F(u32, core) F(u32, id) F(u64, cap)

FOS_RPC(fos__ns_lookup, 0x6e730001, FOS__NS_NAME, FOS__NS_BINDING)
FOS_RPC(fos__ns_register, 0x6e730002, FOS__NS_REGISTER, FOS__NS_NONE)
FOS_RPC(fos__ns_unregister, 0x6e730003, FOS__NS_NAME, FOS__NS_NONE)

/* How long a kernel waits for a name member before it tries the next, on the
 * virtual engine (fos_core_patience widens it on the native one: a lookup that
 * timed out at a live member on an oversubscribed host failed outright). */
#define FOS__NS_TIMEOUT 2000000ull

#endif
