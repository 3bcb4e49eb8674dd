/* MusicXML themes (symbolic/musicxml.h) and theme files by format (lm_theme_load_ex): small
 * hand-written scores for each feature (durations, parts, measures, transposing instruments, ties,
 * grace and cue notes, chords, rests, voices and staves, tempo marks, timewise scores), malformed
 * and hostile inputs, compressed .mxl archives, and three corpus themes written as MusicXML, .mxl
 * and **kern (tests/data/themes, made by make_themes.py) that must give the same query chroma as
 * their MIDI files. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "common/error.h"
#include "symbolic/musicxml.h"
#include "symbolic/score.h"
#include "symbolic/theme.h"

/* ---- building scores ---- */

#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<score-partwise version=\"4.0\">"
#define TAIL "</score-partwise>"
#define PART_LIST1 "<part-list><score-part id=\"P1\"><part-name>Flute</part-name></score-part></part-list>"
#define DIV(d) "<attributes><divisions>" #d "</divisions></attributes>"
#define NOTE(step, oct, dur) \
    "<note><pitch><step>" #step "</step><octave>" #oct "</octave></pitch><duration>" #dur "</duration></note>"
#define NOTE_X(step, oct, dur, extra) \
    "<note>" extra "<pitch><step>" #step "</step><octave>" #oct "</octave></pitch><duration>" #dur "</duration></note>"
#define NOTE_A(step, alter, oct, dur)                                                                            \
    "<note><pitch><step>" #step "</step><alter>" #alter "</alter><octave>" #oct "</octave></pitch><duration>" #dur \
    "</duration></note>"
#define REST(dur) "<note><rest/><duration>" #dur "</duration></note>"
#define TEMPO(q) "<direction><direction-type><words>Allegro</words></direction-type><sound tempo=\"" #q "\"/></direction>"
#define MEASURE(n, body) "<measure number=\"" #n "\">" body "</measure>"
/* One part "Flute" with the given measures. */
#define SCORE1(measures) HEAD PART_LIST1 "<part id=\"P1\">" measures "</part>" TAIL

static int parse(const char *xml, double bpm, const lm_theme_select *sel, lm_theme *t) {
    return lm_musicxml_parse(xml, strlen(xml), bpm, sel, t);
}

static void parse_ok(const char *xml, double bpm, const lm_theme_select *sel, lm_theme *t) {
    int rc = parse(xml, bpm, sel, t);
    if (rc != 0) print_message("unexpected error: %s\n", lm_last_error());
    assert_int_equal(rc, 0);
}

