/* Bittner's deep salience network and its HCQT (60 bins per octave) against the golden
 * outputs of the reference pipeline, and the model loader's errors for it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio.h"
#include "common/error.h"
#include "chroma/features.h"
#include "common/npy.h"
#include "hcqt/hcqt.h"
#include "nn/model.h"
#include "nn/salience.h"
#include "testutil.h"

#define GOLD "reference/golden/bittner/Beethoven_Op067-01_DavidHighSchool_bittner_"
#define MODEL "reference/models/bittner_melody2.bin"
#define WAV "reference/audio/Beethoven_Op067-01_DavidHighSchool.wav"

static void load(lm_salience_model *m) {
    LM_REQUIRE_SHARED(MODEL);
    assert_int_equal(lm_salience_model_load(lm_test_shared(MODEL), m), 0);
    assert_string_equal(m->id, "bittner_melody2");
}

/* The network fed with the golden HCQT reproduces the golden salience within 1e-4. */
static void test_salience_golden_input(void **state) {
    (void)state;
    LM_REQUIRE_SHARED(GOLD "hcqt60.npy");
    lm_salience_model m;
    load(&m);
    size_t hs[8], ss[8];
    int nd;
    float *h = lm_npy_read_f32(lm_test_shared(GOLD "hcqt60.npy"), &nd, hs);
    assert_non_null(h);
    assert_int_equal(nd, 3);
    assert_int_equal(hs[0], 6);
    assert_int_equal(hs[1], 360);
    float *gold = lm_npy_read_f32(lm_test_shared(GOLD "melody2_salience.npy"), &nd, ss);
    assert_non_null(gold);
    size_t T = hs[2];
    assert_int_equal(ss[0], 360);
    assert_int_equal(ss[1], T);
    lm_hcqt hc = {T, h, 360};
    float *sal = malloc(T * 360 * sizeof *sal);
    assert_int_equal(lm_salience_forward(&m, &hc, sal), 0);
    double maxd = 0;
    for (size_t t = 0; t < T; t++)
        for (size_t p = 0; p < 360; p++) {
            double d = fabs(sal[t * 360 + p] - gold[p * T + t]);
            if (d > maxd) maxd = d;
        }
    print_message("salience from the golden HCQT: max |diff| = %.2e over %zu frames\n", maxd, T);
    assert_true(maxd <= 1e-4);
    free(sal);
    free(h);
    free(gold);
    lm_salience_model_free(&m);
}

/* Our 60-bins-per-octave HCQT of the recording matches the golden one, and the salience
 * computed from it stays close to the golden salience end to end. */
static void test_hcqt60_and_salience_from_audio(void **state) {
    (void)state;
    LM_REQUIRE_SHARED(GOLD "hcqt60.npy");
    LM_REQUIRE_SHARED(WAV);
    lm_salience_model m;
    load(&m);
    lm_audio a;
    assert_int_equal(lm_audio_load(lm_test_shared(WAV), &a), 0);
    lm_hcqt hc;
    assert_int_equal(lm_hcqt_full_grid(a.samples, a.n, &lm_hcqt_grid_salience, &hc), 0);
    size_t hs[8], ss[8];
    int nd;
    float *gh = lm_npy_read_f32(lm_test_shared(GOLD "hcqt60.npy"), &nd, hs);
    float *gs = lm_npy_read_f32(lm_test_shared(GOLD "melody2_salience.npy"), &nd, ss);
    assert_non_null(gh);
    assert_non_null(gs);
    size_t T = hs[2];
    assert_int_equal(hc.n_frames, T);
    assert_int_equal(hc.n_bins, 360);
    /* as for the chroma grid (test_hcqt): the differences to librosa sit at the -80 dB floor */
    size_t n = 6 * 360 * T, n_big = 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(hc.data[i] - gh[i]);
        sum += d;
        n_big += d > 0.03;
    }
    print_message("HCQT60: mean |ours - golden| = %.2e, %.3f%% above 0.03\n", sum / (double)n, 100.0 * (double)n_big / (double)n);
    assert_true(sum / (double)n <= 0.003);
    assert_true(n_big <= n / 100);
    float *sal = malloc(T * 360 * sizeof *sal);
    assert_int_equal(lm_salience_forward(&m, &hc, sal), 0);
    double maxs = 0, sums = 0;
    size_t argmax_same = 0;
    for (size_t t = 0; t < T; t++) {
        size_t a1 = 0, a2 = 0;
        for (size_t p = 0; p < 360; p++) {
            double d = fabs(sal[t * 360 + p] - gs[p * T + t]);
            if (d > maxs) maxs = d;
            sums += d;
            if (sal[t * 360 + p] > sal[t * 360 + a1]) a1 = p;
            if (gs[p * T + t] > gs[a2 * T + t]) a2 = p;
        }
        argmax_same += a1 == a2;
    }
    print_message("salience from audio: mean |diff| = %.2e, max %.2e, same argmax in %zu of %zu frames\n",
                  sums / (double)(T * 360), maxs, argmax_same, T);
    assert_true(sums / (double)(T * 360) <= 1e-3);
    assert_true(argmax_same >= T * 98 / 100);
    free(sal);
    free(gh);
    free(gs);
    lm_hcqt_free(&hc);
    lm_audio_free(&a);
    lm_salience_model_free(&m);
}

