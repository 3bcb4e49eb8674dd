/* Feature database (layouts in docs/database.md, the normative description).
 *
 * Format 1: one versioned binary file. Opening maps it read-only and verifies every CRC, so a
 * truncated or damaged file is reported, never read as garbage; writing always replaces the
 * whole file atomically (temp file, fsync, rename).
 *
 * Format 2 (the default for new databases): a directory of immutable segment files and a small
 * manifest that is replaced atomically. Opening reads the manifest and each segment's header and
 * document directory (both checked), not the features: each segment's checksum is verified when
 * its features are first read (lm_db_verify_all / lm_db_verify_doc; the search, eval and API
 * entry points call them), `leitmotif check` verifies everything. One writer at a time (a lock
 * file, lm_dbw_begin); readers never lock and see the old or the new manifest. */
#ifndef LM_INDEX_DB_H
#define LM_INDEX_DB_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "chroma/features.h"

#define LM_DB_VERSION 1
#define LM_DB_MODEL_ID_MAX 199 /* bytes of model id kept in the file header */

/* How a database stores its features (docs/database.md, "Precision"; format 2 only): float32,
 * or one byte per value (u8: value = byte x scale, scale 1/255; a quarter of the size). Chroma
 * features are l2-normalised and non-negative, so every value is in [0, 1]. */
enum lm_db_precision { LM_DB_F32 = 0, LM_DB_U8 = 1, LM_DB_PRECISION_COUNT };
#define LM_DB_U8_SCALE (1.0f / 255.0f)
/* "f32" / "u8"; lm_db_precision_parse: -1 (error set) for anything else. */
const char *lm_db_precision_name(enum lm_db_precision p);
int lm_db_precision_parse(const char *s);

typedef struct {
    const char *id;       /* file name without extension; unique within a database */
    const char *path;     /* source path (absolute when indexed by leitmotif index) */
    const char *model_id; /* "" for stft */
    double duration;      /* seconds of decoded audio */
    enum lm_feature_type type;
    uint32_t model_checksum; /* 0 for stft */
    size_t T;                /* frames at 25 Hz */
    const float *chroma;     /* 12 x T, chroma-major; NULL in a compact (u8) database: then ... */
    const uint8_t *chroma_u8; /* ... 12 x T bytes, chroma-major, value = byte x scale (else NULL) */
    float scale;
    float tuning;            /* the recording's deviation from A = 440 Hz that was compensated, in
                                semitones (0: none; see chroma/tuning.h) */
    /* The features at 1/LM_DB_COARSE of the frame rate, 12 x ceil(T / LM_DB_COARSE) at the
     * document's precision (coarse: float32, coarse_u8: bytes x scale), as lm_chroma_downsample
     * makes them, for the search's coarse pass; stored by format-2 segments written since
     * segments carry them (docs/database.md, "Coarse features"); both NULL when not stored. */
    const float *coarse;
    const uint8_t *coarse_u8;
    /* The pre-filter's features (docs/database.md, "Pre-filter features"): 12 x
     * ceil(ceil(T / LM_DB_COARSE) / 2) bytes (x 1/255), the coarse features quantised to bytes
     * and summed in pairs of frames as lm_coarsen_pairs_u8 makes them; NULL when not stored. */
    const uint8_t *pre_u8;
} lm_db_doc;

/* Frames per coarse frame of the stored coarse features (6.25 Hz; the search's LM_COARSE_FACTOR). */
#define LM_DB_COARSE 4
/* Frames per frame of the stored pre-filter features (3.125 Hz; the search's LM_PRE_FACTOR). */
#define LM_DB_PRE 8
/* The pre-filter features of n coarse frames (12 x n at the database's precision: coarse_u8
 * bytes, or float32 when f32 is set) into out (12 x ceil(n / 2) bytes); -1 when out of memory. */
int lm_db_pre_features(const void *coarse, int f32, size_t n, uint8_t *out);

typedef struct {
    enum lm_feature_type type;
    uint32_t model_checksum;
    char model_id[LM_DB_MODEL_ID_MAX + 1];
    lm_tuning tuning; /* how its features were tuned; new documents must be made the same way */
    size_t n_docs;
    lm_db_doc *docs;     /* in file order; strings and features point into the mapping */
    size_t total_frames; /* sum of T */
    int format;          /* 1 or 2 */
    enum lm_db_precision precision; /* of every document's features (format 1: always f32) */
    int nn_bf16; /* ctc features computed with bf16 dot products (nn/conv_bf16.h; format 2 only) */
    /* private */
    void *map; /* format 1: the file's mapping */
    size_t map_size;
    uint64_t *id_slots; /* lm_db_find's hash table of doc indices + 1 (0: empty) */
    size_t id_mask;   /* its size - 1 (a power of two, at least twice n_docs) */
    struct lm_db2 *v2; /* format 2: manifest, segments and their verification state */
    struct lm_db_kept *kept; /* coarse bytes kept for later searches (lm_db_keep_coarse_u8) */
} lm_db;

