#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sim/yaml_bounds.h"
#include "sim/yaml_load.h"

static bool first_error(struct fy_diag *diag, const char *name, FILE *err)
{
    void *it = NULL;
    struct fy_diag_error *e = fy_diag_errors_iterate(diag, &it);
    if (e) fprintf(err, "%s:%d:%d: %s\n", name, e->line, e->column, e->msg);
    return e != NULL;
}

static const struct fy_mark *node_mark(struct fy_node *n);

/* The parser's diagnostics are collected, never printed: they come out in our
 * format, or not at all. */
static struct fy_diag *collecting_diag(void)
{
    struct fy_diag_cfg dc;
    fy_diag_cfg_default(&dc);
    dc.fp = NULL;
    dc.colorize = false;
    struct fy_diag *diag = fy_diag_create(&dc);
    if (diag) fy_diag_set_collect_errors(diag, true);
    return diag;
}

/* No document, and nothing the parser said: the text is empty, or its first
 * line that is not blank or a comment is a directive the parser took in
 * silence (%YAML 2.0, say). */
static void empty(const char *text, size_t len, const char *name, FILE *err)
{
    int line = 1;
    for (size_t i = 0; i < len;) {
        size_t e = i;
        while (e < len && text[e] != '\n')
            e++;
        size_t j = i;
        while (j < e && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r'))
            j++;
        if (j < e && text[j] == '%') {
            fprintf(err,
                    "%s:%d:%zu: a directive this reader does not take: a workload is YAML 1.1 or "
                    "1.2\n",
                    name, line, j - i + 1);
            return;
        }
        if (j < e && text[j] != '#') break;
        i = e + 1;
        line++;
    }
    fprintf(err, "%s: the workload is empty\n", name);
}

#define PARSE_FLAGS (FYPCF_QUIET | FYPCF_COLLECT_DIAG | FYPCF_ALLOW_DUPLICATE_KEYS)

int yl_open(yl *l, const char *text, size_t len, const char *name, bool by_path, FILE *err)
{
    memset(l, 0, sizeof(*l));
    l->name = name;
    l->by_path = by_path;
    l->err = err;
    /* The parser stops at a NUL as at the end of the text: what follows one
     * would be dropped without a word (a key, half a number). */
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        int line = 1, col = 1;
        for (const char *p = text; p < nul; p++) {
            if (*p == '\n')
                line++, col = 1;
            else if (((unsigned char)*p & 0xc0) != 0x80)
                col++; /* characters, as the parser counts them: not UTF-8's trailing bytes */
        }
        fprintf(err, "%s:%d:%d: a NUL character: a workload is text (UTF-8)\n", name, line, col);
        return -EINVAL;
    }
    struct fy_diag *diag = collecting_diag();
    if (!diag) return -ENOMEM;
    /* Aliases and merge keys are resolved (below, once their expansion is
     * known to be bounded), so a value behind *anchor is read like any other.
     * Duplicate keys are found there too, by hashing. */
    struct fy_parse_cfg pc = {.flags = PARSE_FLAGS, .diag = diag};
    int r = 0;
    l->parser = fy_parser_create(&pc);
    if (!l->parser || fy_parser_set_string(l->parser, text, len) != 0) r = -ENOMEM;
    if (r == 0) l->doc = fy_parse_load_document(l->parser);
    if (r != 0) {
        /* said by the caller */
    } else if (!l->doc) {
        if (!first_error(diag, name, err)) empty(text, len, name, err);
        r = -EINVAL;
    } else if (!fy_document_root(l->doc)) {
        empty(text, len, name, err);
        r = -EINVAL;
    } else {
        /* One workload, one document: anything after it would be ignored. */
        struct fy_document *more = fy_parse_load_document(l->parser);
        if (more) {
            const struct fy_mark *m = node_mark(fy_document_root(more));
            /* An empty one has no root: its start ("---") is the place. */
            struct fy_document_state *ds = m ? NULL : fy_document_get_document_state(more);
            if (ds) m = fy_document_state_start_mark(ds);
            if (m)
                fprintf(err, "%s:%d:%d: a second YAML document: a workload is one document\n", name,
                        m->line + 1, m->column + 1);
            else
                fprintf(err, "%s: a second YAML document: a workload is one document\n", name);
            fy_parse_document_destroy(l->parser, more);
            r = -EINVAL;
        } else if (first_error(diag, name, err)) {
            r = -EINVAL;
        } else {
            bool resolve;
            struct fy_node *dup, *nul, *tagged;
            r = yl_bounds_check(l->doc, name, err, &resolve, &dup, &nul, &tagged);
            if (dup) r = yl_err(l, dup, "duplicate key '%.64s'", fy_node_get_scalar0(dup));
            if (nul) r = yl_err(l, nul, "a NUL character in a key or a value");
            if (tagged) {
                size_t tl = 0;
                const char *tag = fy_node_get_tag(tagged, &tl);
                r = yl_err(l, tagged,
                           "a tag (%.*s) is not read: each value's type is the schema's; write the "
                           "value alone",
                           (int)(tl < 64 ? tl : 64), tag ? tag : "?");
            }
            /* Merged keys that the mapping gives itself are skipped, as YAML
             * says (its own override them), only while the document refuses
             * duplicates: it took them while parsing, where they are found
             * above by hashing rather than by libfyaml's pairwise scan. */
            if (r == 0 && resolve) {
                struct fy_parse_cfg *dc = (struct fy_parse_cfg *)fy_document_get_cfg(l->doc);
                if (dc) dc->flags &= ~(enum fy_parse_cfg_flags)FYPCF_ALLOW_DUPLICATE_KEYS;
            }
            if (r == 0 && resolve && fy_document_resolve(l->doc) != 0) {
                if (!first_error(diag, name, err))
                    fprintf(err, "%s: an alias or merge key cannot be resolved\n", name);
                r = -EINVAL;
            }
        }
    }
    fy_diag_set_collect_errors(diag, false); /* frees what it collected */
    fy_diag_unref(diag);
    return r;
}

