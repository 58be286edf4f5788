#include <inttypes.h>
#include <stdio.h>

#include "sim/json.h"

void sim_json_add_u64(cJSON *o, const char *k, uint64_t v)
{
    char b[24];
    snprintf(b, sizeof b, "%" PRIu64, v);
    /* From 2^53 on, a JSON number (a double to most readers) is no longer exact. */
    if (v < (1ull << 53))
        cJSON_AddRawToObject(o, k, b);
    else
        cJSON_AddStringToObject(o, k, b);
}