/* Coarse bytes kept across searches. A database without stored coarse bytes (f32, the default,
 * or segments older than the coarse section) has each recording's coarse features quantised to
 * bytes by every search that scans them, reading 12 float32 per 4 frames from memory: a quarter
 * of a plain search's CPU on the whole corpus (perf). A process that searches more than once
 * (`search` with several themes, `serve`, the Python binding) keeps them, up to LM_DB_KEPT_MAX
 * bytes in all, and later searches read them. */
#define LM_DB_KEPT_MAX ((size_t)256 << 20)
/* Document k's kept bytes (12 x ceil(T / LM_DB_COARSE), x LM_DB_U8_SCALE), or NULL. Thread-safe. */
const uint8_t *lm_db_kept_coarse_u8(const lm_db *db, size_t k);
/* Offers the bytes a search made for document k (malloc'd): 1 when the database keeps them (it
 * frees them when closed; the caller must not), 0 when not (already kept, over LM_DB_KEPT_MAX,
 * or a database that keeps none). Thread-safe. */
int lm_db_keep_coarse_u8(const lm_db *db, size_t k, uint8_t *bytes);
/* Bytes kept so far. */
size_t lm_db_kept_bytes(const lm_db *db);

/* Opens a database of either format (a file: format 1, a directory: format 2); returns 0 or -1
 * with a one-line error naming the database (and the damaged segment or record). Format 1 is
 * verified completely here; format 2's features are verified when first read. */
int lm_db_open(const char *path, lm_db *db);
void lm_db_close(lm_db *db);
/* Verifies the checksums of every segment not verified yet (format 2; no-op for format 1, whose
 * open verified everything). Thread-safe; cheap once done. -1 with an error naming the segment. */
int lm_db_verify_all(const lm_db *db);
/* The same for the segment that holds document k. */
int lm_db_verify_doc(const lm_db *db, size_t k);
/* Verifies what a search's first pass reads of every segment: its coarse section (its own
 * CRC-32, docs/database.md), or the whole segment when it has none; a search then verifies the
 * segment of each recording it reads in full (lm_db_verify_doc). Thread-safe. */
int lm_db_verify_coarse(const lm_db *db);
/* 1 (a file), 2 (a directory with a manifest), 0 (nothing there), -1 (something else: error set). */
int lm_db_path_format(const char *path);
/* Index of the document with this id, or -1. */
long lm_db_find(const lm_db *db, const char *id);
/* A process' share of a database in a distributed run (src/dist): *view holds the documents k
 * with k % n_parts == part, in database order, pointing into db (which must stay open);
 * (*orig)[i] (malloc'd) is view document i's index in db. Only the share's segments are
 * verified (format 2), so a process reads only its own recordings' features. For searching
 * (lm_search_*), not for lm_db_find; release with lm_db_part_free. 0, or -1 (error set). */
int lm_db_part(const lm_db *db, int part, int n_parts, lm_db *view, size_t **orig);
void lm_db_part_free(lm_db *view, size_t *orig);

/* The float32 features of a document: d->chroma, or for a compact document a malloc'd
 * dequantised copy that *owned receives (free it; NULL otherwise). NULL when out of memory.
 * For the per-recording steps (plots, occurrences, match starts); searches scan compact
 * features as they are (lm_sdtw_scan_u8). */
const float *lm_db_doc_features(const lm_db_doc *d, float **owned);
/* n values: x in [0, 1] to round(x / scale) (values outside are clamped, NaN becomes 0), and back. */
void lm_quantise_u8(const float *x, size_t n, float scale, uint8_t *out);
void lm_dequantise_u8(const uint8_t *q, size_t n, float scale, float *out);

/* Writes n documents (all of type/model_checksum) atomically to path, replacing any old file.
 * Document ids must be unique. The source documents may point into an open lm_db of the
 * same path: the old file stays mapped until it is closed. */
int lm_db_write(const char *path, enum lm_feature_type type, uint32_t model_checksum, const char *model_id,
                const lm_db_doc *docs, size_t n);
