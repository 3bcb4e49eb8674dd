#include "match/sdtw.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

/* ---- double-precision reference (librosa 0.7.2 semantics) ---- */

enum { FRAME_ZERO = -1, FRAME_GENERAL = -2 };

/* Pitch class of a one-hot frame of value 1, FRAME_ZERO (a rest) or FRAME_GENERAL. */
static int frame_kind(const float *query, size_t N, size_t n) {
    int pc = FRAME_ZERO;
    for (int c = 0; c < 12; c++) {
        float v = query[(size_t)c * N + n];
        if (v == 0.0f) continue;
        if (v != 1.0f || pc != FRAME_ZERO) return FRAME_GENERAL;
        pc = c;
    }
    return pc;
}

/* Cost of one query frame against document frames. It is formed in float32 like the
 * reference's C = 1 - query^T doc on float32 arrays; only the accumulation is double. For a
 * one-hot frame the 12-term dot product is exactly the document value, so the shortcut gives
 * the same bits. */
typedef struct {
    const float *query, *doc;
    size_t N, M, n;
    int kind;
} cost_row;

static cost_row cost_row_of(const float *query, size_t N, const float *doc, size_t M, size_t n) {
    return (cost_row){query, doc, N, M, n, frame_kind(query, N, n)};
}

static inline double cell_cost(const cost_row *r, size_t m) {
    if (r->kind >= 0) return (double)(1.0f - r->doc[(size_t)r->kind * r->M + m]);
    if (r->kind == FRAME_ZERO) return 1.0;
    float dot = 0.0f;
    for (int c = 0; c < 12; c++) dot += r->query[(size_t)c * r->N + r->n] * r->doc[(size_t)c * r->M + m];
    return (double)(1.0f - dot);
}

/* librosa evaluates the steps in the order (2,1),(1,2),(1,1) and keeps a later one only if it
 * is strictly cheaper, so ties go to the earlier step; backtracking follows the kept step. */
static inline int best_step(double d21, double d12, double d11, double cost, double *out) {
    double best = d21 + 2.0 * cost;
    int step = 0;
    double v = d12 + cost;
    if (v < best) best = v, step = 1;
    v = d11 + cost;
    if (v < best) best = v, step = 2;
    *out = best;
    return step;
}

static const size_t step_rows[3] = {2, 1, 1};
static const size_t step_cols[3] = {1, 2, 1};

int lm_sdtw_full(const float *query, size_t N, const float *doc, size_t M, double *accum, lm_sdtw_result *res) {
    if (N == 0 || M == 0) {
        lm_set_error("sdtw: empty query or document (%zu x %zu frames)", N, M);
        return -1;
    }
    double *D = accum ? accum : lm_malloc(N * M, sizeof *D);
    if (!D) return -1;
    cost_row r0 = cost_row_of(query, N, doc, M, 0);
    for (size_t m = 0; m < M; m++) D[m] = cell_cost(&r0, m);
    for (size_t n = 1; n < N; n++) {
        double *row = D + n * M;
        const double *up1 = row - M;
        const double *up2 = n >= 2 ? row - 2 * M : NULL;
        cost_row cr = cost_row_of(query, N, doc, M, n);
        for (size_t m = 0; m < M; m++) {
            double d21 = (up2 && m >= 1) ? up2[m - 1] : INFINITY;
            double d12 = m >= 2 ? up1[m - 2] : INFINITY;
            double d11 = m >= 1 ? up1[m - 1] : INFINITY;
            best_step(d21, d12, d11, cell_cost(&cr, m), &row[m]);
        }
    }
    const double *last = D + (N - 1) * M;
    size_t end = 0;
    for (size_t m = 1; m < M; m++)
        if (last[m] < last[end]) end = m;
    if (res) {
        res->distance = (float)(last[end] / (double)N);
        res->end = end;
        res->start = 0;
        if (isfinite(last[end])) {
            size_t n = N - 1, m = end;
            while (n > 0) {
                double d21 = (n >= 2 && m >= 1) ? D[(n - 2) * M + m - 1] : INFINITY;
                double d12 = m >= 2 ? D[(n - 1) * M + m - 2] : INFINITY;
                double d11 = m >= 1 ? D[(n - 1) * M + m - 1] : INFINITY;
                double unused;
                cost_row cr = cost_row_of(query, N, doc, M, n);
                int step = best_step(d21, d12, d11, cell_cost(&cr, m), &unused);
                n -= step_rows[step];
                m -= step_cols[step];
            }
            res->start = m;
        } else {
            res->distance = INFINITY;
            res->end = 0;
        }
    }
    if (!accum) free(D);
    return 0;
}

