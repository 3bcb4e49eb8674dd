/* Training-pair CSV reader: the corpus themes.csv as is, hand-made CSVs with quoting,
 * flats/sharps and transposition, and the errors for missing columns and bad values. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "train/pairs.h"

static const char *write_csv(const char *name, const char *text) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", lm_test_tmpdir(), name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
    return path;
}

static const lm_pair *find_pair(const lm_pairs *p, const char *theme_id) {
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->items[i].theme_id, theme_id) == 0) return &p->items[i];
    return NULL;
}

static void assert_labels(const lm_pair *pair, const int *want, size_t n) {
    assert_int_equal(pair->n_labels, n);
    assert_memory_equal(pair->labels, want, n * sizeof *want);
}

/* Expects the load to fail with a message containing each of the given fragments. */
static void expect_load_error(const char *csv, const lm_pairs_options *opt, const char *frag1, const char *frag2) {
    lm_pairs p = {(lm_pair *)1, 99};
    assert_int_equal(lm_pairs_load(write_csv("bad.csv", csv), opt, &p), -1);
    assert_null(p.items);
    assert_int_equal(p.n, 0);
    const char *msg = lm_last_error();
    if (!strstr(msg, frag1) || (frag2 && !strstr(msg, frag2)))
        fail_msg("error '%s' lacks '%s' / '%s'", msg, frag1, frag2 ? frag2 : "");
    assert_null(strchr(msg, '\n'));
}

static void test_parse_pitch_classes(void **state) {
    (void)state;
    int pcs[32];
    const int want[] = {0, 1, 1, 3, 3, 4, 4, 5, 7, 6, 7, 8, 8, 9, 10, 10, 11, 11, 0};
    assert_int_equal(lm_parse_pitch_classes(" C C# Db D# Eb E Fb E# F## Gb G G# Ab A A# Bb B Cb B#\t", pcs, 32), 19);
    assert_memory_equal(pcs, want, sizeof want);
    assert_int_equal(lm_parse_pitch_classes("c f g#", pcs, 32), 3); /* lower-case letters too */
    assert_int_equal(pcs[2], 8);
    assert_int_equal(lm_parse_pitch_classes("   ", pcs, 32), 0);
    assert_int_equal(lm_parse_pitch_classes("C H", pcs, 32), -1);
    assert_non_null(strstr(lm_last_error(), "'H'"));
    assert_int_equal(lm_parse_pitch_classes("C4 D", pcs, 32), -1); /* octave numbers are not pitch classes */
    assert_non_null(strstr(lm_last_error(), "'C4'"));
    assert_int_equal(lm_parse_pitch_classes("C D E", pcs, 2), -1);
}

static void test_generic_csv(void **state) {
    (void)state;
    /* BOM, CRLF, a blank line, a quoted id with a comma and an escaped quote, relative and
     * absolute audio paths, flats, transposition, optional columns in any order. */
    const char *csv = "\xEF\xBB\xBF"
                      "theme_id,audio,start_sec,end_sec,theme,fold,transposition,license\r\n"
                      "\"Ode, \"\"joy\"\"\",rec/ode.flac,1.5,9.25,E E F G G F E D,2,0,CC0-1.0\r\n"
                      "\r\n"
                      "t2,/abs/t2.wav, 0 ,3,Bb Eb F,3,2,CC-BY\r\n";
    const char *path = write_csv("generic.csv", csv);
    lm_pairs p;
    assert_int_equal(lm_pairs_load(path, NULL, &p), 0);
    assert_int_equal(p.n, 2);
    const lm_pair *a = &p.items[0], *b = &p.items[1];
    assert_string_equal(a->theme_id, "Ode, \"joy\"");
    char want_audio[600];
    snprintf(want_audio, sizeof want_audio, "%s/rec/ode.flac", lm_test_tmpdir());
    assert_string_equal(a->audio_path, want_audio);
    assert_true(a->start_sec == 1.5 && a->end_sec == 9.25);
    const int ode[] = {4, 4, 5, 7, 7, 5, 4, 2};
    assert_labels(a, ode, 8);
    assert_int_equal(a->fold, 2);
    assert_string_equal(a->license, "CC0-1.0");
    assert_string_equal(a->piece_id, "");
    assert_string_equal(a->midi_path, ""); /* a typed theme has no MIDI */
    assert_string_equal(b->audio_path, "/abs/t2.wav");
    assert_true(b->start_sec == 0.0 && b->end_sec == 3.0);
    const int shifted[] = {0, 5, 7}; /* Bb Eb F up 2 semitones: C F G */
    assert_labels(b, shifted, 3);
    assert_int_equal(b->transposition, 2);

    /* Relative audio paths are taken against audio_dir when one is given. */
    lm_pairs_free(&p);
    lm_pairs_options opt = {.audio_dir = "/data/audio"};
    assert_int_equal(lm_pairs_load(path, &opt, &p), 0);
    assert_string_equal(p.items[0].audio_path, "/data/audio/rec/ode.flac");

    /* Licence filter: a comma-separated list, case-insensitive. */
    assert_int_equal(lm_pairs_filter_license(&p, "cc-by, public-domain"), 1);
    assert_string_equal(p.items[0].theme_id, "t2");
    assert_int_equal(lm_pairs_filter_license(&p, "CC0-1.0"), -1);
    assert_non_null(strstr(lm_last_error(), "CC0-1.0"));
    assert_int_equal(p.n, 1); /* a failed filter leaves the pairs as they were */
    lm_pairs_free(&p);
    assert_null(p.items);

    /* Minimal columns: defaults for id, fold, transposition, licence; no trailing newline. */
    assert_int_equal(lm_pairs_load(write_csv("min.csv", "audio,start_sec,end_sec,pitch_classes\nx.wav,0,1,A B"), NULL, &p), 0);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.items[0].theme_id, "row1");
    assert_int_equal(p.items[0].fold, 0);
    assert_int_equal(p.items[0].transposition, 0);
    assert_string_equal(p.items[0].license, "");
    lm_pairs_free(&p);
}

