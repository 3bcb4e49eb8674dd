/* Ranking the documents of a database for a query chroma sequence (subsequence DTW). */
#ifndef LM_INDEX_SEARCH_H
#define LM_INDEX_SEARCH_H
#include <stddef.h>
#include <stdint.h>

#include "hcqt/hcqt.h" /* LM_FRAME_RATE */
#include "index/db.h"
#include "match/sdtw.h"
#include "symbolic/theme.h"

typedef struct {
    size_t doc;     /* index into db->docs */
    float distance; /* +INFINITY when the document is too short for the query */
    size_t start;   /* first / last matched document frame (start only after lm_search_locate) */
    size_t end;
    unsigned variant; /* query variant of the match (lm_qset; 0 for a single query) */
    int approx;       /* lm_search_qset: distance is only an estimate (the recording ranks below the
                         requested best ones), end and variant are not set */
} lm_match;

/* Distance of the 12 x N query to every document; out[k] is document k. parallel != 0
 * spreads the documents over the OpenMP threads, else all run on the calling thread
 * (for callers that parallelise over queries). Match starts are not computed. */
int lm_search_all(const lm_db *db, const float *query, size_t N, lm_match *out, int parallel);
/* lm_sdtw_scan of one document, float32 or compact (lm_sdtw_scan_u8). */
int lm_search_scan_doc(const lm_db_doc *d, const float *query, size_t N, lm_sdtw_result *r);
/* Sorts by distance (infinite last); equal distances keep document order. */
void lm_match_sort(lm_match *m, size_t n);
/* The same for the first k places only (k 0: all): m[0 .. k-1] hold lm_match_sort's first k,
 * in its order, and the rest follow in no order. A search that shows the k best need not sort
 * every recording (222 979 at 10 000 h: 35-60 ms on one thread). */
void lm_match_sort_top(lm_match *m, size_t n, size_t k);
/* Fills in the start frame of the first n matches (backtracking; parallel over matches). */
void lm_search_locate(const lm_db *db, const float *query, size_t N, lm_match *m, size_t n);

/* ---- fusion of two feature databases of the same recordings
 * One search against the per-frame mix of the two databases' features, (1 - w) x1 + w x2,
 * l2-normalised like every feature, with the cosine cost: one scan per document, as fast as a
 * single database. (Without the normalisation the cost would be (1 - w) C1 + w C2; that lost
 * to x1 alone on fold 4, see lm_fusion_features.) w = 0 and w = 1
 * use db's or db2's features unchanged (and at their full length), so they reproduce the
 * single-database distances bit for bit, over the recordings the fusion ranks. */

/* Default weight of the second database (the CLI's --fuse-weight). */
#define LM_FUSE_WEIGHT_DEFAULT 0.3
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

/* ---- query variants: --transpose any (every key) and --duration auto (any tempo)
 *
 * A variant is the theme at one of the stretchings (durations) and one of the 12 chroma
 * shifts; a recording's distance is the smallest over all variants, the variant tells its
 * transposition and tempo. Distances are the SDTW's mean cost along the path (D[N-1, m] / N,
 * the path's weights adding up to N), so that variants of different lengths compare, plus a
 * penalty for short stretchings (LM_AUTO_PENALTY).
 *
 * Cost. Running every variant over every recording costs 12 (5 stretchings: 5.6) plain
 * searches. Instead (filter and refine):
 *  1. a coarse pass at 1/LM_COARSE_FACTOR of the frame rate (document frames averaged, query
 *     blocks reduced to their main pitch class) runs every variant over every recording, all
 *     variants of a recording in one pass over its (cached) coarse features: 12/16 of a plain
 *     search for 12 shifts;
 *  2. recordings are refined best first (by their coarse minimum): the most promising variant
 *     exactly over the whole recording, other variants exactly only around the ends where
 *     their coarse matching function comes within LM_COARSE_EPS of the threshold (the exact
 *     scan of a range of ends is bit-identical to the full scan there);
 *  3. refining stops when no recording's coarse minimum minus LM_COARSE_EPS is below the k-th
 *     best exact distance (the k best are what is reported; eval: the correct recording's).
 *     Coarse queries shorter than 32 frames allow more (LM_COARSE_EPS x sqrt(32 / frames));
 *     queries under 128 frames (5.12 s) are coarsened 2x only, under 32 not at all; but those
 *     of 96-127 frames 4x where the coarse query's self-loss (its coarse distance to the query
 *     itself coarsened as a recording) is at most half the margin, and with a widened
 *     margin where it is larger (LM_COARSE_WIDE_MAX).
 * A search of a large archive first bounds every recording at twice its first pass's factor
 * and runs step 1 only where the bound is below the k-th best distance of the recordings it
 * ranks first (LM_PRE_FACTOR).
 * The coarse matching function is an estimate, not a bound: fine - coarse was below -0.06 for
 * 1e-4 of the ends with fine < 0.4 on fold 5, so the result equals the exhaustive search with
 * high probability, not always (docs/results/search_modes.md measures how often). */
