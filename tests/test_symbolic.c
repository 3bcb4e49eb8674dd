/* Typed note lists and the binary query chroma of a theme. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "symbolic/theme.h"

static void expect_pitches(const char *text, double bpm, const int *pitch, size_t n) {
    lm_theme t;
    int rc = lm_notelist_parse(text, bpm, &t);
    if (rc != 0) print_message("%s: %s\n", text, lm_last_error());
    assert_int_equal(rc, 0);
    assert_int_equal(t.n, n);
    for (size_t i = 0; i < n; i++) assert_int_equal(t.notes[i].pitch, pitch[i]);
    lm_theme_free(&t);
}

static void test_notelist_beethoven(void **state) {
    (void)state;
    lm_theme t;
    assert_int_equal(lm_notelist_parse("G4 G4 G4 Eb4:4 F4 F4 F4 D4:4", 120.0, &t), 0);
    const int pitch[8] = {67, 67, 67, 63, 65, 65, 65, 62};
    const double onset[8] = {0, 0.5, 1.0, 1.5, 3.5, 4.0, 4.5, 5.0};
    const double dur[8] = {0.5, 0.5, 0.5, 2.0, 0.5, 0.5, 0.5, 2.0};
    assert_int_equal(t.n, 8);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(t.notes[i].pitch, pitch[i]);
        assert_true(fabs(t.notes[i].onset - onset[i]) < 1e-12);
        assert_true(fabs(t.notes[i].duration - dur[i]) < 1e-12);
    }
    assert_true(fabs(t.duration - 7.0) < 1e-12);
    int pcs[8];
    assert_int_equal(lm_theme_pitch_classes(&t, pcs, 8), 8);
    assert_int_equal(pcs[3], 3);
    lm_theme_free(&t);
    assert_null(t.notes);
}

static void test_notelist_spelling(void **state) {
    (void)state;
    expect_pitches("C#4 Db4 C##4 Cx4 Dbb4 Bb3 B#3 b4 bb4 Cb4 e4 a0", 100,
                   (int[]){61, 61, 62, 62, 60, 58, 60, 71, 70, 59, 64, 21}, 12);
    expect_pitches("C-1 G9 C0 c8", 100, (int[]){0, 127, 12, 108}, 4);
    expect_pitches("  \tA4\n  B4  ", 100, (int[]){69, 71}, 2);
}

/* Durations in beats (decimal, fraction), rests: leading and trailing ones dropped, rests in
 * a row joined. */
static void test_notelist_durations_and_rests(void **state) {
    (void)state;
    lm_theme t;
    assert_int_equal(lm_notelist_parse("r:3 C4:1/2 D4:1.5 E4:.5 r R:1/2 F4 r:2", 60.0, &t), 0);
    const int pitch[5] = {60, 62, 64, -1, 65};
    const double onset[5] = {0, 0.5, 2.0, 2.5, 4.0};
    const double dur[5] = {0.5, 1.5, 0.5, 1.5, 1.0};
    assert_int_equal(t.n, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(t.notes[i].pitch, pitch[i]);
        assert_true(fabs(t.notes[i].onset - onset[i]) < 1e-12);
        assert_true(fabs(t.notes[i].duration - dur[i]) < 1e-12);
    }
    assert_true(fabs(t.duration - 5.0) < 1e-12);
    int pcs[8];
    assert_int_equal(lm_theme_pitch_classes(&t, pcs, 8), 4);
    lm_theme_free(&t);
}

static void expect_notelist_error(const char *text, double bpm, const char *fragment) {
    lm_theme t;
    lm_clear_error();
    assert_int_equal(lm_notelist_parse(text, bpm, &t), -1);
    if (!strstr(lm_last_error(), fragment)) print_message("'%s' -> %s\n", text, lm_last_error());
    assert_non_null(strstr(lm_last_error(), fragment));
    assert_null(t.notes);
}

static void test_notelist_errors(void **state) {
    (void)state;
    expect_notelist_error("C4 D4 H4 E4", 120, "token 3 'H4' (column 7)");
    expect_notelist_error("C4 G", 120, "token 2 'G' (column 4): the octave is missing");
    expect_notelist_error("G4:0", 120, "token 1 'G4:0'");
    expect_notelist_error("A4 G4:-1", 120, "token 2 'G4:-1'");
    expect_notelist_error("G4:", 120, "positive number of beats");
    expect_notelist_error("G4:1/0", 120, "positive number of beats");
    expect_notelist_error("G4:2x", 120, "positive number of beats");
    expect_notelist_error("G4:5000", 120, "at most 1000");
    expect_notelist_error("G44", 120, "octave must be between -1 and 9");
    expect_notelist_error("C-2", 120, "octave must be between -1 and 9");
    expect_notelist_error("G#9", 120, "outside the MIDI range");
    expect_notelist_error("Cb-1", 120, "outside the MIDI range");
    expect_notelist_error("G###4", 120, "token 1 'G###4'");
    expect_notelist_error("Gb#4", 120, "expected accidentals");
    expect_notelist_error("G4 :2", 120, "token 2 ':2'");
    expect_notelist_error("", 120, "empty");
    expect_notelist_error(" \t\n", 120, "empty");
    expect_notelist_error("r r:2 R", 120, "only rests");
    expect_notelist_error("C4", 0, "tempo");
    expect_notelist_error("C4", -60, "tempo");
    expect_notelist_error("C4", NAN, "tempo");
    /* a long bad token is cut at a character boundary (here byte 40 falls inside a 3-byte euro
     * sign: 'D' + 'é' take 3 bytes, then 12 euro signs are 36 more) and marked with an ellipsis */
    const char *long_token = "C4 D\u00e9\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac"
                             "\u20ac\u20ac\u20ac\u20ac\u20acx";
    expect_notelist_error(long_token, 120, "token 2 'D\u00e9\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac"
                                           "\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u2026' (column 4)");
}

