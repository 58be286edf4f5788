#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fos/error.h"
#include "sim/layout.h"

typedef struct lay {
    fos_topo topo;
    uint8_t *used;
    uint32_t nfree;
    FILE *err;
} lay;

__attribute__((format(printf, 3, 4))) static int place_err(lay *y, const sim_srcpos *pos,
                                                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(y->err, "%s: ", pos->where);
    vfprintf(y->err, fmt, ap);
    fputc('\n', y->err);
    va_end(ap);
    return -EINVAL;
}

static uint32_t *free_list(lay *y)
{
    uint32_t *f = malloc((y->nfree + 1) * sizeof(uint32_t)), k = 0;
    for (uint32_t c = 0; f && c < y->topo.cores; c++)
        if (!y->used[c]) f[k++] = c;
    return f;
}

static void take(lay *y, uint32_t c)
{
    y->used[c] = 1;
    y->nfree--;
}

/* The free core of a 2-D chip nearest cell (tx, ty), ties to the lowest id;
 * with wrap, distances go round a torus, as its hops do. Searched ring by ring
 * outwards: the cells found at ring d lie d hops away (a cell nearer by a wrap
 * was seen, taken, at a smaller ring), so placing k members costs about k
 * small rings rather than k passes over the chip. Cores are only taken while
 * a group is placed, so the nearest free core never comes closer: *ring, the
 * ring where the last search from this cell ended, is where the next starts. */
static uint32_t nearest_free(const lay *y, uint32_t tx, uint32_t ty, bool wrap, uint32_t *ring)
{
    const fos_topo *t = &y->topo;
    int64_t w = t->width, h = t->height;
    for (int64_t d = *ring; d <= w + h; d++) {
        uint32_t best = UINT32_MAX;
        /* The cells at distance d: dy from -d to d, dx = ±(d - |dy|). */
        for (int64_t dy = -d; dy <= d; dy++) {
            int64_t yy = (int64_t)ty + dy;
            if (wrap) yy = ((yy % h) + h) % h;
            if (yy < 0 || yy >= h) continue;
            int64_t rest = d - (dy < 0 ? -dy : dy);
            for (int side = 0; side < (rest ? 2 : 1); side++) {
                int64_t xx = (int64_t)tx + (side ? -rest : rest);
                if (wrap) xx = ((xx % w) + w) % w;
                if (xx < 0 || xx >= w) continue;
                uint64_t c = (uint64_t)(yy * w + xx);
                if (c < t->cores && !y->used[c] && c < best) best = (uint32_t)c;
            }
        }
        if (best != UINT32_MAX) {
            *ring = (uint32_t)d;
            return best;
        }
    }
    return UINT32_MAX; /* none free: the caller checked there are enough */
}

/* The lowest free core in [*at, end), from *at on (0: none); *at moves up to
 * it, since cores are only taken while a group is placed. */
static uint32_t lowest_free(const lay *y, uint32_t *at, uint32_t end)
{
    while (*at < end && y->used[*at])
        (*at)++;
    return *at < end ? *at : UINT32_MAX;
}

/* The free core nearest core `from` by the chip's hops, ties to the lowest id
 * (what fos_topo_nearest over the free cores gives), found near `from` rather
 * than by a pass over every free core. st holds two words per `from`, zero at
 * first, where the last search from it left off. */
static uint32_t nearest_free_to(const lay *y, uint32_t from, uint32_t *st)
{
    const fos_topo *t = &y->topo;
    if (!y->used[from]) return from; /* 0 hops */
    if (t->kind == FOS_TOPO_MESH || t->kind == FOS_TOPO_TORUS)
        return nearest_free(y, from % t->width, from / t->width, t->kind == FOS_TOPO_TORUS, st);
    if (t->kind == FOS_TOPO_RING) {
        for (uint32_t d = st[0]; d <= t->cores / 2; d++) {
            uint32_t a = (from + d) % t->cores, b = (from + t->cores - d) % t->cores;
            uint32_t best = UINT32_MAX;
            if (!y->used[a]) best = a;
            if (!y->used[b] && b < best) best = b;
            st[0] = d;
            if (best != UINT32_MAX) return best;
        }
        return UINT32_MAX;
    }
    /* full: every other core is 1 hop away. numa: 1 within the socket,
     * socket_hops (at least 1) beyond it. */
    if (t->kind == FOS_TOPO_NUMA && t->socket_hops > 1) {
        uint32_t lo = from - from % t->cores_per_socket;
        uint32_t hi = t->cores - lo < t->cores_per_socket ? t->cores : lo + t->cores_per_socket;
        if (st[1] < lo) st[1] = lo;
        uint32_t c = lowest_free(y, &st[1], hi);
        if (c != UINT32_MAX) return c;
    }
    return lowest_free(y, &st[0], t->cores);
}

/* The cell holding the centre of the i-th of n equal parts of a side of
 * `side` cells, the lower of two where the centre falls between cells: ties
 * between members go to the lower id, which lies lower, so that rounding down
 * gives each member as many cells as the next (16 on a 32-wide row: rounded
 * up, the parts had 9, 8, 8 and 7 columns). */
