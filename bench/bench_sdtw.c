/* Subsequence-DTW throughput: a 225-frame binary query (one-hot frames, a few rests) against
 * 10 hours of l2-normalised chroma (900k frames at 25 Hz, in 120 five-minute documents), as in
 * a search over a database. Reports accumulated-cost cells per second for the ranking scan
 * (lm_sdtw_scan) on one thread and on two threads splitting the documents (OpenMP).
 *
 * Then the cost of the search modes against a plain search for the 10 best recordings, on one
 * thread (index/search.h): sdtw_ti_cost_ratio (--transpose any) and sdtw_auto_cost_ratio
 * (--duration auto), time of the pruned search / time of the plain exhaustive scan (the plain
 * search when the issue set the 2x target), and the *_vs_candidates ratios against today's default
 * plain search (the candidate pass with one variant, docs/search.md). They are measured on
 * 120 five-minute recordings of music-like chroma (notes over chords of a key, changing every
 * 4-16 frames), each query planted, transposed and time-warped, in three of them; with
 * LM_BENCH_SDTW_DB=DB.lmdb and LM_BENCH_SDTW_THEMES=themes.csv (every 25th theme, at its
 * annotated duration) also on that database, as sdtw_ti_cost_ratio_db / sdtw_auto_cost_ratio_db.
 * Usage: bench_sdtw [repetitions]   (best of the repetitions is reported) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/error.h"
#include "common/progress.h"
#include "eval/eval.h"
#include "index/db.h"
#include "index/search.h"
#include "match/sdtw.h"
#include "symbolic/theme.h"

enum { N_QUERY = 225, N_DOCS = 120, DOC_FRAMES = 7500, N_QUERIES = 4 };

static unsigned long long rng_state = 0x9E3779B97F4A7C15ULL;
static double uniform(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Chroma-like frames: a few strong pitch classes over a weak floor, l2-normalised. */
static void fill_doc(float *doc, size_t M) {
    for (size_t m = 0; m < M; m++) {
        double sum = 0;
        for (int c = 0; c < 12; c++) {
            double u = uniform();
            double v = u * u * u * u;
            doc[(size_t)c * M + m] = (float)v;
            sum += v * v;
        }
        for (int c = 0; c < 12; c++) doc[(size_t)c * M + m] = (float)(doc[(size_t)c * M + m] / sqrt(sum));
    }
}

/* Notes of 4-16 frames on random pitch classes, one in ten a rest (zero frames). */
static void fill_query(float *q, size_t N) {
    for (size_t i = 0; i < 12 * N; i++) q[i] = 0.0f;
    for (size_t n = 0; n < N;) {
        size_t len = 4 + (size_t)(uniform() * 13);
        int pc = uniform() < 0.1 ? -1 : (int)(uniform() * 12);
        for (size_t k = 0; k < len && n < N; k++, n++)
            if (pc >= 0) q[(size_t)pc * N + n] = 1.0f;
    }
}

/* docs8 (optional): the documents quantised to u8 (a compact database), scanned instead. */
static double run(float **queries, float **docs, uint8_t **docs8, int threads, float *checksum) {
    double t0 = lm_now();
    float sum = 0.0f;
    for (int qi = 0; qi < N_QUERIES; qi++) {
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : sum)
        for (int d = 0; d < N_DOCS; d++) {
            lm_sdtw_result r;
            int rc = docs8 ? lm_sdtw_scan_u8(queries[qi], N_QUERY, docs8[d], DOC_FRAMES, LM_DB_U8_SCALE, &r, NULL)
                           : lm_sdtw_scan(queries[qi], N_QUERY, docs[d], DOC_FRAMES, &r, NULL);
            if (rc == 0) sum += r.distance;
        }
    }
    *checksum = sum;
    return lm_now() - t0;
}

/* The coarse pass of a pruned search: the queries coarsened 4x (57 frames, binary) against
 * the documents' coarse features stored as bytes (6.25 Hz), scanned in float32 from the bytes
 * (lm_sdtw_scan_u8) and on 16-bit integers (lm_sdtw_scan_u8_int, what the search uses), one
 * thread: sdtw_coarse_u8_cells_per_s_1t, sdtw_coarse_int16_cells_per_s_1t. */
