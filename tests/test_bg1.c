/* BG1 salience chroma (src/salience/bg1.c): harmonic tones land on their pitch class, the frame
 * grid is the one of the other features, degenerate signals (silence, noise, one sample,
 * clipping) stay finite with unit-norm frames, the result does not depend on the thread count,
 * and the opening of Beethoven's 5th (reference recording in ../shared) reads G, Eb, F, D. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio.h"
#include "common/error.h"
#include "common/threads.h"
#include "salience/bg1.h"
#include "testutil.h"

enum { N_CHROMA = 12, PC_C = 0, PC_D = 2, PC_EB = 3, PC_F = 5, PC_G = 7, PC_A = 9 };

/* f0 with `harmonics` partials of amplitude 0.3 / h, `seconds` long. */
static float *harmonic_tone(double f0, int harmonics, double seconds, size_t *n) {
    *n = (size_t)(seconds * LM_SAMPLE_RATE);
    float *y = malloc(*n * sizeof *y);
    assert_non_null(y);
    for (size_t i = 0; i < *n; i++) {
        double v = 0.0;
        for (int h = 1; h <= harmonics; h++) v += 0.3 / h * sin(2.0 * M_PI * f0 * h * (double)i / LM_SAMPLE_RATE);
        y[i] = (float)v;
    }
    return y;
}

/* Deterministic uniform noise in [-amp, amp]. */
static float *noise(size_t n, double amp, unsigned seed) {
    float *y = malloc(n * sizeof *y);
    assert_non_null(y);
    unsigned long long s = 0x9e3779b97f4a7c15ULL * (seed + 1);
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        y[i] = (float)(amp * ((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0));
    }
    return y;
}

static int frame_argmax(const float *chroma, size_t T, size_t t) {
    int best = 0;
    for (int c = 1; c < N_CHROMA; c++)
        if (chroma[c * T + t] > chroma[best * T + t]) best = c;
    return best;
}

static void assert_unit_frames(const float *chroma, size_t T) {
    for (size_t t = 0; t < T; t++) {
        double sum_sq = 0.0;
        for (int c = 0; c < N_CHROMA; c++) {
            const float v = chroma[c * T + t];
            assert_true(isfinite(v) && v >= 0.0f);
            sum_sq += (double)v * v;
        }
        assert_true(fabs(sum_sq - 1.0) < 1e-5);
    }
}

static float *bg1(const float *y, size_t n, size_t *T) {
    float *chroma = NULL;
    lm_clear_error();
    if (lm_bg1_chroma(y, n, &chroma, T) != 0) fail_msg("lm_bg1_chroma: %s", lm_last_error());
    assert_non_null(chroma);
    assert_int_equal(*T, 1 + n / 882);
    assert_unit_frames(chroma, *T);
    return chroma;
}

/* A3 (220 Hz) and C4 (261.63 Hz) with 6 harmonics: every frame's maximum is the pitch class. */
static void test_harmonic_tones(void **state) {
    (void)state;
    const struct {
        double hz;
        int pc;
    } cases[] = {{220.0, PC_A}, {261.6256, PC_C}, {155.5635, PC_EB}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n, T, hits = 0;
        float *y = harmonic_tone(cases[i].hz, 6, 2.0, &n);
        float *chroma = bg1(y, n, &T);
        for (size_t t = 0; t < T; t++) hits += frame_argmax(chroma, T, t) == cases[i].pc;
        print_message("%.2f Hz: pitch class %d in %zu of %zu frames\n", cases[i].hz, cases[i].pc, hits, T);
        assert_int_equal(hits, T);
        free(chroma);
        free(y);
    }
}

/* The frame grid: T = floor(n / 882) + 1, as lm_chroma_stft counts. */
static void test_frame_count(void **state) {
    (void)state;
    const size_t lengths[] = {1, 2, 881, 882, 883, 1763, 1764, 22050};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        size_t n, T;
        float *y = harmonic_tone(440.0, 3, 1.0, &n);
        float *chroma = bg1(y, lengths[i], &T);
        assert_int_equal(T, lengths[i] / 882 + 1);
        free(chroma);
        free(y);
    }
}

/* Silence: no salience anywhere, so every frame is the uniform unit vector. */
static void test_silence(void **state) {
    (void)state;
    const size_t n = 2 * LM_SAMPLE_RATE;
    float *y = calloc(n, sizeof *y);
    assert_non_null(y);
    size_t T;
    float *chroma = bg1(y, n, &T);
    for (size_t i = 0; i < N_CHROMA * T; i++) assert_float_equal(chroma[i], 1.0 / sqrt(12.0), 1e-7);
    free(chroma);
    free(y);
}

