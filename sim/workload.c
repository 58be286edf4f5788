/* The workload loader: YAML through libfyaml, every value checked against the
 * schema with its line and column, overrides applied to the document before it
 * is read, so a flag is validated exactly like the file. */
#include <errno.h>
#include <inttypes.h>
#include <libfyaml.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fleets/hash.h"
#include "sim/layout.h"
#include "sim/registry.h"
#include "sim/read_file.h"
#include "fos/channel.h"
#include "fos/rpc.h"
#include "sim/workload.h"
#include "fos/error.h"
#include "sim/yaml_load.h"

static const char *const top_keys[] = {"plugins", "chip", "engine", "seed",   "duration", "warmup",
                                       "os",      "apps", "faults", "output", NULL};
static const char *const chip_keys[] = {"cores",
                                        "topology",
                                        "clock",
                                        "cores_per_socket",
                                        "socket_hops",
                                        "max_msg_bytes",
                                        "channel_page_bytes",
                                        "costs",
                                        NULL};
static const char *const engine_names[] = {"virtual", "native", NULL};
static const char *const topo_names[] = {"mesh", "torus", "ring", "full", "numa", NULL};
static const char *const preset_names[] = {"tile", "fos2009", "host", NULL};
/* Every fleet of the design (DESIGN §4), so that a workload naming one that
 * this version lacks is told so rather than told it misspelt it. */
static const char *const fleet_names[] = {"name", "pma",   "pms",      "fs",       "net",
                                          "kv",   "proxy", "blockdev", "watchdog", NULL};
static const char *const fleet_keys[] = {"members", "placement", "upgrade_after", "policy", NULL};
static const char *const policy_names[] = {"round_robin", "nearest", "least_loaded", NULL};
static const char *const kind_names[] = {"echo", "null_syscall", "pingpong", "phold", NULL};
static const char *const mech_names[] = {"mailbox", "channel", NULL};
static const char *const choice_names[] = {"round_robin", "nearest", NULL};
static const char *const loop_names[] = {"closed", "open", NULL};
static const char *const output_keys[] = {"json", "quiet", NULL};

/* Keys each application kind takes; the count key (clients, pairs, cores) is
 * the first after name and kind. */
static const char *const echo_keys[] = {
    "name",          "kind",          "clients", "servers", "placement", "server_placement",
    "mechanism",     "server_choice", "loop",    "rate",    "think",     "operations",
    "request_bytes", "service",       "mix",     NULL};
static const char *const null_keys[] = {
    "name",      "kind",          "clients", "servers", "placement", "server_placement",
    "mechanism", "server_choice", "loop",    "rate",    "think",     "operations",
    NULL};
static const char *const pingpong_keys[] = {"name",      "kind",       "pairs",
                                            "placement", "operations", NULL};
static const char *const phold_keys[] = {"name",       "kind",       "cores", "placement",
                                         "mean_delay", "population", NULL};
static const char *const *const app_keys[] = {echo_keys, null_keys, pingpong_keys, phold_keys};

static const char *const echo_ops[] = {"echo", "ack", NULL};
static const char *const null_ops[] = {"null", NULL};
static const char *const pingpong_ops[] = {"ping", NULL};
static const char *const phold_ops[] = {"event", NULL};

static const char *const plugin_ops[] = {"op", NULL};

const char *const *sim_app_ops(sim_app_kind k)
{
    static const char *const *const ops[] = {echo_ops, null_ops, pingpong_ops, phold_ops,
                                             plugin_ops};
    return (unsigned)k < 5 ? ops[k] : NULL;
}

const char *sim_app_kind_name(sim_app_kind k)
{
    return (unsigned)k < 4 ? kind_names[k] : k == SIM_APP_PLUGIN ? "plugin" : "unknown";
}

const char *sim_app_spec_kind(const sim_app_spec *a)
{
    return a->plugin ? a->plugin->name : sim_app_kind_name(a->kind);
}

/* ---- plugin parameters --------------------------------------------------- */

/* A value of a parameter that comes in units (a memory of whole pages). */
static int in_units(yl *l, struct fy_node *v, const fos_param *d, uint64_t x)
{
    if (!d->unit || x % d->unit == 0) return 0;
    return yl_err(l, v, "%s must be a multiple of %" PRIu64 "%s, got %" PRIu64, d->key, d->unit,
                  d->type == FOS_PARAM_SIZE ? " bytes" : "", x);
}

static int load_pvals(yl *l, struct fy_node *map, const char *owner, const fos_param *decl,
                      sim_pvals *pv)
{
    uint32_t n = 0;
    while (decl && decl[n].key)
        n++;
    pv->u = calloc(n + 1, sizeof(*pv->u));
    pv->s = calloc(n + 1, sizeof(*pv->s));
    if (!pv->u || !pv->s) return -ENOMEM;
    pv->p = (fos_params){decl, pv->u, (const char *const *)pv->s, owner};
    int bad = 0;
    for (uint32_t i = 0; i < n; i++) {
        const fos_param *d = &decl[i];
        struct fy_node *v = yl_get(map, d->key);
        switch (d->type) {
        case FOS_PARAM_INT:
            if (v)
                bad |= yl_u64(l, v, d->min, d->max ? d->max : UINT64_MAX, &pv->u[i])
                           ?: in_units(l, v, d, pv->u[i]);
            else
                pv->u[i] = strtoull(d->def, NULL, 10); /* checked at registration */
            break;
        case FOS_PARAM_TIME:
            if (v)
                bad |= yl_duration(l, v, w_clock(l), &pv->u[i]);
            else if (sim_parse_duration(d->def, w_clock(l), &pv->u[i]) != 0)
                bad = yl_err(l, map, "the default of '%s' (%s) is less than a cycle at this clock",
                             d->key, d->def);
            break;
        case FOS_PARAM_SIZE:
            if (v)
                bad |= yl_size(l, v, d->min, d->max ? d->max : UINT64_MAX, &pv->u[i])
                           ?: in_units(l, v, d, pv->u[i]);
            else
                sim_parse_size(d->def, &pv->u[i]); /* checked at registration */
            break;
        case FOS_PARAM_STR: {
            if (v && d->choices) {
                int k = yl_enum(l, v, d->choices, d->key);
                if (k < 0) {
                    bad = -EINVAL;
                    break;
                }
            }
            const char *s = v ? yl_scalar(l, v, "a string") : d->def;
            if (!s)
                bad = -EINVAL;
            else if (!(pv->s[i] = strdup(s)))
                return -ENOMEM;
            break;
        }
        }
    }
    return bad ? -EINVAL : 0;
}

