/* Score-to-audio alignment (src/align): polyphonic MIDI reading with the tempo map, recovery of
 * a known time warp (single-level and multiscale DTW, every step set), excerpts (subsequence),
 * and the confidence of a mismatched score. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "align/align.h"
#include "common/error.h"

static unsigned long long rng = 0x243F6A8885A308D3ULL;
static double uniform(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* Frames where a new chord starts in the last random_piece (inside a constant chord any warp
 * fits equally well, so a warp is only defined, and checked, at the chord changes). */
static size_t changes[4096], n_changes;

/* A chroma "piece": chords of 1-3 pitch classes lasting 3-15 frames, l2-normalised. */
static float *random_piece(size_t N) {
    float *c = calloc(12 * N, sizeof *c);
    n_changes = 0;
    for (size_t i = 0; i < N;) {
        if (i > 0 && n_changes < 4096) changes[n_changes++] = i;
        size_t len = 3 + (size_t)(uniform() * 13);
        /* The root differs from the previous chord's, so that every change is a change. */
        static int prev = -1;
        int root = (int)(uniform() * 12);
        if (root == prev) root = (root + 1 + (int)(uniform() * 11)) % 12;
        prev = root;
        int pcs[3] = {root, (int)(uniform() * 12), (int)(uniform() * 12)};
        int n = 1 + (int)(uniform() * 3);
        for (size_t k = 0; k < len && i < N; k++, i++) {
            double ss = 0;
            for (int p = 0; p < n; p++) c[(size_t)pcs[p] * N + i] += 1.0f;
            for (int q = 0; q < 12; q++) ss += (double)c[(size_t)q * N + i] * c[(size_t)q * N + i];
            for (int q = 0; q < 12; q++) c[(size_t)q * N + i] = (float)(c[(size_t)q * N + i] / sqrt(ss));
        }
    }
    return c;
}

/* Piecewise-linear warp score frame -> audio frame: slopes 0.7, 1.4, 1.0, 0.8 over quarters. */
static double warp(double s, size_t N) {
    const double slopes[4] = {0.7, 1.4, 1.0, 0.8};
    double q = (double)N / 4, a = 0;
    for (int k = 0; k < 4; k++) {
        double seg = fmin(fmax(s - k * q, 0), q);
        a += slopes[k] * seg;
    }
    return a;
}

/* Audio: frame j shows score frame warp^-1(j) (nearest), plus a little noise. */
static float *warped_audio(const float *score, size_t N, size_t s0, size_t s1, size_t *M_out) {
    double a0 = warp((double)s0, N), a1 = warp((double)s1, N);
    size_t M = (size_t)(a1 - a0);
    float *a = calloc(12 * M, sizeof *a);
    size_t s = s0;
    for (size_t j = 0; j < M; j++) {
        while (s + 1 < s1 && warp((double)s + 0.5, N) - a0 <= (double)j) s++;
        double ss = 0;
        for (int q = 0; q < 12; q++) {
            float v = score[(size_t)q * N + s] + 0.05f * (float)uniform();
            a[(size_t)q * M + j] = v;
            ss += (double)v * v;
        }
        for (int q = 0; q < 12; q++) a[(size_t)q * M + j] = (float)(a[(size_t)q * M + j] / sqrt(ss));
    }
    *M_out = M;
    return a;
}

/* Largest |map(chord change) - true audio position| in frames over the changes in (s0, s1). A
 * change at score frame s is the boundary at score time 0.04 (s - 0.5); in the audio it lies
 * before the first frame that shows frame s, at warp(s - 0.5) - a0 - 0.5 frames. */
static double max_error_frames(const lm_align_result *r, size_t N, size_t origin, size_t s0, size_t s1) {
    double worst = 0, a0 = warp((double)origin, N); /* the audio starts at score frame origin */
    for (size_t k = 0; k < n_changes; k++) {
        size_t s = changes[k];
        if (s <= s0 + 1 || s + 1 >= s1) continue;
        double got = lm_align_map(r, 0.04 * ((double)s - 0.5)) / 0.04, want = ceil(warp((double)s - 0.5, N) - a0) - 0.5;
        if (fabs(got - want) > worst && getenv("LM_TEST_VERBOSE"))
            print_message("  change at %zu: got %.2f want %.2f\n", s, got, want);
        worst = fmax(worst, fabs(got - want));
    }
    return worst;
}

