/* What the harness's report reads of a server besides fos_server_stats. */
#ifndef FOS_RUNTIME_SERVER_PRIV_H
#define FOS_RUNTIME_SERVER_PRIV_H

#include "fos/rpc.h"
#include "sim/hist.h"

/* The server's service times in cycles, one per answer (so its count is
 * `served`), from the dispatcher taking a request to its answer, deferred ones
 * included; valid until the chip is destroyed. */
const sim_hist *fos__server_service(const fos_server *s);

#endif
