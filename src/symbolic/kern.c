/* Humdrum **kern themes (symbolic/kern.h): spines, rhythm and pitch of **kern tokens; the notes go
 * through the common score back end (score.h). Every read is bounded by the line being parsed. */
#include "symbolic/kern.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "symbolic/score.h"

#define MAX_COLUMNS 4096 /* open spines (sub-spines included) */
#define MAX_TRACKS 65536 /* spines started in the file */
#define MAX_QPM 10000.0

typedef struct {
    int track;  /* index into tracks; -1 while a spine added by *+ awaits its ** interpretation */
    lm_rat end; /* end of the event that sounds (or rests) in this sub-spine */
} kcol;

typedef struct {
    int kern;      /* a **kern spine */
    int number;    /* 1-based among the **kern spines, 0 for others */
    int transpose; /* semitones added to the data to get sounding pitch (*Tr) */
    char name[128], abbr[64], code[32];
} ktrack;

typedef struct {
    const char *line; /* for messages */
    size_t line_no;
    kcol *cols;
    size_t n_cols;
    ktrack *tracks;
    size_t n_tracks, cap_tracks;
    int n_kern;
    lm_rat time;
    lm_sym_score score;
    int voice;        /* layer wanted, 0 = all */
    int *layer_count; /* per track, for the current line */
} kfile;

static int line_error(const kfile *k, const char *fmt, const char *token, size_t token_len, int spine) {
    char shown[48];
    lm_sym_clean_name(shown, sizeof shown, token, token_len);
    char what[256];
    snprintf(what, sizeof what, fmt, shown);
    if (spine > 0)
        lm_set_error("**kern line %zu, spine %d: %s", k->line_no, spine, what);
    else
        lm_set_error("**kern line %zu: %s", k->line_no, what);
    return -1;
}

static int rhythm_error(const kfile *k) {
    lm_set_error("**kern line %zu: durations too long or too finely divided to be added up exactly", k->line_no);
    return -1;
}

static int new_track(kfile *k, const char *excl, size_t len) {
    if (k->n_tracks >= MAX_TRACKS) {
        lm_set_error("**kern line %zu: more than %d spines in the file", k->line_no, MAX_TRACKS);
        return -1;
    }
    if (k->n_tracks + 1 > k->cap_tracks) {
        size_t cap = k->cap_tracks ? 2 * k->cap_tracks : 16;
        ktrack *t = lm_malloc(cap, sizeof *t);
        int *lc = lm_malloc(cap, sizeof *lc);
        if (!t || !lc) {
            free(t);
            free(lc);
            return -1;
        }
        if (k->tracks) memcpy(t, k->tracks, k->n_tracks * sizeof *t);
        free(k->tracks);
        free(k->layer_count);
        k->tracks = t;
        k->layer_count = lc;
        k->cap_tracks = cap;
    }
    ktrack *t = &k->tracks[k->n_tracks];
    memset(t, 0, sizeof *t);
    t->kern = len == 6 && memcmp(excl, "**kern", 6) == 0;
    if (t->kern) t->number = ++k->n_kern;
    return (int)k->n_tracks++;
}

/* ---- tokens ---- */

typedef struct {
    int rest, grace, has_pitch, has_dur, tie_start, tie_stop;
    int pitch; /* as written, before *Tr */
    lm_rat dur;
} ktoken;

static const int letter_semitone[7] = {9, 11, 0, 2, 4, 5, 7}; /* a..g */

