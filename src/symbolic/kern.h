/* Themes from Humdrum **kern files (.krn).
 *
 * What is read (see lm_theme_select in theme.h for the selection):
 *  - the chosen **kern spine (the N-th **kern spine from the left, as in the file, or by its
 *    *I"name, *I'abbreviation or *I instrument code), or every **kern spine; other spines
 *    (**dynam, **text, ...) are ignored; spine splits, joins, exchanges, additions and
 *    terminations (*^ *v *x *+ *-) are followed, a split spine's sub-spines all belonging to it
 *    (layer N = the N-th sub-spine from the left, for the voice selection);
 *  - notes at sounding pitch: kern is written at sounding pitch (*ITr only says how to write a
 *    transposing part and is ignored); a spine marked *TrdNcM (data transposed by M semitones,
 *    as the Humdrum transpose tool writes it) is moved back by M; ottava marks (*8va) and key
 *    signatures are display only (kern tokens carry their true pitch and accidentals);
 *  - durations from the recip number: 4 = quarter, 8 = eighth, 3 = half-note triplet, 12 =
 *    eighth triplet, 0 = breve, 00 = long, 000 = maxima, N%M = M/N of a whole note, dots;
 *    a line starts when the earliest sounding event of any **kern spine ends;
 *  - reduced to the top sounding note at every instant (a chord "4c 4e 4g" gives its top note);
 *    ties ([ _ ]) joined; grace notes (q, qq) left out; rests and gaps are rests; leading and
 *    trailing rests dropped;
 *  - measures from the barlines: =N starts measure N; music before the first numbered barline
 *    is measure N-1 (a pickup is measure 0 when the first barline is =1); repeats and
 *    expansion lists (*>) are not expanded;
 *  - the file's first piece: lines after all its spines have ended (*-) are ignored;
 *  - seconds through *MM tempo marks (the first mark's tempo applying before it); without any,
 *    `bpm` quarter notes per minute (<= 0: 120); sel->qpm > 0 replaces all of them.
 * Errors (-1, one line via lm_set_error): no **kern spine, a line whose fields do not match the
 * open spines, a token that is not a note or rest, a file that ends before its spines are
 * terminated (*-), a spine or measure that does not exist, no notes. */
#ifndef LM_SYMBOLIC_KERN_H
#define LM_SYMBOLIC_KERN_H
#include <stddef.h>

#include "symbolic/theme.h"

int lm_kern_parse(const char *buf, size_t n, double bpm, const lm_theme_select *sel, lm_theme *out);
/* Errors are prefixed with the path. */
int lm_kern_read(const char *path, double bpm, const lm_theme_select *sel, lm_theme *out);
#endif
