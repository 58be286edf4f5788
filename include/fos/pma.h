/* The physical memory allocation fleet (PMA): the chip's physical pages,
 * numbered 0 .. memory/FOS_PAGE_BYTES - 1, are the elements of a dPool
 * sharded over the fleet's members (evenly at boot). alloc(n) hands out n
 * pages and touches each, as demand paging does: on the virtual engine that
 * charges page_touch per page; on the native engine the pages are real 4 KiB
 * frames of one large mapping and the member writes to each. free(pages)
 * takes pages back: only pages this member handed out and that are not yet
 * free, so a double free or a forged page number is refused (-EINVAL) and
 * nothing is put into the pool twice.
 *
 * Workload: os: { pma: { members: 4, scheme: push_estimate, memory: 4GiB } }
 * (`fossim --list` gives every parameter). */
#ifndef FOS_PMA_H
#define FOS_PMA_H

#include "fos/dpool.h"

#define FOS_PAGE_BYTES 4096

extern const fos_fleet_ops fos_pma_fleet;

/* A client's way to the fleet: its nearest member. */
typedef struct fos_pma_client {
    fos_addr addr;
    fos_cap cap;
    uint32_t member;
} fos_pma_client;

/* Finds the pma fleet's member nearest the calling core. Returns 0, -ENOENT. */
int fos_pma_open(fos_pma_client *c);
/* n pages (1 .. FOS_DPOOL_BATCH_MAX), all or none. Returns 0, -ENOMEM (no
 * memory left), -EINVAL, a call's error. */
int fos_pma_alloc(const fos_pma_client *c, uint64_t *pages, uint32_t n, fos_cycles timeout);
/* Gives n pages back to the member that handed them out. Returns 0, -EINVAL
 * (a page it did not hand out, or already free: none of them is freed). */
int fos_pma_free(const fos_pma_client *c, const uint64_t *pages, uint32_t n, fos_cycles timeout);

/* Native engine: page's frame, valid while the run lasts; NULL on the
 * virtual engine (whose memory is only simulated) or for a page beyond it. */
void *fos_pma_frame(uint64_t page);

#endif
