/* Parameter values as fleets and application kinds read them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fos/fleet.h"

static int find(const fos_params *p, const char *key)
{
    for (int i = 0; p && p->decl && p->decl[i].key; i++)
        if (!strcmp(p->decl[i].key, key)) return i;
    /* A key the fleet never declared is its own bug: say whose and stop. */
    fprintf(stderr, "fossim: %s%s%s asked for parameter '%s', which it did not declare\n",
            p && p->owner ? "'" : "a fleet or application", p && p->owner ? p->owner : "",
            p && p->owner ? "'" : "", key);
    abort();
}

uint64_t fos_params_u64(const fos_params *p, const char *key)
{
    return p->u[find(p, key)];
}

const char *fos_params_str(const fos_params *p, const char *key)
{
    return p->s[find(p, key)];
}