static void expect_notes(const lm_theme *t, size_t n, const int *pitch, const double *onset, const double *dur) {
    if (t->n != n) {
        for (size_t i = 0; i < t->n; i++)
            print_message("  %zu: %.4f %.4f %d\n", i, t->notes[i].onset, t->notes[i].duration, t->notes[i].pitch);
    }
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

static void expect_error(const char *xml, const lm_theme_select *sel, const char *fragment) {
    lm_theme t;
    lm_clear_error();
    assert_int_equal(parse(xml, 60, sel, &t), -1);
    if (!strstr(lm_last_error(), fragment)) print_message("message: %s\n", lm_last_error());
    assert_non_null(strstr(lm_last_error(), fragment));
    assert_null(strchr(lm_last_error(), '\n'));
    assert_null(t.notes);
    assert_int_equal(t.n, 0);
}

/* ---- durations, rests ---- */

/* <duration>/<divisions> with 12 divisions: dotted quarter, eighth, an eighth-note triplet,
 * quarter; at 60 quarter notes per minute (the caller's bpm, the file having no tempo mark). */
static void test_durations(void **state) {
    (void)state;
    const char *xml = SCORE1(MEASURE(1, DIV(12) NOTE(C, 4, 18) NOTE(D, 4, 6)
                                 NOTE_X(E, 4, 4, "") NOTE_X(F, 4, 4, "") NOTE_X(G, 4, 4, "") NOTE(A, 4, 12)));
    lm_theme t;
    parse_ok(xml, 60, NULL, &t);
    expect_notes(&t, 6, (int[]){60, 62, 64, 65, 67, 69}, (double[]){0, 1.5, 2, 2 + 1 / 3.0, 2 + 2 / 3.0, 3},
                 (double[]){1.5, 0.5, 1 / 3.0, 1 / 3.0, 1 / 3.0, 1});
    lm_theme_free(&t);
    /* bpm <= 0: 120 quarter notes per minute. */
    parse_ok(xml, 0, NULL, &t);
    assert_true(fabs(t.duration - 2.0) < 1e-9);
    lm_theme_free(&t);
    /* Decimal divisions and durations (the schema allows them), alterations, a divisions change. */
    parse_ok(SCORE1(MEASURE(1, DIV(1.5) NOTE_A(F, 1, 4, 0.75) NOTE_A(B, -1, 3, 0.75) NOTE_A(C, -2, 5, 1.5))
                        MEASURE(2, DIV(4) NOTE_A(E, 0, 4, 2) NOTE_A(E, 0.5, 4, 2))),
             60, NULL, &t);
    expect_notes(&t, 5, (int[]){66, 58, 70, 64, 65}, (double[]){0, 0.5, 1, 2, 2.5}, (double[]){0.5, 0.5, 1, 0.5, 0.5});
    lm_theme_free(&t);
}

/* Rests inside are kept (one entry for rests in a row), leading and trailing ones dropped; a
 * whole-measure rest takes its duration. */
static void test_rests(void **state) {
    (void)state;
    lm_theme t;
    parse_ok(SCORE1(MEASURE(1, DIV(2) REST(2) NOTE(C, 4, 2) REST(1) REST(1) NOTE(D, 4, 2))
                        MEASURE(2, "<note><rest measure=\"yes\"/><duration>8</duration></note>")
                            MEASURE(3, NOTE(E, 4, 4) REST(4))),
             60, NULL, &t);
    expect_notes(&t, 5, (int[]){60, -1, 62, -1, 64}, (double[]){0, 1, 2, 3, 7}, (double[]){1, 1, 1, 4, 2});
    int pcs[8];
    assert_int_equal(lm_theme_pitch_classes(&t, pcs, 8), 3);
    lm_theme_free(&t);
}

/* ---- notes that are not sounded, chords, ties ---- */

/* Grace notes take no time and are left out; cue notes take their time but do not sound. */
static void test_grace_and_cue(void **state) {
    (void)state;
    lm_theme t;
    parse_ok(SCORE1(MEASURE(1, DIV(1) NOTE(C, 4, 1) "<note><grace slash=\"yes\"/><pitch><step>B</step><octave>5</octave>"
                               "</pitch><voice>1</voice><type>eighth</type></note>" NOTE(D, 4, 1)
                               "<note><cue/><pitch><step>A</step><octave>5</octave></pitch><duration>1</duration></note>"
                                   NOTE(E, 4, 1))),
             60, NULL, &t);
    expect_notes(&t, 4, (int[]){60, 62, -1, 64}, (double[]){0, 1, 2, 3}, (double[]){1, 1, 1, 1});
    lm_theme_free(&t);
}

/* A chord gives its top note; the chord's notes do not move the position on; a lower chord
 * note that sounds on after the top note ends takes over (as a new note). */
static void test_chords(void **state) {
    (void)state;
    lm_theme t;
    parse_ok(SCORE1(MEASURE(1, DIV(1) NOTE(C, 4, 1) NOTE_X(G, 4, 1, "<chord/>") NOTE_X(E, 4, 1, "<chord/>")
                               NOTE(F, 4, 1) NOTE_X(A, 3, 2, "<chord/>") NOTE(D, 4, 1))),
             60, NULL, &t);
    /* G4 (the top of C-E-G), F4 over A3, D4 over the A3 that still sounds */
    expect_notes(&t, 3, (int[]){67, 65, 62}, (double[]){0, 1, 2}, (double[]){1, 1, 1});
    lm_theme_free(&t);
    parse_ok(SCORE1(MEASURE(1, DIV(1) NOTE(C, 4, 2) NOTE_X(G, 4, 1, "<chord/>") REST(1) NOTE(E, 4, 1))), 60, NULL, &t);
    expect_notes(&t, 4, (int[]){67, 60, -1, 64}, (double[]){0, 1, 2, 3}, (double[]){1, 1, 1, 1});
    lm_theme_free(&t);
}

/* Ties: across a barline, a chain of three, <tied> when there is no <tie>; a tie stop without
 * a start (or to another pitch) is a new note; a re-struck note stays two notes. */
static void test_ties(void **state) {
    (void)state;
    lm_theme t;
    parse_ok(SCORE1(MEASURE(1, DIV(1) NOTE(C, 4, 2) NOTE_X(D, 4, 2, "<tie type=\"start\"/>"))
                        MEASURE(2, NOTE_X(D, 4, 1, "<tie type=\"stop\"/><tie type=\"start\"/>")
                                       NOTE_X(D, 4, 1, "<tie type=\"stop\"/>") NOTE(D, 4, 2))
                            MEASURE(3, "<note><pitch><step>E</step><octave>4</octave></pitch><duration>2</duration>"
                                       "<notations><tied type=\"start\"/></notations></note>"
                                       "<note><pitch><step>E</step><octave>4</octave></pitch><duration>2</duration>"
                                       "<notations><tied type=\"stop\"/></notations></note>")
                                MEASURE(4, NOTE_X(F, 4, 2, "<tie type=\"start\"/>") NOTE_X(G, 4, 2, "<tie type=\"stop\"/>"))),
             60, NULL, &t);
    expect_notes(&t, 6, (int[]){60, 62, 62, 64, 65, 67}, (double[]){0, 2, 6, 8, 12, 14}, (double[]){2, 4, 2, 4, 2, 2});
    lm_theme_free(&t);
}

/* ---- parts, voices, staves ---- */

#define PART_LIST3                                                                                                \
    "<part-list><score-part id=\"P1\"><part-name>Violin I</part-name><part-abbreviation>Vln. I</part-abbreviation>" \
    "</score-part><part-group type=\"start\" number=\"1\"/><score-part id=\"P2\"><part-name>Violin II</part-name>"   \
    "</score-part><score-part id=\"Vc\"><part-name>Violoncello</part-name></score-part></part-list>"
#define SCORE3                                                                                                  \
    HEAD PART_LIST3 "<part id=\"P1\">" MEASURE(1, DIV(1) TEMPO(120) NOTE(E, 5, 1) NOTE(F, 5, 1) REST(2)) "</part>" \
    "<part id=\"P2\">" MEASURE(1, DIV(2) NOTE(C, 5, 4) NOTE(D, 5, 4)) "</part>"                                    \
    "<part id=\"Vc\">" MEASURE(1, DIV(1) NOTE(C, 3, 4)) "</part>" TAIL

static void test_part_selection(void **state) {
    (void)state;
    lm_theme t;
    /* Every part: the top sounding note; the tempo mark (in part 1) applies to all parts. */
    parse_ok(SCORE3, 60, NULL, &t);
    expect_notes(&t, 3, (int[]){76, 77, 74}, (double[]){0, 0.5, 1}, (double[]){0.5, 0.5, 1});
    lm_theme_free(&t);
    const char *sels[] = {"2", "Violin II", "  violin   ii ", "P2"};
    for (int i = 0; i < 4; i++) {
        lm_theme_select sel = {.part = sels[i]};
        parse_ok(SCORE3, 60, &sel, &t);
        expect_notes(&t, 2, (int[]){72, 74}, (double[]){0, 1}, (double[]){1, 1});
        lm_theme_free(&t);
    }
    lm_theme_select sel = {.part = "Vln. I"};
    parse_ok(SCORE3, 60, &sel, &t);
    expect_notes(&t, 2, (int[]){76, 77}, (double[]){0, 0.5}, (double[]){0.5, 0.5});
    lm_theme_free(&t);
    sel.part = "3";
    parse_ok(SCORE3, 60, &sel, &t);
    expect_notes(&t, 1, (int[]){48}, (double[]){0}, (double[]){2});
    lm_theme_free(&t);

    sel.part = "Viola";
    expect_error(SCORE3, &sel, "no part named \"Viola\" in the MusicXML score (parts: 1 \"Violin I\", 2 \"Violin II\", "
                               "3 \"Violoncello\")");
    sel.part = "4";
    expect_error(SCORE3, &sel, "no part 4: the MusicXML score has 3 parts");
    sel = (lm_theme_select){.track = 2};
    expect_error(SCORE3, &sel, "MIDI track");
    const char *twins = HEAD "<part-list><score-part id=\"A\"><part-name>Violin</part-name></score-part><score-part "
                             "id=\"B\"><part-name>Violin</part-name></score-part></part-list><part id=\"A\">" MEASURE(
                                 1, DIV(1) NOTE(C, 4, 1)) "</part><part id=\"B\">" MEASURE(1, DIV(1) NOTE(D, 4, 1)) "</part>" TAIL;
    sel = (lm_theme_select){.part = "violin"};
    expect_error(twins, &sel, "ambiguous: parts 1 and 2");
    sel.part = "2";
    parse_ok(twins, 60, &sel, &t);
    expect_notes(&t, 1, (int[]){62}, (double[]){0}, (double[]){1});
    lm_theme_free(&t);
    /* A part that cannot be read (no <divisions>) does not keep another from being read. */
    const char *broken = HEAD "<part-list><score-part id=\"A\"><part-name>Good</part-name></score-part><score-part "
                              "id=\"B\"><part-name>Bad</part-name></score-part></part-list><part id=\"A\">" MEASURE(
                                  1, DIV(1) NOTE(C, 4, 1)) "</part><part id=\"B\">" MEASURE(1, NOTE(D, 4, 1)) "</part>" TAIL;
    sel.part = "good";
    parse_ok(broken, 60, &sel, &t);
    expect_notes(&t, 1, (int[]){60}, (double[]){0}, (double[]){1});
    lm_theme_free(&t);
    expect_error(broken, NULL, "part 2 \"Bad\", measure 1: a duration before the part's <divisions>");
}

/* A piano part: staff 1 with two voices (backup), staff 2 (backup), a <forward> gap in voice 2.
 * Default: the top sounding note of all; voice 1 and voice 2 alone; a missing voice. */
#define PIANO                                                                                                        \
    SCORE1(MEASURE(1, DIV(1) "<note><pitch><step>G</step><octave>5</octave></pitch><duration>1</duration><voice>1"    \
                             "</voice><staff>1</staff></note>"                                                       \
                             "<note><rest/><duration>1</duration><voice>1</voice><staff>1</staff></note>"             \
                             "<note><pitch><step>A</step><octave>5</octave></pitch><duration>2</duration><voice>1"   \
                             "</voice><staff>1</staff></note>"                                                       \
                             "<backup><duration>4</duration></backup>"                                               \
                             "<forward><duration>1</duration><voice>2</voice></forward>"                             \
                             "<note><pitch><step>E</step><octave>5</octave></pitch><duration>3</duration><voice>2"   \
                             "</voice><staff>1</staff></note>"                                                       \
                             "<backup><duration>4</duration></backup>"                                               \
                             "<note><pitch><step>C</step><octave>3</octave></pitch><duration>4</duration><voice>5"   \
                             "</voice><staff>2</staff></note>"))

static void test_voices_and_staves(void **state) {
    (void)state;
    lm_theme t;
    parse_ok(PIANO, 60, NULL, &t);
    expect_notes(&t, 3, (int[]){79, 76, 81}, (double[]){0, 1, 2}, (double[]){1, 1, 2});
    lm_theme_free(&t);
    lm_theme_select sel = {.voice = 1};
    parse_ok(PIANO, 60, &sel, &t);
    expect_notes(&t, 3, (int[]){79, -1, 81}, (double[]){0, 1, 2}, (double[]){1, 1, 2});
    lm_theme_free(&t);
    sel.voice = 2;
    parse_ok(PIANO, 60, &sel, &t);
    expect_notes(&t, 1, (int[]){76}, (double[]){0}, (double[]){3});
    lm_theme_free(&t);
    sel.voice = 5;
    parse_ok(PIANO, 60, &sel, &t);
    expect_notes(&t, 1, (int[]){48}, (double[]){0}, (double[]){4});
    lm_theme_free(&t);
    sel.voice = 3;
    expect_error(PIANO, &sel, "has no notes in voice 3");
}

/* ---- transposing instruments ---- */

static void test_transposing(void **state) {
    (void)state;
    lm_theme t;
    /* B-flat clarinet: written D5 sounds C5. */
    parse_ok(SCORE1(MEASURE(1, "<attributes><divisions>1</divisions><transpose><diatonic>-1</diatonic><chromatic>-2"
                               "</chromatic></transpose></attributes>" NOTE(D, 5, 1) NOTE(E, 5, 1))),
             60, NULL, &t);
    expect_notes(&t, 2, (int[]){72, 74}, (double[]){0, 1}, (double[]){1, 1});
    lm_theme_free(&t);
    /* Bass clarinet (an octave lower still), horn in F, piccolo (an octave up); a change of
     * instrument in measure 2 (the transposition goes on until the next). */
    parse_ok(SCORE1(MEASURE(1, "<attributes><divisions>1</divisions><transpose><diatonic>-1</diatonic><chromatic>-2"
                               "</chromatic><octave-change>-1</octave-change></transpose></attributes>" NOTE(D, 5, 1))
                        MEASURE(2, "<attributes><transpose><diatonic>-4</diatonic><chromatic>-7</chromatic>"
                                   "</transpose></attributes>" NOTE(G, 4, 1))
                            MEASURE(3, NOTE(A, 4, 1) "<attributes><transpose><chromatic>0</chromatic><octave-change>1"
                                                     "</octave-change></transpose></attributes>" NOTE(C, 5, 1))),
             60, NULL, &t);
    expect_notes(&t, 4, (int[]){60, 60, 62, 84}, (double[]){0, 1, 2, 3}, (double[]){1, 1, 1, 1});
    lm_theme_free(&t);
    /* A per-staff transposition applies to its staff only. */
    parse_ok(SCORE1(MEASURE(1, "<attributes><divisions>1</divisions><staves>2</staves><transpose number=\"2\">"
                               "<chromatic>-12</chromatic></transpose></attributes>"
                               "<note><pitch><step>C</step><octave>5</octave></pitch><duration>1</duration>"
                               "<staff>1</staff></note><note><pitch><step>D</step><octave>6</octave></pitch>"
                               "<duration>1</duration><staff>2</staff></note>")),
             60, NULL, &t);
    expect_notes(&t, 2, (int[]){72, 74}, (double[]){0, 1}, (double[]){1, 1});
    lm_theme_free(&t);
}

/* ---- measures ---- */

/* A pickup numbered 0, measures 1-4 (4/4 at 60), a split measure "3" + "3a" (implicit). */
#define MEASURES                                                                                          \
    SCORE1("<measure number=\"0\" implicit=\"yes\">" DIV(1) NOTE(G, 4, 1) "</measure>" MEASURE(            \
        1, NOTE(C, 5, 3) NOTE_X(D, 5, 1, "<tie type=\"start\"/>")) MEASURE(2, NOTE_X(D, 5, 2, "<tie type=\"stop\"/>") \
                                                               REST(2)) MEASURE(3, NOTE(E, 5, 2))                 \
               "<measure number=\"3a\" implicit=\"yes\">" NOTE(F, 5, 2) "</measure>" MEASURE(4, NOTE(G, 5, 4)))

static void test_measure_ranges(void **state) {
    (void)state;
    lm_theme t;
    lm_theme_select sel = {.measure_first = 2, .measure_last = 3};
    /* Measure 2 begins with the end of a note tied from measure 1: the tied part sounds in 2. */
    parse_ok(MEASURES, 60, &sel, &t);
    expect_notes(&t, 4, (int[]){74, -1, 76, 77}, (double[]){0, 2, 4, 6}, (double[]){2, 2, 2, 2});
    lm_theme_free(&t);
    sel = (lm_theme_select){.measure_first = 1, .measure_last = 1}; /* the tie is cut at the barline */
    parse_ok(MEASURES, 60, &sel, &t);
    expect_notes(&t, 2, (int[]){72, 74}, (double[]){0, 3}, (double[]){3, 1});
    lm_theme_free(&t);
    sel = (lm_theme_select){.measure_first = 3}; /* to the end */
    parse_ok(MEASURES, 60, &sel, &t);
    expect_notes(&t, 3, (int[]){76, 77, 79}, (double[]){0, 2, 4}, (double[]){2, 2, 4});
    lm_theme_free(&t);
    sel = (lm_theme_select){.measure_last = 1}; /* from the start: the pickup is in */
    parse_ok(MEASURES, 60, &sel, &t);
    expect_notes(&t, 3, (int[]){67, 72, 74}, (double[]){0, 1, 4}, (double[]){1, 3, 1});
    lm_theme_free(&t);
    sel = (lm_theme_select){.part = "Flute", .measure_first = 9, .measure_last = 12};
    expect_error(MEASURES, &sel, "part 1 \"Flute\" has no measure 9 (its measures are numbered 0 to 4)");
    sel = (lm_theme_select){.measure_first = 2, .measure_last = 7};
    expect_error(MEASURES, &sel, "no measure 7 after measure 2");
    /* Rests only. */
    expect_error(SCORE1(MEASURE(1, DIV(1) NOTE(C, 4, 4)) MEASURE(2, REST(4))), &(lm_theme_select){.measure_first = 2, .measure_last = 2},
                 "the MusicXML score has no notes in measure 2");
}

/* lm_measure_range_parse: the accepted forms and the errors. */
static void test_measure_range_text(void **state) {
    (void)state;
    const struct {
        const char *text;
        int first, last;
    } ok[] = {{"5-9", 5, 9}, {"5", 5, 5}, {"5-", 5, 0}, {"-9", 0, 9}, {" 12 - 14 ", 12, 14}, {"0-3", 0, 3},
              {"7\xE2\x80\x93" "8", 7, 8}, {"999999", 999999, 999999}};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        int a = -1, b = -1;
        assert_int_equal(lm_measure_range_parse(ok[i].text, &a, &b), 0);
        assert_int_equal(a, ok[i].first);
        assert_int_equal(b, ok[i].last);
    }
    const char *bad[] = {"", "-", "x", "5-x", "5--9", "5-9-", "0", "0-", "5-0", "1000000", "5,9", "5 9", "a-b"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int a, b;
        lm_clear_error();
        assert_int_equal(lm_measure_range_parse(bad[i], &a, &b), -1);
        assert_non_null(strstr(lm_last_error(), "expected N, N-M, N- or -M"));
        assert_null(strchr(lm_last_error(), '\n'));
    }
    int a, b;
    assert_int_equal(lm_measure_range_parse("9-5", &a, &b), -1);
    assert_non_null(strstr(lm_last_error(), "the last measure comes before the first"));
    assert_int_equal(lm_measure_range_parse(NULL, &a, &b), -1);
}