static void free_pvals(sim_pvals *pv)
{
    for (uint32_t i = 0; pv->s && pv->p.decl && pv->p.decl[i].key; i++)
        free(pv->s[i]);
    free(pv->u);
    free(pv->s);
    memset(pv, 0, sizeof(*pv));
}

/* The keys of a mapping that has fixed ones and a plugin's. */
static int keys_with(const char *const *fixed, const fos_param *decl, const char **out, int cap)
{
    int n = 0;
    for (; fixed && *fixed && n < cap - 1; fixed++)
        out[n++] = *fixed;
    for (int i = 0; decl && decl[i].key && n < cap - 1; i++)
        out[n++] = decl[i].key;
    out[n] = NULL;
    return n;
}

static int load_plugins(yl *l, struct fy_node *n)
{
    if (fy_node_get_type(n) != FYNT_SEQUENCE)
        return yl_err(l, n, "plugins: expected a list of shared objects");
    int bad = 0;
    void *it = NULL;
    struct fy_node *p;
    while ((p = fy_node_sequence_iterate(n, &it))) {
        const char *path = yl_scalar(l, p, "a plugin's path");
        if (!path) {
            bad = -EINVAL;
            continue;
        }
        /* The loader says what went wrong; this line says where it was asked for. */
        if (sim_plugin_load(path, l->err) != 0)
            bad = yl_err(l, p, "plugin '%s' could not be loaded (see above)", path);
    }
    return bad;
}

static const char *const fault_keys[] = {"kill", "at", "when", "drop", "delay", NULL};
static const char *const match_keys[] = {"src", "dst", "type", NULL};
static const char *const drop_keys[] = {"src", "dst", "type", "probability", NULL};
static const char *const delay_keys[] = {"src", "dst", "type", "probability", "by", NULL};

/* ---- the chip ---------------------------------------------------------- */

static int load_clock(yl *l, struct fy_node *n, uint64_t *hz)
{
    const char *s = yl_scalar(l, n, "a clock rate (Hz, or a number with kHz, MHz or GHz)");
    if (!s) return -EINVAL;
    char *end;
    double v = strtod(s, &end);
    while (*end == ' ')
        end++;
    double mul = !*end                 ? 1
                 : !strcmp(end, "Hz")  ? 1
                 : !strcmp(end, "kHz") ? 1e3
                 : !strcmp(end, "MHz") ? 1e6
                 : !strcmp(end, "GHz") ? 1e9
                                       : -1;
    if (!sim_decimal_text(s) || end == s || mul < 0 || !isfinite(v) || v * mul < 1e6 ||
        v * mul > 1e11)
        return yl_err(l, n, "expected a clock rate from 1 MHz to 100 GHz (e.g. 2.6GHz), got '%s'",
                      s);
    /* Whole Hz: cycles and ns convert by it exactly. (2.6 GHz is 2.6e9 to
     * within a double's rounding, far below a thousandth of a Hz.) */
    double hzv = v * mul;
    *hz = (uint64_t)llround(hzv);
    if (fabs(hzv - (double)*hz) > 1e-3)
        return yl_err(l, n, "a clock rate is a whole number of Hz, got '%s' (%.3f Hz)", s, hzv);
    return 0;
}

/* costs: a preset name, or a mapping of a preset and any keys it changes. */
static int load_costs(yl *l, struct fy_node *n, sim_workload *w)
{
    fos_costs *c = &w->cfg.chip.costs;
    struct fy_node *preset = n;
    if (fy_node_get_type(n) == FYNT_MAPPING)
        preset = fy_node_mapping_lookup_by_string(n, "preset", -1);
    if (preset) {
        int i = yl_enum(l, preset, preset_names, "cost preset");
        if (i < 0) return -EINVAL;
        int r = fos_costs_preset(preset_names[i], c);
        if (r != 0)
            return yl_err(l, preset, "cost preset '%s' failed: %s", preset_names[i],
                          fos_strerror(r));
        snprintf(w->costs_preset, sizeof w->costs_preset, "%s", preset_names[i]);
    }
    if (fy_node_get_type(n) != FYNT_MAPPING) return 0;
    const char *keys[32];
    size_t k = 0;
    keys[k++] = "preset";
    for (const char *const *p = fos_costs_keys; *p && k < 31; p++)
        keys[k++] = *p;
    keys[k] = NULL;
    int bad = yl_check_keys(l, n, keys, "chip.costs");
    void *it = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(n, &it))) {
        const char *key = fy_node_get_scalar0(fy_node_pair_key(pair));
        struct fy_node *v = fy_node_pair_value(pair);
        if (!key || !strcmp(key, "preset") || yl_index(keys, key) < 0) continue;
        if (!strcmp(key, "copy_per_byte")) {
            double d;
            if (yl_double(l, v, 0, 1 << 20, &d)) {
                bad = -EINVAL;
                continue;
            }
            /* The table keeps 1/256ths of a cycle: the nearest, said when it
             * is not what was asked, refused when it would be none. */
            uint64_t q8 = (uint64_t)llround(d * 256);
            if (d > 0 && q8 == 0) {
                bad = yl_err(l, v,
                             "copy_per_byte %g would be 0 in the table's steps of 1/256 of a "
                             "cycle: give 0, or 0.001953125 (half a step) or more",
                             d);
                continue;
            }
            if ((double)q8 != d * 256) {
                sim_srcpos pos;
                yl_pos(l, v, &pos);
                fprintf(l->err,
                        "%s: note: copy_per_byte %.10g is kept as %" PRIu64 "/256 = %.10g cycles\n",
                        pos.where, d, q8, (double)q8 / 256);
            }
            fos_costs_set(c, key, q8);
            continue;
        }
        uint64_t x;
        /* A lost send that times out at once would fail every send the
         * fault rules drop before its answer could come. */
        uint64_t min = !strcmp(key, "send_timeout") ? 1 : 0;
        if (yl_u64(l, v, min, UINT32_MAX * 1024ull, &x))
            bad = -EINVAL;
        else
            fos_costs_set(c, key, x);
    }
    return bad;
}

