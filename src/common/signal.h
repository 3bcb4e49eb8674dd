/* A mono signal that is either in the caller's memory or in a spill store of raw floats (the
 * streaming feature extraction's, see chroma/features.c: in memory while short, else in a
 * temporary file), read through windows. */
#ifndef LM_COMMON_SIGNAL_H
#define LM_COMMON_SIGNAL_H
#include <stddef.h>

#include "common/spill.h"

typedef struct {
    const float *y; /* the whole signal in the caller's memory, or NULL: in the store sp */
    lm_spill sp;
    size_t n;
    float *buf; /* window of a signal in a file: samples [base, base + len) */
    size_t cap, base, len;
} lm_signal;

/* A signal in memory (no copy). */
lm_signal lm_signal_memory(const float *y, size_t n);
/* An empty signal in a new spill store (common/spill.h), expected to reach expect_samples
 * samples (0: not known); 0 or -1 (error set). */
int lm_signal_spill_open(lm_signal *s, size_t expect_samples);
/* Appends to a spilled signal (an lm_block_fn). */
int lm_signal_spill_append(void *signal, const float *x, size_t n);
/* Samples covering the indices [lo, hi) and the samples numpy 'reflect' padding maps the
 * outside part of it to: the returned w has sample i at w[i - *base]. NULL on error (set). */
const float *lm_signal_window(lm_signal *s, long long lo, long long hi, size_t *base);
/* Hands [0, n) to emit in blocks. */
int lm_signal_each_block(lm_signal *s, int (*emit)(void *ctx, const float *x, size_t n), void *ctx);
void lm_signal_close(lm_signal *s);
#endif