/* ---- tempo ---- */

static void test_tempo_marks(void **state) {
    (void)state;
    lm_theme t;
    /* <sound tempo> at a mid-measure position, a <metronome> with a dotted beat unit (dotted
     * quarter = 40 is 60 quarter notes per minute), <sound> directly in the measure, and a
     * direction <offset>. The caller's bpm does not apply. */
    parse_ok(SCORE1(MEASURE(1, DIV(2) TEMPO(120) NOTE(C, 4, 2) TEMPO(60) NOTE(D, 4, 2))
                        MEASURE(2, "<direction><direction-type><metronome><beat-unit>quarter</beat-unit><beat-unit-dot/>"
                                   "<per-minute>c. 40</per-minute></metronome></direction-type></direction>" NOTE(E, 4, 2)
                                   "<sound tempo=\"30\"/>" NOTE(F, 4, 2) "<direction><direction-type><words>a tempo"
                                   "</words></direction-type><offset>1</offset><sound tempo=\"120\"/></direction>"
                                   NOTE(G, 4, 2))),
             200, NULL, &t);
    expect_notes(&t, 5, (int[]){60, 62, 64, 65, 67}, (double[]){0, 0.5, 1.5, 2.5, 4.5}, (double[]){0.5, 1, 1, 2, 1.25});
    lm_theme_free(&t);
    /* Before the first mark its tempo applies; nonsense tempi are ignored. */
    parse_ok(SCORE1(MEASURE(1, DIV(1) NOTE(C, 4, 1) "<sound tempo=\"0\"/>" NOTE(D, 4, 1) TEMPO(30) NOTE(E, 4, 1)
                                   "<sound tempo=\"fast\"/>" NOTE(F, 4, 1))),
             60, NULL, &t);
    expect_notes(&t, 4, (int[]){60, 62, 64, 65}, (double[]){0, 2, 4, 6}, (double[]){2, 2, 2, 2});
    lm_theme_free(&t);
}

