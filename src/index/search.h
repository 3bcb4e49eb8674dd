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

/* ---- fusion of two feature databases of the same recordings
 * One search whose DTW cost is C = (1 - w) C1 + w C2, Ci[n][m] = 1 - <q_n, x_i,m> the cosine
 * cost of database i's features. The cost is linear in the document features, so this is the
 * DTW of the query against the per-frame mix (1 - w) x1 + w x2 (not re-normalised), which is
 * what is computed: one scan per document, as fast as a single database. The mix is formed in
 * float32; its costs agree with (1 - w) C1 + w C2 to float rounding (~1e-7). w = 0 and w = 1
 * use db's or db2's features unchanged (and at their full length), so they reproduce the
 * single-database distances bit for bit, over the recordings the fusion ranks. */

/* Default weight of the second database (the CLI's --fuse-weight). */
#define LM_FUSE_WEIGHT_DEFAULT 0.5
/* Frame counts of one recording may differ by this much between the databases (decoders
 * and front ends differ by a few frames); the shorter length is used. More: the recording
 * is not ranked (it is probably not the same audio). 25 frames = 1 s. */
#define LM_FUSE_MAX_FRAME_DIFF 25

typedef struct {
    size_t doc, doc2; /* index in db and db2 (same document id) */
    size_t T;         /* frames mixed: min(T1, T2) */
} lm_fused_doc;

typedef struct {
    const lm_db *db, *db2;
    double w;               /* weight of db2 in [0, 1]; may be changed between searches */
    size_t n;               /* recordings ranked: in both databases, frame counts close enough */
    lm_fused_doc *docs;     /* n, in db's order */
    size_t *index_of;       /* db->n_docs: position in docs, or (size_t)-1 when not ranked */
    size_t max_T;           /* longest document of either database among the ranked ones */
    size_t only_db, only_db2;             /* recordings in one database only ... */
    long first_only_db, first_only_db2;   /* ... and one of each (index in its db, -1: none) */
    size_t n_len_skipped;                 /* in both, frame counts differ too much ... */
    size_t *len_skipped;                  /* ... their indices in db */
} lm_fusion;

/* Pairs the recordings of two databases by document id. Fails (one-line error) when w is not
 * in [0, 1], when no recording is in both, or when the frame counts of most recordings
 * disagree by more than LM_FUSE_MAX_FRAME_DIFF (different frame rates or different audio).
 * Both databases hold 12 chroma bins at 25 Hz: lm_db_open refuses anything else. */
int lm_fusion_init(lm_fusion *f, const lm_db *db, const lm_db *db2, double w);
void lm_fusion_free(lm_fusion *f);
/* Warnings on stderr for what the fusion leaves out (names the databases and recordings). */
void lm_fusion_warn(const lm_fusion *f, const char *db_path, const char *db2_path);
/* Features (12 x *T, chroma-major) of ranked recording k: mixed into buf (12 * f->max_T floats)
 * for 0 < w < 1, else a pointer into db or db2. */
const float *lm_fusion_features(const lm_fusion *f, size_t k, float *buf, size_t *T);
/* lm_search_all over the fusion: out has f->n entries; out[k].doc is the index in f->db of
 * ranked recording k. */
int lm_search_fused(const lm_fusion *f, const float *query, size_t N, lm_match *out, int parallel);
/* lm_search_locate for matches of lm_search_fused. */
void lm_search_locate_fused(const lm_fusion *f, const float *query, size_t N, lm_match *m, size_t n);
#endif
