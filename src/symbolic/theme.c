/* Typed note lists, measure ranges, and themes -> binary query chroma. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "symbolic/theme.h"

#define QUERY_RATE 25.0          /* frames per second, as the audio features */
#define MAX_THEME_SECONDS 3600.0 /* longer "themes" are input mistakes, not queries */
#define MAX_BEATS 1000.0

void lm_theme_free(lm_theme *t) {
    if (!t) return;
    free(t->notes);
    t->notes = NULL;
    t->n = 0;
    t->duration = 0.0;
}

size_t lm_theme_pitch_classes(const lm_theme *t, int *pcs, size_t cap) {
    size_t count = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (t->notes[i].pitch < 0) continue;
        if (count < cap) pcs[count] = t->notes[i].pitch % 12;
        count++;
    }
    return count;
}

/* A positive decimal ("2", "1.5", ".5") or fraction ("1/2", "3/2"), the whole of s[0..len). */
static int parse_beats(const char *s, size_t len, double *beats) {
    size_t i = 0;
    double whole = 0.0, frac = 0.0, scale = 1.0;
    int digits = 0;
    while (i < len && isdigit((unsigned char)s[i])) whole = whole * 10 + (s[i++] - '0'), digits++;
    if (i < len && s[i] == '.') {
        for (i++; i < len && isdigit((unsigned char)s[i]); i++) frac = frac * 10 + (s[i] - '0'), scale *= 10, digits++;
    } else if (i < len && s[i] == '/' && digits > 0) {
        double den = 0.0;
        int den_digits = 0;
        for (i++; i < len && isdigit((unsigned char)s[i]); i++) den = den * 10 + (s[i] - '0'), den_digits++;
        if (i != len || den_digits == 0 || den == 0.0) return -1;
        *beats = whole / den;
        return *beats > 0.0 && *beats <= MAX_BEATS ? 0 : -1;
    }
    if (i != len || digits == 0) return -1;
    *beats = whole + frac / scale;
    return *beats > 0.0 && *beats <= MAX_BEATS ? 0 : -1;
}

/* Semitones of C D E F G A B above C. */
static const int letter_semitone[7] = {9, 11, 0, 2, 4, 5, 7}; /* A..G */

/* One token: note (letter, accidentals, octave) or rest, then an optional ":beats".
 * Returns 0 with *pitch (-1 for a rest) and *beats, or -1 with *why set. */
static int parse_token(const char *tok, size_t len, int *pitch, double *beats, const char **why) {
    const char *colon = memchr(tok, ':', len);
    size_t head = colon ? (size_t)(colon - tok) : len;
    *beats = 1.0;
    if (colon && parse_beats(colon + 1, len - head - 1, beats) < 0) {
        *why = "the duration after ':' must be a positive number of beats such as 2, 1.5 or 1/2 (at most 1000)";
        return -1;
    }
    if (head == 1 && (tok[0] == 'r' || tok[0] == 'R')) {
        *pitch = -1;
        return 0;
    }
    if (head == 0) {
        *why = "expected a note such as G4, Eb4 or F#3, or a rest r";
        return -1;
    }
    int letter = toupper((unsigned char)tok[0]);
    if (letter < 'A' || letter > 'G') {
        *why = "a note starts with a letter A-G (or r for a rest)";
        return -1;
    }
    int semitone = letter_semitone[letter - 'A'];
    size_t i = 1;
    if (i + 1 < head && tok[i] == '#' && tok[i + 1] == '#')
        semitone += 2, i += 2;
    else if (i + 1 < head && tok[i] == 'b' && tok[i + 1] == 'b')
        semitone -= 2, i += 2;
    else if (i < head && (tok[i] == '#' || tok[i] == 'x'))
        semitone += tok[i] == '#' ? 1 : 2, i++;
    else if (i < head && tok[i] == 'b')
        semitone -= 1, i++;
    int negative = i < head && tok[i] == '-';
    if (negative) i++;
    if (i >= head) {
        *why = "the octave is missing (C4 is middle C)";
        return -1;
    }
    int octave = 0;
    size_t first_digit = i;
    for (; i < head && isdigit((unsigned char)tok[i]) && i - first_digit < 3; i++) octave = octave * 10 + (tok[i] - '0');
    if (i != head || i == first_digit) {
        *why = "expected accidentals (#, ##, x, b, bb) and an octave number after the letter";
        return -1;
    }
    if (negative) octave = -octave;
    if (octave < -1 || octave > 9) {
        *why = "the octave must be between -1 and 9";
        return -1;
    }
    int p = 12 * (octave + 1) + semitone;
    if (p < 0 || p > 127) {
        *why = "the pitch is outside the MIDI range C-1 .. G9";
        return -1;
    }
    *pitch = p;
    return 0;
}

