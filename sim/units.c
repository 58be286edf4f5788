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

bool sim_decimal_text(const char *s)
{
    if (!s) return false;
    bool digit0 = s[0] >= '0' && s[0] <= '9';
    bool point0 = s[0] == '.' && s[1] >= '0' && s[1] <= '9';
    return (digit0 || point0) && !strpbrk(s, "xX");
}

int sim_parse_duration(const char *s, uint64_t clock_hz, fos_cycles *out)
{
    char *end;
    if (!sim_decimal_text(s)) return -EINVAL;
    errno = 0;
    /* An integer alone or in cycles (as reports and --replay write times) is
     * read exactly: a double would round above 2^53. */
    unsigned long long iv = strtoull(s, &end, 10);
    if (!errno && end != s) {
        while (*end == ' ')
            end++;
        if (!*end || !strcmp(end, "cycles") || !strcmp(end, "cycle")) {
            *out = iv;
            return 0;
        }
    }
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v) || v < 0) return -EINVAL;
    /* Too small for a double (1e-400s) is less than a cycle, not none. */
    if (v == 0 && errno == ERANGE) return -ERANGE;
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

static const struct {
    const char *unit;
    uint64_t bytes;
} size_units[] = {
    {"B", 1}, {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"TiB", 1ull << 40}};

int sim_parse_size(const char *s, uint64_t *out)
{
    char *end;
    if (!sim_decimal_text(s)) return -EINVAL;
    errno = 0;
    unsigned long long iv = strtoull(s, &end, 10);
    if (errno || end == s) return -EINVAL;
    if (*end == '\0') {
        *out = iv;
        return 0;
    }
    /* A fraction of a unit (1.5GiB) is allowed when it comes to whole bytes. */
    double v = strtod(s, &end);
    if (!isfinite(v) || v < 0) return -EINVAL;
    while (*end == ' ')
        end++;
    for (size_t i = 0; i < sizeof size_units / sizeof size_units[0]; i++) {
        if (strcmp(end, size_units[i].unit)) continue;
        double b = v * (double)size_units[i].bytes;
        if (b >= 1.8e19 || b != (double)(uint64_t)b) return -EINVAL;
        *out = (uint64_t)b;
        return 0;
    }
    return -EINVAL;
}