/* One note, rest or grace note (a chord's member). NULL on success, else why not. */
static const char *parse_subtoken(const char *s, size_t len, ktoken *t) {
    memset(t, 0, sizeof *t);
    char letter = 0;
    int count = 0, accidental = 0, dots = 0, digit_runs = 0;
    int64_t number = 0, per = 1;
    size_t zeros = 0, digits = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (isdigit((unsigned char)c)) {
            if (digit_runs++) return "two duration numbers";
            for (; i < len && isdigit((unsigned char)s[i]); i++) {
                if (++digits > 7) return "a duration number that is too long";
                number = number * 10 + (s[i] - '0');
                zeros += s[i] == '0';
            }
            if (i < len && s[i] == '%') {
                int64_t m = 0;
                size_t md = 0;
                for (i++; i < len && isdigit((unsigned char)s[i]); i++) {
                    if (++md > 7) return "a duration number that is too long";
                    m = m * 10 + (s[i] - '0');
                }
                if (md == 0 || m == 0) return "a duration N%M needs a positive M";
                per = m;
            }
            i--;
        } else if (c == '.') {
            if (++dots > 8) return "too many dots";
        } else if ((c >= 'a' && c <= 'g') || (c >= 'A' && c <= 'G')) {
            if (letter && c != letter) return "two different pitch letters";
            letter = c;
            if (++count > 8) return "a pitch outside the MIDI range";
        } else if (c == '#') {
            if (++accidental > 4) return "too many sharps";
        } else if (c == '-') {
            if (--accidental < -4) return "too many flats";
        } else if (c == 'r') {
            t->rest = 1;
        } else if (c == 'q' || c == 'Q') {
            t->grace = 1;
        } else if (c == '[') {
            t->tie_start = 1;
        } else if (c == ']') {
            t->tie_stop = 1;
        } else if (c == '_') {
            t->tie_start = t->tie_stop = 1;
        } else if ((unsigned char)c < 0x20 && c != '\t') {
            return "a control character";
        }
        /* anything else (articulation, beams, slurs, stems, editorial marks) is notation only */
    }
    if (letter && t->rest) return "both a pitch and a rest";
    if (!letter && !t->rest) return "neither a note nor a rest";
    if (letter) {
        int lower = letter >= 'a';
        int octave = lower ? 3 + count : 4 - count;
        int semi = letter_semitone[(lower ? letter - 'a' : letter - 'A')];
        t->pitch = 12 * (octave + 1) + semi + accidental;
        t->has_pitch = 1;
    }
    if (digit_runs) {
        lm_rat d;
        if (number == 0) { /* 0 breve, 00 long, 000 maxima */
            if (zeros > 3) return "a duration of more than three zeros";
            d = lm_rat_int((int64_t)8 << (zeros - 1));
            if (per != 1 && lm_rat_make(d.num, per, &d) < 0) return "an unusable duration";
        } else if (lm_rat_make(4 * per, number, &d) < 0) {
            return "an unusable duration";
        }
        lm_rat f; /* dots: (2^(dots+1) - 1) / 2^dots */
        lm_rat_make(((int64_t)2 << dots) - 1, (int64_t)1 << dots, &f);
        if (lm_rat_mul(d, f, &t->dur) < 0) return "an unusable duration";
        t->has_dur = 1;
    }
    return NULL;
}

/* A data token of a **kern sub-spine at the current time: its notes, and the end of its event. */
static int data_token(kfile *k, size_t col, const char *tok, size_t len, int layer) {
    kcol *c = &k->cols[col];
    const ktrack *tr = &k->tracks[c->track];
    int spine = (int)col + 1;
    lm_rat shortest = {0, 0};
    lm_rat prev_dur = {0, 0};
    size_t start = 0;
    while (start < len) {
        size_t end = start;
        while (end < len && tok[end] != ' ') end++;
        if (end == start) {
            start++;
            continue;
        }
        ktoken t;
        const char *why = parse_subtoken(tok + start, end - start, &t);
        if (why) {
            char fmt[160];
            snprintf(fmt, sizeof fmt, "\"%%s\" is not a **kern note or rest (%s)", why);
            return line_error(k, fmt, tok + start, end - start, spine);
        }
        start = end;
        if (t.grace) continue;
        if (!t.has_dur) {
            if (prev_dur.den == 0) return line_error(k, "\"%s\" has no duration", tok, len, spine);
            t.dur = prev_dur; /* a chord's later members may leave the duration out */
        }
        prev_dur = t.dur;
        if (t.dur.num <= 0) continue;
        if (shortest.den == 0 || lm_rat_cmp(t.dur, shortest) < 0) shortest = t.dur;
        if (!t.has_pitch || (k->voice > 0 && layer != k->voice) || !tr->kern) continue;
        int pitch = t.pitch - tr->transpose;
        if (pitch < 0 || pitch > 127)
            return line_error(k, "\"%s\" is outside the MIDI range", tok, len, spine);
        lm_sym_note note = {.on = k->time, .pitch = pitch, .group = tr->number, .tie_start = (unsigned char)t.tie_start,
                              .tie_stop = (unsigned char)t.tie_stop};
        if (lm_rat_add(k->time, t.dur, &note.off) < 0) return rhythm_error(k);
        if (lm_sym_add_note(&k->score, note) < 0) return -1;
    }
    if (shortest.den != 0 && lm_rat_add(k->time, shortest, &c->end) < 0) return rhythm_error(k);
    return 0;
}

/* ---- interpretations ---- */

