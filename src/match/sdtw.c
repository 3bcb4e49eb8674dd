#include "match/sdtw.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/dispatch.h"
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

/* The tiles, the row groups and their vector code are in src/match/sdtw_kernel.h. The portable
 * build (LM_DISPATCH, src/common/dispatch.h) compiles it three times, for AVX-512 (x86-64-v4),
 * AVX2 (x86-64-v3) and baseline x86-64, and sdtw_scan_core calls the one for the CPU; a
 * -march=native build (or one without LM_DISPATCH) compiles it once, for the build's target.
 * Since all paths agree bit for bit, so do the builds. */
#ifndef SDTW_BLOCK
#define SDTW_BLOCK 4096 /* document frames per tile; a multiple of VW */
#endif
#define SDTW_ALIGN 64

typedef struct {
    const float *query;
    size_t N;
    int shift;
    const int *kind;
    const float *tile, *zero_row;
    float *general; /* SDTW_GROUP + 1 rows for general frames */
    size_t B, width;
} sim_source;

/* A document's chroma-major features: float32 (f), or bytes that are multiplied by scale (u8,
 * a compact database; docs/database.md). The kernel reads either into its float tile, so a
 * compact document costs a quarter of the memory traffic and the same arithmetic after that. */
typedef struct {
    const float *f;
    const uint8_t *u8;
    float scale;
} doc_src;

static doc_src doc_f32(const float *doc) { return (doc_src){doc, NULL, 0.0f}; }

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

#ifdef LM_DISPATCH
#include <immintrin.h>
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v4")
#define SDTW_ISA avx512
#include "match/sdtw_kernel.h"
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v3")
#define SDTW_ISA avx2
#include "match/sdtw_kernel.h"
#pragma GCC pop_options
#define SDTW_ISA base
#include "match/sdtw_kernel.h"

static int sdtw_scan_core(const lm_sdtw_query *queries, size_t n_var, doc_src doc, size_t M, size_t ld,
                          size_t first, lm_sdtw_result *res, float *const *matching) {
    int level = lm_isa_level();
    if (level >= 4) return sdtw_scan_core_avx512(queries, n_var, doc, M, ld, first, res, matching);
    if (level >= 3) return sdtw_scan_core_avx2(queries, n_var, doc, M, ld, first, res, matching);
    return sdtw_scan_core_base(queries, n_var, doc, M, ld, first, res, matching);
}
#else
#define SDTW_ISA native
#include "match/sdtw_kernel.h"
#define sdtw_scan_core sdtw_scan_core_native
#endif

static int sdtw_scan(const float *query, size_t N, doc_src doc, size_t M, lm_sdtw_result *res, float *matching) {
    if (N == 0 || M == 0) {
        lm_set_error("sdtw: empty query or document (%zu x %zu frames)", N, M);
        return -1;
    }
    lm_sdtw_query q = {query, N, 0};
    return sdtw_scan_core(&q, 1, doc, M, M, 0, res, matching ? &matching : NULL);
}

int lm_sdtw_scan(const float *query, size_t N, const float *doc, size_t M, lm_sdtw_result *res, float *matching) {
    return sdtw_scan(query, N, doc_f32(doc), M, res, matching);
}

int lm_sdtw_scan_u8(const float *query, size_t N, const uint8_t *doc, size_t M, float scale, lm_sdtw_result *res,
                    float *matching) {
    return sdtw_scan(query, N, (doc_src){NULL, doc, scale}, M, res, matching);
}

int lm_sdtw_scan_multi(const lm_sdtw_query *queries, size_t n_queries, const float *doc, size_t M,
                       lm_sdtw_result *res, float *const *matching) {
    return sdtw_scan_core(queries, n_queries, doc_f32(doc), M, M, 0, res, matching);
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
    int rc = sdtw_scan_core(query, 1, doc_f32(doc + a0), to - a0, M, from - a0, res, matching ? &matching : NULL);
    if (rc == 0 && isfinite(res->distance)) res->start = res->end = res->end + a0;
    return rc;
}

