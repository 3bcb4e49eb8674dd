/* Symbolic queries: a monophonic theme from a Standard MIDI File, a MusicXML or **kern score
 * (musicxml.h, kern.h) or a typed note list, turned into a binary chroma sequence at 25 Hz. */
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
/* Which part of a theme file to read; all zeros (or a NULL pointer) = the defaults. */
typedef struct {
    /* MusicXML part or **kern spine: a 1-based number ("2") or a name ("Violin I"; MusicXML
     * part-name, part-abbreviation or id; kern *I"name, *I'abbreviation or *I instrument code),
     * matched without regard to case or spacing. MIDI: a track number or track name. NULL or ""
     * = every part, reduced to the top sounding note. */
    const char *part;
    /* Measures as printed (MusicXML measure@number, kern =N barlines), inclusive; 0 = from the
     * start / to the end. Not for MIDI files (no printed measure numbers). */
    int measure_first, measure_last;
    /* MIDI track, 1-based (MTrk chunk); 0 = all tracks (skyline). MIDI only. */
    int track;
    /* MusicXML <voice> number / kern layer (the N-th sub-spine of a split spine, left to right,
     * an unsplit spine being layer 1) of the chosen part; 0 = every voice, reduced to the top
     * sounding note. */
    int voice;
    /* > 0: the theme's tempo in quarter notes per minute, replacing the file's tempo marks
     * (MusicXML, kern) or tempo map (MIDI; a file timed in SMPTE frames counts half a second as
     * a quarter note): the whole theme at this one tempo. For a note list, its tempo (a beat is a
     * quarter note). 0 = the file's tempo. */
    double qpm;
} lm_theme_select;

/* What a theme was read from (lm_theme_load_ex); non-zero = a file. */
enum { LM_THEME_NOTELIST = 0, LM_THEME_MIDI = 1, LM_THEME_MUSICXML = 2, LM_THEME_MXL = 3, LM_THEME_KERN = 4 };

/* Measure range as typed: "5-9", "5" (one measure), "5-" (to the end), "-9" (from the start),
 * with optional spaces and an en dash allowed; numbers 1..999999 ("0-9" = "-9": a pickup measure 0
 * is part of the start). Sets *first and *last (0 = open end); -1 with a one-line
 * error on anything else or when last < first. */
int lm_measure_range_parse(const char *text, int *first, int *last);

/* Standard MIDI file with a selection: sel->track (or sel->part, a track number or name) picks
 * one track (its notes reduced by the skyline, the file's tempo map applying); measure ranges
 * and voices are errors for MIDI. */
int lm_midi_read_theme_sel(const char *path, const lm_theme_select *sel, lm_theme *out);
int lm_midi_parse_theme_sel(const unsigned char *data, size_t n, const lm_theme_select *sel, lm_theme *out);

/* Note list such as "G4 G4 G4 Eb4:4 F4 F4 F4 D4:4 r:2": pitch letter, accidentals (#, b, x, bb),
 * octave (C4 = MIDI 60), optional ":beats" (default 1); "r" is a rest. bpm > 0. */
int lm_notelist_parse(const char *text, double bpm, lm_theme *out);
void lm_theme_free(lm_theme *t);
/* A theme given as text: a file path (a name ending in .mid/.midi, .musicxml/.xml, .mxl or .krn,
 * or any existing file) or a note list at `bpm` (<= 0: 120). A file's format is recognised by
 * its content (MThd, a zip archive, XML, Humdrum), else by its extension. MusicXML and kern files
 * take their tempo from their tempo marks (<sound tempo>, <metronome>; *MM) and use `bpm` (<= 0:
 * 120 quarter notes per minute) only when they have none; sel->qpm > 0 replaces the tempo of any
 * file (and `bpm` of a note list). `sel` (may be NULL) picks a part, measures, track or voice;
 * for a note list any of those is an error. Sets *from_file (may be
 * NULL) to LM_THEME_NOTELIST or the file format. */
int lm_theme_load_ex(const char *spec, double bpm, const lm_theme_select *sel, lm_theme *out, int *from_file);
/* A theme file in memory (n bytes; an upload, a binding's buffer): its format told by content as
 * lm_theme_load_ex tells a file's, else by the extension of `name` (a file name, may be NULL).
 * bpm, sel as for lm_theme_load_ex. Sets *format (may be NULL) to the file format. */
int lm_theme_parse_buffer(const unsigned char *data, size_t n, const char *name, double bpm,
                          const lm_theme_select *sel, lm_theme *out, int *format);
/* A note list with a selection: sel->qpm (> 0) is its tempo, else bpm (<= 0: 120); a part,
 * measures, track or voice are an error (a note list has none). */
int lm_notelist_parse_sel(const char *text, double bpm, const lm_theme_select *sel, lm_theme *out);
/* Non-zero when sel (may be NULL) picks a part, measures, track or voice. */
int lm_theme_select_any(const lm_theme_select *sel);
/* 0 when sel's numbers are in range (negative ones, measures last < first, a tempo past 100000
 * are not); -1 with a one-line error. NULL is fine. */
int lm_theme_select_check(const lm_theme_select *sel);
/* Sets one field of a selection from text, as typed after a command-line option or in a web form:
 * `name` "part" (a number or name, not empty; sel->part points to value), "measures"
 * (lm_measure_range_parse), "track" (1..65535), "voice" (1..1000000) or "tempo" (sel->qpm,
 * 1..2000). Returns 1 when set, 0 when `name` is none of them, -1 with a one-line error that does
 * not name the option (the caller prefixes "--part: " or "part: "). */
int lm_theme_select_set(lm_theme_select *sel, const char *name, const char *value);
/* lm_theme_load_ex without a selection; *from_midi (may be NULL) is non-zero for any file. */
int lm_theme_load(const char *spec, double bpm, lm_theme *out, int *from_midi);
/* Pitch-class sequence of the sounding notes (rests skipped), length returned. */
size_t lm_theme_pitch_classes(const lm_theme *t, int *pcs, size_t cap);

/* Binary chroma 12 x N (chroma-major) at 25 Hz: 1 at the sounding pitch class
 * (after transposition), rests are zero columns, frames l2-normalised.
 * duration_sec > 0 stretches the theme to that duration; otherwise its own. */
float *lm_theme_to_chroma(const lm_theme *t, double duration_sec, int transpose, size_t *n_frames);
#endif
