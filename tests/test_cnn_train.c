/* Backward pass of the deep chroma network: finite-difference gradient checks for every
 * layer and for the whole network under the CTC loss. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctc/ctc.h"
#include "nn/cnn_train.h"
#include "nn/conv_fft.h"
#include "nn/layers.h"
#include "nn/model.h"
#include "testutil.h"

static double urand(unsigned *s) {
    *s = *s * 1664525u + 1013904223u;
    return (double)(*s >> 8) / 16777216.0 - 0.5;
}

/* A random model whose convolutions stay in the linear part of the leaky ReLU (positive
 * biases, small kernels), so that whole-network finite differences see a smooth function
 * (the kink itself is covered by test_conv_layer_gradients). */
static void random_model(lm_model *m, unsigned seed) {
    assert_int_equal(lm_model_alloc(m, "gradcheck"), 0);
    for (int i = 0; i < LM_MODEL_NTENSORS; i++) {
        if (i == LM_T_CHROMA_POOL) continue;
        int conv_bias = i == LM_T_BENDY1_B || i == LM_T_BENDY2_B || i == LM_T_SMOOTHY1_B || i == LM_T_SMOOTHY2_B ||
                        i == LM_T_DISTRIBUTE_B;
        double scale = i <= LM_T_DISTRIBUTE_B ? 0.05 : 0.5;
        for (size_t j = 0; j < lm_tensor_counts[i]; j++)
            m->t[i][j] = (float)(conv_bias ? 1.0 + 0.5 * urand(&seed) : urand(&seed) * scale);
    }
}

static double ctc_objective(const lm_model *m, const float *x, size_t T, const int *lab, size_t nl, lm_train_ws *ws,
                            double *dlogits) {
    double *z = malloc(T * 13 * sizeof *z);
    float *zf = malloc(T * 13 * sizeof *zf);
    assert_int_equal(lm_cnn_train_forward(m, x, T, ws, z), 0);
    for (size_t i = 0; i < T * 13; i++) zf[i] = (float)z[i];
    double L = lm_ctc_loss(zf, T, 13, lab, nl, 12, dlogits);
    free(z);
    free(zf);
    return L;
}

/* Compares the analytic directional derivative g.d with a central difference along a random
 * direction d, for each trainable tensor. A direction sums many parameters, so the check is
 * well above the float32 rounding noise of the forward pass. */
static void check_tensors(lm_model *m, const lm_model *g, double (*f)(void *), void *ctx, double tol) {
    unsigned seed = 99;
    double worst = 0;
    for (int i = 0; i < LM_MODEL_NTENSORS; i++) {
        if (i == LM_T_CHROMA_POOL) continue;
        size_t n = lm_tensor_counts[i];
        float *keep = malloc(n * sizeof *keep);
        double *d = malloc(n * sizeof *d);
        memcpy(keep, m->t[i], n * sizeof *keep);
        double an = 0, h = 2e-3;
        for (size_t j = 0; j < n; j++) {
            d[j] = urand(&seed) < 0 ? -1.0 : 1.0;
            an += g->t[i][j] * d[j];
        }
        for (size_t j = 0; j < n; j++) m->t[i][j] = (float)(keep[j] + h * d[j]);
        double up = f(ctx);
        for (size_t j = 0; j < n; j++) m->t[i][j] = (float)(keep[j] - h * d[j]);
        double down = f(ctx);
        memcpy(m->t[i], keep, n * sizeof *keep);
        double fd = (up - down) / (2 * h);
        /* The float32 forward pass rounds the loss (~30) to ~1e-6, which a central difference
         * with h = 2e-3 turns into ~1e-3 of noise: an absolute floor for small derivatives
         * (every entry of every layer is checked exactly in test_conv_backward_all_entries). */
        double err = fabs(fd - an) / (fmax(fabs(fd), fabs(an)) + 0.1);
        print_message("  %-18s directional derivative: analytic %+.6e, finite difference %+.6e, rel. error %.1e\n",
                      lm_tensor_names[i], an, fd, err);
        worst = fmax(worst, err);
        free(keep);
        free(d);
    }
    assert_true(worst < tol);
}