/* Start-tracking DTW over the cells from which (N-1, end) can be reached: row n spans columns
 * [end - 2k, end - ceil(k/2)] with k = N-1-n. Every predecessor of such a cell is such a cell,
 * so their accumulated costs equal the full matrix's, bit for bit (same operations in the same
 * order), and carrying the start column along the kept steps gives librosa's backtracked start
 * in 0.75 N^2 cells and O(N) memory. */
size_t lm_sdtw_start(const float *query, size_t N, const float *doc, size_t M, size_t end) {
    /* Row 0 of the cone ends at end - ceil((N-1)/2) = end - N/2. */
    if (N == 0 || end >= M || end < N / 2) return 0;
    size_t span = 2 * (N - 1);
    size_t w0 = end >= span ? end - span : 0; /* leftmost column of the cone */
    size_t W = end - w0 + 1;
    double *Dbuf = malloc(3 * W * sizeof *Dbuf);
    size_t *Sbuf = malloc(3 * W * sizeof *Sbuf);
    if (!Dbuf || !Sbuf) {
        free(Dbuf);
        free(Sbuf);
        return 0;
    }
    size_t start = 0;
    for (size_t n = 0; n < N; n++) {
        size_t k = N - 1 - n;
        size_t lo = end >= 2 * k ? end - 2 * k : 0;
        size_t hi = end - (k + 1) / 2;
        double *D = Dbuf + (n % 3) * W;
        size_t *S = Sbuf + (n % 3) * W;
        const double *D1 = Dbuf + ((n + 2) % 3) * W, *D2 = Dbuf + ((n + 1) % 3) * W;
        const size_t *S1 = Sbuf + ((n + 2) % 3) * W, *S2 = Sbuf + ((n + 1) % 3) * W;
        cost_row cr = cost_row_of(query, N, doc, M, n);
        for (size_t m = lo; m <= hi; m++) {
            size_t i = m - w0;
            double cost = cell_cost(&cr, m);
            if (n == 0) {
                D[i] = cost;
                S[i] = m;
                continue;
            }
            /* Columns left of the cone's row are outside the matrix here (m < 2 etc.). */
            double d21 = (n >= 2 && m >= 1) ? D2[i - 1] : INFINITY;
            double d12 = m >= 2 ? D1[i - 2] : INFINITY;
            double d11 = m >= 1 ? D1[i - 1] : INFINITY;
            int step = best_step(d21, d12, d11, cost, &D[i]);
            if (!isfinite(D[i]))
                S[i] = 0; /* unreachable: no predecessor to inherit from */
            else
                S[i] = step == 0 ? S2[i - 1] : step == 1 ? S1[i - 2] : S1[i - 1];
        }
        if (n == N - 1) start = S[end - w0];
    }
    free(Dbuf);
    free(Sbuf);
    return start;
}

/* ---- fast float32 scan ----
 * Every path into row n carries total weight n+1, so D[n,m] = (n+1) - S[n,m] where S is the
 * best weighted sum of similarities q_n . doc_m along the path: a max-plus recursion with no
 * 1 - x per cell. A one-hot query frame's similarity row is simply a row of the document.
 *
 * Row n needs rows n-1 (columns m-2, m-1) and n-2 (column m-1) only, so the document is cut
 * into tiles and, within a tile, groups of SDTW_GROUP rows sweep the columns together: each
 * row's newest vector stays in a register and the shifted views m-1, m-2 that the next row
 * needs are formed from it and its predecessor with a lane shift, so a row costs one load of
 * similarities and little memory traffic of its own; only the group's last two rows go to
 * memory. The rows of a group form a dependency chain within each vector step, so small
 * groups (2-3 rows, measured) keep the out-of-order window busy; larger ones are slower.
 * Each row's last two columns (the halo) carry over to the next tile, so the result is
 * bit-identical to the untiled recursion. All code paths do the same float operations in the
 * same order, so they agree bit for bit. */

