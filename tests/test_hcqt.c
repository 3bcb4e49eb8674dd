/* HCQT front end: agreement with the librosa 0.7.2 golden features, 25 Hz boundaries, pure
 * tones in the right bins with the right levels, block seams, degenerate and bad input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio.h"
#include "common/error.h"
#include "common/npy.h"
#include "hcqt/hcqt.h"
#include "testutil.h"

#define SR 22050.0
#define NROWS (LM_HCQT_NHARM * LM_HCQT_NBINS)

static const char *recordings[] = {"Beethoven_Op067-01_DavidHighSchool", "Beethoven_Op002-2-01_Pitman"};

static float at(const lm_hcqt *x, int h, int p, size_t t) { return x->data[((size_t)h * LM_HCQT_NBINS + (size_t)p) * x->n_frames + t]; }

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* mean and 99th percentile of |a - b| */
static void diff_stats(const float *a, const float *b, size_t n, double *mean, double *p99) {
    float *d = malloc(n * sizeof *d);
    assert_non_null(d);
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        d[i] = fabsf(a[i] - b[i]);
        sum += d[i];
    }
    qsort(d, n, sizeof *d, cmp_float);
    *mean = sum / (double)n;
    *p99 = d[(size_t)(0.99 * (double)(n - 1))];
    free(d);
}

static void load_recording(int r, lm_audio *a) {
    char rel[256];
    snprintf(rel, sizeof rel, "reference/audio/%s.wav", recordings[r]);
    LM_REQUIRE_SHARED(rel);
    assert_int_equal(lm_audio_load(lm_test_shared(rel), a), 0);
}

static float *load_golden(int r, const char *suffix, size_t expect_frames) {
    char rel[256];
    size_t shape[8];
    int nd;
    snprintf(rel, sizeof rel, "reference/golden/%s_%s.npy", recordings[r], suffix);
    LM_REQUIRE_SHARED(rel);
    float *g = lm_npy_read_f32(lm_test_shared(rel), &nd, shape);
    assert_non_null(g);
    assert_int_equal(nd, 3);
    assert_int_equal(shape[0], LM_HCQT_NHARM);
    assert_int_equal(shape[1], LM_HCQT_NBINS);
    assert_int_equal(shape[2], expect_frames);
    return g;
}

/* Acceptance: 25 Hz mean |d| <= 0.01 and p99 <= 0.05. We hold the implementation to tighter
 * bounds (measured about 0.001 and 0.011-0.018) so that a loss of fidelity shows up here. */
static void check_golden(int r) {
    lm_audio a;
    load_recording(r, &a);
    lm_hcqt full, h25;
    assert_int_equal(lm_hcqt_full(a.samples, a.n, &full), 0);
    assert_int_equal(full.n_frames, 1 + a.n / 256);
    assert_int_equal(lm_hcqt25(a.samples, a.n, &h25), 0);
    float *gold_full = load_golden(r, "hcqt_full", full.n_frames);
    float *gold25 = load_golden(r, "hcqt25", h25.n_frames);
    double mean, p99;
    diff_stats(full.data, gold_full, (size_t)NROWS * full.n_frames, &mean, &p99);
    print_message("%s full rate (%zu frames): mean |d| %.5f, p99 %.4f\n", recordings[r], full.n_frames, mean, p99);
    assert_true(mean <= 0.003);
    assert_true(p99 <= 0.03);
    diff_stats(h25.data, gold25, (size_t)NROWS * h25.n_frames, &mean, &p99);
    print_message("%s 25 Hz (%zu frames): mean |d| %.5f, p99 %.4f\n", recordings[r], h25.n_frames, mean, p99);
    assert_true(mean <= 0.003);
    assert_true(p99 <= 0.03);
    for (size_t i = 0; i < (size_t)NROWS * h25.n_frames; i++) assert_true(h25.data[i] >= 0.0f && h25.data[i] <= 1.0f);
    free(gold_full);
    free(gold25);
    lm_hcqt_free(&full);
    lm_hcqt_free(&h25);
    lm_audio_free(&a);
}

static void test_golden_op067(void **state) {
    (void)state;
    check_golden(0);
}

static void test_golden_op002(void **state) {
    (void)state;
    check_golden(1);
}

/* Boundaries and time axis equal the golden ones exactly (including the tie at 5.12 s). */
static void test_boundaries_golden(void **state) {
    (void)state;
    const size_t n_full[2] = {553, 378};
    for (int r = 0; r < 2; r++) {
        char rel[256];
        snprintf(rel, sizeof rel, "reference/golden/%s_median_boundaries.npy", recordings[r]);
        LM_REQUIRE_SHARED(rel);
        lm_npy gold;
        assert_int_equal(lm_npy_read(lm_test_shared(rel), &gold), 0);
        assert_int_equal(gold.dtype, LM_I64);
        size_t *b = NULL;
        size_t T = lm_median_boundaries(n_full[r], &b);
        assert_non_null(b);
        assert_int_equal(T + 1, gold.count);
        for (size_t i = 0; i <= T; i++) assert_int_equal(b[i], ((const long long *)gold.data)[i]);
        snprintf(rel, sizeof rel, "reference/golden/%s_time_ax.npy", recordings[r]);
        int nd;
        size_t shape[8];
        double *times = lm_npy_read_f64(lm_test_shared(rel), &nd, shape);
        assert_non_null(times);
        assert_int_equal(shape[0], T);
        for (size_t i = 0; i < T; i++) assert_true(times[i] == (double)i * (1.0 / LM_FRAME_RATE));
        if (r == 0) assert_int_equal(b[128], 441); /* 0.04*128 == 441*256/22050 in float64 */
        free(times);
        free(b);
        lm_npy_free(&gold);
    }
}