static void test_missing_columns(void **state) {
    (void)state;
    expect_load_error("audio,end_sec,pitch_classes\nx.wav,1,C\n", NULL, "missing column 'start_sec'", NULL);
    expect_load_error("audio,start_sec,pitch_classes\nx.wav,1,C\n", NULL, "missing column 'end_sec'", NULL);
    expect_load_error("audio,start_sec,end_sec\nx.wav,0,1\n", NULL, "missing column 'pitch_classes'", NULL);
    expect_load_error("start_sec,end_sec,theme\n0,1,C\n", NULL, "missing column 'audio'", NULL);
    /* piece_id names the audio only together with an audio folder. */
    expect_load_error("piece_id,start_sec,end_sec,theme\np,0,1,C\n", NULL, "missing column 'audio'", "audio folder");
    lm_pairs_options opt = {.audio_dir = "/a", .pieces_csv = "/nonexistent/pieces.csv"};
    expect_load_error("audio,start_sec,end_sec,theme\nx.wav,0,1,C\n", &opt, "missing column 'piece_id'", NULL);
    expect_load_error("", NULL, "no header", NULL);
    expect_load_error("audio,start_sec,end_sec,theme\n", NULL, "no rows", NULL);
}

static void test_bad_values(void **state) {
    (void)state;
    const char *head = "audio,start_sec,end_sec,theme,fold,transposition\n";
    char csv[512];
#define BAD_ROW(row, frag1, frag2)                                           \
    do {                                                                     \
        snprintf(csv, sizeof csv, "%sok.wav,0,1,C,1,0\n%s\n", head, row);    \
        expect_load_error(csv, NULL, frag1, frag2);                          \
    } while (0)
    BAD_ROW("x.wav,abc,2,C,1,0", "bad.csv:3:", "start_sec 'abc'");
    BAD_ROW("x.wav,1,2s,C,1,0", ":3:", "end_sec '2s'");
    BAD_ROW("x.wav,1,nan,C,1,0", ":3:", "end_sec 'nan'");
    BAD_ROW("x.wav,2,2,C,1,0", ":3:", "not after start_sec");
    BAD_ROW("x.wav,5,2,C,1,0", ":3:", "not after start_sec");
    BAD_ROW("x.wav,-1,2,C,1,0", ":3:", "negative");
    BAD_ROW("x.wav,0,2,C,one,0", ":3:", "fold 'one'");
    BAD_ROW("x.wav,0,2,C,1,1.5", ":3:", "transposition '1.5'");
    BAD_ROW("x.wav,0,2,C H,1,0", ":3:", "'H'");
    BAD_ROW("x.wav,0,2,,1,0", ":3:", "no notes");
    BAD_ROW("x.wav,0,2,  ,1,0", ":3:", "no notes");
    BAD_ROW(",0,2,C,1,0", ":3:", "no audio");
    BAD_ROW("x.wav,0,2,C,1", ":3:", "5 fields, the header has 6");
    BAD_ROW("x.wav,0,2,C,1,0,extra", ":3:", "7 fields");
    BAD_ROW("\"x.wav,0,2,C,1,0", ":3:", "unterminated");
    BAD_ROW("\"x\".wav,0,2,C,1,0", ":3:", "closing quote");
#undef BAD_ROW
    /* A quoted field spanning lines: the next record's line number stays right. */
    snprintf(csv, sizeof csv, "%s\"multi\nline.wav\",0,1,C,1,0\ny.wav,0,1,X,1,0\n", head);
    expect_load_error(csv, NULL, "bad.csv:4:", "'X'");
}

