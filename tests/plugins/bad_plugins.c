/* Plugins that break their contract, one per build (BAD_KIND picks which):
 * fossim must name each in a clear error, or in its crash report. */
#include <stddef.h>

#include "fos/fos.h"
#include "fos/plugin.h"

#if BAD_KIND == 1 /* built for another API */
const uint32_t fossim_plugin_api = FOSSIM_PLUGIN_API + 41;
int fossim_plugin_init(fossim_registry *r)
{
    (void)r;
    return 0;
}
#elif BAD_KIND == 2 /* registers nothing */
const uint32_t fossim_plugin_api = FOSSIM_PLUGIN_API;
int fossim_plugin_init(fossim_registry *r)
{
    (void)r;
    return 0;
}
#elif BAD_KIND == 3 /* a parameter without help */
static void client(fos_app_ctx *c)
{
    (void)c;
}
static const fos_param params[] = {{.key = "x", .type = FOS_PARAM_INT, .def = "1"}, {0}};
static const fos_app_kind kind = {
    .name = "badparam", .summary = "s", .params = params, .client = client};
const uint32_t fossim_plugin_api = FOSSIM_PLUGIN_API;
int fossim_plugin_init(fossim_registry *r)
{
    return fossim_register_app(r, &kind);
}
#elif BAD_KIND == 4 /* a client that crashes */
static void client(fos_app_ctx *c)
{
    volatile int *p = (volatile int *)(uintptr_t)fos_app_index(c); /* NULL for client 0 */
    *p = 1;
}
static const fos_app_kind kind = {
    .name = "crasher", .summary = "dereferences NULL", .client = client};
const uint32_t fossim_plugin_api = FOSSIM_PLUGIN_API;
int fossim_plugin_init(fossim_registry *r)
{
    return fossim_register_app(r, &kind);
}
#elif BAD_KIND == 5 /* no fossim_plugin_init */
const uint32_t fossim_plugin_api = FOSSIM_PLUGIN_API;
#elif BAD_KIND == 6 /* an integer default that strtoull would take: " -1" is 2^64 - 1 */
static void client(fos_app_ctx *c)
{
    (void)c;
}
static const fos_param params[] = {{.key = "x", .type = FOS_PARAM_INT, .def = " -1", .help = "h"},
                                   {0}};
static const fos_app_kind kind = {
    .name = "badint", .summary = "s", .params = params, .client = client};
const uint32_t fossim_plugin_api = FOSSIM_PLUGIN_API;
int fossim_plugin_init(fossim_registry *r)
{
    return fossim_register_app(r, &kind);
}
#elif BAD_KIND == 7 /* registers with a registry it was not given */
static void client(fos_app_ctx *c)
{
    (void)c;
}
static const fos_app_kind kind = {.name = "noreg", .summary = "s", .client = client};
const uint32_t fossim_plugin_api = FOSSIM_PLUGIN_API;
int fossim_plugin_init(fossim_registry *r)
{
    (void)r;
    return fossim_register_app(NULL, &kind);
}
#elif BAD_KIND == 8 /* fossim_plugin_api is a function, not the version */
void fossim_plugin_api(void);
void fossim_plugin_api(void) {}
int fossim_plugin_init(fossim_registry *r)
{
    (void)r;
    return 0;
}
#elif BAD_KIND == 9 /* init fails with INT_MIN, which has no negation */
#include <limits.h>
static void client(fos_app_ctx *c)
{
    (void)c;
}
static const fos_app_kind kind = {.name = "intmin", .summary = "s", .client = client};
const uint32_t fossim_plugin_api = FOSSIM_PLUGIN_API;
int fossim_plugin_init(fossim_registry *r)
{
    fossim_register_app(r, &kind);
    return INT_MIN;
}
#elif BAD_KIND == 10 /* a fleet whose counters hook lies about how many it wrote */
static int liar_init(fos_fleet *f, void *state)
{
    (void)f;
    (void)state;
    return 0;
}
static uint32_t liar_counters(fos_fleet *f, void *state, fos_fleet_counter *out, uint32_t max)
{
    (void)f;
    (void)state;
    for (uint32_t i = 0; i < max; i++)
        out[i] = (fos_fleet_counter){i == 0 ? NULL : "same", i};
    return max + 1000;
}
static const fos_fleet_ops fleet = {.name = "liar",
                                    .summary = "breaks the counters contract",
                                    .init = liar_init,
                                    .counters = liar_counters};