static int tandem(kfile *k, size_t col, const char *f, size_t len) {
    int track = k->cols[col].track;
    if (track < 0) return 0;
    ktrack *t = &k->tracks[track];
    char buf[128];
    if (len > 3 && f[1] == 'M' && f[2] == 'M' && len < sizeof buf) { /* *MM120: quarter notes per minute */
        memcpy(buf, f + 3, len - 3);
        buf[len - 3] = '\0';
        char *end;
        double v = strtod(buf, &end);
        if (end != buf && *end == '\0' && isdigit((unsigned char)buf[0]) && v > 0.0 && v <= MAX_QPM)
            return lm_sym_add_tempo(&k->score, k->time, v);
    } else if (len > 2 && f[1] == 'I' && f[2] == '"') {
        lm_sym_clean_name(t->name, sizeof t->name, f + 3, len - 3);
    } else if (len > 2 && f[1] == 'I' && f[2] == '\'') {
        lm_sym_clean_name(t->abbr, sizeof t->abbr, f + 3, len - 3);
    } else if (len > 2 && f[1] == 'I' && islower((unsigned char)f[2])) {
        lm_sym_clean_name(t->code, sizeof t->code, f + 2, len - 2);
    } else if (len > 3 && f[1] == 'T' && f[2] == 'r' && len < sizeof buf) { /* *TrdNcM */
        memcpy(buf, f, len);
        buf[len] = '\0';
        const char *c = strchr(buf, 'c');
        long semis;
        char *end;
        if (buf[3] == 'd' && c && (semis = strtol(c + 1, &end, 10), *end == '\0' && end != c + 1) && labs(semis) <= 48)
            t->transpose = (int)semis;
    }
    return 0;
}

/* A line of interpretations: spine manipulators, new spines' types, tandem interpretations. */
static int interpretations(kfile *k, const char **field, const size_t *flen, size_t nf) {
    kcol *out = lm_malloc(2 * nf + 1, sizeof *out);
    if (!out) return -1;
    size_t n = 0;
    for (size_t i = 0; i < nf; i++) {
        const char *f = field[i];
        size_t len = flen[i];
        if (len == 2 && f[1] == '^') {
            out[n++] = k->cols[i];
            out[n++] = k->cols[i];
        } else if (len == 2 && f[1] == 'v') {
            /* Adjacent *v of one spine join its sub-spines; a lone *v beside *v of another spine
             * joins the two spines. */
            size_t j = i + 1;
            while (j < nf && flen[j] == 2 && field[j][1] == 'v' && k->cols[j].track == k->cols[i].track) j++;
            if (j == i + 1)
                while (j < nf && flen[j] == 2 && field[j][1] == 'v') j++;
            kcol merged = k->cols[i];
            for (size_t m = i; m < j; m++)
                if (lm_rat_cmp(k->cols[m].end, merged.end) > 0) merged.end = k->cols[m].end;
            out[n++] = merged;
            i = j - 1;
        } else if (len == 2 && f[1] == 'x') {
            if (i + 1 >= nf || flen[i + 1] != 2 || field[i + 1][1] != 'x') {
                free(out);
                return line_error(k, "%s exchanges a spine with no *x beside it", f, len, (int)i + 1);
            }
            out[n++] = k->cols[i + 1];
            out[n++] = k->cols[i];
            i++;
        } else if (len == 2 && f[1] == '+') {
            out[n++] = k->cols[i];
            out[n++] = (kcol){-1, k->time};
        } else if (len == 2 && f[1] == '-') {
            /* the spine ends */
        } else if (len >= 2 && f[1] == '*') {
            int t = new_track(k, f, len);
            if (t < 0) {
                free(out);
                return -1;
            }
            out[n] = k->cols[i];
            out[n].track = t;
            out[n++].end = k->time;
        } else {
            if (tandem(k, i, f, len) < 0) {
                free(out);
                return -1;
            }
            out[n++] = k->cols[i];
        }
    }
    if (n > MAX_COLUMNS) {
        free(out);
        lm_set_error("**kern line %zu: more than %d spines", k->line_no, MAX_COLUMNS);
        return -1;
    }
    free(k->cols);
    k->cols = out;
    k->n_cols = n;
    return 0;
}

/* Splits a line at tabs: at most `cap` fields (more: returns cap + 1). */
static size_t split_fields(const char *line, size_t len, const char **field, size_t *flen, size_t cap) {
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && line[i] != '\t') continue;
        if (n == cap) return cap + 1;
        field[n] = line + start;
        flen[n++] = i - start;
        start = i + 1;
    }
    return n;
}

static int advance_time(kfile *k) {
    lm_rat next = k->time;
    int found = 0;
    for (size_t i = 0; i < k->n_cols; i++) {
        const kcol *c = &k->cols[i];
        if (c->track < 0 || !k->tracks[c->track].kern || lm_rat_cmp(c->end, k->time) <= 0) continue;
        if (!found || lm_rat_cmp(c->end, next) < 0) next = c->end;
        found = 1;
    }
    k->time = next;
    return 0;
}

