/* Random streams: xoshiro256** seeded by splitmix64, and an exponential variate
 * in integer arithmetic, so that every host and compiler draws the same numbers. */
#include <pthread.h>

#include "runtime/core_priv.h"

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void fos_rng_seed(fos_rng *r, uint64_t seed, uint64_t core, uint64_t stream)
{
    uint64_t x = seed;
    x = splitmix(&x) ^ core * 0xd1342543de82ef95ull;
    x = splitmix(&x) ^ stream * 0xaf251af3b0f025b5ull;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t fos_rng_next(fos_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

uint64_t fos_rng_below(fos_rng *r, uint64_t n)
{
    /* Lemire's multiply-shift with rejection: unbiased, one multiply usually. */
    unsigned __int128 m = (unsigned __int128)fos_rng_next(r) * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t t = -n % n;
        while (lo < t) {
            m = (unsigned __int128)fos_rng_next(r) * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

/* log2 of m / 2^63 for m in [2^63, 2^64), in Q32: the digit-by-digit method,
 * squaring the mantissa once per result bit. Exact but slow; it only builds the
 * table below. */
static uint64_t log2_frac_exact(uint64_t m)
{
    uint64_t r = 0;
    for (int i = 31; i >= 0; i--) {
        unsigned __int128 sq = (unsigned __int128)m * m;
        /* m in [1, 2) as Q63; sq in [1, 4) as Q126. */
        if (sq >> 127) {
            r |= 1ull << i;
            m = (uint64_t)(sq >> 64);
        } else {
            m = (uint64_t)(sq >> 63);
        }
    }
    return r;
}

/* log2(1 + i / 2^LOG_BITS) in Q32 at the table's knots; between knots a straight
 * line, whose error (below 2^-26 at 12 bits) is far under the whole cycle a
 * variate is rounded to. Built from integers only, so every host has the same. */
#define LOG_BITS 12
static uint32_t log_tab[(1u << LOG_BITS) + 1];
static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static void log_tab_build(void)
{
    for (uint64_t i = 0; i < (1u << LOG_BITS); i++)
        log_tab[i] = (uint32_t)log2_frac_exact((1ull << 63) | (i << (63 - LOG_BITS)));
    log_tab[1u << LOG_BITS] = UINT32_MAX; /* log2(2) = 1, saturated in Q32 */
}

static uint64_t log2_frac_q32(uint64_t m)
{
    uint64_t idx = (m >> (63 - LOG_BITS)) & ((1u << LOG_BITS) - 1);
    uint64_t rem = (m >> (63 - LOG_BITS - 32)) & 0xffffffffull; /* Q32 between knots */
    uint64_t a = log_tab[idx], b = log_tab[idx + 1];
    return a + (((b - a) * rem) >> 32);
}

static bool log_ready;

static void log_tab_publish(void)
{
    log_tab_build();
    __atomic_store_n(&log_ready, true, __ATOMIC_RELEASE);
}

/* A flag in front of the once: every variate asks. */
static inline void rng_init(void)
{
    if (__builtin_expect(!__atomic_load_n(&log_ready, __ATOMIC_ACQUIRE), 0))
        pthread_once(&log_once, log_tab_publish);
}

fos_cycles fos_rng_exp(fos_rng *r, fos_cycles mean)
{
    rng_init();
    /* -ln(U) = (64 - log2(x)) * ln 2 for x = U * 2^64 uniform in [1, 2^64). */
    uint64_t x = fos_rng_next(r) | 1;
    int n = 63 - __builtin_clzll(x);
    uint64_t lg = ((uint64_t)n << 32) | log2_frac_q32(x << (63 - n)); /* Q32 */
    uint64_t e2 = (64ull << 32) - lg;                                 /* -log2 U, Q32 */
    const uint64_t ln2_q32 = 2977044472ull;                           /* ln 2 * 2^32 */
    unsigned __int128 v = (unsigned __int128)e2 * ln2_q32;            /* Q64 */
    v = (v >> 32) * mean;                                             /* Q32 cycles */
    return (fos_cycles)((v + (1ull << 31)) >> 32);
}

uint64_t fos_rand(void)
{
    return fos_rng_next(&fos__self()->rng_app);
}

uint64_t fos_rand_below(uint64_t n)
{
    return fos_rng_below(&fos__self()->rng_app, n);
}

fos_cycles fos_rand_exp(fos_cycles mean)
{
    return fos_rng_exp(&fos__self()->rng_app, mean);
}
