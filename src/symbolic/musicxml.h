/* Themes from MusicXML scores: uncompressed (.musicxml, .xml; score-partwise or score-timewise)
 * and compressed (.mxl: a zip archive whose META-INF/container.xml names the score).
 *
 * What is read (see lm_theme_select in theme.h for the selection):
 *  - the chosen part (by number in part-list order, or part-name / part-abbreviation / id), or
 *    every part; its notes at sounding pitch (<transpose> chromatic + 12 octave-change, per
 *    staff when it has a number), all staves and voices (or the one voice asked for), placed
 *    by <duration>/<divisions> with <backup>, <forward> and <chord/>; <alter> is rounded to the
 *    nearest semitone (microtones); <octave-shift> lines are display only (pitches are true);
 *  - reduced to the top sounding note at every instant (a chord gives its top note); ties
 *    (<tie>, else <tied>) joined; grace and cue notes, and unpitched (percussion) notes, left
 *    out; rests and gaps are rests; leading and trailing rests dropped;
 *  - measures in document order as written: repeats, endings and da capo are not expanded;
 *    a measure lasts as long as the longest part's content in it; a measure range uses the
 *    measure@number values of the chosen part (of the first part when all are read), their
 *    leading integer ("12a" is 12; a measure split in two, "12" + "12a", is one);
 *  - a part that is not read and cannot be timed (say, without <divisions>) counts only up to
 *    where it fails; the parts that are read must be sound;
 *  - seconds through the tempo marks of any part (<sound tempo>, else a <metronome> with a
 *    beat unit and a number per minute), the first mark's tempo applying before it; without
 *    marks `bpm` quarter notes per minute (<= 0: 120); sel->qpm > 0 replaces all of them.
 * Security: the XML is parsed with libxml2 without network access, DTD loading or entity
 * substitution (no XXE); input and uncompressed members are limited to 100 MiB.
 * Errors (-1, one line via lm_set_error): malformed XML, a document that is not MusicXML, a zip
 * that is not a compressed MusicXML file, a part or measure that does not exist, no notes. */
#ifndef LM_SYMBOLIC_MUSICXML_H
#define LM_SYMBOLIC_MUSICXML_H
#include <stddef.h>

#include "symbolic/theme.h"

/* Uncompressed MusicXML in memory (any encoding the XML declaration or a BOM gives). */
int lm_musicxml_parse(const char *buf, size_t n, double bpm, const lm_theme_select *sel, lm_theme *out);
/* Compressed MusicXML (.mxl) in memory. */
int lm_mxl_parse(const unsigned char *buf, size_t n, double bpm, const lm_theme_select *sel, lm_theme *out);
/* A file of either kind (a zip archive is read as .mxl); errors are prefixed with the path. */
int lm_musicxml_read(const char *path, double bpm, const lm_theme_select *sel, lm_theme *out);
#endif
