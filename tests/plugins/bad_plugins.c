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
#endif