/* score-timewise: the same music as SCORE3's violin II and cello. */
static void test_timewise(void **state) {
    (void)state;
    const char *xml = "<?xml version=\"1.0\"?><score-timewise><part-list><score-part id=\"A\"><part-name>Oboe"
                      "</part-name></score-part><score-part id=\"B\"><part-name>Bassoon</part-name></score-part>"
                      "</part-list><measure number=\"1\"><part id=\"A\">" DIV(1) NOTE(C, 5, 2) "</part><part id=\"B\">"
                      DIV(1) NOTE(C, 3, 4) "</part></measure><measure number=\"2\"><part id=\"A\">" NOTE(D, 5, 4)
                      "</part><part id=\"B\">" REST(4) "</part></measure></score-timewise>";
    lm_theme t;
    parse_ok(xml, 60, NULL, &t);
    expect_notes(&t, 3, (int[]){72, 48, 74}, (double[]){0, 2, 4}, (double[]){2, 2, 4});
    lm_theme_free(&t);
    lm_theme_select sel = {.part = "oboe", .measure_first = 2, .measure_last = 2};
    parse_ok(xml, 60, &sel, &t);
    expect_notes(&t, 1, (int[]){74}, (double[]){0}, (double[]){4});
    lm_theme_free(&t);
}

/* ---- bad and hostile input ---- */

