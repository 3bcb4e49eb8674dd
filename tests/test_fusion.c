/* Fusion of two feature databases of the same recordings (cosine cost against the normalised per-frame mix (1-W) x1 + W x2) and the
 * oracle of two databases (per query the better rank): hand-checked ranks on a tiny database,
 * W = 0 / W = 1 against the single databases bit for bit, the fused distances against an
 * explicit fused-cost DTW, pairing of the recordings by id, and the public API. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "eval/eval.h"
#include "index/db.h"
#include "index/search.h"
#include "leitmotif.h"
#include "match/sdtw.h"
#include "symbolic/theme.h"
#include "testutil.h"

#define TOL 2e-6

/* ---------------------------------------------------------------- the hand-built databases
 *
 * Four recordings r0..r3. Every frame of a recording holds the same chroma vector, and each
 * query is one held note (pitch class k on every frame). Then every cell of the DTW cost
 * matrix of a recording is the same, c = 1 - x[k], every path's weights add up to N (rows
 * 0..N-1), so the SDTW distance D[N-1, m] / N is exactly c, whatever the path.
 *
 * Pitch classes used: C = 0, E = 4, F# = 6, G = 7 (F# only pads vectors to unit length).
 *
 *   DB1 (stft, T = 6 frames each)        DB2 (ctc, stored in the order r3 r2 r1 r0)
 *   r0: C .6  F# .8                       r0: C .6  F# .8                (T = 6)
 *   r1: E 1                               r1: C .8  E .6                 (T = 8: 2 frames more,
 *   r2: G .6  F# .8                       r2: E .8  G .6                  within the 1 s allowed)
 *   r3: C 2/3 G 2/3 F# 1/3                r3: F# 1                       (T = 6)
 *
 * Queries: q0 = held C (its recording r0), q1 = held E (r1), q2 = held G (r2).
 *
 * Distances d = 1 - x[k] and ranks of the correct recording (ties would count against it):
 *          DB1: r0    r1    r2    r3   rank    DB2: r0   r1   r2   r3   rank
 *   q0 (C)      .4    1     1     1/3   2           .4   .2   1    1     2
 *   q1 (E)      1     0     1     1     1           1    .4   .2   1     2
 *   q2 (G)      1     1     .4    1/3   2           1    1    .4   1     1
 * Oracle (better rank of the two): q0 2, q1 1, q2 1. Both single databases fail q0: DB1 prefers
 * r3 (2/3 C), DB2 prefers r1 (.8 C).
 *
 * Fused: each frame is the mix (1-W) x1 + W x2, l2-normalised, and C = 1 - mix[k] / |mix|
 * (dist_w05 and dist_w09 below hold the values).
 * W = 0.5:
 *   q0: r0 .4   r1 (C .4, E .8): 1 - .4/sqrt(.8) = .553   r2 1   r3 .592              -> rank 1
 *   q1: r0 1   r1 (C .4, E .8): 1 - .8/sqrt(.8) = .106   r2 .515   r3 1               -> rank 1
 *   q2: r0 1   r1 1   r2 (E .4, G .6, F# .4): 1 - .6/sqrt(.68) = .272   r3 .592          -> rank 1
 * so the fusion ranks q0 correctly where each database alone fails (and beats the oracle).
 * W = 0.9 (close to DB2 alone):
 *   q0: r0 .4   r1 (C .72, E .64): 1 - .72/sqrt(.9280) = .253   r2 1   r3 .929        -> rank 2
 *   q1: r0 1   r1 1 - .64/sqrt(.9280) = .336   r2 (E .72, G .6, F# .08): .235   r3 1    -> rank 2
 *   q2: r0 1   r1 1   r2 1 - .6/sqrt(.8848) = .362   r3 .929                          -> rank 1
 * W = 0 and W = 1 are DB1 and DB2 alone: ranks 2 1 2 and 2 2 1. */