void yl_close(yl *l)
{
    if (l->doc) fy_parse_document_destroy(l->parser, l->doc);
    if (l->parser) fy_parser_destroy(l->parser);
    l->doc = NULL;
    l->parser = NULL;
}

/* ---- locations ----------------------------------------------------------- */

/* Collections carry no position in this libfyaml; their first scalar does. */
static const struct fy_mark *node_mark(struct fy_node *n)
{
    for (int depth = 0; n && depth < 64; depth++) {
        switch (fy_node_get_type(n)) {
        case FYNT_SCALAR: {
            struct fy_token *t = fy_node_get_scalar_token(n);
            return t ? fy_token_start_mark(t) : NULL;
        }
        case FYNT_SEQUENCE:
            n = fy_node_sequence_get_by_index(n, 0);
            break;
        case FYNT_MAPPING: {
            void *it = NULL;
            struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
            n = p ? fy_node_pair_key(p) : NULL;
            break;
        }
        }
    }
    return NULL;
}

static const sim_override *origin_of(yl *l, struct fy_node *n)
{
    for (; n; n = fy_node_get_parent(n))
        for (size_t i = 0; i < l->norigins; i++)
            if (l->origin[i].node == n) return l->origin[i].ov;
    return NULL;
}

bool yl_overridden(yl *l, struct fy_node *n)
{
    return n && origin_of(l, n) != NULL;
}

