/* The public API (include/leitmotif.h), end to end on the reference recordings. */
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
    /* A typo in the note list is an error with a message. */
    assert_int_equal(leitmotif_search(d, "G4 H4", NULL, hits, 2, &n), -1);
    assert_non_null(strstr(leitmotif_error(), "H4"));
    leitmotif_db_close(d);
    assert_null(leitmotif_db_open("/nonexistent/db.lmdb"));
    assert_true(strlen(leitmotif_error()) > 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_chroma_and_search)};
    return lm_test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
