/* Standard chroma baseline: librosa 0.7 chroma_stft(y, sr=22050, n_fft=4096, hop_length=882)
 * (Hann window, centred frames, power spectrum, tuning estimated from the signal,
 * Gaussian chroma filter bank ctroct 5 / octwidth 2, per-frame max normalisation),
 * followed by per-frame l2 normalisation. */
#ifndef LM_CHROMA_STFT_CHROMA_H
#define LM_CHROMA_STFT_CHROMA_H
#include <stddef.h>

/* chroma: 12 x T (chroma-major, row c holds T values), T = 1 + n/882. */
int lm_chroma_stft(const float *y, size_t n, float **chroma, size_t *T);
/* librosa.estimate_tuning(y, sr=22050, n_fft=4096) in fractions of a bin (12 bins/octave). */
double lm_estimate_tuning(const float *y, size_t n);
#endif
