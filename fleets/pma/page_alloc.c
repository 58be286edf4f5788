/* The page_alloc application: the fos/Linux page-allocation microbenchmark.
 * Each client allocates pages from its nearest PMA member as fast as it can,
 * touches each one, and (with `hold`) gives them all back once it holds that
 * many. An operation is one request answered: an alloc of `batch` pages or a
 * free of up to FOS_DPOOL_BATCH_MAX. */
#include <errno.h>
#include <stdlib.h>

#include "fleets/pma/pma_fleet.h"
#include "fos/fos.h"
#include "fos/pma.h"

#define TIMEOUT fos_core_patience(100000000ull)

/* The client's own first write to each page: real on the native engine; on
 * the virtual one the member's page_touch already stands for it. */
static void touch(const uint64_t *pages, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        volatile uint8_t *f = fos_pma_frame(pages[i]);
        if (f) f[1] = 1;
    }
}

/* Frees what the client holds; each request is an operation. */
static uint64_t free_all(fos_app_ctx *c, const fos_pma_client *pma, uint64_t *held, uint64_t n)
{
    uint64_t done = 0;
    for (uint64_t i = 0; i < n; i += FOS_DPOOL_BATCH_MAX) {
        uint32_t k = (uint32_t)(n - i < FOS_DPOOL_BATCH_MAX ? n - i : FOS_DPOOL_BATCH_MAX);
        fos_cycles t0 = fos_now();
        if (fos_pma_free(pma, held + i, k, TIMEOUT) == 0)
            fos_app_record(c, t0);
        else
            fos_app_error(c);
        done++;
    }
    return done;
}

static void page_alloc_client(fos_app_ctx *c)
{
    const fos_params *p = fos_app_params(c);
    uint32_t batch = (uint32_t)fos_params_u64(p, "batch");
    uint64_t hold = fos_params_u64(p, "hold");
    uint64_t ops = fos_app_operations(c);
    fos_pma_client pma;
    if (fos_pma_open(&pma) != 0) {
        fos_app_error(c);
        return;
    }
    uint64_t cap = hold ? hold + batch : 0, n = 0;
    /* Freed by fossim: a run may end while this client waits for pages. */
    uint64_t *held = hold ? fos_app_alloc(c, cap * sizeof *held) : NULL;
    uint64_t *pages = fos_app_alloc(c, batch * sizeof *pages);
    if ((hold && !held) || !pages) {
        fos_app_error(c);
        return;
    }
    for (uint64_t done = 0; ops == 0 || done < ops;) {
        if (fos_app_think(c)) fos_sleep(fos_app_think(c));
        fos_cycles t0 = fos_now();
        int r = fos_pma_alloc(&pma, pages, batch, TIMEOUT);
        done++;
        if (r != 0) {
            fos_app_error(c);
            if (r == -ENOMEM && n) {
                done += free_all(c, &pma, held, n); /* give back, then try again */
                n = 0;
            } else if (r == -ENOMEM) {
                fos_sleep(10000);
            } else if (r != -ETIMEDOUT) {
                break; /* the member is gone */
            }
            continue;
        }
        fos_app_record(c, t0);
        touch(pages, batch);
        if (!hold) continue;
        for (uint32_t i = 0; i < batch; i++)
            held[n++] = pages[i];
        if (n >= hold) {
            done += free_all(c, &pma, held, n);
            n = 0;
        }
    }
}

static const fos_param page_alloc_params[] = {
    {.key = "batch",
     .type = FOS_PARAM_INT,
     .def = "16",
     .help = "pages one alloc request asks for",
     .min = 1,
     .max = FOS_DPOOL_BATCH_MAX},
    {.key = "hold",
     .type = FOS_PARAM_INT,
     .def = "256",
     .help = "pages a client holds before it frees them all (0: it never frees)",
     .min = 0,
     .max = 1u << 24},
    {0},
};

static const fos_app_kind page_alloc_app = {
    .name = "page_alloc",
    .summary = "allocate and touch pages as fast as possible, from the pma fleet",
    .params = page_alloc_params,
    .needs_fleet = "pma",
    .client = page_alloc_client,
};

int fos__pma_register(fossim_registry *r)
{
    int e = fossim_register_fleet(r, &fos_pma_fleet);
    return e ? e : fossim_register_app(r, &page_alloc_app);
}
