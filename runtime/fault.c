/* Fault rules. A rule is judged on the sending core, when its kernel takes the
 * message, with that core's own fault stream: the outcome depends only on the
 * sender's history, never on which worker runs what. */
#include <errno.h>

#include "runtime/core_priv.h"

static bool matches(const sim_match *m, fos_core_id src, fos_core_id dst, uint32_t type)
{
    return (m->src == FOS_CORE_NONE || m->src == src) &&
           (m->dst == FOS_CORE_NONE || m->dst == dst) && (m->any_type || m->type == type);
}

static int add(sim *s, const fos__fault_rule *r)
{
    if (!s || s->ran) return -EINVAL;
    if ((r->m.src != FOS_CORE_NONE && r->m.src >= s->ncores) ||
        (r->m.dst != FOS_CORE_NONE && r->m.dst >= s->ncores) || r->per_million > 1000000)
        return -EINVAL;
    if (s->nrules == SIM_FAULT_RULES_MAX) return -ENOSPC;
    s->rules[s->nrules++] = *r;
    return 0;
}

int sim_fault_kill_on(sim *s, fos_core_id victim, const sim_match *m)
{
    if (!m || !s || victim >= s->ncores) return -EINVAL;
    return add(s, &(fos__fault_rule){.kind = FOS__FAULT_KILL, .m = *m, .victim = victim});
}

int sim_fault_drop(sim *s, const sim_match *m, uint32_t per_million)
{
    if (!m) return -EINVAL;
    return add(s, &(fos__fault_rule){.kind = FOS__FAULT_DROP, .m = *m, .per_million = per_million});
}

int sim_fault_delay(sim *s, const sim_match *m, uint32_t per_million, fos_cycles extra)
{
    if (!m) return -EINVAL;
    return add(s,
               &(fos__fault_rule){
                   .kind = FOS__FAULT_DELAY, .m = *m, .per_million = per_million, .extra = extra});
}

static bool draw(fos_core *c, uint32_t per_million)
{
    return per_million >= 1000000 || fos_rng_below(&c->rng_fault, 1000000) < per_million;
}

bool fos__fault_on_send(fos_core *c, fos_core_id dst, uint32_t type, fos_cycles *extra)
{
    struct sim *s = c->sim;
    bool drop = false, delayed = false;
    *extra = 0;
    fos__clock_now(c); /* native: a kill, a delay or a send timeout counts from now */
    for (uint32_t i = 0; i < s->nrules; i++) {
        const fos__fault_rule *r = &s->rules[i];
        if (!matches(&r->m, c->id, dst, type)) continue;
        switch (r->kind) {
        case FOS__FAULT_KILL:
            if (c->fault_fired & (1ull << i)) break;
            c->fault_fired |= 1ull << i;
            /* A change one core makes is seen by another a lookahead later. */
            fos__post(c, s->cores[r->victim],
                      fos__sat_add(c->clock, r->victim == c->id ? 0 : s->topo.lookahead),
                      FOS__EV_KILL, 0, NULL, 0);
            break;
        case FOS__FAULT_DROP:
            if (!drop && draw(c, r->per_million)) {
                drop = true;
                c->st_fault_dropped++;
            }
            break;
        case FOS__FAULT_DELAY:
            if (draw(c, r->per_million)) {
                *extra = fos__sat_add(*extra, r->extra);
                delayed = true;
            }
            break;
        }
    }
    /* A message both dropped and delayed was dropped. */
    if (delayed && !drop) c->st_fault_delayed++;
    return drop;
}
