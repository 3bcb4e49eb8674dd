/* Ranking the documents of a database for a query chroma sequence (subsequence DTW). */
#ifndef LM_INDEX_SEARCH_H
#define LM_INDEX_SEARCH_H
#include <stddef.h>

#include "index/db.h"

typedef struct {
    size_t doc;     /* index into db->docs */
    float distance; /* +INFINITY when the document is too short for the query */
    size_t start;   /* first / last matched document frame (start only after lm_search_locate) */
    size_t end;
} lm_match;

/* Distance of the 12 x N query to every document; out[k] is document k. parallel != 0
 * spreads the documents over the OpenMP threads, else all run on the calling thread
 * (for callers that parallelise over queries). Match starts are not computed. */
int lm_search_all(const lm_db *db, const float *query, size_t N, lm_match *out, int parallel);
/* Sorts by distance (infinite last); equal distances keep document order. */
void lm_match_sort(lm_match *m, size_t n);
/* Fills in the start frame of the first n matches (backtracking; parallel over matches). */
void lm_search_locate(const lm_db *db, const float *query, size_t N, lm_match *m, size_t n);
#endif
