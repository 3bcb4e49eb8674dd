/* Subsequence DTW as in ../shared/reference/sdtw/README.md: cosine distance,
 * steps (2,1),(1,2),(1,1) with weights 2,1,1 on the query axis, free start and end in
 * the document, matching function D[N-1,m]/N. */
#ifndef LM_MATCH_SDTW_H
#define LM_MATCH_SDTW_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    float distance;   /* min of the matching function */
    size_t start;     /* first document frame of the match (backtracked) */
    size_t end;       /* last document frame of the match (argmin) */
} lm_sdtw_result;

/* query: 12 x N, doc: 12 x M, both chroma-major, frames l2-normalised.
 * matching (optional, M floats) receives the matching function.
 * Returns 0, or -1 if N or M is 0. If N is too long for any path through the document
 * (N > 2M - 1), distance is +INFINITY and start = end = 0.
 * Single-threaded and thread-safe: callers parallelise over documents. */
int lm_sdtw(const float *query, size_t N, const float *doc, size_t M, lm_sdtw_result *res, float *matching);
/* lm_sdtw without the start frame (res->start is set to res->end): the cheap pass for
 * ranking many documents. Backtracking costs about 0.75 N^2 double-precision cells per
 * document, as much as the whole scan of a short document, so find the start only for the
 * matches that are reported, with lm_sdtw_start. */
int lm_sdtw_scan(const float *query, size_t N, const float *doc, size_t M, lm_sdtw_result *res, float *matching);
/* lm_sdtw_scan over a document of a compact database (docs/database.md, "Precision"): 12 x M
 * bytes, chroma-major, feature value = byte x scale. The similarities are formed in float32
 * from the dequantised values, so the result equals lm_sdtw_scan of the dequantised document
 * bit for bit, and differs from the float32 original's by at most the largest change of one
 * cell's cost: for features off by at most e = scale / 2 (rounding), e for a one-hot or zero
 * query frame and e x ||q||_1 <= e sqrt(12) for a general l2-normalised one, since every path's
 * weights add up to N (plus float rounding). */
int lm_sdtw_scan_u8(const float *query, size_t N, const uint8_t *doc, size_t M, float scale, lm_sdtw_result *res,
                    float *matching);
/* Start frame of the path that librosa's backtracking finds from (N-1, end); identical to
 * lm_sdtw_full's start for that end. Costs about 0.75 N^2 cells and O(N) memory. Returns 0
 * for an unreachable end (or when out of memory). */
size_t lm_sdtw_start(const float *query, size_t N, const float *doc, size_t M, size_t end);
/* A query for the multi-query scans: 12 x N, matched as if transposed up by `shift`
 * semitones (row k meets document row (k + shift) mod 12; any integer, taken mod 12). For a
 * binary query (one-hot frames and rests) the shift costs nothing: the cost matrix of a shift
 * is a row permutation of the document. */
typedef struct {
    const float *query;
    size_t N;
    int shift;
} lm_sdtw_query;

/* lm_sdtw_scan of several queries over one document in one pass: each tile of the document is
 * loaded once and swept by every query while it is in cache (the queries share the document's
 * memory traffic). res[v] and matching[v] (matching and any matching[v] may be NULL) are
 * bit-identical to lm_sdtw_scan of query v (transposed) alone. Returns -1 if M or any N is 0. */
int lm_sdtw_scan_multi(const lm_sdtw_query *queries, size_t n_queries, const float *doc, size_t M,
                       lm_sdtw_result *res, float *const *matching);
/* The matching function for the ends from .. to-1 only (matching, optional: to - from floats),
 * bit-identical to lm_sdtw_scan's there, and its minimum over them (res->end absolute); scans
 * the columns from - 2 (N - 1) .. to - 1. */
int lm_sdtw_scan_range(const lm_sdtw_query *query, const float *doc, size_t M, size_t from, size_t to,
                       lm_sdtw_result *res, float *matching);