/* Pitch class of the non-zero entry of each frame (-1 for a zero frame); every non-zero
 * frame must be one-hot with value 1 (its own l2 norm). */
static void frame_classes(const float *chroma, size_t N, int *pc) {
    for (size_t i = 0; i < N; i++) {
        pc[i] = -1;
        for (int c = 0; c < 12; c++) {
            float v = chroma[c * N + i];
            if (v == 0.0f) continue;
            assert_true(v == 1.0f);
            assert_int_equal(pc[i], -1);
            pc[i] = c;
        }
    }
}

/* C4 (1 s), E4 (2 s), rest (1 s), G4 (1 s) at 60 bpm: 125 frames. */
static void test_chroma_frames(void **state) {
    (void)state;
    lm_theme t;
    assert_int_equal(lm_notelist_parse("C4 E4:2 r G4", 60.0, &t), 0);
    size_t N = 0;
    float *chroma = lm_theme_to_chroma(&t, 0.0, 0, &N);
    assert_non_null(chroma);
    assert_int_equal(N, 125);
    int base[125], pc[250];
    frame_classes(chroma, N, base);
    for (size_t i = 0; i < N; i++) {
        int expect = i < 25 ? 0 : i < 75 ? 4 : i < 100 ? -1 : 7;
        assert_int_equal(base[i], expect);
    }
    free(chroma);

    /* Transposition wraps around the octave in both directions. */
    chroma = lm_theme_to_chroma(&t, -1.0, -1, &N);
    frame_classes(chroma, N, pc);
    assert_int_equal(pc[0], 11);
    assert_int_equal(pc[30], 3);
    assert_int_equal(pc[110], 6);
    free(chroma);
    chroma = lm_theme_to_chroma(&t, 0.0, 14, &N);
    frame_classes(chroma, N, pc);
    assert_int_equal(pc[0], 2);
    assert_int_equal(pc[110], 9);
    free(chroma);

    /* Stretched to 10 s: every note gets twice the frames. */
    chroma = lm_theme_to_chroma(&t, 10.0, 0, &N);
    assert_int_equal(N, 250);
    frame_classes(chroma, N, pc);
    for (size_t i = 0; i < N; i++) assert_int_equal(pc[i], base[i / 2]);
    free(chroma);

    /* Squeezed below one frame: one frame, the note at the theme's middle (E4 at 2.5 s). */
    chroma = lm_theme_to_chroma(&t, 0.01, 0, &N);
    assert_int_equal(N, 1);
    frame_classes(chroma, N, pc);
    assert_int_equal(pc[0], 4);
    free(chroma);

    assert_null(lm_theme_to_chroma(&t, 1e6, 0, &N));
    assert_non_null(strstr(lm_last_error(), "too long"));
    lm_theme_free(&t);
    lm_theme empty = {0};
    assert_null(lm_theme_to_chroma(&empty, 0.0, 0, &N));
}

/* 37.5 frames round to 38, which still cover the whole theme: a third for each note. */
static void test_chroma_rounding(void **state) {
    (void)state;
    lm_theme t;
    assert_int_equal(lm_notelist_parse("C4 D4 E4", 120.0, &t), 0); /* 1.5 s */
    size_t N = 0;
    float *chroma = lm_theme_to_chroma(&t, 0.0, 0, &N);
    assert_int_equal(N, 38);
    int pc[38], counts[12] = {0};
    frame_classes(chroma, N, pc);
    for (size_t i = 0; i < N; i++) counts[pc[i]]++;
    assert_true(counts[0] >= 12 && counts[0] <= 13);
    assert_true(counts[2] >= 12 && counts[2] <= 13);
    assert_true(counts[4] >= 12 && counts[4] <= 13);
    assert_int_equal(pc[0], 0);
    assert_int_equal(pc[37], 4);
    free(chroma);
    lm_theme_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notelist_beethoven),   cmocka_unit_test(test_notelist_spelling),
        cmocka_unit_test(test_notelist_durations_and_rests), cmocka_unit_test(test_notelist_errors),
        cmocka_unit_test(test_chroma_frames),        cmocka_unit_test(test_chroma_rounding),
    };
    return lm_test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
