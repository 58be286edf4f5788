#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "sim/progress.h"

struct sim_progress_bar {
    const sim *s;
    fos_cycles total;
    double ns_per_cycle;
    FILE *f;
    bool tty, stop, drew;
    struct timespec t0;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
};

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* A simulated time in the unit that reads best. */
static void fmt_time(char *b, size_t n, double ns)
{
    if (ns >= 1e9)
        snprintf(b, n, "%.2f s", ns / 1e9);
    else if (ns >= 1e6)
        snprintf(b, n, "%.2f ms", ns / 1e6);
    else
        snprintf(b, n, "%.1f us", ns / 1e3);
}

static void draw(sim_progress_bar *p)
{
    fos_cycles now;
    uint64_t msgs;
    sim_progress(p->s, &now, &msgs);
    double host = since(&p->t0);
    double frac = p->total ? (double)now / (double)p->total : 0;
    if (frac > 1) frac = 1;
    char done[32], total[32], rate[48] = "", left[48] = "";
    fmt_time(done, sizeof done, (double)now * p->ns_per_cycle);
    fmt_time(total, sizeof total, (double)p->total * p->ns_per_cycle);
    if (msgs && host > 0)
        snprintf(rate, sizeof rate, ", %.2f M msgs/host s", (double)msgs / host / 1e6);
    if (frac > 0.01) snprintf(left, sizeof left, ", ~%.0f s left", host / frac - host);
    if (p->tty) {
        char bar[21];
        int fill = (int)(frac * 20);
        for (int i = 0; i < 20; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[20] = '\0';
        if (p->total)
            fprintf(p->f, "\r[%s] %3.0f%% %s of %s simulated, %.1f s host%s%s\033[K", bar,
                    frac * 100, done, total, host, rate, left);
        else
            fprintf(p->f, "\r%s simulated, %.1f s host%s\033[K", done, host, rate);
    } else if (p->total) {
        fprintf(p->f, "fossim: %.0f%%: %s of %s simulated, %.1f s host%s%s\n", frac * 100, done,
                total, host, rate, left);
    } else {
        fprintf(p->f, "fossim: %s simulated, %.1f s host%s\n", done, host, rate);
    }
    fflush(p->f);
    p->drew = true;
}

static void *progress_main(void *arg)
{
    sim_progress_bar *p = arg;
    /* A terminal is redrawn four times a second; a log gets a line every 10 s. */
    long step_ms = p->tty ? 250 : 10000;
    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += step_ms / 1000;
        until.tv_nsec += (step_ms % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&p->cond, &p->lock, &until);
        if (!p->stop) draw(p);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

sim_progress_bar *sim_progress_start(const sim *s, fos_cycles total, uint64_t cycles_per_s, FILE *f)
{
    sim_progress_bar *p = calloc(1, sizeof(*p));
    if (!p) return NULL;
    *p =
        (sim_progress_bar){.s = s,
                           .total = total,
                           .ns_per_cycle = 1e9 / (double)(cycles_per_s ? cycles_per_s : 1000000000),
                           .f = f,
                           .tty = isatty(fileno(f))};
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    clock_gettime(CLOCK_MONOTONIC, &p->t0);
    if (pthread_create(&p->thread, NULL, progress_main, p) != 0) {
        free(p);
        return NULL;
    }
    return p;
}

void sim_progress_stop(sim_progress_bar *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    if (p->tty && p->drew) {
        fputs("\r\033[K", p->f);
        fflush(p->f);
    }
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}
