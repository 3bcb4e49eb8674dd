#include "nn/salience.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/threads.h"
#include "nn/conv_stack.h"
#include "nn/layers.h"
#include "nn/model.h"

#define NB LM_SAL_NBINS
#define NH LM_HCQT_NHARM
#define BN_EPS 0.001 /* Keras' default; not stored in the file */
#define CHUNK 96     /* output frames per chunk */
#define MAX_CH 128   /* widest activation */
#define SCRATCH_BUDGET (8u << 20)

/* File order: bn0, then per convolution its kernel, bias and the batch norm after it, then
 * the 1x1 output convolution. Kernels are [k_freq][k_time][in][out] in the file. */
enum { T_BN0 = 0, T_CONV0 = 4, T_PER_CONV = 6, T_SQUISHY_K = 34, T_SQUISHY_B = 35, N_TENSORS = 36 };
static const char *const names[N_TENSORS] = {
    "bn0.gamma", "bn0.beta", "bn0.moving_mean", "bn0.moving_variance",
    "bendy1.kernel", "bendy1.bias", "bn1.gamma", "bn1.beta", "bn1.moving_mean", "bn1.moving_variance",
    "bendy2.kernel", "bendy2.bias", "bn2.gamma", "bn2.beta", "bn2.moving_mean", "bn2.moving_variance",
    "smoothy1.kernel", "smoothy1.bias", "bn3.gamma", "bn3.beta", "bn3.moving_mean", "bn3.moving_variance",
    "smoothy2.kernel", "smoothy2.bias", "bn4.gamma", "bn4.beta", "bn4.moving_mean", "bn4.moving_variance",
    "distribute.kernel", "distribute.bias", "bn5.gamma", "bn5.beta", "bn5.moving_mean", "bn5.moving_variance",
    "squishy.kernel", "squishy.bias"};
/* Per convolution: k_freq, k_time, in, out (the file's order). */
static const int conv_shape[LM_SAL_NCONV][4] = {{5, 5, 6, 128}, {5, 5, 128, 64}, {3, 3, 64, 64}, {3, 3, 64, 64},
                                                {70, 3, 64, 8}};
static int shapes[N_TENSORS][4];
static size_t counts[N_TENSORS];

static void build_arch(void) {
    int t = 0;
    for (int i = 0; i < 4; i++) shapes[t++][0] = NH;
    for (int l = 0; l < LM_SAL_NCONV; l++) {
        memcpy(shapes[t++], conv_shape[l], sizeof conv_shape[l]);
        shapes[t++][0] = conv_shape[l][3];
        for (int i = 0; i < 4; i++) shapes[t++][0] = conv_shape[l][3];
    }
    shapes[t][0] = shapes[t][1] = 1;
    shapes[t][2] = 8;
    shapes[t++][3] = 1;
    shapes[t++][0] = 1;
    for (int i = 0; i < N_TENSORS; i++) {
        counts[i] = 1;
        for (int d = 0; d < 4 && shapes[i][d]; d++) counts[i] *= (size_t)shapes[i][d];
    }
}

void lm_salience_model_free(lm_salience_model *m) {
    if (!m) return;
    free(m->w);
    for (int l = 0; l < LM_SAL_NCONV; l++) free(m->kernels[l]);
    for (int b = 0; b <= LM_SAL_NCONV; b++) free(m->bn[b][0]);
    memset(m, 0, sizeof *m);
}

int lm_salience_model_load(const char *path, lm_salience_model *m) {
    memset(m, 0, sizeof *m);
#pragma omp critical(lm_salience_arch)
    if (!counts[0]) build_arch();
    const lm_flat_arch arch = {"deep salience network (Bittner et al.)", N_TENSORS, names,
                               (const int (*)[4])shapes, counts};
    if (lm_flat_load(path, &arch, &m->w, m->id, sizeof m->id, &m->checksum) != 0) return -1;
    const float *t[N_TENSORS];
    size_t off = 0;
    for (int i = 0; i < N_TENSORS; i++) {
        t[i] = m->w + off;
        off += counts[i];
    }
    for (int b = 0; b <= LM_SAL_NCONV; b++) {
        int first = b == 0 ? T_BN0 : T_CONV0 + (b - 1) * T_PER_CONV + 2;
        size_t ch = counts[first];
        /* + 16: the vector epilogue reads whole 16-channel groups */
        float *sc = lm_calloc(2 * ch + 16, sizeof *sc);
        if (!sc) {
            lm_salience_model_free(m);
            return -1;
        }
        m->bn[b][0] = sc;
        m->bn[b][1] = sc + ch;
        for (size_t c = 0; c < ch; c++) {
            double s = t[first][c] / sqrt((double)t[first + 3][c] + BN_EPS);
            sc[c] = (float)s;
            sc[ch + c] = (float)(t[first + 1][c] - t[first + 2][c] * s);
            /* a negative variance (or one that overflows the folding) would make every output NaN */
            if (!(t[first + 3][c] >= 0.0f) || !isfinite(sc[c]) || !isfinite(sc[ch + c])) {
                lm_set_error("%s: batch normalisation %d, channel %zu cannot be used (variance %g; damaged model)", path,
                             b, c, (double)t[first + 3][c]);
                lm_salience_model_free(m);
                return -1;
            }
        }
    }
    for (int l = 0; l < LM_SAL_NCONV; l++) {
        const int kf = conv_shape[l][0], kt = conv_shape[l][1], cio = conv_shape[l][2] * conv_shape[l][3];
        const float *src = t[T_CONV0 + l * T_PER_CONV];
        float *k = lm_malloc((size_t)kf * (size_t)kt * (size_t)cio, sizeof *k);
        if (!k) {
            lm_salience_model_free(m);
            return -1;
        }
        /* the file's [freq][time] becomes our [time][pitch]: time is the frame axis here */
        for (int i = 0; i < kf; i++)
            for (int j = 0; j < kt; j++)
                memcpy(k + ((size_t)j * (size_t)kf + (size_t)i) * (size_t)cio,
                       src + ((size_t)i * (size_t)kt + (size_t)j) * (size_t)cio, (size_t)cio * sizeof *k);
        m->kernels[l] = k;
    }
    return 0;
}

