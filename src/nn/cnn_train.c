#include "nn/cnn_train.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "nn/layers.h"

#define COL_BUDGET ((size_t)(4u << 20) / sizeof(float))

static const int layer_cout[LM_NCONV + 1] = {LM_NH, 64, 32, 32, 32, 8}; /* channels of act[l] */

void lm_train_ws_init(lm_train_ws *ws) { memset(ws, 0, sizeof *ws); }

void lm_train_ws_free(lm_train_ws *ws) {
    for (int l = 0; l <= LM_NCONV; l++) free(ws->act[l]);
    free(ws->sal);
    free(ws->grad[0]);
    free(ws->grad[1]);
    free(ws->col);
    free(ws->dcol);
    memset(ws, 0, sizeof *ws);
}

static int ws_reserve(lm_train_ws *ws, size_t T) {
    if (T <= ws->cap) return 0;
    size_t cap = T + T / 4 + 16;
    lm_train_ws fresh;
    lm_train_ws_init(&fresh);
    int ok = 1;
    for (int l = 0; l <= LM_NCONV; l++) {
        fresh.act[l] = malloc((cap + 2) * LM_NB * (size_t)layer_cout[l] * sizeof(float));
        ok = ok && fresh.act[l];
    }
    fresh.sal = malloc(cap * LM_NB * sizeof(float));
    fresh.grad[0] = malloc((cap + 2) * LM_NB * 64 * sizeof(float));
    fresh.grad[1] = malloc((cap + 2) * LM_NB * 64 * sizeof(float));
    fresh.col_cap = COL_BUDGET > lm_conv_min_col() ? COL_BUDGET : lm_conv_min_col();
    fresh.col = malloc(fresh.col_cap * sizeof(float));
    fresh.dcol = malloc(lm_conv_max_kernel() * sizeof(float));
    ok = ok && fresh.sal && fresh.grad[0] && fresh.grad[1] && fresh.col && fresh.dcol;
    if (!ok) {
        lm_train_ws_free(&fresh);
        lm_set_error("out of memory for a training sequence of %zu frames", T);
        return -1;
    }
    lm_train_ws_free(ws);
    *ws = fresh;
    ws->cap = cap;
    return 0;
}

static void zero_frame(float *buf, size_t f, int ch) { memset(buf + f * LM_NB * (size_t)ch, 0, LM_NB * (size_t)ch * sizeof(float)); }

int lm_cnn_train_forward(const lm_model *m, const float *x, size_t T, lm_train_ws *ws, double *logits) {
    if (T == 0) {
        lm_set_error("empty training sequence");
        return -1;
    }
    if (ws_reserve(ws, T) != 0) return -1;
    ws->T = T;
    lm_conv_spec L[LM_NCONV];
    lm_conv_specs(m, L);
    zero_frame(ws->act[0], 0, LM_NH);
    memcpy(ws->act[0] + LM_NB * LM_NH, x, T * LM_NB * LM_NH * sizeof(float));
    zero_frame(ws->act[0], T + 1, LM_NH);
    for (int l = 0; l < LM_NCONV; l++) {
        int last = l == LM_NCONV - 1;
        float *out = last ? ws->act[5] : ws->act[l + 1] + LM_NB * (size_t)layer_cout[l + 1];
        lm_conv_forward(&L[l], ws->act[l], T + 2, out, ws->col, ws->col_cap);
        if (!last) {
            zero_frame(ws->act[l + 1], 0, layer_cout[l + 1]);
            zero_frame(ws->act[l + 1], T + 1, layer_cout[l + 1]);
        }
    }
    for (size_t t = 0; t < T; t++) lm_head_forward(m, ws->act[5] + t * LM_NB * 8, ws->sal + t * LM_NB, logits + t * LM_NCLASSES);
    return 0;
}

void lm_cnn_train_backward(const lm_model *m, lm_train_ws *ws, const double *dlogits, lm_model *g) {
    size_t T = ws->T;
    lm_conv_spec L[LM_NCONV];
    lm_conv_specs(m, L);
    const int kid[LM_NCONV] = {LM_T_BENDY1_K, LM_T_BENDY2_K, LM_T_SMOOTHY1_K, LM_T_SMOOTHY2_K, LM_T_DISTRIBUTE_K};
    /* Gradient w.r.t. the distribute output (T frames, unpadded). */
    float *dout = ws->grad[0];
    for (size_t t = 0; t < T; t++)
        lm_head_backward(m, ws->act[5] + t * LM_NB * 8, ws->sal + t * LM_NB, dlogits + t * LM_NCLASSES, g,
                         dout + t * LM_NB * 8);
    int cur = 0;
    for (int l = LM_NCONV - 1; l >= 0; l--) {
        const float *out = l == LM_NCONV - 1 ? ws->act[5] : ws->act[l + 1] + LM_NB * (size_t)layer_cout[l + 1];
        float *din = NULL;
        if (l > 0) din = ws->grad[1 - cur];
        lm_conv_backward(&L[l], ws->act[l], out, dout, T, g->t[kid[l]], g->t[kid[l] + 1], din, ws->col, ws->dcol,
                         ws->col_cap);
        if (l > 0) {
            /* The padding frames are constants: only the interior receives gradient. */
            dout = din + LM_NB * (size_t)L[l].cin;
            cur = 1 - cur;
        }
    }
}