static void test_malformed(void **state) {
    (void)state;
    expect_error("", NULL, "empty MusicXML file");
    expect_error("<score-partwise><part-list>", NULL, "not well-formed XML (line 1");
    expect_error(HEAD "\n<part-list>\n<score-part id=\"P1\"></part-list>" TAIL, NULL, "not well-formed XML (line 4: Opening and ending tag mismatch");
    expect_error("<?xml version=\"1.0\"?><html><body/></html>", NULL, "not a MusicXML score: the root element is <html>");
    expect_error("<opus/>", NULL, "opus");
    expect_error(HEAD TAIL, NULL, "no parts");
    expect_error(HEAD PART_LIST1 TAIL, NULL, "has no notes");
    expect_error(SCORE1(MEASURE(1, DIV(1) REST(4))), NULL, "the MusicXML score has no notes");
    expect_error(SCORE1(MEASURE(1, NOTE(C, 4, 1))), NULL, "part 1 \"Flute\", measure 1: a duration before the part's <divisions>");
    expect_error(SCORE1(MEASURE(7, DIV(1) NOTE(C, 4, x))), NULL, "measure 7: <duration> \"x\" is not a non-negative number");
    expect_error(SCORE1(MEASURE(1, DIV(1) NOTE(C, 4, -1))), NULL, "not a non-negative number");
    expect_error(SCORE1(MEASURE(1, DIV(1) NOTE(H, 4, 1))), NULL, "pitch step \"H\" is not one of A-G");
    expect_error(SCORE1(MEASURE(1, DIV(1) NOTE(C, 12, 1))), NULL, "valid <octave>");
    expect_error(SCORE1(MEASURE(1, DIV(1) NOTE(G, 9, 1) NOTE_A(G, 1, 9, 1))), NULL, "outside the MIDI range");
    expect_error(SCORE1(MEASURE(1, DIV(1) "<note><pitch><step>C</step><octave>4</octave></pitch></note>")), NULL,
                 "a note without <duration>");
    expect_error(SCORE1(MEASURE(1, DIV(1) "<backup/>")), NULL, "a <backup> without <duration>");
    expect_error(HEAD PART_LIST1 "<part id=\"P1\"></part><part id=\"P1\"></part>" TAIL, NULL, "two <part> elements");
    /* Durations that cannot be added up exactly (huge co-prime divisions) are an error, not UB. */
    expect_error(SCORE1(MEASURE(1, DIV(999999999999937) NOTE(C, 4, 999999999999999) "<attributes><divisions>"
                                   "999999999999989</divisions></attributes>" NOTE(D, 4, 999999999999998)
                                   "<attributes><divisions>999999999999947</divisions></attributes>"
                                   NOTE(E, 4, 999999999999997))),
                 NULL, "durations too long or too finely divided");
}