static void test_fold_filter(void **state) {
    (void)state;
    const char *csv = "audio,start_sec,end_sec,theme,fold\n"
                      "a.wav,0,1,C,1\nb.wav,0,1,D,2\nc.wav,0,1,E,3\nd.wav,0,1,F,1\n";
    const char *path = write_csv("folds.csv", csv);
    lm_pairs p;
    assert_int_equal(lm_pairs_load(path, NULL, &p), 0);
    const int none[] = {7, 8};
    assert_int_equal(lm_pairs_filter_folds(&p, none, 2, 0), -1);
    assert_non_null(strstr(lm_last_error(), "in folds 7 8"));
    assert_int_equal(p.n, 4);
    const int test_fold[] = {1};
    assert_int_equal(lm_pairs_filter_folds(&p, test_fold, 1, 1), 2); /* training: all but fold 1 */
    assert_string_equal(p.items[0].theme_id, "row2");
    assert_string_equal(p.items[1].theme_id, "row3");
    const int three[] = {3};
    assert_int_equal(lm_pairs_filter_folds(&p, three, 1, 0), 1);
    assert_int_equal(p.items[0].labels[0], 4);
    assert_int_equal(lm_pairs_filter_folds(&p, three, 1, 1), -1);
    assert_non_null(strstr(lm_last_error(), "outside folds 3"));
    lm_pairs_free(&p);
}

static void test_pieces_join(void **state) {
    (void)state;
    char pieces[600];
    snprintf(pieces, sizeof pieces, "%s", write_csv("pieces.csv", "piece_id,title,license\n"
                                                                   "p1,\"Song, op. 1\",CC0-1.0\n"
                                                                   "p2,Quartet,CC-BY-NC-SA-4.0\n"));
    lm_pairs_options opt = {.audio_dir = "/audio", .pieces_csv = pieces};
    lm_pairs p;
    const char *csv = "piece_id,start_sec,end_sec,pitch_classes\np2,0,1,C\np1,2,3,D\n";
    assert_int_equal(lm_pairs_load(write_csv("join.csv", csv), &opt, &p), 0);
    assert_string_equal(p.items[0].license, "CC-BY-NC-SA-4.0");
    assert_string_equal(p.items[1].license, "CC0-1.0");
    assert_string_equal(p.items[1].audio_path, "/audio/p1.flac");
    assert_string_equal(p.items[1].piece_id, "p1");
    lm_pairs_free(&p);
    expect_load_error("piece_id,start_sec,end_sec,pitch_classes\np3,0,1,C\n", &opt, ":2:", "piece 'p3'");
    snprintf(pieces, sizeof pieces, "%s", write_csv("pieces.csv", "piece_id,title\np1,x\n"));
    expect_load_error(csv, &opt, "pieces.csv: missing column 'license'", NULL);
}

static void test_midi_theme(void **state) {
    (void)state;
    LM_REQUIRE_SHARED("corpus/themes/beethoven_sonata01-1_t1.mid");
    char midi[4096], csv[8400];
    snprintf(midi, sizeof midi, "%s", lm_test_shared("corpus/themes/beethoven_sonata01-1_t1.mid"));
    /* A MIDI file in the theme column, and query_midi used when pitch_classes is empty. */
    snprintf(csv, sizeof csv,
             "audio,start_sec,end_sec,theme,pitch_classes,query_midi,transposition\n"
             "a.flac,0,4.2,%s,,,0\n"
             "b.flac,0,4.2,,,%s,1\n",
             midi, midi);
    lm_pairs p;
    assert_int_equal(lm_pairs_load(write_csv("midi.csv", csv), NULL, &p), 0);
    const int want[] = {0, 5, 8, 0, 5, 8, 7, 5, 4, 5, 7, 0, 4, 7, 10, 8, 7, 5, 7}; /* C F G# C F G# G F E ... */
    assert_labels(&p.items[0], want, 19);
    int up[19];
    for (int i = 0; i < 19; i++) up[i] = (want[i] + 1) % 12;
    assert_labels(&p.items[1], up, 19);
    assert_string_equal(p.items[0].midi_path, midi);
    assert_string_equal(p.items[1].midi_path, midi);
    lm_pairs_free(&p);
    expect_load_error("audio,start_sec,end_sec,query_midi\na.flac,0,1,missing.mid\n", NULL, "bad.csv:2:", "missing.mid");
}

