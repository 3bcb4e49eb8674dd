/* Subsequence DTW as in ../shared/reference/sdtw/README.md: cosine distance,
 * steps (2,1),(1,2),(1,1) with weights 2,1,1 on the query axis, free start and end in
 * the document, matching function D[N-1,m]/N. */
#ifndef LM_MATCH_SDTW_H
#define LM_MATCH_SDTW_H
#include <stddef.h>

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
/* Start frame of the path that librosa's backtracking finds from (N-1, end); identical to
 * lm_sdtw_full's start for that end. Costs about 0.75 N^2 cells and O(N) memory. Returns 0
 * for an unreachable end (or when out of memory). */
size_t lm_sdtw_start(const float *query, size_t N, const float *doc, size_t M, size_t end);
/* Reference version for tests: full accumulated-cost matrix (N x M, double; may be NULL,
 * then it is allocated internally). */
int lm_sdtw_full(const float *query, size_t N, const float *doc, size_t M, double *accum, lm_sdtw_result *res);
#endif
