#include "nn/cnn.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/threads.h"
#include "nn/conv_bf16.h"
#include "nn/conv_stack.h"
#include "nn/layers.h"

#define NB LM_HCQT_NBINS
#define NH LM_HCQT_NHARM
#define CHUNK 64 /* output frames per chunk */
#define CONV_SCRATCH_BUDGET (8u << 20) /* bytes of convolution scratch (padded layer input) per thread */

/* Inverse l2 norms of the (frame, harmonic) columns; 0 marks an all-zero column, which
 * librosa.util.normalize(fill=True) turns into the uniform value 1/sqrt(216). */
static float *column_inv_norms(const lm_hcqt *hcqt) {
    size_t T = hcqt->n_frames;
    float *inv = lm_malloc(T * NH, sizeof *inv);
    if (!inv) return NULL;
    double *ss = lm_calloc(T, sizeof *ss);
    if (!ss) {
        free(inv);
        return NULL;
    }
    for (int h = 0; h < NH; h++) {
        memset(ss, 0, T * sizeof *ss);
        for (int p = 0; p < NB; p++) {
            const float *row = hcqt->data + ((size_t)h * NB + (size_t)p) * T;
            for (size_t t = 0; t < T; t++) ss[t] += (double)row[t] * row[t];
        }
        for (size_t t = 0; t < T; t++) inv[t * NH + (size_t)h] = ss[t] < 1e-30 ? 0.0f : (float)(1.0 / sqrt(ss[t]));
    }
    free(ss);
    return inv;
}

/* Network input frame t (NB x NH) from the HCQT, normalised. */
static void hcqt_input_frame(const lm_hcqt *hcqt, const float *inv, size_t t, float *dst) {
    size_t T = hcqt->n_frames;
    for (int h = 0; h < NH; h++) {
        float s = inv[t * NH + (size_t)h];
        for (int p = 0; p < NB; p++)
            dst[(size_t)p * NH + (size_t)h] = s > 0 ? hcqt->data[((size_t)h * NB + (size_t)p) * T + t] * s
                                                     : (float)(1.0 / sqrt((double)NB));
    }
}

float *lm_cnn_input(const lm_hcqt *hcqt) {
    size_t T = hcqt->n_frames;
    float *inv = column_inv_norms(hcqt);
    float *x = inv ? lm_malloc(T * NB * NH, sizeof *x) : NULL;
    if (x)
        for (size_t t = 0; t < T; t++) hcqt_input_frame(hcqt, inv, t, x + t * NB * NH);
    free(inv);
    return x;
}

/* Where the chunks get their input frames: a ready input array, or the HCQT normalised on
 * the fly (so a long recording never needs a second full-size copy of its features). */
typedef struct {
    const float *x;
    const lm_hcqt *hcqt;
    const float *inv;
    size_t first; /* sequence frame of the HCQT's frame 0 */
} input_source;

typedef struct {
    const lm_model *m;
    input_source src;
    float *probs, *logits, *salience;
} forward_ctx;

static void fill_input_frame(const void *ctx, size_t t, float *dst) {
    const input_source *src = &((const forward_ctx *)ctx)->src;
    if (src->x) memcpy(dst, src->x + t * NB * NH, NB * NH * sizeof *dst);
    else hcqt_input_frame(src->hcqt, src->inv, t - src->first, dst);
}

/* The head (pitch salience, 13 classes) and softmax of one frame of the last convolution. */
static void emit_frame(const void *ctx, size_t t, const float *a5) {
    const forward_ctx *fc = ctx;
    float sal[NB];
    double z[LM_NCLASSES];
    lm_head_forward(fc->m, a5, sal, z);
    double mx = z[0];
    for (int k = 1; k < LM_NCLASSES; k++) mx = z[k] > mx ? z[k] : mx;
    double sum = 0, e[LM_NCLASSES];
    for (int k = 0; k < LM_NCLASSES; k++) sum += e[k] = exp(z[k] - mx);
    for (int k = 0; k < LM_NCLASSES; k++) {
        if (fc->probs) fc->probs[t * LM_NCLASSES + (size_t)k] = (float)(e[k] / sum);
        if (fc->logits) fc->logits[t * LM_NCLASSES + (size_t)k] = (float)z[k];
    }
    if (fc->salience) memcpy(fc->salience + t * NB, sal, sizeof sal);
}

