/* Feature database: the chroma features of many recordings in one versioned binary file
 * (layout in docs/database.md). Opening maps the file read-only and verifies every CRC,
 * so a truncated or damaged file is reported, never read as garbage; writing always
 * replaces the whole file atomically (temp file, fsync, rename). */
#ifndef LM_INDEX_DB_H
#define LM_INDEX_DB_H
#include <stddef.h>
#include <stdint.h>

#include "chroma/features.h"

#define LM_DB_VERSION 1
#define LM_DB_MODEL_ID_MAX 199 /* bytes of model id kept in the file header */

typedef struct {
    const char *id;       /* file name without extension; unique within a database */
    const char *path;     /* source path (absolute when indexed by leitmotif index) */
    const char *model_id; /* "" for stft */
    double duration;      /* seconds of decoded audio */
    enum lm_feature_type type;
    uint32_t model_checksum; /* 0 for stft */
    size_t T;                /* frames at 25 Hz */
    const float *chroma;     /* 12 x T, chroma-major */
    float tuning;            /* the recording's deviation from A = 440 Hz that was compensated, in
                                semitones (0: none; see chroma/tuning.h) */
} lm_db_doc;

typedef struct {
    enum lm_feature_type type;
    uint32_t model_checksum;
    char model_id[LM_DB_MODEL_ID_MAX + 1];
    lm_tuning tuning; /* how its features were tuned; new documents must be made the same way */
    size_t n_docs;
    lm_db_doc *docs;     /* in file order; strings and features point into the mapping */
    size_t total_frames; /* sum of T */
    /* private */
    void *map;
    size_t map_size;
    size_t *by_id; /* doc indices sorted by id, for lm_db_find */
} lm_db;

/* Maps and verifies a database; returns 0 or -1 with a one-line error naming the file. */
int lm_db_open(const char *path, lm_db *db);
void lm_db_close(lm_db *db);
/* Index of the document with this id, or -1. */
long lm_db_find(const lm_db *db, const char *id);

/* Writes n documents (all of type/model_checksum) atomically to path, replacing any old file.
 * Document ids must be unique. The source documents may point into an open lm_db of the
 * same path: the old file stays mapped until it is closed. */
int lm_db_write(const char *path, enum lm_feature_type type, uint32_t model_checksum, const char *model_id,
                const lm_db_doc *docs, size_t n);
/* The same for a database whose features were made with this tuning mode (NULL: off, as
 * lm_db_write). */
int lm_db_write_ex(const char *path, enum lm_feature_type type, uint32_t model_checksum, const char *model_id,
                   const lm_tuning *tuning, const lm_db_doc *docs, size_t n);
#endif