static void bench_coarse(float **queries, float **docs, int reps) {
    enum { R = 4, MC = (DOC_FRAMES + R - 1) / R };
    uint8_t *c8[N_DOCS];
    float *cq[N_QUERIES], *tmp = malloc(12 * (size_t)MC * sizeof *tmp);
    size_t Nc = 0;
    for (int d = 0; d < N_DOCS; d++) {
        c8[d] = malloc(12 * (size_t)MC);
        lm_chroma_downsample(docs[d], DOC_FRAMES, R, tmp);
        lm_quantise_u8(tmp, 12 * (size_t)MC, LM_DB_U8_SCALE, c8[d]);
    }
    for (int qi = 0; qi < N_QUERIES; qi++) cq[qi] = lm_query_downsample(queries[qi], N_QUERY, R, &Nc);
    double best_f = INFINITY, best_i = INFINITY, sum_f = 0, sum_i = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = lm_now();
        sum_f = 0;
        for (int qi = 0; qi < N_QUERIES; qi++)
            for (int d = 0; d < N_DOCS; d++) {
                lm_sdtw_result res;
                if (lm_sdtw_scan_u8(cq[qi], Nc, c8[d], MC, LM_DB_U8_SCALE, &res, NULL) == 0) sum_f += res.distance;
            }
        double t1 = lm_now();
        sum_i = 0;
        for (int qi = 0; qi < N_QUERIES; qi++)
            for (int d = 0; d < N_DOCS; d++) {
                lm_sdtw_query q = {cq[qi], Nc, 0};
                lm_sdtw_result res;
                if (lm_sdtw_scan_u8_int(&q, 1, c8[d], MC, LM_DB_U8_SCALE, &res, NULL) == 0) sum_i += res.distance;
            }
        double t2 = lm_now();
        best_f = fmin(best_f, t1 - t0);
        best_i = fmin(best_i, t2 - t1);
    }
    if (fabs(sum_f - sum_i) > 1e-4 * fabs(sum_f)) {
        fprintf(stderr, "bench_sdtw: 16-bit and float coarse scans differ (%g vs %g)\n", sum_i, sum_f);
        exit(1);
    }
    const double cells = (double)N_QUERIES * (double)Nc * N_DOCS * MC;
    printf("sdtw_coarse_u8_cells_per_s_1t %.4g cells/s\n", cells / best_f);
    printf("sdtw_coarse_int16_cells_per_s_1t %.4g cells/s\n", cells / best_i);
    for (int d = 0; d < N_DOCS; d++) free(c8[d]);
    for (int qi = 0; qi < N_QUERIES; qi++) free(cq[qi]);
    free(tmp);
}

/* ---- search modes */

enum { MODE_DOCS = 120, MODE_FRAMES = 7500, MODE_QUERIES = 6, MODE_TOP = 10 };

/* Music-like chroma: segments of 4-16 frames, each a melody note over chord tones of a key
 * and a noise floor; the key changes now and then. Recordings differ in texture as real ones
 * do (solo voice to orchestra): each draws its number of chord tones (1-4), their strength,
 * the melody's strength and the floor. */
static void fill_music(float *doc, size_t M) {
    static const int major[7] = {0, 2, 4, 5, 7, 9, 11};
    int key = (int)(uniform() * 12), tones = 1 + (int)(uniform() * 4);
    double chord = 0.2 + 0.6 * uniform(), melody = 0.3 + 0.7 * uniform(), floor = 0.02 + 0.3 * uniform() * uniform();
    for (size_t m = 0; m < M;) {
        if (uniform() < 0.02) key = (int)(uniform() * 12);
        size_t len = 4 + (size_t)(uniform() * 13);
        int root = (int)(uniform() * 7), mel = (int)(uniform() * 7);
        float v[12];
        for (int c = 0; c < 12; c++) v[c] = (float)(floor * uniform() * uniform());
        for (int i = 0; i < tones; i++)
            v[(key + major[(root + 2 * i) % 7]) % 12] += (float)(chord * (0.7 + 0.6 * uniform()));
        v[(key + major[mel]) % 12] += (float)melody;
        double sum = 0;
        for (int c = 0; c < 12; c++) sum += (double)v[c] * v[c];
        for (size_t k = 0; k < len && m < M; k++, m++)
            for (int c = 0; c < 12; c++) doc[(size_t)c * M + m] = (float)(v[c] / sqrt(sum));
    }
}

/* A melody in a key: notes of 4-16 frames, one in ten a rest. */
static void fill_melody(float *q, size_t N) {
    static const int major[7] = {0, 2, 4, 5, 7, 9, 11};
    int key = (int)(uniform() * 12);
    for (size_t i = 0; i < 12 * N; i++) q[i] = 0.0f;
    for (size_t n = 0; n < N;) {
        size_t len = 4 + (size_t)(uniform() * 13);
        int pc = uniform() < 0.1 ? -1 : (key + major[(int)(uniform() * 7)]) % 12;
        for (size_t k = 0; k < len && n < N; k++, n++)
            if (pc >= 0) q[(size_t)pc * N + n] = 1.0f;
    }
}

/* The query, shifted by `shift` and played at `speed` (frames of the query per document frame,
 * wandering by +-20 %), mixed into the document from frame `at`. */