/* A send timeout shorter than a round trip across the chip is allowed (a
 * lost send may be meant to time out soon), but the built-in clients wait
 * that long for a reply and would count every far one lost: said. */
static void note_short_timeout(yl *l, struct fy_node *at, const fos_topo_params *p)
{
    fos_topo t;
    if (fos_topo_init(&t, p) != 0) return; /* sim_layout says why */
    /* From core 0, a corner: the chip's diameter, or (a mesh's or torus's
     * partial last row) close to it, and a figure the note can state exactly. */
    fos_cycles far = 0;
    fos_core_id to = 0;
    for (fos_core_id d = 1; d < t.cores; d++) {
        fos_cycles lat = fos_topo_latency(&t, 0, d, sizeof(fos_msg));
        if (lat > far) {
            far = lat;
            to = d;
        }
    }
    fos_topo_fini(&t);
    fos_cycles rtt = 2 * far;
    if (p->costs.send_timeout >= rtt) return;
    char where[sizeof(sim_srcpos){0}.where];
    if (at) {
        sim_srcpos pos;
        yl_pos(l, at, &pos);
        snprintf(where, sizeof where, "%s", pos.where);
    } else {
        snprintf(where, sizeof where, "%s", l->w->source);
    }
    fprintf(l->err,
            "%s: note: send_timeout (%" PRIu64 " cycles) is shorter than a round trip from core "
            "0 to core %u (%" PRIu64 " cycles for an empty message): the built-in clients will "
            "count replies from far servers as lost\n",
            where, p->costs.send_timeout, to, rtt);
}

static int load_chip(yl *l, struct fy_node *chip, sim_workload *w)
{
    fos_topo_params *p = &w->cfg.chip;
    int bad = yl_check_keys(l, chip, chip_keys, "chip");
    struct fy_node *v;
    uint64_t x;
    if ((v = yl_get(chip, "cores")))
        bad |= yl_u64(l, v, 2, 1u << 16, &x) ?: (p->cores = (uint32_t)x, 0);
    if ((v = yl_get(chip, "topology"))) {
        int i = yl_enum(l, v, topo_names, "topology");
        if (i < 0)
            bad = -EINVAL;
        else
            fos_topo_kind_parse(topo_names[i], &p->kind);
    }
    if ((v = yl_get(chip, "clock"))) bad |= load_clock(l, v, &p->clock_hz);
    if ((v = yl_get(chip, "cores_per_socket")))
        bad |= yl_u64(l, v, 1, 1u << 16, &x) ?: (p->cores_per_socket = (uint32_t)x, 0);
    if ((v = yl_get(chip, "socket_hops")))
        bad |= yl_u64(l, v, 1, 1024, &x) ?: (p->socket_hops = (uint32_t)x, 0);
    /* A flag may make a numa chip something else: said, not silent. */
    static const char *const numa_only[] = {"cores_per_socket", "socket_hops"};
    for (int i = 0; i < 2; i++)
        if (p->kind != FOS_TOPO_NUMA && (v = yl_get(chip, numa_only[i]))) {
            sim_srcpos pos;
            yl_pos(l, v, &pos);
            fprintf(l->err,
                    "%s: note: %s applies to numa chips only; this one is %s, so it is not used\n",
                    pos.where, numa_only[i], fos_topo_kind_name(p->kind));
        }
    if ((v = yl_get(chip, "max_msg_bytes")))
        bad |=
            yl_u64(l, v, FOS_RPC_MAX_BYTES, SIM_MAX_MSG_BYTES, &x) ?: (w->cfg.max_msg_bytes = x, 0);
    if ((v = yl_get(chip, "channel_page_bytes"))) {
        if (yl_u64(l, v, 128, FOS_CHAN_PAGE_MAX, &x))
            bad = -EINVAL;
        else if (x % 64)
            bad = yl_err(l, v, "channel_page_bytes must be a multiple of 64 (a slot), got %" PRIu64,
                         x);
        else
            w->cfg.chan_page_bytes = x;
    }
    if ((v = yl_get(chip, "costs"))) bad |= load_costs(l, v, w);
    /* The host's costs are TSC cycles: at a 1 GHz clock every time in ns
     * would be off by the TSC's rate. A clock given is kept. */
    if (!strcmp(w->costs_preset, "host") && !yl_get(chip, "clock"))
        p->clock_hz = sim_native_cycles_per_s();
    /* The engine's window is the cheapest message between two cores (DESIGN
     * §2 rule 5): costs that make it free would never let time advance. */
    const fos_costs *c = &p->costs;
    fos_cycles cheapest = c->trap < c->chan_slot_write ? c->trap : c->chan_slot_write;
    const char *zero = c->trap == 0 ? "trap" : "chan_slot_write";
    /* Placed at the zero that was given (a --set, say), else at the costs. */
    struct fy_node *at = v ? yl_get(v, zero) : NULL;
    if (!at && v) at = yl_get(v, "hop");
    if (!bad && cheapest == 0 && c->hop == 0)
        bad = yl_err(l,
                     at  ? at
                     : v ? v
                         : chip,
                     "chip.costs: hop is 0 and so is %s, so a message between two cores could "
                     "take no time and the engine's lookahead would be 0; give one of them at "
                     "least 1 cycle",
                     zero);
    if (!bad) note_short_timeout(l, v ? yl_get(v, "send_timeout") : NULL, p);
    return bad ? -EINVAL : 0;
}

/* ---- placement --------------------------------------------------------- */

