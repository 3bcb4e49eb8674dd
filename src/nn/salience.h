/* Bittner et al.'s deep salience network (ISMIR 2017, the "melody2" weights), the paper's
 * C_Bit baseline, on the same convolution loops and weight loader as the deep chroma
 * network: five convolutions with ReLU, each followed by a batch normalisation (a sixth one
 * normalises the input), then a 1x1 convolution and a sigmoid. Input: a full-rate HCQT on
 * lm_hcqt_grid_salience (60 bins per octave, 360 bins, about 86 frames per second),
 * log-compressed as for the deep chroma but neither aggregated nor l2-normalised. */
#ifndef LM_NN_SALIENCE_H
#define LM_NN_SALIENCE_H
#include <stddef.h>
#include <stdint.h>

#include "hcqt/hcqt.h"

#define LM_SAL_NBINS 360
#define LM_SAL_NCONV 5

typedef struct {
    char id[128];
    float *w;                         /* the file's tensors, in its order */
    float *kernels[LM_SAL_NCONV];     /* kernels turned to [time][pitch][cin][cout] (ours) */
    float *bn[LM_SAL_NCONV + 1][2];   /* batch norms 0..5 folded into a scale and a shift */
    uint32_t checksum;                /* CRC-32 of the tensor bytes: identifies the model in databases */
} lm_salience_model;

/* Loads a FLATWEIGHTS file of this architecture (e.g. ../shared/reference/models/bittner_melody2.bin);
 * another architecture, a truncated or damaged file give a one-line error. */
int lm_salience_model_load(const char *path, lm_salience_model *m);
void lm_salience_model_free(lm_salience_model *m);
/* sal[t * 360 + p] in [0, 1] for the hcqt->n_frames frames of a full-rate HCQT on
 * lm_hcqt_grid_salience. The whole sequence is one input (zero padding only at its ends);
 * the authors' script cuts it into 2000-frame chunks padded separately. */
int lm_salience_forward(const lm_salience_model *m, const lm_hcqt *hcqt, float *sal);
/* Streaming: the salience of the chunks [c0, c1) of lm_salience_chunk_frames() frames of a
 * sequence of T frames, from an HCQT window holding frames [first, first + window->n_frames),
 * which must include lm_salience_halo(m) frames of context on both sides (within [0, T)):
 * sal[(t - c0 * chunk) * 360 + p] for those frames t. Equal to the whole pass. */
int lm_salience_forward_range(const lm_salience_model *m, const lm_hcqt *window, size_t first, size_t T, size_t c0,
                              size_t c1, float *sal);
size_t lm_salience_chunk_frames(void);
size_t lm_salience_halo(const lm_salience_model *m);
#endif
