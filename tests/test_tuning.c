/* Tuning compensation (chroma/tuning.h): the resampling moves the pitch by the asked amount,
 * frames map back onto the recording's time axis, and the deep chroma of a detuned signal
 * with --tuning auto is close to that of the same signal in tune, where without it it is not. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio.h"
#include "chroma/features.h"
#include "chroma/stft_chroma.h"
#include "chroma/tuning.h"
#include "common/error.h"
#include "testutil.h"

/* A few seconds of a melody of harmonic tones (5 partials) at A = 440 * 2^(cents/1200): C4 E4
 * G4 B4 D5 F4 A4 C5, 0.4 s each, with a quieter bass a twelfth below every second note. */
static float *melody(double cents, size_t *n) {
    static const int notes[] = {60, 64, 67, 71, 74, 65, 69, 72};
    const double note_sec = 0.4;
    const size_t per = (size_t)(note_sec * LM_SAMPLE_RATE);
    *n = per * 8 * 2;
    float *y = calloc(*n, sizeof *y);
    assert_non_null(y);
    for (size_t i = 0; i < *n; i++) {
        int k = (int)((i / per) % 8);
        double t = (double)(i % per) / LM_SAMPLE_RATE;
        double env = fmin(1.0, t / 0.02) * exp(-2.0 * t);
        double v = 0;
        for (int voice = 0; voice < (k % 2 ? 2 : 1); voice++) {
            int midi = voice ? notes[k] - 19 : notes[k];
            double f0 = 440.0 * pow(2.0, (midi - 69) / 12.0 + cents / 1200.0);
            for (int h = 1; h <= 5; h++)
                if (f0 * h < 10000) v += (voice ? 0.5 : 1.0) * sin(2 * M_PI * f0 * h * (double)i / LM_SAMPLE_RATE) / h;
        }
        y[i] = (float)(0.15 * env * v);
    }
    return y;
}

static void test_resample_moves_pitch(void **state) {
    (void)state;
    size_t n;
    float *y = melody(35, &n);
    double dev = lm_estimate_tuning(y, n);
    assert_true(fabs(dev - 0.35) <= 0.03);
    float *y2;
    size_t n2;
    assert_int_equal(lm_tuning_resample(y, n, dev, &y2, &n2), 0);
    /* 2^(0.35/12) longer, and in tune afterwards */
    assert_true(fabs((double)n2 / (double)n - pow(2.0, dev / 12.0)) < 1e-4);
    double dev2 = lm_estimate_tuning(y2, n2);
    print_message("estimated %.3f, after resampling %.3f\n", dev, dev2);
    assert_true(fabs(dev2) <= 0.05); /* the estimate has a 0.01 grid and a small bias */
    for (size_t i = 0; i < n2; i++) assert_true(isfinite(y2[i]) && fabsf(y2[i]) <= 1.0f);
    free(y2);
    assert_int_equal(lm_tuning_resample(y, n, 0.7, &y2, &n2), -1); /* beyond a quarter tone */
    assert_null(y2);
    assert_non_null(strstr(lm_last_error(), "out of range"));
    free(y);
}

static void test_unwarp(void **state) {
    (void)state;
    enum { T_IN = 100 };
    float c[12 * T_IN];
    for (size_t t = 0; t < T_IN; t++)
        for (int q = 0; q < 12; q++) c[(size_t)q * T_IN + t] = (q == (int)(t / 10) % 12) ? 1.0f : 0.0f;
    float *out;
    /* stretch 1: the identity */
    assert_int_equal(lm_tuning_unwarp(c, T_IN, 12, 1, 1.0, T_IN, 1, &out), 0);
    assert_memory_equal(out, c, sizeof c);
    free(out);
    /* the input was stretched by 1.02: output frame j comes from input frame 1.02 j */
    const size_t T_out = 98;
    assert_int_equal(lm_tuning_unwarp(c, T_IN, 12, 1, 1.02, T_out, 1, &out), 0);
    for (size_t j = 0; j < T_out; j++) {
        double ss = 0;
        for (int q = 0; q < 12; q++) ss += (double)out[(size_t)q * T_out + j] * out[(size_t)q * T_out + j];
        assert_true(fabs(ss - 1.0) < 1e-5);
    }
    assert_true(out[(size_t)4 * T_out + 48] > 0.99f); /* 1.02*48 = 48.96 -> input frame 49 (class 4) */
    assert_true(out[(size_t)5 * T_out + 50] > 0.99f); /* 51.0 -> class 5 */
    free(out);
    /* frame-major, without normalisation: mixtures of the two neighbours */
    float fm[3 * 2] = {1, 0, 0, 1, 1, 1};
    assert_int_equal(lm_tuning_unwarp(fm, 3, 2, 0, 0.5, 5, 0, &out), 0);
    const float want[5 * 2] = {1, 0, 0.5f, 0.5f, 0, 1, 0.5f, 1, 1, 1};
    for (int i = 0; i < 10; i++) assert_true(fabsf(out[i] - want[i]) < 1e-6f);
    free(out);
    assert_int_equal(lm_tuning_unwarp(c, 0, 12, 1, 1.0, 10, 1, &out), -1);
}