enum { PC_C = 0, PC_E = 4, PC_FS = 6, PC_G = 7 };
#define N_REC 4
#define N_Q 3
static const char *rec_ids[N_REC] = {"r0", "r1", "r2", "r3"};
static const int query_pc[N_Q] = {PC_C, PC_E, PC_G};
static const int query_rec[N_Q] = {0, 1, 2};
static const double dist1[N_Q][N_REC] = {{.4, 1, 1, 1.0 / 3}, {1, 0, 1, 1}, {1, 1, .4, 1.0 / 3}};
static const double dist2[N_Q][N_REC] = {{.4, .2, 1, 1}, {1, .4, .2, 1}, {1, 1, .4, 1}};
/* Fused: every frame of recording r is mix = (1-W) v1[r] + W v2[r] l2-normalised, and a held
 * note of pitch class p has distance 1 - mix[p] / |mix|. E.g. W = 0.5, r1, query C: mix =
 * (C .4, E .8), |mix| = sqrt(.8), so 1 - .4 / sqrt(.8) = 0.552786. */
static const double dist_w05[N_Q][N_REC] = {
    {.4, 0.552786, 1, 0.591752}, {1, 0.105573, 0.514929, 1}, {1, 1, 0.272393, 0.591752}};
static const double dist_w09[N_Q][N_REC] = {
    {.4, 0.252591, 1, 0.928933}, {1, 0.335636, 0.234562, 1}, {1, 1, 0.362135, 0.928933}};
static const size_t rank1[N_Q] = {2, 1, 2}, rank2[N_Q] = {2, 2, 1}, rank_oracle[N_Q] = {2, 1, 1};
static const size_t rank_w05[N_Q] = {1, 1, 1}, rank_w09[N_Q] = {2, 2, 1};

static const char *tmp_path(const char *name) {
    static char buf[16][600];
    static int next;
    char *p = buf[next++ % 16];
    snprintf(p, 600, "%s/%s", lm_test_tmpdir(), name);
    return p;
}

/* 12 x T chroma whose every frame is v (pairs of pitch class, value; terminated by -1). */
static float *const_chroma(size_t T, const double *pv) {
    float *c = calloc(12 * T, sizeof *c);
    assert_non_null(c);
    for (; pv[0] >= 0; pv += 2)
        for (size_t t = 0; t < T; t++) c[(size_t)pv[0] * T + t] = (float)pv[1];
    return c;
}

typedef struct {
    const char *path1, *path2;
} hand_dbs;

static hand_dbs write_hand_dbs(void) {
    static const double v1[N_REC][8] = {{PC_C, .6, PC_FS, .8, -1},
                                        {PC_E, 1, -1},
                                        {PC_G, .6, PC_FS, .8, -1},
                                        {PC_C, 2.0 / 3, PC_G, 2.0 / 3, PC_FS, 1.0 / 3, -1}};
    static const double v2[N_REC][8] = {
        {PC_C, .6, PC_FS, .8, -1}, {PC_C, .8, PC_E, .6, -1}, {PC_E, .8, PC_G, .6, -1}, {PC_FS, 1, -1}};
    static const size_t T1[N_REC] = {6, 6, 6, 6}, T2[N_REC] = {6, 8, 6, 6};
    lm_db_doc d1[N_REC], d2[N_REC];
    float *c1[N_REC], *c2[N_REC];
    for (int r = 0; r < N_REC; r++) {
        c1[r] = const_chroma(T1[r], v1[r]);
        c2[r] = const_chroma(T2[r], v2[r]);
        d1[r] = (lm_db_doc){.id = rec_ids[r], .path = rec_ids[r], .model_id = "", .duration = 0.04 * (double)T1[r],
                            .type = LM_FEAT_STFT, .T = T1[r], .chroma = c1[r]};
        /* DB2 in reverse order: recordings are paired by id, not by position. */
        d2[N_REC - 1 - r] = (lm_db_doc){.id = rec_ids[r], .path = rec_ids[r], .model_id = "hand",
                                        .duration = 0.04 * (double)T2[r], .type = LM_FEAT_CTC,
                                        .model_checksum = 0x1234u, .T = T2[r], .chroma = c2[r]};
    }
    hand_dbs h = {tmp_path("hand1.lmdb"), tmp_path("hand2.lmdb")};
    assert_int_equal(lm_db_write(h.path1, LM_FEAT_STFT, 0, "", d1, N_REC), 0);
    assert_int_equal(lm_db_write(h.path2, LM_FEAT_CTC, 0x1234u, "hand", d2, N_REC), 0);
    for (int r = 0; r < N_REC; r++) free(c1[r]), free(c2[r]);
    return h;
}

