/* Bounds on a YAML document's aliases, checked before they are resolved. */
#ifndef FOSSIM_SIM_YAML_BOUNDS_H
#define FOSSIM_SIM_YAML_BOUNDS_H

#include <libfyaml.h>
#include <stdbool.h>
#include <stdio.h>

/* 0 when doc has no key twice in a mapping, no scalar (key or value) with a
 * NUL in it, no explicit tag (!!float 16 would be read as 16, the tag
 * ignored), and resolving its aliases and merge keys stays within bounds (at
 * most 2^21 nodes, 256 levels, 2^24 alias-by-anchor lookups or key
 * comparisons); *resolve tells whether there is anything to resolve. A key
 * given twice, a NUL or a tag: -EINVAL with *dup the second key, *nul the
 * scalar or *tagged the node, for the caller to place. Past a bound: says why on err ("name:
 * message") and returns -EINVAL. -ENOMEM. */
int yl_bounds_check(struct fy_document *doc, const char *name, FILE *err, bool *resolve,
                    struct fy_node **dup, struct fy_node **nul, struct fy_node **tagged);

#endif
