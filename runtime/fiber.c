/* Fibers: creation, ending, joining, and spawning on other cores. */
#include <errno.h>
#include <string.h>

#include "runtime/core_priv.h"
#include "runtime/switch.h"

static void fiber_main(void *arg)
{
    fos_fiber *f = arg;
#ifdef FOS__ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    fos__reap(f->core->w);
    f->fn(f->arg);
    fos_fiber_exit();
}

int fos__fiber_new(fos_core *c, fos_fiber_fn fn, void *arg, const fos_fiber_opts *o, bool joinable,
                   bool daemon, fos_fiber **out)
{
    size_t ss = o ? o->stack_size : 0;
    if (ss != 0 && (ss < 4096 || ss > ((size_t)1 << 30))) return -EINVAL;
    fos_fiber *f = fos__calloc(c, sizeof(*f));
    if (!f) return -ENOMEM;
    f->stack = fos__stack_get(&c->w->pool, ss);
    if (!f->stack) {
        fos__free(c, f);
        return -ENOMEM;
    }
    f->core = c;
    f->stack_hi = f->stack->hi;
    f->fn = fn;
    f->arg = arg;
    f->name = o && o->name ? o->name : "fiber";
    f->id = c->fiber_ids++;
    f->joinable = joinable;
    f->daemon = daemon;
    f->state = FOS__F_RUNNABLE;
    fos__ctx_make(&f->ctx, f->stack->lo, f->stack->hi, fiber_main, f, &c->park_sp);
    c->park_hi = f->stack_hi; /* the frames the mirror now points at end here */
    f->all_next = c->all;
    if (c->all) c->all->all_prev = f;
    c->all = f;
    c->nlive++;
    if (!daemon) {
        c->nlive_apps++;
        fos__apps_add(c->sim, 1);
        __atomic_store_n(&c->sim->any_app, true, __ATOMIC_RELAXED);
    }
    __atomic_fetch_add(&c->sim->st.fibers_spawned, 1, __ATOMIC_RELAXED);
    fos__fifo_push(&c->runq, f);
    if (out) *out = f;
    return 0;
}

void fos__fiber_free(fos_core *c, fos_fiber *f)
{
    if (c->last == f) c->last = NULL;
    fos__free(c, f);
}

static void unlink_all(fos_core *c, fos_fiber *f)
{
    if (f->all_prev)
        f->all_prev->all_next = f->all_next;
    else
        c->all = f->all_next;
    if (f->all_next) f->all_next->all_prev = f->all_prev;
    f->all_prev = f->all_next = NULL;
}

static void count_exit(fos_core *c, fos_fiber *f)
{
    c->nlive--;
    if (!f->daemon) {
        c->nlive_apps--;
        fos__clock_now(c);
        fos__apps_exit(c, 1, c->clock);
    }
}

void fos__fibers_drop(fos_core *c)
{
    fos__reap(c->w);
    /* Teardown: the counters no longer matter. */
    while (c->all) {
        fos_fiber *f = c->all;
        c->all = f->all_next;
        if (f->stack) fos__stack_put(&c->w->pool, f->stack);
        fos__fiber_free(c, f);
    }
}

int fos_fiber_spawn(fos_fiber_fn fn, void *arg, const fos_fiber_opts *opts, fos_fiber **out)
{
    fos_core *c = fos__self();
    if (!fn) return -EINVAL;
    fos__sync(c);
    int r = fos__fiber_new(c, fn, arg, opts, out != NULL, c->current->daemon, out);
    if (r == 0) fos__charge(c, c->sim->topo.costs.spawn);
    return r;
}

_Noreturn void fos_fiber_exit(void)
{
    fos_core *c = fos__self();
    fos_fiber *self = c->current;
    fos__sync(c); /* ending wakes a joiner: an action, inside the window */
    self->state = FOS__F_DONE;
    count_exit(c, self);
    /* A joinable fiber stays on the core's list until joined, so that teardown
     * frees it if nobody does. */
    if (!self->joinable) unlink_all(c, self);
    if (self->joiner && self->joiner->state == FOS__F_WAITING && self->joiner->wait == FOS__W_JOIN)
        fos__wake(self->joiner, 0, false);
    /* Its stack is freed by whoever runs next (fos__reap). */
    c->w->zombie = self;
    fos__leave_final(c);
}

fos_fiber *fos_fiber_self(void)
{
    return fos__self()->current;
}

int fos_fiber_join(fos_fiber *f)
{
    fos_core *c = fos__self();
    fos_fiber *self = c->current;
    if (!f || f == self || f->core != c || !f->joinable || f->joined || f->joiner) return -EINVAL;
    fos__sync(c);
    if (f->state != FOS__F_DONE) {
        f->joiner = self;
        self->wait = FOS__W_JOIN;
        self->wait_obj = f;
        fos__block(c);
    }
    f->joined = true;
    fos__reap(c->w);
    unlink_all(c, f);
    fos__fiber_free(c, f);
    return 0;
}

int fos_spawn(fos_core_id core, fos_fiber_fn fn, void *arg)
{
    fos_core *c = fos__self();
    if (core >= c->sim->ncores || !fn) return -EINVAL;
    fos__sync(c);
    fos_core *d = c->sim->cores[core];
    bool daemon = c->current->daemon;
    /* An application spawn in flight keeps the run going until it starts. */
    if (!daemon) fos__apps_add(c->sim, 1);
    fos_cycles lat = fos_topo_latency(&c->sim->topo, c->id, core, sizeof(fn) + sizeof(arg));
    fos__post(c, d, fos__sat_add(c->clock, lat), FOS__EV_SPAWN, daemon, (void *)fn,
              (uint64_t)(uintptr_t)arg);
    fos__charge(c, c->sim->topo.costs.trap);
    return 0;
}
