/* `leitmotif search`: rank the recordings of a database for one theme. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/error.h"
#include "eval/json.h"
#include "index/db.h"
#include "index/search.h"
#include "symbolic/theme.h"

#define FRAME_SEC 0.04

static void search_help(FILE *f) {
    fprintf(f,
            "usage: leitmotif search DB THEME [--top K] [--json] [--duration SEC] [--transpose K]\n"
            "                        [--tempo BPM] [--threads N] [--fuse DB2 [--fuse-weight W]]\n\n"
            "Ranks the recordings of the database DB by how well THEME matches a passage of them\n"
            "(subsequence DTW of the theme's binary chroma against the recordings' chroma features).\n\n"
            "THEME is a Standard MIDI File (.mid) or a quoted note list:\n"
            "  note list  e.g. \"G4 G4 G4 Eb4:4 F4 F4 F4 D4:4 r:2\": pitch letter, accidentals (# b x bb),\n"
            "             octave (C4 = middle C = MIDI 60), optional :beats (default 1); r is a rest\n"
            "  MIDI file  the theme should be monophonic. Polyphony is reduced by the skyline rule: at\n"
            "             every moment only the highest sounding note counts (drums on channel 10 are\n"
            "             ignored), so put the melody on top or in a file of its own.\n\n"
            "  --top K         print the K best recordings (default 10; 0: all)\n"
            "  --json          print one JSON document instead of text lines\n"
            "  --duration SEC  stretch the theme to SEC seconds, e.g. the expected length in the\n"
            "                  recording (default: its own length at the MIDI or --tempo tempo)\n"
            "  --tempo BPM     tempo of a note list in beats per minute (default 120)\n"
            "  --transpose K   shift the theme by K semitones\n"
            "  --threads N     worker threads (default: all cores)\n"
            "  --fuse DB2      search DB and DB2, two databases of the same recordings (same document ids)\n"
            "                  with different features, in one: the DTW cost is (1-W) x DB's cosine cost\n"
            "                  + W x DB2's. Recordings in only one of them, or whose frame counts differ by\n"
            "                  more than 1 s, are not ranked (with a warning)\n"
            "  --fuse-weight W weight W of DB2 in [0, 1] (default %.2f; 0 = DB alone, 1 = DB2 alone)\n\n"
            "Output, one line per recording, best first: rank, document id, distance (mean cosine\n"
            "distance along the best alignment: 0 is a perfect match, 1 no similarity) and the matched\n"
            "passage start-end in seconds. The match can compress or stretch the theme by at most a\n"
            "factor of 2; recordings too short for the theme are not ranked.\n",
            LM_FUSE_WEIGHT_DEFAULT);
}

static void print_text(const lm_db *db, const lm_match *m, size_t n) {
    int width = 8;
    for (size_t i = 0; i < n; i++) {
        int len = (int)strlen(db->docs[m[i].doc].id);
        if (len > width) width = len;
    }
    for (size_t i = 0; i < n; i++)
        printf("%4zu  %-*s  %.4f  %.2f-%.2f\n", i + 1, width, db->docs[m[i].doc].id, m[i].distance,
               FRAME_SEC * (double)m[i].start, FRAME_SEC * (double)(m[i].end + 1));
}

static void print_json(const lm_db *db, const char *db_path, const lm_fusion *fusion, const char *db2_path,
                       const char *theme_text, size_t N, int transpose, const lm_match *m, size_t n,
                       size_t unranked) {
    printf("{\"database\": ");
    lm_json_string(stdout, db_path);
    if (fusion) {
        printf(", \"fuse\": {\"database\": ");
        lm_json_string(stdout, db2_path);
        printf(", \"weight\": ");
        lm_json_number(stdout, fusion->w);
        printf(", \"recordings\": %zu}", fusion->n);
    }
    printf(", \"theme\": ");
    lm_json_string(stdout, theme_text);
    printf(", \"theme_frames\": %zu, \"theme_sec\": ", N);
    lm_json_number(stdout, FRAME_SEC * (double)N);
    printf(", \"transpose\": %d, \"documents\": %zu, \"unranked\": %zu, \"results\": [", transpose, db->n_docs,
           unranked);
    for (size_t i = 0; i < n; i++) {
        const lm_db_doc *d = &db->docs[m[i].doc];
        printf("%s\n  {\"rank\": %zu, \"id\": ", i ? "," : "", i + 1);
        lm_json_string(stdout, d->id);
        printf(", \"path\": ");
        lm_json_string(stdout, d->path);
        printf(", \"distance\": ");
        lm_json_number(stdout, m[i].distance);
        printf(", \"start_sec\": ");
        lm_json_number(stdout, FRAME_SEC * (double)m[i].start);
        printf(", \"end_sec\": ");
        lm_json_number(stdout, FRAME_SEC * (double)(m[i].end + 1));
        printf("}");
    }
    printf("%s]}\n", n ? "\n" : "");
}

int cmd_search(int argc, char **argv) {
    const char *db_path = NULL, *theme_text = NULL, *db2_path = NULL, *weight_arg = NULL;
    long top = 10, transpose = 0;
    double duration = 0, tempo = 0;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        int th = lm_cli_threads_option(argc, argv, &i);
        if (th < 0) return 1;
        if (th) continue;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            search_help(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--top") && i + 1 < argc) {
            if (lm_cli_parse_int("--top", argv[++i], 0, 100000000, &top) != 0) return 1;
        } else if (!strcmp(argv[i], "--duration") && i + 1 < argc) {
            if (lm_cli_parse_double("--duration", argv[++i], 0.04, 3600, &duration) != 0) return 1;
        } else if (!strcmp(argv[i], "--tempo") && i + 1 < argc) {
            if (lm_cli_parse_double("--tempo", argv[++i], 1, 2000, &tempo) != 0) return 1;
        } else if (!strcmp(argv[i], "--transpose") && i + 1 < argc) {
            if (lm_cli_parse_int("--transpose", argv[++i], -127, 127, &transpose) != 0) return 1;
        } else if (!strcmp(argv[i], "--fuse") && i + 1 < argc) {
            db2_path = argv[++i];
        } else if (!strcmp(argv[i], "--fuse-weight") && i + 1 < argc) {
            weight_arg = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return lm_cli_fail("search: unknown option or missing value: %s", argv[i]);
        } else if (!db_path) db_path = argv[i];
        else if (!theme_text) theme_text = argv[i];
        else return lm_cli_fail("search: more than one theme given (quote a note list: \"C4 D4 E4\")");
    }
    if (!db_path || !theme_text) {
        search_help(stderr);
        return 2;
    }
    double weight = LM_FUSE_WEIGHT_DEFAULT;
    if (weight_arg) {
        if (!db2_path) {
            lm_cli_fail("search: --fuse-weight needs --fuse DB2");
            return 2;
        }
        if (lm_cli_parse_double("--fuse-weight", weight_arg, 0, 1, &weight) != 0) return 2;
    }

    lm_theme theme;
    int from_midi;
    if (lm_theme_load(theme_text, tempo, &theme, &from_midi) != 0) return lm_cli_fail_lib();
    if (from_midi && tempo > 0) {
        lm_theme_free(&theme);
        return lm_cli_fail("search: --tempo applies to note lists; use --duration for a MIDI theme");
    }
    size_t N = 0;
    float *query = lm_theme_to_chroma(&theme, duration, (int)transpose, &N);
    lm_theme_free(&theme);
    if (!query) return lm_cli_fail_lib();

    lm_db db, db2;
    if (lm_db_open(db_path, &db) != 0) {
        free(query);
        return lm_cli_fail_lib();
    }
    if (db2_path && lm_db_open(db2_path, &db2) != 0) {
        lm_db_close(&db);
        free(query);
        return lm_cli_fail_lib();
    }
    int rc = 0;
    lm_fusion fusion = {0};
    if (db2_path && db.n_docs && db2.n_docs) {
        if (lm_fusion_init(&fusion, &db, &db2, weight) != 0)
            rc = lm_cli_fail("%s and %s: %s", db_path, db2_path, lm_last_error());
        else
            lm_fusion_warn(&fusion, db_path, db2_path);
    }
    /* The candidates: all recordings of DB, or those that the fusion ranks. */
    size_t n_cand = db2_path ? fusion.n : db.n_docs;
    lm_match *m = lm_malloc(db.n_docs ? db.n_docs : 1, sizeof *m);
    if (rc == 0 && (!m || db.n_docs == 0 || (db2_path && db2.n_docs == 0)))
        rc = m ? lm_cli_fail("%s: the database has no documents", db.n_docs ? db2_path : db_path) : lm_cli_fail_lib();
    if (rc == 0 && (db2_path ? lm_search_fused(&fusion, query, N, m, 1) : lm_search_all(&db, query, N, m, 1)) != 0)
        rc = lm_cli_fail_lib();
    if (rc == 0) {
        lm_match_sort(m, n_cand);
        size_t ranked = 0;
        while (ranked < n_cand && isfinite(m[ranked].distance)) ranked++;
        size_t shown = (top == 0 || (size_t)top > ranked) ? ranked : (size_t)top;
        if (ranked == 0) {
            double longest = 0;
            for (size_t k = 0; k < db.n_docs; k++)
                if (db.docs[k].duration > longest) longest = db.docs[k].duration;
            rc = lm_cli_fail("the theme (%.1f s) is too long to match in any recording (the longest is %.1f s, and "
                             "a match compresses the theme at most 2x); shorten it with --duration or --tempo",
                             FRAME_SEC * (double)N, longest);
        } else {
            if (ranked < n_cand)
                fprintf(stderr, "leitmotif: %zu recordings are too short for this theme (%.1f s) and are not ranked\n",
                        n_cand - ranked, FRAME_SEC * (double)N);
            if (db2_path) lm_search_locate_fused(&fusion, query, N, m, shown);
            else lm_search_locate(&db, query, N, m, shown);
            if (json)
                print_json(&db, db_path, db2_path ? &fusion : NULL, db2_path, theme_text, N, (int)transpose, m, shown,
                           db.n_docs - ranked);
            else print_text(&db, m, shown);
            if (fflush(stdout) != 0) rc = lm_cli_fail("cannot write the results");
        }
    }
    free(m);
    free(query);
    lm_fusion_free(&fusion);
    if (db2_path) lm_db_close(&db2);
    lm_db_close(&db);
    return rc;
}