/* Held note of pitch class pc, N frames. */
static float *held_note(int pc, size_t N) {
    float *q = calloc(12 * N, sizeof *q);
    assert_non_null(q);
    for (size_t n = 0; n < N; n++) q[(size_t)pc * N + n] = 1.0f;
    return q;
}

/* Distance of recording id in a match list, and the rank of the correct recording. */
static float dist_of(const lm_db *db, const lm_match *m, size_t n, const char *id) {
    for (size_t k = 0; k < n; k++)
        if (!strcmp(db->docs[m[k].doc].id, id)) return m[k].distance;
    fail_msg("recording %s not in the results", id);
    return NAN;
}

static void test_hand_checked_search(void **state) {
    (void)state;
    hand_dbs h = write_hand_dbs();
    lm_db db1, db2;
    assert_int_equal(lm_db_open(h.path1, &db1), 0);
    assert_int_equal(lm_db_open(h.path2, &db2), 0);
    lm_fusion f;
    assert_int_equal(lm_fusion_init(&f, &db1, &db2, 0.5), 0);
    assert_int_equal(f.n, N_REC); /* r1's 6 and 8 frames are close enough: the shorter, 6, is used */
    assert_int_equal(f.only_db + f.only_db2 + f.n_len_skipped, 0);
    assert_int_equal(f.docs[1].doc2, 2); /* r1 is DB2's third recording */
    assert_int_equal(f.docs[1].T, 6);
    const size_t N = 3;
    for (int qi = 0; qi < N_Q; qi++) {
        float *q = held_note(query_pc[qi], N);
        lm_match single1[N_REC], single2[N_REC], fused[N_REC];
        assert_int_equal(lm_search_all(&db1, q, N, single1, 0), 0);
        assert_int_equal(lm_search_all(&db2, q, N, single2, 1), 0);
        size_t correct = (size_t)query_rec[qi]; /* DB1's order is r0..r3 */
        assert_int_equal(lm_eval_rank(single1, N_REC, correct), rank1[qi]);
        assert_int_equal(lm_eval_rank(single2, N_REC, (size_t)(N_REC - 1 - query_rec[qi])), rank2[qi]);
        for (int r = 0; r < N_REC; r++) {
            assert_float_equal(dist_of(&db1, single1, N_REC, rec_ids[r]), dist1[qi][r], TOL);
            assert_float_equal(dist_of(&db2, single2, N_REC, rec_ids[r]), dist2[qi][r], TOL);
        }
        /* W = 0 and W = 1: the single databases' distances and match ends, bit for bit. */
        for (int side = 0; side < 2; side++) {
            f.w = side;
            assert_int_equal(lm_search_fused(&f, q, N, fused, side), 0);
            const lm_db *one = side ? &db2 : &db1;
            const lm_match *ref = side ? single2 : single1;
            for (int r = 0; r < N_REC; r++) {
                assert_string_equal(db1.docs[fused[r].doc].id, rec_ids[r]); /* fused results: DB1 indices */
                long k = lm_db_find(one, rec_ids[r]);
                assert_true(fused[r].distance == ref[k].distance);
                assert_int_equal(fused[r].end, ref[k].end);
            }
            assert_int_equal(lm_eval_rank(fused, N_REC, correct), side ? rank2[qi] : rank1[qi]);
        }
        f.w = 0.5;
        assert_int_equal(lm_search_fused(&f, q, N, fused, 1), 0);
        for (int r = 0; r < N_REC; r++) assert_float_equal(fused[r].distance, dist_w05[qi][r], TOL);
        assert_int_equal(lm_eval_rank(fused, N_REC, correct), rank_w05[qi]);
        f.w = 0.9;
        assert_int_equal(lm_search_fused(&f, q, N, fused, 0), 0);
        for (int r = 0; r < N_REC; r++) assert_float_equal(fused[r].distance, dist_w09[qi][r], TOL);
        assert_int_equal(lm_eval_rank(fused, N_REC, correct), rank_w09[qi]);
        /* Sorted, the best fused match is located inside the recording. */
        lm_match_sort(fused, N_REC);
        lm_search_locate_fused(&f, q, N, fused, 2);
        assert_true(fused[0].start <= fused[0].end && fused[0].end < 6);
        free(q);
    }
    lm_fusion_free(&f);
    lm_db_close(&db1);
    lm_db_close(&db2);
}

