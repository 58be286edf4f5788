/* Between the fleet framework and its harness side. */
#ifndef FOS_FLEETS_FLEET_PRIV_H
#define FOS_FLEETS_FLEET_PRIV_H

#include "fos/fos.h"

/* What a member started at boot knows from the start: the whole table. */
typedef struct fos__fleet_member_init {
    uint32_t self, size;
    const fos_core_id *cores;
    const fos_addr *addr;
    const fos_cap *cap;
} fos__fleet_member_init;

/* On the member's core: builds the member around mbox and runs ops->init. */
int fos__fleet_member_start(const fos_fleet_ops *ops, const fos_params *p, fos_mbox *mbox,
                            fos_cap cap, const fos__fleet_member_init *init, fos_fleet **out);

#endif
