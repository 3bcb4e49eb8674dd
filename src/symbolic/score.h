/* The common back end of the score readers (MusicXML, musicxml.c; Humdrum **kern, kern.c): exact
 * time in quarter notes (rationals), part selection by name or number, measure ranges, tie
 * merging, and the reduction of the chosen notes to a monophonic theme in seconds (the top
 * sounding note at every instant, the file's tempo marks). Internal to src/symbolic; its names
 * are lm_sym_* and lm_rat_* (align.h has an lm_score of its own). */
#ifndef LM_SYMBOLIC_SCORE_H
#define LM_SYMBOLIC_SCORE_H
#include <stddef.h>
#include <stdint.h>

#include "symbolic/theme.h"

/* Largest score file (or uncompressed .mxl member) read: 100 MiB. */
#define LM_SYM_MAX_BYTES ((size_t)100 << 20)

/* Reads a whole file of at most LM_SYM_MAX_BYTES (NUL-terminated); NULL with an error. */
char *lm_sym_read_file(const char *path, size_t *n);
/* Prefixes the current error message with `path: `. */
void lm_sym_prefix_error(const char *path);

/* num/den with den > 0, in lowest terms; |num|, den < 2^62. Every operation that would leave
 * that range returns -1 (the caller reports "rhythm too complex"); none is undefined. */
typedef struct {
    int64_t num, den;
} lm_rat;

static inline lm_rat lm_rat_int(int64_t v) { return (lm_rat){v, 1}; }
int lm_rat_make(int64_t num, int64_t den, lm_rat *out); /* den != 0 */
int lm_rat_add(lm_rat a, lm_rat b, lm_rat *out);
int lm_rat_sub(lm_rat a, lm_rat b, lm_rat *out);
int lm_rat_mul(lm_rat a, lm_rat b, lm_rat *out);
int lm_rat_div(lm_rat a, lm_rat b, lm_rat *out); /* b != 0 */
int lm_rat_cmp(lm_rat a, lm_rat b);
double lm_rat_to_double(lm_rat a);
/* A decimal number, the whole of s[0..len) after trimming spaces: optional sign, digits, optional
 * fraction ("480", "-2", "1.5", ".25"); at most 15 significant digits. */
int lm_rat_parse(const char *s, size_t len, lm_rat *out);

typedef struct {
    lm_rat on, off;  /* quarter notes from the start of the score; off > on */
    int pitch;       /* sounding MIDI pitch 0..127 */
    int group;       /* part or spine: ties join notes of one group only */
    unsigned char tie_start, tie_stop;
    size_t seq;      /* document order (set by lm_sym_add_note) */
} lm_sym_note;

typedef struct {
    lm_rat at;   /* quarter notes */
    double qpm;  /* quarter notes per minute, > 0 */
    size_t seq;
} lm_sym_tempo;

typedef struct {
    int number;        /* the printed number's leading integer, -1 when there is none */
    lm_rat start, end; /* quarter notes */
} lm_sym_measure;

typedef struct {
    lm_sym_note *notes;
    size_t n_notes, cap_notes;
    lm_sym_tempo *tempi;
    size_t n_tempi, cap_tempi;
    lm_sym_measure *measures; /* in document order */
    size_t n_measures, cap_measures;
} lm_sym_score;

void lm_sym_free(lm_sym_score *s);
int lm_sym_add_note(lm_sym_score *s, lm_sym_note note);
int lm_sym_add_tempo(lm_sym_score *s, lm_rat at, double qpm);
int lm_sym_add_measure(lm_sym_score *s, lm_sym_measure m);

/* Whether `sel` (a part/spine selection string) is a number: its value (>= 1), else 0. */
int lm_sym_part_number(const char *sel);
/* Case-insensitive comparison with runs of white space counted as one space and the ends trimmed. */
int lm_sym_names_equal(const char *a, const char *b);
/* Picks part `sel` ("2" or a name matching any of names[i][0..3], NULL entries skipped) among
 * n parts: returns its 0-based index, or -1 with an error that lists the parts. `kind` is
 * "part", "spine" or "track", `where` names the file type ("MusicXML file"). */
int lm_sym_find_part(const char *sel, size_t n, const char *const (*names)[4], const char *kind,
                       const char *where);
/* Copies at most cap-1 bytes of s[0..len) into buf with control characters as spaces, white space
 * runs as one space, the ends trimmed (names shown in one-line messages). */
void lm_sym_clean_name(char *buf, size_t cap, const char *s, size_t len);

/* Quarter-note span [*start, *end) of measures first..last as printed (0 = from the start / to the
 * end): from the first measure numbered `first` to the first measure numbered `last` after it
 * (with any directly following measures of that number: a measure split in two). `what` names
 * the part in errors ("part 2 \"Violin II\""). */
int lm_sym_measure_span(const lm_sym_score *s, int first, int last, const char *what, lm_rat *start, lm_rat *end,
                          int *whole);
/* " in measures 5-9", " in measure 5", " from measure 5 on", " up to measure 9" or "" (for messages). */
void lm_sym_describe_range(char *buf, size_t cap, int first, int last);
/* Joins tied notes: a note marked tie_stop continues the open tie_start note of its group with the
 * same pitch that ends where it begins. */
void lm_sym_merge_ties(lm_sym_score *s);
/* The theme of the notes within [start, end) (all of them when whole): notes clipped to the span,
 * at every instant the highest sounding pitch (a re-struck note is a new note), silence as rests,
 * leading and trailing silence dropped; seconds through the tempo marks (none: `bpm` quarter
 * notes per minute; before the first mark its tempo applies). Returns 1 (no error set) when no
 * note sounds in the span, -1 on error. */
int lm_sym_to_theme(lm_sym_score *s, lm_rat start, lm_rat end, int whole, double bpm, lm_theme *out);
/* What the score readers (kern.c, musicxml.c) do once the selected part's notes are in s: the
 * measure range of sel (NULL: all), ties merged, sel->qpm in place of the tempo marks when given,
 * then lm_sym_to_theme. `what` names the part and `layer` the word for sel->voice ("layer",
 * "voice") in errors. 0, or -1 with the error set (also when no note sounds there). */
int lm_sym_select_theme(lm_sym_score *s, const lm_theme_select *sel, const char *what, const char *layer, double bpm,
                        lm_theme *out);
/* *array (of *cap elements of elem bytes) grown to hold at least need: doubled from first_cap;
 * 0, or -1 with the error set (the array unchanged). */
int lm_sym_grow(void **array, size_t *cap, size_t need, size_t elem, size_t first_cap);
#endif