/* ---------------------------------------------------------------- eval: oracle and fusion */

static void put_be(unsigned char *p, unsigned v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
}

/* Type-0 MIDI file, 480 ticks per quarter at 120 bpm, one quarter note of this pitch. */
static void write_midi_note(const char *path, int pitch) {
    unsigned char buf[256];
    memcpy(buf, "MThd", 4);
    put_be(buf + 4, 6, 4);
    put_be(buf + 8, 0, 2);
    put_be(buf + 10, 1, 2);
    put_be(buf + 12, 480, 2);
    size_t k = 14;
    memcpy(buf + k, "MTrk", 4);
    size_t len_at = k + 4;
    k += 8;
    size_t start = k;
    const unsigned char ev[] = {0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20, /* 500000 us per quarter */
                                0x00, 0x90, (unsigned char)pitch, 0x50, 0x83, 0x60, 0x80, (unsigned char)pitch, 0x00,
                                0x00, 0xFF, 0x2F, 0x00};
    memcpy(buf + k, ev, sizeof ev);
    k += sizeof ev;
    put_be(buf + len_at, (unsigned)(k - start), 4);
    assert_int_equal(lm_write_file_atomic(path, buf, k), 0);
}

static void test_hand_checked_eval(void **state) {
    (void)state;
    hand_dbs h = write_hand_dbs();
    /* The three held notes as MIDI themes (C4, E4, G4), stretched to 0.2 s = 5 frames. */
    static const int pitch[N_Q] = {60, 64, 67};
    char csv[1024];
    int off = snprintf(csv, sizeof csv, "theme_id,piece_id,fold,start_sec,end_sec,query_midi\n");
    for (int qi = 0; qi < N_Q; qi++) {
        char name[32];
        snprintf(name, sizeof name, "q%d.mid", qi);
        write_midi_note(tmp_path(name), pitch[qi]);
        off += snprintf(csv + off, sizeof csv - (size_t)off, "q%d,%s,5,1.0,1.2,%s\n", qi, rec_ids[query_rec[qi]], name);
    }
    snprintf(csv + off, sizeof csv - (size_t)off, "ghost,not_here,5,0,0.2,q0.mid\n");
    const char *csv_path = tmp_path("hand.csv");
    assert_int_equal(lm_write_file_atomic(csv_path, csv, strlen(csv)), 0);
    lm_eval_query *q;
    size_t n, skipped;
    assert_int_equal(lm_eval_read_themes(csv_path, &q, &n), 0);
    assert_int_equal(n, N_Q + 1);

    lm_db db1, db2;
    assert_int_equal(lm_db_open(h.path1, &db1), 0);
    assert_int_equal(lm_db_open(h.path2, &db2), 0);
    lm_fusion f;
    assert_int_equal(lm_fusion_init(&f, &db1, &db2, 0.0), 0);
    lm_eval_options opt = {.n_top = 4, .variants = {.context_set = 1}}; /* the hand-checked DTW: no context term */
    lm_eval_result r1[N_Q + 1], r2[N_Q + 1], rf[N_Q + 1], plain[N_Q + 1];
    size_t oracle[N_Q + 1];

    /* W = 0 is DB1 alone, W = 1 DB2 alone: the same ranks and distances as plain runs. */
    assert_int_equal(lm_eval_run_fused(&f, q, n, &opt, r1, &skipped), 0);
    assert_int_equal(skipped, 1);
    assert_int_equal(lm_eval_run(&db1, q, n, &opt, plain, &skipped), 0);
    for (int qi = 0; qi < N_Q; qi++) {
        assert_int_equal(r1[qi].rank, rank1[qi]);
        assert_int_equal(plain[qi].rank, rank1[qi]);
        assert_true(r1[qi].distance == plain[qi].distance);
        assert_float_equal(r1[qi].distance, dist1[qi][query_rec[qi]], TOL);
        assert_int_equal(r1[qi].n_top, 4);
        for (int t = 0; t < 4; t++) assert_int_equal(r1[qi].top[t].doc, plain[qi].top[t].doc);
    }
    f.w = 1.0;
    assert_int_equal(lm_eval_run_fused(&f, q, n, &opt, r2, &skipped), 0);
    assert_int_equal(lm_eval_run(&db2, q, n, &opt, plain, &skipped), 0);
    for (int qi = 0; qi < N_Q; qi++) {
        assert_int_equal(r2[qi].rank, rank2[qi]);
        assert_int_equal(plain[qi].rank, rank2[qi]);
        assert_true(r2[qi].distance == plain[qi].distance);
        /* top[].doc are DB1 indices for fused runs: the same best recording as DB2's own list and
         * the same distances below it (ties are ordered by DB1's order, here r2 before r3). */
        assert_string_equal(db1.docs[r2[qi].top[0].doc].id, db2.docs[plain[qi].top[0].doc].id);
        for (int t = 0; t < 4; t++) assert_true(r2[qi].top[t].distance == plain[qi].top[t].distance);
    }
    /* Oracle: the better rank per query; the skipped query stays skipped. */
    lm_eval_oracle(r1, r2, n, oracle);
    for (int qi = 0; qi < N_Q; qi++) assert_int_equal(oracle[qi], rank_oracle[qi]);
    assert_int_equal(oracle[N_Q], 0);
    int folds[N_Q + 1] = {5, 5, 5, 5};
    lm_eval_summary *per_fold, avg;
    size_t n_folds;
    assert_int_equal(lm_eval_summarize(folds, oracle, n, &per_fold, &n_folds, &avg), 0);
    assert_int_equal(avg.queries, 3);
    assert_float_equal(avg.top[0], 2.0 / 3, 1e-6); /* top-1: q1, q2 */
    assert_float_equal(avg.mrr, (0.5 + 1 + 1) / 3, 1e-6);
    free(per_fold);

    /* Fused at W = 0.5 ranks all three first; at W = 0.9 only q2. */
    f.w = 0.5;
    assert_int_equal(lm_eval_run_fused(&f, q, n, &opt, rf, &skipped), 0);
    assert_int_equal(skipped, 1);
    for (int qi = 0; qi < N_Q; qi++) {
        assert_int_equal(rf[qi].rank, rank_w05[qi]);
        assert_float_equal(rf[qi].distance, dist_w05[qi][query_rec[qi]], TOL);
        assert_int_equal(rf[qi].top[0].doc, (size_t)query_rec[qi]);
    }
    f.w = 0.9;
    assert_int_equal(lm_eval_run_fused(&f, q, n, &opt, rf, &skipped), 0);
    for (int qi = 0; qi < N_Q; qi++) assert_int_equal(rf[qi].rank, rank_w09[qi]);
    assert_string_equal(db1.docs[rf[0].top[0].doc].id, "r1"); /* q0's best at W = 0.9: r1 */
    assert_float_equal(rf[0].top[0].distance, dist_w09[0][1], TOL);

    lm_fusion_free(&f);
    lm_eval_free_themes(q, n);
    lm_db_close(&db1);
    lm_db_close(&db2);
}