int lm_notelist_parse(const char *text, double bpm, lm_theme *out) {
    memset(out, 0, sizeof *out);
    if (!text) {
        lm_set_error("note list is missing");
        return -1;
    }
    if (!(bpm > 0.0) || !isfinite(bpm)) {
        lm_set_error("note list: the tempo must be a positive number of beats per minute (got %g)", bpm);
        return -1;
    }
    size_t len = strlen(text), cap = len / 2 + 1;
    lm_note *notes = malloc(cap * sizeof *notes);
    if (!notes) {
        lm_set_error("out of memory parsing a note list");
        return -1;
    }
    const double sec_per_beat = 60.0 / bpm;
    double time = 0.0;
    size_t n = 0, token_no = 0, n_sounding = 0;
    for (size_t i = 0; i < len;) {
        if (isspace((unsigned char)text[i])) {
            i++;
            continue;
        }
        size_t start = i;
        while (i < len && !isspace((unsigned char)text[i])) i++;
        token_no++;
        int pitch;
        double beats;
        const char *why = NULL;
        if (parse_token(text + start, i - start, &pitch, &beats, &why) < 0) {
            /* at most 40 bytes of the token, cut before a UTF-8 continuation byte, not inside a character */
            size_t shown = i - start > 40 ? 40 : i - start;
            while (shown > 0 && shown < i - start && ((unsigned char)text[start + shown] & 0xC0) == 0x80) shown--;
            lm_set_error("note list: token %zu '%.*s%s' (column %zu): %s", token_no, (int)shown, text + start,
                         shown < i - start ? "\u2026" : "", start + 1, why);
            free(notes);
            return -1;
        }
        double dur = beats * sec_per_beat;
        if (pitch < 0 && n > 0 && notes[n - 1].pitch < 0) { /* rests in a row are one rest */
            notes[n - 1].duration += dur;
        } else if (!(pitch < 0 && n == 0)) { /* a leading rest carries no melody */
            notes[n++] = (lm_note){time, dur, pitch};
        }
        if (n > 0) time += dur;
        n_sounding += pitch >= 0;
    }
    if (token_no == 0) {
        lm_set_error("note list is empty (expected notes such as \"G4 G4 G4 Eb4:4\")");
        free(notes);
        return -1;
    }
    if (n_sounding == 0) {
        lm_set_error("note list has only rests");
        free(notes);
        return -1;
    }
    if (notes[n - 1].pitch < 0) n--; /* nor does a trailing one */
    out->notes = notes;
    out->n = n;
    out->duration = notes[n - 1].onset + notes[n - 1].duration;
    return 0;
}

/* The N = round(25 T) frames (T: target duration) cover the theme evenly: frame i stands for
 * the i-th of N equal intervals and takes the note sounding at its centre, theme time
 * (i + 0.5) D / N (D: the theme's own duration). Without stretching that is (i + 0.5) / 25 s
 * (exactly when 25 D is whole), so query frame i lines up with feature frame i at
 * t_i = 0.04 i, and a note of d seconds gets about 25 d frames; a note shorter than a frame
 * may fall between two centres. Rounding N never shifts the grid off the theme. */
float *lm_theme_to_chroma(const lm_theme *t, double duration_sec, int transpose, size_t *n_frames) {
    if (!t || t->n == 0 || !(t->duration > 0.0)) {
        lm_set_error("theme has no notes");
        return NULL;
    }
    double target = duration_sec > 0.0 ? duration_sec : t->duration;
    if (!(target <= MAX_THEME_SECONDS)) {
        lm_set_error("theme of %g s is too long for a query (at most %g s)", target, MAX_THEME_SECONDS);
        return NULL;
    }
    size_t N = (size_t)lround(target * QUERY_RATE);
    if (N < 1) N = 1;
    float *chroma = lm_calloc(12 * N, sizeof *chroma);
    if (!chroma) return NULL;
    const double frame_span = t->duration / (double)N; /* theme seconds per frame */
    int shift = ((transpose % 12) + 12) % 12;
    size_t k = 0;
    for (size_t i = 0; i < N; i++) {
        double time = (i + 0.5) * frame_span;
        while (k + 1 < t->n && t->notes[k + 1].onset <= time) k++; /* last note started by then */
        int pitch = t->notes[k].pitch;
        /* One active pitch class: the l2-normalised frame is the binary one itself. */
        if (pitch >= 0) chroma[(size_t)((pitch + shift) % 12) * N + i] = 1.0f;
    }
    *n_frames = N;
    return chroma;
}

/* ---- measure ranges ---- */

/* A measure number at text[*i] (spaces skipped before it): 0..999999; -1 when there is none. */
static long range_number(const char *text, size_t *i) {
    while (text[*i] == ' ' || text[*i] == '\t') (*i)++;
    if (!isdigit((unsigned char)text[*i])) return -1;
    long v = 0;
    for (; isdigit((unsigned char)text[*i]); (*i)++)
        if ((v = v * 10 + (text[*i] - '0')) > 999999) return -2;
    return v;
}

int lm_measure_range_parse(const char *text, int *first, int *last) {
    *first = *last = 0;
    if (!text) {
        lm_set_error("measure range is missing");
        return -1;
    }
    size_t i = 0;
    long a = range_number(text, &i), b = -1;
    int dash = 0;
    while (text[i] == ' ' || text[i] == '\t') i++;
    if (text[i] == '-') {
        dash = 1, i++;
    } else if (!strncmp(text + i, "\xE2\x80\x93", 3)) { /* en dash, as printed */
        dash = 1, i += 3;
    }
    if (dash) b = range_number(text, &i);
    while (text[i] == ' ' || text[i] == '\t') i++;
    /* Not: trailing text, a number too large, no number at all, a lone "0", "N-0", or "0-" (the
     * whole piece, surely a mistake). */
    int bad = text[i] != '\0' || a == -2 || b == -2 || (a < 0 && b < 0) || (!dash && a == 0) || (dash && b == 0) ||
              (dash && a == 0 && b < 0);
    if (bad) {
        char shown[48];
        size_t n = 0;
        for (const char *p = text; *p && n + 1 < sizeof shown; p++) shown[n++] = (unsigned char)*p < 0x20 ? ' ' : *p;
        shown[n] = '\0';
        lm_set_error("measure range \"%s\": expected N, N-M, N- or -M with measure numbers as printed (such as 5-9), "
                     "from 1 to 999999",
                     shown);
        return -1;
    }
    if (!dash) b = a;
    if (a > 0 && b > 0 && b < a) {
        lm_set_error("measure range %ld-%ld: the last measure comes before the first", a, b);
        return -1;
    }
    *first = a > 0 ? (int)a : 0;
    *last = b > 0 ? (int)b : 0;
    return 0;
}
