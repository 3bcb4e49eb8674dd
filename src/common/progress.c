#include "common/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

double lm_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void lm_progress_start(lm_progress *p, const char *label, size_t total) {
    const char *env = getenv("LEITMOTIF_PROGRESS");
    p->label = label;
    p->total = total;
    p->t_start = p->t_last = lm_now();
    p->enabled = env ? atoi(env) != 0 : isatty(2);
}

void lm_progress_update(lm_progress *p, size_t done) {
    if (!p->enabled) return;
    double t = lm_now();
    if (t - p->t_last < 0.5 && done < p->total) return;
    p->t_last = t;
    double el = t - p->t_start;
    double eta = done ? el * (double)(p->total - done) / (double)done : 0.0;
    fprintf(stderr, "\r%s: %zu/%zu (%.0f%%) elapsed %.0fs eta %.0fs   ", p->label, done, p->total,
            p->total ? 100.0 * (double)done / (double)p->total : 100.0, el, eta);
    fflush(stderr);
}

void lm_progress_end(lm_progress *p) {
    if (!p->enabled) return;
    fprintf(stderr, "\r%s: done in %.1fs%30s\n", p->label, lm_now() - p->t_start, "");
}
