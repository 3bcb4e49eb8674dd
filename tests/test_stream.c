/* Streaming deep chroma of a file (lm_deep_chroma_file) equals loading the file and computing
 * it in memory (lm_audio_load + lm_deep_chroma_ex) bit for bit: over several HCQT blocks and
 * many small network windows, with a length that is no multiple of either, with tuning
 * compensation auto, off and fixed on a detuned signal, with resampling from 44.1 kHz stereo,
 * and for a truncated file (same warning, same partial flag, same features). The stft chroma of a
 * file streams too (two windows of frames here) and equals lm_chroma_stft of the loaded file; the
 * bittner chroma streams as the deep chroma does and equals the in-memory one, tuning auto and off.
 * The intermediate data (common/spill.h) gives the same features in memory (the default budget),
 * in temporary files (budget 0) and when it moves from memory to a file part of the way. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio/audio.h"
#include "chroma/features.h"
#include "chroma/stft_chroma.h"
#include "nn/salience.h"
#include "chroma/tuning.h"
#include "common/error.h"
#include "common/spill.h"
#include "testutil.h"

#define RATE 44100

/* About 71 s (three HCQT blocks) of harmonic tones 35 cents sharp, stereo, odd length. */
static float *tones(size_t *frames) {
    static const int notes[] = {60, 64, 67, 71, 74, 65, 69, 72, 48, 55};
    const size_t per = (size_t)(0.37 * RATE);
    *frames = (size_t)(71.3 * RATE) + 17;
    float *x = calloc(2 * *frames, sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < *frames; i++) {
        int k = (int)((i / per) % 10);
        double t = (double)(i % per) / RATE, f = 440.0 * pow(2.0, (notes[k] - 69 + 0.35) / 12.0);
        double env = fmin(1.0, t / 0.02) * exp(-3.0 * t), v = 0;
        for (int h = 1; h <= 5; h++) v += sin(2 * M_PI * f * h * (double)i / RATE) / h;
        x[2 * i] = (float)(0.2 * env * v);
        x[2 * i + 1] = (float)(0.15 * env * v + 0.01 * sin(0.001 * (double)i));
    }
    return x;
}

static lm_model model;
static char wav[256];

static int setup(void **state) {
    (void)state;
    const char *path = lm_default_model_path();
    if (!path || lm_model_load(path, &model) != 0) return -1;
    snprintf(wav, sizeof wav, "/tmp/lm_test_stream_%d.wav", (int)getpid());
    size_t frames;
    float *x = tones(&frames);
    int rc = lm_test_write_wav(wav, x, frames, RATE, 2);
    free(x);
    setenv("LEITMOTIF_STREAM_FRAMES", "64", 1); /* many windows of the network pass */
    return rc;
}

static int teardown(void **state) {
    (void)state;
    unlink(wav);
    lm_model_free(&model);
    return 0;
}

/* Both paths on `path`; they must agree bit for bit. Returns the deviation found. */
static double compare(const char *path, const lm_tuning *tuning) {
    lm_audio a;
    assert_int_equal(lm_audio_load(path, &a), 0);
    const int partial = lm_audio_last_partial();
    float *c0, *p0, *c1, *p1;
    size_t T0, T1;
    double d0 = -9, d1 = -9, dur = 0;
    assert_int_equal(lm_deep_chroma_ex(a.samples, a.n, &model, tuning, &c0, &p0, &T0, &d0), 0);
    assert_int_equal(lm_deep_chroma_file(path, &model, tuning, &c1, &p1, &T1, &d1, &dur), 0);
    assert_int_equal(lm_audio_last_partial(), partial);
    assert_int_equal(T0, T1);
    assert_true(T0 > 900); /* 40 s at least */
    assert_true(d0 == d1);
    assert_true(dur == (double)a.n / LM_SAMPLE_RATE);
    assert_memory_equal(c0, c1, 12 * T0 * sizeof *c0);
    assert_memory_equal(p0, p1, LM_NCLASSES * T0 * sizeof *p0);
    /* the file API goes the streaming way too */
    float *c2;
    size_t T2;
    assert_int_equal(lm_features_from_file_ex(path, LM_FEAT_CTC, &model, NULL, tuning, &c2, &T2, NULL, NULL), 0);
    assert_int_equal(T2, T0);
    assert_memory_equal(c0, c2, 12 * T0 * sizeof *c0);
    free(c0), free(p0), free(c1), free(p1), free(c2);
    lm_audio_free(&a);
    return d0;
}