/* spread | compact | {near: NAME} | [core, ...] */
static int load_placement(yl *l, struct fy_node *n, sim_placement *pl)
{
    yl_pos(l, n, &pl->pos);
    switch (fy_node_get_type(n)) {
    case FYNT_SCALAR: {
        static const char *const pol[] = {"spread", "compact", NULL};
        int i = yl_enum(l, n, pol, "placement (spread, compact, {near: NAME} or a list of cores)");
        if (i < 0) return -EINVAL;
        pl->kind = i == 0 ? SIM_PLACE_SPREAD : SIM_PLACE_COMPACT;
        return 0;
    }
    case FYNT_MAPPING: {
        static const char *const keys[] = {"near", NULL};
        if (yl_check_keys(l, n, keys, "placement")) return -EINVAL;
        struct fy_node *v = yl_get(n, "near");
        if (!v) return yl_err(l, n, "placement mapping needs 'near: NAME'");
        const char *s = yl_scalar(l, v, "a fleet or application name");
        if (!s) return -EINVAL;
        if (strlen(s) >= SIM_NAME_LEN) return yl_err(l, v, "name '%s' is too long", s);
        pl->kind = SIM_PLACE_NEAR;
        snprintf(pl->near, sizeof pl->near, "%s", s);
        return 0;
    }
    case FYNT_SEQUENCE: {
        int cnt = fy_node_sequence_item_count(n);
        if (cnt <= 0) return yl_err(l, n, "placement: an empty list of cores");
        pl->kind = SIM_PLACE_CORES;
        pl->cores = calloc((size_t)cnt, sizeof(uint32_t));
        if (!pl->cores) return -ENOMEM;
        pl->ncores = (uint32_t)cnt;
        int bad = 0;
        void *it = NULL;
        struct fy_node *c;
        for (int i = 0; i < cnt && (c = fy_node_sequence_iterate(n, &it)); i++) {
            uint64_t x = 0;
            bad |= yl_u64(l, c, 0, UINT32_MAX - 1, &x);
            pl->cores[i] = (uint32_t)x;
        }
        return bad ? -EINVAL : 0;
    }
    default:
        return yl_err(l, n,
                      "expected a placement (spread, compact, {near: NAME} or a list of cores)");
    }
}

/* ---- os ---------------------------------------------------------------- */

static int load_os(yl *l, struct fy_node *os, sim_workload *w)
{
    if (fy_node_get_type(os) != FYNT_MAPPING)
        return yl_err(l, os, "os: expected a mapping of fleets");
    /* Registered fleets first: a plugin may prototype one the design names. */
    const char *names[96];
    int nn = 0;
    for (void *it = NULL; nn < 64;) {
        struct fy_node_pair *pair = fy_node_mapping_iterate(os, &it);
        if (!pair) break;
        const char *k = fy_node_get_scalar0(fy_node_pair_key(pair));
        if (k && sim_registry_fleet(k)) names[nn++] = k;
    }
    for (int i = 0; fleet_names[i]; i++)
        names[nn++] = fleet_names[i];
    names[nn] = NULL;
    int bad = yl_check_keys(l, os, names, "os");
    uint32_t nplug = 0;
    void *it = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(os, &it)))
        nplug += sim_registry_fleet(fy_node_get_scalar0(fy_node_pair_key(pair)) ?: "") != NULL;
    if (nplug && !(w->fleets = calloc(nplug, sizeof(*w->fleets)))) return -ENOMEM;
    it = NULL;
    while ((pair = fy_node_mapping_iterate(os, &it))) {
        struct fy_node *key = fy_node_pair_key(pair), *v = fy_node_pair_value(pair);
        const char *k = fy_node_get_scalar0(key);
        if (!k || yl_index(names, k) < 0) continue;
        const sim_reg_fleet *rf = sim_registry_fleet(k);
        if (rf) {
            sim_plugin_fleet *pf = &w->fleets[w->nfleets++];
            pf->ops = rf->ops;
            pf->members = 1;
            pf->place.kind = SIM_PLACE_SPREAD;
            yl_pos(l, key, &pf->pos);
            pf->place.pos = pf->pos;
            if (v && yl_is_null(v)) v = NULL; /* `lockd:` alone: every default */
            if (v && fy_node_get_type(v) != FYNT_MAPPING) {
                bad = yl_err(l, v, "os.%s: expected a mapping (members, placement, ...)", k);
                continue;
            }
            const char *fk[64];
            keys_with((const char *const[]){"members", "placement", NULL}, rf->ops->params, fk, 64);
            char what[64];
            snprintf(what, sizeof what, "os.%s", k);
            if (v) bad |= yl_check_keys(l, v, fk, what);
            struct fy_node *x;
            uint64_t u;
            if ((x = yl_get(v, "members")))
                bad |= yl_u64(l, x, 1, FOS_FLEET_MAX, &u) ?: (pf->members = (uint32_t)u, 0);
            if ((x = yl_get(v, "placement"))) bad |= load_placement(l, x, &pf->place);
            int r = load_pvals(l, v, rf->ops->name, rf->ops->params, &pf->params);
            if (r == -ENOMEM) return r;
            bad |= r;
            continue;
        }
        if (strcmp(k, "name")) {
            bad = yl_err(l, key,
                         "fleet '%s' is not part of this version of fossim yet (no plugin "
                         "registered it)",
                         k);
            continue;
        }
        sim_fleet_spec *f = &w->name_fleet;
        yl_pos(l, key, &f->pos);
        f->place.pos = f->pos;
        if (fy_node_get_type(v) != FYNT_MAPPING) {
            bad = yl_err(l, v ? v : key, "os.name: expected a mapping");
            continue;
        }
        bad |= yl_check_keys(l, v, fleet_keys, "os.name");
        struct fy_node *x;
        uint64_t u;
        if ((x = yl_get(v, "members")))
            bad |= yl_u64(l, x, 1, FOS_FLEET_MAX, &u) ?: (f->members = (uint32_t)u, 0);
        int pi;
        if ((x = yl_get(v, "policy")))
            bad |= (pi = yl_enum(l, x, policy_names, "name policy")) < 0 ? -EINVAL
                                                                         : (f->policy = pi, 0);
        if ((x = yl_get(v, "placement"))) bad |= load_placement(l, x, &f->place);
        if ((x = yl_get(v, "upgrade_after")))
            bad |= yl_u64(l, x, 0, UINT32_MAX, &u) ?: (f->upgrade_after = (uint32_t)u, 0);
    }
    return bad ? -EINVAL : 0;
}

/* ---- apps -------------------------------------------------------------- */

static int load_mix(yl *l, struct fy_node *n, sim_app_spec *a)
{
    const char *const *ops = sim_app_ops(a->kind);
    if (fy_node_get_type(n) != FYNT_MAPPING)
        return yl_err(l, n, "mix: expected a mapping of operation to weight");
    char what[64];
    snprintf(what, sizeof what, "the mix of %s", sim_app_kind_name(a->kind));
    int bad = yl_check_keys(l, n, ops, what);
    memset(a->mix, 0, sizeof a->mix);
    uint64_t total = 0, x;
    for (int i = 0; ops[i]; i++) {
        struct fy_node *v = yl_get(n, ops[i]);
        if (!v) continue;
        if (yl_u64(l, v, 0, 1u << 20, &x)) {
            bad = -EINVAL;
            continue;
        }
        a->mix[i] = (uint32_t)x;
        total += x;
    }
    if (!bad && total == 0) return yl_err(l, n, "mix: every weight is 0");
    return bad;
}

