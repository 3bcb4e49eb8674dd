/* End to end, audio file -> deep chroma, against the authors' pipeline (golden chroma). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "chroma/features.h"
#include "common/npy.h"
#include "nn/model.h"
#include "testutil.h"

static const char *recordings[] = {"Beethoven_Op067-01_DavidHighSchool", "Beethoven_Op002-2-01_Pitman"};

static void check_model(const char *model_id, double min_agreement) {
    char rel[512];
    snprintf(rel, sizeof rel, "reference/models/%s.bin", model_id);
    LM_REQUIRE_SHARED(rel);
    lm_model m;
    assert_int_equal(lm_model_load(lm_test_shared(rel), &m), 0);
    for (int r = 0; r < 2; r++) {
        snprintf(rel, sizeof rel, "reference/audio/%s.wav", recordings[r]);
        float *chroma;
        size_t T;
        double dur;
        assert_int_equal(lm_features_from_file(lm_test_shared(rel), LM_FEAT_CTC, &m, NULL, &chroma, &T, &dur), 0);
        snprintf(rel, sizeof rel, "reference/golden/%s_%s_chroma.npy", recordings[r], model_id);
        size_t s[8];
        int nd;
        float *gold = lm_npy_read_f32(lm_test_shared(rel), &nd, s);
        assert_non_null(gold);
        assert_int_equal(s[0], 12);
        assert_int_equal(s[1], T);
        size_t agree = 0;
        double mean = 0, maxd = 0;
        for (size_t t = 0; t < T; t++) {
            int a = 0, b = 0;
            for (int k = 1; k < 12; k++) {
                if (chroma[(size_t)k * T + t] > chroma[(size_t)a * T + t]) a = k;
                if (gold[(size_t)k * T + t] > gold[(size_t)b * T + t]) b = k;
            }
            agree += a == b;
            for (int k = 0; k < 12; k++) {
                double d = fabs(chroma[(size_t)k * T + t] - gold[(size_t)k * T + t]);
                mean += d;
                maxd = fmax(maxd, d);
            }
        }
        mean /= (double)(T * 12);
        double frac = (double)agree / (double)T;
        print_message("%s %s: argmax agreement %.1f%% (%zu/%zu frames), mean |diff| %.4f, max %.3f\n", model_id,
                      recordings[r], 100 * frac, agree, T, mean, maxd);
        assert_true(frac >= min_agreement);
        free(chroma);
        free(gold);
    }
    lm_model_free(&m);
}

static void test_v1_end_to_end(void **state) {
    (void)state;
    check_model("v1_ctc_train345valid1", 0.97);
}

static void test_v2_end_to_end(void **state) {
    (void)state;
    check_model("v2_ctc_train345valid1", 0.97);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_v1_end_to_end), cmocka_unit_test(test_v2_end_to_end)};
    return lm_test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
