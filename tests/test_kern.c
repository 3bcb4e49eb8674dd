/* Humdrum **kern themes (symbolic/kern.h): small hand-written files for each feature (recip
 * durations with dots, triplets and breves, pitch and accidentals, chords, ties, grace notes,
 * rests, spines and their splits/joins/exchanges/additions, layers, measures, *MM tempo, *Tr),
 * malformed files, and three corpus themes written as **kern (tests/data/themes) that must give
 * the same query chroma as their MIDI files. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "symbolic/kern.h"
#include "symbolic/theme.h"

static void parse_ok(const char *krn, double bpm, const lm_theme_select *sel, lm_theme *t) {
    int rc = lm_kern_parse(krn, strlen(krn), bpm, sel, t);
    if (rc != 0) print_message("unexpected error: %s\n", lm_last_error());
    assert_int_equal(rc, 0);
}

static void expect_notes(const lm_theme *t, size_t n, const int *pitch, const double *onset, const double *dur) {
    if (t->n != n)
        for (size_t i = 0; i < t->n; i++)
            print_message("  %zu: %.4f %.4f %d\n", i, t->notes[i].onset, t->notes[i].duration, t->notes[i].pitch);
    assert_int_equal(t->n, n);
    for (size_t i = 0; i < n; i++) {
        if (t->notes[i].pitch != pitch[i] || fabs(t->notes[i].onset - onset[i]) > 1e-9 ||
            fabs(t->notes[i].duration - dur[i]) > 1e-9)
            print_message("note %zu: got %d at %.6f for %.6f, expected %d at %.6f for %.6f\n", i, t->notes[i].pitch,
                          t->notes[i].onset, t->notes[i].duration, pitch[i], onset[i], dur[i]);
        assert_int_equal(t->notes[i].pitch, pitch[i]);
        assert_true(fabs(t->notes[i].onset - onset[i]) < 1e-9);
        assert_true(fabs(t->notes[i].duration - dur[i]) < 1e-9);
    }
    assert_true(fabs(t->duration - (onset[n - 1] + dur[n - 1])) < 1e-9);
}

static void expect_error(const char *krn, const lm_theme_select *sel, const char *fragment) {
    lm_theme t;
    lm_clear_error();
    assert_int_equal(lm_kern_parse(krn, strlen(krn), 60, sel, &t), -1);
    if (!strstr(lm_last_error(), fragment)) print_message("message: %s\n", lm_last_error());
    assert_non_null(strstr(lm_last_error(), fragment));
    assert_null(strchr(lm_last_error(), '\n'));
    assert_null(t.notes);
}

/* Recip durations at 60 quarter notes per minute: dotted quarter, eighth, eighth triplets (12),
 * a half-note triplet (3), double-dotted quarter, sixteenth, breve (0), whole, long (00), 3%2. */
static void test_durations(void **state) {
    (void)state;
    lm_theme t;
    parse_ok("**kern\n4.c\n8d\n12e\n12f\n12g\n3a\n3b\n3cc\n4..d\n16e\n0f\n1g\n00a\n3%2b\n*-\n", 60, NULL, &t);
    const double third = 1 / 3.0;
    expect_notes(&t, 14, (int[]){60, 62, 64, 65, 67, 69, 71, 72, 62, 64, 65, 67, 69, 71},
                 (double[]){0, 1.5, 2, 2 + third, 2 + 2 * third, 3, 3 + 4 * third, 3 + 8 * third, 7, 8.75, 9, 17, 21, 37},
                 (double[]){1.5, 0.5, third, third, third, 4 * third, 4 * third, 4 * third, 1.75, 0.25, 8, 4, 16, 8 * third});
    lm_theme_free(&t);
    /* bpm <= 0: 120 */
    parse_ok("**kern\n4c\n4d\n*-\n", 0, NULL, &t);
    assert_true(fabs(t.duration - 1.0) < 1e-12);
    lm_theme_free(&t);
}

/* Octaves (c = C4, cc = C5, C = C3, CC = C2), accidentals, naturals; notation signifiers
 * (beams, articulations, stems, slurs, phrases, editorial marks) are ignored. */
