/* Reading a YAML document against a schema: typed getters that print
 * "file:line:col: message" (or the flag that gave the value) and return
 * -EINVAL, key checks with did-you-mean, and command-line overrides applied to
 * the document before it is read. Private to the workload loader. */
#ifndef FOS_SIM_YAML_LOAD_H
#define FOS_SIM_YAML_LOAD_H

#include <libfyaml.h>
#include <stdbool.h>
#include <stdio.h>

#include "sim/workload.h"

#define YL_ORIGINS_MAX 256
#define YL_TIME_MAX (1ull << 62) /* cycles: about 146 years at 1 GHz */

typedef struct yl {
    const char *name; /* the file, for messages */
    FILE *err;
    struct fy_parser *parser;
    struct fy_document *doc;
    sim_workload *w;
    struct {
        struct fy_node *node;
        const sim_override *ov;
    } origin[YL_ORIGINS_MAX];
    size_t norigins;
    unsigned errors;
    bool by_path; /* place messages by the node's path, not by line and column */
} yl;

/* by_path: messages give a value's path in the document, not its line and
 * column (a text the user does not have, such as a reprinted run config). */
int yl_open(yl *l, const char *text, size_t len, const char *name, bool by_path, FILE *err);
void yl_close(yl *l);
/* Sets each PATH (dot-separated keys, numbers index lists) to VALUE (parsed
 * as YAML), creating mappings on the way. */
int yl_apply_overrides(yl *l, const sim_override *ov, size_t nov);

/* Prints a message located at n (or its nearest located neighbour); returns -EINVAL. */
int yl_err(yl *l, struct fy_node *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void yl_pos(yl *l, struct fy_node *n, sim_srcpos *out);

/* The node (or one above it) was set by a flag or --set. */
bool yl_overridden(yl *l, struct fy_node *n);

struct fy_node *yl_get(struct fy_node *map, const char *key);
int yl_index(const char *const *names, const char *s);
/* Every key of map must be one of allowed; what names the mapping. Returns 0 or -EINVAL. */
int yl_check_keys(yl *l, struct fy_node *map, const char *const *allowed, const char *what);

/* Whether n is YAML's "nothing": an empty value, or a plain ~ or null (not
 * the string "~"). */
bool yl_is_null(struct fy_node *n);
const char *yl_scalar(yl *l, struct fy_node *n, const char *expected);
int yl_enum(yl *l, struct fy_node *n, const char *const *names, const char *what);
int yl_u64(yl *l, struct fy_node *n, uint64_t min, uint64_t max, uint64_t *out);
int yl_double(yl *l, struct fy_node *n, double min, double max, double *out);
int yl_bool(yl *l, struct fy_node *n, bool *out);
int yl_duration(yl *l, struct fy_node *n, uint64_t clock_hz, fos_cycles *out);
int yl_size(yl *l, struct fy_node *n, uint64_t min, uint64_t max, uint64_t *out);

/* The rate at which the workload's times become cycles: the chip's clock, or
 * on the native engine the TSC's (its cycles are TSC cycles). */
static inline uint64_t w_clock(const yl *l)
{
    if (l->w->cfg.engine == SIM_ENGINE_NATIVE) return sim_native_cycles_per_s();
    return l->w->cfg.chip.clock_hz ? l->w->cfg.chip.clock_hz : 1000000000ull;
}

#endif