static uint32_t centre(uint64_t i, uint64_t n, uint64_t side)
{
    uint64_t twice = (2 * i + 1) * side; /* 2n times the centre */
    return (uint32_t)(twice < n ? 0 : (twice - n) / (2 * n));
}

/* spread on a mesh or torus: over the chip's area, not its numbering (by id,
 * 16 members on a 16-wide chip fall into one column, and some clients' nearest
 * member is then no nearer than another's). The members sit at the centres of
 * a grid of k cells about as square as the chip allows, row by row (rows as
 * even as k permits), each on the free core nearest its centre. Integer
 * arithmetic only, so every host agrees. */
static void spread_2d(lay *y, uint32_t k, uint32_t *c)
{
    const fos_topo *t = &y->topo;
    uint64_t w = t->width, h = t->height;
    /* Columns: the fewest with cols^2 * h >= k * w, so that cells are about square. */
    uint64_t cols = 1;
    while (cols < k && cols * cols * h < (uint64_t)k * w)
        cols++;
    uint64_t rows = (k + cols - 1) / cols;
    uint32_t i = 0;
    for (uint64_t r = 0; r < rows; r++) {
        uint64_t in_row = (r + 1) * k / rows - r * k / rows;
        uint32_t ty = centre(r, rows, h);
        for (uint64_t j = 0; j < in_row; j++, i++) {
            uint32_t tx = centre(j, in_row, w);
            uint32_t ring = 0;
            c[i] = nearest_free(y, tx, ty, false, &ring);
            y->used[c[i]] = 1;
        }
    }
    for (uint32_t m = 0; m < k; m++)
        y->used[c[m]] = 0;
}

/* Places k members of `who` by pl; `near` is the group a near: policy names. */
static int place(lay *y, const sim_placement *pl, uint32_t k, const char *who, const uint32_t *near,
                 uint32_t nnear, uint32_t **out)
{
    if (k > y->nfree)
        return place_err(y, &pl->pos,
                         "%s: %u core%s needed but only %u %s free (every server, client and "
                         "fleet member needs a core of its own)",
                         who, k, k == 1 ? "" : "s", y->nfree, y->nfree == 1 ? "is" : "are");
    uint32_t *c = malloc((size_t)k * sizeof(uint32_t));
    if (!c) return -ENOMEM;
    uint32_t *f = NULL;
    /* The free cores in order: what compact and spread by number read. */
    if ((pl->kind == SIM_PLACE_COMPACT || pl->kind == SIM_PLACE_SPREAD) && !(f = free_list(y))) {
        free(c);
        return -ENOMEM;
    }
    uint32_t nf = y->nfree, *ring;
    switch (pl->kind) {
    case SIM_PLACE_SPREAD:
        if ((y->topo.kind == FOS_TOPO_MESH || y->topo.kind == FOS_TOPO_TORUS) && k < nf) {
            spread_2d(y, k, c);
            break;
        }
        /* Evenly over the free cores: member i at the i-th of k equal strides. */
        for (uint32_t i = 0; i < k; i++)
            c[i] = f[(uint64_t)i * nf / k];
        break;
    case SIM_PLACE_COMPACT:
        for (uint32_t i = 0; i < k; i++)
            c[i] = f[i];
        break;
    case SIM_PLACE_NEAR:
        /* Member i near member i mod m of the other group, each on a free core. */
        ring = calloc(2 * (size_t)nnear, sizeof(*ring));
        if (!ring) {
            free(c);
            free(f);
            return -ENOMEM;
        }
        for (uint32_t i = 0; i < k; i++) {
            c[i] = nearest_free_to(y, near[i % nnear], &ring[2 * (i % nnear)]);
            take(y, c[i]); /* there is one: k <= nfree */
        }
        for (uint32_t i = 0; i < k; i++)
            y->used[c[i]] = 0, y->nfree++;
        free(ring);
        break;
    case SIM_PLACE_CORES:
        if (pl->ncores != k) {
            free(c);
            return place_err(y, &pl->pos, "%s has %u members but the placement lists %u cores", who,
                             k, pl->ncores);
        }
        for (uint32_t i = 0; i < k; i++) {
            uint32_t x = pl->cores[i];
            if (x >= y->topo.cores) {
                free(c);
                return place_err(y, &pl->pos, "%s: core %u does not exist on a chip of %u cores",
                                 who, x, y->topo.cores);
            }
            if (y->used[x]) {
                free(c);
                return place_err(y, &pl->pos,
                                 "%s: core %u is already taken (listed twice, or by a group "
                                 "placed before)",
                                 who, x);
            }
            c[i] = x;
            y->used[x] = 1; /* duplicates within the list are caught too */
        }
        for (uint32_t i = 0; i < k; i++)
            y->used[c[i]] = 0;
        break;
    }
    free(f);
    for (uint32_t i = 0; i < k; i++)
        take(y, c[i]);
    *out = c;
    return 0;
}

/* The cores of the group a near: names: a fleet, or an application placed
 * before (its servers if it has any). */
