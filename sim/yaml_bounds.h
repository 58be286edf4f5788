/* Bounds on a YAML document's aliases, checked before they are resolved. */
#ifndef FOSSIM_SIM_YAML_BOUNDS_H
#define FOSSIM_SIM_YAML_BOUNDS_H

#include <libfyaml.h>
#include <stdbool.h>
#include <stdio.h>

/* 0 when doc has no key twice in a mapping, no scalar (key or value) with a
 * NUL in it, and resolving its aliases and merge keys stays within bounds (at
 * most 2^21 nodes, 256 levels, 2^24 alias-by-anchor lookups or key
 * comparisons); *resolve tells whether there is anything to resolve. A key
 * given twice or a NUL: -EINVAL with *dup the second key or *nul the scalar,
 * for the caller to place. Past a bound: says why on err ("name: message")
 * and returns -EINVAL. -ENOMEM. */
int yl_bounds_check(struct fy_document *doc, const char *name, FILE *err, bool *resolve,
                    struct fy_node **dup, struct fy_node **nul);

#endif
