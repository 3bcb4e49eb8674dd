/* Subsequence DTW: the golden librosa cases, the fast float32 scan against the double
 * reference (tiling, general queries, windowed start), hand-checked and degenerate inputs. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/npy.h"
#include "index/db.h"
#include "match/sdtw.h"

/* Agreement up to tol, with +inf (unreachable cells) only matching +inf. */
static int close_or_both_inf(double a, double b, double tol) {
    if (isinf(a) || isinf(b)) return isinf(a) && isinf(b) && (a > 0) == (b > 0);
    return fabs(a - b) <= tol;
}

typedef struct {
    const char *name;
    size_t argmin_end, start;
    double min_matching;
} golden_case;

/* From ../shared/reference/sdtw/cases.csv. */
static const golden_case golden[] = {
    {"case00", 30, 25, 0.16078037023544312}, {"case01", 11, 1, 0.6011900007724762},
    {"case02", 63, 21, 0.17959091464678448}, {"case03", 364, 235, 0.17955850892596775},
    {"case04", 917, 582, 0.18698153177897137}, {"case05", 8, 0, 0.6874494850635529},
};

static float *load_f32(const char *name, const char *what, size_t shape[8]) {
    char rel[128];
    snprintf(rel, sizeof rel, "reference/sdtw/%s_%s.npy", name, what);
    int ndim = 0;
    float *x = lm_npy_read_f32(lm_test_shared(rel), &ndim, shape);
    assert_non_null(x);
    return x;
}

static double *load_f64(const char *name, const char *what, size_t *count) {
    char rel[128];
    snprintf(rel, sizeof rel, "reference/sdtw/%s_%s.npy", name, what);
    int ndim = 0;
    size_t shape[8];
    double *x = lm_npy_read_f64(lm_test_shared(rel), &ndim, shape);
    assert_non_null(x);
    *count = 1;
    for (int i = 0; i < ndim; i++) *count *= shape[i];
    return x;
}

static void test_golden_cases(void **state) {
    (void)state;
    LM_REQUIRE_SHARED("reference/sdtw/cases.csv");
    for (size_t k = 0; k < sizeof golden / sizeof golden[0]; k++) {
        const golden_case *g = &golden[k];
        size_t qs[8], ds[8], n_accum, n_match;
        float *query = load_f32(g->name, "query", qs);
        float *doc = load_f32(g->name, "doc", ds);
        double *accum_ref = load_f64(g->name, "accum", &n_accum);
        double *match_ref = load_f64(g->name, "matching", &n_match);
        size_t N = qs[1], M = ds[1];
        assert_int_equal(qs[0], 12);
        assert_int_equal(ds[0], 12);
        assert_int_equal(n_accum, N * M);
        assert_int_equal(n_match, M);

        double *accum = malloc(N * M * sizeof *accum);
        lm_sdtw_result full;
        assert_int_equal(lm_sdtw_full(query, N, doc, M, accum, &full), 0);
        double worst = 0;
        for (size_t i = 0; i < N * M; i++) {
            assert_true(close_or_both_inf(accum[i], accum_ref[i], 1e-9));
            if (isfinite(accum_ref[i])) worst = fmax(worst, fabs(accum[i] - accum_ref[i]));
        }
        assert_int_equal(full.end, g->argmin_end);
        assert_int_equal(full.start, g->start);
        assert_true(fabs(full.distance - g->min_matching) < 1e-6);

        float *matching = malloc(M * sizeof *matching);
        lm_sdtw_result fast;
        assert_int_equal(lm_sdtw(query, N, doc, M, &fast, matching), 0);
        double worst_match = 0;
        for (size_t m = 0; m < M; m++) {
            assert_true(close_or_both_inf(matching[m], match_ref[m], 1e-4));
            if (isfinite(match_ref[m])) worst_match = fmax(worst_match, fabs(matching[m] - match_ref[m]));
        }
        assert_int_equal(fast.end, g->argmin_end);
        assert_int_equal(fast.start, g->start);
        assert_true(fabs(fast.distance - g->min_matching) < 1e-4);
        assert_int_equal(lm_sdtw_start(query, N, doc, M, g->argmin_end), g->start);
        print_message("%s %zux%zu: accum max err %.2e, fast matching max err %.2e\n", g->name, N, M, worst,
                      worst_match);
        free(query), free(doc), free(accum_ref), free(match_ref), free(accum), free(matching);
    }
}

