/* Training pairs for `leitmotif train --pairs PAIRS.csv`: an audio excerpt (file, start, end)
 * weakly aligned with the pitch-class sequence of the theme played in it.
 *
 * The CSV (comma-separated, header row, RFC 4180 quoting) is read by column name:
 *   audio          audio file (relative paths: against audio_dir if given, else the CSV's folder);
 *                  or piece_id, with audio = <audio_dir>/<piece_id>.flac (needs audio_dir)
 *   start_sec, end_sec   the excerpt, seconds (0 <= start < end)
 *   the theme, the first non-empty of:
 *     pitch_classes  e.g. "C F G# C" (note letters with any number of # or b, so Ab = G#)
 *     theme          a pitch-class sequence, or a MIDI file if it ends in .mid/.midi
 *     query_midi     a MIDI file (relative to the CSV's folder); its pitch classes are used
 *   optional: theme_id (default "row N"), fold (integer, default 0 = none),
 *             transposition (semitones the audio is shifted against the theme, default 0),
 *             license (else joined from a pieces CSV by piece_id)
 * So the corpus table themes.csv is read as is, with the rendered audio folder as audio_dir.
 * Whether end_sec lies within the audio is checked by the trainer once it has the audio. */
#ifndef LM_TRAIN_PAIRS_H
#define LM_TRAIN_PAIRS_H
#include <stddef.h>

typedef struct {
    char *theme_id;
    char *piece_id;   /* "" when the CSV has no piece_id column */
    char *audio_path;
    double start_sec, end_sec;
    /* Pitch classes 0..11 (C = 0) as they sound in the audio: the theme's pitch classes
     * shifted by transposition, i.e. the CTC targets. */
    int *labels;
    size_t n_labels;
    int fold;
    int transposition;
    char *license;    /* "" when unknown */
    char *midi_path;  /* the theme's MIDI file (query_midi, or a .mid theme), "" when none */
} lm_pair;

typedef struct {
    lm_pair *items;
    size_t n;
} lm_pairs;

typedef struct {
    const char *audio_dir;  /* NULL: audio paths are taken relative to the CSV's folder */
    const char *pieces_csv; /* NULL: no licence join (a license column is still read) */
} lm_pairs_options;

/* Loads and validates every row; on any bad row returns -1 with a one-line error naming
 * the file, line and column. opt may be NULL. */
int lm_pairs_load(const char *csv_path, const lm_pairs_options *opt, lm_pairs *out);
/* Keeps the pairs whose fold is (exclude = 0) or is not (exclude = 1) in folds[0..n_folds).
 * Returns the number kept, or -1 with an error when none is left. */
long lm_pairs_filter_folds(lm_pairs *p, const int *folds, size_t n_folds, int exclude);
/* Keeps the pairs whose licence equals one of a comma-separated list such as "CC0-1.0"
 * (case-insensitive; pairs with unknown licence are dropped). Returns the number kept, or -1
 * with an error when none is left. */
long lm_pairs_filter_license(lm_pairs *p, const char *licenses);
void lm_pairs_free(lm_pairs *p);

/* Parses a pitch-class sequence ("C F G# Bb", whitespace-separated) into pcs (at most cap);
 * returns the number of classes, or -1 with an error naming the bad token. */
long lm_parse_pitch_classes(const char *text, int *pcs, size_t cap);
#endif