/* White noise, a single sample, a signal hard-clipped at full scale and one far beyond it. */
static void test_degenerate_signals(void **state) {
    (void)state;
    size_t n = 3 * LM_SAMPLE_RATE, T;
    float *y = noise(n, 0.5, 1);
    float *chroma = bg1(y, n, &T);
    free(chroma);
    free(y);

    const float one[1] = {0.25f};
    chroma = bg1(one, 1, &T);
    assert_int_equal(T, 1);
    free(chroma);
    const float tiny[3] = {1e-30f, -1e-30f, 0.0f};
    chroma = bg1(tiny, 3, &T);
    free(chroma);
    /* subnormal samples: the scaling to the peak must not overflow */
    y = harmonic_tone(220.0, 6, 1.0, &n);
    for (size_t i = 0; i < n; i++) y[i] *= 1e-39f;
    chroma = bg1(y, n, &T);
    free(chroma);
    free(y);

    /* a pure 220 Hz sine at 20x full scale, clipped to +-1: a square wave whose aliased odd
     * harmonics fill the spectrum; SIMM then prefers the comb at 220/3 Hz (D2), so only
     * finiteness is asked here */
    y = harmonic_tone(220.0, 1, 2.0, &n);
    for (size_t i = 0; i < n; i++) {
        const float v = 20.0f * y[i];
        y[i] = v > 1.0f ? 1.0f : (v < -1.0f ? -1.0f : v);
    }
    chroma = bg1(y, n, &T);
    print_message("clipped 220 Hz sine: pitch class %d in the middle frame\n", frame_argmax(chroma, T, T / 2));
    free(chroma);
    free(y);
    /* the 6-harmonic A3 at 20x full scale, clipped: still A */
    y = harmonic_tone(220.0, 6, 2.0, &n);
    for (size_t i = 0; i < n; i++) {
        const float v = 20.0f * y[i];
        y[i] = v > 1.0f ? 1.0f : (v < -1.0f ? -1.0f : v);
    }
    chroma = bg1(y, n, &T);
    size_t hits = 0;
    for (size_t t = 0; t < T; t++) hits += frame_argmax(chroma, T, t) == PC_A;
    print_message("clipped 6-harmonic 220 Hz tone: A in %zu of %zu frames\n", hits, T);
    assert_true(hits >= T * 9 / 10);
    free(chroma);
    /* the same at 1e6 times the amplitude, unclipped: the scale does not matter */
    float *loud = malloc(n * sizeof *loud);
    assert_non_null(loud);
    for (size_t i = 0; i < n; i++) loud[i] = 1e6f * y[i];
    float *chroma_loud = bg1(loud, n, &T);
    chroma = bg1(y, n, &T);
    for (size_t i = 0; i < N_CHROMA * T; i++) assert_float_equal(chroma[i], chroma_loud[i], 1e-4);
    free(chroma);
    free(chroma_loud);
    free(loud);
    free(y);
}

/* Longer than one SIMM segment (30 s): the same bits on 1 and 2 threads. */
static void test_thread_count_invariant(void **state) {
    (void)state;
    size_t n;
    float *y = harmonic_tone(196.0, 4, 31.0, &n);
    float *nz = noise(n, 0.05, 2);
    for (size_t i = 0; i < n; i++) y[i] += nz[i];
    free(nz);
    float *one, *two;
    size_t T1, T2;
    lm_threads_init(1);
    assert_int_equal(lm_bg1_chroma(y, n, &one, &T1), 0);
    lm_threads_init(2);
    assert_int_equal(lm_bg1_chroma(y, n, &two, &T2), 0);
    lm_threads_init(0);
    assert_int_equal(T1, T2);
    assert_memory_equal(one, two, N_CHROMA * T1 * sizeof *one);
    size_t hits = 0;
    for (size_t t = 0; t < T1; t++) hits += frame_argmax(one, T1, t) == PC_G;
    print_message("31 s G3 + noise: G in %zu of %zu frames\n", hits, T1);
    assert_true(hits >= T1 * 95 / 100);
    free(one);
    free(two);
    free(y);
}

/* The salience itself: bin frequencies, shapes, and a 220 Hz tone peaking within a semitone of
 * bin 240. (SIMM alone, with its 46 ms window, often settles on a comb up to ~40 cents off for
 * a tone with few partials; the harmonic summation pins it, and so does their product.) */