/* An application kind a plugin registered: the keys every application has,
 * and its own. */

/* An application's name heads a row of the report and keys its figures in the
 * JSON: printable ASCII, no '/' and no spaces, and said once when it is not. */
static int load_name(yl *l, struct fy_node *v, char out[SIM_NAME_LEN])
{
    const char *s = yl_scalar(l, v, "a name");
    if (!s) return -EINVAL;
    bool ok = *s && strlen(s) < SIM_NAME_LEN;
    for (const unsigned char *p = (const unsigned char *)s; ok && *p; p++)
        ok = *p > ' ' && *p < 0x7f && *p != '/';
    if (!ok)
        return yl_err(l, v, "name: expected 1 to %d printable characters, without '/' or spaces",
                      SIM_NAME_LEN - 1);
    snprintf(out, SIM_NAME_LEN, "%s", s);
    return 0;
}

static bool have_fleet(const yl *l, const char *name)
{
    for (uint32_t i = 0; i < l->w->nfleets; i++)
        if (!strcmp(l->w->fleets[i].ops->name, name)) return true;
    return false;
}

static int load_plugin_app(yl *l, struct fy_node *n, sim_app_spec *a, const sim_reg_app *ra)
{
    const fos_app_kind *pk = ra->kind;
    static const char *const common[] = {"name",       "kind",  "clients", "placement",
                                         "operations", "think", NULL};
    const char *keys[64];
    keys_with(common, pk->params, keys, 64);
    int bad = yl_check_keys(l, n, keys, pk->name);
    a->kind = SIM_APP_PLUGIN;
    a->plugin = pk;
    snprintf(a->name, sizeof a->name, "%s", pk->name);
    a->instances = 1;
    a->place.kind = SIM_PLACE_SPREAD;
    a->place.pos = a->pos;
    a->operations = 1000;
    a->mix[0] = 1;
    struct fy_node *v;
    uint64_t x;
    if ((v = yl_get(n, "name"))) bad |= load_name(l, v, a->name);
    if ((v = yl_get(n, "clients"))) {
        const char *s = fy_node_get_type(v) == FYNT_SCALAR ? fy_node_get_scalar0(v) : NULL;
        if (s && !strcmp(s, "all"))
            a->instances_all = true;
        else
            bad |= yl_u64(l, v, 1, 1u << 20, &x) ?: (a->instances = (uint32_t)x, 0);
    }
    if ((v = yl_get(n, "placement"))) bad |= load_placement(l, v, &a->place);
    if ((v = yl_get(n, "operations"))) bad |= yl_u64(l, v, 0, UINT64_MAX / 4, &a->operations);
    if ((v = yl_get(n, "think"))) bad |= yl_duration(l, v, w_clock(l), &a->think);
    int r = load_pvals(l, n, pk->name, pk->params, &a->params);
    if (r == -ENOMEM) return r;
    bad |= r;
    /* Both missing fleets are named at once, not one per try. */
    bool keys_ok = !bad;
    if (keys_ok && pk->needs_fleet && !have_fleet(l, pk->needs_fleet))
        bad = yl_err(l, n, "%s needs the fleet '%s': add it under os:", pk->name, pk->needs_fleet);
    uint64_t pv = keys_ok && ra->param ? fos_params_u64(&a->params.p, ra->param) : 0;
    if (pv && !have_fleet(l, ra->fleet)) {
        struct fy_node *at = yl_get(n, ra->param);
        bad = yl_err(l, at ? at : n,
                     "%s's %s (%" PRIu64 "%s) need the fleet '%s': add it under os:, or set %s: 0",
                     pk->name, ra->param, pv, at ? "" : ", the default", ra->fleet, ra->param);
    }
    return bad ? -EINVAL : 0;
}