static void test_auto(void **state) {
    (void)state;
    const lm_tuning t = {LM_TUNING_AUTO, 0};
    double dev = compare(wav, &t);
    assert_true(dev > 0.2 && dev < 0.5); /* found and compensated */
}

static void test_off(void **state) {
    (void)state;
    const lm_tuning t = {LM_TUNING_OFF, 0};
    compare(wav, &t);
}

static void test_fixed(void **state) {
    (void)state;
    const lm_tuning t = {LM_TUNING_FIXED, -0.21};
    compare(wav, &t);
}

/* Every intermediate store in a temporary file. */
static void test_auto_files(void **state) {
    (void)state;
    const lm_tuning t = {LM_TUNING_AUTO, 0};
    lm_spill_set_budget(0);
    double dev = compare(wav, &t);
    lm_spill_set_budget(LM_SPILL_DEFAULT_BUDGET);
    assert_true(dev > 0.2 && dev < 0.5);
}

/* 16 MB: a store may hold 4 MB, so the decoded signal (6.3 MB) moves to a file while it is
 * written, and the tuned copy and the HCQT values (expected larger) start in files. */
static void test_auto_moved(void **state) {
    (void)state;
    const lm_tuning t = {LM_TUNING_AUTO, 0};
    lm_spill_set_budget((size_t)16 << 20);
    compare(wav, &t);
    const lm_tuning off = {LM_TUNING_OFF, 0};
    compare(wav, &off);
    lm_spill_set_budget(LM_SPILL_DEFAULT_BUDGET);
}

