/* The hash the fleets' tables use: of a string's bytes only (FNV-1a), so no
 * table order depends on where anything was allocated. */
#ifndef FOS_FLEETS_HASH_H
#define FOS_FLEETS_HASH_H

#include <stdint.h>

static inline uint64_t fleets_hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

#endif
