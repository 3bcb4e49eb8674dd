/* Building and extending a feature database from audio files. */
#ifndef LM_INDEX_INDEXER_H
#define LM_INDEX_INDEXER_H
#include <stddef.h>

#include "chroma/features.h"
#include "index/db.h"

/* Extensions (case-insensitive) picked up when a directory is scanned. */
extern const char *const lm_audio_extensions[];

/* Expands files and directories (scanned recursively for audio files, sorted by name)
 * into a list of paths; explicitly named files are taken whatever their extension.
 * Returns 0, or -1 if an input does not exist or cannot be read. A subdirectory that cannot
 * be read is reported on stderr and skipped. */
int lm_index_collect(char *const *inputs, size_t n_inputs, char ***paths, size_t *n_paths);
/* The same, and also lists the files found in directories that are not audio by their
 * extension (hidden files aside), for telling the user; free with lm_index_free_paths. */
int lm_index_collect_ex(char *const *inputs, size_t n_inputs, char ***paths, size_t *n_paths, char ***ignored,
                        size_t *n_ignored);
void lm_index_free_paths(char **paths, size_t n);

/* Document id of a path: its file name without the last extension. Caller frees. */
char *lm_index_doc_id(const char *path);

/* A document computed by another process (lm_index_peers). */
typedef struct {
    int rc;        /* 0: computed; else err says why it could not be */
    char err[1024];
    int partial;   /* decoded only in part (damaged or truncated) */
    float *chroma; /* 12 x T, malloc'd; the indexer takes it over */
    size_t T;
    double duration, tuning;
} lm_peer_doc;

/* Other processes computing features for this one, which alone writes the database (the
 * distributed index of src/dist). Document t of the files to compute (input order, those not
 * in the database yet) is computed by process t % n, this one being process 0. */
typedef struct {
    int n; /* processes, this one included */
    void *ctx;
    /* Tells the peers the files to compute (as given, in input order); called once, before any
     * feature is computed. 0 or -1 (error set). */
    int (*plan)(void *ctx, char *const *paths, size_t n_paths);
    /* Document t (t % n != 0) from its process; called in increasing t, for every such t. */
    int (*receive)(void *ctx, size_t t, lm_peer_doc *out);
} lm_index_peers;

typedef struct {
    enum lm_feature_type type;
    const lm_model *model;  /* required for LM_FEAT_CTC */
    const lm_salience_model *salience; /* required for LM_FEAT_BITTNER */
    lm_tuning tuning;       /* tuning compensation (zero: off); must equal an existing database's */
    double commit_interval; /* seconds between intermediate commits; <= 0: only at the end */
    /* Nonzero: of the inputs sharing a document id, index the one whose path sorts first
     * (strcmp) and skip the others, and skip inputs whose id the database already gives to
     * another path, naming each in a warning. 0: such clashes are errors before any work. */
    int skip_id_clashes;
    /* Format of a new database: 2 (a directory of segments; also 0) or 1 (one file). An existing
     * database keeps its format: format 2 gets a new segment per commit (under its writer lock),
     * format 1 is rewritten whole. */
    int format;
    /* Nonzero: inputs whose id is already in the database are recomputed and replace it (format 2:
     * a tombstone hides the old version; format 1: the file is rewritten without it). */
    int replace;
    /* Nonzero: features stored at `precision` (format 2 only; a new database is made so, an
     * existing one must already be). 0: f32 for a new database, an existing one keeps its own. */
    int precision_set;
    enum lm_db_precision precision;
    /* Non-NULL: processes that compute a share of the features (NULL: this one computes all). */
    const lm_index_peers *peers;
    /* Nonzero: ctc features computed with bf16 dot products (nn/conv_bf16.h; the caller checks
     * that the CPU has them). Format 2 only; recorded in a new database, must equal an existing one's. */
    int nn_bf16;
} lm_index_options;

typedef struct {
    size_t existing; /* documents in the database before the run */
    size_t kept;     /* inputs already in the database (same id and path), not recomputed */
    size_t added;    /* documents computed and added */
    size_t failed;   /* inputs that could not be decoded: reported on stderr and skipped */
    size_t clashes;  /* inputs skipped because their id was taken (skip_id_clashes) */
    size_t partial;  /* of `added`: files only partly decoded (damaged or truncated; warned) */
    size_t commits;  /* times the database was written (format 2: segments added) */
    size_t replaced; /* of `added`: documents that replaced an older version (replace) */
} lm_index_stats;

/* Adds the audio files `paths` to the database at db_path. `existing` is the open database
 * at db_path, or NULL to start a new one. Files already there (same id and same absolute
 * path) are not recomputed; an id already used by another path (see skip_id_clashes), or
 * features/model other than the database's, are errors before any work. A file that
 * cannot be decoded is reported on stderr and skipped; the others are indexed. Documents are computed in parallel
 * (OpenMP) and committed every commit_interval seconds and at the end (format 1: the file is
 * rewritten atomically; format 2: a new segment and manifest), so an interrupted run keeps
 * everything committed so far. Format 2 takes the database's writer lock first (a second writer
 * fails at once) and re-reads the database under it (`existing` only tells that there is one).
 * Commits hold documents in input order: a commit takes the computed documents before the first
 * one still being computed. */
int lm_index_update(const char *db_path, const lm_db *existing, char *const *paths, size_t n_paths,
                    const lm_index_options *opt, lm_index_stats *stats);
#endif