static void where(yl *l, struct fy_node *n, char *buf, size_t len)
{
    const sim_override *o = origin_of(l, n);
    if (o) {
        if (!strcmp(o->flag, "--set"))
            snprintf(buf, len, "fossim: --set %s=%s", o->path, o->value);
        else
            snprintf(buf, len, "fossim: %s %s", o->flag, o->value);
        return;
    }
    if (l->by_path && n) {
        /* A key is named as the path to its mapping and itself (libfyaml
         * would write "/.key(name)"). */
        struct fy_node *at = n, *map = fy_node_get_document_parent(n);
        const char *key = NULL;
        if (map && fy_node_get_type(map) == FYNT_MAPPING) {
            void *it = NULL;
            struct fy_node_pair *p;
            while ((p = fy_node_mapping_iterate(map, &it)))
                if (fy_node_pair_key(p) == n) {
                    at = map;
                    key = fy_node_get_scalar0(n);
                    break;
                }
        }
        char *path = fy_node_get_path(at);
        const char *ps = path ? path : "?";
        if (key)
            snprintf(buf, len, "%s %s%s%.64s", l->name, !strcmp(ps, "/") ? "" : ps, "/", key);
        else
            snprintf(buf, len, "%s %s", l->name, ps);
        free(path);
        return;
    }
    /* An empty collection or value has no position: the key it is the value
     * of has, or, for an item of a list, the key of the list (not the first
     * key of the collection around it, which names a neighbour). */
    const struct fy_mark *m = node_mark(n);
    for (struct fy_node *c = n, *p; c && !m; c = p) {
        p = fy_node_get_parent(c);
        if (!p || fy_node_get_type(p) != FYNT_MAPPING) continue;
        void *it = NULL;
        struct fy_node_pair *pair;
        while ((pair = fy_node_mapping_iterate(p, &it)))
            if (fy_node_pair_value(pair) == c) {
                m = node_mark(fy_node_pair_key(pair));
                break;
            }
    }
    if (m)
        snprintf(buf, len, "%s:%d:%d", l->name, m->line + 1, m->column + 1);
    else
        snprintf(buf, len, "%s", l->name);
}

void yl_pos(yl *l, struct fy_node *n, sim_srcpos *out)
{
    where(l, n, out->where, sizeof out->where);
}

int yl_err(yl *l, struct fy_node *n, const char *fmt, ...)
{
    char loc[256];
    where(l, n, loc, sizeof loc);
    va_list ap;
    va_start(ap, fmt);
    fprintf(l->err, "%s: ", loc);
    vfprintf(l->err, fmt, ap);
    fputc('\n', l->err);
    va_end(ap);
    l->errors++;
    return -EINVAL;
}

/* ---- keys ---------------------------------------------------------------- */

struct fy_node *yl_get(struct fy_node *map, const char *key)
{
    if (!map || fy_node_get_type(map) != FYNT_MAPPING) return NULL;
    return fy_node_mapping_lookup_by_string(map, key, -1);
}

int yl_index(const char *const *names, const char *s)
{
    for (int i = 0; s && names[i]; i++)
        if (!strcmp(names[i], s)) return i;
    return -1;
}

static unsigned edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    unsigned d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (unsigned)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            unsigned c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
            /* A swap of neighbours is one mistake, not two. */
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < c)
                c = d[i - 2][j - 2] + 1;
            d[i][j] = c;
        }
    return d[la][lb];
}

/* The closest name, if close enough to be a plausible typo. */
static const char *suggest(const char *const *names, const char *s)
{
    const char *best = NULL;
    unsigned bd = 99;
    for (int i = 0; names[i]; i++) {
        unsigned d = edit_distance(s, names[i]);
        if (d < bd) bd = d, best = names[i];
    }
    size_t len = strlen(s);
    unsigned limit = len <= 3 ? 1 : len <= 6 ? 2 : 3;
    return bd <= limit ? best : NULL;
}

static void list_names(char *buf, size_t len, const char *const *names)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; names[i] && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", names[i]);
}

