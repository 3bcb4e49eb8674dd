/* Forward pass of the deep chroma CNN (inference). */
#ifndef LM_NN_CNN_H
#define LM_NN_CNN_H
#include <stddef.h>

#include "hcqt/hcqt.h"
#include "nn/model.h"

/* Network input from a 25 Hz HCQT: x[(t*216 + p)*6 + h], each (frame, harmonic) column
 * l2-normalised over the 216 bins (an all-zero column becomes 1/sqrt(216)). */
float *lm_cnn_input(const lm_hcqt *hcqt);
/* probs[t*13 + k]: softmax over 12 chroma + epsilon for T frames of input x (layout above).
 * Processes the sequence in overlapping chunks; the result equals whole-sequence processing. */
int lm_cnn_forward(const lm_model *m, const float *x, size_t T, float *probs);
/* Same, straight from a 25 Hz HCQT (input normalised chunk by chunk, no full copy). */
int lm_cnn_forward_hcqt(const lm_model *m, const lm_hcqt *hcqt, float *probs);
/* Same, also returning the pre-softmax logits (T x 13) and the salience (T x 216); either may be NULL. */
int lm_cnn_forward_ex(const lm_model *m, const float *x, size_t T, float *probs, float *logits, float *salience);
/* Streaming: the probs of the chunks [c0, c1) of lm_cnn_chunk_frames() frames of a sequence of
 * T frames, from an HCQT window holding frames [first, first + window->n_frames), which must
 * include lm_cnn_halo(m) frames of context on both sides (within [0, T)). Equal to the whole pass. */
int lm_cnn_forward_hcqt_range(const lm_model *m, const lm_hcqt *window, size_t first, size_t T, size_t c0, size_t c1,
                              float *probs);
size_t lm_cnn_chunk_frames(void);
size_t lm_cnn_halo(const lm_model *m);
/* Chroma features 12 x T (chroma-major), each frame l2-normalised, from probs T x 13. */
void lm_probs_to_chroma(const float *probs, size_t T, float *chroma);
#endif
