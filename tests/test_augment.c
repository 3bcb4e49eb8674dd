/* Waveform augmentation: determinism given the seed, finite output within [-1, 1], each step
 * really changes the signal, detune moves the pitch by the drawn amount and scales time by
 * the returned factor, the codec keeps the excerpt aligned and encodes whole pieces (minutes),
 * and option parsing. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "augment/augment.h"
#include "common/error.h"

#define SRATE 22050
#define PI 3.14159265358979323846

/* 6 s of a plucked-string-like melody: decaying harmonic tones, one per half second. */
static float *melody(size_t *n) {
    *n = 6 * SRATE;
    float *x = calloc(*n, sizeof *x);
    const int pitches[12] = {60, 64, 67, 72, 62, 65, 69, 74, 64, 67, 71, 76};
    for (int k = 0; k < 12; k++) {
        double f = 440 * pow(2, (pitches[k] - 69) / 12.0);
        for (size_t i = 0; i < SRATE / 2; i++) {
            double t = (double)i / SRATE, v = 0;
            for (int h = 1; h <= 6; h++) v += sin(2 * PI * f * h * t) / h;
            x[(size_t)k * SRATE / 2 + i] = (float)(0.3 * v * exp(-4 * t));
        }
    }
    return x;
}

static void check_range(const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        assert_true(isfinite(y[i]));
        assert_true(fabsf(y[i]) <= 1.0f);
    }
}

static lm_augment_config only(int step, double p) {
    lm_augment_config c;
    lm_augment_parse("none", &c);
    c.p[step] = p;
    return c;
}

static void test_deterministic_and_in_range(void **state) {
    (void)state;
    size_t n;
    float *x = melody(&n), *o = melody(&n);
    for (size_t i = 0; i < n; i++) o[i] = o[(i * 7) % n]; /* some other material */
    lm_augment_config c;
    lm_augment_default(&c);
    int differs_by_seed = 0;
    unsigned all_steps = 0;
    for (uint64_t seed = 1; seed <= 24; seed++) {
        float *a = NULL, *b = NULL;
        size_t na, nb;
        double sa, sb;
        unsigned steps = 0;
        assert_int_equal(lm_augment_apply(&c, seed, x, n, o, n, &a, &na, &sa, &steps), 0);
        assert_int_equal(lm_augment_apply(&c, seed, x, n, o, n, &b, &nb, &sb, NULL), 0);
        assert_int_equal(na, nb);
        assert_true(sa == sb);
        assert_memory_equal(a, b, na * sizeof *a);
        check_range(a, na);
        all_steps |= steps;
        float *c2 = NULL;
        size_t n2;
        double s2;
        assert_int_equal(lm_augment_apply(&c, seed + 1000, x, n, o, n, &c2, &n2, &s2, NULL), 0);
        if (n2 != na || memcmp(a, c2, na * sizeof *a) != 0) differs_by_seed++;
        free(a);
        free(b);
        free(c2);
    }
    assert_true(differs_by_seed >= 23);
    /* over 24 draws at the default rates every step was applied at least once */
    assert_int_equal(all_steps, (1u << LM_AUG_NSTEPS) - 1);
    free(x);
    free(o);
}

static double rel_diff(const float *a, const float *b, size_t n) {
    double d = 0, e = 0;
    for (size_t i = 0; i < n; i++) d += (double)(a[i] - b[i]) * (a[i] - b[i]), e += (double)a[i] * a[i];
    return sqrt(d / e);
}

static void test_each_step_changes_signal(void **state) {
    (void)state;
    size_t n;
    float *x = melody(&n), *o = melody(&n);
    for (size_t i = 0; i < n; i++) o[i] = (float)(0.2 * sin(2 * PI * 97.0 * (double)i / SRATE));
    /* reference: no step, only the final level (peak 0.9) */
    lm_augment_config none;
    lm_augment_parse("none", &none);
    float *ref = NULL;
    size_t nr;
    double s;
    assert_int_equal(lm_augment_apply(&none, 5, x, n, NULL, 0, &ref, &nr, &s, NULL), 0);
    assert_int_equal(nr, n);
    for (int step = 0; step < LM_AUG_NSTEPS; step++) {
        if (step == LM_AUG_DETUNE) continue; /* changes the length: tested below */
        lm_augment_config c = only(step, 1.0);
        float *y = NULL;
        size_t ny;
        unsigned steps = 0;
        assert_int_equal(lm_augment_apply(&c, 5, x, n, o, n, &y, &ny, &s, &steps), 0);
        assert_int_equal(ny, n);
        assert_true(s == 1.0);
        assert_int_equal(steps, 1u << step);
        check_range(y, ny);
        double d = rel_diff(ref, y, n);
        print_message("step %-8s relative change %.3f\n", lm_aug_step_names[step], d);
        assert_true(d > 0.003);
        free(y);
    }
    free(ref);
    free(x);
    free(o);
}

/* Frequency of a steady tone by zero crossings. */
static double tone_freq(const float *y, size_t from, size_t to) {
    size_t first = 0, last = 0, count = 0;
    for (size_t i = from + 1; i < to; i++)
        if (y[i - 1] < 0 && y[i] >= 0) {
            if (!count) first = i;
            last = i;
            count++;
        }
    return count > 1 ? (double)(count - 1) * SRATE / (double)(last - first) : 0;
}