static int close_measure(kfile *k, lm_sym_measure *cur) {
    cur->end = k->time;
    if (cur->number == -2 && lm_rat_cmp(cur->end, cur->start) == 0) return 0; /* nothing before the first barline */
    return lm_sym_add_measure(&k->score, *cur);
}

static int barline_number(const char *f, size_t len) {
    size_t i = 0;
    while (i < len && f[i] == '=') i++;
    if (i >= len || !isdigit((unsigned char)f[i])) return -1;
    long v = 0;
    for (; i < len && isdigit((unsigned char)f[i]); i++)
        if ((v = v * 10 + (f[i] - '0')) > 1000000) return -1;
    return (int)v;
}

static int read_kern(kfile *k, const char *buf, size_t n) {
    const char **field = lm_malloc(MAX_COLUMNS + 1, sizeof *field);
    size_t *flen = lm_malloc(MAX_COLUMNS + 1, sizeof *flen);
    if (!field || !flen) {
        free(field);
        free(flen);
        return -1;
    }
    int rc = -1, started = 0, ended = 0;
    lm_sym_measure cur = {-2, lm_rat_int(0), lm_rat_int(0)};
    size_t pos = 0;
    if (n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) pos = 3; /* UTF-8 byte order mark */
    while (pos < n && !ended) {
        const char *line = buf + pos;
        const char *nl = memchr(line, '\n', n - pos);
        size_t len = nl ? (size_t)(nl - line) : n - pos;
        pos += len + (nl != NULL);
        if (len > 0 && line[len - 1] == '\r') len--;
        k->line_no++;
        k->line = line;
        if (len == 0 || (len >= 2 && line[0] == '!' && line[1] == '!')) continue; /* global comment */
        if (memchr(line, '\0', len)) {
            lm_set_error("**kern line %zu contains a NUL byte: not a text file", k->line_no);
            goto done;
        }
        size_t nf = split_fields(line, len, field, flen, MAX_COLUMNS);
        if (!started) {
            for (size_t i = 0; i < nf && i < MAX_COLUMNS; i++)
                if (flen[i] < 3 || field[i][0] != '*' || field[i][1] != '*') {
                    line_error(k,
                               "\"%s\" where the spines should start (a Humdrum file begins with exclusive "
                               "interpretations such as **kern)",
                               field[i], flen[i], 0);
                    goto done;
                }
            if (nf > MAX_COLUMNS) {
                lm_set_error("**kern line %zu: more than %d spines", k->line_no, MAX_COLUMNS);
                goto done;
            }
            k->cols = lm_malloc(nf, sizeof *k->cols);
            if (!k->cols) goto done;
            for (size_t i = 0; i < nf; i++) {
                int t = new_track(k, field[i], flen[i]);
                if (t < 0) goto done;
                k->cols[i] = (kcol){t, lm_rat_int(0)};
            }
            k->n_cols = nf;
            started = 1;
            if (k->n_kern == 0) {
                lm_set_error("Humdrum file has no **kern spine");
                goto done;
            }
            continue;
        }
        if (nf != k->n_cols) {
            char what[64];
            snprintf(what, sizeof what, "%zu", nf > MAX_COLUMNS ? (size_t)MAX_COLUMNS + 1 : nf);
            lm_set_error("**kern line %zu has %s%s tab-separated fields where %zu spines are open (truncated or "
                         "damaged file?)",
                         k->line_no, nf > MAX_COLUMNS ? "more than " : "", nf > MAX_COLUMNS ? "4096" : what,
                         k->n_cols);
            goto done;
        }
        char kind = line[0];
        for (size_t i = 0; i < nf; i++) {
            char f0 = flen[i] ? field[i][0] : '\0';
            int ok = kind == '*' || kind == '!' || kind == '=' ? f0 == kind : (f0 != '*' && f0 != '!' && f0 != '=');
            if (!ok || flen[i] == 0) {
                line_error(k,
                           flen[i] == 0 ? "an empty field%s"
                                        : "\"%s\" does not belong in this line (interpretations, comments, barlines "
                                          "and data each take a whole line)",
                           field[i], flen[i], (int)i + 1);
                goto done;
            }
        }
        if (kind == '!') continue; /* local comments */
        if (kind == '*') {
            if (interpretations(k, field, flen, nf) < 0) goto done;
            if (k->n_cols == 0) ended = 1;
            continue;
        }
        if (kind == '=') {
            int number = -1;
            for (size_t i = 0; i < nf && number < 0; i++) number = barline_number(field[i], flen[i]);
            if (close_measure(k, &cur) < 0) goto done;
            if (cur.number == -2 && k->score.n_measures > 0) /* the music before the first barline */
                k->score.measures[0].number = number > 0 ? number - 1 : -1;
            cur = (lm_sym_measure){number, k->time, k->time};
            continue;
        }
        /* data */
        for (size_t i = 0; i < nf; i++)
            if (k->cols[i].track >= 0) k->layer_count[k->cols[i].track] = 0;
        for (size_t i = 0; i < nf; i++) {
            int t = k->cols[i].track;
            if (t < 0) continue;
            int layer = ++k->layer_count[t];
            if (!k->tracks[t].kern || (flen[i] == 1 && field[i][0] == '.')) continue;
            if (data_token(k, i, field[i], flen[i], layer) < 0) goto done;
        }
        advance_time(k);
    }
    if (!started) {
        lm_set_error(n == 0 ? "empty **kern file" : "not a Humdrum file: no line starts the spines (**kern)");
        goto done;
    }
    if (!ended) {
        lm_set_error("**kern file ends at line %zu before its spines are terminated with *- (truncated?)", k->line_no);
        goto done;
    }
    if (close_measure(k, &cur) < 0) goto done;
    if (cur.number == -2 && k->score.n_measures > 0) k->score.measures[0].number = -1;
    rc = 0;
done:
    free(field);
    free(flen);
    return rc;
}