typedef struct {
    lm_model *m;
    const float *x;
    size_t T;
    const int *lab;
    size_t nl;
    lm_train_ws *ws;
} objective_ctx;

static double f_ctc(void *p) {
    objective_ctx *o = p;
    return ctc_objective(o->m, o->x, o->T, o->lab, o->nl, o->ws, NULL);
}

/* One conv layer + leaky ReLU in double, straight from the formula: out = f(in). */
static double naive_conv_loss(const lm_conv_spec *L, const double *in, size_t n_out, const double *k, const double *b,
                              const double *r) {
    int pp = (L->kw - 1) / 2;
    double loss = 0;
    for (size_t t = 0; t < n_out; t++)
        for (int p = 0; p < 216; p++)
            for (int o = 0; o < L->cout; o++) {
                double z = b[o];
                for (int i = 0; i < L->kh; i++)
                    for (int j = 0; j < L->kw; j++) {
                        int q = p + j - pp;
                        if (q < 0 || q >= 216) continue;
                        for (int c = 0; c < L->cin; c++)
                            z += in[((t + (size_t)i) * 216 + (size_t)q) * (size_t)L->cin + (size_t)c] *
                                 k[((i * L->kw + j) * L->cin + c) * L->cout + o];
                    }
                double a = z > 0 ? z : 0.3 * z;
                loss += r[(t * 216 + (size_t)p) * (size_t)L->cout + (size_t)o] * a;
            }
    return loss;
}

/* Finite differences of each conv layer (double, naive) against lm_conv_backward. */
static void test_conv_layer_gradients(void **state) {
    (void)state;
    const int shapes[5][4] = {{3, 3, 6, 64}, {3, 3, 64, 32}, {3, 3, 32, 32}, {3, 3, 32, 32}, {3, 42, 32, 8}};
    unsigned seed = 17;
    const size_t n_out = 2;
    for (int l = 0; l < 5; l++) {
        lm_conv_spec L = {shapes[l][0], shapes[l][1], shapes[l][2], shapes[l][3], NULL, NULL, LM_LEAKY_ALPHA, NULL, NULL, NULL};
        size_t nk = (size_t)L.kh * L.kw * L.cin * L.cout, nin = (n_out + 2) * 216 * (size_t)L.cin;
        size_t nout = n_out * 216 * (size_t)L.cout;
        float *k = malloc(nk * sizeof *k), *b = malloc((size_t)L.cout * sizeof *b), *in = malloc(nin * sizeof *in);
        double *kd = malloc(nk * sizeof *kd), *bd = malloc((size_t)L.cout * sizeof *bd), *ind = malloc(nin * sizeof *ind);
        double *r = malloc(nout * sizeof *r);
        float *out = malloc(nout * sizeof *out), *dout = malloc(nout * sizeof *dout);
        float *dk = calloc(nk, sizeof *dk), *db = calloc((size_t)L.cout, sizeof *db), *din = calloc(nin, sizeof *din);
        for (size_t i = 0; i < nk; i++) kd[i] = k[i] = (float)(urand(&seed) * 0.3);
        for (int i = 0; i < L.cout; i++) bd[i] = b[i] = (float)(urand(&seed) * 0.3);
        for (size_t i = 0; i < nin; i++) ind[i] = in[i] = (float)urand(&seed);
        for (size_t i = 0; i < nout; i++) dout[i] = (float)(r[i] = urand(&seed));
        L.k = k;
        L.b = b;
        size_t cap = lm_conv_min_col();
        float *col = malloc(cap * sizeof *col), *dcol = malloc(lm_conv_max_kernel() * sizeof *dcol);
        lm_conv_forward(&L, in, n_out + 2, out, col, cap);
        lm_conv_backward(&L, in, out, dout, n_out, dk, db, din, col, dcol, cap);
        double worst = 0;
        const double h = 1e-6;
        for (int s = 0; s < 12; s++) {
            /* a kernel entry, a bias entry and an input entry per sample */
            double *vars[3] = {kd, bd, ind};
            const float *an[3] = {dk, db, din};
            size_t sizes[3] = {nk, (size_t)L.cout, nin};
            for (int v = 0; v < 3; v++) {
                size_t j = (size_t)((urand(&seed) + 0.5) * (double)sizes[v]) % sizes[v];
                double keep = vars[v][j];
                vars[v][j] = keep + h;
                double up = naive_conv_loss(&L, ind, n_out, kd, bd, r);
                vars[v][j] = keep - h;
                double down = naive_conv_loss(&L, ind, n_out, kd, bd, r);
                vars[v][j] = keep;
                double fd = (up - down) / (2 * h);
                double err = fabs(fd - an[v][j]) / fmax(fabs(fd), 1e-2);
                if (err > worst) worst = err;
            }
        }
        print_message("conv %dx%d %d->%d: max rel. error of kernel/bias/input gradients %.1e\n", L.kh, L.kw, L.cin,
                      L.cout, worst);
        assert_true(worst < 1e-3);
        free(k), free(b), free(in), free(kd), free(bd), free(ind), free(r), free(out), free(dout);
        free(dk), free(db), free(din), free(col), free(dcol);
    }
}