static int load_app(yl *l, struct fy_node *n, sim_app_spec *a, uint32_t idx)
{
    char what[48];
    snprintf(what, sizeof what, "apps[%u]", idx);
    if (fy_node_get_type(n) != FYNT_MAPPING) return yl_err(l, n, "%s: expected a mapping", what);
    yl_pos(l, n, &a->pos);
    struct fy_node *v = yl_get(n, "kind");
    if (!v)
        return yl_err(l, n,
                      "%s: missing 'kind' (one of echo, null_syscall, pingpong, phold, or a "
                      "plugin's: fossim --list)",
                      what);
    const char *ks = fy_node_get_type(v) == FYNT_SCALAR ? fy_node_get_scalar0(v) : NULL;
    const sim_reg_app *ra = ks && yl_index(kind_names, ks) < 0 ? sim_registry_app(ks) : NULL;
    if (ra) return load_plugin_app(l, n, a, ra);
    int k = yl_enum(l, v, kind_names, "application kind");
    if (k < 0) return -EINVAL;
    a->kind = (sim_app_kind)k;
    const char *const *keys = app_keys[k];
    int bad = yl_check_keys(l, n, keys, kind_names[k]);
    snprintf(a->name, sizeof a->name, "%s", kind_names[k]);
    if ((v = yl_get(n, "name"))) bad |= load_name(l, v, a->name);
    /* Defaults per kind. */
    a->instances = 1;
    a->servers = 1;
    a->place.kind = a->kind == SIM_APP_PINGPONG ? SIM_PLACE_COMPACT : SIM_PLACE_SPREAD;
    a->server_place.kind = SIM_PLACE_SPREAD;
    a->request_bytes = a->kind == SIM_APP_ECHO ? 64 : 0;
    a->mix[0] = 1;
    a->mean_delay = 100;
    a->population = 1;
    a->operations = a->kind == SIM_APP_PHOLD ? 0 : 1000;
    if (a->kind == SIM_APP_PHOLD) a->instances_all = true;

    /* Placement errors without a placement key point at the application. */
    a->place.pos = a->server_place.pos = a->pos;
    const char *count_key = keys[2];
    uint64_t x;
    if ((v = yl_get(n, count_key))) {
        const char *s = fy_node_get_type(v) == FYNT_SCALAR ? fy_node_get_scalar0(v) : NULL;
        if (s && !strcmp(s, "all")) {
            a->instances_all = true;
        } else if (yl_u64(l, v, 1, 1u << 20, &x) == 0) {
            a->instances = (uint32_t)x;
            a->instances_all = false;
        } else {
            bad = -EINVAL;
        }
    }
    if ((v = yl_get(n, "servers")))
        bad |= yl_u64(l, v, 1, 1u << 20, &x) ?: (a->servers = (uint32_t)x, 0);
    if ((v = yl_get(n, "placement"))) bad |= load_placement(l, v, &a->place);
    if ((v = yl_get(n, "server_placement"))) bad |= load_placement(l, v, &a->server_place);
    int i;
    if ((v = yl_get(n, "mechanism")))
        bad |= (i = yl_enum(l, v, mech_names, "mechanism")) < 0 ? -EINVAL
                                                                : (a->mechanism = (sim_mech)i, 0);
    if ((v = yl_get(n, "server_choice")))
        bad |= (i = yl_enum(l, v, choice_names, "server choice")) < 0
                   ? -EINVAL
                   : (a->server_choice = (sim_choice)i, 0);
    if ((v = yl_get(n, "loop")))
        bad |= (i = yl_enum(l, v, loop_names, "loop")) < 0 ? -EINVAL : (a->open_loop = i == 1, 0);
    if ((v = yl_get(n, "rate"))) bad |= yl_u64(l, v, 1, UINT32_MAX * 1000ull, &a->rate_per_sim_s);
    if ((v = yl_get(n, "think"))) bad |= yl_duration(l, v, w_clock(l), &a->think);
    if ((v = yl_get(n, "operations"))) bad |= yl_u64(l, v, 0, UINT64_MAX / 4, &a->operations);
    if ((v = yl_get(n, "request_bytes")))
        bad |= yl_u64(l, v, 0, 1u << 20, &x) ?: (a->request_bytes = (uint32_t)x, 0);
    if ((v = yl_get(n, "service"))) bad |= yl_duration(l, v, w_clock(l), &a->service);
    if ((v = yl_get(n, "mix"))) bad |= load_mix(l, v, a);
    if ((v = yl_get(n, "mean_delay"))) bad |= yl_duration(l, v, w_clock(l), &a->mean_delay);
    if ((v = yl_get(n, "population")))
        bad |= yl_u64(l, v, 1, 64, &x) ?: (a->population = (uint32_t)x, 0);
    if (bad) return -EINVAL;

    if (a->open_loop && !yl_get(n, "rate"))
        return yl_err(l, yl_get(n, "loop"),
                      "an open loop needs 'rate' (requests per simulated "
                      "second, per client)");
    if (!a->open_loop && yl_get(n, "rate"))
        return yl_err(l, yl_get(n, "rate"), "'rate' applies to an open loop only (loop: open)");
    if (a->open_loop && a->think)
        return yl_err(l, yl_get(n, "think"), "'think' applies to a closed loop only");
    size_t max = l->w->cfg.max_msg_bytes;
    if (sizeof(fos_msg) + a->request_bytes > max)
        return yl_err(l, yl_get(n, "request_bytes") ? yl_get(n, "request_bytes") : n,
                      "a request of %u bytes%s and its %zu-byte header exceed the chip's "
                      "max_msg_bytes (%zu)",
                      a->request_bytes, yl_get(n, "request_bytes") ? "" : " (the default)",
                      sizeof(fos_msg), max);
    if (a->kind == SIM_APP_PINGPONG && a->operations == 0)
        return yl_err(l, yl_get(n, "operations"), "pingpong needs at least one round trip");
    return 0;
}

static int load_apps(yl *l, struct fy_node *apps, sim_workload *w)
{
    if (fy_node_get_type(apps) != FYNT_SEQUENCE)
        return yl_err(l, apps, "apps: expected a list of applications");
    int cnt = fy_node_sequence_item_count(apps);
    if (cnt == 0) return yl_err(l, apps, "apps: the list is empty: nothing would run");
    w->apps = calloc((size_t)cnt, sizeof(*w->apps));
    if (!w->apps) return -ENOMEM;
    w->napps = (uint32_t)cnt;
    /* The names seen so far, an open-addressed set of app indexes (a list of
     * thousands of applications must not cost a comparison per pair). */
    uint32_t nslot = 2;
    while (nslot < 2 * (uint32_t)cnt)
        nslot *= 2;
    uint32_t *seen = malloc(nslot * sizeof(*seen));
    if (!seen) return -ENOMEM;
    memset(seen, 0xff, nslot * sizeof(*seen));
    int bad = 0;
    void *it = NULL;
    struct fy_node *n;
    for (int i = 0; i < cnt && (n = fy_node_sequence_iterate(apps, &it)); i++) {
        bad |= load_app(l, n, &w->apps[i], (uint32_t)i);
        if (bad) continue;
        const char *name = w->apps[i].name;
        size_t h = fleets_hash_str(name);
        for (h &= nslot - 1; seen[h] != UINT32_MAX; h = (h + 1) & (nslot - 1))
            if (!strcmp(w->apps[seen[h]].name, name)) break;
        if (seen[h] != UINT32_MAX)
            bad = yl_err(l, yl_get(n, "name") ? yl_get(n, "name") : n,
                         "two applications are named '%s': give each a 'name'", name);
        else
            seen[h] = (uint32_t)i;
        if (!bad && (!strcmp(name, "name")))
            bad = yl_err(l, n, "an application may not be named 'name' (the name fleet is)");
    }
    free(seen);
    return bad ? -EINVAL : 0;
}

/* ---- faults ------------------------------------------------------------ */

static int load_core_or_any(yl *l, struct fy_node *v, fos_core_id *out)
{
    const char *s = fy_node_get_type(v) == FYNT_SCALAR ? fy_node_get_scalar0(v) : NULL;
    if (s && !strcmp(s, "any")) {
        *out = FOS_CORE_NONE;
        return 0;
    }
    uint64_t x;
    if (yl_u64(l, v, 0, l->w->cfg.chip.cores - 1, &x)) return -EINVAL;
    *out = (fos_core_id)x;
    return 0;
}