const uint32_t fossim_plugin_api = FOSSIM_PLUGIN_API;
int fossim_plugin_init(fossim_registry *r)
{
    return fossim_register_fleet(r, &fleet);
}
#elif BAD_KIND == 11 /* clients that ask for a parameter they never declared, or read one as       \
                      * the other type */
static void forgetful(fos_app_ctx *c)
{
    (void)fos_params_u64(fos_app_params(c), "speed");
}
static void misreader(fos_app_ctx *c)
{
    (void)fos_params_str(fos_app_params(c), "rate");
}
static const fos_param params[] = {{.key = "rate", .type = FOS_PARAM_INT, .def = "1", .help = "h"},
                                   {0}};
static const fos_app_kind kinds[] = {
    {.name = "forgetful", .summary = "s", .params = params, .client = forgetful},
    {.name = "misreader", .summary = "s", .params = params, .client = misreader}};
const uint32_t fossim_plugin_api = FOSSIM_PLUGIN_API;
int fossim_plugin_init(fossim_registry *r)
{
    int e = fossim_register_app(r, &kinds[0]);
    return e ? e : fossim_register_app(r, &kinds[1]);
}
#elif BAD_KIND == 12 /* a client that times an operation from the future */
static void client(fos_app_ctx *c)
{
    fos_app_record(c, fos_now() + 1000);
    fos_cycles t0 = fos_now();
    fos_compute(50);
    fos_app_record(c, t0);
}
static const fos_app_kind kind = {.name = "seer", .summary = "s", .client = client};
const uint32_t fossim_plugin_api = FOSSIM_PLUGIN_API;
int fossim_plugin_init(fossim_registry *r)
{
    return fossim_register_app(r, &kind);
}
#elif BAD_KIND == 13 /* joins its fleet with no parameters, whose init reads one */
static int nop_init(fos_fleet *f, void *state)
{
    (void)state;
    return (int)fos_params_u64(fos_fleet_params(f), "service") * 0;
}
static const fos_param fparams[] = {
    {.key = "service", .type = FOS_PARAM_INT, .def = "1", .help = "h"}, {0}};
static const fos_fleet_ops fleet = {
    .name = "nop", .summary = "s", .params = fparams, .init = nop_init};
static void client(fos_app_ctx *c)
{
    (void)c;
    fos_fleet *f;
    (void)fos_fleet_join(&fleet, NULL, &f);
}
static const fos_app_kind kind = {.name = "joiner", .summary = "s", .client = client};
const uint32_t fossim_plugin_api = FOSSIM_PLUGIN_API;
int fossim_plugin_init(fossim_registry *r)
{
    int e = fossim_register_fleet(r, &fleet);
    return e ? e : fossim_register_app(r, &kind);
}
#elif BAD_KIND == 14 /* built for API 3, whose structures differ: refused */
const uint32_t fossim_plugin_api = 3;
int fossim_plugin_init(fossim_registry *r)
{
    (void)r;
    return 0;
}
#elif BAD_KIND == 16 /* a string parameter in units, which only numbers have */
static void client(fos_app_ctx *c)
{
    (void)c;
}
static const fos_param params[] = {
    {.key = "x", .type = FOS_PARAM_STR, .def = "a", .help = "h", .unit = 4096}, {0}};
static const fos_app_kind kind = {
    .name = "unitstr", .summary = "s", .params = params, .client = client};
const uint32_t fossim_plugin_api = FOSSIM_PLUGIN_API;
int fossim_plugin_init(fossim_registry *r)
{
    return fossim_register_app(r, &kind);
}
#elif BAD_KIND == 17 /* calls the runtime from its init, off any simulated core */
const uint32_t fossim_plugin_api = FOSSIM_PLUGIN_API;
int fossim_plugin_init(fossim_registry *r)
{
    (void)r;
    return (int)fos_now();
}
#elif BAD_KIND == 15 /* built for API 5, whose fos_deferred is smaller than 6's: refused */
const uint32_t fossim_plugin_api = 5;
int fossim_plugin_init(fossim_registry *r)
{
    (void)r;
    return 0;
}
#endif