static void test_salience(void **state) {
    (void)state;
    assert_true(fabs(lm_bg1_bin_hz(0) - 55.0) < 1e-9);
    assert_true(fabs(lm_bg1_bin_hz(120) - 110.0) < 1e-9);
    assert_true(fabs(lm_bg1_bin_hz(480) - 880.0) < 1e-9);
    size_t n;
    float *y = harmonic_tone(220.0, 6, 1.0, &n);
    const enum lm_bg1_part parts[] = {LM_BG1_COMBINED, LM_BG1_SIMM, LM_BG1_HS};
    const char *names[] = {"combined", "SIMM", "HS"};
    for (int p = 0; p < 3; p++) {
        float *sal;
        size_t T;
        assert_int_equal(lm_bg1_salience(y, n, parts[p], &sal, &T), 0);
        assert_int_equal(T, 1 + n / 882);
        size_t hits = 0;
        for (size_t t = 0; t < T; t++) {
            int best = 0;
            for (int b = 0; b < LM_BG1_BINS; b++) {
                assert_true(isfinite(sal[(size_t)b * T + t]) && sal[(size_t)b * T + t] >= 0.0f);
                if (sal[(size_t)b * T + t] > sal[(size_t)best * T + t]) best = b;
            }
            hits += abs(best - 240) <= 10;
        }
        print_message("%s salience: maximum within a semitone of 220 Hz in %zu of %zu frames\n", names[p], hits, T);
        assert_true(hits >= (parts[p] == LM_BG1_SIMM ? T * 3 / 4 : T * 9 / 10));
        free(sal);
    }
    free(y);
}

static void test_bad_input(void **state) {
    (void)state;
    float y[4] = {0};
    float *chroma = (float *)y;
    size_t T = 7;
    lm_clear_error();
    assert_int_equal(lm_bg1_chroma(y, 0, &chroma, &T), -1);
    assert_null(chroma);
    assert_int_equal(T, 0);
    assert_non_null(strstr(lm_last_error(), "empty"));
    assert_int_equal(lm_bg1_chroma(NULL, 100, &chroma, &T), -1);
    assert_int_equal(lm_bg1_chroma(y, 4, NULL, &T), -1);
    assert_int_equal(lm_bg1_chroma(y, 4, &chroma, NULL), -1);
    y[2] = NAN;
    assert_int_equal(lm_bg1_chroma(y, 4, &chroma, &T), -1);
    assert_null(chroma);
    assert_non_null(strstr(lm_last_error(), "non-finite"));
    y[2] = INFINITY;
    assert_int_equal(lm_bg1_chroma(y, 4, &chroma, &T), -1);
    float *sal = (float *)y;
    assert_int_equal(lm_bg1_salience(y, 4, (enum lm_bg1_part)7, &sal, &T), -1);
    assert_null(sal);
}

/* Beethoven op. 67, opening (../shared reference recording): G G G | Eb (held) | F F F | D (held).
 * Each span must read its pitch class in at least 75% of its frames, also when the recording is
 * driven 10x into hard clipping. */
static void test_beethoven_op067(void **state) {
    (void)state;
    const char *rel = "reference/audio/Beethoven_Op067-01_DavidHighSchool.wav";
    LM_REQUIRE_SHARED(rel);
    lm_audio audio;
    assert_int_equal(lm_audio_load(lm_test_shared(rel), &audio), 0);
    const struct {
        double from, to;
        int pc;
        const char *name;
    } spans[] = {{0.12, 0.72, PC_G, "G"}, {0.80, 3.10, PC_EB, "Eb"}, {3.24, 3.80, PC_F, "F"}, {3.84, 6.30, PC_D, "D"}};
    float peak = 0.0f;
    for (size_t i = 0; i < audio.n; i++) peak = fabsf(audio.samples[i]) > peak ? fabsf(audio.samples[i]) : peak;
    for (int clipped = 0; clipped <= 1; clipped++) {
        if (clipped)
            for (size_t i = 0; i < audio.n; i++) {
                const float v = audio.samples[i] * 10.0f / peak;
                audio.samples[i] = v > 1.0f ? 1.0f : (v < -1.0f ? -1.0f : v);
            }
        size_t T;
        float *chroma = bg1(audio.samples, audio.n, &T);
        for (size_t s = 0; s < sizeof spans / sizeof spans[0]; s++) {
            const size_t t0 = (size_t)ceil(spans[s].from / 0.04 - 1e-9), t1 = (size_t)floor(spans[s].to / 0.04 + 1e-9);
            assert_true(t1 < T);
            size_t hits = 0, total = t1 - t0 + 1;
            for (size_t t = t0; t <= t1; t++) hits += frame_argmax(chroma, T, t) == spans[s].pc;
            print_message("op. 67%s %.2f-%.2f s: %s in %zu of %zu frames\n", clipped ? " clipped" : "", spans[s].from,
                          spans[s].to, spans[s].name, hits, total);
            assert_true(4 * hits >= 3 * total);
        }
        free(chroma);
    }
    lm_audio_free(&audio);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_harmonic_tones),
        cmocka_unit_test(test_frame_count),
        cmocka_unit_test(test_silence),
        cmocka_unit_test(test_degenerate_signals),
        cmocka_unit_test(test_thread_count_invariant),
        cmocka_unit_test(test_salience),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_beethoven_op067),
    };
    return lm_test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