/* lm_sdtw_scan_multi of binary queries (one-hot frames and rests) over a compact document, on
 * 16-bit integers: a path's similarity is a sum of the document's bytes, exact, times scale at
 * the end, so a result differs from lm_sdtw_scan_u8's (which sums float32 products) by float
 * rounding only. For the coarse pass, where that is far below its margin. Returns 1, computing
 * nothing, when a query is not binary or longer than LM_SDTW_INT_MAX_N frames (the sum could
 * overflow 16 bits): use the float scan then. -1 if M is 0 or out of memory. */
#define LM_SDTW_INT_MAX_N 127
int lm_sdtw_scan_u8_int(const lm_sdtw_query *queries, size_t n_queries, const uint8_t *doc, size_t M, float scale,
                        lm_sdtw_result *res, float *const *matching);
/* The same, and (samples, optional; step > 0) the matching function at the ends step/2,
 * step/2 + step, ... < M only: samples[v] receives ceil((M - step/2) / step) floats, equal to
 * matching[v] there (a summary of the whole function without writing all of it). */
int lm_sdtw_scan_u8_int_sampled(const lm_sdtw_query *queries, size_t n_queries, const uint8_t *doc, size_t M,
                                float scale, lm_sdtw_result *res, float *const *matching, size_t step,
                                float *const *samples);
/* Start frame of the best path into every end: starts[m] (M entries) is what lm_sdtw_start
 * gives for end m, SIZE_MAX where no path ends (m < N/2). One O(N M) double-precision pass with
 * O(M) memory; for listing all occurrences in a document. */
int lm_sdtw_starts(const float *query, size_t N, const float *doc, size_t M, size_t *starts);

/* Reduced frame rate for a coarse pass: a document's frames averaged over blocks of r (the
 * last block may be shorter) and l2-normalised (silent blocks stay zero); out receives
 * 12 x ceil(M/r) floats and the number of frames is returned. */
size_t lm_chroma_downsample(const float *x, size_t M, size_t r, float *out);
/* The same from 12 x M bytes of a compact document (the scale does not matter: normalised). */
size_t lm_chroma_downsample_u8(const uint8_t *x, size_t M, size_t r, float *out);
/* The same for M frames of rows `stride` apart (x: a document's frame j0 when its rows hold
 * stride frames, for the frames j0 .. j0 + M - 1; j0 a multiple of r gives the whole document's
 * coarse frames j0/r .. exactly). */
size_t lm_chroma_downsample_rows(const float *x, size_t stride, size_t M, size_t r, float *out);
size_t lm_chroma_downsample_u8_rows(const uint8_t *x, size_t stride, size_t M, size_t r, float *out);
/* lm_chroma_downsample_u8_rows's features (r from 2 to 4) as bytes, equal bit for bit to
 * lm_quantise_u8(its floats, 12 x Mc, scale) (index/db.h), without the floats: out 12 x Mc
 * bytes. Returns Mc = (M + r - 1) / r. */
size_t lm_chroma_downsample_u8_bytes(const uint8_t *x, size_t stride, size_t M, size_t r, float scale, uint8_t *out);
/* Bytes of coarse features (12 x M, l2-normalised frames at 1/255 per step) at half their frame
 * rate: frames 2j and 2j + 1 summed, normalised again, as bytes (12 x (M + 1) / 2 into out).
 * tmp: 12 x (M + 1) / 2 uint16 and (M + 1) / 2 floats of scratch. Returns (M + 1) / 2. */
size_t lm_coarsen_pairs_u8(const uint8_t *x, size_t M, uint8_t *out, uint16_t *tmp, float *norm);
/* A query at 1/r of its frame rate, 12 x *Nc (malloc'd): a binary query (one-hot frames and
 * rests) stays binary, each block of r frames becoming the pitch class or rest that holds
 * most of its frames (ties: the first to appear); other queries are averaged as documents. */
float *lm_query_downsample(const float *query, size_t N, size_t r, size_t *Nc);
/* Reference version for tests: full accumulated-cost matrix (N x M, double; may be NULL,
 * then it is allocated internally). */
int lm_sdtw_full(const float *query, size_t N, const float *doc, size_t M, double *accum, lm_sdtw_result *res);
#endif
