/* Retrieval evaluation as in Zalkow & Müller (ISMIR 2020), Table 4: every theme is a query
 * against all recordings; the rank of its own recording gives top-k rates and the mean
 * reciprocal rank, per fold and averaged (weighted by the number of queries per fold). */
#ifndef LM_EVAL_EVAL_H
#define LM_EVAL_EVAL_H
#include <stddef.h>

#include "common/csv.h"
#include "common/split.h"
#include "index/db.h"
#include "index/search.h"

#define LM_EVAL_NK 5
extern const int lm_eval_k[LM_EVAL_NK]; /* 1, 5, 10, 20, 50 */
#define LM_EVAL_MAX_TOP 10

/* ---- themes CSV (columns by header name, as ../shared/corpus/themes.csv) */
typedef struct {
    char *theme_id;
    char *piece_id;   /* = document id in the database */
    char *query_midi; /* resolved against the CSV's folder */
    int fold;
    int transposition; /* semitones from the query MIDI to the recording; column optional (0) */
    double start_sec, end_sec;
    size_t line;
} lm_eval_query;

int lm_eval_read_themes(const char *csv_path, lm_eval_query **queries, size_t *n);
void lm_eval_free_themes(lm_eval_query *queries, size_t n);

/* ---- metrics */
typedef struct {
    int fold; /* 0 in the average */
    size_t queries;
    double top[LM_EVAL_NK]; /* fraction of queries whose recording ranks <= lm_eval_k[j] */
    double mrr;
} lm_eval_summary;

/* 1-based rank of document `correct` among n matches (any order). Ties count against the
 * correct document: rank = number of documents with distance <= its distance. */
size_t lm_eval_rank(const lm_match *matches, size_t n, size_t correct);
/* Summaries per fold (ascending fold number; *per_fold malloc'd) and their average weighted
 * by queries per fold. Queries with rank 0 (skipped) are left out. */
int lm_eval_summarize(const int *folds, const size_t *ranks, size_t n, lm_eval_summary **per_fold, size_t *n_folds,
                      lm_eval_summary *average);

/* ---- running queries */
typedef struct {
    int from_score; /* stretch each query to its own (nominal) duration, not end_sec - start_sec */
    size_t n_top;   /* best documents to keep per query, <= LM_EVAL_MAX_TOP */
    /* --transpose any / --duration auto (index/search.h): every query as a set of variants; the
     * reference duration of --duration auto is the query's duration (annotation or score) */
    lm_variant_options variants;
    /* Deterministic perturbations of the queries, each drawn from the seed and the theme id
     * (so a query's draw does not depend on which other queries are run): */
    int random_transpose;               /* shift each query by -5..-1 or 1..6 semitones */
    unsigned long long transpose_seed;
    int random_tempo;                   /* play each query at 0.5-2x its tempo (log-uniform): */
    unsigned long long tempo_seed;      /* its duration divided by that factor */
    /* Distributed runs (src/dist; NULL: one process): this process scans its share of the
     * recordings, and part 0's results are those of one process over all of them (plain
     * queries, or variants with --exhaustive; the pruned variant search is not split). */
    const lm_split *split;
    /* Queries run as variant sets (--transpose any, --duration auto, or a plain query with the
     * context term), without top lists (n_top 0), in one process: pruned by the pre-filter's
     * bounds (eval.c, correct_distances) from this many recordings on; 0: LM_PRE_MIN_DOCS_KEYS,
     * SIZE_MAX: never. The ranks are the same either way. */
    size_t prune_min_docs;
} lm_eval_options;

typedef struct {
    size_t rank;    /* 0: skipped (its piece is not in the database) */
    float distance; /* of the correct document */
    size_t n_top;
    lm_match top[LM_EVAL_MAX_TOP]; /* best documents, best first */
    int shift_applied;    /* random_transpose: the semitones added to the query (else 0) */
    double tempo_applied; /* random_tempo: the tempo factor (else 1) */
    int shift_found;      /* variants: the correct document's best variant's shift and */
    double stretch_found; /* stretching (else 0 and 1) */
} lm_eval_result;

/* The draws of lm_eval_options' random_transpose / random_tempo for one theme id. */
int lm_eval_random_shift(unsigned long long seed, const char *theme_id);
double lm_eval_random_tempo(unsigned long long seed, const char *theme_id);

/* Why these options cannot run split over processes (lm_eval_options.split, mpirun), or NULL:
 * the pruned search in all keys or at any tempo depends on the distances found so far, so
 * shares would prune differently. */
const char *lm_eval_split_refusal(const lm_eval_options *opt);

/* Runs all queries against the database (OpenMP over queries, progress on stderr).
 * res has n entries; *skipped counts the queries whose piece is not in the database. */
int lm_eval_run(const lm_db *db, const lm_eval_query *queries, size_t n, const lm_eval_options *opt,
                lm_eval_result *res, size_t *skipped);
/* The same over a fusion of two databases (index/search.h: DTW cost (1 - w) C1 + w C2): the
 * recordings it ranks are the candidates; a query whose recording it does not rank is skipped;
 * top[].doc are indices in f->db. With f->w = 0 (1) this is f->db (f->db2) alone, restricted
 * to the recordings of both. */
int lm_eval_run_fused(const lm_fusion *f, const lm_eval_query *queries, size_t n, const lm_eval_options *opt,
                      lm_eval_result *res, size_t *skipped);
/* Oracle of two runs over the same queries (Zalkow & Mueller 2020, Table 6): per query the
 * better (lower) of the two ranks; 0 (skipped) where either run skipped the query. */
void lm_eval_oracle(const lm_eval_result *a, const lm_eval_result *b, size_t n, size_t *ranks);
#endif