#define LM_AUTO_STRETCHES 5   /* durations 0.5, 0.71, 1, 1.41, 2 x the reference duration */
/* --duration auto ranks by distance + LM_AUTO_PENALTY x log2(2 / stretching): 0 for the longest
 * stretching, 0.1 for the shortest. The SDTW's (1,2) step skips a document frame at no cost,
 * so a shorter variant, matched with more such steps, skips the frames that fit worst and
 * gets lower distances everywhere: unpenalised, the 0.5x variant wins in wrong recordings
 * too. The weight was chosen on fold 4 (the validation fold; queries at random 0.5-2x tempi):
 * MRR 0.822 without, 0.886 with 0.05 (0.02: 0.846, 0.08: 0.862). */
#define LM_AUTO_PENALTY 0.05
#define LM_COARSE_FACTOR 4    /* frames per coarse frame (6.25 Hz); = LM_DB_COARSE, the stored coarse features */
#define LM_COARSE_MIN_SHORT4 96 /* queries of 96-127 frames: 4x where the coarse query's self-loss allows */
/* Queries of 96-127 frames whose coarse query loses more than half the margin: 4x with the
 * margin widened to self-loss + half the margin, where that is at most LM_COARSE_WIDE_MAX, and
 * the middle check at the 2x pass's margin. On the synthetic 1 000-h archive, 72 of fold 5's
 * themes of 2.5-5.2 s with 96-127 frames moved from 2x to 4x at a cap of 0.30: top-10 recall
 * stayed 1.0 for all; the 65 with a widened margin up to 0.25 all got faster (ratio 0.14-0.77;
 * 20.8 -> 5.4 s in all), above 0.25 five of seven got slower (the 4x pass lets too much
 * through), so the cap is 0.25. Queries of 64-95 frames (16-23 coarse frames) stay at 2x: one
 * of 68 frames lost a top-10 recording on the whole corpus, whose 4x coarse distance lay more
 * than 0.11 above its exact one at the matching end (docs/search.md, "Short themes at 4x"). */
#define LM_COARSE_WIDE_MAX 0.25f
#define LM_COARSE_EPS 0.06f   /* how far an exact distance may fall below the coarse one */
/* The same for a single variant (a plain search or evaluation), where refining more costs
 * little beside the first pass: on the 10 000-h synthetic archive one theme's ten nearest
 * (noisy copies of its recording) were overestimated by 0.08. Top-10 recall of 20 queries there:
 * 0.980 with 0.06, 0.995 with 0.08, 1.000 with 0.10, but 0.10 made one query 5x slower (many
 * copies just above the threshold), 0.08 2x (docs/search.md). */
#define LM_COARSE_EPS_SINGLE 0.08f
/* The refinement's middle check: a range of ends that the 4x pass lets through is scanned at 2x
 * first, and exactly only if its 2x minimum comes within LM_MID_EPS of the threshold. The 2x
 * minimum lies close to the exact one: over the ranges that 150 fold-5 queries refined on the
 * whole corpus (plain and all keys) it exceeded the exact minimum by at most 0.04 and mostly
 * fell 0-0.01 below it; with 0.03, 77-78 % of the ranges' cells would have been skipped and none
 * of a range that mattered (docs/search.md, "Middle check"). */
#define LM_MID_EPS 0.03f