static void plant_melody(const float *q, size_t N, int shift, double speed, float *doc, size_t M, size_t at) {
    double pos = 0;
    for (size_t m = at; m < M && pos < (double)N; m++) {
        size_t n = (size_t)pos;
        for (int c = 0; c < 12; c++) {
            float v = q[(size_t)c * N + n];
            if (v > 0) doc[(size_t)((c + shift) % 12) * M + m] += 1.2f * v;
        }
        double sum = 0;
        for (int c = 0; c < 12; c++) sum += (double)doc[(size_t)c * M + m] * doc[(size_t)c * M + m];
        for (int c = 0; c < 12; c++) doc[(size_t)c * M + m] = (float)(doc[(size_t)c * M + m] / sqrt(sum));
        pos += speed * (0.8 + 0.4 * uniform());
    }
}

/* Seconds of a plain search and of the search modes over `db` for one query (one thread). */
static void time_modes(const lm_db *db, const float *q, size_t N, const lm_theme *theme, double duration,
                       double *t_plain, double *t_cand, double *t_ti, double *t_auto) {
    lm_match *m = malloc(db->n_docs * sizeof *m);
    lm_qset pl, ti, au;
    lm_variant_options o_pl = {0}, o_ti = {.transpose_any = 1}, o_au = {.duration_auto = 1};
    int rc = theme ? lm_qset_from_theme(&ti, theme, duration, 0, &o_ti) : lm_qset_from_chroma(&ti, q, N, &o_ti);
    rc |= theme ? lm_qset_from_theme(&au, theme, duration, 0, &o_au) : lm_qset_from_chroma(&au, q, N, &o_au);
    rc |= lm_qset_from_chroma(&pl, q, N, &o_pl);
    if (!m || rc) {
        fprintf(stderr, "bench_sdtw: out of memory\n");
        exit(1);
    }
    double t0 = lm_now();
    lm_search_all(db, q, N, m, 0);
    double t1 = lm_now();
    lm_search_qset(db, NULL, &ti, NULL, MODE_TOP, -1, m, 0);
    double t2 = lm_now();
    lm_search_qset(db, NULL, &au, NULL, MODE_TOP, -1, m, 0);
    double t3 = lm_now();
    /* the default plain search since candidate search: one variant through the same pass */
    lm_search_qset(db, NULL, &pl, NULL, MODE_TOP, -1, m, 0);
    double t4 = lm_now();
    *t_plain += t1 - t0;
    *t_ti += t2 - t1;
    *t_auto += t3 - t2;
    *t_cand += t4 - t3;
    lm_qset_free(&pl);
    lm_qset_free(&ti);
    lm_qset_free(&au);
    free(m);
}

static void bench_modes_synthetic(int reps) {
    lm_db db = {0};
    db.n_docs = MODE_DOCS;
    db.docs = calloc(MODE_DOCS, sizeof *db.docs);
    float *queries[MODE_QUERIES];
    for (int d = 0; d < MODE_DOCS; d++) {
        float *x = malloc(12 * (size_t)MODE_FRAMES * sizeof *x);
        if (!x) exit(1);
        fill_music(x, MODE_FRAMES);
        db.docs[d].chroma = x;
        db.docs[d].T = MODE_FRAMES;
        db.docs[d].id = "doc";
    }
    for (int qi = 0; qi < MODE_QUERIES; qi++) {
        queries[qi] = malloc(12 * (size_t)N_QUERY * sizeof(float));
        fill_melody(queries[qi], N_QUERY);
        for (int k = 0; k < 3; k++) {
            int d = (int)(uniform() * MODE_DOCS);
            plant_melody(queries[qi], N_QUERY, (int)(uniform() * 12), 0.7 + 0.6 * uniform(), (float *)db.docs[d].chroma,
                         MODE_FRAMES, (size_t)(uniform() * (MODE_FRAMES - 2 * N_QUERY)));
        }
    }
    double best_ti = INFINITY, best_auto = INFINITY, best_ti_c = INFINITY, best_auto_c = INFINITY;
    for (int r = 0; r < reps; r++) {
        double tp = 0, tc = 0, tt = 0, ta = 0;
        for (int qi = 0; qi < MODE_QUERIES; qi++) time_modes(&db, queries[qi], N_QUERY, NULL, 0, &tp, &tc, &tt, &ta);
        best_ti = fmin(best_ti, tt / tp);
        best_ti_c = fmin(best_ti_c, tt / tc);
        best_auto_c = fmin(best_auto_c, ta / tc);
        best_auto = fmin(best_auto, ta / tp);
    }
    printf("sdtw_ti_cost_ratio %.3f x\n", best_ti);
    printf("sdtw_auto_cost_ratio %.3f x\n", best_auto);
    printf("sdtw_ti_cost_ratio_vs_candidates %.3f x\n", best_ti_c);
    printf("sdtw_auto_cost_ratio_vs_candidates %.3f x\n", best_auto_c);
    for (int d = 0; d < MODE_DOCS; d++) free((float *)db.docs[d].chroma);
    for (int qi = 0; qi < MODE_QUERIES; qi++) free(queries[qi]);
    free(db.docs);
}

