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
    int transpose_any;   /* nonzero: search all 12 keys (transpose is ignored); hits say which */
    int duration_auto;   /* nonzero: tempo-free, 0.25-4x the duration (duration_sec, or the written one) */
    int context_set;       /* nonzero: use context_weight, else the default (0.12) */
    double context_weight; /* in [0, 1]: a hit's distance is its passage's plus this x the median of the
                              theme's distance over the recording (docs/search.md, "Context"); 0: the
                              passage alone */
} leitmotif_query_options;

typedef struct {
    const char *doc_id; /* valid while the database is open */
    float distance;     /* mean cosine distance along the best alignment (0 = perfect), plus the
                           context term (leitmotif_query_options) */
    double start_sec, end_sec;
    int transpose;  /* semitones the theme is shifted by in this match (-5..6 with transpose_any) */
    double stretch; /* duration_auto: the theme's duration in the match / the reference duration (else 1) */
} leitmotif_hit;

/* Ranks the database's recordings for `theme` (a MIDI, MusicXML or **kern file path, the whole
 * score, or a note list such as "G4 G4 G4 Eb4:4"; leitmotif_search_theme takes a part of one).
 * Writes the best min(max_hits, rankable) hits, best first, and their number to *n_hits. opt may
 * be NULL (defaults). */
int leitmotif_search(const leitmotif_db *db, const char *theme, const leitmotif_query_options *opt,
                     leitmotif_hit *hits, size_t max_hits, size_t *n_hits);
/* Every passage of recording doc_id whose distance is at most its best + margin (in [0, 1];
 * < 0: the default 0.05), not overlapping, best first (with transpose_any in any key). *occ
 * (*n_occ entries) is malloc'd; free it with free(). */
typedef struct {
    float distance;
    double start_sec, end_sec;
    int transpose;
} leitmotif_occurrence;
int leitmotif_occurrences(const leitmotif_db *db, const char *doc_id, const char *theme,
                          const leitmotif_query_options *opt, double margin, leitmotif_occurrence **occ,
                          size_t *n_occ);
/* The same over two databases of the same recordings (same document ids) with different
 * features, fused in the matching: the DTW cost is (1 - w) x db's cosine cost + w x db2's,
 * w in [0, 1] (0: db alone, 1: db2 alone). Recordings in only one database, or whose frame
 * counts differ by more than 1 s between them, are not ranked; it fails when none is in both.
 * doc_id points into db. */
int leitmotif_search_fused(const leitmotif_db *db, const leitmotif_db *db2, double w, const char *theme,
                           const leitmotif_query_options *opt, leitmotif_hit *hits, size_t max_hits,
                           size_t *n_hits);

/* ---- Themes from score files with a selection: a part, measures, track or voice (issue 14) ----
 * A theme loaded once (from a path, a note list or a file in memory) and searched with the
 * functions below, as `leitmotif search THEME --part ... --measures ...`. */
typedef struct leitmotif_theme leitmotif_theme;

/* Which part of a theme file to read; zero fields = the defaults. `size` must be
 * sizeof(leitmotif_theme_selection) (LEITMOTIF_THEME_SELECTION_INIT sets it): later versions add
 * fields only at the end and read only the `size` bytes given (0 is taken as this first layout). */
typedef struct {
    size_t size;
    const char *part;  /* MusicXML part / **kern spine / MIDI track: 1-based number ("2") or name
                        * ("Violin I", any case and spacing); NULL or "": every part (top note) */
    int measure_first; /* measures as printed, inclusive (MusicXML, **kern); 0: from the start */
    int measure_last;  /* 0: to the end */
    int track;         /* MIDI track, 1-based; 0: all (top note) */
    int voice;         /* MusicXML voice / **kern layer of the part; 0: all (top note) */
    double tempo_qpm;  /* > 0: the theme's tempo in quarter notes per minute, replacing the file's
                        * tempo marks (a note list: beats per minute); 0: the file's (else 120) */
} leitmotif_theme_selection;
#define LEITMOTIF_THEME_SELECTION_INIT {sizeof(leitmotif_theme_selection), NULL, 0, 0, 0, 0, 0.0}

/* A theme from a path (MIDI, MusicXML .musicxml/.xml/.mxl or **kern .krn, told by content) or a
 * note list. sel may be NULL. A selection that does not exist fails with the message of
 * `leitmotif search` (naming the parts, measures or tracks there are). */
