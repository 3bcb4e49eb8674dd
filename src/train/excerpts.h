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
    uint16_t *hcqt;  /* [6][216][T], HCQT value * 65535 (the HCQT lies in [0, 1]); NULL in audio mode */
    /* Audio mode (waveform augmentation): the excerpt's audio with a margin of context on
     * each side, from which the HCQT is computed anew for every epoch. */
    int16_t *audio;  /* mono, 22050 Hz, sample * 32767 */
    size_t n_audio;
    double t0, t1;   /* the pair's start and end, seconds from the first sample of audio */
} lm_excerpt;

/* Fills ex[i] for every pair (ex has p->n entries). Pairs whose excerpt cannot be made
 * (audio fails to decode, end beyond the audio, fewer than 2 frames) get T = 0 and a warning
 * on stderr; returns the number of usable excerpts, or -1 on a fatal error (cache dir). */
long lm_excerpts_load(const lm_pairs *p, const char *cache_dir, lm_excerpt *ex);
void lm_excerpts_free(lm_excerpt *ex, size_t n);

/* Audio mode: fills ex[i].audio with each pair's excerpt plus margin_sec of context on each
 * side (within the recording) and ex[i].T with its nominal frame count. Each recording is
 * decoded once. Same skipping and return value as lm_excerpts_load. */
long lm_excerpts_load_audio(const lm_pairs *p, double margin_sec, lm_excerpt *ex);

/* The excerpt's audio as float samples (new buffer of ex->n_audio). */
float *lm_excerpt_audio_float(const lm_excerpt *ex);

/* Network input (T x 216 x 6, columns l2-normalised) of an excerpt whose pitch is shifted by
 * `semitones` (3 bins each; bins shifted in from outside are zero). */
void lm_excerpt_input(const lm_excerpt *ex, int semitones, float *x);

/* Network input from audio y[0..n) (an excerpt's audio, possibly augmented): its 25 Hz HCQT
 * cut to the frames inside [t0, t1] seconds; *T gets the frame count (at most cap; fewer when
 * the audio is shorter). Returns 0 or -1 (error set). */
int lm_excerpt_input_from_audio(const float *y, size_t n, double t0, double t1, int semitones, float *x, size_t cap,
                                size_t *T);
#endif
