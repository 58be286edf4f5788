/* The report's figure 6, run for real on this host: page allocation by Linux
 * against the fos PMA fleet on the native engine, for T = 1 .. host CPUs.
 *
 * Linux: each of T threads maps 1 GiB of anonymous memory and writes one byte
 * per 4 KiB page (each write a page fault that allocates a frame); pages per
 * host second over all threads, from the first thread's start to the last
 * one's end.
 *
 * fos: fossim on the native engine with T cores in all counting the PMA's
 * servers (members = max(1, T/4), clients = T - members; at T = 1 there is
 * no room for both, so no figure). Each client allocates 1 GiB of pages from
 * its nearest member, `batch` at a time, never freeing, and writes to each
 * page itself; the member first-touches each frame as it hands it out. The
 * name service runs on one more core, idle once the clients have found the
 * fleet. Pages per host second over the run. Every parameter goes into the
 * JSON. On a host with fewer CPUs than cores, the native engine's threads
 * share CPUs and the fos figure means little (fossim warns). */
#include <cjson/cJSON.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench/fossim_run.h"

#define PAGE 4096ull
#define BYTES_PER_THREAD (1ull << 30)
#define BATCH 16

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static pthread_barrier_t start;

static void *linux_thread(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start);
    volatile uint8_t *m =
        mmap(NULL, BYTES_PER_THREAD, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return (void *)1;
    for (uint64_t off = 0; off < BYTES_PER_THREAD; off += PAGE)
        m[off] = 1;
    munmap((void *)m, BYTES_PER_THREAD);
    return NULL;
}

static double linux_rate(int t)
{
    pthread_t th[256];
    pthread_barrier_init(&start, NULL, (unsigned)t + 1);
    for (int i = 0; i < t; i++)
        pthread_create(&th[i], NULL, linux_thread, NULL);
    pthread_barrier_wait(&start);
    double t0 = now_s();
    int bad = 0;
    for (int i = 0; i < t; i++) {
        void *r;
        pthread_join(th[i], &r);
        bad |= r != NULL;
    }
    double dt = now_s() - t0;
    pthread_barrier_destroy(&start);
    return bad ? -1 : (double)t * (double)(BYTES_PER_THREAD / PAGE) / dt;
}

static double fos_rate(const char *fossim, int t)
{
    int members = t / 4 > 1 ? t / 4 : 1, clients = t - members;
    unsigned long long pages = BYTES_PER_THREAD / PAGE;
    char args[1024];
    snprintf(args, sizeof args,
             "--engine native --seed 1 --set chip.cores=%d --set duration=0 "
             "--set os.pma.members=%d --set os.pma.memory=%lluGiB --set os.pma.scheme=bulk "
             "--set apps.0.clients=%d --set apps.0.placement=compact --set apps.0.think=0 "
             "--set apps.0.batch=%d --set apps.0.hold=0 --set apps.0.operations=%llu "
             "examples/page_alloc.yaml",
             t + 1, members, (unsigned long long)clients, clients, BATCH, pages / BATCH);
    cJSON *doc = bench_fossim(fossim, args, NULL);
    if (!doc) return -1;
    cJSON *r = cJSON_GetObjectItem(doc, "results");
    cJSON *end = cJSON_GetObjectItem(r, "end_ns");
    double x = cJSON_IsNumber(end) && end->valuedouble > 0
                   ? (double)clients * (double)pages / (end->valuedouble / 1e9)
                   : -1;
    cJSON_Delete(doc);
    return x;
}

int main(int argc, char **argv)
{
    int as_json = argc > 1 && !strcmp(argv[1], "--json");
    char fossim[PATH_MAX];
    if (bench_fossim_beside(fossim, sizeof fossim)) return 1;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus > 256) cpus = 256;

    cJSON *par;
    cJSON *out = bench_figure_new(&par);
    cJSON_AddNumberToObject(par, "host_cpus", (double)cpus);
    cJSON_AddNumberToObject(par, "per_thread_bytes", (double)BYTES_PER_THREAD);
    cJSON_AddNumberToObject(par, "page_bytes", PAGE);
    cJSON_AddNumberToObject(par, "fos_batch_pages", BATCH);
    cJSON_AddStringToObject(par, "fos_members", "max(1, T/4); clients T - members");
    cJSON_AddStringToObject(par, "fos_scheme", "bulk");
    cJSON_AddStringToObject(par, "fos_extra_core", "the name service, idle after start-up");
    cJSON *rows = cJSON_AddArrayToObject(out, "rows");
    if (!as_json)
        printf("%6s %22s %22s %8s\n", "cores", "linux pages/host s", "fos pages/host s", "ratio");
    for (int t = 1; t <= cpus; t++) {
        double l = linux_rate(t);
        double f = t >= 2 ? fos_rate(fossim, t) : -1;
        cJSON *row = cJSON_CreateObject();
        cJSON_AddNumberToObject(row, "cores", t);
        cJSON_AddNumberToObject(row, "linux_pages_per_host_s", l);
        if (f > 0 && l > 0) {
            cJSON_AddNumberToObject(row, "fos_pages_per_host_s", f);
            cJSON_AddNumberToObject(row, "ratio", f / l);
        } else {
            cJSON_AddNullToObject(row, "fos_pages_per_host_s");
            cJSON_AddNullToObject(row, "ratio");
        }
        cJSON_AddItemToArray(rows, row);
        if (!as_json) {
            if (f > 0)
                printf("%6d %22.4g %22.4g %8.3f\n", t, l, f, f / l);
            else
                printf("%6d %22.4g %22s %8s\n", t, l, "-", "-");
        }
    }
    bench_json_done(out, as_json);
    return 0;
}