leitmotif_theme *leitmotif_theme_load(const char *theme, const leitmotif_theme_selection *sel);
/* A theme file in memory (size bytes, e.g. an upload): its format told by content, else by the
 * extension of `name` (a file name such as "theme.krn", may be NULL). */
leitmotif_theme *leitmotif_theme_from_memory(const void *data, size_t size, const char *name,
                                             const leitmotif_theme_selection *sel);
void leitmotif_theme_free(leitmotif_theme *theme);
/* The notes and rests as read (what `leitmotif search --print-theme` prints): their number, the
 * theme's duration in seconds, and note i's onset and duration in seconds and MIDI pitch (-1: a
 * rest); output pointers may be NULL. */
size_t leitmotif_theme_size(const leitmotif_theme *theme);
double leitmotif_theme_duration(const leitmotif_theme *theme);
int leitmotif_theme_note(const leitmotif_theme *theme, size_t i, double *onset_sec, double *duration_sec,
                         int *pitch);
/* leitmotif_search, leitmotif_occurrences and leitmotif_search_fused for a loaded theme; opt's
 * tempo_bpm is not used (the theme's tempo is the selection's tempo_qpm). */
int leitmotif_search_theme(const leitmotif_db *db, const leitmotif_theme *theme, const leitmotif_query_options *opt,
                           leitmotif_hit *hits, size_t max_hits, size_t *n_hits);
int leitmotif_occurrences_theme(const leitmotif_db *db, const char *doc_id, const leitmotif_theme *theme,
                                const leitmotif_query_options *opt, double margin, leitmotif_occurrence **occ,
                                size_t *n_occ);
int leitmotif_search_fused_theme(const leitmotif_db *db, const leitmotif_db *db2, double w,
                                 const leitmotif_theme *theme, const leitmotif_query_options *opt,
                                 leitmotif_hit *hits, size_t max_hits, size_t *n_hits);

/* ---- Signals, HCQT, database building and evaluation (for the Python package and the Vamp
 * plugin; issue 17) ---- */

/* Tuning compensation (off for stft, which tunes itself) used by leitmotif_chroma,
 * leitmotif_chroma_signal and for new databases of leitmotif_db_add: "auto" (the default:
 * estimate each recording's deviation from A = 440 Hz and compute its features as if it were
 * in tune; frame times stay the recording's), "off", or a deviation in cents ("-40": A = 430
 * Hz). Process-wide; set it before starting threads. 0, or -1 for a bad value. */
int leitmotif_set_tuning(const char *mode);
/* Precision of the deep chroma network in leitmotif_chroma(_signal): "fp32" (the default) or
 * "bf16" (bf16 dot products where the CPU has AVX512_BF16, else fp32; the network about 1.5x
 * faster, 99.9% of frames keep their argmax). Databases (leitmotif_db_add) stay fp32. Process-wide; set it
 * before starting threads. Returns 1 when bf16 runs, 0 for fp32, -1 for a bad value. */
int leitmotif_set_nn_precision(const char *precision);
/* An open database's tuning mode ("auto", "off", "+20c"), and the deviation of document i that
 * its features were compensated for, in cents (0 when none). */
const char *leitmotif_db_tuning(const leitmotif_db *db);
double leitmotif_db_doc_tuning(const leitmotif_db *db, size_t i);
/* Path of the model leitmotif_model_load(NULL) loads: $LEITMOTIF_MODEL, else
 * PREFIX/share/leitmotif/leitmotif_default.bin of an installed leitmotif, else the source
 * tree's models/leitmotif_default.bin; NULL (error set) if there is none. */
const char *leitmotif_default_model(void);
/* Chroma features of a signal: n_frames frames of `channels` interleaved float samples at
 * sample_rate Hz, mixed down to mono and resampled to 22050 Hz as audio files are, so that a
 * file's decoded samples give the same features as leitmotif_chroma of the file. */
int leitmotif_chroma_signal(const float *samples, size_t n_frames, int channels, int sample_rate,
                            const leitmotif_model *model, float **chroma, size_t *n_chroma_frames);
/* The 25 Hz harmonic CQT the deep chroma network reads (as `leitmotif hcqt`): *hcqt is
 * 6 x 216 x T float32 (harmonic h in {0.5, 1, 2, 3, 4, 5}, bin from 32.7 Hz x h at 36 bins per
 * octave, frame), malloc'd. */
