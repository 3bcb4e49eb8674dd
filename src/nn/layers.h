/* Building blocks of the deep chroma network shared by inference (cnn.c) and training
 * (cnn_train.c). Tensors are frame-major: [frame][pitch bin][channel]. */
#ifndef LM_NN_LAYERS_H
#define LM_NN_LAYERS_H
#include <stddef.h>
#include <stdint.h>

#include "nn/model.h"

#define LM_NB 216
#define LM_NH 6
#define LM_NCONV 5
#define LM_LEAKY_ALPHA 0.3f

typedef struct {
    int kh, kw, cin, cout;
    const float *k, *b; /* kernel [kh][kw][cin][cout] (kh along time, kw along pitch), bias [cout] */
    float alpha;        /* activation's slope below zero: LM_LEAKY_ALPHA (chroma), 0 ReLU, 1 none */
    const float *bn_scale, *bn_shift; /* NULL, or a per-channel y*scale+shift after the activation */
    const uint16_t *kbf;          /* NULL, or the kernel in bf16 (conv_bf16.h): run in bf16 */
} lm_conv_spec;

/* The five convolutions of model m (bendy1, bendy2, smoothy1, smoothy2, distribute). */
void lm_conv_specs(const lm_model *m, lm_conv_spec specs[LM_NCONV]);

/* 'same' convolution + leaky ReLU over frames: in holds n_in frames (including kh-1 frames of
 * context/padding), out receives n_in - kh + 1 frames. col is scratch of col_cap floats
 * (at least kh * LM_NB * kw * cin). */
void lm_conv_forward(const lm_conv_spec *L, const float *in, size_t n_in, float *out, float *col, size_t col_cap);

/* The same on frames of nb pitch bins (any nb, kernels up to 84 bins wide; alpha and the
 * affine map as the spec says); col must hold lm_conv_col_need(L, nb) floats at least. */
void lm_conv_forward_nb(const lm_conv_spec *L, int nb, const float *in, size_t n_in, float *out, float *col,
                        size_t col_cap);
/* Scratch floats that lm_conv_forward_nb needs for a batch of one output frame. */
size_t lm_conv_col_need(const lm_conv_spec *L, int nb);

/* Backward of lm_conv_forward. out: the layer's (post-activation) output, n_out frames;
 * dout: gradient w.r.t. out, overwritten with the gradient w.r.t. the pre-activation.
 * Accumulates dk [kh][kw][cin][cout] and db [cout]; if din is not NULL, writes the gradient
 * w.r.t. in into it (n_out + kh - 1 frames, overwritten). col: scratch of col_cap floats;
 * dcol: scratch of lm_conv_max_kernel() floats (a transposed kernel or kernel gradient). */
void lm_conv_backward(const lm_conv_spec *L, const float *in, const float *out, float *dout, size_t n_out, float *dk,
                      float *db, float *din, float *col, float *dcol, size_t col_cap);

/* Smallest scratch size (col) that works for every layer. */
size_t lm_conv_min_col(void);
/* Floats in the largest kernel (the 3x42x32x8 distribute layer): the size of dcol. */
size_t lm_conv_max_kernel(void);

/* Head: salience s[p] = sigmoid(squishy(a5[p])), logits z[0..11] = chroma pooling of s,
 * z[12] = eps_pool(s). a5: LM_NB x 8 for one frame. */
void lm_head_forward(const lm_model *m, const float *a5, float *sal, double *z);
/* Backward of the head for one frame: dz (13) -> accumulates parameter gradients in g and
 * writes da5 (LM_NB x 8). */
void lm_head_backward(const lm_model *m, const float *a5, const float *sal, const double *dz, lm_model *g, float *da5);
#endif