/* Entities: a billion-laughs document is refused; an external entity is not read (no XXE). */
static void test_entities(void **state) {
    (void)state;
    const char *lol = "<?xml version=\"1.0\"?><!DOCTYPE score-partwise [<!ENTITY a \"aaaaaaaaaa\">"
                      "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">"
                      "<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\"><!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">"
                      "<!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\"><!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">"
                      "<!ENTITY h \"&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;\"><!ENTITY i \"&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;\">"
                      "]><score-partwise><part-list><score-part id=\"P1\"><part-name>&i;</part-name></score-part>"
                      "</part-list><part id=\"P1\">" MEASURE(1, DIV(1) NOTE(C, 4, 1)) "</part></score-partwise>";
    lm_theme t;
    int rc = parse(lol, 60, NULL, &t);
    if (rc == 0) lm_theme_free(&t); /* no expansion took place: fine too */
    else assert_non_null(strstr(lm_last_error(), "not well-formed XML"));

    char path[512], xml[2048];
    snprintf(path, sizeof path, "%s/entity.xml", lm_test_tmpdir());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(NOTE(G, 5, 1), f);
    fclose(f);
    snprintf(xml, sizeof xml,
             "<?xml version=\"1.0\"?><!DOCTYPE score-partwise [<!ENTITY xxe SYSTEM \"file://%s\">]>"
             "<score-partwise><part-list><score-part id=\"P1\"><part-name>x</part-name></score-part></part-list>"
             "<part id=\"P1\">" MEASURE(1, DIV(1) NOTE(C, 4, 1) "&xxe;") "</part></score-partwise>",
             path);
    rc = parse(xml, 60, NULL, &t);
    if (rc == 0) {
        expect_notes(&t, 1, (int[]){60}, (double[]){0}, (double[]){1}); /* the G5 in the file was not read */
        lm_theme_free(&t);
    }
}

/* ---- .mxl ---- */

/* Writes a zip with the given members (name, content) to path. */
static void write_zip(const char *path, int n, const char *const *names, const char *const *contents) {
    int err = 0;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
    assert_non_null(z);
    for (int i = 0; i < n; i++) {
        zip_source_t *s = zip_source_buffer(z, contents[i], strlen(contents[i]), 0);
        assert_non_null(s);
        assert_true(zip_file_add(z, names[i], s, ZIP_FL_OVERWRITE) >= 0);
    }
    assert_int_equal(zip_close(z), 0);
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static unsigned char buf[1 << 20];
    *n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}

#define CONTAINER(path)                                                                                           \
    "<?xml version=\"1.0\"?><container><rootfiles><rootfile full-path=\"" path "\" media-type=\"application/"     \
    "vnd.recordare.musicxml+xml\"/><rootfile full-path=\"score.pdf\" media-type=\"application/pdf\"/></rootfiles>" \
    "</container>"

