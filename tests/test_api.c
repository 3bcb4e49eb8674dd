/* The public API (include/leitmotif.h), end to end on the reference recordings. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leitmotif.h"
#include "testutil.h"

static void test_chroma_and_search(void **state) {
    (void)state;
    LM_REQUIRE_SHARED("reference/audio/Beethoven_Op067-01_DavidHighSchool.wav");
    char audio[2][1024];
    snprintf(audio[0], sizeof audio[0], "%s", lm_test_shared("reference/audio/Beethoven_Op067-01_DavidHighSchool.wav"));
    snprintf(audio[1], sizeof audio[1], "%s", lm_test_shared("reference/audio/Beethoven_Op002-2-01_Pitman.wav"));
    leitmotif_set_threads(2);

    float *chroma;
    size_t T;
    assert_int_equal(leitmotif_chroma(audio[0], NULL, &chroma, &T), 0);
    assert_int_equal(T, 161);
    free(chroma);
    if (lm_test_shared("reference/models/v1_ctc_train345valid1.bin")) {
        leitmotif_model *m = leitmotif_model_load(lm_test_shared("reference/models/v1_ctc_train345valid1.bin"));
        assert_non_null(m);
        assert_int_equal(leitmotif_chroma(audio[0], m, &chroma, &T), 0);
        assert_int_equal(T, 161);
        /* The E-flat fermata (0.76-3.12 s) is the strongest chroma there: row 3 = D#. */
        int best = 0;
        for (int k = 1; k < 12; k++)
            if (chroma[(size_t)k * T + 50] > chroma[(size_t)best * T + 50]) best = k;
        assert_int_equal(best, 3);
        free(chroma);
        leitmotif_model_free(m);
    }

    char db[512];
    snprintf(db, sizeof db, "%s/api.lmdb", lm_test_tmpdir());
    assert_int_equal(lm_test_system("'%s' index '%s' '%s' '%s' --features stft 2>/dev/null", LM_CLI_PATH, db, audio[0], audio[1]), 0);
    leitmotif_db *d = leitmotif_db_open(db);
    assert_non_null(d);
    assert_int_equal(leitmotif_db_size(d), 2);
    leitmotif_hit hits[2];
    size_t n;
    leitmotif_query_options opt = {.tempo_bpm = 108};
    assert_int_equal(leitmotif_search(d, "G4:0.5 G4:0.5 G4:0.5 Eb4:4 F4:0.5 F4:0.5 F4:0.5 D4:4", &opt, hits, 2, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(hits[0].doc_id, "Beethoven_Op067-01_DavidHighSchool");
    assert_true(hits[0].distance < hits[1].distance);
    assert_true(hits[0].start_sec >= 0 && hits[0].end_sec > hits[0].start_sec && hits[0].end_sec <= 6.5);
    /* The same theme loaded once (its tempo in the selection) ranks the same. */
    leitmotif_theme_selection sel = LEITMOTIF_THEME_SELECTION_INIT;
    sel.tempo_qpm = 108;
    leitmotif_theme *t = leitmotif_theme_load("G4:0.5 G4:0.5 G4:0.5 Eb4:4 F4:0.5 F4:0.5 F4:0.5 D4:4", &sel);
    assert_non_null(t);
    leitmotif_hit hits_t[2];
    size_t n_t;
    assert_int_equal(leitmotif_search_theme(d, t, NULL, hits_t, 2, &n_t), 0);
    assert_int_equal(n_t, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(hits_t[i].doc_id, hits[i].doc_id);
        assert_true(hits_t[i].distance == hits[i].distance && hits_t[i].start_sec == hits[i].start_sec);
    }
    leitmotif_occurrence *occ = NULL;
    size_t n_occ = 0;
    assert_int_equal(leitmotif_occurrences_theme(d, hits[0].doc_id, t, NULL, -1, &occ, &n_occ), 0);
    assert_true(n_occ >= 1 && occ[0].distance == hits[0].distance);
    free(occ);
    leitmotif_theme_free(t);
    /* A typo in the note list is an error with a message. */
    assert_int_equal(leitmotif_search(d, "G4 H4", NULL, hits, 2, &n), -1);
    assert_non_null(strstr(leitmotif_error(), "H4"));
    leitmotif_db_close(d);
    assert_null(leitmotif_db_open("/nonexistent/db.lmdb"));
    assert_true(strlen(leitmotif_error()) > 0);
}

/* Themes with a selection: the notes and the error messages of `leitmotif search --part ...`. */
static void test_theme_selection(void **state) {
    (void)state;
    char path[1024], err_path[1024];
    snprintf(path, sizeof path, "%s/score.musicxml", lm_test_tmpdir());
    snprintf(err_path, sizeof err_path, "%s/cli_err.txt", lm_test_tmpdir());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(lm_test_two_part_musicxml, f);
    fclose(f);
    leitmotif_theme_selection sel = LEITMOTIF_THEME_SELECTION_INIT;
    sel.part = "Flute";
    sel.measure_first = 2, sel.measure_last = 3;
    leitmotif_theme *from_path = leitmotif_theme_load(path, &sel);
    leitmotif_theme *from_memory = leitmotif_theme_from_memory(
        lm_test_two_part_musicxml, strlen(lm_test_two_part_musicxml), NULL, &sel);
    assert_non_null(from_path);
    assert_non_null(from_memory);
    static const int pitches[5] = {72, 74, 76, 77, 79};
    static const double onsets[5] = {0, 0.5, 1, 1.5, 2}, durations[5] = {0.5, 0.5, 0.5, 0.5, 1};
    for (int k = 0; k < 2; k++) {
        const leitmotif_theme *t = k ? from_memory : from_path;
        assert_int_equal(leitmotif_theme_size(t), 5); /* the trailing rest is left out */
        assert_true(fabs(leitmotif_theme_duration(t) - 3.0) < 1e-9);
        for (size_t i = 0; i < 5; i++) {
            double onset, duration;
            int pitch;
            assert_int_equal(leitmotif_theme_note(t, i, &onset, &duration, &pitch), 0);
            assert_int_equal(pitch, pitches[i]);
            assert_true(fabs(onset - onsets[i]) < 1e-9 && fabs(duration - durations[i]) < 1e-9);
        }
        assert_int_equal(leitmotif_theme_note(t, 5, NULL, NULL, NULL), -1);
    }
    leitmotif_theme_free(from_path);
    leitmotif_theme_free(from_memory);
    /* The tempo replaces the file's: at 60, twice as long. */
    sel.tempo_qpm = 60;
    leitmotif_theme *slow = leitmotif_theme_load(path, &sel);
    assert_non_null(slow);
    assert_true(fabs(leitmotif_theme_duration(slow) - 6.0) < 1e-9);
    leitmotif_theme_free(slow);
    sel.tempo_qpm = 0;
    /* A part that is not there: the message the command prints, after "leitmotif: ". */
    sel.part = "Oboe";
    assert_null(leitmotif_theme_load(path, &sel));
    char api_msg[1024];
    snprintf(api_msg, sizeof api_msg, "leitmotif: %s\n", leitmotif_error());
    assert_non_null(strstr(api_msg, "no part named \"Oboe\""));
    assert_int_equal(lm_test_system("'%s' search '%s' --print-theme --part Oboe --measures 2-3 >/dev/null 2>'%s'",
                                    LM_CLI_PATH, path, err_path) != 0, 1);
    char cli_msg[1024] = "";
    f = fopen(err_path, "r");
    assert_non_null(f);
    assert_non_null(fgets(cli_msg, sizeof cli_msg, f));
    fclose(f);
    assert_string_equal(api_msg, cli_msg);
    /* From memory, the message names the buffer's name (or none). */
    sel.part = "3";
    assert_null(leitmotif_theme_from_memory(lm_test_two_part_musicxml, strlen(lm_test_two_part_musicxml),
                                            "upload.musicxml", &sel));
    assert_string_equal(leitmotif_error(),
                        "upload.musicxml: no part 3: the MusicXML score has 2 parts (1 \"Flute\", 2 \"Bass\")");
    /* Other bad selections. */
    sel = (leitmotif_theme_selection)LEITMOTIF_THEME_SELECTION_INIT;
    sel.measure_first = 3, sel.measure_last = 2;
    assert_null(leitmotif_theme_load(path, &sel));
    assert_non_null(strstr(leitmotif_error(), "the last measure comes before the first"));
    sel = (leitmotif_theme_selection)LEITMOTIF_THEME_SELECTION_INIT;
    sel.part = "1";
    assert_null(leitmotif_theme_load("C4 D4 E4", &sel));
    assert_non_null(strstr(leitmotif_error(), "needs a theme file"));
    sel.size = 4; /* a caller that did not set the size */
    assert_null(leitmotif_theme_load(path, &sel));
    assert_non_null(strstr(leitmotif_error(), "size 4 is too small"));
    assert_null(leitmotif_theme_from_memory("not a score", 11, NULL, NULL));
    assert_non_null(strstr(leitmotif_error(), "not a theme file"));
    /* A kern file in memory is told by content; the extension of the name decides for nothing else. */
    static const char kern[] = "**kern\n*MM120\n4c\n4e\n4g\n*-\n";
    leitmotif_theme *k = leitmotif_theme_from_memory(kern, sizeof kern - 1, "t.mid", NULL);
    assert_non_null(k);
    assert_int_equal(leitmotif_theme_size(k), 3);
    leitmotif_theme_free(k);
}

/* The network precision setter: bf16 runs only where the CPU has it; bad values are errors. */
static void test_nn_precision(void **state) {
    (void)state;
    assert_int_equal(leitmotif_set_nn_precision("fp16"), -1);
    assert_non_null(strstr(leitmotif_error(), "unknown network precision"));
    assert_int_equal(leitmotif_set_nn_precision(NULL), -1);
    FILE *f = fopen("/proc/cpuinfo", "r");
    int has = 0;
    char line[4096];
    while (f && !has && fgets(line, sizeof line, f)) has = strstr(line, " avx512_bf16") != NULL;
    if (f) fclose(f);
    assert_int_equal(leitmotif_set_nn_precision("bf16"), has);
    assert_int_equal(leitmotif_set_nn_precision("fp32"), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_theme_selection), cmocka_unit_test(test_chroma_and_search),
                                       cmocka_unit_test(test_nn_precision)};
    return lm_test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
