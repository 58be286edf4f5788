/* Faults injected into a run: killing cores at a time or when a message first
 * matches a predicate, and dropping or delaying the messages that match one.
 * Set up from the harness before sim_run; every random choice comes from the
 * sending core's fault stream, so a run with faults is as reproducible as one
 * without. */
#ifndef FOS_FAULT_H
#define FOS_FAULT_H

#include <stdbool.h>

#include "fos/sim.h"

/* Which messages a rule applies to: FOS_CORE_NONE for src or dst means any;
 * any_type ignores type. Judged when the sender's kernel takes the message. */
typedef struct sim_match {
    fos_core_id src;
    fos_core_id dst;
    uint32_t type;
    bool any_type;
} sim_match;

#define SIM_FAULT_RULES_MAX 64

/* Kills `victim` when a message matching m is sent: the first such message from
 * each sender fires the rule (a per-sender "first", which every engine can
 * decide without a global order). The victim dies at once if it is the sender
 * (the message still leaves), else one lookahead later, like any change another
 * core makes; killing a dead core does nothing. Returns 0, -EINVAL, -ENOSPC. */
int sim_fault_kill_on(sim *s, fos_core_id victim, const sim_match *m);

/* Drops each matching message with probability per_million / 10^6: it never
 * arrives. A mailbox sender's fos_send returns -ETIMEDOUT after send_timeout; a
 * channel send returns 0, as a write into a lost cache line would. */
int sim_fault_drop(sim *s, const sim_match *m, uint32_t per_million);

/* Delays each matching message, with probability per_million / 10^6, by extra
 * cycles on top of its latency. On the native engine a channel's consumer polls
 * the ring itself, so there delays apply to mailbox messages only. */
int sim_fault_delay(sim *s, const sim_match *m, uint32_t per_million, fos_cycles extra);

#endif