/* ---------------------------------------------------------------- against an explicit fused cost */

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

/* SDTW distance with the cost C = 1 - q.mix, mix = (1-w) x1 + w x2 normalised, formed cell by cell in double
 * (a database of weight 0 is not read; the others are cut to the shorter length). */
static double reference_fused(const float *q, size_t N, const float *x1, size_t T1, const float *x2, size_t T2,
                              double w) {
    size_t M = w == 0 ? T1 : w == 1 ? T2 : (T1 < T2 ? T1 : T2);
    double *D = malloc(N * M * sizeof *D);
    assert_non_null(D);
    for (size_t n = 0; n < N; n++)
        for (size_t m = 0; m < M; m++) {
            /* the mix of the two features, l2-normalised per frame */
            double mix[12], ss = 0, sim = 0;
            for (int c = 0; c < 12; c++) {
                mix[c] = (w < 1 ? (1 - w) * x1[c * T1 + m] : 0) + (w > 0 ? w * x2[c * T2 + m] : 0);
                ss += mix[c] * mix[c];
            }
            for (int c = 0; c < 12; c++) sim += (double)q[c * N + n] * (ss > 0 ? mix[c] / sqrt(ss) : 1 / sqrt(12.0));
            double cost = 1 - sim;
            if (n == 0) {
                D[m] = cost;
                continue;
            }
            double best = INFINITY;
            if (n >= 2 && m >= 1) best = fmin(best, D[(n - 2) * M + m - 1] + 2 * cost);
            if (m >= 2) best = fmin(best, D[(n - 1) * M + m - 2] + cost);
            if (m >= 1) best = fmin(best, D[(n - 1) * M + m - 1] + cost);
            D[n * M + m] = best;
        }
    double best = INFINITY;
    for (size_t m = 0; m < M; m++) best = fmin(best, D[(N - 1) * M + m]);
    free(D);
    return best / (double)N;
}

