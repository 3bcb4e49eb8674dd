/* CTC loss and gradient: PyTorch 1.13 golden cases, hand-computed values, a finite-difference
 * check, long/extreme inputs and concurrent calls. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/npy.h"
#include "ctc/ctc.h"

/* Parses "7 7 3" into labels; returns the count. */
static size_t parse_labels(const char *text, int *labels, size_t cap) {
    size_t n = 0;
    char *end;
    for (const char *p = text;; p = end) {
        long v = strtol(p, &end, 10);
        if (end == p) break;
        assert_true(n < cap);
        labels[n++] = (int)v;
    }
    return n;
}

static void test_golden_cases(void **state) {
    (void)state;
    LM_REQUIRE_SHARED("reference/ctc/cases.csv");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", lm_test_shared("reference/ctc"));
    char path[4200];
    snprintf(path, sizeof path, "%s/cases.csv", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[8192];
    assert_non_null(fgets(line, sizeof line, f)); /* header */
    int n_cases = 0, n_inf = 0;
    double max_rel = 0.0, max_grad = 0.0;
    while (fgets(line, sizeof line, f)) {
        char *field[8];
        int nf = 0;
        for (char *tok = strtok(line, ",\r\n"); tok && nf < 8; tok = strtok(NULL, ",\r\n")) field[nf++] = tok;
        assert_int_equal(nf, 8);
        size_t frames = strtoul(field[1], NULL, 10), classes = strtoul(field[2], NULL, 10);
        int blank = atoi(field[3]);
        int labels[256];
        size_t L = parse_labels(field[4], labels, 256);
        double want = strtod(field[5], NULL); /* strtod reads "inf" */

        int nd;
        size_t shape[8];
        snprintf(path, sizeof path, "%s/%s", dir, field[6]);
        float *logits = lm_npy_read_f32(path, &nd, shape);
        assert_non_null(logits);
        assert_int_equal(nd, 2);
        assert_int_equal(shape[0], frames);
        assert_int_equal(shape[1], classes);
        snprintf(path, sizeof path, "%s/%s", dir, field[7]);
        double *want_grad = lm_npy_read_f64(path, &nd, shape);
        if (!want_grad) print_error("%s\n", lm_last_error());
        assert_non_null(want_grad);

        double *grad = malloc(frames * classes * sizeof *grad);
        assert_non_null(grad);
        for (size_t i = 0; i < frames * classes; i++) grad[i] = 99.0; /* must be overwritten */
        double loss = lm_ctc_loss(logits, frames, classes, labels, L, blank, grad);
        if (isinf(want)) {
            assert_true(isinf(loss) && loss > 0);
            assert_true(frames < lm_ctc_min_frames(labels, L));
            n_inf++;
        } else {
            double rel = fabs(loss - want) / fabs(want);
            if (rel > max_rel) max_rel = rel;
            assert_true(rel < 1e-5);
        }
        for (size_t i = 0; i < frames * classes; i++) {
            double err = fabs(grad[i] - want_grad[i]);
            if (err > max_grad) max_grad = err;
            assert_true(err < 1e-5);
        }
        free(grad);
        free(want_grad);
        free(logits);
        n_cases++;
    }
    fclose(f);
    assert_int_equal(n_cases, 10);
    assert_int_equal(n_inf, 2);
    print_message("ctc golden: %d cases (%d infeasible), max loss rel. error %.3g, max grad abs. error %.3g\n",
                  n_cases, n_inf, max_rel, max_grad);
}

static void test_min_frames(void **state) {
    (void)state;
    const int a[] = {7, 7, 7, 3, 5, 5, 5, 2};
    assert_int_equal(lm_ctc_min_frames(a, 8), 12);
    const int b[] = {4, 4};
    assert_int_equal(lm_ctc_min_frames(b, 2), 3);
    const int c[] = {0, 2, 4, 5};
    assert_int_equal(lm_ctc_min_frames(c, 4), 4);
    assert_int_equal(lm_ctc_min_frames(c, 1), 1);
    assert_int_equal(lm_ctc_min_frames(NULL, 0), 0);
}

/* Values worked out by hand from the path sums. */
static void test_hand_examples(void **state) {
    (void)state;
    float zero[3 * 4] = {0};
    double grad[3 * 4];
    /* Uniform 1/3 over 3 classes, label "0" in 2 frames: paths 00, 0b, b0 -> p = 3/9. */
    int one = 0;
    assert_true(fabs(lm_ctc_loss(zero, 2, 3, &one, 1, 2, grad) - log(3.0)) < 1e-12);
    /* Each frame: y_0 = 1/3 minus occupancy of label 0 (frame 0: paths 00, 0b -> 2/3). */
    assert_true(fabs(grad[0] - (1.0 / 3 - 2.0 / 3)) < 1e-12);
    assert_true(fabs(grad[2] - (1.0 / 3 - 1.0 / 3)) < 1e-12);
    /* Empty label sequence: only the all-blank path, -log (1/3)^T. */
    assert_true(fabs(lm_ctc_loss(zero, 4, 3, NULL, 0, 2, grad) - 4 * log(3.0)) < 1e-12);
    assert_true(fabs(grad[2] - (1.0 / 3 - 1.0)) < 1e-12);
    /* "1 1" needs a blank between: in 3 frames the only path is 1 b 1. */
    float z[3 * 3] = {2, 1, 0, 0, 0, 3, -1, 1, 0.5f};
    int rep[2] = {1, 1};
    double want = 0.0;
    const int path[3] = {1, 2, 1};
    for (int t = 0; t < 3; t++) {
        double s = 0;
        for (int k = 0; k < 3; k++) s += exp(z[t * 3 + k]);
        want -= z[t * 3 + path[t]] - log(s);
    }
    assert_true(fabs(lm_ctc_loss(z, 3, 3, rep, 2, 2, grad) - want) < 1e-12);
    /* Infeasible: 2 frames for "1 1"; the gradient is zeroed. */
    for (int i = 0; i < 6; i++) grad[i] = 5.0;
    assert_true(isinf(lm_ctc_loss(z, 2, 3, rep, 2, 2, grad)));
    for (int i = 0; i < 6; i++) assert_true(grad[i] == 0.0);
    /* Loss without a gradient buffer. */
    assert_true(fabs(lm_ctc_loss(z, 3, 3, rep, 2, 2, NULL) - want) < 1e-12);
}

/* Small pseudo-random logits on a 1/64 grid so that z +- h (h = 2^-10) is exact in float. */
static unsigned rng_state = 12345u;
static unsigned rng(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

static void finite_difference_check(int blank, const int *labels, size_t L) {
    enum { T = 9, C = 5 };
    float z[T * C];
    for (int i = 0; i < T * C; i++) z[i] = (float)((int)(rng() % 257) - 128) / 64.0f;
    double grad[T * C], scratch[T * C];
    double loss = lm_ctc_loss(z, T, C, labels, L, blank, grad);
    assert_true(isfinite(loss));
    const float h = 1.0f / 1024.0f;
    double max_err = 0.0;
    for (int i = 0; i < T * C; i++) {
        float keep = z[i];
        z[i] = keep + h;
        double up = lm_ctc_loss(z, T, C, labels, L, blank, scratch);
        z[i] = keep - h;
        double down = lm_ctc_loss(z, T, C, labels, L, blank, scratch);
        z[i] = keep;
        double fd = (up - down) / (2.0 * (double)h);
        double err = fabs(fd - grad[i]);
        if (err > max_err) max_err = err;
        assert_true(err < 1e-5);
    }
    print_message("ctc finite differences (blank %d, L %zu): max abs. error %.3g\n", blank, L, max_err);
}

static void test_finite_differences(void **state) {
    (void)state;
    const int a[] = {1, 1, 3, 0, 0};
    finite_difference_check(4, a, 5); /* repeats, blank last */
    const int b[] = {2, 4, 4, 1};
    finite_difference_check(0, b, 4); /* blank first: the blank index is a parameter */
}

/* Rows of the gradient sum to 0 (softmax minus occupancy, both sum to 1) and lie in [-1, 1]. */
static void assert_gradient_sane(const double *grad, size_t T, size_t C) {
    for (size_t t = 0; t < T; t++) {
        double row = 0.0;
        for (size_t k = 0; k < C; k++) {
            assert_true(grad[t * C + k] >= -1.0 - 1e-9 && grad[t * C + k] <= 1.0 + 1e-9);
            row += grad[t * C + k];
        }
        assert_true(fabs(row) < 1e-9);
    }
}

static void test_long_and_extreme(void **state) {
    (void)state;
    enum { T = 4000, C = 13, L = 100 };
    float *z = malloc(sizeof(float) * T * C);
    double *grad = malloc(sizeof(double) * T * C);
    assert_non_null(z);
    assert_non_null(grad);
    int labels[L];
    for (int i = 0; i < L; i++) labels[i] = (int)(rng() % 12);
    for (int i = 0; i < T * C; i++) z[i] = (float)((int)(rng() % 2001) - 1000) / 100.0f;
    double loss = lm_ctc_loss(z, T, C, labels, L, 12, grad);
    assert_true(isfinite(loss) && loss > 0);
    assert_gradient_sane(grad, T, C);

    /* Saturated logits: +-1e4 make every non-argmax probability underflow in probability
     * space (exp(-2e4) = 0); in log space the loss stays finite and exact. With the argmax
     * following a valid alignment the loss is ~0 and the gradient vanishes. */
    for (int t = 0; t < T; t++) {
        int cls = t < 2 * L ? (t % 2 ? 12 : labels[t / 2]) : 12;
        for (int k = 0; k < C; k++) z[t * C + k] = k == cls ? 1e4f : -1e4f;
    }
    loss = lm_ctc_loss(z, T, C, labels, L, 12, grad);
    assert_true(isfinite(loss) && loss >= 0 && loss < 1e-6);
    assert_gradient_sane(grad, T, C);
    /* The same logits against a different label sequence: a huge but finite loss. */
    labels[L / 2] = (labels[L / 2] + 1) % 12;
    loss = lm_ctc_loss(z, T, C, labels, L, 12, grad);
    assert_true(isfinite(loss) && loss > 1e4);
    assert_gradient_sane(grad, T, C);
    free(z);
    free(grad);
}

static void test_concurrent_calls(void **state) {
    (void)state;
    enum { T = 300, C = 13, L = 20, N = 8 };
    static float z[N][T * C];
    static double grad[N][T * C], grad_par[N][T * C];
    static int labels[N][L];
    double loss[N], loss_par[N];
    for (int n = 0; n < N; n++) {
        for (int i = 0; i < T * C; i++) z[n][i] = (float)((int)(rng() % 801) - 400) / 100.0f;
        for (int i = 0; i < L; i++) labels[n][i] = (int)(rng() % 12);
        loss[n] = lm_ctc_loss(z[n], T, C, labels[n], L, 12, grad[n]);
    }
#pragma omp parallel for num_threads(4)
    for (int n = 0; n < N; n++) loss_par[n] = lm_ctc_loss(z[n], T, C, labels[n], L, 12, grad_par[n]);
    for (int n = 0; n < N; n++) {
        assert_true(loss[n] == loss_par[n]);
        assert_memory_equal(grad[n], grad_par[n], sizeof grad[n]);
    }
}

static void test_bad_arguments(void **state) {
    (void)state;
    float z[2 * 3] = {0};
    double grad[6];
    int bad_label = 2; /* equals the blank */
    assert_true(isnan(lm_ctc_loss(z, 2, 3, &bad_label, 1, 2, grad)));
    assert_non_null(strstr(lm_last_error(), "label"));
    int out_of_range = 7;
    assert_true(isnan(lm_ctc_loss(z, 2, 3, &out_of_range, 1, 2, grad)));
    int ok = 0;
    assert_true(isnan(lm_ctc_loss(z, 2, 3, &ok, 1, 3, grad)));
    assert_non_null(strstr(lm_last_error(), "blank"));
    z[4] = NAN;
    assert_true(isnan(lm_ctc_loss(z, 2, 3, &ok, 1, 2, grad)));
    assert_non_null(strstr(lm_last_error(), "frame 1, class 1"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_cases),      cmocka_unit_test(test_min_frames),
        cmocka_unit_test(test_hand_examples),     cmocka_unit_test(test_finite_differences),
        cmocka_unit_test(test_long_and_extreme),  cmocka_unit_test(test_concurrent_calls),
        cmocka_unit_test(test_bad_arguments),
    };
    return lm_test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