/* Hand-checked small cases: 5 frames (0, 11.6, 23.2, 34.8, 46.4 ms) -> t = 0, 40 ms. */
static void test_boundaries_small(void **state) {
    (void)state;
    size_t *b = NULL;
    assert_int_equal(lm_median_boundaries(5, &b), 2);
    assert_int_equal(b[0], 0);
    assert_int_equal(b[1], 4);
    assert_int_equal(b[2], 5);
    free(b);
    assert_int_equal(lm_median_boundaries(1, &b), 1);
    assert_int_equal(b[0], 0);
    assert_int_equal(b[1], 1);
    free(b);
    assert_int_equal(lm_median_boundaries(0, &b), 0);
    assert_null(b);
}

static void test_bin_freq(void **state) {
    (void)state;
    assert_true(fabs(lm_hcqt_bin_freq(1, 0) - 32.7) < 1e-9);
    assert_true(fabs(lm_hcqt_bin_freq(0, 36) - 32.7) < 1e-9);
    assert_true(fabs(lm_hcqt_bin_freq(3, 0) - 98.1) < 1e-9);
    assert_true(fabs(lm_hcqt_bin_freq(1, 108) - 261.6) < 1e-9); /* three octaves up */
    assert_true(fabs(lm_hcqt_bin_freq(5, 215) - 163.5 * pow(2.0, 215.0 / 36)) < 1e-9);
}

static int argmax_bin(const lm_hcqt *x, int h, size_t t) {
    int best = 0;
    for (int p = 1; p < LM_HCQT_NBINS; p++)
        if (at(x, h, p, t) > at(x, h, best, t)) best = p;
    return best;
}

/* A loud tone at bin 150 of harmonic 1 (590 Hz) and a tone 20 dB softer at bin 60 (104 Hz).
 * Each harmonic's grid sees the loud tone at 150 - 36 log2(h), rounded. With scale=True a
 * tone of amplitude A gives |C| = sqrt(L) A/2 where L = Q sr/f, so the soft tone lies
 * 20 dB - 10 log10(L60/L150) = 20 - 90/36 * 3.01 dB below the loud one. */
static void test_pure_tones(void **state) {
    (void)state;
    size_t n = 3 * 22050;
    float *y = malloc(n * sizeof *y);
    assert_non_null(y);
    double f_loud = lm_hcqt_bin_freq(1, 150), f_soft = lm_hcqt_bin_freq(1, 60);
    for (size_t i = 0; i < n; i++)
        y[i] = (float)(0.5 * sin(2 * M_PI * f_loud * (double)i / SR) + 0.05 * sin(2 * M_PI * f_soft * (double)i / SR));
    lm_hcqt x;
    assert_int_equal(lm_hcqt_full(y, n, &x), 0);
    size_t t = x.n_frames / 2;
    const int expect[LM_HCQT_NHARM] = {186, 150, 114, 93, 78, 66};
    for (int h = 0; h < LM_HCQT_NHARM; h++) {
        assert_int_equal(argmax_bin(&x, h, t), expect[h]);
        /* exact octaves of 0.5, 1, 2, 4 land on the bin centre; 3 and 5 fall between bins */
        double peak = at(&x, h, expect[h], t);
        assert_true(peak > (h == 3 || h == 5 ? 0.95 : 0.999));
    }
    double soft_db = -20.0 + 10.0 * log10(pow(2.0, 90.0 / 36.0));
    assert_true(fabs(at(&x, 1, 60, t) - (1.0 + soft_db / 80.0)) < 0.005);
    assert_true(fabs(at(&x, 0, 96, t) - (1.0 + soft_db / 80.0)) < 0.005);
    /* far from both tones the level is at the -80 dB floor */
    assert_true(at(&x, 1, 200, t) == 0.0f);
    free(y);
    lm_hcqt_free(&x);
}

/* Silence: ref = max = 0 is floored at amin like the magnitudes, so every value is 1. */
static void test_zero_audio(void **state) {
    (void)state;
    size_t n = 22050;
    float *y = calloc(n, sizeof *y);
    assert_non_null(y);
    lm_hcqt x;
    assert_int_equal(lm_hcqt25(y, n, &x), 0);
    assert_int_equal(x.n_frames, 25);
    for (size_t i = 0; i < (size_t)NROWS * x.n_frames; i++) {
        assert_true(isfinite(x.data[i]));
        assert_true(x.data[i] == 1.0f);
    }
    lm_hcqt_free(&x);
    assert_int_equal(lm_hcqt_full(y, 1, &x), 0); /* a single sample: one frame */
    assert_int_equal(x.n_frames, 1);
    lm_hcqt_free(&x);
    free(y);
}