static void test_against_explicit_cost(void **state) {
    (void)state;
    /* Five recordings with random features; DB2's are 0-3 frames longer (uses the shorter). */
    enum { NR = 5 };
    static const char *ids[NR] = {"a", "b", "c", "d", "e"};
    lm_db_doc d1[NR], d2[NR];
    float *c1[NR], *c2[NR];
    for (int r = 0; r < NR; r++) {
        size_t T1 = 30 + 7 * (size_t)r, T2 = T1 + (size_t)(r % 4);
        c1[r] = noise_chroma(T1, (unsigned)r + 1);
        c2[r] = noise_chroma(T2, (unsigned)r + 101);
        d1[r] = (lm_db_doc){.id = ids[r], .path = ids[r], .model_id = "", .duration = 0.04 * (double)T1,
                            .type = LM_FEAT_STFT, .T = T1, .chroma = c1[r]};
        d2[r] = (lm_db_doc){.id = ids[r], .path = ids[r], .model_id = "", .duration = 0.04 * (double)T2,
                            .type = LM_FEAT_STFT, .T = T2, .chroma = c2[r]};
    }
    const char *p1 = tmp_path("rand1.lmdb"), *p2 = tmp_path("rand2.lmdb");
    assert_int_equal(lm_db_write(p1, LM_FEAT_STFT, 0, "", d1, NR), 0);
    assert_int_equal(lm_db_write(p2, LM_FEAT_STFT, 0, "", d2, NR), 0);
    lm_db db1, db2;
    assert_int_equal(lm_db_open(p1, &db1), 0);
    assert_int_equal(lm_db_open(p2, &db2), 0);
    lm_fusion f;
    assert_int_equal(lm_fusion_init(&f, &db1, &db2, 0.3), 0);
    assert_int_equal(f.n, NR);

    /* Queries mixing one-hot frames, rests and general (non-binary) frames. */
    static const size_t Ns[3] = {5, 17, 24};
    static const double ws[5] = {0, 0.25, 0.5, 0.7, 1};
    for (int qi = 0; qi < 3; qi++) {
        size_t N = Ns[qi];
        float *q = noise_chroma(N, 1000u + (unsigned)qi);
        for (size_t n = 0; n < N; n++) {
            if (n % 3 == 1) continue; /* general frame */
            for (int c = 0; c < 12; c++) q[c * N + n] = 0.0f;
            if (n % 6 != 5) q[((n * 5) % 12) * N + n] = 1.0f; /* one-hot, else a rest */
        }
        for (int wi = 0; wi < 5; wi++) {
            f.w = ws[wi];
            lm_match seq[NR], par[NR];
            assert_int_equal(lm_search_fused(&f, q, N, seq, 0), 0);
            assert_int_equal(lm_search_fused(&f, q, N, par, 1), 0);
            for (int r = 0; r < NR; r++) {
                double want = reference_fused(q, N, c1[r], d1[r].T, c2[r], d2[r].T, f.w);
                if (fabs(seq[r].distance - want) > 1e-5)
                    fail_msg("q%d w=%g %s: fused %.9g, explicit cost %.9g", qi, f.w, ids[r], seq[r].distance, want);
                assert_true(seq[r].distance == par[r].distance);
            }
            /* The located start is lm_sdtw's on the mixed features. */
            lm_search_locate_fused(&f, q, N, seq, NR);
            for (int r = 0; r < NR; r++) {
                float *buf = malloc(12 * f.max_T * sizeof *buf);
                size_t T;
                const float *x = lm_fusion_features(&f, (size_t)r, buf, &T);
                lm_sdtw_result want;
                assert_int_equal(lm_sdtw(q, N, x, T, &want, NULL), 0);
                assert_int_equal(seq[r].start, want.start);
                assert_int_equal(seq[r].end, want.end);
                free(buf);
            }
        }
        free(q);
    }
    lm_fusion_free(&f);
    lm_db_close(&db1);
    lm_db_close(&db2);
    for (int r = 0; r < NR; r++) free(c1[r]), free(c2[r]);
}

