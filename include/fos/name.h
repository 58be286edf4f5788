/* Names: hierarchical strings ("/sys/pma/3") bound to mailboxes. Each core caches
 * lookups; the cache is filled from the directory by messages, and a stale entry
 * is noticed on use and refreshed, as in fos. */
#ifndef FOS_NAME_H
#define FOS_NAME_H

#include "fos/mailbox.h"

/* Longest name, terminating NUL included. */
#define FOS_NAME_MAX 64

/* Binds name to (a, cap) in the directory, replacing an earlier binding. A message
 * to the directory: takes effect there one latency later. Returns 0, -EINVAL (an
 * empty name, or an address on no core of the chip), -ENAMETOOLONG, or the
 * directory's error. A yield point. */
int fos_name_register(const char *name, fos_addr a, fos_cap cap);

/* Removes name from the directory. Returns 0 or -ENOENT. A yield point. */
int fos_name_unregister(const char *name);

/* Resolves name through the calling core's cache, asking the directory on a miss.
 * Returns 0 or -ENOENT. A yield point on a miss. */
int fos_name_lookup(const char *name, fos_addr *a, fos_cap *cap);

/* For the name service: drops name from core's cache, by a message to that
 * core's kernel (a mapping that changed is pushed to the caches holding it).
 * Returns 0, -EINVAL, -ENOMEM. */
int fos_name_push_invalidate(fos_core_id core, const char *name);

/* For the name service, at boot: calls fn for every binding the harness made
 * (sim_dir_register), in an order that depends only on the names. Returns how
 * many. */
int fos__name_boot_each(void (*fn)(void *ctx, const char *name, fos_addr a, fos_cap cap),
                        void *ctx);

/* Drops name from the calling core's cache. */
void fos_name_invalidate(const char *name);

/* fos_send to the mailbox bound to name. A send that fails because the cached
 * binding is stale (-ENOENT, -EPERM, -EHOSTDOWN) drops the entry, asks the
 * directory again and retries once with the fresh binding. */
int fos_send_name(const char *name, const fos_msg *msg);

#endif