static void specs(const lm_salience_model *m, lm_conv_spec L[LM_SAL_NCONV]) {
    size_t off = 0, bias_off[LM_SAL_NCONV];
    for (int i = 0, l = 0; i < N_TENSORS; i++) {
        if (l < LM_SAL_NCONV && i == T_CONV0 + l * T_PER_CONV + 1) bias_off[l++] = off;
        off += counts[i];
    }
    for (int l = 0; l < LM_SAL_NCONV; l++) {
        L[l] = (lm_conv_spec){conv_shape[l][1], conv_shape[l][0], conv_shape[l][2], conv_shape[l][3],
                              m->kernels[l], m->w + bias_off[l], 0.0f, m->bn[l + 1][0], m->bn[l + 1][1], NULL};
    }
}

typedef struct {
    const lm_hcqt *hcqt;
    const float *s0, *b0; /* bn0 */
    const float *wsq;     /* 1x1x8x1 output kernel, then its bias */
    float *sal;
    size_t first, out0; /* hcqt column 0 is frame `first`; sal row 0 is frame out0 */
} salience_ctx;

/* Input frame t, batch-normalised (bn0). */
static void fill_frame(const void *ctx, size_t t, float *d) {
    const salience_ctx *sc = ctx;
    const size_t T = sc->hcqt->n_frames, c = t - sc->first;
    for (int h = 0; h < NH; h++)
        for (int p = 0; p < NB; p++)
            d[(size_t)p * NH + (size_t)h] = sc->hcqt->data[((size_t)h * NB + (size_t)p) * T + c] * sc->s0[h] + sc->b0[h];
}

/* The 1x1 output convolution and sigmoid of one frame. */
static void emit_frame(const void *ctx, size_t t, const float *a5) {
    const salience_ctx *sc = ctx;
    const float *wsq = sc->wsq, bsq = wsq[8];
    float *s = sc->sal + (t - sc->out0) * NB;
    for (int p = 0; p < NB; p++) {
        float z = bsq;
        for (int k = 0; k < 8; k++) z += a5[(size_t)p * 8 + (size_t)k] * wsq[k];
        s[p] = (float)(1.0 / (1.0 + exp(-(double)z)));
    }
}

int lm_salience_forward_range(const lm_salience_model *m, const lm_hcqt *window, size_t first, size_t T, size_t c0,
                              size_t c1, float *sal) {
    if (T == 0 || window->n_frames == 0 || window->n_bins != NB) {
        lm_set_error("deep salience: needs a non-empty HCQT of %d bins (60 per octave)", NB);
        return -1;
    }
    lm_conv_spec L[LM_SAL_NCONV];
    specs(m, L);
    size_t col_cap = SCRATCH_BUDGET / sizeof(float);
    for (int l = 0; l < LM_SAL_NCONV; l++)
        if (lm_conv_col_need(&L[l], NB) > col_cap) col_cap = lm_conv_col_need(&L[l], NB);
    size_t sq_off = 0;
    for (int i = 0; i < T_SQUISHY_K; i++) sq_off += counts[i];
    salience_ctx ctx = {window, m->bn[0][0], m->bn[0][1], m->w + sq_off, sal, first, c0 * CHUNK};
    if (lm_conv_stack_forward_range(L, LM_SAL_NCONV, NB, T, CHUNK, c0, c1, MAX_CH, col_cap, fill_frame, emit_frame,
                                    &ctx) != 0) {
        lm_set_error("out of memory in the deep salience network");
        return -1;
    }
    return 0;
}

int lm_salience_forward(const lm_salience_model *m, const lm_hcqt *hcqt, float *sal) {
    const size_t T = hcqt->n_frames;
    return lm_salience_forward_range(m, hcqt, 0, T, 0, (T + CHUNK - 1) / CHUNK, sal);
}

size_t lm_salience_chunk_frames(void) { return CHUNK; }

size_t lm_salience_halo(const lm_salience_model *m) {
    lm_conv_spec L[LM_SAL_NCONV];
    specs(m, L);
    return lm_conv_stack_halo(L, LM_SAL_NCONV);
}
