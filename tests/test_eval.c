/* Evaluation: rank rule, top-k/MRR arithmetic per fold and weighted average on hand-checked
 * examples, the CSV reader, and a small end-to-end run on a synthetic database. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "eval/eval.h"
#include "index/db.h"
#include "index/search.h"
#include "symbolic/theme.h"
#include "testutil.h"

#define EPS 1e-12
/* cmocka's assert_float_equal compares in single precision; these are doubles. */
#define assert_near(a, b, eps)                                                                  \
    do {                                                                                        \
        double a_ = (a), b_ = (b);                                                              \
        if (!(fabs(a_ - b_) <= (eps))) fail_msg("%s = %.15g, expected %.15g", #a, a_, b_);        \
    } while (0)

static void test_rank_rule(void **state) {
    (void)state;
    lm_match m[4] = {{.doc = 0, .distance = 0.3f}, {.doc = 1, .distance = 0.1f}, {.doc = 2, .distance = 0.3f},
                     {.doc = 3, .distance = 0.5f}};
    assert_int_equal(lm_eval_rank(m, 4, 1), 1);
    assert_int_equal(lm_eval_rank(m, 4, 0), 3); /* tied with document 2: counted against it */
    assert_int_equal(lm_eval_rank(m, 4, 2), 3);
    assert_int_equal(lm_eval_rank(m, 4, 3), 4);
    /* Order of the array does not matter. */
    lm_match r[4] = {m[3], m[2], m[1], m[0]};
    assert_int_equal(lm_eval_rank(r, 4, 0), 3);
    /* A document that cannot match (infinite distance) ranks last, behind all others. */
    m[1].distance = INFINITY;
    assert_int_equal(lm_eval_rank(m, 4, 1), 4);
    assert_int_equal(lm_eval_rank(m, 4, 0), 2);
    m[3].distance = INFINITY;
    assert_int_equal(lm_eval_rank(m, 4, 3), 4);
}

static void test_summaries_hand_checked(void **state) {
    (void)state;
    /* Fold 2 listed first, fold 3 only has a skipped query (rank 0). */
    const int folds[6] = {2, 1, 1, 3, 2, 1};
    const size_t ranks[6] = {1, 1, 2, 0, 60, 10};
    lm_eval_summary *per_fold, avg;
    size_t n_folds;
    assert_int_equal(lm_eval_summarize(folds, ranks, 6, &per_fold, &n_folds, &avg), 0);
    assert_int_equal(n_folds, 2);
    /* Fold 1: ranks 1, 2, 10. */
    assert_int_equal(per_fold[0].fold, 1);
    assert_int_equal(per_fold[0].queries, 3);
    const double f1_top[5] = {1.0 / 3, 2.0 / 3, 1, 1, 1};
    for (int j = 0; j < 5; j++) assert_near(per_fold[0].top[j], f1_top[j], EPS);
    assert_near(per_fold[0].mrr, (1 + 0.5 + 0.1) / 3, EPS);
    /* Fold 2: ranks 1, 60. */
    assert_int_equal(per_fold[1].fold, 2);
    assert_int_equal(per_fold[1].queries, 2);
    for (int j = 0; j < 5; j++) assert_near(per_fold[1].top[j], 0.5, EPS);
    assert_near(per_fold[1].mrr, (1 + 1.0 / 60) / 2, EPS);
    /* Average weighted by queries (3 and 2): the same as pooling all five queries. */
    assert_int_equal(avg.queries, 5);
    const double avg_top[5] = {0.4, 0.6, 0.8, 0.8, 0.8};
    for (int j = 0; j < 5; j++) assert_near(avg.top[j], avg_top[j], EPS);
    assert_near(avg.mrr, (1 + 0.5 + 0.1 + 1 + 1.0 / 60) / 5, EPS);
    free(per_fold);

    /* Rank exactly at a cut-off counts as inside it. */
    const int f[5] = {7, 7, 7, 7, 7};
    const size_t r[5] = {5, 20, 21, 50, 51};
    assert_int_equal(lm_eval_summarize(f, r, 5, &per_fold, &n_folds, &avg), 0);
    assert_int_equal(n_folds, 1);
    const double top[5] = {0, 0.2, 0.2, 0.4, 0.8};
    for (int j = 0; j < 5; j++) assert_near(per_fold[0].top[j], top[j], EPS);
    assert_near(avg.mrr, (0.2 + 0.05 + 1.0 / 21 + 0.02 + 1.0 / 51) / 5, EPS);
    free(per_fold);
}

static void test_csv_parser(void **state) {
    (void)state;
    const char text[] = "\xEF\xBB\xBF"
                        "a,b,c\r\n"
                        "1,\"x, y\",\"say \"\"hi\"\"\"\r\n"
                        "\n"
                        "\"multi\nline\",,last\n"
                        "\"\",2,3";
    lm_csv_row *rows;
    size_t n;
    assert_int_equal(lm_csv_parse(text, sizeof text - 1, &rows, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(rows[0].n_fields, 3);
    assert_string_equal(rows[0].fields[0], "a");
    assert_string_equal(rows[1].fields[1], "x, y");
    assert_string_equal(rows[1].fields[2], "say \"hi\"");
    assert_int_equal(rows[1].line, 2);
    assert_string_equal(rows[2].fields[0], "multi\nline");
    assert_string_equal(rows[2].fields[1], "");
    assert_string_equal(rows[2].fields[2], "last");
    assert_int_equal(rows[2].line, 4);
    assert_int_equal(rows[3].n_fields, 3);
    assert_string_equal(rows[3].fields[0], "");
    assert_int_equal(rows[3].line, 6);
    lm_csv_free(rows, n);

    const char bad1[] = "a,b\n\"open,2\n";
    assert_int_equal(lm_csv_parse(bad1, sizeof bad1 - 1, &rows, &n), -1);
    assert_non_null(strstr(lm_last_error(), "line 2: unterminated quoted field"));
    const char bad2[] = "a,b\n\"x\"y,2\n";
    assert_int_equal(lm_csv_parse(bad2, sizeof bad2 - 1, &rows, &n), -1);
    assert_non_null(strstr(lm_last_error(), "after a closing quote"));
}

static const char *write_text(const char *name, const char *text) {
    static char path[8][512];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, 512, "%s/%s", lm_test_tmpdir(), name);
    assert_int_equal(lm_write_file_atomic(p, text, strlen(text)), 0);
    return p;
}

static void test_read_themes(void **state) {
    (void)state;
    /* Columns in another order, extra columns, no transposition column, quoted fields. */
    const char *csv = write_text("t1.csv", "extra,query_midi,end_sec,start_sec,fold,piece_id,theme_id\n"
                                           "x,themes/a.mid,4.5,0.5,2,\"piece, one\",a_t1\n"
                                           "y,/abs/b.mid,10,8.25,1,p2,b_t1\n");
    lm_eval_query *q;
    size_t n;
    assert_int_equal(lm_eval_read_themes(csv, &q, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(q[0].theme_id, "a_t1");
    assert_string_equal(q[0].piece_id, "piece, one");
    assert_int_equal(q[0].fold, 2);
    assert_near(q[0].start_sec, 0.5, EPS);
    assert_near(q[0].end_sec, 4.5, EPS);
    assert_int_equal(q[0].transposition, 0);
    char want[600];
    snprintf(want, sizeof want, "%s/themes/a.mid", lm_test_tmpdir());
    assert_string_equal(q[0].query_midi, want);
    assert_string_equal(q[1].query_midi, "/abs/b.mid");
    assert_int_equal(q[1].line, 3);
    lm_eval_free_themes(q, n);

    csv = write_text("t2.csv", "theme_id,piece_id,fold,start_sec,end_sec,query_midi,transposition\n"
                               "a,p,1,0,2,a.mid,-3\n");
    assert_int_equal(lm_eval_read_themes(csv, &q, &n), 0);
    assert_int_equal(q[0].transposition, -3);
    lm_eval_free_themes(q, n);

    csv = write_text("t3.csv", "theme_id,piece_id,fold,start_sec,query_midi\na,p,1,0,a.mid\n");
    assert_int_equal(lm_eval_read_themes(csv, &q, &n), -1);
    assert_non_null(strstr(lm_last_error(), "no column 'end_sec'"));
    csv = write_text("t4.csv", "theme_id,piece_id,fold,start_sec,end_sec,query_midi\na,p,one,0,2,a.mid\n");
    assert_int_equal(lm_eval_read_themes(csv, &q, &n), -1);
    assert_non_null(strstr(lm_last_error(), "line 2: bad fold value 'one'"));
    csv = write_text("t5.csv", "theme_id,piece_id,fold,start_sec,end_sec,query_midi\na,p,1,3,2,a.mid\n");
    assert_int_equal(lm_eval_read_themes(csv, &q, &n), -1);
    assert_non_null(strstr(lm_last_error(), "bad end_sec"));
    csv = write_text("t6.csv", "theme_id,piece_id,fold,start_sec,end_sec,query_midi\na,p,1,0,2\n");
    assert_int_equal(lm_eval_read_themes(csv, &q, &n), -1);
    assert_non_null(strstr(lm_last_error(), ":2: 5 fields, the header has 6"));
    csv = write_text("t7.csv", "theme_id,piece_id,fold,start_sec,end_sec,query_midi\na,p,1,0,2,a.mid\n"
                               "b,p,1,0,2,b.mid\na,q,1,0,2,c.mid\n");
    assert_int_equal(lm_eval_read_themes(csv, &q, &n), -1);
    assert_non_null(strstr(lm_last_error(), "theme_id 'a' appears twice (lines 2 and 4)"));
    assert_int_equal(lm_eval_read_themes("/no/such/themes.csv", &q, &n), -1);
}

/* ---------------------------------------------------------------- end to end */

static void put_be(unsigned char *p, unsigned v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
}

/* Type-0 MIDI file, 480 ticks per quarter at 120 bpm, one quarter note per pitch. */
static void write_midi(const char *path, const int *pitches, int n) {
    unsigned char buf[4096];
    size_t k = 0;
    memcpy(buf, "MThd", 4);
    put_be(buf + 4, 6, 4);
    put_be(buf + 8, 0, 2);
    put_be(buf + 10, 1, 2);
    put_be(buf + 12, 480, 2);
    k = 14;
    memcpy(buf + k, "MTrk", 4);
    size_t len_at = k + 4;
    k += 8;
    size_t start = k;
    const unsigned char tempo[] = {0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20}; /* 500000 us per quarter */
    memcpy(buf + k, tempo, sizeof tempo);
    k += sizeof tempo;
    for (int i = 0; i < n; i++) {
        const unsigned char on[] = {0x00, 0x90, (unsigned char)pitches[i], 0x50};
        const unsigned char off[] = {0x83, 0x60, 0x80, (unsigned char)pitches[i], 0x00}; /* delta 480 */
        memcpy(buf + k, on, sizeof on);
        k += sizeof on;
        memcpy(buf + k, off, sizeof off);
        k += sizeof off;
    }
    const unsigned char eot[] = {0x00, 0xFF, 0x2F, 0x00};
    memcpy(buf + k, eot, sizeof eot);
    k += sizeof eot;
    put_be(buf + len_at, (unsigned)(k - start), 4);
    assert_int_equal(lm_write_file_atomic(path, buf, k), 0);
}

static float *noise_chroma(size_t T, unsigned seed) {
    float *c = malloc(12 * T * sizeof *c);
    assert_non_null(c);
    unsigned s = seed * 747796405u + 2891336453u;
    for (size_t i = 0; i < 12 * T; i++) {
        s = s * 1103515245u + 12345u;
        c[i] = (float)((s >> 8) & 0xffff) / 65536.0f;
    }
    for (size_t t = 0; t < T; t++) {
        double nrm = 0;
        for (int k = 0; k < 12; k++) nrm += c[k * T + t] * c[k * T + t];
        for (int k = 0; k < 12; k++) c[k * T + t] /= (float)sqrt(nrm);
    }
    return c;
}

static void test_run_synthetic(void **state) {
    (void)state;
    /* Three recordings of noise with one theme each planted at frame 40, stretched to 3 s. */
    static const int melodies[3][8] = {{60, 62, 64, 65, 67, 69, 71, 72},
                                       {67, 67, 67, 63, 65, 65, 65, 62},
                                       {64, 64, 65, 67, 67, 65, 64, 62}};
    const char *dir = lm_test_tmpdir();
    char midi[3][600], csv_text[2048];
    int off = snprintf(csv_text, sizeof csv_text, "theme_id,piece_id,fold,start_sec,end_sec,query_midi\n");
    lm_db_doc docs[3];
    float *chroma[3];
    static const char *ids[3] = {"rec_a", "rec_b", "rec_c"};
    const size_t T = 250, at = 40;
    size_t planted[3];
    for (int d = 0; d < 3; d++) {
        snprintf(midi[d], sizeof midi[d], "%s/q%d.mid", dir, d);
        write_midi(midi[d], melodies[d], 8);
        lm_theme theme;
        assert_int_equal(lm_midi_read_theme(midi[d], &theme), 0);
        assert_int_equal(theme.n, 8);
        size_t N;
        float *q = lm_theme_to_chroma(&theme, 3.0, 0, &N);
        lm_theme_free(&theme);
        assert_non_null(q);
        assert_true(N >= 74 && N <= 76); /* 3 s at 25 Hz */
        chroma[d] = noise_chroma(T, (unsigned)d + 5);
        for (int k = 0; k < 12; k++) memcpy(&chroma[d][k * T + at], &q[k * N], N * sizeof(float));
        planted[d] = N;
        free(q);
        docs[d] = (lm_db_doc){.id = ids[d], .path = ids[d], .duration = T * 0.04, .type = LM_FEAT_STFT, .T = T,
                              .chroma = chroma[d]};
        off += snprintf(csv_text + off, sizeof csv_text - (size_t)off, "t%d,%s,%d,1.6,4.6,q%d.mid\n", d, ids[d],
                        d + 1, d);
    }
    snprintf(csv_text + off, sizeof csv_text - (size_t)off, "t9,not_in_db,1,0,3,q0.mid\n");
    char db_path[600];
    snprintf(db_path, sizeof db_path, "%s/synthetic.lmdb", dir);
    assert_int_equal(lm_db_write(db_path, LM_FEAT_STFT, 0, "", docs, 3), 0);
    for (int d = 0; d < 3; d++) free(chroma[d]);
    const char *csv = write_text("synthetic.csv", csv_text);

    lm_db db;
    assert_int_equal(lm_db_open(db_path, &db), 0);
    lm_eval_query *q;
    size_t n, skipped;
    assert_int_equal(lm_eval_read_themes(csv, &q, &n), 0);
    assert_int_equal(n, 4);
    lm_eval_result res[4];
    for (int from_score = 0; from_score <= 1; from_score++) {
        lm_eval_options opt = {.from_score = from_score, .n_top = 3, .variants = {.context_set = 1}}; /* the DTW alone */
        assert_int_equal(lm_eval_run(&db, q, n, &opt, res, &skipped), 0);
        assert_int_equal(skipped, 1);
        assert_int_equal(res[3].rank, 0);
        for (int d = 0; d < 3; d++) {
            assert_int_equal(res[d].rank, 1);
            assert_true(res[d].distance < 1e-3); /* the planted copy matches exactly */
            assert_int_equal(res[d].n_top, 3);
            assert_int_equal(res[d].top[0].doc, (size_t)d);
            assert_true(res[d].top[1].distance >= res[d].top[0].distance);
            assert_true(res[d].top[2].distance >= res[d].top[1].distance);
            /* The match ends in the last note of the planted copy (a repeated or held note
             * can be compressed at no cost, so any of its frames may be the argmin). */
            assert_true(res[d].top[0].end <= at + planted[d] - 1);
            assert_true(res[d].top[0].end >= at + planted[d] - 1 - planted[d] / 8);
        }
    }
    /* A query longer than twice every recording cannot match anywhere: rank = all documents. */
    q[0].end_sec = q[0].start_sec + 0.04 * (2 * T + 10);
    lm_eval_options opt = {.n_top = 2};
    assert_int_equal(lm_eval_run(&db, q, 1, &opt, res, &skipped), 0);
    assert_int_equal(res[0].rank, 3);
    assert_true(isinf(res[0].distance));
    /* A missing query MIDI stops the run with its theme id. */
    free(q[1].query_midi);
    q[1].query_midi = strdup("/no/such/theme.mid");
    assert_int_equal(lm_eval_run(&db, q, n, &opt, res, &skipped), -1);
    assert_non_null(strstr(lm_last_error(), "theme t1"));
    lm_eval_free_themes(q, n);
    lm_db_close(&db);
}

/* ---------------------------------------------------------------- pruned variant evaluation */

static unsigned lcg_state;
static double lcg(void) {
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return (double)(lcg_state >> 8) / 16777216.0;
}

/* Music-like chroma: chords of a key with a melody note on top, 4-16 frames each. */
static float *music_chroma(size_t T) {
    float *x = lm_test_music(T, lcg, 0.05);
    assert_non_null(x);
    return x;
}

/* Query q (12 x N) shifted up by `shift` over the music of x from frame `at`, with the music at
 * weight bg against the theme's 1 (a weak copy: bg near 1). */
static void plant_copy(const float *q, size_t N, int shift, float *x, size_t T, size_t at, float bg) {
    for (size_t i = 0; i < N && at + i < T; i++) {
        double s = 0;
        for (int c = 0; c < 12; c++) {
            float *y = &x[(size_t)((c + shift + 12) % 12) * T + at + i];
            *y = bg * *y + q[(size_t)c * N + i];
        }
        for (int c = 0; c < 12; c++) s += (double)x[(size_t)c * T + at + i] * x[(size_t)c * T + at + i];
        for (int c = 0; c < 12 && s > 0; c++) x[(size_t)c * T + at + i] = (float)(x[(size_t)c * T + at + i] / sqrt(s));
    }
}

/* --transpose any / --duration auto without top lists, on a database of 40 recordings: the
 * evaluation pruned by the pre-filter's bounds (forced on this small database) gives the same
 * ranks, distances and variants as without pruning, and the same ranks as --exhaustive. Each
 * theme is planted in its recording in another key, and copies of it, in other keys, in three
 * other recordings (one clearer than its own), so that wrong recordings rank above it. */
static void test_variants_pruned(void **state) {
    (void)state;
    enum { R = 40, Q = 10, NOTES = 14 };
    const size_t T = 900;
    lcg_state = 12345u;
    const char *dir = lm_test_tmpdir();
    char csv_text[4096], ids[R][16], midi[600];
    int off = snprintf(csv_text, sizeof csv_text, "theme_id,piece_id,fold,start_sec,end_sec,query_midi\n");
    float *chroma[R];
    lm_db_doc docs[R];
    for (int d = 0; d < R; d++) {
        snprintf(ids[d], sizeof ids[d], "rec%02d", d);
        chroma[d] = music_chroma(T);
    }
    size_t with_pre = 0;
    for (int t = 0; t < Q; t++) {
        static const int scale[7] = {0, 2, 4, 5, 7, 9, 11};
        int pitches[NOTES];
        for (int i = 0; i < NOTES; i++) pitches[i] = 60 + scale[(int)(lcg() * 7)] + (lcg() < 0.3 ? 12 : 0);
        snprintf(midi, sizeof midi, "%s/pq%d.mid", dir, t);
        write_midi(midi, pitches, NOTES);
        lm_theme theme;
        assert_int_equal(lm_midi_read_theme(midi, &theme), 0);
        size_t N;
        float *q = lm_theme_to_chroma(&theme, theme.duration, 0, &N);
        lm_variant_options vo = {.transpose_any = 1};
        lm_qset qs;
        assert_int_equal(lm_qset_from_theme(&qs, &theme, theme.duration, 0, &vo), 0);
        with_pre += lm_qset_has_pre(&qs) != 0;
        lm_qset_free(&qs);
        lm_theme_free(&theme);
        assert_non_null(q);
        size_t at = 50 + (size_t)(lcg() * (double)(T - N - 100));
        plant_copy(q, N, 1 + (int)(lcg() * 11), chroma[t], T, at, 0.4f);
        for (int c = 0; c < 3; c++) /* weaker copies elsewhere */
            plant_copy(q, N, (int)(lcg() * 12), chroma[Q + (t * 3 + c) % (R - Q)], T, 20 + (size_t)(lcg() * (double)(T - N - 40)),
                       c == 0 ? 0.25f : 0.6f * (float)c); /* the first clearer than the theme's own copy */
        free(q);
        off += snprintf(csv_text + off, sizeof csv_text - (size_t)off, "p%d,%s,1,%.2f,%.2f,pq%d.mid\n", t, ids[t],
                        0.04 * (double)at, 0.04 * (double)(at + N), t);
    }
    assert_true(with_pre >= Q - 2); /* the pruning has bounds to prune with */
    for (int d = 0; d < R; d++)
        docs[d] = (lm_db_doc){.id = ids[d], .path = ids[d], .duration = 0.04 * (double)T, .type = LM_FEAT_STFT, .T = T,
                              .chroma = chroma[d]};
    char db_path[600];
    snprintf(db_path, sizeof db_path, "%s/pruned.lmdb", dir);
    assert_int_equal(lm_db_write(db_path, LM_FEAT_STFT, 0, "", docs, R), 0);
    for (int d = 0; d < R; d++) free(chroma[d]);
    const char *csv = write_text("pruned.csv", csv_text);
    lm_db db;
    assert_int_equal(lm_db_open(db_path, &db), 0);
    lm_eval_query *qv;
    size_t n, skipped;
    assert_int_equal(lm_eval_read_themes(csv, &qv, &n), 0);
    assert_int_equal(n, Q);
    lm_eval_result pruned[Q], full[Q], exact[Q];
    size_t not_first = 0, not_first_any = 0;
    for (int mode = 0; mode < 3; mode++) {
        lm_eval_options opt = {.variants = {.transpose_any = mode != 1, .duration_auto = mode != 0}};
        opt.prune_min_docs = 1;
        assert_int_equal(lm_eval_run(&db, qv, n, &opt, pruned, &skipped), 0);
        opt.prune_min_docs = SIZE_MAX;
        assert_int_equal(lm_eval_run(&db, qv, n, &opt, full, &skipped), 0);
        opt.variants.exhaustive = 1;
        assert_int_equal(lm_eval_run(&db, qv, n, &opt, exact, &skipped), 0);
        for (int t = 0; t < Q; t++) {
            assert_int_equal(pruned[t].rank, full[t].rank);
            assert_int_equal(pruned[t].rank, exact[t].rank);
            assert_true(pruned[t].distance == full[t].distance);
            assert_int_equal(pruned[t].shift_found, full[t].shift_found);
            assert_true(pruned[t].stretch_found == full[t].stretch_found);
            not_first += pruned[t].rank > 1;
            not_first_any += mode == 0 && pruned[t].rank > 1;
        }
    }
    /* recordings that rank above the correct one, so that a pruning too eager would show */
    assert_true(not_first_any >= Q / 2);
    print_message("pruned variant evaluation: %zu of %d queries with pre-filter queries, %zu ranks below 1st (%zu in all keys)\n",
                  with_pre, Q, not_first, not_first_any);
    lm_eval_free_themes(qv, n);
    lm_db_close(&db);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rank_rule),
        cmocka_unit_test(test_summaries_hand_checked),
        cmocka_unit_test(test_csv_parser),
        cmocka_unit_test(test_read_themes),
        cmocka_unit_test(test_run_synthetic),
        cmocka_unit_test(test_variants_pruned),
    };
    return lm_test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
