#include "common/signal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

lm_signal lm_signal_memory(const float *y, size_t n) {
    lm_signal s;
    memset(&s, 0, sizeof s);
    s.y = y;
    s.n = n;
    return s;
}

int lm_signal_spill_open(lm_signal *s, size_t expect_samples) {
    memset(s, 0, sizeof *s);
    return lm_spill_open(&s->sp, expect_samples > SIZE_MAX / sizeof(float) ? SIZE_MAX : expect_samples * sizeof(float));
}

int lm_signal_spill_append(void *signal, const float *x, size_t n) {
    lm_signal *s = signal;
    if (lm_spill_write(&s->sp, x, n * sizeof *x) != 0) return -1;
    s->n += n;
    return 0;
}

static int read_at(lm_signal *s, size_t first, size_t count, float *dst) {
    return lm_spill_read(&s->sp, first * sizeof *dst, dst, count * sizeof *dst);
}

/* The whole signal where it is in memory (the caller's or the store's), else NULL. */
static const float *in_memory(const lm_signal *s) { return s->y ? s->y : lm_spill_memory(&s->sp); }

const float *lm_signal_window(lm_signal *s, long long lo, long long hi, size_t *base) {
    *base = 0;
    const float *whole = in_memory(s);
    if (whole) return whole;
    const long long n = (long long)s->n, span = hi - lo;
    /* an index d beyond an end reflects to within d of it; beyond span of both, all of it */
    long long a = lo < 0 ? 0 : lo, b = hi > n ? n : hi;
    if (lo < 0 && b < span + 1) b = span + 1 < n ? span + 1 : n;
    if (hi > n && a > n - 1 - span) a = n - 1 - span > 0 ? n - 1 - span : 0;
    if (a >= b) a = b > 0 ? b - 1 : 0;
    size_t count = (size_t)(b - a);
    if (count > s->cap) {
        float *nb = realloc(s->buf, count * sizeof *nb);
        if (!nb) {
            lm_set_error("out of memory (signal window of %zu samples)", count);
            return NULL;
        }
        s->buf = nb;
        s->cap = count;
    }
    if (read_at(s, (size_t)a, count, s->buf) != 0) return NULL;
    s->base = (size_t)a;
    s->len = count;
    *base = s->base;
    return s->buf;
}

int lm_signal_each_block(lm_signal *s, int (*emit)(void *ctx, const float *x, size_t n), void *ctx) {
    const float *whole = in_memory(s);
    if (whole) return emit(ctx, whole, s->n);
    enum { BLOCK = 1 << 16 };
    float *b = lm_malloc(BLOCK, sizeof *b);
    int rc = b ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < s->n; i += BLOCK) {
        size_t k = s->n - i < BLOCK ? s->n - i : BLOCK;
        rc = read_at(s, i, k, b) == 0 ? emit(ctx, b, k) : -1;
    }
    free(b);
    return rc;
}

void lm_signal_close(lm_signal *s) {
    lm_spill_close(&s->sp);
    free(s->buf);
    memset(s, 0, sizeof *s);
}