/* The deep chroma loader refuses the salience model and vice versa; a truncated file fails
 * with a one-line message. */
static void test_model_errors(void **state) {
    (void)state;
    LM_REQUIRE_SHARED(MODEL);
    LM_REQUIRE_SHARED("reference/models/v1_ctc_train345valid1.bin");
    lm_salience_model s;
    lm_model c;
    assert_int_equal(lm_salience_model_load(lm_test_shared("reference/models/v1_ctc_train345valid1.bin"), &s), -1);
    assert_non_null(strstr(lm_last_error(), "deep salience"));
    assert_int_equal(lm_model_load(lm_test_shared(MODEL), &c), -1);
    assert_non_null(strstr(lm_last_error(), "deep chroma"));
    char path[512];
    snprintf(path, sizeof path, "%s/trunc.bin", lm_test_tmpdir());
    assert_int_equal(lm_test_system("head -c 100000 '%s' > '%s'", lm_test_shared(MODEL), path), 0);
    assert_int_equal(lm_salience_model_load(path, &s), -1);
    assert_non_null(strstr(lm_last_error(), "truncated"));
    assert_null(strchr(lm_last_error(), '\n'));
    assert_null(s.w);
}

/* Majority pitch class of the Bittner chroma frames in [t0, t1) seconds. */
static int majority(const float *c, size_t T, double t0, double t1) {
    int votes[12] = {0};
    for (size_t t = (size_t)(t0 / 0.04); t < T && (double)t * 0.04 < t1; t++) {
        int best = 0;
        for (int k = 1; k < 12; k++)
            if (c[(size_t)k * T + t] > c[(size_t)best * T + t]) best = k;
        votes[best]++;
    }
    int best = 0;
    for (int k = 1; k < 12; k++)
        if (votes[k] > votes[best]) best = k;
    return best;
}

/* The Bittner chroma of the op. 67 recording follows G -> Eb -> F -> D (the spans of the
 * reference README's table), in both forms: network at 25 Hz and at the full frame rate. */
static void test_bittner_chroma_op67(void **state) {
    (void)state;
    LM_REQUIRE_SHARED(WAV);
    lm_salience_model m;
    load(&m);
    lm_audio a;
    assert_int_equal(lm_audio_load(lm_test_shared(WAV), &a), 0);
    for (int full = 0; full < 2; full++) {
        float *c = NULL, *sal = NULL;
        size_t T = 0, n_sal = 0;
        assert_int_equal(lm_bittner_chroma_ex(a.samples, a.n, &m, full, &c, &T, &sal, &n_sal), 0);
        assert_int_equal(T, 161); /* the deep chroma's frame count for 6.41 s */
        assert_int_equal(n_sal, full ? 553 : 161);
        for (size_t i = 0; i < 12 * T; i++) assert_true(isfinite(c[i]) && c[i] >= 0 && c[i] <= 1.0001f);
        for (size_t t = 0; t < T; t++) {
            double ss = 0;
            for (int k = 0; k < 12; k++) ss += (double)c[(size_t)k * T + t] * c[(size_t)k * T + t];
            assert_true(fabs(ss - 1) < 1e-4);
        }
        int g = majority(c, T, 0.12, 0.72), es = majority(c, T, 0.76, 3.12), f = majority(c, T, 3.24, 3.80),
            d = majority(c, T, 3.84, 6.32);
        print_message("bittner chroma (network at %s): %d %d %d %d (G=7 Eb=3 F=5 D=2)\n", full ? "86 Hz" : "25 Hz", g,
                      es, f, d);
        assert_int_equal(g, 7);
        assert_int_equal(es, 3);
        assert_int_equal(f, 5);
        assert_int_equal(d, 2);
        free(c);
        free(sal);
    }
    lm_audio_free(&a);
    lm_salience_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_salience_golden_input),
        cmocka_unit_test(test_hcqt60_and_salience_from_audio),
        cmocka_unit_test(test_model_errors),
        cmocka_unit_test(test_bittner_chroma_op67),
    };
    return lm_test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
