/* CTC loss (Graves et al. 2006) in log space; blank = class 12 (epsilon). */
#ifndef LM_CTC_CTC_H
#define LM_CTC_CTC_H
#include <stddef.h>

/* logits: T x C pre-softmax; labels: L class indices (no blanks).
 * Returns the negative log-likelihood; +INFINITY if the labels cannot fit in T frames
 * (then grad is all zeros). grad (optional, T x C) receives d loss / d logits.
 * Invalid arguments (blank or a label outside 0..C-1, a label equal to blank, a non-finite
 * logit) return NAN with the error set. Accumulates in double; no shared state, so it may be
 * called from several threads at once. */
double lm_ctc_loss(const float *logits, size_t T, size_t C, const int *labels, size_t L, int blank, double *grad);
/* Minimum frames needed: L plus one blank between each pair of equal neighbours. */
size_t lm_ctc_min_frames(const int *labels, size_t L);
#endif
