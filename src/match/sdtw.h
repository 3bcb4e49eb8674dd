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
 * Returns 0, or -1 if N or M is 0. If N is too long for any path through the document,
 * distance is +INFINITY. */
int lm_sdtw(const float *query, size_t N, const float *doc, size_t M, lm_sdtw_result *res, float *matching);
/* Reference version for tests: full accumulated-cost matrix (N x M, double). */
int lm_sdtw_full(const float *query, size_t N, const float *doc, size_t M, double *accum, lm_sdtw_result *res);
#endif