/* ---------------------------------------------------------------- pairing by id */

static const char *write_db(const char *name, const char *const *ids, const size_t *T, int n) {
    lm_db_doc d[8];
    float *c[8];
    for (int i = 0; i < n; i++) {
        c[i] = noise_chroma(T[i], (unsigned)i + 7);
        d[i] = (lm_db_doc){.id = ids[i], .path = ids[i], .model_id = "", .duration = 0.04 * (double)T[i],
                           .type = LM_FEAT_STFT, .T = T[i], .chroma = c[i]};
    }
    const char *p = tmp_path(name);
    assert_int_equal(lm_db_write(p, LM_FEAT_STFT, 0, "", d, (size_t)n), 0);
    for (int i = 0; i < n; i++) free(c[i]);
    return p;
}

static void test_pairing(void **state) {
    (void)state;
    static const char *ids_a[4] = {"a", "b", "c", "d"}, *ids_b[4] = {"e", "d", "c", "b"};
    static const char *ids_x[2] = {"x", "y"};
    /* c: 10 frames apart (kept, shorter length); d: 30 frames = 1.2 s apart (not ranked). */
    static const size_t T_a[4] = {50, 50, 50, 50}, T_b[4] = {50, 80, 60, 50}, T_far[4] = {150, 150, 150, 150};
    lm_db A, B, X, F;
    assert_int_equal(lm_db_open(write_db("A.lmdb", ids_a, T_a, 4), &A), 0);
    assert_int_equal(lm_db_open(write_db("B.lmdb", ids_b, T_b, 4), &B), 0);
    assert_int_equal(lm_db_open(write_db("X.lmdb", ids_x, T_a, 2), &X), 0);
    assert_int_equal(lm_db_open(write_db("F.lmdb", ids_a, T_far, 4), &F), 0);
    lm_fusion f;
    assert_int_equal(lm_fusion_init(&f, &A, &B, 0.5), 0);
    assert_int_equal(f.n, 2); /* b and c */
    assert_int_equal(f.only_db, 1);
    assert_string_equal(A.docs[f.first_only_db].id, "a");
    assert_int_equal(f.only_db2, 1);
    assert_string_equal(B.docs[f.first_only_db2].id, "e");
    assert_int_equal(f.n_len_skipped, 1);
    assert_string_equal(A.docs[f.len_skipped[0]].id, "d");
    assert_int_equal(f.index_of[0], (size_t)-1);
    assert_int_equal(f.index_of[1], 0);
    assert_int_equal(f.index_of[2], 1);
    assert_int_equal(f.index_of[3], (size_t)-1);
    assert_int_equal(f.docs[1].T, 50);
    assert_int_equal(f.docs[1].doc2, 2);
    /* Only the paired recordings are ranked, under DB1 indices. */
    float q[12 * 4] = {0};
    for (int n = 0; n < 4; n++) q[3 * 4 + n] = 1.0f;
    lm_match m[2];
    assert_int_equal(lm_search_fused(&f, q, 4, m, 1), 0);
    assert_int_equal(m[0].doc, 1);
    assert_int_equal(m[1].doc, 2);
    assert_true(isfinite(m[0].distance) && isfinite(m[1].distance));
    lm_fusion_free(&f);

    assert_int_equal(lm_fusion_init(&f, &A, &X, 0.5), -1);
    assert_non_null(strstr(lm_last_error(), "no recording in common"));
    assert_int_equal(lm_fusion_init(&f, &A, &F, 0.5), -1); /* all 100 frames apart: another frame rate? */
    assert_non_null(strstr(lm_last_error(), "frame counts of 4 of the 4 recordings"));
    assert_non_null(strstr(lm_last_error(), "different frame rates"));
    static const double bad_w[4] = {-0.01, 1.01, NAN, INFINITY};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(lm_fusion_init(&f, &A, &B, bad_w[i]), -1);
        assert_non_null(strstr(lm_last_error(), "fusion weight must be in [0, 1]"));
    }
    lm_fusion_free(&f); /* harmless after a failed init */
    lm_db_close(&A);
    lm_db_close(&B);
    lm_db_close(&X);
    lm_db_close(&F);
}