/* Every entry of the kernel, bias and input gradients of each conv layer against the adjoint
 * written out naively in double, over 5 output frames with the smallest scratch buffer the
 * layers accept (several frame batches for the wider layers), so that every pitch and frame
 * boundary is exercised. Twice: with lm_conv_min_col() (the distribute layer through FFTs,
 * conv_fft.c) and with a scratch too small for the FFTs (its direct loops, the fallback). */
static void test_conv_backward_all_entries(void **state) {
    (void)state;
    const int shapes[5][4] = {{3, 3, 6, 64}, {3, 3, 64, 32}, {3, 3, 32, 32}, {3, 3, 32, 32}, {3, 42, 32, 8}};
    unsigned seed = 5;
    const size_t n_out = 5, n_in = n_out + 2;
    const size_t direct_cap = (size_t)3 * 258 * 64; /* three padded frames of 64 channels */
    assert_true(direct_cap < lm_convfft_min_scratch() && direct_cap <= lm_conv_min_col());
    for (int pass = 0; pass < 2; pass++)
    for (int l = 0; l < 5; l++) {
        lm_conv_spec L = {shapes[l][0], shapes[l][1], shapes[l][2], shapes[l][3], NULL, NULL, LM_LEAKY_ALPHA, NULL, NULL, NULL};
        size_t kh = 3, kw = (size_t)L.kw, cin = (size_t)L.cin, cout = (size_t)L.cout;
        int pp = (L.kw - 1) / 2;
        size_t nk = kh * kw * cin * cout, nin = n_in * 216 * cin, nout = n_out * 216 * cout;
        float *k = malloc(nk * sizeof *k), *b = malloc(cout * sizeof *b), *in = malloc(nin * sizeof *in);
        float *out = malloc(nout * sizeof *out), *dout = malloc(nout * sizeof *dout);
        float *dk = calloc(nk, sizeof *dk), *db = calloc(cout, sizeof *db), *din = malloc(nin * sizeof *din);
        double *gz = malloc(nout * sizeof *gz), *dk_ref = calloc(nk, sizeof *dk_ref);
        double *db_ref = calloc(cout, sizeof *db_ref), *din_ref = calloc(nin, sizeof *din_ref);
        for (size_t i = 0; i < nk; i++) k[i] = (float)(urand(&seed) * 0.3);
        for (size_t i = 0; i < cout; i++) b[i] = (float)(urand(&seed) * 0.3);
        for (size_t i = 0; i < nin; i++) in[i] = (float)urand(&seed);
        for (size_t i = 0; i < nin; i++) din[i] = 1e30f; /* must be overwritten */
        L.k = k;
        L.b = b;
        size_t cap = pass == 0 ? lm_conv_min_col() : direct_cap;
        float *col = malloc(cap * sizeof *col), *dcol = malloc(lm_conv_max_kernel() * sizeof *dcol);
        lm_conv_forward(&L, in, n_in, out, col, cap);
        for (size_t t = 0; t < n_out; t++)
            for (int p = 0; p < 216; p++)
                for (size_t o = 0; o < cout; o++) {
                    double z = b[o];
                    for (size_t i = 0; i < kh; i++)
                        for (size_t j = 0; j < kw; j++) {
                            int q = p + (int)j - pp;
                            if (q < 0 || q >= 216) continue;
                            for (size_t c = 0; c < cin; c++)
                                z += (double)in[((t + i) * 216 + (size_t)q) * cin + c] * k[((i * kw + j) * cin + c) * cout + o];
                        }
                    size_t r = (t * 216 + (size_t)p) * cout + o;
                    double a = z > 0 ? z : 0.3 * z;
                    assert_true(fabs(a - out[r]) < 1e-4 * (1 + fabs(a)));
                    dout[r] = (float)urand(&seed);
                    gz[r] = dout[r] * (z > 0 ? 1.0 : 0.3);
                    db_ref[o] += gz[r];
                    for (size_t i = 0; i < kh; i++)
                        for (size_t j = 0; j < kw; j++) {
                            int q = p + (int)j - pp;
                            if (q < 0 || q >= 216) continue;
                            for (size_t c = 0; c < cin; c++) {
                                size_t ii = ((t + i) * 216 + (size_t)q) * cin + c, kk = ((i * kw + j) * cin + c) * cout + o;
                                dk_ref[kk] += gz[r] * in[ii];
                                din_ref[ii] += gz[r] * k[kk];
                            }
                        }
                }
        lm_conv_backward(&L, in, out, dout, n_out, dk, db, din, col, dcol, cap);
        const float *got[3] = {dk, db, din};
        const double *want[3] = {dk_ref, db_ref, din_ref};
        size_t sizes[3] = {nk, cout, nin};
        for (int v = 0; v < 3; v++) {
            double scale = 0, worst = 0;
            for (size_t i = 0; i < sizes[v]; i++) scale = fmax(scale, fabs(want[v][i]));
            for (size_t i = 0; i < sizes[v]; i++) worst = fmax(worst, fabs(got[v][i] - want[v][i]));
            print_message("conv %dx%d %d->%d (%s scratch): %s gradient max abs. error %.1e (scale %.2f)\n", L.kh, L.kw,
                          L.cin, L.cout, pass == 0 ? "default" : "small", v == 0 ? "kernel" : v == 1 ? "bias" : "input",
                          worst, scale);
            assert_true(scale > 0);
            assert_true(worst <= 1e-5 * scale);
        }
        free(k), free(b), free(in), free(out), free(dout), free(dk), free(db), free(din);
        free(gz), free(dk_ref), free(db_ref), free(din_ref), free(col), free(dcol);
    }
}