static void check_warp(enum lm_align_steps steps, size_t max_cells, int want_levels_above_1) {
    const size_t N = 1500;
    float *score = random_piece(N);
    size_t M;
    float *audio = warped_audio(score, N, 0, N, &M);
    lm_align_options o = {0};
    o.steps = steps;
    o.max_cells = max_cells;
    lm_align_result r;
    assert_int_equal(lm_align(score, N, audio, M, &o, &r), 0);
    assert_false(r.subsequence);
    if (want_levels_above_1) assert_true(r.levels > 1);
    else assert_int_equal(r.levels, 1);
    assert_true(r.cost < 0.05);
    assert_int_equal(r.score_frame[0], 0);
    assert_int_equal(r.audio_frame[0], 0);
    assert_int_equal(r.score_frame[r.len - 1], N - 1);
    assert_int_equal(r.audio_frame[r.len - 1], M - 1);
    double err = max_error_frames(&r, N, 0, 5, N - 5);
    print_message("steps %d, max_cells %zu: %d levels, band %zu cells, max error %.2f frames, confidence %.3f\n",
                  (int)steps, max_cells, r.levels, r.band_cells, err, r.confidence);
    assert_true(err <= 2.0);
    assert_true(r.confidence > 0.3);
    lm_align_result_free(&r);
    free(score);
    free(audio);
}

static void test_warp_single_level(void **state) {
    (void)state;
    check_warp(LM_STEPS_CLASSIC, 0, 0);
    check_warp(LM_STEPS_SYMMETRIC, 0, 0);
    check_warp(LM_STEPS_SLOPE, 0, 0);
}

static void test_warp_multiscale(void **state) {
    (void)state;
    check_warp(LM_STEPS_CLASSIC, 100000, 1);
    check_warp(LM_STEPS_SLOPE, 20000, 1);
}

static void test_excerpt_subsequence(void **state) {
    (void)state;
    const size_t N = 3000, s0 = 1700, s1 = 2100;
    float *score = random_piece(N);
    size_t M;
    float *audio = warped_audio(score, N, s0, s1, &M);
    lm_align_result r;
    assert_int_equal(lm_align(score, N, audio, M, NULL, &r), 0); /* AUTO: M << N */
    assert_true(r.subsequence);
    assert_true(r.score_frame[0] + 3 >= s0 && r.score_frame[0] <= s0 + 3);
    assert_true(r.score_frame[r.len - 1] + 3 >= s1 - 1 && r.score_frame[r.len - 1] <= s1 + 2);
    double err = max_error_frames(&r, N, s0, s0 + 5, s1 - 5);
    print_message("excerpt: score frames %zu-%zu, max error %.2f frames, confidence %.3f\n", r.score_frame[0],
                  r.score_frame[r.len - 1], err, r.confidence);
    assert_true(err <= 2.0);
    assert_true(r.confidence > 0.2);
    lm_align_result_free(&r);
    free(score);
    free(audio);
}

static void test_mismatched_score_low_confidence(void **state) {
    (void)state;
    const size_t N = 1200;
    float *other = random_piece(N), *score = random_piece(N);
    size_t M;
    float *audio = warped_audio(other, N, 0, N, &M);
    lm_align_result r;
    assert_int_equal(lm_align(score, N, audio, M, NULL, &r), 0);
    print_message("mismatched: cost %.3f null %.3f confidence %.3f\n", r.cost, r.null_cost, r.confidence);
    assert_true(isfinite(r.confidence));
    assert_true(r.confidence < 0.12); /* the CLI's warning threshold */
    lm_align_result_free(&r);
    /* Without the null alignments there is no confidence. */
    lm_align_options o = {0};
    o.no_confidence = 1;
    assert_int_equal(lm_align(score, N, audio, M, &o, &r), 0);
    assert_true(isnan(r.confidence));
    lm_align_result_free(&r);
    free(score);
    free(other);
    free(audio);
}

static void test_dtw_identity_and_band(void **state) {
    (void)state;
    const size_t N = 200;
    float *x = random_piece(N);
    double cost;
    size_t *pi, *pj, len;
    assert_int_equal(lm_dtw_banded(x, N, x, N, NULL, NULL, LM_STEPS_CLASSIC, 0, &cost, &pi, &pj, &len), 0);
    assert_true(cost < 1e-6);
    assert_int_equal(len, N);
    for (size_t k = 0; k < len; k++) assert_true(pi[k] == k && pj[k] == k);
    free(pi);
    free(pj);
    /* A band that excludes the end: no path. */
    size_t lo[200], hi[200];
    for (size_t i = 0; i < N; i++) lo[i] = 0, hi[i] = i + 1 < N ? i + 1 : N - 1;
    assert_int_equal(lm_dtw_banded(x, N, x, N, lo, hi, LM_STEPS_CLASSIC, 0, &cost, &pi, &pj, &len), 0);
    assert_true(isinf(cost));
    assert_null(pi);
    free(x);
}

/* Format 0, 480 ticks per quarter: C4 for a quarter at 120 bpm, then tempo 240 bpm and E4 plus a
 * drum note (ignored) for a quarter; a second tempo change later. */
