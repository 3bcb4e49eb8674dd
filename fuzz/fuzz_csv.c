/* libFuzzer target for the CSV readers: the RFC 4180 parser (common/csv.h) and the three tables
 * built on it, the themes CSV of `eval` (eval/themes.c), the training pairs of `train --pairs`
 * and the pieces CSV joined to them for licences (train/pairs.h). Any input must give tables
 * that keep their documented invariants, or a one-line error naming the file; never a crash,
 * leak or undefined behaviour. The same bytes go to every reader.
 * Run: fuzz/run csv [SECONDS] (dictionary: fuzz/csv.dict). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/csv.h"
#include "eval/eval.h"
#include "fuzz_common.h"
#include "train/pairs.h"

static void check_rows(const lm_csv_row *rows, size_t n, int same_width) {
    for (size_t r = 0; r < n; r++) {
        CHECK(rows[r].n_fields >= 1 && rows[r].line >= 1);
        if (r > 0) CHECK(rows[r].line > rows[r - 1].line);
        if (same_width) CHECK(rows[r].n_fields == rows[0].n_fields);
        for (size_t f = 0; f < rows[r].n_fields; f++) CHECK(rows[r].fields[f] != NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 65536) return 0;
    lm_csv_row *rows = NULL;
    size_t n = 0;
    lm_clear_error();
    if (lm_csv_parse((const char *)data, size, &rows, &n) == 0) {
        check_rows(rows, n, 0);
        lm_csv_free(rows, n);
    } else {
        fz_check_error();
    }

    const char *path = fz_write("table.csv", data, size);
    char csv_path[700];
    snprintf(csv_path, sizeof csv_path, "%s", path);
    if (lm_csv_read(csv_path, &rows, &n) == 0) {
        CHECK(n >= 1);
        check_rows(rows, n, 1);
        lm_csv_free(rows, n);
    } else {
        fz_check_error();
        CHECK(strstr(lm_last_error(), csv_path) != NULL);
    }

    lm_eval_query *q = NULL;
    if (lm_eval_read_themes(csv_path, &q, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            CHECK(q[i].theme_id && q[i].theme_id[0] && q[i].piece_id && q[i].piece_id[0] && q[i].query_midi);
            CHECK(isfinite(q[i].start_sec) && isfinite(q[i].end_sec) && q[i].end_sec > q[i].start_sec);
        }
        lm_eval_free_themes(q, n);
    } else {
        fz_check_error();
        CHECK(strstr(lm_last_error(), csv_path) != NULL);
    }

    /* The pairs reader opens the MIDI files its rows name: only those in the scratch folder. */
    if (fz_names_outside(data, size)) return 0;
    const lm_pairs_options opts[3] = {{NULL, NULL}, {"/nonexistent-audio", NULL}, {"/nonexistent-audio", csv_path}};
    for (int o = 0; o < 3; o++) {
        lm_pairs p;
        if (lm_pairs_load(csv_path, &opts[o], &p) == 0) {
            CHECK(p.n >= 1);
            for (size_t i = 0; i < p.n; i++) {
                const lm_pair *pr = &p.items[i];
                CHECK(pr->theme_id && pr->piece_id && pr->audio_path && pr->license && pr->midi_path);
                CHECK(pr->start_sec >= 0 && pr->end_sec > pr->start_sec && isfinite(pr->end_sec));
                CHECK(pr->n_labels >= 1 && pr->labels);
                for (size_t k = 0; k < pr->n_labels; k++) CHECK(pr->labels[k] >= 0 && pr->labels[k] < 12);
            }
            int folds[2] = {1, 2};
            if (lm_pairs_filter_folds(&p, folds, 2, (int)(size & 1)) < 0) fz_check_error();
            if (lm_pairs_filter_license(&p, "CC0-1.0, cc-by-4.0") < 0) fz_check_error();
            lm_pairs_free(&p);
        } else {
            fz_check_error();
            CHECK(strstr(lm_last_error(), csv_path) != NULL);
            CHECK(p.items == NULL && p.n == 0);
        }
    }
    return 0;
}