static void test_network_ctc_gradients(void **state) {
    (void)state;
    lm_model m, g;
    random_model(&m, 11);
    assert_int_equal(lm_model_alloc(&g, "grad"), 0);
    memset(g.w, 0, LM_MODEL_NFLOATS * sizeof(float));
    const size_t T = 9;
    const int lab[] = {7, 7, 3, 5};
    unsigned seed = 5;
    float *x = malloc(T * 216 * 6 * sizeof *x);
    for (size_t i = 0; i < T * 216 * 6; i++) x[i] = (float)(urand(&seed) + 0.5) * 0.2f;
    double *dz = malloc(T * 13 * sizeof *dz);
    lm_train_ws ws;
    lm_train_ws_init(&ws);
    double L = ctc_objective(&m, x, T, lab, 4, &ws, dz);
    assert_true(isfinite(L));
    lm_cnn_train_backward(&m, &ws, dz, &g);
    objective_ctx o = {&m, x, T, lab, 4, &ws};
    print_message("CTC loss %.4f, %zu frames:\n", L, T);
    check_tensors(&m, &g, f_ctc, &o, 1e-2);
    lm_train_ws_free(&ws);
    lm_model_free(&m);
    lm_model_free(&g);
    free(x);
    free(dz);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_layer_gradients),
        cmocka_unit_test(test_conv_backward_all_entries),
        cmocka_unit_test(test_network_ctc_gradients),
    };
    (void)0;
    return lm_test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
