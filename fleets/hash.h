/* The hash the fleets' tables use: of a string's bytes only (FNV-1a), so no
 * table order depends on where anything was allocated. */
#ifndef FOS_FLEETS_HASH_H
#define FOS_FLEETS_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t fleets_hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static inline uint64_t fleets_hash_str(const char *s)
{
    return fleets_hash_bytes(s, strlen(s));
}

#endif