/* Pre-filter of a search of a large archive (lm_search_qset with best < all, at least
 * LM_PRE_MIN_HOURS of features): before the coarse pass, each variant runs at twice its first
 * pass's factor (4x first pass: LM_PRE_FACTOR, the stored 4x features summed in pairs, a quarter
 * of the 4x pass's cells; 2x first pass: the stored 4x features, not every full-rate byte),
 * giving each recording a bound: the least such minimum less the pre-filter's margin, plus the
 * context weight times that (a median is at least the minimum), plus the stretching's penalty.
 * The LM_PRE_FIRST recordings of lowest bound are refined exactly first; the k-th best of their
 * distances is a threshold that the k-th best of all can only lower, so
 * the coarse pass runs only on the recordings whose bound is below it. The rest keep the bound as
 * their (approximate) distance. The margin: LM_PRE_EPS (x sqrt(32 / frames) under 32 frames at
 * the pre-filter's rate), plus that query's self-loss (its distance to the query itself
 * coarsened: the overestimate of a true match); queries whose margin would exceed
 * LM_PRE_EPS_MAX, or with fewer than LM_PRE_MIN_FRAMES frames at that rate, skip it. At 10 000
 * synthetic hours 8 of the 10 themes (of 20) that get it searched 15-41 % faster, 2 (repeated
 * notes) 4-16 % slower, median 683 against 863 ms; on 1 000 h the median fell by 20 %; on the
 * whole corpus (77 h) it would cost 30 % more (the first refinements and the extra pass outweigh
 * the saving) (docs/search.md, "Pre-filter"). In all keys each key gets its own bound (the
 * lowest over its stretchings) and the coarse pass skips the keys whose bound is above the
 * threshold: there it pays from LM_PRE_MIN_DOCS_KEYS recordings on, whatever their hours (the
 * whole corpus in all keys: 9 % less time, the same ten best for 250 of 250 themes). */
#define LM_PRE_FACTOR 8
#define LM_PRE_MIN_FRAMES 16
#define LM_PRE_EPS 0.12f
#define LM_PRE_EPS_MAX 0.20f
#define LM_PRE_MIN_HOURS 500
#define LM_PRE_MIN_DB_FRAMES ((size_t)(LM_PRE_MIN_HOURS * 3600.0 * LM_FRAME_RATE)) /* lm_qset.pre_min_frames */
#define LM_PRE_FIRST 64
#define LM_PRE_MIN_DOCS_KEYS 256

/* The recording's context in the ranking: a recording's distance is its best passage's plus
 * LM_CONTEXT_WEIGHT x the median, over the recording's passages (at most 32 ends), of the theme's
 * distance in the coarse pass (its coarse matching function). A recording that holds the theme
 * is usually close to it throughout (its key, its motifs), a chance match in an unrelated
 * recording is not; the median also offsets the lower minima that longer recordings reach by
 * chance (docs/results/length_bias.md). Chosen on fold 4 (the validation fold, 783 themes,
 * whole corpus, plain search at the annotated duration; docs/results/context.md): MRR 0.93100
 * without; 0.93100 / 0.93254 / 0.93244 / 0.93260 / 0.93125 / 0.92998 / 0.92705 with 0.05 /
 * 0.08 / 0.10 / 0.12 / 0.15 / 0.20 / 0.30. */
#define LM_CONTEXT_WEIGHT 0.12f

typedef struct {
    int transpose_any; /* the 12 chroma shifts of the theme */
    int duration_auto; /* LM_AUTO_STRETCHES stretchings around the reference duration */
    int exhaustive;    /* every variant exactly over every recording (the pruning's reference) */
    int context_set;      /* context_weight given (else LM_CONTEXT_WEIGHT) */
    float context_weight; /* >= 0; 0: the best passage alone (the paper's ranking) */
} lm_variant_options;
/* The context weight that options give (o may be NULL: the default). */
float lm_variant_context_weight(const lm_variant_options *o);

typedef struct {
    size_t n_stretch, n_shift, n; /* n = n_stretch x n_shift variants; v = stretch v / n_shift, shift v % n_shift */
    float **q;                    /* per stretching: 12 x N[i] (binary theme chroma) */
    size_t *N;
    double *stretch;              /* per stretching: duration / reference duration */
    float *offset;                /* per stretching: added to its distances (LM_AUTO_PENALTY) */
    float **cq;                   /* per stretching: the coarse query, 12 x Nc[i] (NULL: exhaustive) */
    size_t *Nc, *r;               /* and its frame-rate factor (1: the query itself, for short ones) */
    float **mq;                   /* per stretching coarsened 4x: the query at 2x for the middle
                                     check of the refinement, 12 x Nm[i] (else NULL) */
    size_t *Nm;
    float *eps;                   /* per stretching: the first pass's margin (eps_for; widened for
                                     short queries at 4x; 0 when r = 1) */
    float *mid_eps;               /* per stretching: the middle check's margin */
    int exhaustive;
    float context_weight;         /* LM_CONTEXT_WEIGHT or the option's */
    float **pq;                   /* per stretching: the query at 1/LM_PRE_FACTOR of the frame rate
                                     for the pre-filter of large searches, 12 x Npq[i] (else NULL) */
    size_t *Npq;
    float *pre_eps;               /* per stretching: the pre-filter's margin */
    size_t *pre_r;                /* per stretching: the pre-filter's factor (2 r: 8 over a 4x first
                                     pass, 4, the stored features, over a 2x one; 0: none) */
    size_t pre_min_frames;        /* the pre-filter runs on databases of this many frames or more
                                     (LM_PRE_MIN_HOURS) */
    size_t pre_min_docs_keys;     /* and, in all keys, on this many recordings or more
                                     (LM_PRE_MIN_DOCS_KEYS) */
    size_t pre_first;             /* and refines this many (at least the k best) first (LM_PRE_FIRST) */
} lm_qset;