int yl_check_keys(yl *l, struct fy_node *map, const char *const *allowed, const char *what)
{
    if (!map || fy_node_get_type(map) != FYNT_MAPPING)
        return yl_err(l, map, "%s: expected a mapping", what);
    int bad = 0;
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(map, &it))) {
        struct fy_node *k = fy_node_pair_key(p);
        const char *s = k && fy_node_get_type(k) == FYNT_SCALAR ? fy_node_get_scalar0(k) : NULL;
        if (!s) {
            bad = yl_err(l, k ? k : map, "%s: keys must be plain names", what);
            continue;
        }
        if (yl_index(allowed, s) >= 0) continue;
        if (!*s) {
            /* An empty key has no token to place it: its value does, and
             * when that is empty too, only the mapping can be named. */
            struct fy_node *v = fy_node_pair_value(p);
            if (node_mark(k) || node_mark(v))
                bad = yl_err(l, node_mark(k) ? k : v, "an empty key in %s", what);
            else
                bad = yl_err(l, map, "an empty key with an empty value in %s", what);
            continue;
        }
        const char *hint = suggest(allowed, s);
        if (hint) {
            bad = yl_err(l, k, "unknown key '%s' in %s (did you mean '%s'?)", s, what, hint);
        } else {
            char names[512];
            list_names(names, sizeof names, allowed);
            bad = yl_err(l, k, "unknown key '%s' in %s (expected one of: %s)", s, what, names);
        }
    }
    return bad;
}

/* ---- values -------------------------------------------------------------- */

static const char *type_word(struct fy_node *n)
{
    if (!n) return "nothing";
    switch (fy_node_get_type(n)) {
    case FYNT_MAPPING:
        return "a mapping";
    case FYNT_SEQUENCE:
        return "a list";
    default:
        return "a scalar";
    }
}

