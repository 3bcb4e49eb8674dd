/* leitmotif: find the recordings in which a musical theme is played.
 *
 * The small public C API: load a deep chroma model, turn audio into chroma features, and
 * rank the recordings of a feature database (made with `leitmotif index`) for a theme.
 * Functions return 0 (or a non-NULL pointer) on success; on failure, leitmotif_error()
 * gives a one-line message. Features are 12 x T float32, chroma-major (row k is pitch
 * class k = C, C#, ..., B), at 25 Hz (frame i at 0.04*i s), each frame l2-normalised. */
#ifndef LEITMOTIF_H
#define LEITMOTIF_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct leitmotif_model leitmotif_model;
typedef struct leitmotif_db leitmotif_db;

/* Message of the last failure in this thread. */
const char *leitmotif_error(void);
/* Worker threads for the calls that follow (<= 0: all cores). */
void leitmotif_set_threads(int n);

/* A model in FLATWEIGHTS format (docs/models.md); NULL path: the shipped default model. */
leitmotif_model *leitmotif_model_load(const char *path);
void leitmotif_model_free(leitmotif_model *m);

/* Chroma features of an audio file: deep chroma with `model`, or the standard STFT chroma
 * baseline when model is NULL. *chroma is malloc'd (free it with free()). */
int leitmotif_chroma(const char *audio_path, const leitmotif_model *model, float **chroma, size_t *n_frames);

leitmotif_db *leitmotif_db_open(const char *path);
void leitmotif_db_close(leitmotif_db *db);
size_t leitmotif_db_size(const leitmotif_db *db);

typedef struct {
    double duration_sec; /* > 0: stretch the theme to this duration */
    double tempo_bpm;    /* note lists only; <= 0: 120 */
    int transpose;       /* semitones */
} leitmotif_query_options;

typedef struct {
    const char *doc_id; /* valid while the database is open */
    float distance;     /* mean cosine distance along the best alignment (0 = perfect) */
    double start_sec, end_sec;
} leitmotif_hit;

/* Ranks the database's recordings for `theme` (a MIDI file path or a note list such as
 * "G4 G4 G4 Eb4:4"). Writes the best min(max_hits, rankable) hits, best first, and their
 * number to *n_hits. opt may be NULL (defaults). */
int leitmotif_search(const leitmotif_db *db, const char *theme, const leitmotif_query_options *opt,
                     leitmotif_hit *hits, size_t max_hits, size_t *n_hits);
/* The same over two databases of the same recordings (same document ids) with different
 * features, fused in the matching: the DTW cost is (1 - w) x db's cosine cost + w x db2's,
 * w in [0, 1] (0: db alone, 1: db2 alone). Recordings in only one database, or whose frame
 * counts differ by more than 1 s between them, are not ranked; it fails when none is in both.
 * doc_id points into db. */
int leitmotif_search_fused(const leitmotif_db *db, const leitmotif_db *db2, double w, const char *theme,
                           const leitmotif_query_options *opt, leitmotif_hit *hits, size_t max_hits,
                           size_t *n_hits);

#ifdef __cplusplus
}
#endif
#endif
