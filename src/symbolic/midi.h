/* Standard MIDI File reader: every pitched note of every track, with the tempo map. The one MIDI
 * parser of leitmotif; the theme reader (skyline, midi.c) and the score of `leitmotif align`
 * (align/align.h) are built on it. Bounds-checked: malformed input yields a one-line error,
 * never a bad access (fuzzed through the theme reader, fuzz/fuzz_midi.c). */
#ifndef LM_SYMBOLIC_MIDI_H
#define LM_SYMBOLIC_MIDI_H
#include <stddef.h>
#include <stdint.h>

#include "symbolic/theme.h"

typedef struct {
    double onset, offset;       /* seconds from the start of the file (tick 0) */
    uint64_t on_tick, off_tick; /* the same in ticks; off_tick > on_tick */
    int pitch;                  /* MIDI pitch 0..127 */
    int velocity;               /* 1..127 */
    int track;                  /* MTrk chunk, counted from 1 */
    int channel;                /* 0..15, never 9 (drums) */
} lm_midi_note;

typedef struct {
    /* In read order (track by track, by note-on). Channel 10 (drums) is left out (counted in
     * n_drum_notes), and so are notes that end at the tick they start. */
    lm_midi_note *notes;
    size_t n;
    size_t n_drum_notes; /* note-ons on channel 10 */
    double duration;     /* latest offset, seconds (0 without notes) */
    /* Tempo map: piecewise linear quarter notes -> seconds, one segment per distinct tempo tick
     * (of several tempo events at one tick, of any track, the one read last wins); seg_qn[0] = 0.
     * SMPTE files have one segment with the rate that 120 bpm would have (their quarter notes are
     * nominal); ticks_per_qn is then nominal too (a quarter note per half second). */
    double *seg_qn, *seg_sec, *seg_sec_per_qn;
    size_t n_seg;
    double ticks_per_qn;
    /* MTrk chunks read, and each one's name (its first sequence/track name meta event, control
     * characters as spaces; NULL when it has none). */
    int n_tracks;
    char **track_names;
} lm_midi_notes;

/* Format 0/1 files. A file without (pitched) notes is not an error here: n == 0. */
int lm_midi_parse_notes(const unsigned char *data, size_t n, lm_midi_notes *out);
/* Errors are prefixed with the path. */
int lm_midi_read_notes(const char *path, lm_midi_notes *out);
void lm_midi_notes_free(lm_midi_notes *m);
/* The theme of the notes of one track (1-based; 0 = all): polyphony reduced to the highest
 * sounding note (skyline). Reorders m->notes (for a track, keeps only its notes there); errors
 * when there are none, saying which tracks have some. */
int lm_midi_notes_theme(lm_midi_notes *m, int track, lm_theme *out);
/* Seconds at `qn` quarter notes from the start of the file (through the tempo map; the last
 * tempo goes on, and before the first segment the first tempo applies). */
double lm_midi_qn_to_sec(const lm_midi_notes *m, double qn);
#endif