/* The same on a real database and its themes (every 25th, at its annotated duration). */
static void bench_modes_db(const char *db_path, const char *themes_path) {
    lm_db db;
    lm_eval_query *q;
    size_t n;
    if (lm_db_open(db_path, &db) != 0 || lm_eval_read_themes(themes_path, &q, &n) != 0) {
        fprintf(stderr, "bench_sdtw: %s\n", lm_last_error());
        return;
    }
    double tp = 0, tc = 0, tt = 0, ta = 0;
    for (size_t t = 0; t < n; t += 25) {
        lm_theme th;
        if (lm_midi_read_theme(q[t].query_midi, &th) != 0) continue;
        double dur = q[t].end_sec - q[t].start_sec;
        size_t N;
        float *x = lm_theme_to_chroma(&th, dur, q[t].transposition, &N);
        if (x) time_modes(&db, x, N, &th, dur, &tp, &tc, &tt, &ta);
        free(x);
        lm_theme_free(&th);
    }
    printf("sdtw_ti_cost_ratio_db %.3f x\n", tt / tp);
    printf("sdtw_auto_cost_ratio_db %.3f x\n", ta / tp);
    printf("sdtw_ti_cost_ratio_db_vs_candidates %.3f x\n", tt / tc);
    printf("sdtw_auto_cost_ratio_db_vs_candidates %.3f x\n", ta / tc);
    lm_eval_free_themes(q, n);
    lm_db_close(&db);
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 3;
    if (reps < 1) reps = 1;
    float *docs[N_DOCS], *queries[N_QUERIES];
    for (int d = 0; d < N_DOCS; d++) {
        docs[d] = malloc(12 * (size_t)DOC_FRAMES * sizeof(float));
        if (!docs[d]) return 1;
        fill_doc(docs[d], DOC_FRAMES);
    }
    for (int qi = 0; qi < N_QUERIES; qi++) {
        queries[qi] = malloc(12 * (size_t)N_QUERY * sizeof(float));
        if (!queries[qi]) return 1;
        fill_query(queries[qi], N_QUERY);
    }
    const double cells = (double)N_QUERIES * N_QUERY * (double)N_DOCS * DOC_FRAMES;
    float check1 = 0, check2 = 0;
    double best1 = INFINITY, best2 = INFINITY;
    for (int r = 0; r < reps; r++) {
        best1 = fmin(best1, run(queries, docs, NULL, 1, &check1));
        best2 = fmin(best2, run(queries, docs, NULL, 2, &check2));
    }
    /* Both runs must have computed the same distances. */
    if (fabsf(check1 - check2) > 1e-3f * fabsf(check1)) {
        fprintf(stderr, "bench_sdtw: 1- and 2-thread results differ (%g vs %g)\n", check1, check2);
        return 1;
    }
    printf("sdtw_cells_per_s_1t %.4g cells/s\n", cells / best1);
    printf("sdtw_cells_per_s_2t %.4g cells/s\n", cells / best2);
    /* The same documents in a compact (u8) database. */
    uint8_t *docs8[N_DOCS];
    for (int d = 0; d < N_DOCS; d++) {
        docs8[d] = malloc(12 * (size_t)DOC_FRAMES);
        if (!docs8[d]) return 1;
        lm_quantise_u8(docs[d], 12 * (size_t)DOC_FRAMES, LM_DB_U8_SCALE, docs8[d]);
    }
    double best8 = INFINITY;
    float check8 = 0;
    for (int r = 0; r < reps; r++) best8 = fmin(best8, run(queries, docs, docs8, 1, &check8));
    if (fabsf(check8 - check1) > 1e-2f * fabsf(check1)) {
        fprintf(stderr, "bench_sdtw: u8 and f32 results differ (%g vs %g)\n", check8, check1);
        return 1;
    }
    printf("sdtw_u8_cells_per_s_1t %.4g cells/s\n", cells / best8);
    bench_coarse(queries, docs, reps);
    for (int d = 0; d < N_DOCS; d++) free(docs8[d]);
    for (int d = 0; d < N_DOCS; d++) free(docs[d]);
    for (int qi = 0; qi < N_QUERIES; qi++) free(queries[qi]);
    bench_modes_synthetic(reps);
    const char *db = getenv("LM_BENCH_SDTW_DB"), *themes = getenv("LM_BENCH_SDTW_THEMES");
    if (db && *db && themes && *themes) bench_modes_db(db, themes);
    return 0;
}