bool yl_is_null(struct fy_node *n)
{
    if (fy_node_is_null(n)) return true;
    if (fy_node_get_style(n) != FYNS_PLAIN) return false;
    const char *s = fy_node_get_scalar0(n);
    return s && (!strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"));
}

const char *yl_scalar(yl *l, struct fy_node *n, const char *expected)
{
    if (!n || fy_node_get_type(n) != FYNT_SCALAR || yl_is_null(n)) {
        yl_err(l, n, "expected %s, got %s", expected,
               n && fy_node_get_type(n) == FYNT_SCALAR ? "nothing" : type_word(n));
        return NULL;
    }
    const char *s = fy_node_get_scalar0(n);
    if (!s) yl_err(l, n, "expected %s", expected);
    return s;
}

int yl_enum(yl *l, struct fy_node *n, const char *const *names, const char *what)
{
    char list[256];
    list_names(list, sizeof list, names);
    char expected[320];
    snprintf(expected, sizeof expected, "a %s (%s)", what, list);
    const char *s = yl_scalar(l, n, expected);
    if (!s) return -EINVAL;
    int i = yl_index(names, s);
    if (i >= 0) return i;
    const char *hint = suggest(names, s);
    if (hint) return yl_err(l, n, "unknown %s '%s' (did you mean '%s'?)", what, s, hint);
    return yl_err(l, n, "unknown %s '%s' (expected one of: %s)", what, s, list);
}

int yl_u64(yl *l, struct fy_node *n, uint64_t min, uint64_t max, uint64_t *out)
{
    char expected[96];
    snprintf(expected, sizeof expected, "an integer from %" PRIu64 " to %" PRIu64, min, max);
    const char *s = yl_scalar(l, n, expected);
    if (!s) return -EINVAL;
    char *end;
    errno = 0;
    /* Decimal, or hexadecimal with 0x; a leading 0 is not octal. */
    bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    /* Hexadecimal digits alone after 0x: strtoull would also take a sign
     * or spaces there. */
    bool hex_ok = hex && s[2] && strspn(s + 2, "0123456789abcdefABCDEF") == strlen(s + 2);
    if (hex ? !hex_ok : !sim_decimal_text(s))
        return yl_err(l, n, "expected %s, got '%s'", expected, s);
    unsigned long long v = strtoull(s, &end, hex ? 16 : 10);
    if (!hex && !errno && end != s && (*end == 'e' || *end == 'E' || *end == '.')) {
        /* JSON has only doubles: a round 10^15 comes back from --json as 1e+15.
         * Take such a number when it is exactly an integer a double holds. */
        double d = strtod(s, &end);
        if (!*end && d >= 0 && d <= 9007199254740992.0 && d == (double)(uint64_t)d &&
            strpbrk(s, "eE"))
            v = (uint64_t)d;
        else
            end = (char *)s;
    }
    if (errno == ERANGE || (end != s && *end == '\0' && s[0] != '-' && (v < min || v > max)))
        return yl_err(l, n, "%s is out of range: expected %s", s, expected);
    if (errno || end == s || *end || s[0] == '-' || s[0] == '+')
        return yl_err(l, n, "expected %s, got '%s'", expected, s);
    *out = v;
    return 0;
}

int yl_double(yl *l, struct fy_node *n, double min, double max, double *out)
{
    char expected[96];
    snprintf(expected, sizeof expected, "a number from %g to %g", min, max);
    const char *s = yl_scalar(l, n, expected);
    if (!s) return -EINVAL;
    char *end;
    double v = strtod(s, &end);
    if (!sim_decimal_text(s) || end == s || *end || !isfinite(v))
        return yl_err(l, n, "expected %s, got '%s'", expected, s);
    if (v < min || v > max) return yl_err(l, n, "%s is out of range: expected %s", s, expected);
    *out = v;
    return 0;
}

int yl_bool(yl *l, struct fy_node *n, bool *out)
{
    static const char *const names[] = {"false", "true", NULL};
    const char *s = yl_scalar(l, n, "true or false");
    if (!s) return -EINVAL;
    int i = yl_index(names, s);
    if (i < 0) return yl_err(l, n, "expected true or false, got '%s'", s);
    *out = i == 1;
    return 0;
}

int yl_duration(yl *l, struct fy_node *n, uint64_t clock_hz, fos_cycles *out)
{
    const char *s = yl_scalar(l, n, "a time (cycles, or a number with ns, us, ms or s)");
    if (!s) return -EINVAL;
    int r = sim_parse_duration(s, clock_hz, out);
    if (r == -ERANGE)
        return yl_err(l, n, "'%s' is less than one cycle at %" PRIu64 " Hz", s, clock_hz);
    if (r != 0)
        return yl_err(l, n,
                      "expected a time: an integer number of cycles, or a number with a "
                      "unit (cycles, ns, us, ms, s), got '%s'",
                      s);
    /* Far past any run, and short of where clocks saturate: a time added to a
     * clock there would silently become "never". */
    if (*out > YL_TIME_MAX)
        return yl_err(l, n, "'%s' is more than 2^62 cycles, past where simulated time ends", s);
    return 0;
}

int yl_size(yl *l, struct fy_node *n, uint64_t min, uint64_t max, uint64_t *out)
{
    const char *s = yl_scalar(l, n, "a size (bytes, or a number with B, KiB, MiB, GiB or TiB)");
    if (!s) return -EINVAL;
    if (sim_parse_size(s, out) != 0)
        return yl_err(l, n,
                      "expected a size: an integer number of bytes, or a number with a unit "
                      "(B, KiB, MiB, GiB, TiB), got '%s'",
                      s);
    if (*out < min || *out > max)
        return yl_err(l, n, "%s is out of range: expected %" PRIu64 " to %" PRIu64 " bytes", s, min,
                      max);
    return 0;
}

/* ---- overrides ----------------------------------------------------------- */

static int ov_err(yl *l, const sim_override *o, const char *msg)
{
    if (!strcmp(o->flag, "--set"))
        fprintf(l->err, "fossim: --set %s=%s: %s\n", o->path, o->value, msg);
    else
        fprintf(l->err, "fossim: %s %s: %s\n", o->flag, o->value, msg);
    return -EINVAL;
}

static int add_origin(yl *l, struct fy_node *n, const sim_override *o)
{
    if (l->norigins == YL_ORIGINS_MAX) return ov_err(l, o, "too many overrides");
    l->origin[l->norigins].node = n;
    l->origin[l->norigins++].ov = o;
    return 0;
}

/* A node about to be replaced is freed with everything under it: forget the
 * origins recorded there, so that a new node at a recycled address is not
 * blamed on an old flag. */
static void forget_under(yl *l, struct fy_node *old)
{
    for (size_t i = 0; i < l->norigins;) {
        struct fy_node *n = l->origin[i].node;
        while (n && n != old)
            n = fy_node_get_parent(n);
        if (n)
            l->origin[i] = l->origin[--l->norigins];
        else
            i++;
    }
}

static int replace(yl *l, struct fy_node_pair *p, struct fy_node *val)
{
    forget_under(l, fy_node_pair_value(p));
    return fy_node_pair_set_value(p, val) ? -ENOMEM : 0;
}

static int append(yl *l, const sim_override *o, struct fy_node *map, const char *key,
                  struct fy_node *val)
{
    struct fy_node *k = fy_node_create_scalar_copy(l->doc, key, strlen(key));
    if (!k || fy_node_mapping_append(map, k, val)) return -ENOMEM;
    return add_origin(l, k, o);
}

/* The step `tok` of a path inside a mapping, where more steps follow: an
 * existing collection, or a new mapping. A cost preset written as a name
 * becomes {preset: name}, so that `--set chip.costs.trap=...` keeps it. */
static int step_into(yl *l, const sim_override *o, struct fy_node *map, const char *tok,
                     struct fy_node **out)
{
    struct fy_node_pair *p = fy_node_mapping_lookup_pair_by_string(map, tok, -1);
    struct fy_node *old = p ? fy_node_pair_value(p) : NULL;
    if (old && fy_node_get_type(old) != FYNT_SCALAR) {
        *out = old;
        return 0;
    }
    if (old && !yl_is_null(old) && strcmp(tok, "costs")) {
        /* The file's value is what is wrong, or this flag: both are named. */
        sim_srcpos pos;
        yl_pos(l, old, &pos);
        char m[320];
        snprintf(m, sizeof m, "'%s' holds a value (%s), not a mapping: set %s itself", tok,
                 pos.where, tok);
        return ov_err(l, o, m);
    }
    struct fy_node *val = fy_node_create_mapping(l->doc);
    if (!val) return -ENOMEM;
    int r = 0;
    if (old && !yl_is_null(old)) {
        const char *preset = fy_node_get_scalar0(old);
        struct fy_node *k = fy_node_create_scalar_copy(l->doc, "preset", 6);
        struct fy_node *v =
            preset ? fy_node_create_scalar_copy(l->doc, preset, strlen(preset)) : NULL;
        if (!k || !v || fy_node_mapping_append(val, k, v)) return -ENOMEM;
    }
    r = p ? replace(l, p, val) : append(l, o, map, tok, val);
    if (r == 0) r = add_origin(l, val, o);
    *out = val;
    return r;
}

/* A --set value is checked as a file is (a key given twice, one document),
 * and holds no alias or merge key: those name anchors, which only the file
 * has. */
static int build_value(yl *l, const sim_override *o, struct fy_node **out)
{
    /* Checked in a document of its own, whose parser says nothing: the
     * message is ours. */
    struct fy_diag *diag = collecting_diag();
    if (!diag) return -ENOMEM;
    struct fy_parse_cfg pc = {.flags = PARSE_FLAGS, .diag = diag};
    /* Through a parser, as the file is, to see what follows the first
     * document: anything, even text that is not YAML, is refused. */
    struct fy_parser *vp = fy_parser_create(&pc);
    struct fy_document *vd = NULL;
    bool more = false;
    if (vp && fy_parser_set_string(vp, o->value, strlen(o->value)) == 0) {
        vd = fy_parse_load_document(vp);
        struct fy_document *next = vd ? fy_parse_load_document(vp) : NULL;
        more = next != NULL || (vd && fy_parser_get_stream_error(vp));
        fy_parse_document_destroy(vp, next);
    }
    fy_diag_set_collect_errors(diag, false);
    fy_diag_unref(diag);
    if (!vp) return -ENOMEM; /* said by the caller */
    int r = more                           ? ov_err(l, o, "a second YAML document: a value is one")
            : !vd || !fy_document_root(vd) ? ov_err(l, o, "the value is not valid YAML")
                                           : 0;
    if (r) {
        fy_parse_document_destroy(vp, vd);
        fy_parser_destroy(vp);
        return r;
    }
    char name[512];
    snprintf(name, sizeof name, "fossim: --set %.200s=%.200s", o->path, o->value);
    bool resolve = false;
    struct fy_node *dup = NULL, *nul = NULL, *tagged = NULL;
    r = yl_bounds_check(vd, name, l->err, &resolve, &dup, &nul, &tagged);
    if (r == -EINVAL && dup) {
        char m[200];
        const char *k = fy_node_get_scalar0(dup);
        snprintf(m, sizeof m, "duplicate key '%s'", k ? k : "?");
        r = ov_err(l, o, m);
    } else if (r == -EINVAL && nul) {
        r = ov_err(l, o, "a NUL character in a key or a value");
    } else if (r == -EINVAL && tagged) {
        r = ov_err(l, o,
                   "a tag is not read: each value's type is the schema's; write the value alone");
    } else if (r == 0 && resolve) {
        r = ov_err(l, o, "an alias or a merge key, whose anchors only a workload file can have");
    } else if (r == -ENOMEM) {
        r = ov_err(l, o, "out of memory");
    }
    fy_parse_document_destroy(vp, vd);
    fy_parser_destroy(vp);
    /* Built again inside the workload's document, where it is placed. */
    *out = r ? NULL : fy_node_build_from_string(l->doc, o->value, strlen(o->value));
    if (r == 0 && !*out) r = ov_err(l, o, "the value is not valid YAML");
    return r;
}

static int apply_one(yl *l, const sim_override *o)
{
    struct fy_node *cur = fy_document_root(l->doc);
    if (!cur) return ov_err(l, o, "the workload is empty");
    const char *ps = o->path;
    size_t n = strlen(ps);
    if (n == 0 || ps[0] == '.' || ps[n - 1] == '.' || strstr(ps, ".."))
        return ov_err(l, o, "an empty key in the path (expected e.g. chip.cores)");
    char *path = strdup(ps);
    if (!path) return -ENOMEM;
    int r = 0;
    char *save = NULL;
    for (char *tok = strtok_r(path, ".", &save), *next; tok && r == 0; tok = next) {
        next = strtok_r(NULL, ".", &save);
        enum fy_node_type t = fy_node_get_type(cur);
        if (t == FYNT_SEQUENCE) {
            char *end;
            long i = strtol(tok, &end, 10);
            int cnt = fy_node_sequence_item_count(cur);
            /* Digits only: strtol would also take " 0" or "+0". */
            if (strspn(tok, "0123456789") != strlen(tok) || *end || end == tok || i < 0 ||
                i >= cnt) {
                char m[160];
                snprintf(m, sizeof m, "'%s' is not an index of a list of %d", tok, cnt);
                r = ov_err(l, o, m);
            } else if (!next) {
                r = ov_err(l, o, "cannot replace a whole list item; set one of its keys");
            } else {
                cur = fy_node_sequence_get_by_index(cur, (int)i);
            }
        } else if (t != FYNT_MAPPING) {
            r = ov_err(l, o, "the path runs through a value that is not a mapping or list");
        } else if (next) {
            r = step_into(l, o, cur, tok, &cur);
        } else {
            struct fy_node *val;
            r = build_value(l, o, &val);
            if (r) break;
            struct fy_node_pair *p = fy_node_mapping_lookup_pair_by_string(cur, tok, -1);
            r = p ? replace(l, p, val) : append(l, o, cur, tok, val);
            if (r == 0) r = add_origin(l, val, o);
        }
    }
    free(path);
    return r;
}

int yl_apply_overrides(yl *l, const sim_override *ov, size_t nov)
{
    for (size_t i = 0; i < nov; i++) {
        if (!ov[i].value[0]) return ov_err(l, &ov[i], "an empty value");
        int r = apply_one(l, &ov[i]);
        if (r) return r;
    }
    return 0;
}
