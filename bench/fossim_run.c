#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/fossim_run.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

cJSON *bench_fossim(const char *bin, const char *args, double *wall_s)
{
    char json[64], cmd[4096];
    snprintf(json, sizeof json, "/tmp/fossim_bench_%d.json", getpid());
    snprintf(cmd, sizeof cmd, "'%s' -q %s --json %s >/dev/null", bin, args, json);
    double t0 = now_s();
    int st = system(cmd);
    if (wall_s) *wall_s = now_s() - t0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench: '%s' failed (status %#x)\n", cmd, st);
        unlink(json);
        return NULL;
    }
    static char buf[1 << 22];
    FILE *f = fopen(json, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    unlink(json);
    buf[n] = '\0';
    cJSON *doc = cJSON_Parse(buf);
    if (!doc) fprintf(stderr, "bench: '%s' wrote no JSON\n", cmd);
    return doc;
}

cJSON *bench_fossim_yaml(const char *bin, const char *workload)
{
    char yaml[64];
    snprintf(yaml, sizeof yaml, "/tmp/fossim_bench_%d.yaml", getpid());
    FILE *f = fopen(yaml, "w");
    if (!f) return NULL;
    fputs(workload, f);
    fclose(f);
    cJSON *doc = bench_fossim(bin, yaml, NULL);
    unlink(yaml);
    return doc;
}

double bench_app_figure(const cJSON *doc, const char *key, const char *sub)
{
    cJSON *app =
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "results"), "apps"), 0);
    cJSON *v = cJSON_GetObjectItem(sub ? cJSON_GetObjectItem(app, sub) : app, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

int bench_fossim_beside(char *out, size_t n)
{
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return -1;
    self[len] = '\0';
    snprintf(out, n, "%s/../fossim", dirname(self));
    return 0;
}

cJSON *bench_figure_new(cJSON **par)
{
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "schema_version", 2);
    *par = cJSON_AddObjectToObject(out, "parameters");
    return out;
}

void bench_params_virtual_mesh(cJSON *par, int cores, const char *duration, const char *warmup)
{
    cJSON_AddNumberToObject(par, "cores", cores);
    cJSON_AddStringToObject(par, "topology", "mesh");
    cJSON_AddStringToObject(par, "costs", "tile");
    cJSON_AddStringToObject(par, "engine", "virtual");
    cJSON_AddStringToObject(par, "duration", duration);
    cJSON_AddStringToObject(par, "warmup", warmup);
}

void bench_json_done(cJSON *doc, int print)
{
    if (print) {
        char *s = cJSON_Print(doc);
        puts(s);
        free(s);
    }
    cJSON_Delete(doc);
}