static int forward_range(const lm_model *m, const input_source *src, size_t T, size_t c0, size_t c1, float *probs,
                         float *logits, float *salience) {
    lm_conv_spec layers[LM_NCONV];
    lm_conv_specs(m, layers);
    size_t col_cap = CONV_SCRATCH_BUDGET / sizeof(float);
    if (col_cap < lm_conv_min_col()) col_cap = lm_conv_min_col();
    /* bf16 (opt-in): kernels converted once per pass, a few microseconds */
    uint16_t *packed[LM_NCONV] = {NULL};
    int rc = 0;
    if (lm_nn_precision_effective() == LM_NN_BF16)
        for (int l = 0; l < LM_NCONV && rc == 0; l++)
            if (lm_conv_bf16_applies(&layers[l])) {
                packed[l] = lm_conv_bf16_pack(&layers[l]);
                layers[l].kbf = packed[l];
                if (!packed[l]) rc = -1;
            }
    forward_ctx ctx = {m, *src, probs, logits, salience};
    if (rc == 0)
        rc = lm_conv_stack_forward_range(layers, LM_NCONV, NB, T, CHUNK, c0, c1, 64, col_cap, fill_input_frame,
                                         emit_frame, &ctx);
    for (int l = 0; l < LM_NCONV; l++) free(packed[l]);
    return rc;
}

static int forward(const lm_model *m, const input_source *src, size_t T, float *probs, float *logits, float *salience) {
    return forward_range(m, src, T, 0, (T + CHUNK - 1) / CHUNK, probs, logits, salience);
}

size_t lm_cnn_chunk_frames(void) { return CHUNK; }

size_t lm_cnn_halo(const lm_model *m) {
    lm_conv_spec layers[LM_NCONV];
    lm_conv_specs(m, layers);
    return lm_conv_stack_halo(layers, LM_NCONV);
}

int lm_cnn_forward_hcqt_range(const lm_model *m, const lm_hcqt *window, size_t first, size_t T, size_t c0, size_t c1,
                              float *probs) {
    float *inv = column_inv_norms(window);
    if (!inv) return -1;
    input_source src = {NULL, window, inv, first};
    int rc = forward_range(m, &src, T, c0, c1, probs, NULL, NULL);
    free(inv);
    return rc;
}

int lm_cnn_forward_ex(const lm_model *m, const float *x, size_t T, float *probs, float *logits, float *salience) {
    input_source src = {x, NULL, NULL, 0};
    return forward(m, &src, T, probs, logits, salience);
}

int lm_cnn_forward(const lm_model *m, const float *x, size_t T, float *probs) {
    return lm_cnn_forward_ex(m, x, T, probs, NULL, NULL);
}

int lm_cnn_forward_hcqt(const lm_model *m, const lm_hcqt *hcqt, float *probs) {
    float *inv = column_inv_norms(hcqt);
    if (!inv) return -1;
    input_source src = {NULL, hcqt, inv, 0};
    int rc = forward(m, &src, hcqt->n_frames, probs, NULL, NULL);
    free(inv);
    return rc;
}

void lm_probs_to_chroma(const float *probs, size_t T, float *chroma) {
    for (size_t t = 0; t < T; t++) {
        double ss = 0;
        for (int k = 0; k < 12; k++) ss += (double)probs[t * LM_NCLASSES + (size_t)k] * probs[t * LM_NCLASSES + (size_t)k];
        double inv = ss > 1e-300 ? 1.0 / sqrt(ss) : 0;
        for (int k = 0; k < 12; k++)
            chroma[(size_t)k * T + t] = ss > 1e-300 ? (float)(probs[t * LM_NCLASSES + (size_t)k] * inv) : (float)(1.0 / sqrt(12.0));
    }
}