static void test_detune_moves_pitch_and_time(void **state) {
    (void)state;
    size_t n = 3 * SRATE;
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)(0.5 * sin(2 * PI * 440.0 * (double)i / SRATE));
    lm_augment_config c = only(LM_AUG_DETUNE, 1.0);
    int moved = 0;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        float *y = NULL;
        size_t ny;
        double scale;
        assert_int_equal(lm_augment_apply(&c, seed, x, n, NULL, 0, &y, &ny, &scale, NULL), 0);
        check_range(y, ny);
        double cents = -1200 * log2(scale);
        assert_true(fabs(cents) <= 50.0 + 1e-9);
        assert_true(fabs((double)ny - (double)n * scale) <= 2);
        double f = tone_freq(y, ny / 4, 3 * ny / 4), want = 440 * pow(2, cents / 1200);
        assert_true(fabs(1200 * log2(f / want)) < 2.0); /* within 2 cents of the drawn tuning */
        if (fabs(cents) > 5) moved++;
        free(y);
    }
    assert_true(moved >= 3);
    free(x);
}

/* The codec step alone on x: same length, finite, in range (steps: what was applied). */
static float *codec_only(const float *x, size_t n, uint64_t seed, unsigned *steps) {
    lm_augment_config c = only(LM_AUG_CODEC, 1.0);
    float *y = NULL;
    size_t ny;
    double s;
    assert_int_equal(lm_augment_apply(&c, seed, x, n, NULL, 0, &y, &ny, &s, steps), 0);
    assert_int_equal(ny, n);
    check_range(y, ny);
    return y;
}

static void test_codec_keeps_alignment(void **state) {
    (void)state;
    size_t n;
    float *x = melody(&n);
    for (uint64_t seed = 1; seed <= 4; seed++) {
        unsigned steps;
        float *y = codec_only(x, n, seed, &steps);
        if (steps == 0) {
            print_message("SKIP: this libsndfile cannot encode Vorbis/MP3\n");
            free(y);
            continue;
        }
        /* The note onsets stay where they were: the energy of the first 20 ms after each onset
         * is far above that of the 20 ms before it. */
        for (int k = 1; k < 12; k++) {
            size_t at = (size_t)k * SRATE / 2, w = SRATE / 50;
            double before = 0, after = 0;
            for (size_t i = 0; i < w; i++) before += (double)y[at - w + i] * y[at - w + i], after += (double)y[at + i] * y[at + i];
            assert_true(after > before);
        }
        free(y);
    }
    free(x);
}

/* `leitmotif augment` applies the codec to whole recordings: one write of 4 minutes made
 * libvorbis put its first analysis buffer (every sample written) on the stack, and it crashed. */
static void test_codec_whole_piece(void **state) {
    (void)state;
    size_t n6;
    float *x6 = melody(&n6);
    size_t n = 40 * n6; /* 4 minutes */
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++) x[i] = x6[i % n6];
    for (uint64_t seed = 1; seed <= 4; seed++) { /* both codecs: each is drawn with p = 0.5 */
        unsigned steps;
        free(codec_only(x, n, seed, &steps));
    }
    free(x);
    free(x6);
}

static void test_parse(void **state) {
    (void)state;
    lm_augment_config c;
    assert_int_equal(lm_augment_parse("none", &c), 0);
    assert_false(lm_augment_enabled(&c));
    assert_int_equal(lm_augment_parse("default", &c), 0);
    assert_true(lm_augment_enabled(&c));
    lm_augment_config d;
    lm_augment_default(&d);
    assert_true(lm_augment_hash(&c) == lm_augment_hash(&d));
    assert_int_equal(lm_augment_parse("default,codec=0.5,reverb=0", &c), 0);
    assert_true(c.p[LM_AUG_CODEC] == 0.5 && c.p[LM_AUG_REVERB] == 0 && c.p[LM_AUG_NOISE] == d.p[LM_AUG_NOISE]);
    assert_true(lm_augment_hash(&c) != lm_augment_hash(&d));
    assert_int_equal(lm_augment_parse("none,noise=1", &c), 0);
    assert_true(c.p[LM_AUG_NOISE] == 1 && c.p[LM_AUG_REVERB] == 0);
    assert_int_equal(lm_augment_parse("reverb=2", &c), -1);
    assert_non_null(strstr(lm_last_error(), "reverb=2"));
    assert_int_equal(lm_augment_parse("echo=0.5", &c), -1);
    assert_int_equal(lm_augment_parse("noise=abc", &c), -1);
    assert_int_equal(lm_augment_parse("noise", &c), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic_and_in_range),
        cmocka_unit_test(test_each_step_changes_signal),
        cmocka_unit_test(test_detune_moves_pitch_and_time),
        cmocka_unit_test(test_codec_keeps_alignment),
        cmocka_unit_test(test_codec_whole_piece),
        cmocka_unit_test(test_parse),
    };
    return lm_test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
