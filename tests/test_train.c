/* Trainer: a training step lowers the loss, --resume reproduces an uninterrupted run exactly,
 * losses (CTC with augmentation, CCE), and bad training data. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sndfile.h>

#include "common/error.h"
#include "common/fileio.h"
#include "nn/cnn_train.h"
#include "train/excerpts.h"
#include "train/pairs.h"
#include "train/trainer.h"
#include "testutil.h"

#define NEX 8
#define TT 30

static lm_excerpt ex[NEX];
static lm_pair pairs[NEX];
static lm_train_example examples[NEX];
static int labels[NEX][4];

/* Excerpts with a little structure: a bright bin per label, moving through the excerpt. */
static int setup(void **state) {
    (void)state;
    unsigned s = 1;
    for (int i = 0; i < NEX; i++) {
        ex[i].T = TT;
        ex[i].hcqt = calloc((size_t)TT * 216 * 6, sizeof(uint16_t));
        for (int j = 0; j < 4; j++) labels[i][j] = (i * 5 + j * 3) % 12;
        for (int h = 0; h < 6; h++)
            for (int p = 0; p < 216; p++)
                for (int t = 0; t < TT; t++) {
                    s = s * 1664525u + 1013904223u;
                    int note = labels[i][t * 4 / TT];
                    int bright = (p / 3) % 12 == note && p % 3 == 1;
                    ex[i].hcqt[((size_t)h * 216 + (size_t)p) * TT + (size_t)t] = (uint16_t)(bright ? 60000 : (s >> 20) % 20000);
                }
        pairs[i].theme_id = "synthetic";
        pairs[i].labels = labels[i];
        pairs[i].n_labels = 4;
        examples[i].pair = &pairs[i];
        examples[i].ex = &ex[i];
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    lm_excerpts_free(ex, NEX);
    return 0;
}

static double mean_loss(const lm_model *m) {
    lm_train_ws ws;
    lm_train_ws_init(&ws);
    float *x = malloc((size_t)TT * 216 * 6 * sizeof *x);
    double *z = malloc((size_t)TT * 13 * sizeof *z), sum = 0;
    for (int i = 0; i < NEX; i++) {
        lm_excerpt_input(&ex[i], 0, x);
        assert_int_equal(lm_cnn_train_forward(m, x, TT, &ws, z), 0);
        sum += lm_example_loss(LM_LOSS_CTC, &examples[i], 0, z, TT, NULL);
    }
    free(x);
    free(z);
    lm_train_ws_free(&ws);
    return sum / NEX;
}

static lm_train_config base_config(const char *model, const char *ckpt) {
    lm_train_config c = {.loss = LM_LOSS_CTC, .lr = 1e-3, .batch = 8, .max_shift = 0, .patience = 5, .phases = 10,
                         .max_epochs = 1, .seed = 7, .out_model = model, .checkpoint = ckpt, .model_id = "t"};
    return c;
}

static void test_one_step_lowers_loss(void **state) {
    (void)state;
    char model[512], ckpt[512];
    snprintf(model, sizeof model, "%s/step.bin", lm_test_tmpdir());
    snprintf(ckpt, sizeof ckpt, "%s/step.ckpt", lm_test_tmpdir());
    lm_train_config cfg = base_config(model, ckpt);
    lm_model init, trained;
    assert_int_equal(lm_model_alloc(&init, "init"), 0);
    lm_model_init_random(&init, cfg.seed);
    double before = mean_loss(&init);
    /* One epoch of 8 examples with batch 8 is exactly one Adam step. */
    assert_int_equal(lm_train(&cfg, examples, NEX, examples, NEX), 0);
    assert_int_equal(lm_model_load(model, &trained), 0);
    double after = mean_loss(&trained);
    print_message("CTC loss before %.4f, after one step %.4f\n", before, after);
    assert_true(isfinite(before));
    assert_true(after < before);
    lm_model_free(&init);
    lm_model_free(&trained);
}

static void test_resume_is_exact(void **state) {
    (void)state;
    char m1[512], c1[512], m2[512], c2[512];
    const char *d = lm_test_tmpdir();
    snprintf(m1, sizeof m1, "%s/a.bin", d);
    snprintf(c1, sizeof c1, "%s/a.ckpt", d);
    snprintf(m2, sizeof m2, "%s/b.bin", d);
    snprintf(c2, sizeof c2, "%s/b.ckpt", d);
    lm_train_config a = base_config(m1, c1), b = base_config(m2, c2);
    a.batch = b.batch = 3; /* several steps per epoch, with a partial last batch */
    a.max_shift = b.max_shift = 3;
    a.max_epochs = 3;
    assert_int_equal(lm_train(&a, examples, NEX - 2, examples + NEX - 2, 2), 0);
    /* Interrupted after its first epoch (the state a kill leaves), then resumed. */
    b.max_epochs = 1;
    assert_int_equal(lm_train(&b, examples, NEX - 2, examples + NEX - 2, 2), 0);
    b.max_epochs = 3;
    b.resume = 1;
    assert_int_equal(lm_train(&b, examples, NEX - 2, examples + NEX - 2, 2), 0);
    size_t na, nb;
    char *ka = lm_read_file(c1, &na), *kb = lm_read_file(c2, &nb);
    assert_non_null(ka);
    assert_non_null(kb);
    assert_int_equal(na, nb);
    /* Weights, best weights and Adam moments follow the state block and must be identical. */
    size_t weights = 4 * (size_t)LM_MODEL_NFLOATS * sizeof(float);
    assert_memory_equal(ka + na - 4 - weights, kb + nb - 4 - weights, weights);
    lm_model ma, mb;
    assert_int_equal(lm_model_load(m1, &ma), 0);
    assert_int_equal(lm_model_load(m2, &mb), 0);
    assert_memory_equal(ma.w, mb.w, LM_MODEL_NFLOATS * sizeof(float));
    free(ka);
    free(kb);
    lm_model_free(&ma);
    lm_model_free(&mb);
    /* A checkpoint from other data is refused. */
    b.max_epochs = 4;
    assert_int_equal(lm_train(&b, examples, NEX - 3, examples + NEX - 2, 2), -1);
    assert_non_null(strstr(lm_last_error(), "cannot resume"));
}

static void test_losses(void **state) {
    (void)state;
    double z[TT * 13], g[TT * 13];
    for (int i = 0; i < TT * 13; i++) z[i] = sin(i * 0.37);
    /* Transposition rotates the CTC labels: shifting logits and labels together keeps the loss. */
    double zs[TT * 13];
    for (int t = 0; t < TT; t++) {
        for (int k = 0; k < 12; k++) zs[t * 13 + (k + 2) % 12] = z[t * 13 + k];
        zs[t * 13 + 12] = z[t * 13 + 12];
    }
    double l0 = lm_example_loss(LM_LOSS_CTC, &examples[0], 0, z, TT, g);
    double l2 = lm_example_loss(LM_LOSS_CTC, &examples[0], 2, zs, TT, NULL);
    assert_true(fabs(l0 - l2) < 1e-9);
    /* Too few frames for the labels: infinite, and the trainer skips such pairs. */
    assert_true(isinf(lm_example_loss(LM_LOSS_CTC, &examples[0], 0, z, 3, NULL)));
    /* CCE: mean frame-wise cross-entropy; uniform logits give log(13). */
    int fl[TT];
    for (int t = 0; t < TT; t++) fl[t] = t % 13;
    lm_train_example e = {&pairs[0], &ex[0], fl};
    double zero[TT * 13] = {0};
    assert_true(fabs(lm_example_loss(LM_LOSS_CCE, &e, 0, zero, TT, g) - log(13.0)) < 1e-12);
    for (int k = 0; k < 13; k++) assert_true(fabs(g[k] - ((1.0 / 13) - (k == 0)) / TT) < 1e-12);
}

static void test_bad_training_data(void **state) {
    (void)state;
    const char *d = lm_test_tmpdir();
    char csv[512], cache[512];
    snprintf(csv, sizeof csv, "%s/pairs.csv", d);
    snprintf(cache, sizeof cache, "%s/cache", d);
    /* A 2-second recording: a pair ending beyond it is skipped with a warning, the other kept. */
    float *y = calloc(44100, sizeof *y);
    for (int i = 0; i < 44100; i++) y[i] = 0.3f * sinf(2 * 3.14159265f * 440 * i / 22050.0f);
    char wav[512];
    snprintf(wav, sizeof wav, "%s/a.wav", d);
    assert_int_equal(lm_test_write_wav(wav, y, 44100, 22050, 1), 0);
    free(y);
    FILE *f = fopen(csv, "w");
    fprintf(f, "theme_id,audio,start_sec,end_sec,pitch_classes,fold\nok,a.wav,0.2,1.5,A A,1\nlate,a.wav,1.0,9.0,A,1\n");
    fclose(f);
    lm_pairs p;
    assert_int_equal(lm_pairs_load(csv, NULL, &p), 0);
    assert_int_equal(p.n, 2);
    lm_excerpt e[2];
    assert_int_equal(lm_excerpts_load(&p, cache, e), 1);
    assert_true(e[0].T == 33); /* frames 5..37 */
    assert_int_equal(e[1].T, 0);
    /* The cache is reused: a second load gives identical data. */
    lm_excerpt again[2];
    assert_int_equal(lm_excerpts_load(&p, cache, again), 1);
    assert_memory_equal(e[0].hcqt, again[0].hcqt, e[0].T * 216 * 6 * sizeof(uint16_t));
    lm_excerpts_free(e, 2);
    lm_excerpts_free(again, 2);
    lm_pairs_free(&p);
    /* NaN/Inf samples in a float WAV never reach the network: the loader zeroes them, so the
     * excerpt is finite and training proceeds on it. */
    char nanwav[512];
    snprintf(nanwav, sizeof nanwav, "%s/nan.wav", d);
    {
        SF_INFO info = {.samplerate = 22050, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_FLOAT};
        SNDFILE *sf = sf_open(nanwav, SFM_WRITE, &info);
        assert_non_null(sf);
        float buf[22050];
        for (int i = 0; i < 22050; i++) buf[i] = (i % 100 == 0) ? NAN : (i % 333 == 0 ? INFINITY : 0.2f * sinf(i * 0.1f));
        for (int k = 0; k < 2; k++) assert_int_equal(sf_writef_float(sf, buf, 22050), 22050);
        sf_close(sf);
    }
    f = fopen(csv, "w");
    fprintf(f, "theme_id,audio,start_sec,end_sec,pitch_classes,fold\nnan,nan.wav,0.2,1.5,A A,1\n");
    fclose(f);
    assert_int_equal(lm_pairs_load(csv, NULL, &p), 0);
    lm_excerpt ne[1];
    assert_int_equal(lm_excerpts_load(&p, cache, ne), 1);
    float *x = malloc(ne[0].T * 216 * 6 * sizeof *x);
    lm_excerpt_input(&ne[0], 2, x);
    for (size_t i = 0; i < ne[0].T * 216 * 6; i++) assert_true(isfinite(x[i]));
    free(x);
    lm_excerpts_free(ne, 1);
    lm_pairs_free(&p);
    /* No validation examples: a clear error, no model written. */
    char model[512], ckpt[512];
    snprintf(model, sizeof model, "%s/none.bin", d);
    snprintf(ckpt, sizeof ckpt, "%s/none.ckpt", d);
    lm_train_config cfg = base_config(model, ckpt);
    assert_int_equal(lm_train(&cfg, examples, NEX, examples, 0), -1);
    assert_false(lm_file_exists(model));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_losses),
        cmocka_unit_test(test_one_step_lowers_loss),
        cmocka_unit_test(test_resume_is_exact),
        cmocka_unit_test(test_bad_training_data),
    };
    return lm_test_result(cmocka_run_group_tests(tests, setup, teardown));
}