/* Floats per recording of the coarse pass's results (lm_qset_coarse_min's cval): each
 * variant's coarse minimum, then each variant's offset (its stretching's penalty plus the
 * context term), which its exact distances get too. */
size_t lm_qset_cval_len(const lm_qset *qs);
/* 1 when the set is one exhaustive variant without the context term: a direct scan of every
 * recording (lm_search_all, lm_search_fused) then ranks as lm_search_qset would. */
int lm_qset_is_plain_scan(const lm_qset *qs);

/* Variants of a theme: `duration_sec` (> 0; else the theme's own) is the reference duration,
 * `transpose` the fixed shift that the variants' shifts add to. Fails (one-line error) when a
 * stretching is too long for a query. */
int lm_qset_from_theme(lm_qset *qs, const lm_theme *t, double duration_sec, int transpose,
                       const lm_variant_options *o);
/* The same from a query chroma sequence (12 x N; stretchings by nearest-frame resampling). */
int lm_qset_from_chroma(lm_qset *qs, const float *query, size_t N, const lm_variant_options *o);
void lm_qset_free(lm_qset *qs);
/* Shift of variant v in semitones, -5..6 (added to the fixed transposition), and its stretching. */
int lm_qset_transpose(const lm_qset *qs, unsigned v);
double lm_qset_stretch(const lm_qset *qs, unsigned v);
/* Variant v as a query of its own (12 x *N, malloc'd: the stretching transposed). */
float *lm_qset_query(const lm_qset *qs, unsigned v, size_t *N);

/* A recording's features with their coarse versions (made when first needed). */
typedef struct {
    const float *x;   /* 12 x T; NULL for a compact recording, then ... */
    const uint8_t *x8; /* ... its 12 x T bytes: the coarse versions are made from them, and a
                          float copy (coarse[1]) only when exact features are needed */
    float scale;
    size_t T;
    const float *stored_coarse;   /* the database's coarse features at LM_COARSE_FACTOR (lm_db_doc: */
    const uint8_t *stored_coarse_u8; /* coarse, coarse_u8), used instead of coarsening; may be NULL */
    const uint8_t *stored_pre_u8; /* the database's pre-filter features (lm_db_doc: pre_u8) at
                                     LM_PRE_FACTOR, used instead of summing coarse pairs; may be NULL */
    float *coarse[LM_COARSE_FACTOR + 1]; /* by frame-rate factor (made here, owned) */
    size_t Mc[LM_COARSE_FACTOR + 1];
    uint8_t *coarse_u8[LM_COARSE_FACTOR + 1]; /* the same as bytes (x LM_DB_U8_SCALE), for the 16-bit
                                                 scans of binary coarse queries (made here, owned) */
    size_t mid_frames; /* 2x frames made for the middle checks' windows so far (lm_qset_mid_rejects) */
    unsigned borrowed_u8; /* bit r: coarse_u8[r] belongs to the database (lm_db_kept_coarse_u8), not here */
} lm_doc_view;
void lm_doc_view_init(lm_doc_view *d, const float *x, size_t T);
/* A database recording as stored (float32 or compact: no copy). */
void lm_doc_view_init_doc(lm_doc_view *d, const lm_db_doc *doc);
void lm_doc_view_free(lm_doc_view *d);

/* The pre-filter's bound of one recording (LM_PRE_FACTOR; qs must have pre-filter queries,
 * lm_qset_has_pre): the least over the variants of b + W max(b, 0) + the stretching's penalty,
 * b the variant's minimum at the pre-filter's rate less its margin and W the context weight
 * (the context term is W x a median, at least W x the minimum); +INFINITY when no variant fits,
 * -INFINITY when the pre-filter's pass cannot tell; NAN when out of memory. */
int lm_qset_has_pre(const lm_qset *qs);
float lm_qset_pre_bound(const lm_qset *qs, lm_doc_view *d);
/* The same, and into vb (qs->n floats) each variant's bound: its key's, the least over that
 * key's stretchings (as the search's pre-filter keeps them). */
float lm_qset_key_bounds(const lm_qset *qs, lm_doc_view *d, float *vb);

