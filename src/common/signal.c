#include "common/signal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"

lm_signal lm_signal_memory(const float *y, size_t n) {
    lm_signal s;
    memset(&s, 0, sizeof s);
    s.y = y;
    s.n = n;
    return s;
}

int lm_signal_spill_open(lm_signal *s) {
    memset(s, 0, sizeof *s);
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/leitmotif-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        lm_set_error("cannot create a temporary file in %s: %s", dir && *dir ? dir : "/tmp", strerror(errno));
        return -1;
    }
    unlink(path); /* gone when closed, also if the process dies */
    s->f = fdopen(fd, "w+b");
    if (!s->f) {
        close(fd);
        lm_set_error("cannot open a temporary file: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int lm_signal_spill_append(void *signal, const float *x, size_t n) {
    lm_signal *s = signal;
    if (fwrite(x, sizeof *x, n, s->f) != n) {
        lm_set_error("cannot write a temporary file: %s", strerror(errno));
        return -1;
    }
    s->n += n;
    return 0;
}

static int read_at(lm_signal *s, size_t first, size_t count, float *dst) {
    if (fflush(s->f) != 0) return -1;
    size_t done = 0;
    while (done < count) {
        ssize_t r = pread(fileno(s->f), dst + done, (count - done) * sizeof *dst,
                          (off_t)((first + done) * sizeof *dst));
        if (r <= 0) {
            lm_set_error("cannot read a temporary file: %s", r < 0 ? strerror(errno) : "it is shorter than written");
            return -1;
        }
        done += (size_t)r / sizeof *dst;
    }
    return 0;
}

const float *lm_signal_window(lm_signal *s, long long lo, long long hi, size_t *base) {
    *base = 0;
    if (s->y) return s->y;
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
    if (s->y) return emit(ctx, s->y, s->n);
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
    if (s->f) fclose(s->f);
    free(s->buf);
    memset(s, 0, sizeof *s);
}
