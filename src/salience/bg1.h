/* "BG1" pitch salience of Bosch & Gómez (SMC 2016; Bosch, Bittner, Salamon & Gómez, ISMIR 2016),
 * the baseline C_BG1 of Zalkow & Müller (ISMIR 2020) and of Zalkow, Balke & Müller (ICASSP 2019):
 * Durrieu's source/filter model (SIMM, IEEE TASLP 2010) salience H_F0, normalised per frame and
 * smoothed across pitch with a small Gaussian, multiplied by a harmonic-summation salience, on
 * a 10-cent grid from 55 Hz (A1) over five octaves; folded to chroma at 25 Hz. See the comment
 * at the top of bg1.c for the parameters and the simplifications. */
#ifndef LM_SALIENCE_BG1_H
#define LM_SALIENCE_BG1_H
#include <stddef.h>

/* Salience bins: bin b is centred at 55 * 2^(b/120) Hz (10 cents; bin 0 = A1, bin 599 is
 * 10 cents below A6 = 1760 Hz). */
#define LM_BG1_BINS 600
double lm_bg1_bin_hz(int bin);

/* BG1 chroma: y mono at 22050 Hz (n >= 1, finite). *chroma: 12 x T malloc'd, chroma-major
 * (row k = pitch class k, C = 0), frame i at 0.04*i s, T = floor(n / 882) + 1 (the frame count
 * of lm_chroma_stft, so features of the same audio align frame by frame), each frame
 * l2-normalised (an all-zero frame becomes 1/sqrt(12) in every bin). Deterministic and
 * independent of the thread count. The source/filter model is fitted in independent
 * segments of at most 30 s, spread over lm_threads() OpenMP threads (a recording shorter
 * than 30 s uses one). Returns 0, or -1 with lm_set_error set to a one-line message (empty
 * signal, a non-finite sample, out of memory). */
int lm_bg1_chroma(const float *y, size_t n, float **chroma, size_t *T);

/* Which salience lm_bg1_salience returns. */
enum lm_bg1_part {
    LM_BG1_COMBINED = 0, /* BG1: HS x Gaussian-smoothed, frame-max-normalised SIMM H_F0 */
    LM_BG1_SIMM = 1,     /* the SIMM pitch salience H_F0 alone (raw NMF activations) */
    LM_BG1_HS = 2,       /* the harmonic-summation salience alone */
};

/* The salience itself (for tests and figures): *salience is LM_BG1_BINS x T, bin-major
 * (row b holds T values, bin frequencies from lm_bg1_bin_hz), same frames as lm_bg1_chroma,
 * not normalised (arbitrary scale; zero where there is nothing). Returns 0 or -1 (error set). */
int lm_bg1_salience(const float *y, size_t n, enum lm_bg1_part part, float **salience, size_t *T);
#endif
