/* Bounds on a YAML document before its aliases are resolved.
 *
 * Nine lines of nested aliases can stand for 10^9 nodes, which libfyaml's
 * resolution would build one by one; and every alias the resolution meets,
 * copies included, costs a scan of all anchors. So, before resolving: the
 * document's size and depth once expanded, and its aliases once expanded
 * times its anchors, each anchored node's expansion computed once and
 * remembered, so that the check itself costs one visit per node written.
 *
 * Duplicate keys are found here too, by hashing, since libfyaml's parser
 * compares every key of a mapping with every other (minutes for a mapping of
 * 45,000 keys); the parser is told to let them through. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleets/hash.h"
#include "sim/yaml_bounds.h"

/* Far above any real workload, even an explicit list of a million cores. */
#define MAX_NODES (1u << 21)
#define MAX_DEPTH 256
#define MAX_ALIAS_SCANS (1u << 24)

typedef struct {
    struct fy_node *node; /* NULL: a free slot */
    size_t size;          /* nodes once expanded, at most MAX_NODES + 1 */
    size_t aliases;       /* aliases once expanded, as many saturated */
    uint32_t height;      /* levels once expanded; UINT32_MAX while being computed */
} memo_slot;

typedef struct {
    memo_slot *slot;
    size_t mask;
    size_t aliases, anchors;
    struct fy_node *dup;    /* the first key found twice in its mapping */
    struct fy_node *nul;    /* the first scalar with a NUL in it */
    struct fy_node *tagged; /* the first node with an explicit tag */
    size_t merges;          /* "<<" keys */
    uint64_t key_pairs;     /* sum over mappings of keys squared: what the resolution's
                             * own duplicate check costs */
    bool nomem;
} walk;

/* Expansion figures of one node. */
typedef struct {
    size_t size, aliases;
    uint32_t height;
} expansion;

static size_t hash_ptr(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    return (size_t)(x ^ x >> 33);
}

static memo_slot *memo_find(walk *w, struct fy_node *n)
{
    size_t i = hash_ptr(n) & w->mask;
    while (w->slot[i].node && w->slot[i].node != n)
        i = (i + 1) & w->mask;
    return &w->slot[i];
}

/* A mapping's plain keys, each once: the first one seen twice is kept. */
static void find_duplicate(walk *w, struct fy_node *map)
{
    int n = fy_node_mapping_item_count(map);
    w->key_pairs += (uint64_t)n * (uint64_t)n;
    if (n < 2 || w->dup) return;
    size_t nslot = 4;
    while (nslot < 2 * (size_t)n)
        nslot *= 2;
    struct fy_node **slot = calloc(nslot, sizeof(*slot));
    if (!slot) {
        w->nomem = true;
        return;
    }
    void *it = NULL;
    struct fy_node_pair *p;
    while (!w->dup && (p = fy_node_mapping_iterate(map, &it))) {
        struct fy_node *k = fy_node_pair_key(p);
        size_t len;
        const char *t = k && fy_node_get_type(k) == FYNT_SCALAR && !fy_node_is_alias(k)
                            ? fy_node_get_scalar(k, &len)
                            : NULL;
        if (!t) continue; /* not a plain name: the loader says so */
        if (len == 2 && !memcmp(t, "<<", 2)) w->merges++;
        size_t i = fleets_hash_bytes(t, len) & (nslot - 1);
        for (; slot[i]; i = (i + 1) & (nslot - 1)) {
            size_t ol;
            const char *o = fy_node_get_scalar(slot[i], &ol);
            if (ol == len && !memcmp(o, t, len)) {
                w->dup = k;
                break;
            }
        }
        if (!w->dup) slot[i] = k;
    }
    free(slot);
}

/* Pass 1: what is written, aliases not followed. */
static void count(walk *w, struct fy_node *n)
{
    if (!n) return;
    if (fy_node_is_alias(n)) {
        w->aliases++;
        return;
    }
    size_t tag_len;
    if (!w->tagged && fy_node_get_tag(n, &tag_len)) w->tagged = n;
    void *it = NULL;
    if (fy_node_get_type(n) == FYNT_SCALAR) {
        /* Read as C strings, it would be cut there and taken for another. */
        size_t len;
        const char *t = fy_node_get_scalar(n, &len);
        if (t && memchr(t, 0, len) && !w->nul) w->nul = n;
    } else if (fy_node_get_type(n) == FYNT_SEQUENCE) {
        struct fy_node *item;
        while ((item = fy_node_sequence_iterate(n, &it)))
            count(w, item);
    } else if (fy_node_get_type(n) == FYNT_MAPPING) {
        find_duplicate(w, n);
        struct fy_node_pair *p;
        while ((p = fy_node_mapping_iterate(n, &it))) {
            count(w, fy_node_pair_key(p));
            count(w, fy_node_pair_value(p));
        }
    }
}

static size_t add_sat(size_t a, size_t b)
{
    return a + b > MAX_NODES ? MAX_NODES + 1 : a + b;
}