static void test_mxl(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/t.mxl", lm_test_tmpdir());
    const char *score = SCORE1(MEASURE(1, DIV(1) NOTE(C, 4, 1) NOTE(E, 4, 1)));
    size_t n;
    lm_theme t;
    write_zip(path, 3, (const char *[]){"mimetype", "META-INF/container.xml", "music/Score.xml"},
              (const char *[]){"application/vnd.recordare.musicxml", CONTAINER("music/Score.xml"), score});
    unsigned char *buf = slurp(path, &n);
    assert_int_equal(lm_mxl_parse(buf, n, 60, NULL, &t), 0);
    expect_notes(&t, 2, (int[]){60, 64}, (double[]){0, 1}, (double[]){1, 1});
    lm_theme_free(&t);
    assert_int_equal(lm_musicxml_read(path, 60, NULL, &t), 0); /* a zip read as .mxl */
    lm_theme_free(&t);

    /* Errors: not a zip, a truncated zip, a zip without container, a rootfile that is missing,
     * a rootfile that is not MusicXML, a damaged container. */
    assert_int_equal(lm_mxl_parse((const unsigned char *)"hello", 5, 60, NULL, &t), -1);
    assert_non_null(strstr(lm_last_error(), "not a readable zip archive"));
    assert_int_equal(lm_mxl_parse(buf, n / 2, 60, NULL, &t), -1);
    assert_non_null(strstr(lm_last_error(), "not a readable zip archive"));
    assert_int_equal(lm_mxl_parse(buf, 0, 60, NULL, &t), -1);
    write_zip(path, 1, (const char *[]){"readme.txt"}, (const char *[]){"hello"});
    buf = slurp(path, &n);
    assert_int_equal(lm_mxl_parse(buf, n, 60, NULL, &t), -1);
    assert_non_null(strstr(lm_last_error(), "not a compressed MusicXML file (.mxl): it has no META-INF/container.xml"));
    write_zip(path, 1, (const char *[]){"META-INF/container.xml"}, (const char *[]){CONTAINER("nothere.xml")});
    buf = slurp(path, &n);
    assert_int_equal(lm_mxl_parse(buf, n, 60, NULL, &t), -1);
    assert_non_null(strstr(lm_last_error(), "no member \"nothere.xml\""));
    write_zip(path, 2, (const char *[]){"META-INF/container.xml", "s.xml"},
              (const char *[]){CONTAINER("s.xml"), "<html/>"});
    buf = slurp(path, &n);
    assert_int_equal(lm_mxl_parse(buf, n, 60, NULL, &t), -1);
    assert_non_null(strstr(lm_last_error(), "s.xml (in the .mxl archive): not a MusicXML score"));
    write_zip(path, 1, (const char *[]){"META-INF/container.xml"}, (const char *[]){"<container><rootfiles>"});
    buf = slurp(path, &n);
    assert_int_equal(lm_mxl_parse(buf, n, 60, NULL, &t), -1);
    assert_non_null(strstr(lm_last_error(), "META-INF/container.xml is not well-formed XML"));
    write_zip(path, 1, (const char *[]){"META-INF/container.xml"}, (const char *[]){"<container/>"});
    buf = slurp(path, &n);
    assert_int_equal(lm_mxl_parse(buf, n, 60, NULL, &t), -1);
    assert_non_null(strstr(lm_last_error(), "names no MusicXML rootfile"));
    assert_null(strchr(lm_last_error(), '\n'));
    assert_null(t.notes);
}

/* ---- theme files by format ---- */

static void test_load_dispatch(void **state) {
    (void)state;
    char path[512], cmd[1200];
    lm_theme t;
    int from = -1;
    const char *dir = LM_SOURCE_DIR "/tests/data/themes";
    const char *name = "chausson_lc5077660_t2";
    const int formats[3] = {LM_THEME_MUSICXML, LM_THEME_MXL, LM_THEME_KERN};
    const char *ext[3] = {"musicxml", "mxl", "krn"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext[i]);
        assert_int_equal(lm_theme_load_ex(path, 0, NULL, &t, &from), 0);
        assert_int_equal(from, formats[i]);
        assert_int_equal(t.n, 18);
        lm_theme_free(&t);
        /* by content, whatever the name */
        snprintf(cmd, sizeof cmd, "cp '%s' '%s/theme%d.dat'", path, lm_test_tmpdir(), i);
        assert_int_equal(lm_test_system("%s", cmd), 0);
        snprintf(path, sizeof path, "%s/theme%d.dat", lm_test_tmpdir(), i);
        assert_int_equal(lm_theme_load_ex(path, 0, NULL, &t, &from), 0);
        assert_int_equal(from, formats[i]);
        lm_theme_free(&t);
    }
    assert_int_equal(lm_theme_load(path, 0, &t, &from), 0); /* the old entry point reads them too */
    assert_true(from != 0);
    lm_theme_free(&t);
    /* Note lists as before; a selection with a note list is an error. */
    assert_int_equal(lm_theme_load_ex("C4 D4", 60, NULL, &t, &from), 0);
    assert_int_equal(from, LM_THEME_NOTELIST);
    lm_theme_free(&t);
    lm_theme_select sel = {.measure_first = 2};
    assert_int_equal(lm_theme_load_ex("C4 D4", 60, &sel, &t, &from), -1);
    assert_non_null(strstr(lm_last_error(), "needs a theme file"));
    /* Errors name the file; a file of no known kind. */
    snprintf(path, sizeof path, "%s/%s.musicxml", dir, name);
    sel = (lm_theme_select){.part = "Tuba"};
    assert_int_equal(lm_theme_load_ex(path, 0, &sel, &t, &from), -1);
    assert_non_null(strstr(lm_last_error(), path));
    assert_non_null(strstr(lm_last_error(), "no part named \"Tuba\""));
    assert_int_equal(lm_theme_load_ex("/nonexistent/theme.krn", 0, NULL, &t, &from), -1);
    assert_non_null(strstr(lm_last_error(), "/nonexistent/theme.krn"));
    snprintf(path, sizeof path, "%s/junk.dat", lm_test_tmpdir());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("just some text\n", f);
    fclose(f);
    assert_int_equal(lm_theme_load_ex(path, 0, NULL, &t, &from), -1);
    assert_non_null(strstr(lm_last_error(), "not a theme file"));
    assert_null(t.notes);
}