/* Coarse bound of one recording: the least over the variants of the coarse minimum less the
 * distance an exact one may fall below it (LM_COARSE_EPS; more for short coarse queries);
 * +INFINITY when no variant fits in it, -INFINITY when only the coarse pass cannot tell (a
 * short recording); exhaustive: the exact minimum. NAN when out of memory. cval (optional,
 * lm_qset_cval_len floats) receives each variant's coarse minimum and offset. */
float lm_qset_coarse_min(const lm_qset *qs, lm_doc_view *d, float *cval);
/* The same without the variants whose bound vb[v] (lm_qset_key_bounds) is above theta: their
 * cval is +INFINITY, and they are never refined. */
float lm_qset_coarse_min_below(const lm_qset *qs, lm_doc_view *d, float *cval, const float *vb, float theta);
/* Refines one recording against `theta` (the distance it has to reach; INFINITY: none):
 * m->distance, end and variant of its best variant (m->approx = 0) when that is <= theta, else
 * m->approx = 1 and a distance above theta (or +INFINITY when nothing fits). cval: the variants'
 * coarse minima from lm_qset_coarse_min (NULL: computed here). -1: out of memory. */
int lm_qset_refine(const lm_qset *qs, lm_doc_view *d, float theta, const float *cval, lm_match *m);

/* The refinement's middle check: 1 when variant v's distance (with its offset off) at 2x, the least
 * over the ends [a, b) of the recording, lies more than qs->mid_eps (LM_MID_EPS; for a widened
 * short query the 2x pass's margin) above th, so that the exact scan of those ends is skipped;
 * 0 when it does not, or when the check cannot be made (variants coarsened less than 4x have no
 * 2x query; a recording too short for it; out of memory). Makes the 2x frames of the ends'
 * window, or d's whole 2x features once the windows add up to half the recording. */
int lm_qset_mid_rejects(const lm_qset *qs, lm_doc_view *d, size_t v, size_t a, size_t b, float th, float off);

/* What the coarse pass found for one query set, kept by a caller that runs it itself (eval
 * runs it recording by recording for all queries): per recording (nd) the lm_qset_coarse_min
 * bound, optionally the variants' coarse minima and offsets (nd x lm_qset_cval_len; NULL: recomputed when refining)
 * and the coarse features (nd; NULL: made when refining; read only: shared by threads, so
 * they must hold every frame-rate factor the query set uses). */
typedef struct {
    const float *cmin;
    const float *cval;
    const lm_doc_view *views;
} lm_coarse_cache;

/* Every recording of db (f == NULL) or of a fusion for a query set; out[k] is recording k
 * (out[k].doc its index in db / f->db). The `best` best recordings (SIZE_MAX: all) get exact
 * distances; so do recording `must` (>= 0: e.g. the correct recording of an evaluation) and
 * every recording whose distance is at most its own. The others are approx and rank below
 * them. cache: the coarse pass's results (NULL: the pass runs here). parallel: OpenMP over
 * recordings. Fails only when out of memory. */
int lm_search_qset(const lm_db *db, const lm_fusion *f, const lm_qset *qs, const lm_coarse_cache *cache, size_t best,
                   long must, lm_match *out, int parallel);
/* Start frames of the first n matches of lm_search_qset. */
void lm_search_locate_qset(const lm_db *db, const lm_fusion *f, const lm_qset *qs, lm_match *m, size_t n);

/* ---- every occurrence in one recording
 * All non-overlapping passages whose distance is at most the recording's best + `margin`
 * (a margin, not a ratio: good matches have distances near 0, rendered audio's a median of
 * 0.05, where a ratio would keep only the best), best first: iterative minimum picking on the
 * matching function (libfmp's method) where a picked end excludes every end whose passage
 * would overlap the passages already taken (each end's start is known from lm_sdtw_starts).
 * With several variants (--transpose any / --duration auto) the matching functions of the
 * stretching of the recording's best match and all its shifts are used, per end the best. */
typedef struct {
    float distance;
    size_t start, end; /* document frames, inclusive */
    unsigned variant;
} lm_occurrence;

#define LM_OCC_MARGIN_DEFAULT 0.05
#define LM_OCC_MAX 100 /* at most this many per recording */

/* Occurrences in features x (12 x T); best: the recording's match (variant and distance from a
 * search). *occ is malloc'd; *n_occ >= 1 when the recording matches at all. */
int lm_occurrences(const lm_qset *qs, const float *x, size_t T, const lm_match *best, double margin,
                   lm_occurrence **occ, size_t *n_occ);
#endif