static void test_parse(void **state) {
    (void)state;
    lm_tuning t;
    assert_int_equal(lm_tuning_parse("auto", &t), 0);
    assert_int_equal(t.mode, LM_TUNING_AUTO);
    assert_string_equal(lm_tuning_name(&t), "auto");
    assert_int_equal(lm_tuning_parse("off", &t), 0);
    assert_int_equal(t.mode, LM_TUNING_OFF);
    assert_int_equal(lm_tuning_parse("0", &t), 0);
    assert_int_equal(t.mode, LM_TUNING_OFF);
    assert_int_equal(lm_tuning_parse("-40", &t), 0); /* A = 430 Hz */
    assert_int_equal(t.mode, LM_TUNING_FIXED);
    assert_true(fabs(t.semitones + 0.4) < 1e-12);
    assert_string_equal(lm_tuning_name(&t), "-40c");
    assert_int_equal(lm_tuning_parse("+12.5c", &t), 0);
    assert_true(fabs(t.semitones - 0.125) < 1e-12);
    const char *bad[] = {"", "51", "-60", "nan", "inf", "12x", "autox", "1e3"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(lm_tuning_parse(bad[i], &t), -1);
        assert_non_null(strstr(lm_last_error(), "tuning"));
        assert_int_equal(t.mode, LM_TUNING_FIXED); /* a bad value leaves the setting as it was */
        assert_true(fabs(t.semitones - 0.125) < 1e-12);
    }
}

static double mean_cosine(const float *a, const float *b, size_t T) {
    double acc = 0;
    for (size_t t = 0; t < T; t++) {
        double d = 0;
        for (int q = 0; q < 12; q++) d += (double)a[(size_t)q * T + t] * b[(size_t)q * T + t];
        acc += d;
    }
    return acc / (double)T;
}

static void test_deep_chroma_detuned(void **state) {
    (void)state;
    const char *path = lm_default_model_path();
    if (!path) LM_SKIP("no default model: %s\n", lm_last_error());
    lm_model m;
    assert_int_equal(lm_model_load(path, &m), 0);
    size_t n0, n1;
    float *in_tune = melody(0, &n0), *detuned = melody(45, &n1);
    assert_int_equal(n0, n1);
    float *c0, *c_off, *c_auto, *c0_auto;
    size_t T0, T_off, T_auto, T0_auto;
    double dev0 = 1, dev = 0;
    const lm_tuning off = {LM_TUNING_OFF, 0}, aut = {LM_TUNING_AUTO, 0}, fixed = {LM_TUNING_FIXED, 0.45};
    assert_int_equal(lm_features_from_signal_ex(in_tune, n0, LM_FEAT_CTC, &m, NULL, &off, &c0, &T0, NULL), 0);
    assert_int_equal(lm_features_from_signal_ex(detuned, n1, LM_FEAT_CTC, &m, NULL, &off, &c_off, &T_off, NULL), 0);
    assert_int_equal(
        lm_features_from_signal_ex(detuned, n1, LM_FEAT_CTC, &m, NULL, &aut, &c_auto, &T_auto, &dev), 0);
    assert_int_equal(
        lm_features_from_signal_ex(in_tune, n0, LM_FEAT_CTC, &m, NULL, &aut, &c0_auto, &T0_auto, &dev0), 0);
    /* the frame count depends on the duration only */
    assert_int_equal(T_off, T0);
    assert_int_equal(T_auto, T0);
    assert_true(fabs(dev - 0.45) <= 0.03);
    /* in tune: left alone, bit for bit */
    assert_true(fabs(dev0) < LM_TUNING_MIN_SEMITONES);
    assert_int_equal(T0_auto, T0);
    assert_memory_equal(c0_auto, c0, 12 * T0 * sizeof *c0);
    double cos_off = mean_cosine(c0, c_off, T0), cos_auto = mean_cosine(c0, c_auto, T0);
    print_message("mean frame cosine to the in-tune chroma: %.3f without, %.3f with compensation\n", cos_off, cos_auto);
    assert_true(cos_auto > 0.9);
    assert_true(cos_auto > cos_off + 0.02);
    /* a given deviation does what the estimated one does; probabilities come back mapped too */
    float *c_fixed, *p_fixed;
    size_t T_fixed;
    assert_int_equal(lm_deep_chroma_ex(detuned, n1, &m, &fixed, &c_fixed, &p_fixed, &T_fixed, &dev), 0);
    assert_int_equal(T_fixed, T0);
    assert_true(fabs(dev - 0.45) < 1e-12);
    assert_true(mean_cosine(c0, c_fixed, T0) > 0.9);
    for (size_t t = 0; t < T_fixed; t++) {
        double sum = 0;
        for (int k = 0; k < LM_NCLASSES; k++) sum += p_fixed[t * LM_NCLASSES + (size_t)k];
        assert_true(fabs(sum - 1.0) < 1e-4);
    }
    free(c_fixed);
    free(p_fixed);
    /* bg1 goes through the same path (no model needed) */
    float *b_off, *b_auto, *b0;
    size_t Tb_off, Tb_auto, Tb0;
    assert_int_equal(lm_features_from_signal_ex(in_tune, n0, LM_FEAT_BG1, NULL, NULL, &off, &b0, &Tb0, NULL), 0);
    assert_int_equal(lm_features_from_signal_ex(detuned, n1, LM_FEAT_BG1, NULL, NULL, &off, &b_off, &Tb_off, NULL), 0);
    assert_int_equal(lm_features_from_signal_ex(detuned, n1, LM_FEAT_BG1, NULL, NULL, &aut, &b_auto, &Tb_auto, NULL), 0);
    assert_int_equal(Tb_auto, Tb0);
    print_message("bg1: %.3f without, %.3f with compensation\n", mean_cosine(b0, b_off, Tb0), mean_cosine(b0, b_auto, Tb0));
    assert_true(mean_cosine(b0, b_auto, Tb0) > mean_cosine(b0, b_off, Tb0));
    free(b_off);
    free(b_auto);
    free(b0);
    free(in_tune);
    free(detuned);
    free(c0);
    free(c_off);
    free(c_auto);
    free(c0_auto);
    lm_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resample_moves_pitch),
        cmocka_unit_test(test_unwarp),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_deep_chroma_detuned),
    };
    return lm_test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
