/* The physical memory allocation fleet: pages on a dPool, touched when handed
 * out, checked when given back. See fos/pma.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fleets/pma/pma_fleet.h"
#include "fos/fos.h"
#include "fos/pma.h"

#define ALLOC_REQ(F) F(u32, n)
#define PAGES(F) F(bytes, pages)
#define NONE(F)
FOS_RPC(pma_alloc, 0x706d0001, ALLOC_REQ, PAGES)
FOS_RPC(pma_free, 0x706d0002, PAGES, NONE)

/* ---- the machine's memory (native engine) ---------------------------------------- *
 * One mapping for the whole chip, as a machine has one physical memory: made
 * by the first member to start, released with the last. Reserved, not
 * committed: a frame costs real memory once it is first touched. */
static struct {
    pthread_mutex_t lock;
    uint8_t *base;
    uint64_t bytes;
    unsigned refs;
} mem = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void mem_release(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mem.lock);
    if (--mem.refs == 0) {
        munmap(mem.base, mem.bytes);
        mem.base = NULL;
        mem.bytes = 0;
    }
    pthread_mutex_unlock(&mem.lock);
}

static int mem_acquire(uint64_t bytes)
{
    int r = 0;
    pthread_mutex_lock(&mem.lock);
    if (mem.refs && mem.bytes != bytes) {
        r = -EINVAL; /* two pma fleets of different sizes on one chip */
    } else if (!mem.refs) {
        void *b = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (b == MAP_FAILED)
            r = -ENOMEM;
        else {
            mem.base = b;
            mem.bytes = bytes;
        }
    }
    if (r == 0) mem.refs++;
    pthread_mutex_unlock(&mem.lock);
    if (r == 0 && fos_core_atexit(mem_release, NULL) != 0) {
        mem_release(NULL);
        r = -ENOMEM;
    }
    return r;
}

void *fos_pma_frame(uint64_t page)
{
    /* Written before the run by the members' inits, read during it: no race. */
    if (!mem.base || page >= mem.bytes / FOS_PAGE_BYTES) return NULL;
    return mem.base + page * FOS_PAGE_BYTES;
}

/* ---- a member --------------------------------------------------------------------- */

typedef struct pma_member {
    fos_dpool *pool;
    uint64_t npages;
    uint64_t *lent; /* bit per page: handed out by this member and not yet freed */
    fos_cycles touch;
    bool native;
    uint64_t allocs, bad_frees;
} pma_member;

static bool lent(const pma_member *m, uint64_t pg)
{
    return m->lent[pg / 64] >> (pg % 64) & 1;
}

static int on_alloc(void *ctx, const struct pma_alloc_req *in, struct pma_alloc_resp *out)
{
    pma_member *m = ctx;
    uint64_t *pages = (uint64_t *)out->raw_;
    if (in->n == 0 || in->n > FOS_DPOOL_BATCH_MAX) return -EINVAL;
    int r = fos_dpool_get(m->pool, pages, in->n);
    if (r) return r;
    /* Only pages of this memory leave: anything else in the pool came from a
     * faulty put, and is dropped rather than handed out. */
    uint32_t good = 0;
    for (uint32_t i = 0; i < in->n; i++)
        if (pages[i] < m->npages && !lent(m, pages[i])) pages[good++] = pages[i];
    if (good < in->n) {
        m->bad_frees += in->n - good;
        fos_dpool_put(m->pool, pages, good);
        return -EIO;
    }
    for (uint32_t i = 0; i < in->n; i++)
        m->lent[pages[i] / 64] |= 1ull << (pages[i] % 64);
    if (m->native)
        for (uint32_t i = 0; i < in->n; i++)
            *(volatile uint8_t *)fos_pma_frame(pages[i]) = 1;
    else
        fos_compute(m->touch * in->n);
    m->allocs++;
    out->pages = pages;
    out->pages_len = in->n * 8;
    return 0;
}

static int on_free(void *ctx, const struct pma_free_req *in, struct pma_free_resp *out)
{
    (void)out;
    pma_member *m = ctx;
    uint64_t pages[FOS_DPOOL_BATCH_MAX];
    uint32_t n = in->pages_len / 8;
    if (in->pages_len % 8 || n == 0 || n > FOS_DPOOL_BATCH_MAX) return -EINVAL;
    memcpy(pages, in->pages, in->pages_len);
    /* Checked in full before any is freed: twice in one request counts too. */
    uint32_t i;
    for (i = 0; i < n && pages[i] < m->npages && lent(m, pages[i]); i++)
        m->lent[pages[i] / 64] &= ~(1ull << (pages[i] % 64));
    if (i < n) {
        for (uint32_t k = 0; k < i; k++)
            m->lent[pages[k] / 64] |= 1ull << (pages[k] % 64);
        m->bad_frees++;
        return -EINVAL;
    }
    return fos_dpool_put(m->pool, pages, n);
}