#if defined(__AVX512F__)
#include <immintrin.h>
#define VW 16
#define SDTW_GROUP 3
typedef __m512 vf;
static inline vf v_load(const float *p) { return _mm512_load_ps(p); }
static inline void v_store(float *p, vf x) { _mm512_store_ps(p, x); }
static inline vf v_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf v_max(vf a, vf b) { return _mm512_max_ps(a, b); }
/* b + 2a in one rounding, the same as b + (a + a) since a + a is exact. */
static inline vf v_add_twice(vf a, vf b) { return _mm512_fmadd_ps(a, _mm512_set1_ps(2.0f), b); }
/* Columns j-s .. j+VW-1-s from the vectors holding columns j.. (cur) and j-VW.. (prev). */
static inline vf v_shift1(vf cur, vf prev) {
    return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(cur), _mm512_castps_si512(prev), 15));
}
static inline vf v_shift2(vf cur, vf prev) {
    return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(cur), _mm512_castps_si512(prev), 14));
}
#elif defined(__AVX2__)
#include <immintrin.h>
#define VW 8
#define SDTW_GROUP 2
typedef __m256 vf;
static inline vf v_load(const float *p) { return _mm256_load_ps(p); }
static inline void v_store(float *p, vf x) { _mm256_store_ps(p, x); }
static inline vf v_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf v_max(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline vf v_add_twice(vf a, vf b) { return _mm256_add_ps(_mm256_add_ps(a, a), b); }
/* alignr works within 128-bit lanes, so first pair each lane with its left neighbour. */
static inline vf v_shift1(vf cur, vf prev) {
    __m256 mid = _mm256_permute2f128_ps(prev, cur, 0x21);
    return _mm256_castsi256_ps(_mm256_alignr_epi8(_mm256_castps_si256(cur), _mm256_castps_si256(mid), 12));
}
static inline vf v_shift2(vf cur, vf prev) {
    __m256 mid = _mm256_permute2f128_ps(prev, cur, 0x21);
    return _mm256_castsi256_ps(_mm256_alignr_epi8(_mm256_castps_si256(cur), _mm256_castps_si256(mid), 8));
}
#else
#define VW 8
#define SDTW_GROUP 2
typedef struct {
    float x[VW];
} vf;
static inline vf v_load(const float *p) {
    vf r;
    memcpy(r.x, p, sizeof r.x);
    return r;
}
static inline void v_store(float *p, vf a) { memcpy(p, a.x, sizeof a.x); }
static inline vf v_add(vf a, vf b) {
    for (int i = 0; i < VW; i++) a.x[i] += b.x[i];
    return a;
}
static inline vf v_max(vf a, vf b) {
    for (int i = 0; i < VW; i++) a.x[i] = a.x[i] > b.x[i] ? a.x[i] : b.x[i];
    return a;
}
static inline vf v_add_twice(vf a, vf b) { return v_add(v_add(a, a), b); }
static inline vf v_shift1(vf cur, vf prev) {
    vf r;
    r.x[0] = prev.x[VW - 1];
    for (int i = 1; i < VW; i++) r.x[i] = cur.x[i - 1];
    return r;
}
static inline vf v_shift2(vf cur, vf prev) {
    vf r;
    r.x[0] = prev.x[VW - 2];
    r.x[1] = prev.x[VW - 1];
    for (int i = 2; i < VW; i++) r.x[i] = cur.x[i - 2];
    return r;
}
#endif

#ifndef SDTW_BLOCK
#define SDTW_BLOCK 4096 /* document frames per tile; a multiple of VW */
#endif
#define SDTW_ALIGN 64

/* A vector whose last two lanes are a row's halo (the two columns left of the tile). */
static inline vf halo_vec(const float *halo) {
    _Alignas(SDTW_ALIGN) float tmp[VW];
    for (int i = 0; i < VW - 2; i++) tmp[i] = -INFINITY;
    tmp[VW - 2] = halo[0];
    tmp[VW - 1] = halo[1];
    return v_load(tmp);
}

/* Rows g .. g+K-1 over the nvec vectors of one tile. in1/in2: rows g-1 and g-2 (with their
 * halos halo1/halo2), sim[k]: similarities of row g+k, halo: halos of rows g .. g+K-1;
 * halo_next receives their last two columns in this tile. The last two rows go to out1
 * (g+K-1) and out2 (g+K-2). Inlined with constant K so that the rows' vectors live in
 * registers. */
static inline __attribute__((always_inline)) void sweep_group(const int K, const float *const *sim,
                                                              const float *in1, const float *halo1,
                                                              const float *in2, const float *halo2,
                                                              const float *halo, float *halo_next,
                                                              float *out1, float *out2, size_t nvec) {
    vf prev1 = halo_vec(halo1), prev2 = halo_vec(halo2), prev[SDTW_GROUP];
    for (int k = 0; k < K; k++) prev[k] = halo_vec(halo + 2 * k);
    for (size_t v = 0; v < nvec; v++) {
        size_t j = v * VW;
        vf x1 = v_load(in1 + j), x2 = v_load(in2 + j);
        vf up1_m2 = v_shift2(x1, prev1), up1_m1 = v_shift1(x1, prev1), up2_m1 = v_shift1(x2, prev2);
        prev1 = x1;
        prev2 = x2;
        for (int k = 0; k < K; k++) {
            vf s = v_load(sim[k] + j);
            vf y = v_max(v_add_twice(s, up2_m1), v_add(v_max(up1_m2, up1_m1), s));
            up2_m1 = up1_m1;
            up1_m1 = v_shift1(y, prev[k]);
            up1_m2 = v_shift2(y, prev[k]);
            prev[k] = y;
        }
        v_store(out1 + j, prev[K - 1]);
        if (K >= 2) v_store(out2 + j, prev[K - 2]);
    }
    for (int k = 0; k < K; k++) {
        _Alignas(SDTW_ALIGN) float tmp[VW];
        v_store(tmp, prev[k]);
        halo_next[2 * k] = tmp[VW - 2];
        halo_next[2 * k + 1] = tmp[VW - 1];
    }
}

static void sweep(int K, const float *const *sim, const float *in1, const float *halo1, const float *in2,
                  const float *halo2, const float *halo, float *halo_next, float *out1, float *out2, size_t nvec) {
    switch (K) {
#define SWEEP_CASE(k)                                                                 \
    case k:                                                                           \
        sweep_group(k, sim, in1, halo1, in2, halo2, halo, halo_next, out1, out2, nvec); \
        break;
        SWEEP_CASE(1)
        SWEEP_CASE(2)
#if SDTW_GROUP > 2
        SWEEP_CASE(3)
#endif
#undef SWEEP_CASE
    }
}

/* Similarities of a frame that is neither one-hot nor zero, over one tile; the query
 * transposed up by `shift` semitones (its row c - shift meets document row c). */
static const float *general_sim(const float *query, size_t N, size_t n, int shift, const float *tile, size_t B,
                                size_t width, float *dst) {
    for (size_t j = 0; j < width; j++) dst[j] = 0.0f;
    for (int c = 0; c < 12; c++) {
        float q = query[(size_t)((c - shift + 12) % 12) * N + n];
        if (q != 0.0f)
            for (size_t j = 0; j < width; j++) dst[j] += q * tile[c * B + j];
    }
    return dst;
}

typedef struct {
    const float *query;
    size_t N;
    int shift;
    const int *kind;
    const float *tile, *zero_row;
    float *general; /* SDTW_GROUP + 1 rows for general frames */
    size_t B, width;
} sim_source;

/* Similarity row of query frame n in the current tile; a general frame is computed into
 * slot (one per row of a group, and one for row 0). A one-hot frame's row is a row of the
 * tile: for a transposed query, the row of its shifted pitch class (kind holds it). */
static const float *sim_row(const sim_source *src, size_t n, size_t slot) {
    int kind = src->kind[n];
    if (kind >= 0) return src->tile + (size_t)kind * src->B;
    if (kind == FRAME_ZERO) return src->zero_row;
    return general_sim(src->query, src->N, n, src->shift, src->tile, src->B, src->width,
                       src->general + slot * src->B);
}

/* Largest of x[j0 .. len-1] (x aligned, -inf where a row is unreachable). */
static float tile_max(const float *x, size_t j0, size_t len) {
    float m = -INFINITY;
    size_t j = j0;
    for (; j < len && j % VW; j++) m = x[j] > m ? x[j] : m;
    if (j + VW <= len) {
        vf acc = v_load(x + j);
        for (j += VW; j + VW <= len; j += VW) acc = v_max(acc, v_load(x + j));
        _Alignas(SDTW_ALIGN) float tmp[VW];
        v_store(tmp, acc);
        for (int i = 0; i < VW; i++) m = tmp[i] > m ? tmp[i] : m;
    }
    for (; j < len; j++) m = x[j] > m ? x[j] : m;
    return m;
}

/* What one query (variant) carries from tile to tile. */
typedef struct {
    const float *query;
    size_t N;
    int shift;
    int *kind;
    float *halo, *halo_next; /* halos of rows -1 .. N-1 (row n at 2 (n + 1)) */
    float best;
    size_t best_m;
    int active; /* 0: N > 2M - 1, no path through the document */
} scan_variant;

/* Several queries over the document columns [0, M) of a chroma-major array whose rows are ld
 * floats apart, tile by tile: each tile is copied once and every query sweeps it while it is
 * in cache, so the queries share the document's memory traffic. Each query's result is
 * bit-identical to scanning it alone. Ends before `first` are not reported (matching and the
 * minimum cover ends first .. M-1; matching[v][m - first]). */
static int sdtw_scan_core(const lm_sdtw_query *queries, size_t n_var, const float *doc, size_t M, size_t ld,
                          size_t first, lm_sdtw_result *res, float *const *matching) {
    if (M == 0 || n_var == 0) {
        lm_set_error("sdtw: empty query or document (%zu x %zu frames)", n_var ? queries[0].N : (size_t)0, M);
        return -1;
    }
    for (size_t v = 0; v < n_var; v++)
        if (queries[v].N == 0) {
            lm_set_error("sdtw: empty query or document (%zu x %zu frames)", queries[v].N, M);
            return -1;
        }
    const size_t pad = SDTW_ALIGN / sizeof(float);
    size_t n_active = 0, kinds_len = 0, halos_len = 0, n_general = 0;
    for (size_t v = 0; v < n_var; v++) {
        res[v].distance = INFINITY;
        res[v].start = res[v].end = 0;
        if (queries[v].N > 2 * M - 1) { /* even all (2,1) steps cannot cover the query */
            if (matching && matching[v])
                for (size_t m = first; m < M; m++) matching[v][m - first] = INFINITY;
            continue;
        }
        n_active++;
        kinds_len += queries[v].N;
        halos_len += 2 * ((2 * queries[v].N + 2 + pad - 1) / pad * pad);
    }
    if (n_active == 0) return 0;
    scan_variant *var = malloc(n_var * sizeof *var);
    int *kinds = malloc(kinds_len * sizeof *kinds);
    if (!var || !kinds) {
        free(var);
        free(kinds);
        lm_set_error("sdtw: out of memory");
        return -1;
    }
    int *kind_at = kinds;
    for (size_t v = 0; v < n_var; v++) {
        size_t N = queries[v].N;
        int shift = ((queries[v].shift % 12) + 12) % 12;
        var[v] = (scan_variant){.query = queries[v].query, .N = N, .shift = shift, .best = INFINITY,
                                .active = N <= 2 * M - 1};
        if (!var[v].active) continue;
        var[v].kind = kind_at;
        kind_at += N;
        for (size_t n = 0; n < N; n++) {
            int k = frame_kind(queries[v].query, N, n);
            n_general += k == FRAME_GENERAL;
            var[v].kind[n] = k >= 0 ? (k + shift) % 12 : k;
        }
    }
    /* Rows of B floats: the tile's 12 document rows (copied, so loads are aligned and the last
     * tile is zero-padded), a zero row for rests, a -inf row for row -1, four row buffers and
     * the similarities of general frames; then each query's halos of rows -1 .. N-1 from the
     * previous tile and for the next one. */
    size_t B = M < SDTW_BLOCK ? (M + pad - 1) / pad * pad : SDTW_BLOCK;
    size_t n_rows = 12 + 1 + 1 + 4 + (n_general ? SDTW_GROUP + 1 : 0);
    float *mem = aligned_alloc(SDTW_ALIGN, (n_rows * B + halos_len) * sizeof *mem);
    if (!mem) {
        free(var);
        free(kinds);
        lm_set_error("sdtw: out of memory");
        return -1;
    }
    float *tile = mem, *zero_row = mem + 12 * B, *neg_row = zero_row + B, *bufs = neg_row + B;
    float *halo_mem = mem + n_rows * B;
    for (size_t j = 0; j < B; j++) zero_row[j] = 0.0f, neg_row[j] = -INFINITY;
    for (size_t k = 0; k < halos_len; k++) halo_mem[k] = -INFINITY;
    for (size_t v = 0; v < n_var; v++) {
        if (!var[v].active) continue;
        size_t halo_len = (2 * var[v].N + 2 + pad - 1) / pad * pad;
        var[v].halo = halo_mem;
        var[v].halo_next = halo_mem + halo_len;
        halo_mem += 2 * halo_len;
    }
    sim_source src = {NULL, 0, 0, NULL, tile, zero_row, bufs + 4 * B, B, 0};

    for (size_t b0 = 0; b0 < M; b0 += B) {
        size_t len = M - b0 < B ? M - b0 : B, nvec = (len + VW - 1) / VW;
        src.width = nvec * VW;
        for (int c = 0; c < 12; c++) {
            memcpy(tile + c * B, doc + (size_t)c * ld + b0, len * sizeof *tile);
            for (size_t j = len; j < src.width; j++) tile[c * B + j] = 0.0f;
        }
        for (size_t v = 0; v < n_var; v++) {
            scan_variant *sv = &var[v];
            if (!sv->active) continue;
            size_t N = sv->N;
            src.query = sv->query;
            src.N = N;
            src.shift = sv->shift;
            src.kind = sv->kind;
            float *halo = sv->halo, *halo_next = sv->halo_next;
            /* Row 0 is its similarity row; each group then reads the two rows above it. */
            const float *row0 = sim_row(&src, 0, SDTW_GROUP);
            const float *in1 = row0, *in2 = neg_row;
            int flip = 0;
            for (size_t g = 1; g < N; g += SDTW_GROUP) {
                int K = N - g < SDTW_GROUP ? (int)(N - g) : SDTW_GROUP;
                const float *sims[SDTW_GROUP];
                for (int k = 0; k < K; k++) sims[k] = sim_row(&src, g + k, (size_t)k);
                float *out1 = bufs + 2 * (size_t)flip * B, *out2 = out1 + B;
                sweep(K, sims, in1, halo + 2 * g, in2, halo + 2 * (g - 1), halo + 2 * (g + 1),
                      halo_next + 2 * (g + 1), out1, out2, nvec);
                in1 = out1;
                in2 = out2;
                flip ^= 1;
            }
            if (b0 + len < M) { /* another tile follows (this one is full, len = B >= 2) */
                halo_next[2] = row0[len - 2];
                halo_next[3] = row0[len - 1];
                sv->halo = halo_next;
                sv->halo_next = halo;
            }
            /* in1 is row N-1 now: the matching function is (N - S) / N, which falls as S rises,
             * so the tile's smallest value is that of its largest S (a vector max), and the
             * first end holding it is looked for only when it beats the best so far. */
            const float fN = (float)N;
            float *mv = matching ? matching[v] : NULL;
            size_t j0 = first > b0 ? (first - b0 < len ? first - b0 : len) : 0;
            if (mv)
                for (size_t j = j0; j < len; j++) mv[b0 + j - first] = (fN - in1[j]) / fN;
            if (j0 < len) {
                float smax = tile_max(in1, j0, len);
                float tile_best = (fN - smax) / fN;
                if (tile_best < sv->best) {
                    size_t j = j0;
                    while (j + 1 < len && (fN - in1[j]) / fN != tile_best) j++;
                    sv->best = tile_best;
                    sv->best_m = b0 + j;
                }
            }
        }
    }
    for (size_t v = 0; v < n_var; v++)
        if (var[v].active && isfinite(var[v].best)) {
            res[v].distance = var[v].best;
            res[v].start = res[v].end = var[v].best_m;
        }
    free(var);
    free(kinds);
    free(mem);
    return 0;
}

static int sdtw_scan(const float *query, size_t N, const float *doc, size_t M, lm_sdtw_result *res,
                     float *matching) {
    if (N == 0 || M == 0) {
        lm_set_error("sdtw: empty query or document (%zu x %zu frames)", N, M);
        return -1;
    }
    lm_sdtw_query q = {query, N, 0};
    return sdtw_scan_core(&q, 1, doc, M, M, 0, res, matching ? &matching : NULL);
}

int lm_sdtw_scan(const float *query, size_t N, const float *doc, size_t M, lm_sdtw_result *res, float *matching) {
    return sdtw_scan(query, N, doc, M, res, matching);
}

int lm_sdtw_scan_multi(const lm_sdtw_query *queries, size_t n_queries, const float *doc, size_t M,
                       lm_sdtw_result *res, float *const *matching) {
    return sdtw_scan_core(queries, n_queries, doc, M, M, 0, res, matching);
}

int lm_sdtw_scan_range(const lm_sdtw_query *query, const float *doc, size_t M, size_t from, size_t to,
                       lm_sdtw_result *res, float *matching) {
    if (query->N == 0 || M == 0 || from >= to || to > M) {
        lm_set_error("sdtw: empty query, document or range (%zu x %zu frames, ends %zu-%zu)", query->N, M, from, to);
        return -1;
    }
    /* A path into end m starts at m - 2 (N - 1) or later, and every cell it passes through is
     * reached only from such cells: the slice from there holds the same values bit for bit. */
    size_t lead = 2 * (query->N - 1), a0 = from > lead ? from - lead : 0;
    int rc = sdtw_scan_core(query, 1, doc + a0, to - a0, M, from - a0, res, matching ? &matching : NULL);
    if (rc == 0 && isfinite(res->distance)) res->start = res->end = res->end + a0;
    return rc;
}

int lm_sdtw(const float *query, size_t N, const float *doc, size_t M, lm_sdtw_result *res, float *matching) {
    if (sdtw_scan(query, N, doc, M, res, matching) < 0) return -1;
    if (isfinite(res->distance)) res->start = lm_sdtw_start(query, N, doc, M, res->end);
    return 0;
}

/* ---- every end's start (occurrences) ---- */

int lm_sdtw_starts(const float *query, size_t N, const float *doc, size_t M, size_t *starts) {
    if (N == 0 || M == 0) {
        lm_set_error("sdtw: empty query or document (%zu x %zu frames)", N, M);
        return -1;
    }
    double *Dbuf = lm_malloc(3 * M, sizeof *Dbuf);
    size_t *Sbuf = lm_malloc(3 * M, sizeof *Sbuf);
    if (!Dbuf || !Sbuf) {
        free(Dbuf);
        free(Sbuf);
        return -1;
    }
    /* The recursion of lm_sdtw_full (same operations, so the same costs bit for bit), carrying
     * each cell's start column along the kept step as lm_sdtw_start does. */
    for (size_t n = 0; n < N; n++) {
        double *D = Dbuf + (n % 3) * M;
        size_t *S = Sbuf + (n % 3) * M;
        const double *D1 = Dbuf + ((n + 2) % 3) * M, *D2 = Dbuf + ((n + 1) % 3) * M;
        const size_t *S1 = Sbuf + ((n + 2) % 3) * M, *S2 = Sbuf + ((n + 1) % 3) * M;
        cost_row cr = cost_row_of(query, N, doc, M, n);
        for (size_t m = 0; m < M; m++) {
            double cost = cell_cost(&cr, m);
            if (n == 0) {
                D[m] = cost;
                S[m] = m;
                continue;
            }
            double d21 = (n >= 2 && m >= 1) ? D2[m - 1] : INFINITY;
            double d12 = m >= 2 ? D1[m - 2] : INFINITY;
            double d11 = m >= 1 ? D1[m - 1] : INFINITY;
            int step = best_step(d21, d12, d11, cost, &D[m]);
            if (!isfinite(D[m])) S[m] = SIZE_MAX;
            else S[m] = step == 0 ? S2[m - 1] : step == 1 ? S1[m - 2] : S1[m - 1];
        }
    }
    const size_t *S = Sbuf + ((N - 1) % 3) * M;
    memcpy(starts, S, M * sizeof *starts);
    free(Dbuf);
    free(Sbuf);
    return 0;
}

/* ---- reduced frame rate (the coarse pass of --transpose any / --duration auto) ---- */

size_t lm_chroma_downsample(const float *x, size_t M, size_t r, float *out) {
    size_t Mc = (M + r - 1) / r, full = M / r;
    /* Sums of each block row by row, then the blocks' norms across the rows: loops along the
     * frames, which the compiler vectorises (the scan is fast enough for this to matter). */
    for (int c = 0; c < 12; c++) {
        const float *row = x + (size_t)c * M;
        float *o = out + (size_t)c * Mc;
        if (r == 4) {
            for (size_t j = 0; j < full; j++) o[j] = (row[4 * j] + row[4 * j + 1]) + (row[4 * j + 2] + row[4 * j + 3]);
        } else {
            for (size_t j = 0; j < full; j++) {
                float s = 0.0f;
                for (size_t k = 0; k < r; k++) s += row[j * r + k];
                o[j] = s;
            }
        }
        if (full < Mc) {
            float s = 0.0f;
            for (size_t m = full * r; m < M; m++) s += row[m];
            o[full] = s;
        }
    }
    float *norm = malloc(Mc * sizeof *norm);
    if (norm) {
        for (size_t j = 0; j < Mc; j++) norm[j] = 0.0f;
        for (int c = 0; c < 12; c++) {
            const float *o = out + (size_t)c * Mc;
            for (size_t j = 0; j < Mc; j++) norm[j] += o[j] * o[j];
        }
        for (size_t j = 0; j < Mc; j++) norm[j] = norm[j] > 0.0f ? 1.0f / sqrtf(norm[j]) : 0.0f;
        for (int c = 0; c < 12; c++) {
            float *o = out + (size_t)c * Mc;
            for (size_t j = 0; j < Mc; j++) o[j] *= norm[j];
        }
        free(norm);
    } else { /* out of memory: the same frame by frame */
        for (size_t j = 0; j < Mc; j++) {
            float n2 = 0.0f;
            for (int c = 0; c < 12; c++) n2 += out[(size_t)c * Mc + j] * out[(size_t)c * Mc + j];
            float inv = n2 > 0.0f ? 1.0f / sqrtf(n2) : 0.0f;
            for (int c = 0; c < 12; c++) out[(size_t)c * Mc + j] *= inv;
        }
    }
    return Mc;
}

float *lm_query_downsample(const float *q, size_t N, size_t r, size_t *Nc_out) {
    size_t Nc = (N + r - 1) / r;
    float *out = lm_calloc(12 * Nc, sizeof *out);
    if (!out) return NULL;
    int binary = 1;
    for (size_t n = 0; n < N && binary; n++) binary = frame_kind(q, N, n) != FRAME_GENERAL;
    if (!binary) {
        lm_chroma_downsample(q, N, r, out);
    } else {
        for (size_t j = 0; j < Nc; j++) {
            size_t a = j * r, b = a + r < N ? a + r : N;
            int count[13] = {0}; /* 12: rest */
            for (size_t n = a; n < b; n++) {
                int k = frame_kind(q, N, n);
                count[k >= 0 ? k : 12]++;
            }
            int best = -1, best_count = 0; /* the class holding most frames; ties: the earliest */
            for (size_t n = a; n < b; n++) {
                int k = frame_kind(q, N, n), i = k >= 0 ? k : 12;
                if (count[i] > best_count) best = i, best_count = count[i];
            }
            if (best >= 0 && best < 12) out[(size_t)best * Nc + j] = 1.0f;
        }
    }
    *Nc_out = Nc;
    return out;
}