int leitmotif_hcqt(const char *audio_path, float **hcqt, size_t *n_frames);
int leitmotif_hcqt_signal(const float *samples, size_t n_frames, int channels, int sample_rate, float **hcqt,
                          size_t *n_hcqt_frames);

/* Adds audio files (or directories, scanned for audio files) to the database file db_path,
 * creating it, as `leitmotif index` does. features: "ctc" (deep chroma; model_path NULL for
 * the default model), "stft", "bittner" or "bg1"; NULL: the database's own type, or ctc for a
 * new one. Files already in it are kept; files that cannot be decoded are named on stderr and
 * skipped. Returns the number of documents added, or -1. Reopen the database to see them. */
int leitmotif_db_add(const char *db_path, const char *const *paths, size_t n_paths, const char *features,
                     const char *model_path);
/* Document i (< leitmotif_db_size) of an open database: its id, its 12 x T chroma and T (valid
 * while the database is open), its duration in seconds. Output pointers may be NULL. */
int leitmotif_db_doc(const leitmotif_db *db, size_t i, const char **doc_id, const float **chroma, size_t *n_frames,
                     double *duration_sec);
/* Feature type of an open database: "ctc", "stft", "bittner" or "bg1". */
const char *leitmotif_db_features(const leitmotif_db *db);

/* One query of an evaluation (`leitmotif eval`): the rank of the theme's own recording. */
typedef struct {
    const char *theme_id, *piece_id; /* valid until leitmotif_eval_free */
    int fold;
    size_t rank;    /* 1-based (ties count against it); 0: skipped, piece_id is not in the database */
    float distance; /* of piece_id's recording */
} leitmotif_eval_query;
/* Every theme of themes_csv (columns theme_id, piece_id, fold, start_sec, end_sec, query_midi
 * and optionally transposition, as ../shared/corpus/themes.csv) as a query against all
 * recordings of db, stretched to end_sec - start_sec, or at the MIDI file's own duration if
 * from_score is nonzero. *results (n entries, file order) is freed with leitmotif_eval_free. */
int leitmotif_eval(const leitmotif_db *db, const char *themes_csv, int from_score, leitmotif_eval_query **results,
                   size_t *n);
void leitmotif_eval_free(leitmotif_eval_query *results, size_t n);
/* The options of `leitmotif eval`; zero fields = the defaults. `size` must be
 * sizeof(leitmotif_eval_options) (LEITMOTIF_EVAL_OPTIONS_INIT sets it): later versions add fields
 * only at the end and read only the `size` bytes given. */
typedef struct {
    size_t size;
    int from_score;    /* --queries-from score */
    int transpose_any; /* --transpose any: each recording by its best key */
    int duration_auto; /* --duration auto: any tempo, 0.25-4x the query's duration */
    int exhaustive;    /* --exhaustive: every recording (and key, tempo) exactly, no pruning */
    int random_transpose;              /* nonzero: --random-transpose transpose_seed, each query */
    unsigned long long transpose_seed; /* shifted by a random -5..-1 or 1..6 semitones */
    int random_tempo;                  /* nonzero: --random-tempo tempo_seed, each query played */
    unsigned long long tempo_seed;     /* at a random 0.5-2x its tempo */
    int context_set;       /* nonzero: --context context_weight (in [0, 1]), else the default */
    double context_weight;
} leitmotif_eval_options;
#define LEITMOTIF_EVAL_OPTIONS_INIT {sizeof(leitmotif_eval_options), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.0}
/* leitmotif_eval with options (opt may be NULL: leitmotif_eval's). */
int leitmotif_eval_ex(const leitmotif_db *db, const char *themes_csv, const leitmotif_eval_options *opt,
                      leitmotif_eval_query **results, size_t *n);
/* leitmotif_search with plain arguments and arrays (max_hits entries each; any array may be
 * NULL) in place of the two structs, for language bindings that cannot follow the structs'
 * layout as they grow. Other options have their defaults. */
int leitmotif_search_arrays(const leitmotif_db *db, const char *theme, double duration_sec, double tempo_bpm,
                            int transpose, size_t max_hits, const char **doc_ids, float *distances,
                            double *start_sec, double *end_sec, size_t *n_hits);

#ifdef __cplusplus
}
#endif
#endif
