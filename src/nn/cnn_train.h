/* Forward pass that keeps every activation, and the backward pass, for training on one
 * sequence (an excerpt, zero-padded at its own ends as at inference). */
#ifndef LM_NN_CNN_TRAIN_H
#define LM_NN_CNN_TRAIN_H
#include <stddef.h>

#include "nn/model.h"

typedef struct {
    size_t T, cap;  /* frames of the current sequence, capacity */
    float *act[6];  /* act[0]: input, act[1..4]: conv outputs, each T+2 frames with a zero frame
                       at both ends; act[5]: distribute output, T frames */
    float *sal;     /* T x 216 salience */
    float *grad[2]; /* T+2 frames x 216 x 64: ping-pong gradient buffers */
    float *col, *dcol;
    size_t col_cap;
} lm_train_ws;

void lm_train_ws_init(lm_train_ws *ws);
void lm_train_ws_free(lm_train_ws *ws);

/* x: T x 216 x 6 network input. logits: T x 13 (pre-softmax). */
int lm_cnn_train_forward(const lm_model *m, const float *x, size_t T, lm_train_ws *ws, double *logits);
/* dlogits: T x 13 gradient of the loss w.r.t. the logits of the last forward pass;
 * accumulates the parameter gradients into g (same layout as a model). */
void lm_cnn_train_backward(const lm_model *m, lm_train_ws *ws, const double *dlogits, lm_model *g);
#endif