static int load_match(yl *l, struct fy_node *n, const char *const *keys, const char *what,
                      sim_fault_spec *f)
{
    if (fy_node_get_type(n) != FYNT_MAPPING)
        return yl_err(l, n, "%s: expected a mapping of src, dst, type", what);
    int bad = yl_check_keys(l, n, keys, what);
    f->match = (sim_match){.src = FOS_CORE_NONE, .dst = FOS_CORE_NONE, .any_type = true};
    f->per_million = 1000000;
    struct fy_node *v;
    if ((v = yl_get(n, "src"))) bad |= load_core_or_any(l, v, &f->match.src);
    if ((v = yl_get(n, "dst"))) bad |= load_core_or_any(l, v, &f->match.dst);
    if ((v = yl_get(n, "type"))) {
        const char *s = fy_node_get_type(v) == FYNT_SCALAR ? fy_node_get_scalar0(v) : NULL;
        uint64_t x;
        if (!(s && !strcmp(s, "any"))) {
            if (yl_u64(l, v, 0, UINT32_MAX, &x))
                bad = -EINVAL;
            else
                f->match.type = (uint32_t)x, f->match.any_type = false;
        }
    }
    if ((v = yl_get(n, "probability"))) {
        double p;
        if (yl_double(l, v, 0, 1, &p))
            bad = -EINVAL;
        else if (p > 0 && llround(p * 1e6) == 0)
            /* Rules draw per million: this one would never fire. */
            bad = yl_err(l, v,
                         "probability %g is below one in a million, which rules resolve "
                         "to; it would never fire",
                         p);
        else
            f->per_million = (uint32_t)llround(p * 1e6);
    }
    if ((v = yl_get(n, "by"))) bad |= yl_duration(l, v, w_clock(l), &f->by);
    return bad;
}

static int load_fault(yl *l, struct fy_node *n, sim_fault_spec *f)
{
    if (fy_node_get_type(n) != FYNT_MAPPING)
        return yl_err(l, n, "faults: each fault is a mapping (kill, drop or delay)");
    yl_pos(l, n, &f->pos);
    int bad = yl_check_keys(l, n, fault_keys, "a fault");
    if (bad) return bad;
    struct fy_node *kill = yl_get(n, "kill"), *drop = yl_get(n, "drop"),
                   *delay = yl_get(n, "delay");
    if (!!kill + !!drop + !!delay != 1)
        return yl_err(l, n, "a fault is exactly one of kill, drop or delay");
    struct fy_node *at = yl_get(n, "at"), *when = yl_get(n, "when");
    if (kill) {
        uint64_t x;
        if (yl_u64(l, kill, 0, l->w->cfg.chip.cores - 1, &x)) return -EINVAL;
        f->core = (fos_core_id)x;
        if (!!at == !!when)
            return yl_err(l, kill,
                          "kill needs exactly one of 'at: TIME' or 'when: {src, dst, type}'");
        if (at) {
            f->kind = SIM_FAULT_KILL_AT;
            return yl_duration(l, at, w_clock(l), &f->at);
        }
        f->kind = SIM_FAULT_KILL_ON;
        return load_match(l, when, match_keys, "when", f);
    }
    if (at || when) return yl_err(l, at ? at : when, "'at' and 'when' go with kill only");
    if (drop) {
        f->kind = SIM_FAULT_DROP;
        return load_match(l, drop, drop_keys, "drop", f);
    }
    f->kind = SIM_FAULT_DELAY;
    if (load_match(l, delay, delay_keys, "delay", f)) return -EINVAL;
    if (!yl_get(delay, "by")) return yl_err(l, delay, "delay needs 'by: TIME'");
    return 0;
}

static int load_faults(yl *l, struct fy_node *n, sim_workload *w)
{
    if (fy_node_get_type(n) != FYNT_SEQUENCE) return yl_err(l, n, "faults: expected a list");
    int cnt = fy_node_sequence_item_count(n);
    if (cnt > SIM_FAULT_RULES_MAX)
        return yl_err(l, n, "faults: at most %d rules, got %d", SIM_FAULT_RULES_MAX, cnt);
    if (cnt == 0) return 0;
    w->faults = calloc((size_t)cnt, sizeof(*w->faults));
    if (!w->faults) return -ENOMEM;
    w->nfaults = (uint32_t)cnt;
    int bad = 0;
    void *it = NULL;
    struct fy_node *f;
    for (int i = 0; i < cnt && (f = fy_node_sequence_iterate(n, &it)); i++)
        bad |= load_fault(l, f, &w->faults[i]);
    return bad ? -EINVAL : 0;
}

/* ---- the whole workload ------------------------------------------------ */

static int root_not_mapping(yl *l, struct fy_node *root)
{
    return yl_err(l, root, "a workload is a mapping (chip, engine, seed, duration, os, apps, ...)");
}

