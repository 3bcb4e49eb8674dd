/* Tuning compensation for the learned features. Recordings are rarely at A = 440 Hz exactly
 * (orchestras at 442-445, period instruments at 415-430, choirs that drift sharp), and a deep
 * chroma network trained on in-tune audio sees a recording a quarter tone off with its notes
 * between its pitch bins. So the signal's tuning is estimated (librosa's estimate_tuning, as
 * the stft chroma does for its filter bank) or given, the signal is resampled to bring it to
 * A = 440, the features are computed, and their frames are mapped back to the recording's own
 * time axis (frame i at 0.04*i s of the original), so times in results stay the recording's. */
#ifndef LM_CHROMA_TUNING_H
#define LM_CHROMA_TUNING_H
#include <stddef.h>

/* off: the signal as it is; auto: estimate the deviation; fixed: the given deviation. */
enum lm_tuning_mode { LM_TUNING_OFF = 0, LM_TUNING_AUTO = 1, LM_TUNING_FIXED = 2 };
typedef struct {
    enum lm_tuning_mode mode;
    double semitones; /* LM_TUNING_FIXED: the recording's deviation from A = 440, [-0.5, 0.5] */
} lm_tuning;

/* Deviations smaller than this (in semitones) are left alone: the features of an in-tune
 * recording stay bit for bit those without compensation. */
#define LM_TUNING_MIN_SEMITONES 0.03

/* "auto", "off" (or "0") or a deviation in cents, -50..50 ("+20", "-35.5": the recording is
 * that much above/below A = 440; A = 430 Hz is -40). 0, or -1 with the error set and *t
 * unchanged. */
int lm_tuning_parse(const char *s, lm_tuning *t);
/* "auto", "off" or "+20c"-style text for messages and metadata (static buffer). */
const char *lm_tuning_name(const lm_tuning *t);

/* Resamples y[0..n) so that its pitch moves by -semitones (|semitones| <= 0.5): the output
 * lasts 2^(semitones/12) times as long. *y_out (caller frees) and *n_out. 0 or -1 (error set). */
int lm_tuning_resample(const float *y, size_t n, double semitones, float **y_out, size_t *n_out);

/* The same block by block (lm_resampler_push the signal, then an empty last block). */
#include "audio/audio.h"
int lm_tuning_resampler(lm_resampler *r, double semitones, lm_block_fn emit, void *ctx);

/* Maps frames computed on a signal stretched by `stretch` back to the original time axis:
 * output frame j is input frame j * stretch, linearly interpolated. Element (t, k) of a frame
 * sequence of K values per frame lives at [t * frame_stride + k * value_stride] (chroma-major
 * 12 x T: frame_stride 1, value_stride T; frame-major T x K: K and 1), in the input with T_in
 * frames and in the output (*out, caller frees) with T_out. l2_normalise: rescale each output
 * frame to unit l2 norm (a zero frame becomes the uniform unit vector). 0 or -1 (error set). */
int lm_tuning_unwarp(const float *in, size_t T_in, int K, int chroma_major, double stretch, size_t T_out,
                     int l2_normalise, float **out);
#endif
