#include "ctc/ctc.h"

#include <math.h>
#include <string.h>
#include <stdlib.h>

#include "common/error.h"

/* Extended label sequence l': blank, l1, blank, l2, ..., lL, blank (S = 2L + 1 states). */
static inline int ext_label(const int *labels, int blank, size_t s) { return (s & 1) ? labels[s / 2] : blank; }

/* The transition s-2 -> s skips a blank; allowed only into a label that differs from the
 * previous label (between equal neighbours the blank is required). */
static inline int can_skip_into(const int *labels, size_t s) {
    return (s & 1) && s >= 3 && labels[s / 2] != labels[s / 2 - 1];
}

/* log(exp(a) + exp(b) + exp(c)) without overflow; -INFINITY stands for probability 0. */
static inline double log_sum3(double a, double b, double c) {
    double m = a > b ? a : b;
    if (c > m) m = c;
    if (m == -INFINITY) return -INFINITY;
    return m + log(exp(a - m) + exp(b - m) + exp(c - m));
}

size_t lm_ctc_min_frames(const int *labels, size_t L) {
    size_t n = L;
    for (size_t i = 1; i < L; i++)
        if (labels[i] == labels[i - 1]) n++;
    return n;
}

static int check_args(const float *logits, size_t T, size_t C, const int *labels, size_t L, int blank) {
    if (C == 0 || blank < 0 || (size_t)blank >= C) {
        lm_set_error("ctc: blank class %d outside 0..%zu", blank, C ? C - 1 : 0);
        return -1;
    }
    for (size_t i = 0; i < L; i++)
        if (labels[i] < 0 || (size_t)labels[i] >= C || labels[i] == blank) {
            lm_set_error("ctc: label %zu is %d, expected a class in 0..%zu other than the blank %d", i, labels[i],
                         C - 1, blank);
            return -1;
        }
    for (size_t i = 0; i < T * C; i++)
        if (!isfinite(logits[i])) {
            lm_set_error("ctc: logit at frame %zu, class %zu is not finite", i / C, i % C);
            return -1;
        }
    return 0;
}

double lm_ctc_loss(const float *logits, size_t T, size_t C, const int *labels, size_t L, int blank, double *grad) {
    if (check_args(logits, T, C, labels, L, blank) != 0) return NAN;
    if (grad) memset(grad, 0, T * C * sizeof *grad);
    if (T < lm_ctc_min_frames(labels, L)) return INFINITY;
    if (T == 0) return 0.0; /* empty labels in zero frames: the empty path, probability 1 */

    const size_t S = 2 * L + 1;
    /* logy: T x C log-softmax; alpha: T x S; beta and emit: one frame each (beta is consumed
     * backwards together with alpha to form the gradient, so it need not be stored). */
    double *logy = lm_malloc(T, C * sizeof(double));
    double *alpha = lm_malloc(T, S * sizeof(double));
    double *rows = lm_malloc(3 * S, sizeof(double));
    if (!logy || !alpha || !rows) {
        free(logy);
        free(alpha);
        free(rows);
        return NAN;
    }

    for (size_t t = 0; t < T; t++) {
        const float *z = logits + t * C;
        double *ly = logy + t * C;
        double m = z[0];
        for (size_t k = 1; k < C; k++)
            if (z[k] > m) m = z[k];
        double sum = 0.0;
        for (size_t k = 0; k < C; k++) sum += exp((double)z[k] - m);
        double lse = m + log(sum);
        for (size_t k = 0; k < C; k++) ly[k] = (double)z[k] - lse;
    }

    /* Forward: alpha[t][s] = log P(l'_1..s emitted by frames 0..t, in state s at t). */
    for (size_t s = 0; s < S; s++) alpha[s] = -INFINITY;
    alpha[0] = logy[blank];
    if (L > 0) alpha[1] = logy[labels[0]];
    for (size_t t = 1; t < T; t++) {
        const double *prev = alpha + (t - 1) * S;
        double *cur = alpha + t * S;
        const double *ly = logy + t * C;
        for (size_t s = 0; s < S; s++) {
            double a1 = s >= 1 ? prev[s - 1] : -INFINITY;
            double a2 = can_skip_into(labels, s) ? prev[s - 2] : -INFINITY;
            cur[s] = log_sum3(prev[s], a1, a2) + ly[ext_label(labels, blank, s)];
        }
    }
    const double *last = alpha + (T - 1) * S;
    double logp = log_sum3(last[S - 1], L > 0 ? last[S - 2] : -INFINITY, -INFINITY);
    if (logp == -INFINITY) { /* unreachable with finite logits; kept so the contract holds */
        free(logy);
        free(alpha);
        free(rows);
        return INFINITY;
    }

    if (grad) {
        /* Backward: beta[s] = log P(rest of l' emitted by frames t+1..T-1 | state s at t),
         * emission of frame t excluded, so alpha*beta/p is the state occupancy at t. */
        double *beta = rows, *next = rows + S, *emit = rows + 2 * S;
        for (size_t s = 0; s < S; s++) beta[s] = -INFINITY;
        beta[S - 1] = 0.0;
        if (L > 0) beta[S - 2] = 0.0;
        for (size_t t = T; t-- > 0;) {
            if (t < T - 1) {
                const double *ly = logy + (t + 1) * C;
                for (size_t s = 0; s < S; s++) emit[s] = next[s] + ly[ext_label(labels, blank, s)];
                for (size_t s = 0; s < S; s++) {
                    double b1 = s + 1 < S ? emit[s + 1] : -INFINITY;
                    double b2 = s + 2 < S && can_skip_into(labels, s + 2) ? emit[s + 2] : -INFINITY;
                    beta[s] = log_sum3(emit[s], b1, b2);
                }
            }
            /* d(-log p)/dz_k = y_k - sum over states emitting k of their occupancy. */
            const double *a = alpha + t * S;
            double *g = grad + t * C;
            for (size_t k = 0; k < C; k++) g[k] = exp(logy[t * C + k]);
            for (size_t s = 0; s < S; s++) {
                double occ = a[s] + beta[s] - logp;
                if (occ > -INFINITY) g[ext_label(labels, blank, s)] -= exp(occ);
            }
            double *swap = next;
            next = beta;
            beta = swap;
        }
    }
    free(logy);
    free(alpha);
    free(rows);
    return -logp;
}