/* The same for a database whose features were made with this tuning mode (NULL: off, as
 * lm_db_write). */
int lm_db_write_ex(const char *path, enum lm_feature_type type, uint32_t model_checksum, const char *model_id,
                   const lm_tuning *tuning, const lm_db_doc *docs, size_t n);

/* ---------------------------------------------------------------- format 2 */
#define LM_DB2_MANIFEST "MANIFEST"
#define LM_DB2_LOCK "LOCK"

/* A writer of a format-2 database: holds the lock for its lifetime. */
typedef struct {
    char *path;
    int lock_fd;       /* -1 until the database exists (a new one is created at the first commit) */
    int exists;        /* the directory and its manifest exist */
    struct lm_db2_manifest *m; /* the last committed manifest */
    char *tmp_dir;     /* a new database is built here and renamed into place at its first commit */
    size_t commits;
    char **live;       /* ids of the live documents, sorted (a commit may not add one of them again
                          unless it also names it in `gone`) */
    size_t n_live;
} lm_dbw;

/* Takes the lock of the format-2 database at path (one writer at a time: a second gets a
 * one-line error naming the holder) and reads its manifest, or prepares a new database (type,
 * checksum, model id and tuning mode (NULL: off) are used only then). Removes what crashed writers left behind (temporary
 * files, segments no manifest refers to). Fails for a format-1 file. */
int lm_dbw_begin(lm_dbw *w, const char *path, enum lm_feature_type type, uint32_t model_checksum,
                 const char *model_id, const lm_tuning *tuning);
/* The same with a precision: for a new database the one it stores (-1: f32); for an existing
 * one it must be the database's (-1: whatever it is), else a one-line error pointing to
 * `leitmotif compact --precision`. Documents of either precision may be committed: they are
 * converted to the database's. */
/* A new database (not yet committed): record that its ctc features are bf16 ones. */
void lm_dbw_set_nn_bf16(lm_dbw *w, int on);
int lm_dbw_begin_ex(lm_dbw *w, const char *path, enum lm_feature_type type, uint32_t model_checksum,
                    const char *model_id, const lm_tuning *tuning, int precision);
/* One atomic step: writes the n documents (may be 0) as a new segment and tombstones for the
 * ids `gone` (documents removed, or replaced by the new segment's), then the new manifest. Until
 * the manifest's rename nothing readers see has changed. A document whose id is live in the
 * database and not in `gone` is an error (nothing written). */
int lm_dbw_commit(lm_dbw *w, const lm_db_doc *docs, size_t n, const char *const *gone, size_t n_gone);
/* Merges every segment's live documents (in database order) into one segment and drops the
 * tombstones; the old segment files are deleted after the new manifest is in place. Verifies
 * every segment first. *before / *after: segment counts (may be NULL). */
int lm_dbw_compact(lm_dbw *w, size_t *before, size_t *after);
/* The same, storing the features at `precision` from now on (-1: as they are); a database of
 * one segment is rewritten too when the precision changes. */
int lm_dbw_compact_ex(lm_dbw *w, int precision, size_t *before, size_t *after);
/* Releases the lock (and removes an unfinished new database). */
void lm_dbw_end(lm_dbw *w);

/* Copies a database (any format) into a new format-2 database dst, which must not exist
 * (built in dst.tmp.<pid> and renamed, so dst appears complete or not at all). Verifies the
 * source completely first. */
int lm_db_upgrade(const char *src, const char *dst);
/* The same, dst storing its features at `precision` (-1: as the source's). */
int lm_db_upgrade_ex(const char *src, const char *dst, int precision);

/* Verifies every segment of an open database, naming each damaged one in a line on `report`
 * (NULL: not printed); returns the number of damaged segments (0: intact), -1 on other errors. */
long lm_db_check(const lm_db *db, const char *path, FILE *report);
/* Segment, tombstone and generation counts of an open format-2 database (0 for format 1). */
void lm_db_stats(const lm_db *db, size_t *segments, size_t *tombstones, size_t *hidden, unsigned long long *generation);

/* In-memory parsers, for the fuzz target: a manifest (checks everything but the segment files)
 * and one segment file against its manifest entry i. Return 0 or -1 (error set). */
int lm_db2_fuzz_manifest(const unsigned char *bytes, size_t n);
int lm_db2_fuzz_segment(const unsigned char *manifest, size_t n_manifest, const unsigned char *seg, size_t n_seg);
#endif