static const fos_param pma_params[] = {
    {.key = "scheme",
     .type = FOS_PARAM_STR,
     .def = "push_estimate",
     .help = "how shards rebalance pages",
     .choices = fos_dpool_scheme_names},
    {.key = "memory",
     .type = FOS_PARAM_SIZE,
     .def = "1GiB",
     .help = "the chip's physical memory, in whole pages",
     .min = FOS_PAGE_BYTES,
     .unit = FOS_PAGE_BYTES,
     /* Every page is an element of the pool: 64 GiB is 16 M of them, 128 MB of
      * the host's memory, loaded at boot without a yield. */
     .max = 1ull << 36},
    {.key = "block",
     .type = FOS_PARAM_INT,
     .def = "64",
     .help = "pages one bulk fetch or background transfer moves",
     .min = 1,
     .max = FOS_DPOOL_BATCH_MAX},
    {.key = "low_water_percent",
     .type = FOS_PARAM_INT,
     .def = "25",
     .help = "pull: a shard below this percentage of the fair share (memory / members) pulls",
     .min = 0,
     .max = 1000},
    {.key = "high_water_percent",
     .type = FOS_PARAM_INT,
     .def = "50",
     .help = "push: a shard pushes what it has above this percentage of the fair share",
     .min = 0,
     .max = 1000},
    {.key = "period",
     .type = FOS_PARAM_TIME,
     .def = "20000",
     .help = "how often the background fiber looks at its shard"},
    {0},
};

static int pma_init(fos_fleet *f, void *state)
{
    pma_member *m = state;
    const fos_params *p = fos_fleet_params(f);
    uint64_t bytes = 1ull << 30, block = 64, lo = 25, hi = 50;
    fos_cycles period = 20000;
    fos_dpool_opts o = {.scheme = FOS_DPOOL_PUSH_ESTIMATE, .elem_bytes = 8};
    if (p && p->decl) {
        if (fos_dpool_scheme_parse(fos_params_str(p, "scheme"), &o.scheme)) return -EINVAL;
        bytes = fos_params_u64(p, "memory");
        block = fos_params_u64(p, "block");
        lo = fos_params_u64(p, "low_water_percent");
        hi = fos_params_u64(p, "high_water_percent");
        period = fos_params_u64(p, "period");
    }
    m->npages = bytes / FOS_PAGE_BYTES;
    uint32_t members = fos_fleet_size(f), self = fos_fleet_self(f);
    uint64_t fair = m->npages / members;
    o.block = (uint32_t)block;
    o.low_water = fair * lo / 100 ? fair * lo / 100 : 1;
    o.high_water = fair * hi / 100 ? fair * hi / 100 : 1;
    o.period = period;
    m->native = fos_core_native();
    m->touch = fos_core_costs()->page_touch;
    if (!(m->lent = calloc((m->npages + 63) / 64, 8))) return -ENOMEM;
    if (fos_core_atexit(free, m->lent) != 0) {
        free(m->lent);
        return -ENOMEM;
    }
    int r = m->native ? mem_acquire(m->npages * FOS_PAGE_BYTES) : 0;
    if (r == 0) r = fos_dpool_attach(f, &o, &m->pool);
    /* A joiner starts empty; members started together split the pages. */
    uint64_t lo_pg = fos_fleet_joined(f) ? 0 : m->npages * self / members;
    uint64_t hi_pg = fos_fleet_joined(f) ? 0 : m->npages * (self + 1) / members;
    uint64_t chunk[1024];
    for (uint64_t pg = lo_pg; r == 0 && pg < hi_pg;) {
        size_t k = 0;
        while (k < 1024 && pg < hi_pg)
            chunk[k++] = pg++;
        r = fos_dpool_load(m->pool, chunk, k);
    }
    fos_server *s = fos_fleet_server(f);
    if (r == 0) r = FOS_RPC_SERVE(s, pma_alloc, on_alloc, m);
    if (r == 0) r = FOS_RPC_SERVE(s, pma_free, on_free, m);
    return r;
}

static void pma_membership(fos_fleet *f, void *state, uint32_t who, bool present)
{
    (void)f;
    pma_member *m = state;
    if (!present && m->pool) fos_dpool_member_gone(m->pool, who);
}

static uint32_t pma_counters(fos_fleet *f, void *state, fos_fleet_counter *out, uint32_t max)
{
    (void)f;
    pma_member *m = state;
    if (!m->pool) return 0;
    uint32_t n = fos_dpool_counters(m->pool, out, max);
    if (n < max) out[n++] = (fos_fleet_counter){"bad_frees", m->bad_frees};
    return n;
}

const fos_fleet_ops fos_pma_fleet = {
    .name = "pma",
    .summary = "physical memory allocation: the chip's pages on a dPool",
    .params = pma_params,
    .state_bytes = sizeof(pma_member),
    .fibers = 32,
    .init = pma_init,
    .membership = pma_membership,
    .counters = pma_counters,
};

/* ---- a client ---------------------------------------------------------------------- */

int fos_pma_open(fos_pma_client *c)
{
    fos_fleet_view v;
    int r = fos_fleet_view_get("pma", &v);
    if (r) return r;
    int m = fos_fleet_view_nearest(&v);
    if (m < 0) return m;
    *c = (fos_pma_client){v.m[m].addr, v.m[m].cap, (uint32_t)m};
    return 0;
}

int fos_pma_alloc(const fos_pma_client *c, uint64_t *pages, uint32_t n, fos_cycles timeout)
{
    struct pma_alloc_req q = {.n = n};
    struct pma_alloc_resp a;
    int r = pma_alloc_call(c->addr, c->cap, &q, &a, timeout);
    if (r) return r;
    if (a.pages_len != n * 8ull) return -EBADMSG;
    memcpy(pages, a.pages, a.pages_len);
    return 0;
}

int fos_pma_free(const fos_pma_client *c, const uint64_t *pages, uint32_t n, fos_cycles timeout)
{
    struct pma_free_req q = {.pages = pages, .pages_len = n * 8};
    struct pma_free_resp a;
    return pma_free_call(c->addr, c->cap, &q, &a, timeout);
}