static const unsigned char midi_bytes[] = {
    'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, 0, 0, 1, 0x01, 0xE0, 'M', 'T', 'r', 'k', 0, 0, 0, 40,
    0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20,       /* tempo 500000 */
    0x00, 0x90, 60, 100,                            /* C4 on */
    0x83, 0x60, 0x80, 60, 0,                        /* +480: C4 off */
    0x00, 0xFF, 0x51, 0x03, 0x03, 0xD0, 0x90,       /* tempo 250000 */
    0x00, 0x90, 64, 90,                             /* E4 on */
    0x00, 0x99, 36, 100,                            /* drum on (channel 10) */
    0x83, 0x60, 0x90, 64, 0,                        /* +480: E4 off (velocity 0) */
    0x00, 0xFF, 0x2F, 0x00};

static void test_midi_tempo_map(void **state) {
    (void)state;
    lm_score s;
    assert_int_equal(lm_score_parse_midi(midi_bytes, sizeof midi_bytes, &s), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.notes[0].pitch, 60);
    assert_int_equal(s.notes[1].pitch, 64);
    assert_true(fabs(s.notes[0].onset) < 1e-9 && fabs(s.notes[0].offset - 0.5) < 1e-9);
    assert_true(fabs(s.notes[1].onset - 0.5) < 1e-9 && fabs(s.notes[1].offset - 0.75) < 1e-9);
    assert_true(fabs(s.duration - 0.75) < 1e-9);
    assert_true(fabs(lm_score_qn_to_sec(&s, 0.5) - 0.25) < 1e-9);
    assert_true(fabs(lm_score_qn_to_sec(&s, 2.0) - 0.75) < 1e-9);
    assert_true(fabs(lm_score_qn_to_sec(&s, 3.0) - 1.0) < 1e-9); /* the last tempo goes on */
    size_t n;
    float *c = lm_score_chroma(&s, 0, &n);
    assert_non_null(c);
    assert_int_equal(n, 20); /* ceil(0.75 / 0.04) + 1 */
    assert_true(c[0 * n + 5] > 0.99f);  /* C at 0.2 s */
    assert_true(c[4 * n + 15] > 0.99f); /* E at 0.6 s */
    free(c);
    lm_score_free(&s);
    /* Garbage is an error, not a crash. */
    assert_int_equal(lm_score_parse_midi(midi_bytes, 20, &s), -1);
    assert_int_equal(lm_score_parse_midi((const unsigned char *)"RIFF....", 8, &s), -1);
    /* Only drums: no score. */
    static const unsigned char drums[] = {'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, 0, 0, 1, 0x01, 0xE0,
                                          'M', 'T', 'r', 'k', 0, 0, 0, 12, 0x00, 0x99, 36, 90,
                                          0x60, 0x89, 36, 0, 0x00, 0xFF, 0x2F, 0x00};
    assert_int_equal(lm_score_parse_midi(drums, sizeof drums, &s), -1);
    assert_non_null(strstr(lm_last_error(), "no pitched notes"));
    assert_null(s.notes);
}

/* Format 1: the notes of all tracks, sorted by onset (then pitch) across tracks. */
static void test_score_sorted_across_tracks(void **state) {
    (void)state;
    static const unsigned char two_tracks[] = {
        'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, 1, 0, 2, 0x01, 0xE0,
        'M', 'T', 'r', 'k', 0, 0, 0, 13, 0x83, 0x60, 0x90, 67, 80, 0x83, 0x60, 67, 0, /* G4 480-960 */
        0x00, 0xFF, 0x2F, 0x00,
        'M', 'T', 'r', 'k', 0, 0, 0, 18, 0x00, 0x91, 64, 70, 0x00, 60, 70,            /* E4, C4 0-960 */
        0x87, 0x40, 64, 0, 0x00, 60, 0, 0x00, 0xFF, 0x2F, 0x00};
    lm_score s;
    assert_int_equal(lm_score_parse_midi(two_tracks, sizeof two_tracks, &s), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.notes[0].pitch, 60);
    assert_int_equal(s.notes[1].pitch, 64);
    assert_int_equal(s.notes[2].pitch, 67);
    assert_int_equal(s.notes[2].track, 1);
    assert_int_equal(s.notes[0].channel, 1);
    assert_true(fabs(s.notes[2].onset - 0.5) < 1e-9 && fabs(s.duration - 1.0) < 1e-9);
    lm_score_free(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_midi_tempo_map),
        cmocka_unit_test(test_score_sorted_across_tracks),
        cmocka_unit_test(test_dtw_identity_and_band),
        cmocka_unit_test(test_warp_single_level),
        cmocka_unit_test(test_warp_multiscale),
        cmocka_unit_test(test_excerpt_subsequence),
        cmocka_unit_test(test_mismatched_score_low_confidence),
    };
    return lm_test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
