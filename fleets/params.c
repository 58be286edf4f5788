/* Parameter values as fleets and application kinds read them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fos/fleet.h"

static int find(const fos_params *p, const char *key)
{
    if (!p) {
        /* A fleet joined with no parameters (fos_fleet_join's p NULL) reads none. */
        fprintf(stderr,
                "fossim: a fleet or application asked for parameter '%s' but was given no "
                "parameters\n",
                key);
        abort();
    }
    for (int i = 0; p->decl && p->decl[i].key; i++)
        if (!strcmp(p->decl[i].key, key)) return i;
    /* A key the fleet never declared is its own bug: say whose and stop. */
    fprintf(stderr, "fossim: %s%s%s asked for parameter '%s', which it did not declare\n",
            p->owner ? "'" : "a fleet or application", p->owner ? p->owner : "",
            p->owner ? "'" : "", key);
    abort();
}

/* A key read as the other type (a string as a number) is the same kind of bug. */
static int find_typed(const fos_params *p, const char *key, bool str)
{
    int i = find(p, key);
    if ((p->decl[i].type == FOS_PARAM_STR) != str) {
        fprintf(stderr, "fossim: %s%s%s read parameter '%s' as a %s, but declared it a %s\n",
                p->owner ? "'" : "a fleet or application", p->owner ? p->owner : "",
                p->owner ? "'" : "", key, str ? "string" : "number", str ? "number" : "string");
        abort();
    }
    return i;
}

/* The index first: p->u must not be read before find has judged p. */
uint64_t fos_params_u64(const fos_params *p, const char *key)
{
    int i = find_typed(p, key, false);
    return p->u[i];
}

const char *fos_params_str(const fos_params *p, const char *key)
{
    int i = find_typed(p, key, true);
    return p->s[i];
}
