/* Symbolic queries: a monophonic theme from a Standard MIDI File or a typed note list,
 * turned into a binary chroma sequence at 25 Hz. */
#ifndef LM_SYMBOLIC_THEME_H
#define LM_SYMBOLIC_THEME_H
#include <stddef.h>

typedef struct {
    double onset;    /* seconds from the theme start */
    double duration; /* seconds */
    int pitch;       /* MIDI pitch 0..127, or -1 for a rest */
} lm_note;

typedef struct {
    lm_note *notes; /* sorted by onset, non-overlapping */
    size_t n;
    double duration; /* end of the last note or rest, seconds */
} lm_theme;

/* Standard MIDI file (format 0/1); polyphony reduced to the highest sounding note
 * (skyline); channel 10 (drums) ignored. Error if no notes. */
int lm_midi_read_theme(const char *path, lm_theme *out);
int lm_midi_parse_theme(const unsigned char *data, size_t n, lm_theme *out);
/* Note list such as "G4 G4 G4 Eb4:4 F4 F4 F4 D4:4 r:2": pitch letter, accidentals (#, b, x, bb),
 * octave (C4 = MIDI 60), optional ":beats" (default 1); "r" is a rest. bpm > 0. */
int lm_notelist_parse(const char *text, double bpm, lm_theme *out);
void lm_theme_free(lm_theme *t);
/* A theme given as text: a MIDI file path (name ending in .mid/.midi, or an existing file) or
 * a note list at `bpm` (<= 0: 120). Sets *from_midi (may be NULL) to say which it was. */
int lm_theme_load(const char *spec, double bpm, lm_theme *out, int *from_midi);
/* Pitch-class sequence of the sounding notes (rests skipped), length returned. */
size_t lm_theme_pitch_classes(const lm_theme *t, int *pcs, size_t cap);

/* Binary chroma 12 x N (chroma-major) at 25 Hz: 1 at the sounding pitch class
 * (after transposition), rests are zero columns, frames l2-normalised.
 * duration_sec > 0 stretches the theme to that duration; otherwise its own. */
float *lm_theme_to_chroma(const lm_theme *t, double duration_sec, int transpose, size_t *n_frames);
#endif
