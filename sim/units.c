/* Numbers with units, as workload files and flags write them. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim/workload.h"

static const struct {
    const char *unit;
    double per_s; /* units per second; 0 = cycles */
} time_units[] = {{"cycles", 0}, {"cycle", 0}, {"ns", 1e9}, {"us", 1e6}, {"ms", 1e3}, {"s", 1}};

int sim_parse_duration(const char *s, uint64_t clock_hz, fos_cycles *out)
{
    char *end;
    if (!s || !*s || *s == '-' || *s == '+') return -EINVAL;
    errno = 0;
    /* An integer alone is cycles, read exactly (a double would round above 2^53). */
    unsigned long long iv = strtoull(s, &end, 10);
    if (!errno && end != s && *end == '\0') {
        *out = iv;
        return 0;
    }
    double v = strtod(s, &end);
    if (end == s || !isfinite(v) || v < 0) return -EINVAL;
    while (*end == ' ')
        end++;
    for (size_t i = 0; i < sizeof time_units / sizeof time_units[0]; i++) {
        if (strcmp(end, time_units[i].unit)) continue;
        double c = time_units[i].per_s ? v * (double)clock_hz / time_units[i].per_s : v;
        if (c >= 9.2e18) return -EINVAL;
        /* A time that is not a whole number of cycles rounds to the nearest. */
        *out = (fos_cycles)llround(c);
        /* A time asked for must not vanish into "none". */
        if (c > 0 && *out == 0) return -ERANGE;
        if (!time_units[i].per_s && c != (double)*out) return -EINVAL;
        return 0;
    }
    return -EINVAL;
}
