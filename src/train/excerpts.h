/* HCQT excerpts of the training pairs, computed once and cached on disk.
 * A pair's excerpt is the 25 Hz HCQT (of the whole recording, so that the log compression
 * sees the same global maximum as at inference) cut to the frames t_i = 0.04*i inside
 * [start_sec, end_sec]. The cache key is the audio file's content (CRC-32 and size), the
 * excerpt bounds and the feature parameters, so a changed file is never served stale and an
 * interrupted run keeps every excerpt it finished. */
#ifndef LM_TRAIN_EXCERPTS_H
#define LM_TRAIN_EXCERPTS_H
#include <stddef.h>
#include <stdint.h>

#include "train/pairs.h"

typedef struct {
    size_t T;        /* frames */
    uint16_t *hcqt;  /* [6][216][T], HCQT value * 65535 (the HCQT lies in [0, 1]) */
} lm_excerpt;

/* Fills ex[i] for every pair (ex has p->n entries). Pairs whose excerpt cannot be made
 * (audio fails to decode, end beyond the audio, fewer than 2 frames) get T = 0 and a warning
 * on stderr; returns the number of usable excerpts, or -1 on a fatal error (cache dir). */
long lm_excerpts_load(const lm_pairs *p, const char *cache_dir, lm_excerpt *ex);
void lm_excerpts_free(lm_excerpt *ex, size_t n);

/* Network input (T x 216 x 6, columns l2-normalised) of an excerpt whose pitch is shifted by
 * `semitones` (3 bins each; bins shifted in from outside are zero). */
void lm_excerpt_input(const lm_excerpt *ex, int semitones, float *x);
#endif