/* ---- corpus themes: same query chroma as the MIDI ---- */

static float *chroma_of(const char *path, const char *part, size_t *n) {
    lm_theme t;
    lm_theme_select sel = {.part = part};
    int rc = lm_theme_load_ex(path, 0, &sel, &t, NULL);
    if (rc != 0) print_message("%s: %s\n", path, lm_last_error());
    assert_int_equal(rc, 0);
    float *c = lm_theme_to_chroma(&t, 0.0, 0, n);
    assert_non_null(c);
    lm_theme_free(&t);
    return c;
}

static void compare_with_midi(const char *ext) {
    const char *themes[3] = {"chausson_lc5077660_t2", "debussy_sq8661306-1_t4", "haydn_sq8455808-2_t2"};
    const char *parts[3] = {NULL, NULL, "Violin I"};
    for (int i = 0; i < 3; i++) {
        char rel[256], path[512];
        snprintf(rel, sizeof rel, "corpus/themes/%s.mid", themes[i]);
        const char *midi = lm_test_shared(rel);
        if (!midi) LM_SKIP("../shared/%s not found\n", rel);
        size_t n_midi, n_score;
        float *a = chroma_of(midi, NULL, &n_midi);
        snprintf(path, sizeof path, "%s/tests/data/themes/%s.%s", LM_SOURCE_DIR, themes[i], ext);
        float *b = chroma_of(path, parts[i], &n_score);
        if (n_midi != n_score) print_message("%s: %zu frames vs %zu from MIDI\n", path, n_score, n_midi);
        assert_int_equal(n_score, n_midi);
        size_t differ = 0;
        for (size_t k = 0; k < 12 * n_midi; k++) differ += a[k] != b[k];
        if (differ) print_message("%s: %zu chroma values differ from the MIDI's\n", path, differ);
        assert_int_equal(differ, 0);
        free(a);
        free(b);
    }
}

static void test_corpus_musicxml(void **state) {
    (void)state;
    compare_with_midi("musicxml");
}

static void test_corpus_mxl(void **state) {
    (void)state;
    compare_with_midi("mxl");
}

/* Decimal numbers (durations, divisions, tempi): exact up to 15 significant digits and 16
 * decimal places, refused beyond; a divisions value with 16 zeros and then digits after the point
 * overflowed the denominator (fuzz finding tests/data/fuzz-regressions/musicxml/). */
static void test_decimal_limits(void **state) {
    (void)state;
    lm_rat r;
    const char *ok[] = {"96", " 1.5 ", "0.0000000000000001", "123456789012345", "-0.25", "+2"};
    const double val[] = {96, 1.5, 1e-16, 123456789012345.0, -0.25, 2};
    for (size_t k = 0; k < sizeof ok / sizeof *ok; k++) {
        assert_int_equal(lm_rat_parse(ok[k], strlen(ok[k]), &r), 0);
        assert_true(fabs(lm_rat_to_double(r) - val[k]) <= 1e-12 * fabs(val[k]));
    }
    const char *bad[] = {"0.00000000000000001", "0.0000000000000000123456789", "1.00000000000000000",
                         "1234567890123456", "0.1234567890123456", "", ".", "1e3", "1.2.3"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) assert_int_equal(lm_rat_parse(bad[k], strlen(bad[k]), &r), -1);
    /* in a score: a clear error, no overflow */
    lm_theme t;
    assert_int_equal(parse(SCORE1(MEASURE(1, "<attributes><divisions>0.00000000000000001234</divisions></attributes>"
                                             NOTE(C, 4, 1))), 0, NULL, &t), -1);
    assert_non_null(strstr(lm_last_error(), "divisions"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),        cmocka_unit_test(test_rests),
        cmocka_unit_test(test_grace_and_cue),    cmocka_unit_test(test_chords),
        cmocka_unit_test(test_ties),             cmocka_unit_test(test_part_selection),
        cmocka_unit_test(test_voices_and_staves), cmocka_unit_test(test_transposing),
        cmocka_unit_test(test_measure_ranges),   cmocka_unit_test(test_measure_range_text),
        cmocka_unit_test(test_tempo_marks),      cmocka_unit_test(test_timewise),
        cmocka_unit_test(test_malformed),        cmocka_unit_test(test_entities),
        cmocka_unit_test(test_mxl),              cmocka_unit_test(test_load_dispatch),
        cmocka_unit_test(test_corpus_musicxml),  cmocka_unit_test(test_corpus_mxl),
        cmocka_unit_test(test_decimal_limits),
    };
    return lm_test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