static int near_group(lay *y, sim_workload *w, const sim_placement *pl, uint32_t before,
                      const uint32_t **g, uint32_t *n)
{
    if (pl->kind != SIM_PLACE_NEAR) return 0;
    if (!strcmp(pl->near, "name")) {
        *g = w->name_fleet.cores;
        *n = w->name_fleet.members;
        return 0;
    }
    for (uint32_t i = 0; i < w->nfleets; i++) {
        if (strcmp(w->fleets[i].ops->name, pl->near)) continue;
        if (!w->fleets[i].cores)
            return place_err(y, &pl->pos, "near: '%s' is placed after this group; list it earlier",
                             pl->near);
        *g = w->fleets[i].cores;
        *n = w->fleets[i].members;
        return 0;
    }
    for (uint32_t i = 0; i < w->napps; i++) {
        sim_app_spec *a = &w->apps[i];
        if (strcmp(a->name, pl->near)) continue;
        if (i == before && !a->server_cores)
            return place_err(y, &pl->pos,
                             "near: '%s' names this application itself, which has no servers "
                             "to be near",
                             pl->near);
        if (i > before)
            return place_err(y, &pl->pos, "near: '%s' is placed after this group; list it earlier",
                             pl->near);
        if (a->server_cores) {
            *g = a->server_cores;
            *n = a->servers;
        } else {
            *g = a->client_cores;
            *n = a->instances;
        }
        if (!*g)
            return place_err(y, &pl->pos, "near: '%s' is placed after this group; list it earlier",
                             pl->near);
        return 0;
    }
    return place_err(y, &pl->pos, "near: no fleet or application is named '%s'", pl->near);
}

int sim_layout(sim_workload *w, FILE *err)
{
    lay y = {.err = err};
    int r = fos_topo_init(&y.topo, &w->cfg.chip);
    if (r != 0) {
        fprintf(err, "%s: the chip's parameters are inconsistent: %s\n", w->source,
                fos_strerror(r));
        return -EINVAL;
    }
    y.used = calloc(y.topo.cores, 1);
    y.nfree = y.topo.cores;
    if (!y.used) {
        fos_topo_fini(&y.topo);
        return -ENOMEM;
    }
    const uint32_t *g = NULL;
    uint32_t ng = 0;
    sim_fleet_spec *nf = &w->name_fleet;
    if (nf->place.kind == SIM_PLACE_NEAR)
        r = place_err(&y, &nf->place.pos, "near: '%s': the name fleet is placed first",
                      nf->place.near);
    if (r == 0) r = place(&y, &nf->place, nf->members, "the name fleet", NULL, 0, &nf->cores);
    if (r == 0) w->cfg.dir_core = nf->cores[0];
    if (r == 0) w->cfg.chan_upgrade_after = nf->upgrade_after;
    /* The OS's fleets, then the applications. */
    for (uint32_t i = 0; i < w->nfleets && r == 0; i++) {
        sim_plugin_fleet *pf = &w->fleets[i];
        char who[64];
        snprintf(who, sizeof who, "the %s fleet", pf->ops->name);
        r = near_group(&y, w, &pf->place, UINT32_MAX, &g, &ng);
        if (r == 0) r = place(&y, &pf->place, pf->members, who, g, ng, &pf->cores);
    }
    for (uint32_t i = 0; i < w->napps && r == 0; i++) {
        sim_app_spec *a = &w->apps[i];
        char who[64];
        bool has_servers = a->kind == SIM_APP_ECHO || a->kind == SIM_APP_NULL_SYSCALL;
        if (has_servers) {
            snprintf(who, sizeof who, "%s's servers", a->name);
            r = near_group(&y, w, &a->server_place, i, &g, &ng);
            if (r == 0) r = place(&y, &a->server_place, a->servers, who, g, ng, &a->server_cores);
            if (r) break;
        }
        if (a->instances_all) {
            a->instances = a->kind == SIM_APP_PINGPONG ? y.nfree / 2 : y.nfree;
            if (a->place.kind == SIM_PLACE_CORES)
                a->instances = a->kind == SIM_APP_PINGPONG ? a->place.ncores / 2 : a->place.ncores;
            if (a->instances == 0) {
                r = place_err(&y, &a->pos, "%s: no cores are left for it", a->name);
                break;
            }
        }
        uint32_t per = a->kind == SIM_APP_PINGPONG ? 2 : 1;
        if (a->kind == SIM_APP_PINGPONG && a->place.kind == SIM_PLACE_CORES &&
            a->place.ncores != 2 * a->instances) {
            r = place_err(&y, &a->place.pos, "%s: %u pairs need %u cores in the placement list",
                          a->name, a->instances, 2 * a->instances);
            break;
        }
        snprintf(who, sizeof who, has_servers ? "%s's clients" : "%s", a->name);
        r = near_group(&y, w, &a->place, i, &g, &ng);
        if (r == 0) r = place(&y, &a->place, per * a->instances, who, g, ng, &a->client_cores);
    }
    free(y.used);
    fos_topo_fini(&y.topo);
    return r;
}
