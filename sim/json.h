/* Writing fossim's JSON: integers exactly. */
#ifndef FOS_SIM_JSON_H
#define FOS_SIM_JSON_H

#include <cjson/cJSON.h>
#include <stdint.h>

/* Adds k: v. Up to 2^53 as the digits themselves (cJSON would write a round
 * 10^15 as 1e+15); beyond, as a string, since a JSON number would not keep
 * it (the workload loader reads both). */
void sim_json_add_u64(cJSON *o, const char *k, uint64_t v);

#endif