static void test_truncated(void **state) {
    (void)state;
    char cut[300];
    snprintf(cut, sizeof cut, "%s.cut.wav", wav);
    FILE *in = fopen(wav, "rb"), *out = fopen(cut, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[65536];
    size_t left = 40 * RATE * 4 + 1001, k; /* the header still claims all 71 s */
    while (left && (k = fread(buf, 1, left < sizeof buf ? left : sizeof buf, in)) > 0) {
        fwrite(buf, 1, k, out);
        left -= k;
    }
    fclose(in);
    fclose(out);
    const lm_tuning t = {LM_TUNING_AUTO, 0};
    compare(cut, &t);
    assert_int_equal(lm_audio_last_partial(), 1);
    unlink(cut);
}

/* The stft chroma of the file through the streaming file API equals the in-memory one. */
static void stft_compare(const char *path) {
    lm_audio a;
    assert_int_equal(lm_audio_load(path, &a), 0);
    const int partial = lm_audio_last_partial();
    float *c0, *c1;
    size_t T0, T1;
    double dur = 0, dev = -9;
    assert_int_equal(lm_chroma_stft(a.samples, a.n, &c0, &T0), 0);
    assert_true(T0 > 1024); /* more than one window of frames */
    const lm_tuning t = {LM_TUNING_AUTO, 0}; /* ignored: the stft chroma tunes its own filter bank */
    assert_int_equal(lm_features_from_file_ex(path, LM_FEAT_STFT, NULL, NULL, &t, &c1, &T1, &dur, &dev), 0);
    assert_int_equal(lm_audio_last_partial(), partial);
    assert_int_equal(T1, T0);
    assert_true(dev == 0);
    assert_true(dur == (double)a.n / LM_SAMPLE_RATE);
    assert_memory_equal(c0, c1, 12 * T0 * sizeof *c0);
    free(c0), free(c1);
    lm_audio_free(&a);
}

static void test_stft(void **state) {
    (void)state;
    stft_compare(wav);
    float *c;
    size_t T;
    assert_int_equal(lm_features_from_file_ex("/nonexistent/x.wav", LM_FEAT_STFT, NULL, NULL, NULL, &c, &T, NULL, NULL),
                     -1);
    assert_non_null(strstr(lm_last_error(), "/nonexistent/x.wav"));
}

/* Bittner chroma: the streaming file API against the loaded file in memory, bit for bit, on the
 * first 20 s of the test signal (the network is slow under the sanitizers; 20 s are still five
 * windows of 96 frames; the HCQT's blocks are the deep chroma's code, tested on 71 s above). */
static char short_wav[300];

static void bittner_compare(const lm_salience_model *m, const lm_tuning *tuning, int expect_compensated) {
    lm_audio a;
    assert_int_equal(lm_audio_load(short_wav, &a), 0);
    float *c0, *c1;
    size_t T0, T1;
    double d0 = -9, d1 = -9, dur = 0;
    assert_int_equal(lm_features_from_signal_ex(a.samples, a.n, LM_FEAT_BITTNER, NULL, m, tuning, &c0, &T0, &d0), 0);
    assert_int_equal(lm_features_from_file_ex(short_wav, LM_FEAT_BITTNER, NULL, m, tuning, &c1, &T1, &dur, &d1), 0);
    assert_int_equal(T1, T0);
    assert_true(T0 > 480);
    assert_true(d0 == d1);
    if (expect_compensated) assert_true(d0 > 0.2 && d0 < 0.5);
    assert_true(dur == (double)a.n / LM_SAMPLE_RATE);
    assert_memory_equal(c0, c1, 12 * T0 * sizeof *c0);
    free(c0), free(c1);
    lm_audio_free(&a);
}

static void test_bittner(void **state) {
    (void)state;
    LM_REQUIRE_SHARED("reference/models/bittner_melody2.bin");
    lm_salience_model m;
    assert_int_equal(lm_salience_model_load(lm_test_shared("reference/models/bittner_melody2.bin"), &m), 0);
    snprintf(short_wav, sizeof short_wav, "%s.20s.wav", wav);
    size_t frames;
    float *x = tones(&frames);
    assert_int_equal(lm_test_write_wav(short_wav, x, (size_t)(20.3 * RATE), RATE, 2), 0);
    free(x);
    const lm_tuning on = {LM_TUNING_AUTO, 0}, off = {LM_TUNING_OFF, 0};
    bittner_compare(&m, &on, 1);
    bittner_compare(&m, &off, 0);
    float *c;
    size_t T;
    assert_int_equal(lm_features_from_file_ex(wav, LM_FEAT_BITTNER, NULL, NULL, &on, &c, &T, NULL, NULL), -1);
    assert_non_null(strstr(lm_last_error(), "salience model"));
    lm_salience_model_free(&m);
    unlink(short_wav);
}

static void test_missing(void **state) {
    (void)state;
    float *c, *p;
    size_t T;
    const lm_tuning t = {LM_TUNING_AUTO, 0};
    assert_int_equal(lm_deep_chroma_file("/nonexistent/x.wav", &model, &t, &c, &p, &T, NULL, NULL), -1);
    assert_non_null(strstr(lm_last_error(), "/nonexistent/x.wav"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auto),      cmocka_unit_test(test_off),     cmocka_unit_test(test_fixed),
        cmocka_unit_test(test_truncated), cmocka_unit_test(test_missing), cmocka_unit_test(test_stft),
        cmocka_unit_test(test_bittner),   cmocka_unit_test(test_auto_files), cmocka_unit_test(test_auto_moved),
    };
    return lm_test_result(cmocka_run_group_tests(tests, setup, teardown));
}