static void test_corpus_themes(void **state) {
    (void)state;
    LM_REQUIRE_SHARED("corpus/themes.csv");
    LM_REQUIRE_SHARED("corpus/pieces.csv");
    char themes[4096], pieces[4096];
    snprintf(themes, sizeof themes, "%s", lm_test_shared("corpus/themes.csv"));
    snprintf(pieces, sizeof pieces, "%s", lm_test_shared("corpus/pieces.csv"));
    lm_pairs_options opt = {.audio_dir = "/work/data/full/audio", .pieces_csv = pieces};
    lm_pairs p;
    assert_int_equal(lm_pairs_load(themes, &opt, &p), 0);
    assert_int_equal(p.n, 3836);

    const lm_pair *first = find_pair(&p, "beethoven_sonata01-1_t1");
    assert_non_null(first);
    assert_string_equal(first->audio_path, "/work/data/full/audio/beethoven_sonata01-1.flac");
    assert_true(first->start_sec == 0.0 && first->end_sec == 4.202);
    const int first_pcs[] = {0, 5, 8, 0, 5, 8, 7, 5, 4, 5, 7, 0, 4, 7, 10, 8, 7, 5, 7};
    assert_labels(first, first_pcs, 19);
    assert_int_equal(first->fold, 1);
    assert_string_equal(first->license, "KernScores-permission");
    /* query_midi is kept, relative to the CSV's folder, though the labels come from pitch_classes. */
    char want_midi[4200];
    snprintf(want_midi, sizeof want_midi, "%s", lm_test_shared("corpus/themes/beethoven_sonata01-1_t1.mid"));
    assert_string_equal(first->midi_path, want_midi);
    /* A row whose composer is quoted ("Schumann, R."): the columns after it are intact. */
    const lm_pair *quoted = find_pair(&p, "schumannr_opus41no1-movement1_t3");
    assert_non_null(quoted);
    assert_true(quoted->start_sec == 485.936 && quoted->end_sec == 493.749);
    const int quoted_pcs[] = {0, 9, 5, 4, 2, 5, 2, 0}; /* C A F E D F D C */
    assert_labels(quoted, quoted_pcs, 8);
    assert_int_equal(quoted->fold, 5);

    size_t per_fold[6] = {0};
    for (size_t i = 0; i < p.n; i++) {
        const lm_pair *q = &p.items[i];
        assert_true(q->fold >= 1 && q->fold <= 5);
        per_fold[q->fold]++;
        assert_true(q->n_labels >= 8 && q->n_labels <= 30); /* the corpus' theme lengths */
        for (size_t k = 0; k < q->n_labels; k++) assert_true(q->labels[k] >= 0 && q->labels[k] < 12);
        assert_true(q->end_sec > q->start_sec);
        assert_int_equal(q->transposition, 0);
        assert_true(q->license[0] != '\0');
    }
    const size_t want_fold[6] = {0, 760, 795, 747, 783, 751}; /* corpus README */
    assert_memory_equal(per_fold, want_fold, sizeof want_fold);

    assert_int_equal(lm_pairs_filter_license(&p, "CC0-1.0"), 2778);
    const int test_fold[] = {1};
    assert_int_equal(lm_pairs_filter_folds(&p, test_fold, 1, 1), 2778 - 444); /* CC0 themes of folds 2..5 */
    lm_pairs_free(&p);

    /* Without the pieces CSV the licence is unknown, so a licence filter keeps nothing. */
    opt.pieces_csv = NULL;
    assert_int_equal(lm_pairs_load(themes, &opt, &p), 0);
    assert_string_equal(p.items[0].license, "");
    assert_int_equal(lm_pairs_filter_license(&p, "CC0-1.0"), -1);
    lm_pairs_free(&p);
    /* themes.csv names pieces, not files: without an audio folder it cannot be used. */
    assert_int_equal(lm_pairs_load(themes, NULL, &p), -1);
    assert_non_null(strstr(lm_last_error(), "audio folder"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_pitch_classes), cmocka_unit_test(test_generic_csv),
        cmocka_unit_test(test_missing_columns),     cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_fold_filter),         cmocka_unit_test(test_pieces_join),
        cmocka_unit_test(test_midi_theme),          cmocka_unit_test(test_corpus_themes),
    };
    return lm_test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