/* ---------------------------------------------------------------- public API */

static void test_api(void **state) {
    (void)state;
    hand_dbs h = write_hand_dbs();
    leitmotif_set_threads(2);
    leitmotif_db *d1 = leitmotif_db_open(h.path1), *d2 = leitmotif_db_open(h.path2);
    assert_non_null(d1);
    assert_non_null(d2);
    leitmotif_query_options opt = {.duration_sec = 0.2, .context_set = 1}; /* 5 frames: fits the 6-frame recordings; the hand-checked DTW, no context term */
    leitmotif_hit hits[4], single[4];
    size_t n, n1;
    /* q0 (held C): DB1 alone puts r3 first, the fusion at 0.5 finds r0 (see the tables above). */
    assert_int_equal(leitmotif_search(d1, "C4", &opt, single, 4, &n1), 0);
    assert_int_equal(n1, 4);
    assert_string_equal(single[0].doc_id, "r3");
    assert_int_equal(leitmotif_search_fused(d1, d2, 0.5, "C4", &opt, hits, 4, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(hits[0].doc_id, "r0");
    assert_float_equal(hits[0].distance, .4, TOL);
    assert_string_equal(hits[1].doc_id, "r1");
    assert_true(hits[0].start_sec >= 0 && hits[0].end_sec > hits[0].start_sec && hits[0].end_sec <= 0.24 + 1e-9);
    /* W = 0: DB1's hits exactly. */
    assert_int_equal(leitmotif_search_fused(d1, d2, 0.0, "C4", &opt, hits, 4, &n), 0);
    assert_int_equal(n, n1);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(hits[i].doc_id, single[i].doc_id);
        assert_true(hits[i].distance == single[i].distance);
        assert_true(hits[i].start_sec == single[i].start_sec && hits[i].end_sec == single[i].end_sec);
    }
    /* max_hits limits the list. */
    assert_int_equal(leitmotif_search_fused(d1, d2, 0.5, "C4", &opt, hits, 1, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(leitmotif_search_fused(d1, d2, 1.5, "C4", &opt, hits, 4, &n), -1);
    assert_int_equal(n, 0);
    assert_non_null(strstr(leitmotif_error(), "[0, 1]"));
    leitmotif_db_close(d1);
    leitmotif_db_close(d2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_checked_search), cmocka_unit_test(test_hand_checked_eval),
        cmocka_unit_test(test_against_explicit_cost), cmocka_unit_test(test_pairing),
        cmocka_unit_test(test_api),
    };
    return lm_test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