int lm_kern_parse(const char *buf, size_t n, double bpm, const lm_theme_select *sel, lm_theme *out) {
    memset(out, 0, sizeof *out);
    if (n > LM_SYM_MAX_BYTES) {
        lm_set_error("**kern file of %zu bytes is too large (at most %zu MiB)", n, LM_SYM_MAX_BYTES >> 20);
        return -1;
    }
    if (sel && sel->track > 0) {
        lm_set_error("a track number selects a MIDI track; use the spine (number or name) for **kern");
        return -1;
    }
    kfile k = {0};
    k.voice = sel ? sel->voice : 0;
    k.time = lm_rat_int(0);
    int rc = -1;
    if (read_kern(&k, buf, n) < 0) goto done;

    int chosen = 0; /* kern number, 0 = all */
    char what[200];
    snprintf(what, sizeof what, "the **kern file");
    if (sel && sel->part && sel->part[0]) {
        const char *(*names)[4] = lm_malloc((size_t)k.n_kern, sizeof *names);
        int *index = lm_malloc((size_t)k.n_kern, sizeof *index);
        if (!names || !index) {
            free(names);
            free(index);
            goto done;
        }
        for (size_t i = 0; i < k.n_tracks; i++) {
            const ktrack *t = &k.tracks[i];
            if (!t->kern) continue;
            names[t->number - 1][0] = t->name;
            names[t->number - 1][1] = t->abbr;
            names[t->number - 1][2] = t->code;
            names[t->number - 1][3] = NULL;
            index[t->number - 1] = (int)i;
        }
        int found = lm_sym_find_part(sel->part, (size_t)k.n_kern, (const char *const(*)[4])names, "spine",
                                       "**kern file");
        if (found >= 0) {
            const ktrack *t = &k.tracks[index[found]];
            chosen = found + 1;
            const char *name = t->name[0] ? t->name : t->abbr[0] ? t->abbr : t->code;
            if (name[0])
                snprintf(what, sizeof what, "**kern spine %d \"%s\"", chosen, name);
            else
                snprintf(what, sizeof what, "**kern spine %d", chosen);
        }
        free(names);
        free(index);
        if (found < 0) goto done;
        size_t kept = 0;
        for (size_t i = 0; i < k.score.n_notes; i++)
            if (k.score.notes[i].group == chosen) k.score.notes[kept++] = k.score.notes[i];
        k.score.n_notes = kept;
    }
    rc = lm_sym_select_theme(&k.score, sel, what, "layer", bpm, out);
done:
    free(k.cols);
    free(k.tracks);
    free(k.layer_count);
    lm_sym_free(&k.score);
    return rc;
}

int lm_kern_read(const char *path, double bpm, const lm_theme_select *sel, lm_theme *out) {
    memset(out, 0, sizeof *out);
    size_t n = 0;
    char *data = lm_sym_read_file(path, &n);
    if (!data) return -1;
    int rc = lm_kern_parse(data, n, bpm, sel, out);
    free(data);
    if (rc < 0) lm_sym_prefix_error(path);
    return rc;
}
