/* Standard chroma baseline: librosa 0.7 chroma_stft(y, sr=22050, n_fft=4096, hop_length=882)
 * (Hann window, centred frames, power spectrum, tuning estimated from the signal,
 * Gaussian chroma filter bank ctroct 5 / octwidth 2, per-frame max normalisation),
 * followed by per-frame l2 normalisation. */
#ifndef LM_CHROMA_STFT_CHROMA_H
#define LM_CHROMA_STFT_CHROMA_H
#include <stddef.h>

/* chroma: 12 x T (chroma-major, row c holds T values, row 0 = C), T = 1 + n/882, for
 * mono audio at 22050 Hz. A silent frame (no energy) becomes the uniform vector
 * 1/sqrt(12), so every frame has unit l2 norm. Returns 0, or -1 (error set) for n == 0
 * or when memory runs out. Uses lm_threads() OpenMP threads. */
int lm_chroma_stft(const float *y, size_t n, float **chroma, size_t *T);

/* The tuning lm_chroma_stft uses, in fractions of a chroma bin (12 bins/octave), in
 * [-0.5, 0.5) on a 0.01 grid: librosa's estimate_tuning(S=S, sr=22050, bins_per_octave=12)
 * on the power spectrogram S = |stft(y, n_fft=4096, hop_length=882)|^2, as chroma_stft calls
 * it. (Not estimate_tuning(y=y), which uses a magnitude spectrogram with hop 1024.)
 * Returns NaN (error set) for n == 0 or when memory runs out. */
double lm_estimate_tuning(const float *y, size_t n);
/* The same for a signal in memory or in a file (read a window at a time). */
#include "common/signal.h"
double lm_estimate_tuning_signal(lm_signal *sig);
/* lm_chroma_stft of a signal in memory or in a file (read a window of frames at a time, so that
 * memory does not grow with the signal beyond the 12 x T output); equal to lm_chroma_stft. */
int lm_chroma_stft_signal(lm_signal *sig, float **chroma, size_t *T);
#endif