static void test_pitches(void **state) {
    (void)state;
    lm_theme t;
    parse_ok("!! a comment\n**kern\n*clefG2\n*k[b-]\n*M4/4\n4c\n4cc\n4ccc\n4C\n4CC\n4c#\n4d-\n4e--\n4f##\n4gn\n"
             "(8aL'\n8b-J)\n{4.cc#;^}\n16dd-yy\n*-\n",
             60, NULL, &t);
    expect_notes(&t, 14, (int[]){60, 72, 84, 48, 36, 61, 61, 62, 67, 67, 69, 70, 73, 73},
                 (double[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10.5, 11, 12.5},
                 (double[]){1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0.5, 0.5, 1.5, 0.25});
    lm_theme_free(&t);
}

/* Rests inside are kept (joined when in a row), leading and trailing ones dropped; chords give
 * their top note; grace notes take no time; ties join notes, also across barlines; a re-struck
 * note stays two notes; a chord's lower, longer note sounds on alone (as a new note). */
static void test_rests_chords_grace_ties(void **state) {
    (void)state;
    lm_theme t;
    parse_ok("**kern\n4r\n4c\n4r\n4ryy\n4e 4g 4cc\n8qdd\n8ff\n8qqee\n[4d\n=2\n4d_\n4d]\n4d\n2e 4c\n4r\n1rr\n*-\n", 60,
             NULL, &t);
    expect_notes(&t, 7, (int[]){60, -1, 72, 77, 62, 62, 64}, (double[]){0, 1, 3, 4, 4.5, 7.5, 8.5},
                 (double[]){1, 2, 1, 0.5, 3, 1, 2});
    lm_theme_free(&t);
}

/* Four spines: cello, dynamics (not **kern, not counted), violin (split into two layers, then
 * joined), lyrics. At 120 quarter notes per minute (*MM). */
#define SPINES                                                   \
    "!!!COM: Nobody\n"                                           \
    "**kern\t**dynam\t**kern\t**text\n"                          \
    "*I\"Cello\t*\t*I\"Violin I\t*\n"                            \
    "*I'Vc.\t*\t*I'Vln. I\t*\n"                                  \
    "*Icello\t*\t*Ivioln\t*\n"                                   \
    "*MM120\t*\t*MM120\t*\n"                                     \
    "=1\t=1\t=1\t=1\n"                                           \
    "4C\tp\t4e\tla\n"                                            \
    "4D\t.\t4f\tla\n"                                            \
    "*\t*\t*^\t*\n"                                              \
    "!\t!\t! two voices\t!\t!\n"                                 \
    "4E\t.\t4g\t4b\tla\n"                                        \
    "4F\t.\t4a\t8cc\tla\n"                                       \
    ".\t.\t.\t8dd\t.\n"                                          \
    "*\t*\t*v\t*v\t*\n"                                          \
    "=2\t=2\t=2\t=2\n"                                           \
    "4G\t.\t4d\tla\n"                                            \
    "==\t==\t==\t==\n"                                           \
    "*-\t*-\t*-\t*-\n"

static void test_spines(void **state) {
    (void)state;
    lm_theme t;
    const char *violin[] = {"2", "Violin I", "  vln.  I", "VIOLN"};
    for (int i = 0; i < 4; i++) {
        lm_theme_select sel = {.part = violin[i]};
        parse_ok(SPINES, 60, &sel, &t);
        expect_notes(&t, 6, (int[]){64, 65, 71, 72, 74, 62}, (double[]){0, 0.5, 1, 1.5, 1.75, 2},
                     (double[]){0.5, 0.5, 0.5, 0.25, 0.25, 0.5});
        lm_theme_free(&t);
    }
    parse_ok(SPINES, 60, NULL, &t); /* all spines: the violin is always on top */
    assert_int_equal(t.n, 6);
    lm_theme_free(&t);
    lm_theme_select sel = {.part = "Violin I", .voice = 1};
    parse_ok(SPINES, 60, &sel, &t);
    expect_notes(&t, 5, (int[]){64, 65, 67, 69, 62}, (double[]){0, 0.5, 1, 1.5, 2}, (double[]){0.5, 0.5, 0.5, 0.5, 0.5});
    lm_theme_free(&t);
    sel.voice = 2;
    parse_ok(SPINES, 60, &sel, &t);
    expect_notes(&t, 3, (int[]){71, 72, 74}, (double[]){0, 0.5, 0.75}, (double[]){0.5, 0.25, 0.25});
    lm_theme_free(&t);
    sel = (lm_theme_select){.part = "cello"};
    parse_ok(SPINES, 60, &sel, &t);
    expect_notes(&t, 5, (int[]){48, 50, 52, 53, 55}, (double[]){0, 0.5, 1, 1.5, 2}, (double[]){0.5, 0.5, 0.5, 0.5, 0.5});
    lm_theme_free(&t);
    sel = (lm_theme_select){.part = "Vc.", .measure_first = 2, .measure_last = 2};
    parse_ok(SPINES, 60, &sel, &t);
    expect_notes(&t, 1, (int[]){55}, (double[]){0}, (double[]){0.5});
    lm_theme_free(&t);

    sel = (lm_theme_select){.part = "3"};
    expect_error(SPINES, &sel, "no spine 3: the **kern file has 2 spines (1 \"Cello\", 2 \"Violin I\")");
    sel.part = "Viola";
    expect_error(SPINES, &sel, "no spine named \"Viola\"");
    sel = (lm_theme_select){.part = "1", .voice = 2};
    expect_error(SPINES, &sel, "**kern spine 1 \"Cello\" has no notes in layer 2");
    sel = (lm_theme_select){.track = 1};
    expect_error(SPINES, &sel, "MIDI track");
}

/* Exchange (*x) and a spine added (*+) then given its type; numbers follow the spines, not the
 * columns. */
static void test_exchange_and_add(void **state) {
    (void)state;
    const char *krn = "**kern\t**kern\n4c\t4e\n*x\t*x\n4d\t4f\n*\t*+\n*\t*\t**kern\n4g\t4a\t4b\n*-\t*-\t*-\n";
    const int expect[3][3] = {{60, 65, 69}, {64, 62, 67}, {71, 0, 0}};
    for (int s = 0; s < 3; s++) {
        char part[16];
        snprintf(part, sizeof part, "%d", s + 1);
        lm_theme_select sel = {.part = part};
        lm_theme t;
        parse_ok(krn, 60, &sel, &t);
        if (s < 2)
            expect_notes(&t, 3, expect[s], (double[]){0, 1, 2}, (double[]){1, 1, 1});
        else
            expect_notes(&t, 1, expect[s], (double[]){0}, (double[]){1});
        lm_theme_free(&t);
    }
}

/* Two split spines joined on one line (*v *v of each), and two spines joined into one. */
static void test_joins(void **state) {
    (void)state;
    const char *krn = "**kern\t**kern\n*^\t*^\n4c\t4e\t4g\t4b\n*v\t*v\t*v\t*v\n4d\t4f\n*v\t*v\n4a\n*-\n";
    lm_theme t;
    lm_theme_select sel = {.part = "1"};
    parse_ok(krn, 60, &sel, &t);
    expect_notes(&t, 3, (int[]){64, 62, 69}, (double[]){0, 1, 2}, (double[]){1, 1, 1}); /* the joined spine is 1's */
    lm_theme_free(&t);
    sel.part = "2";
    parse_ok(krn, 60, &sel, &t);
    expect_notes(&t, 2, (int[]){71, 65}, (double[]){0, 1}, (double[]){1, 1});
    lm_theme_free(&t);
}

/* Measures from =N barlines; a pickup before =1 is measure 0; a tie into a range; 3/4. */
#define MEASURES "**kern\n*M3/4\n*MM60\n4g\n=1\n2c\n4d\n=2\n[2.e\n=3\n4e]\n4r\n4f\n=4\n2.g\n==\n*-\n"

static void test_measures(void **state) {
    (void)state;
    const struct {
        int first, last;
        size_t n;
        int pitch[4];
        double onset[4], dur[4];
    } cases[] = {
        {2, 3, 3, {64, -1, 65}, {0, 4, 5}, {4, 1, 1}},
        {3, 3, 3, {64, -1, 65}, {0, 1, 2}, {1, 1, 1}},
        {0, 1, 3, {67, 60, 62}, {0, 1, 3}, {1, 2, 1}},
        {4, 0, 1, {67}, {0}, {3}},
        {0, 0, 4, {67, 60, 62, 64}, {0, 1, 3, 4}, {1, 2, 1, 4}}, /* ... and on: checked by count below */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        lm_theme_select sel = {.measure_first = cases[i].first, .measure_last = cases[i].last};
        lm_theme t;
        parse_ok(MEASURES, 0, &sel, &t);
        if (i == 4) {
            assert_int_equal(t.n, 7);
            assert_true(fabs(t.duration - 13.0) < 1e-9);
        } else {
            expect_notes(&t, cases[i].n, cases[i].pitch, cases[i].onset, cases[i].dur);
        }
        lm_theme_free(&t);
    }
    lm_theme_select sel = {.measure_first = 9, .measure_last = 9};
    expect_error(MEASURES, &sel, "the **kern file has no measure 9 (its measures are numbered 0 to 4)");
    sel = (lm_theme_select){.measure_first = 2, .measure_last = 2};
    expect_error("**kern\n4c\n=\n4d\n*-\n", &sel, "no measure 2 (it has no numbered measures)");
    expect_error("**kern\n4c\n=2\n4r\n=3\n4d\n*-\n", &sel, "the **kern file has no notes in measure 2");
}

/* *MM tempo marks (the first one's tempo before it; text tempi ignored); *ITr is display only;
 * *Tr data (written pitch) goes back to sounding pitch: a B-flat clarinet written D5 sounds C5. */
static void test_tempo_and_transposition(void **state) {
    (void)state;
    lm_theme t;
    parse_ok("**kern\n*MM120\n4c\n*MM60\n4d\n*MM[Adagio]\n4e\n*-\n", 200, NULL, &t);
    expect_notes(&t, 3, (int[]){60, 62, 64}, (double[]){0, 0.5, 1.5}, (double[]){0.5, 1, 1});
    lm_theme_free(&t);
    parse_ok("**kern\n4c\n*MM30\n4d\n*-\n", 200, NULL, &t);
    expect_notes(&t, 2, (int[]){60, 62}, (double[]){0, 2}, (double[]){2, 2});
    lm_theme_free(&t);
    const char *krn = "**kern\t**kern\n*ITrd1c2\t*Trd1c2\n4c\t4dd\n*-\t*-\n";
    lm_theme_select sel = {.part = "1"};
    parse_ok(krn, 60, &sel, &t);
    expect_notes(&t, 1, (int[]){60}, (double[]){0}, (double[]){1});
    lm_theme_free(&t);
    sel.part = "2";
    parse_ok(krn, 60, &sel, &t);
    expect_notes(&t, 1, (int[]){72}, (double[]){0}, (double[]){1});
    lm_theme_free(&t);
}

static void test_malformed(void **state) {
    (void)state;
    expect_error("", NULL, "empty **kern file");
    expect_error("!! only a comment\n", NULL, "not a Humdrum file");
    expect_error("hello\nworld\n", NULL, "\"hello\" where the spines should start");
    expect_error("<?xml version=\"1.0\"?>\n", NULL, "where the spines should start");
    expect_error("**dynam\np\n*-\n", NULL, "Humdrum file has no **kern spine");
    expect_error("**kern\t**kern\n4c\n*-\t*-\n", NULL, "line 2 has 1 tab-separated fields where 2 spines are open");
    expect_error("**kern\n4c\n4x\n*-\n", NULL, "line 3, spine 1: \"4x\" is not a **kern note or rest (neither a note nor a rest)");
    expect_error("**kern\n4cd\n*-\n", NULL, "two different pitch letters");
    expect_error("**kern\n4cr\n*-\n", NULL, "both a pitch and a rest");
    expect_error("**kern\n4c8\n*-\n", NULL, "two duration numbers");
    expect_error("**kern\n0000c\n*-\n", NULL, "more than three zeros");
    expect_error("**kern\ncc\n*-\n", NULL, "\"cc\" has no duration");
    expect_error("**kern\n4cccccccc\n*-\n", NULL, "outside the MIDI range");
    expect_error("**kern\n4CCCCCC\n*-\n", NULL, "outside the MIDI range");
    expect_error("**kern\n4c\n4d\n", NULL, "ends at line 3 before its spines are terminated with *-");
    expect_error("**kern\n4c\n4d", NULL, "before its spines are terminated");
    expect_error("**kern\n4c\n*x\n*-\n", NULL, "*x exchanges a spine with no *x beside it");
    expect_error("**kern\t**kern\n4c\t*\n*-\t*-\n", NULL, "\"*\" does not belong in this line");
    expect_error("**kern\t**kern\n4c\t\n*-\t*-\n", NULL, "line 2, spine 2: an empty field");
    expect_error("**kern\n4r\n*-\n", NULL, "the **kern file has no notes");
    expect_error("**kern\n4qc\n*-\n", NULL, "the **kern file has no notes");
    expect_error("**kern\n9999991c\n9999973d\n9999971e\n9999943f\n9999937g\n*-\n", NULL,
                 "durations too long or too finely divided");
    lm_theme t;
    assert_int_equal(lm_kern_parse("**kern\n4c\0\n*-\n", 13, 60, NULL, &t), -1);
    assert_non_null(strstr(lm_last_error(), "NUL byte"));
    assert_int_equal(lm_kern_read("/nonexistent/x.krn", 60, NULL, &t), -1);
    assert_non_null(strstr(lm_last_error(), "/nonexistent/x.krn"));
}

/* Corpus themes as **kern: the same query chroma as the MIDI. */
static void test_corpus_kern(void **state) {
    (void)state;
    const char *themes[3] = {"chausson_lc5077660_t2", "debussy_sq8661306-1_t4", "haydn_sq8455808-2_t2"};
    const char *parts[3] = {NULL, "Clarinet in Bb", "Violin I"};
    for (int i = 0; i < 3; i++) {
        char rel[256], path[512];
        snprintf(rel, sizeof rel, "corpus/themes/%s.mid", themes[i]);
        const char *midi = lm_test_shared(rel);
        if (!midi) LM_SKIP("../shared/%s not found\n", rel);
        lm_theme a, b;
        assert_int_equal(lm_midi_read_theme(midi, &a), 0);
        snprintf(path, sizeof path, "%s/tests/data/themes/%s.krn", LM_SOURCE_DIR, themes[i]);
        lm_theme_select sel = {.part = parts[i]};
        int rc = lm_kern_read(path, 0, &sel, &b);
        if (rc) print_message("%s\n", lm_last_error());
        assert_int_equal(rc, 0);
        size_t na, nb;
        float *ca = lm_theme_to_chroma(&a, 0, 0, &na), *cb = lm_theme_to_chroma(&b, 0, 0, &nb);
        assert_non_null(ca);
        assert_non_null(cb);
        assert_int_equal(na, nb);
        size_t differ = 0;
        for (size_t k = 0; k < 12 * na; k++) differ += ca[k] != cb[k];
        if (differ) print_message("%s: %zu chroma values differ from the MIDI's\n", path, differ);
        assert_int_equal(differ, 0);
        assert_int_equal(a.n, b.n);
        free(ca);
        free(cb);
        lm_theme_free(&a);
        lm_theme_free(&b);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),     cmocka_unit_test(test_pitches),
        cmocka_unit_test(test_rests_chords_grace_ties), cmocka_unit_test(test_spines),
        cmocka_unit_test(test_exchange_and_add), cmocka_unit_test(test_joins), cmocka_unit_test(test_measures),
        cmocka_unit_test(test_tempo_and_transposition), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_corpus_kern),
    };
    return lm_test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