/* Deterministic pseudo-random numbers so failures reproduce. */
static unsigned long long rng_state = 88172645463325252ULL;
static double uniform(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static void normalise_columns(float *x, size_t n_frames) {
    for (size_t i = 0; i < n_frames; i++) {
        double s = 0;
        for (int c = 0; c < 12; c++) s += (double)x[c * n_frames + i] * x[c * n_frames + i];
        if (s > 0)
            for (int c = 0; c < 12; c++) x[c * n_frames + i] = (float)(x[c * n_frames + i] / sqrt(s));
    }
}

static float *random_doc(size_t M) {
    float *doc = malloc(12 * M * sizeof *doc);
    for (size_t i = 0; i < 12 * M; i++) doc[i] = (float)(uniform() * uniform() * uniform());
    normalise_columns(doc, M);
    return doc;
}

enum query_kind { BINARY, GENERAL, MIXED };

/* BINARY: one-hot frames and some rests; GENERAL: every frame a random chroma vector;
 * MIXED: one-hot frames, rests and two-note chords (frames of 1/sqrt(2)). */
static float *random_query(size_t N, enum query_kind kind) {
    float *q = calloc(12 * N, sizeof *q);
    for (size_t n = 0; n < N; n++) {
        double u = uniform();
        if (kind == GENERAL) {
            for (int c = 0; c < 12; c++) q[c * N + n] = (float)(uniform() * uniform());
        } else if (u > 0.1) {
            q[(size_t)(uniform() * 12) * N + n] = 1.0f;
            if (kind == MIXED && u > 0.7) q[(size_t)(uniform() * 12) * N + n] = 1.0f;
        }
    }
    normalise_columns(q, N);
    return q;
}

/* Plants a time-warped copy of the query so that there is a clear match. */
static void plant(const float *q, size_t N, float *doc, size_t M, size_t at) {
    size_t m = at;
    for (size_t n = 0; n < N && m < M; n++) {
        size_t reps = 1 + (size_t)(uniform() * 2.0);
        for (size_t r = 0; r < reps && m < M; r++, m++)
            for (int c = 0; c < 12; c++) doc[c * M + m] = 0.8f * q[c * N + n] + 0.2f * doc[c * M + m];
    }
    normalise_columns(doc, M);
}

/* The tiled float32 scan must agree with the double reference everywhere, including across
 * tile borders (documents longer than a tile) and for general (non-binary) queries. */
static void check_fast_against_full(size_t N, size_t M, enum query_kind kind, int planted) {
    float *q = random_query(N, kind);
    float *doc = random_doc(M);
    if (planted) plant(q, N, doc, M, M / 3);
    double *accum = malloc(N * M * sizeof *accum);
    float *matching = malloc(M * sizeof *matching);
    lm_sdtw_result full, fast;
    assert_int_equal(lm_sdtw_full(q, N, doc, M, accum, &full), 0);
    assert_int_equal(lm_sdtw(q, N, doc, M, &fast, matching), 0);
    for (size_t m = 0; m < M; m++)
        assert_true(close_or_both_inf(matching[m], accum[(N - 1) * M + m] / (double)N, 1e-4));
    assert_true(fabs(fast.distance - full.distance) < 1e-4);
    if (planted) { /* a clear minimum: float32 must find the same end and start */
        assert_int_equal(fast.end, full.end);
        assert_int_equal(fast.start, full.start);
    }
    /* The windowed start equals full backtracking from any reachable end, not only the argmin. */
    for (int t = 0; t < 20; t++) {
        size_t end = (size_t)(uniform() * (double)M);
        if (!isfinite(accum[(N - 1) * M + end])) continue;
        size_t n = N - 1, m = end;
        while (n > 0) { /* backtrack the reference matrix by its own recursion */
            float dot = 0.0f; /* same operations as the library, so equality is exact */
            for (int c = 0; c < 12; c++) dot += q[c * N + n] * doc[c * M + m];
            double cost = (double)(1.0f - dot), here = accum[n * M + m];
            if (n >= 2 && m >= 1 && accum[(n - 2) * M + m - 1] + 2.0 * cost == here) {
                n -= 2, m -= 1;
            } else if (m >= 2 && accum[(n - 1) * M + m - 2] + cost == here) {
                n -= 1, m -= 2;
            } else {
                assert_true(m >= 1 && accum[(n - 1) * M + m - 1] + cost == here);
                n -= 1, m -= 1;
            }
        }
        assert_int_equal(lm_sdtw_start(q, N, doc, M, end), m);
    }
    free(q), free(doc), free(accum), free(matching);
}

static void test_fast_matches_reference(void **state) {
    (void)state;
    /* Tiles are 4096 frames and rows go in groups of 2-3, so these cover tile borders and
     * every group remainder. */
    check_fast_against_full(40, 9000, BINARY, 1);  /* two tile borders */
    check_fast_against_full(41, 9000, GENERAL, 1);
    check_fast_against_full(42, 5000, MIXED, 1);
    check_fast_against_full(25, 4097, BINARY, 0);  /* one frame into the second tile */
    check_fast_against_full(7, 13, MIXED, 0);
    check_fast_against_full(1, 300, GENERAL, 0); /* N = 1: the best single frame */
    check_fast_against_full(2, 2, BINARY, 0);
    check_fast_against_full(3, 2, BINARY, 0);    /* N = 2M - 1 */
}

/* Hand-computed: query C D E (one-hot), document C C D E E. */
static void test_hand_example(void **state) {
    (void)state;
    float q[12 * 3] = {0}, doc[12 * 5] = {0};
    q[0 * 3 + 0] = q[2 * 3 + 1] = q[4 * 3 + 2] = 1.0f;
    const int doc_pc[5] = {0, 0, 2, 4, 4};
    for (int m = 0; m < 5; m++) doc[doc_pc[m] * 5 + m] = 1.0f;
    /* Costs: row C: 0 0 1 1 1; row D: 1 1 0 1 1; row E: 1 1 1 0 0.
     * D row 0 = 0 0 1 1 1.
     * Row 1: m=0 inf; m=1 d11=D0[0]=0 -> 1; m=2 min(d12=0,d11=0)+0 = 0; m=3 min(0,1)+1 = 1;
     *        m=4 min(1,1)+1 = 2.
     * Row 2: m=0 inf; m=1 d21=D0[0]+2=2, d11=D1[0]=inf -> 2; m=2 d21=D0[1]+2=2, d12=inf,
     *        d11=D1[1]+1=2 -> 2; m=3 d21=D0[2]+0=1, d12=D1[1]=1, d11=D1[2]=0 -> 0;
     *        m=4 d21=D0[3]+0=1, d12=D1[2]=0, d11=D1[3]=1 -> 0. */
    const double expect[15] = {0, 0, 1, 1, 1, INFINITY, 1, 0, 1, 2, INFINITY, 2, 2, 0, 0};
    double accum[15];
    lm_sdtw_result r;
    assert_int_equal(lm_sdtw_full(q, 3, doc, 5, accum, &r), 0);
    for (int i = 0; i < 15; i++) assert_true(close_or_both_inf(accum[i], expect[i], 1e-12));
    assert_int_equal(r.end, 3); /* first of the two zeros */
    /* At (1,2) steps (1,2) and (1,1) tie at 0; librosa keeps the first: path (0,0) (1,2) (2,3). */
    assert_int_equal(r.start, 0);
    assert_true(r.distance == 0.0f);
    float matching[5];
    assert_int_equal(lm_sdtw(q, 3, doc, 5, &r, matching), 0);
    assert_int_equal(r.end, 3);
    assert_int_equal(r.start, 0);
    assert_true(isinf(matching[0]));
    assert_true(fabsf(matching[2] - 2.0f / 3.0f) < 1e-6f);
}

static void test_query_too_long(void **state) {
    (void)state;
    size_t M = 10;
    float *doc = random_doc(M);
    float matching[10];
    lm_sdtw_result r;
    for (size_t N = 2 * M - 1; N <= 3 * M; N++) {
        float *q = random_query(N, BINARY);
        assert_int_equal(lm_sdtw(q, N, doc, M, &r, matching), 0);
        if (N == 2 * M - 1) { /* exactly reachable: all (2,1) steps from frame 0 */
            assert_true(isfinite(r.distance));
            assert_int_equal(r.start, 0);
            assert_int_equal(r.end, M - 1);
        } else {
            assert_true(isinf(r.distance) && r.distance > 0);
            for (size_t m = 0; m < M; m++) assert_true(isinf(matching[m]));
            lm_sdtw_result full;
            assert_int_equal(lm_sdtw_full(q, N, doc, M, NULL, &full), 0);
            assert_true(isinf(full.distance));
        }
        free(q);
    }
    free(doc);
}

static void test_bad_input(void **state) {
    (void)state;
    float q[12] = {1}, doc[12] = {1};
    lm_sdtw_result r;
    lm_clear_error();
    assert_int_equal(lm_sdtw(q, 0, doc, 1, &r, NULL), -1);
    assert_non_null(strstr(lm_last_error(), "empty"));
    assert_int_equal(lm_sdtw(q, 1, doc, 0, &r, NULL), -1);
    assert_int_equal(lm_sdtw_scan(q, 1, doc, 0, &r, NULL), -1);
    assert_int_equal(lm_sdtw_full(q, 0, doc, 1, NULL, &r), -1);
    /* One frame each: distance is the cosine distance. */
    assert_int_equal(lm_sdtw(q, 1, doc, 1, &r, NULL), 0);
    assert_true(r.distance == 0.0f && r.start == 0 && r.end == 0);
}

/* Compact (u8) documents: lm_sdtw_scan_u8 equals lm_sdtw_scan of the dequantised document bit
 * for bit, and stays within the documented bound (sdtw.h) of the float32 original: scale / 2
 * for a query of one-hot frames and rests, sqrt(12) scale / 2 for a general one. */
static void check_u8(const float *query, size_t N, const float *doc, size_t M, double bound, double *worst) {
    uint8_t *q8 = malloc(12 * M);
    float *deq = malloc(12 * M * sizeof *deq);
    assert_non_null(q8);
    assert_non_null(deq);
    lm_quantise_u8(doc, 12 * M, LM_DB_U8_SCALE, q8);
    lm_dequantise_u8(q8, 12 * M, LM_DB_U8_SCALE, deq);
    float *m8 = malloc(M * sizeof *m8), *md = malloc(M * sizeof *md);
    lm_sdtw_result r32, r8, rd;
    assert_int_equal(lm_sdtw_scan(query, N, doc, M, &r32, NULL), 0);
    assert_int_equal(lm_sdtw_scan_u8(query, N, q8, M, LM_DB_U8_SCALE, &r8, m8), 0);
    assert_int_equal(lm_sdtw_scan(query, N, deq, M, &rd, md), 0);
    assert_memory_equal(m8, md, M * sizeof *m8);
    assert_true(r8.distance == rd.distance && r8.end == rd.end);
    if (isfinite(r32.distance)) {
        double err = fabs((double)r8.distance - r32.distance);
        assert_true(err <= bound + 1e-5);
        *worst = fmax(*worst, err);
    } else {
        assert_true(isinf(r8.distance));
    }
    free(q8), free(deq), free(m8), free(md);
}

static void test_u8_scan(void **state) {
    (void)state;
    const double e = 0.5 * LM_DB_U8_SCALE;
    double worst_binary = 0, worst_general = 0;
    for (int trial = 0; trial < 40; trial++) {
        size_t M = 1 + (size_t)(uniform() * 9000), N = 1 + (size_t)(uniform() * 120);
        enum query_kind kind = trial % 3 == 0 ? GENERAL : trial % 3 == 1 ? BINARY : MIXED;
        float *doc = random_doc(M), *query = random_query(N, kind);
        /* MIXED has two-note chords: ||q||_1 = sqrt(2) */
        check_u8(query, N, doc, M, kind == GENERAL ? sqrt(12.0) * e : kind == MIXED ? sqrt(2.0) * e : e,
                 kind == BINARY ? &worst_binary : &worst_general);
        free(doc), free(query);
    }
    print_message("u8 vs f32 distance: worst %.2e (binary queries, bound %.2e), %.2e (others)\n", worst_binary, e,
                  worst_general);
}

/* The 16-bit scan of the coarse pass (lm_sdtw_scan_u8_int): for binary queries, transposed
 * or not, several at once, it gives the float scan's matching function over the dequantised
 * document up to float rounding, and the first end of its minimum; it declines (1) general
 * queries and queries over LM_SDTW_INT_MAX_N frames; the largest sums do not overflow. */
static void check_u8_int(const uint8_t *doc8, size_t M, float scale, const lm_sdtw_query *qs, size_t nq) {
    float *deq = malloc(12 * M * sizeof *deq);
    float **mi = malloc(nq * sizeof *mi), **mf = malloc(nq * sizeof *mf);
    lm_sdtw_result *ri = malloc(nq * sizeof *ri), *rf = malloc(nq * sizeof *rf);
    assert_non_null(deq);
    lm_dequantise_u8(doc8, 12 * M, scale, deq);
    for (size_t v = 0; v < nq; v++) mi[v] = malloc(M * sizeof **mi), mf[v] = malloc(M * sizeof **mf);
    assert_int_equal(lm_sdtw_scan_u8_int(qs, nq, doc8, M, scale, ri, mi), 0);
    assert_int_equal(lm_sdtw_scan_multi(qs, nq, deq, M, rf, mf), 0);
    for (size_t v = 0; v < nq; v++) {
        for (size_t m = 0; m < M; m++) {
            if (isinf(mf[v][m])) assert_true(isinf(mi[v][m]));
            else assert_true(fabsf(mi[v][m] - mf[v][m]) <= 2e-6f);
        }
        if (isinf(rf[v].distance)) {
            assert_true(isinf(ri[v].distance));
            continue;
        }
        assert_true(fabsf(ri[v].distance - rf[v].distance) <= 2e-6f);
        assert_true(mi[v][ri[v].end] == ri[v].distance && ri[v].start == ri[v].end);
        for (size_t m = 0; m < ri[v].end; m++) assert_true(mi[v][m] > ri[v].distance);
    }
    for (size_t v = 0; v < nq; v++) free(mi[v]), free(mf[v]);
    free(mi), free(mf), free(ri), free(rf), free(deq);
}

static void test_u8_int_scan(void **state) {
    (void)state;
    for (int trial = 0; trial < 30; trial++) {
        size_t M = trial < 4 ? (size_t)trial + 1 : 1 + (size_t)(uniform() * 5000), nq = 1 + (size_t)(uniform() * 3);
        float *doc = random_doc(M);
        uint8_t *doc8 = malloc(12 * M);
        lm_quantise_u8(doc, 12 * M, LM_DB_U8_SCALE, doc8);
        lm_sdtw_query qs[4];
        for (size_t v = 0; v < nq; v++) {
            size_t N = v == 0 && trial % 5 == 0 ? LM_SDTW_INT_MAX_N : 1 + (size_t)(uniform() * LM_SDTW_INT_MAX_N);
            qs[v] = (lm_sdtw_query){random_query(N, BINARY), N, (int)(uniform() * 30) - 12};
        }
        check_u8_int(doc8, M, LM_DB_U8_SCALE, qs, nq);
        for (size_t v = 0; v < nq; v++) free((void *)qs[v].query);
        free(doc), free(doc8);
    }
    /* every byte 255 and the longest query: the largest sum, 255 x 127 */
    size_t M = 300, N = LM_SDTW_INT_MAX_N;
    uint8_t *full = malloc(12 * M);
    memset(full, 255, 12 * M);
    float *q = random_query(N, BINARY);
    for (size_t n = 0; n < N; n++) /* no rests: each frame one-hot */
        if (q[n] == 0.0f) {
            int any = 0;
            for (int c = 0; c < 12; c++) any |= q[c * N + n] != 0.0f;
            if (!any) q[n] = 1.0f;
        }
    lm_sdtw_query one = {q, N, 0};
    lm_sdtw_result r;
    assert_int_equal(lm_sdtw_scan_u8_int(&one, 1, full, M, 1.0f / 255.0f, &r, NULL), 0);
    assert_true(fabsf(r.distance) <= 1e-5f);
    check_u8_int(full, M, 1.0f / 255.0f, &one, 1);
    /* declined: a frame that is not one-hot, a query one frame too long */
    float *g = random_query(N, GENERAL);
    lm_sdtw_query general = {g, 40, 0}, too_long = {q, N, 0};
    float *q128 = random_query(N + 1, BINARY);
    too_long = (lm_sdtw_query){q128, N + 1, 0};
    assert_int_equal(lm_sdtw_scan_u8_int(&general, 1, full, M, 1.0f / 255.0f, &r, NULL), 1);
    assert_int_equal(lm_sdtw_scan_u8_int(&too_long, 1, full, M, 1.0f / 255.0f, &r, NULL), 1);
    /* a query no path can cover: +inf, as the float scan */
    lm_sdtw_query over = {q, N, 0};
    assert_int_equal(lm_sdtw_scan_u8_int(&over, 1, full, 10, 1.0f / 255.0f, &r, NULL), 0);
    assert_true(isinf(r.distance));
    free(full), free(q), free(g), free(q128);
}

/* The same on real chroma: the golden cases' documents (librosa chroma of real audio). */
static void test_u8_scan_real(void **state) {
    (void)state;
    LM_REQUIRE_SHARED("reference/sdtw/cases.csv");
    double worst = 0;
    for (size_t k = 0; k < sizeof golden / sizeof golden[0]; k++) {
        size_t qs[8], ds[8];
        float *query = load_f32(golden[k].name, "query", qs);
        float *doc = load_f32(golden[k].name, "doc", ds);
        double l1 = 0; /* the bound grows with the query frames' l1 norm */
        for (size_t n = 0; n < qs[1]; n++) {
            double s = 0;
            for (int c = 0; c < 12; c++) s += fabs(query[c * qs[1] + n]);
            l1 = fmax(l1, s);
        }
        check_u8(query, qs[1], doc, ds[1], l1 * 0.5 * LM_DB_U8_SCALE, &worst);
        free(query), free(doc);
    }
    print_message("u8 vs f32 distance on the golden cases: worst %.2e\n", worst);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_cases),     cmocka_unit_test(test_fast_matches_reference),
        cmocka_unit_test(test_hand_example),     cmocka_unit_test(test_query_too_long),
        cmocka_unit_test(test_bad_input),        cmocka_unit_test(test_u8_scan),
        cmocka_unit_test(test_u8_scan_real),       cmocka_unit_test(test_u8_int_scan),
    };
    return lm_test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