/* Pass 2: n once expanded, n being depth levels down. An alias that leads
 * nowhere or into a node still being expanded (a cycle) counts as one node:
 * the resolution reports it, with its place. */
static expansion expand(walk *w, struct fy_node *n, uint32_t depth)
{
    expansion e = {0, 0, 0};
    if (!n) return e;
    /* Too deep already: the answer is no, and the C stack stays short
     * whatever chain of aliases leads here. */
    if (depth > MAX_DEPTH) return (expansion){1, 0, MAX_DEPTH + 1};
    size_t self_alias = 0;
    if (fy_node_is_alias(n)) {
        self_alias = 1;
        n = fy_node_resolve_alias(n);
        if (!n) return (expansion){1, 1, 1};
    }
    /* Anchored nodes were entered up front (fy_node_get_anchor would scan
     * every anchor); the rest need no memory: nothing else leads to them. */
    memo_slot *m = memo_find(w, n);
    if (!m->node) m = NULL;
    if (m && m->height != 0) {
        if (m->height == UINT32_MAX) return (expansion){1, self_alias, 1}; /* a cycle */
        return (expansion){m->size, add_sat(m->aliases, self_alias), m->height};
    }
    if (m) m->height = UINT32_MAX;
    e.size = 1;
    void *it = NULL;
    for (;;) {
        struct fy_node *kids[2];
        int nk = 0;
        if (fy_node_get_type(n) == FYNT_SEQUENCE) {
            if (!(kids[0] = fy_node_sequence_iterate(n, &it))) break;
            nk = 1;
        } else if (fy_node_get_type(n) == FYNT_MAPPING) {
            struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
            if (!p) break;
            kids[0] = fy_node_pair_key(p);
            kids[1] = fy_node_pair_value(p);
            nk = 2;
        } else {
            break;
        }
        for (int k = 0; k < nk; k++) {
            expansion c = expand(w, kids[k], depth + 1);
            e.size = add_sat(e.size, c.size);
            e.aliases = add_sat(e.aliases, c.aliases);
            if (c.height > e.height) e.height = c.height;
        }
        if (e.size > MAX_NODES || e.height >= MAX_DEPTH) break; /* over already */
    }
    e.height = e.height + 1 > MAX_DEPTH ? MAX_DEPTH + 1 : e.height + 1;
    if (m) *m = (memo_slot){n, e.size, e.aliases, e.height}; /* the table never grows */
    e.aliases = add_sat(e.aliases, self_alias);
    return e;
}

int yl_bounds_check(struct fy_document *doc, const char *name, FILE *err, bool *resolve,
                    struct fy_node **dup, struct fy_node **nul, struct fy_node **tagged)
{
    *resolve = false;
    *dup = NULL;
    *nul = NULL;
    *tagged = NULL;
    walk w = {0};
    struct fy_node *root = fy_document_root(doc);
    count(&w, root);
    if (w.nomem) return -ENOMEM;
    if (w.dup || w.nul || w.tagged) {
        *dup = w.dup; /* the caller places them, as any other error */
        *nul = w.nul;
        *tagged = w.tagged;
        return -EINVAL;
    }
    if (!w.aliases && !w.merges) return 0; /* what is written is what there is */
    *resolve = true;
    if (w.key_pairs > MAX_ALIAS_SCANS) {
        fprintf(err,
                "%s: mappings too large to resolve aliases or merge keys in (the sum of their "
                "keys squared is above %u)\n",
                name, MAX_ALIAS_SCANS);
        return -EINVAL;
    }
    if (!w.aliases) return 0;
    void *it = NULL;
    struct fy_anchor *a;
    while ((a = fy_document_anchor_iterate(doc, &it)))
        w.anchors++;
    size_t nslot = 16;
    while (nslot < 2 * w.anchors)
        nslot *= 2;
    w.slot = calloc(nslot, sizeof(*w.slot));
    if (!w.slot) return -ENOMEM;
    w.mask = nslot - 1;
    /* Height 0: anchored, not expanded yet. */
    it = NULL;
    while ((a = fy_document_anchor_iterate(doc, &it))) {
        struct fy_node *n = fy_anchor_node(a);
        memo_slot *m = n ? memo_find(&w, n) : NULL;
        if (m) *m = (memo_slot){n, 0, 0, 0};
    }
    expansion e = expand(&w, root, 0);
    free(w.slot);
    if (e.size > MAX_NODES || e.height > MAX_DEPTH) {
        fprintf(err,
                "%s: with its aliases expanded the workload has more than %u nodes or nests "
                "deeper than %d levels\n",
                name, MAX_NODES, MAX_DEPTH);
        return -EINVAL;
    }
    if (e.aliases && e.aliases * w.anchors > MAX_ALIAS_SCANS) {
        fprintf(err,
                "%s: %zu%s aliases once expanded, of %zu anchors: more than the %u "
                "alias-by-anchor lookups resolving them may take\n",
                name, e.aliases, e.aliases > MAX_NODES ? "+" : "", w.anchors, MAX_ALIAS_SCANS);
        return -EINVAL;
    }
    return 0;
}