int lm_sdtw(const float *query, size_t N, const float *doc, size_t M, lm_sdtw_result *res, float *matching) {
    if (sdtw_scan(query, N, doc_f32(doc), M, res, matching) < 0) return -1;
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

/* l2-normalises the Mc frames of out (12 x Mc, chroma-major); silent frames stay zero. */
/* Inlined into its LM_HOT callers, so that it is vectorised for their targets too. */
static inline __attribute__((always_inline)) void normalise_blocks(float *out, size_t Mc) {
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
}

size_t lm_chroma_downsample(const float *x, size_t M, size_t r, float *out) {
    return lm_chroma_downsample_rows(x, M, M, r, out);
}

LM_HOT size_t lm_chroma_downsample_rows(const float *x, size_t stride, size_t M, size_t r, float *out) {
    size_t Mc = (M + r - 1) / r, full = M / r;
    /* Sums of each block row by row, then the blocks' norms across the rows: loops along the
     * frames, which the compiler vectorises (the scan is fast enough for this to matter). */
    for (int c = 0; c < 12; c++) {
        const float *row = x + (size_t)c * stride;
        float *o = out + (size_t)c * Mc;
        if (r == 4) {
            for (size_t j = 0; j < full; j++) o[j] = (row[4 * j] + row[4 * j + 1]) + (row[4 * j + 2] + row[4 * j + 3]);
        } else if (r == 2) {
            for (size_t j = 0; j < full; j++) o[j] = row[2 * j] + row[2 * j + 1];
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
    normalise_blocks(out, Mc);
    return Mc;
}

/* The same from a compact document's bytes: integer block sums (exact), whose common scale the
 * normalisation removes; so the coarse pass never needs a float copy of the document. */
size_t lm_chroma_downsample_u8(const uint8_t *x, size_t M, size_t r, float *out) {
    return lm_chroma_downsample_u8_rows(x, M, M, r, out);
}

LM_HOT size_t lm_chroma_downsample_u8_rows(const uint8_t *x, size_t stride, size_t M, size_t r, float *out) {
    size_t Mc = (M + r - 1) / r, full = M / r;
    for (int c = 0; c < 12; c++) {
        const uint8_t *row = x + (size_t)c * stride;
        float *o = out + (size_t)c * Mc;
        if (r == 4) { /* the usual factors: loops the compiler vectorises */
            for (size_t j = 0; j < full; j++)
                o[j] = (float)((unsigned)row[4 * j] + row[4 * j + 1] + row[4 * j + 2] + row[4 * j + 3]);
        } else if (r == 2) {
            for (size_t j = 0; j < full; j++) o[j] = (float)((unsigned)row[2 * j] + row[2 * j + 1]);
        } else {
            for (size_t j = 0; j < full; j++) {
                unsigned s = 0;
                for (size_t k = 0; k < r; k++) s += row[j * r + k];
                o[j] = (float)s;
            }
        }
        if (full < Mc) {
            unsigned s = 0;
            for (size_t m = full * r; m < M; m++) s += row[m];
            o[full] = (float)s;
        }
    }
    normalise_blocks(out, Mc);
    return Mc;
}

/* As lm_quantise_u8 of lm_chroma_downsample_u8_rows's floats, bit for bit, without the float
 * arrays (that path took 59 % of a search whose first pass is at 2x, perf). Bit for bit
 * because every float operation is the float path's own, in its order: the block sums are
 * integers and so are their squares' sums, below 2^24 for r <= 4, hence exact in float in any
 * order; then 1 / sqrt, the two products and the rounding. The clamps to [0, 255] are left out:
 * the values are >= +0, and a product just above 255 rounds to 255 anyway. Blocks of 64 frames,
 * so that the sums stay in the first-level cache between the loops (which vectorise). */
#define BYTES_BLOCK 64
#define BYTES_AHEAD 1024
LM_HOT size_t lm_chroma_downsample_u8_bytes(const uint8_t *x, size_t stride, size_t M, size_t r, float scale,
                                            uint8_t *out) {
    const size_t Mc = (M + r - 1) / r, full = M / r;
    const float inv = 1.0f / scale;
    uint16_t t[12][BYTES_BLOCK];
    float nrm[BYTES_BLOCK];
    for (size_t j0 = 0; j0 < Mc; j0 += BYTES_BLOCK) {
        const size_t nj = Mc - j0 < BYTES_BLOCK ? Mc - j0 : BYTES_BLOCK, nf = full > j0 ? (full - j0 < nj ? full - j0 : nj) : 0;
        for (size_t j = 0; j < nj; j++) nrm[j] = 0.0f;
        for (int c = 0; c < 12; c++) {
            const uint8_t *row = x + (size_t)c * stride + j0 * r;
            uint16_t *tc = t[c];
            /* twelve streams of bytes from memory at once: ask for them a few blocks ahead */
            for (size_t ahead = BYTES_AHEAD; ahead < BYTES_AHEAD + BYTES_BLOCK * r; ahead += 64)
                if (j0 * r + ahead < M) __builtin_prefetch(row + ahead);
            /* a block's bytes as one 16- or 32-bit word added up by masks and shifts, not
             * every r-th byte (those shuffles ran at a third of the speed) */
            if (r == 2) {
                for (size_t j = 0; j < nf; j++) {
                    uint16_t w;
                    memcpy(&w, row + 2 * j, sizeof w);
                    tc[j] = (uint16_t)((w & 0xffu) + (w >> 8));
                }
            } else if (r == 4) {
                for (size_t j = 0; j < nf; j++) {
                    uint32_t w;
                    memcpy(&w, row + 4 * j, sizeof w);
                    w = (w & 0x00ff00ffu) + ((w >> 8) & 0x00ff00ffu);
                    tc[j] = (uint16_t)((w & 0xffffu) + (w >> 16));
                }
            } else {
                for (size_t j = 0; j < nf; j++) {
                    unsigned v = 0;
                    for (size_t k = 0; k < r; k++) v += row[j * r + k];
                    tc[j] = (uint16_t)v;
                }
            }
            if (nf < nj) { /* the last, partial block of frames */
                unsigned v = 0;
                for (size_t m = full * r; m < M; m++) v += x[(size_t)c * stride + m];
                tc[nf] = (uint16_t)v;
            }
            for (size_t j = 0; j < nj; j++) nrm[j] += (float)tc[j] * (float)tc[j];
        }
        for (size_t j = 0; j < nj; j++) nrm[j] = nrm[j] > 0.0f ? 1.0f / sqrtf(nrm[j]) : 0.0f;
        for (int c = 0; c < 12; c++) {
            uint8_t *o = out + (size_t)c * Mc + j0;
            for (size_t j = 0; j < nj; j++) o[j] = (uint8_t)(int)(((float)t[c][j] * nrm[j] * inv + 0x1p23f) - 0x1p23f);
        }
    }
    return Mc;
}

/* In three loops over the frames that vectorise (the pair sums, their squares, the scaling):
 * deriving 8x features this way per query costs a small part of their scan; through floats
 * (lm_chroma_downsample_u8_rows, lm_quantise_u8) it cost more than the scan (perf). */
LM_HOT size_t lm_coarsen_pairs_u8(const uint8_t *x, size_t M, uint8_t *out, uint16_t *tmp, float *norm) {
    size_t M2 = (M + 1) / 2, full = M / 2;
    for (size_t j = 0; j < M2; j++) norm[j] = 0.0f;
    for (int c = 0; c < 12; c++) {
        const uint8_t *row = x + (size_t)c * M;
        uint16_t *t = tmp + (size_t)c * M2;
        for (size_t j = 0; j < full; j++) t[j] = (uint16_t)(row[2 * j] + row[2 * j + 1]);
        if (full < M2) t[full] = row[M - 1];
        for (size_t j = 0; j < M2; j++) norm[j] += (float)t[j] * (float)t[j];
    }
    for (size_t j = 0; j < M2; j++) norm[j] = norm[j] > 0.0f ? 255.0f / sqrtf(norm[j]) : 0.0f;
    for (int c = 0; c < 12; c++) {
        const uint16_t *t = tmp + (size_t)c * M2;
        uint8_t *o = out + (size_t)c * M2;
        for (size_t j = 0; j < M2; j++) {
            float v = (float)t[j] * norm[j];
            v = v < 255.0f ? v : 255.0f;
            o[j] = (uint8_t)(int)((v + 0x1p23f) - 0x1p23f);
        }
    }
    return M2;
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

/* ---- 16-bit scan of compact coarse features (the first pass of a pruned search) ----
 * For a binary query the similarity of a cell is a byte of the document (or 0 for a rest), so
 * the max-plus recursion of the float scan runs on integers: S counts bytes, exactly, and
 * every path into row N-1 has total weight N, so S <= 255 N. With N <= LM_SDTW_INT_MAX_N that
 * fits int16, and a cell no path reaches (the sentinel INT16_MIN plus at most 255 N) stays
 * below every reachable one (>= 0). Twice the lanes of float32 per vector. */

/* Row n from rows n-1 (up1) and n-2 (up2), whose two columns before m = 0 hold the sentinel. */
LM_HOT static void int_row(const int16_t *restrict up1, const int16_t *restrict up2, const uint8_t *restrict s,
                           int16_t *restrict out, size_t M) {
    /* int16 throughout (the bounds above rule out overflow), so that it vectorises at 16 bits.
     * The columns m-1 and m-2 through pointers moved back once: up1[m - 2] with m = 0 would add
     * a wrapped size_t to the pointer (undefined; UBSan's pointer-overflow check caught it). */
    const int16_t *restrict up1_m1 = up1 - 1, *restrict up1_m2 = up1 - 2, *restrict up2_m1 = up2 - 1;
    for (size_t m = 0; m < M; m++) {
        int16_t sim = s[m];
        int16_t diag2 = (int16_t)(up2_m1[m] + (int16_t)(sim + sim));
        int16_t left = up1_m2[m] > up1_m1[m] ? up1_m2[m] : up1_m1[m];
        int16_t step1 = (int16_t)(left + sim);
        out[m] = diag2 > step1 ? diag2 : step1;
    }
}

/* Largest of x[0 .. M-1] (M >= 1) and the first place that holds it, vectorised: the max, then
 * the first block of 32 that holds it, then the place in that block. */
LM_HOT static size_t int_argmax(const int16_t *restrict x, size_t M) {
    int16_t best = INT16_MIN;
    for (size_t m = 0; m < M; m++) best = x[m] > best ? x[m] : best;
    size_t b = 0;
    for (; b + 32 <= M; b += 32) {
        int hit = 0;
        for (size_t j = 0; j < 32; j++) hit |= x[b + j] == best;
        if (hit) break;
    }
    while (x[b] != best) b++;
    return b;
}

/* The matching function (N - scale S) / N = 1 - S (scale / N) of a row; +inf where unreachable. */
LM_HOT static void int_matching(const int16_t *restrict x, size_t M, float k, float *restrict out) {
    for (size_t m = 0; m < M; m++) out[m] = x[m] >= 0 ? 1.0f - (float)x[m] * k : INFINITY;
}

int lm_sdtw_scan_u8_int(const lm_sdtw_query *queries, size_t n_queries, const uint8_t *doc, size_t M, float scale,
                        lm_sdtw_result *res, float *const *matching) {
    return lm_sdtw_scan_u8_int_sampled(queries, n_queries, doc, M, scale, res, matching, 0, NULL);
}

int lm_sdtw_scan_u8_int_sampled(const lm_sdtw_query *queries, size_t n_queries, const uint8_t *doc, size_t M,
                                float scale, lm_sdtw_result *res, float *const *matching, size_t step,
                                float *const *samples) {
    /* Each query's frame kinds, once per distinct query (the variants of a search in all keys
     * share one; they are looked at for every recording) */
    int *kinds = malloc((n_queries ? n_queries : 1) * LM_SDTW_INT_MAX_N * sizeof *kinds);
    if (!kinds) {
        lm_set_error("sdtw: out of memory");
        return -1;
    }
    for (size_t v = 0; v < n_queries; v++) {
        int *kind = kinds + v * LM_SDTW_INT_MAX_N;
        size_t N = queries[v].N;
        if (N == 0 || N > LM_SDTW_INT_MAX_N) {
            free(kinds);
            return 1;
        }
        if (v > 0 && queries[v].query == queries[v - 1].query && N == queries[v - 1].N) {
            memcpy(kind, kind - LM_SDTW_INT_MAX_N, N * sizeof *kind);
            continue;
        }
        for (size_t n = 0; n < N; n++)
            if ((kind[n] = frame_kind(queries[v].query, N, n)) == FRAME_GENERAL) {
                free(kinds);
                return 1;
            }
    }
    if (M == 0) {
        free(kinds);
        lm_set_error("sdtw: empty query or document (%zu x %zu frames)", n_queries ? queries[0].N : (size_t)0, M);
        return -1;
    }
    /* Rows of Mp >= M columns, a multiple of the widest vector loop's 64: the compiler's scalar
     * tail of up to 63 columns took up to 40 % of a row's time at 4x and 8x (a few hundred
     * columns). Columns M.. feed no column before them (paths only move right), so they are
     * computed from whatever follows a chroma row (the next row) and ignored; the rows that
     * Mp columns would read past the document's end read a zero-padded copy instead. */
    const size_t Mp = (M + 63) / 64 * 64, W = Mp + 2; /* a row: two sentinel columns, then Mp */
    int16_t *rows = malloc(3 * W * sizeof *rows);
    uint8_t *zero = calloc(Mp, 1), *padded = Mp > M ? malloc(12 * Mp) : NULL;
    const uint8_t *chroma_row[12];
    if (!rows || !zero || (Mp > M && !padded)) {
        free(rows);
        free(zero);
        free(padded);
        free(kinds);
        lm_set_error("sdtw: out of memory");
        return -1;
    }
    for (int b = 0; b < 3; b++) rows[b * W] = rows[b * W + 1] = INT16_MIN;
    for (int c = 0; c < 12; c++) {
        chroma_row[c] = doc + (size_t)c * M;
        if ((size_t)c * M + Mp > 12 * M) {
            memcpy(padded + (size_t)c * Mp, chroma_row[c], M);
            memset(padded + (size_t)c * Mp + M, 0, Mp - M);
            chroma_row[c] = padded + (size_t)c * Mp;
        }
    }
    for (size_t v = 0; v < n_queries; v++) {
        size_t N = queries[v].N;
        int shift = ((queries[v].shift % 12) + 12) % 12;
        float *mv = matching ? matching[v] : NULL;
        res[v] = (lm_sdtw_result){INFINITY, 0, 0};
        if (N > 2 * M - 1) {
            if (mv)
                for (size_t m = 0; m < M; m++) mv[m] = INFINITY;
            continue;
        }
        const int *kind = kinds + v * LM_SDTW_INT_MAX_N;
        /* rows -1 (r1 at first: sentinels only), 0, 1, ... rotate through the three buffers */
        int16_t *r2 = rows + 2, *r1 = rows + W + 2, *r0 = rows + 2 * W + 2;
        for (size_t m = 0; m < Mp; m++) r1[m] = INT16_MIN;
        for (size_t n = 0; n < N; n++) {
            const uint8_t *s = kind[n] >= 0 ? chroma_row[(kind[n] + shift) % 12] : zero;
            if (n == 0)
                for (size_t m = 0; m < Mp; m++) r0[m] = (int16_t)s[m];
            else
                int_row(r1, r2, s, r0, Mp);
            int16_t *t = r2;
            r2 = r1, r1 = r0, r0 = t;
        }
        /* r1 is row N-1: the matching function is 1 - S (scale / N); its first minimum */
        const float k = scale / (float)N;
        size_t end = int_argmax(r1, M);
        if (mv) int_matching(r1, M, k, mv);
        if (samples && samples[v] && step > 0) /* as int_matching computes them */
            for (size_t m = step / 2, i = 0; m < M; m += step, i++)
                samples[v][i] = r1[m] >= 0 ? 1.0f - (float)r1[m] * k : INFINITY;
        if (r1[end] >= 0) res[v] = (lm_sdtw_result){1.0f - (float)r1[end] * k, end, end};
    }
    free(rows);
    free(zero);
    free(padded);
    free(kinds);
    return 0;
}