static int load_root(yl *l, struct fy_node *root, sim_workload *w)
{
    if (!root || fy_node_get_type(root) != FYNT_MAPPING) return root_not_mapping(l, root);
    int bad = yl_check_keys(l, root, top_keys, "the workload");
    struct fy_node *v;
    int i;
    /* Plugins first: the fleets and kinds they bring are what os: and apps: name. */
    if ((v = yl_get(root, "plugins")) && load_plugins(l, v)) return -EINVAL;
    /* The chip first: durations are converted at its clock, cores bound the rest. */
    if ((v = yl_get(root, "chip"))) {
        if (fy_node_get_type(v) != FYNT_MAPPING)
            bad = yl_err(l, v, "chip: expected a mapping");
        else if (load_chip(l, v, w))
            return -EINVAL;
    }
    if ((v = yl_get(root, "engine")))
        bad |= (i = yl_enum(l, v, engine_names, "engine")) < 0
                   ? -EINVAL
                   : (w->cfg.engine = i ? SIM_ENGINE_NATIVE : SIM_ENGINE_VIRTUAL, 0);
    if ((v = yl_get(root, "seed"))) bad |= yl_u64(l, v, 0, UINT64_MAX, &w->cfg.seed);
    if ((v = yl_get(root, "duration"))) bad |= yl_duration(l, v, w_clock(l), &w->cfg.duration);
    bool warmup_given = false;
    if ((v = yl_get(root, "warmup"))) {
        bad |= yl_duration(l, v, w_clock(l), &w->warmup);
        warmup_given = true;
    }
    if ((v = yl_get(root, "os"))) bad |= load_os(l, v, w);
    if ((v = yl_get(root, "apps")))
        bad |= load_apps(l, v, w);
    else if (!bad)
        bad = yl_err(l, root, "the workload has no 'apps': nothing would run");
    if ((v = yl_get(root, "faults"))) bad |= load_faults(l, v, w);
    if ((v = yl_get(root, "output"))) {
        if (fy_node_get_type(v) != FYNT_MAPPING) {
            bad = yl_err(l, v, "output: expected a mapping (json, quiet)");
        } else {
            bad |= yl_check_keys(l, v, output_keys, "output");
            struct fy_node *x;
            if ((x = yl_get(v, "json"))) {
                const char *s = yl_scalar(l, x, "a file name");
                if (!s)
                    bad = -EINVAL; /* said by yl_scalar */
                else if (!*s)
                    bad = yl_err(l, x, "output.json: expected a file name, got an empty string");
                else if (!(w->json_path = strdup(s)))
                    return -ENOMEM;
                else
                    yl_pos(l, x, &w->json_pos);
            }
            if ((x = yl_get(v, "quiet"))) bad |= yl_bool(l, x, &w->quiet);
        }
    }
    if (bad) return -EINVAL;

    /* Checks across sections. */
    fos_cycles d = w->cfg.duration;
    struct fy_node *wn = yl_get(root, "warmup");
    if (warmup_given && d && w->warmup >= d && yl_overridden(l, yl_get(root, "duration")) &&
        !yl_overridden(l, wn)) {
        /* A shorter run asked for on the command line keeps the default
         * proportion rather than failing on the file's warmup; said, not silent. */
        fprintf(l->err,
                "fossim: note: the workload's warmup (%" PRIu64 " cycles) is not shorter than "
                "the duration given on the command line (%" PRIu64 " cycles); using 10%%: %" PRIu64
                " cycles\n",
                w->warmup, d, d / 10);
        w->warmup = d / 10;
    }
    if (warmup_given && d && w->warmup >= d)
        return yl_err(l, wn,
                      "warmup (%" PRIu64 " cycles) must be shorter than the duration (%" PRIu64
                      " cycles)",
                      w->warmup, d);
    if (!warmup_given) w->warmup = d / 10;
    if (!d) {
        for (uint32_t k = 0; k < w->napps; k++)
            if (w->apps[k].operations == 0)
                return yl_err(
                    l, fy_node_sequence_get_by_index(yl_get(root, "apps"), (int)k),
                    "%s never ends by itself (operations: 0%s): give the workload a duration",
                    w->apps[k].name, w->apps[k].kind == SIM_APP_PHOLD ? ", as phold" : "");
    }
    for (uint32_t k = 0; k < w->nfaults; k++)
        if (w->faults[k].kind == SIM_FAULT_KILL_AT && d && w->faults[k].at >= d)
            fprintf(l->err,
                    "%s: warning: this fault's time is after the end of the run; it never fires\n",
                    w->faults[k].pos.where);
    return 0;
}

void sim_workload_free(sim_workload *w)
{
    for (uint32_t i = 0; i < w->napps; i++) {
        free(w->apps[i].place.cores);
        free(w->apps[i].server_place.cores);
        free(w->apps[i].server_cores);
        free(w->apps[i].client_cores);
    }
    for (uint32_t i = 0; i < w->napps; i++)
        free_pvals(&w->apps[i].params);
    for (uint32_t i = 0; i < w->nfleets; i++) {
        free(w->fleets[i].place.cores);
        free(w->fleets[i].cores);
        free_pvals(&w->fleets[i].params);
    }
    free(w->fleets);
    free(w->apps);
    free(w->faults);
    free(w->name_fleet.place.cores);
    free(w->name_fleet.cores);
    free(w->json_path);
    free(w->source);
    memset(w, 0, sizeof(*w));
}

static int load(const char *text, size_t len, const char *name, const sim_override *ov, size_t nov,
                FILE *err, bool by_path, sim_workload *w)
{
    memset(w, 0, sizeof(*w));
    sim_config_default(&w->cfg);
    snprintf(w->costs_preset, sizeof w->costs_preset, "tile");
    w->name_fleet =
        (sim_fleet_spec){.enabled = true, .members = 1, .place.kind = SIM_PLACE_COMPACT};
    snprintf(w->name_fleet.place.pos.where, sizeof w->name_fleet.place.pos.where, "%s", name);
    if (!(w->source = strdup(name))) return -ENOMEM;
    yl l;
    int r = yl_open(&l, text, len, name, by_path, err);
    /* A root that is no mapping is the file's mistake, said before a flag
     * is blamed for finding no key in it. */
    struct fy_node *root = r == 0 ? fy_document_root(l.doc) : NULL;
    if (r == 0 && fy_node_get_type(root) != FYNT_MAPPING) r = root_not_mapping(&l, root);
    if (r == 0) r = yl_apply_overrides(&l, ov, nov);
    l.w = w;
    if (r == 0) r = load_root(&l, fy_document_root(l.doc), w);
    if (r == 0) r = sim_layout(w, err);
    yl_close(&l);
    if (r != 0) sim_workload_free(w);
    return r;
}

int sim_workload_load(const char *text, size_t len, const char *name, const sim_override *ov,
                      size_t nov, FILE *err, sim_workload *w)
{
    return load(text, len, name, ov, nov, err, false, w);
}

int sim_workload_load_config(const char *json, size_t len, const char *name, const sim_override *ov,
                             size_t nov, FILE *err, sim_workload *w)
{
    return load(json, len, name, ov, nov, err, true, w);
}

int sim_workload_load_file(const char *path, const sim_override *ov, size_t nov, FILE *err,
                           sim_workload *w)
{
    char *buf;
    size_t len;
    int r = sim_read_file(path, SIM_WORKLOAD_MAX_BYTES, &buf, &len);
    if (r == -EFBIG) {
        fprintf(err, "fossim: %s: more than %llu MiB; a workload is a few kilobytes\n", path,
                SIM_WORKLOAD_MAX_BYTES >> 20);
        return -EINVAL;
    }
    if (r == -ENOMEM) return r; /* said by the caller */
    if (r != 0) {
        fprintf(err, "fossim: %s: %s\n", path, strerror(-r));
        return -EINVAL;
    }
    r = sim_workload_load(buf, len, path, ov, nov, err, w);
    free(buf);
    return r;
}