static void test_bad_input(void **state) {
    (void)state;
    float y[1000] = {0};
    lm_hcqt x = {7, NULL, 0};
    lm_clear_error();
    assert_int_equal(lm_hcqt25(y, 0, &x), -1);
    assert_non_null(strstr(lm_last_error(), "empty"));
    assert_int_equal(x.n_frames, 0);
    assert_null(x.data);
    assert_int_equal(lm_hcqt_full(NULL, 1000, &x), -1);
    assert_int_equal(lm_hcqt25(y, 1000, NULL), -1);
    y[500] = NAN;
    assert_int_equal(lm_hcqt25(y, 1000, &x), -1);
    assert_non_null(strstr(lm_last_error(), "sample 500"));
    y[500] = INFINITY;
    assert_int_equal(lm_hcqt_full(y, 1000, &x), -1);
    lm_hcqt_free(&x);
    lm_hcqt_free(NULL);
}

/* 50 s of gliding tones over noise: several blocks. */
static float *long_signal(size_t n) {
    float *y = malloc(n * sizeof *y);
    assert_non_null(y);
    unsigned seed = 12345;
    double phase1 = 0, phase2 = 0;
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / SR;
        phase1 += 2 * M_PI * (220.0 * pow(2.0, sin(0.3 * t))) / SR;
        phase2 += 2 * M_PI * (55.0 * (1.0 + 0.1 * t)) / SR;
        seed = seed * 1103515245u + 12345u;
        double noise = ((double)(seed >> 8) / 16777216.0 - 0.5) * 0.02;
        double env = 0.3 + 0.2 * sin(0.7 * t);
        y[i] = (float)(env * sin(phase1) + 0.2 * sin(phase2) + noise);
    }
    return y;
}

static float median_of(float *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_float);
    return n % 2 ? v[n / 2] : 0.5f * (v[n / 2 - 1] + v[n / 2]);
}

/* The 25 Hz output equals numpy's median of the full-rate output over the boundaries, also
 * across block seams. */
static void test_median_matches_full(void **state) {
    (void)state;
    size_t n = 50 * 22050;
    float *y = long_signal(n);
    lm_hcqt full, h25;
    assert_int_equal(lm_hcqt_full(y, n, &full), 0);
    assert_int_equal(lm_hcqt25(y, n, &h25), 0);
    size_t *b = NULL;
    size_t T = lm_median_boundaries(full.n_frames, &b);
    assert_int_equal(T, h25.n_frames);
    assert_int_equal(T, 1250);
    double worst = 0;
    float seg[16];
    for (size_t r = 0; r < NROWS; r++)
        for (size_t i = 0; i < T; i++) {
            size_t count = b[i + 1] - b[i];
            assert_true(count >= 1 && count <= 16);
            memcpy(seg, full.data + r * full.n_frames + b[i], count * sizeof *seg);
            double d = fabs(median_of(seg, count) - h25.data[r * T + i]);
            if (d > worst) worst = d;
        }
    print_message("max |25 Hz - median of full rate| = %.2e\n", worst);
    assert_true(worst < 1e-4);
    free(b);
    free(y);
    lm_hcqt_free(&full);
    lm_hcqt_free(&h25);
}

/* Cutting 700 frames off the start moves every block seam; away from both ends (where
 * the padding differs) the frames agree. */
static void test_block_seams(void **state) {
    (void)state;
    size_t n = 50 * 22050, skip = 700;
    float *y = long_signal(n);
    lm_hcqt a, b;
    assert_int_equal(lm_hcqt_full(y, n, &a), 0);
    assert_int_equal(lm_hcqt_full(y + skip * 256, n - skip * 256, &b), 0);
    assert_int_equal(b.n_frames + skip, a.n_frames);
    double worst = 0, sum = 0;
    size_t count = 0, margin = 300;
    for (size_t r = 0; r < NROWS; r++)
        for (size_t t = margin; t + margin < b.n_frames; t++) {
            double d = fabs(a.data[r * a.n_frames + t + skip] - b.data[r * b.n_frames + t]);
            sum += d;
            count++;
            if (d > worst) worst = d;
        }
    print_message("shifted by %zu frames: mean |d| %.2e, max %.2e\n", skip, sum / (double)count, worst);
    assert_true(sum / (double)count < 1e-4);
    assert_true(worst < 5e-3); /* measured 2.6e-3, at the -80 dB floor */
    free(y);
    lm_hcqt_free(&a);
    lm_hcqt_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_op067),       cmocka_unit_test(test_golden_op002),
        cmocka_unit_test(test_boundaries_golden),  cmocka_unit_test(test_boundaries_small),
        cmocka_unit_test(test_bin_freq),           cmocka_unit_test(test_pure_tones),
        cmocka_unit_test(test_zero_audio),         cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_median_matches_full), cmocka_unit_test(test_block_seams),
    };
    return lm_test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
