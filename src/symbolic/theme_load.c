/* Theme files by format (lm_theme_load_ex: MIDI, MusicXML, .mxl, **kern; recognised by content,
 * else by extension) and the MIDI track selection. Kept apart from theme.c and midi.c so that those
 * build on their own (fuzz/fuzz_midi.c). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/fileio.h"
#include "symbolic/kern.h"
#include "symbolic/midi.h"
#include "symbolic/musicxml.h"
#include "symbolic/score.h"
#include "symbolic/theme.h"

/* ---- MIDI tracks ---- */

/* The track (1-based) that sel->track / sel->part name, 0 for all; -1 with an error. */
static int selected_track(const lm_midi_notes *m, const lm_theme_select *sel) {
    int track = sel ? sel->track : 0;
    if (track < 0) {
        lm_set_error("MIDI track numbers start at 1 (0 = all tracks)");
        return -1;
    }
    if (sel && sel->part && sel->part[0]) {
        const char *(*names)[4] = lm_calloc(m->n_tracks ? (size_t)m->n_tracks : 1, sizeof *names);
        if (!names) return -1;
        for (int i = 0; i < m->n_tracks; i++) names[i][0] = m->track_names[i];
        int found = lm_sym_find_part(sel->part, (size_t)m->n_tracks, (const char *const(*)[4])names, "track",
                                       "MIDI file");
        free(names);
        if (found < 0) return -1;
        if (track > 0 && track != found + 1) {
            char shown[48];
            lm_sym_clean_name(shown, sizeof shown, sel->part, strlen(sel->part));
            lm_set_error("the part \"%s\" is MIDI track %d, but track %d was asked for", shown, found + 1, track);
            return -1;
        }
        track = found + 1;
    }
    if (track > m->n_tracks) {
        lm_set_error("no track %d: the MIDI file has %d track%s", track, m->n_tracks, m->n_tracks == 1 ? "" : "s");
        return -1;
    }
    return track;
}

int lm_midi_parse_theme_sel(const unsigned char *data, size_t n, const lm_theme_select *sel, lm_theme *out) {
    memset(out, 0, sizeof *out);
    if (sel && (sel->measure_first || sel->measure_last)) {
        lm_set_error("a measure range needs a MusicXML or **kern theme (a MIDI file has no printed measure numbers)");
        return -1;
    }
    if (sel && sel->voice) {
        lm_set_error("voices are chosen in MusicXML or **kern themes; for a MIDI file choose a track");
        return -1;
    }
    lm_midi_notes m;
    if (lm_midi_parse_notes(data, n, &m) < 0) return -1;
    int track = selected_track(&m, sel);
    if (sel && sel->qpm > 0) { /* one tempo instead of the file's tempo map */
        double sec_per_tick = 60.0 / (sel->qpm * m.ticks_per_qn);
        m.duration = 0;
        for (size_t i = 0; i < m.n; i++) {
            m.notes[i].onset = (double)m.notes[i].on_tick * sec_per_tick;
            m.notes[i].offset = (double)m.notes[i].off_tick * sec_per_tick;
            if (m.notes[i].offset > m.duration) m.duration = m.notes[i].offset;
        }
    }
    int rc = track < 0 ? -1 : lm_midi_notes_theme(&m, track, out);
    lm_midi_notes_free(&m);
    return rc;
}

int lm_midi_read_theme_sel(const char *path, const lm_theme_select *sel, lm_theme *out) {
    memset(out, 0, sizeof *out);
    size_t n = 0;
    char *data = lm_sym_read_file(path, &n);
    if (!data) return -1;
    int rc = lm_midi_parse_theme_sel((const unsigned char *)data, n, sel, out);
    free(data);
    if (rc < 0) lm_sym_prefix_error(path);
    return rc;
}

/* ---- theme files ---- */

static int has_ext(const char *spec, const char *const *exts) {
    const char *dot = strrchr(spec, '.');
    if (!dot || strchr(dot, '/')) return 0;
    for (; *exts; exts++)
        if (!strcasecmp(dot, *exts)) return 1;
    return 0;
}

static const char *const midi_ext[] = {".mid", ".midi", NULL}, *const xml_ext[] = {".musicxml", ".xml", NULL},
                  *const mxl_ext[] = {".mxl", NULL}, *const kern_ext[] = {".krn", ".kern", NULL};

/* The format of a theme file: by content, else by the name's extension (name may be NULL); 0 when
 * neither tells. */
static int sniff_format(const char *name, const unsigned char *d, size_t n) {
    if (n >= 4 && !memcmp(d, "MThd", 4)) return LM_THEME_MIDI;
    if (n >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "RMID", 4)) return LM_THEME_MIDI; /* RIFF MIDI */
    if (n >= 4 && !memcmp(d, "PK\x03\x04", 4)) return LM_THEME_MXL;
    if (n >= 2 && ((d[0] == 0xFF && d[1] == 0xFE) || (d[0] == 0xFE && d[1] == 0xFF))) return LM_THEME_MUSICXML;
    size_t i = n >= 3 && !memcmp(d, "\xEF\xBB\xBF", 3) ? 3 : 0;
    size_t j = i;
    while (j < n && isspace(d[j])) j++;
    if (j < n && d[j] == '<') return LM_THEME_MUSICXML;
    while (i + 1 < n && d[i] == '!' && d[i + 1] == '!') { /* Humdrum: global comments, then the spines */
        const unsigned char *nl = memchr(d + i, '\n', n - i);
        if (!nl) break;
        i = (size_t)(nl - d) + 1;
    }
    if (i + 1 < n && d[i] == '*' && d[i + 1] == '*') return LM_THEME_KERN;
    if (!name) return 0;
    if (has_ext(name, midi_ext)) return LM_THEME_MIDI;
    if (has_ext(name, xml_ext)) return LM_THEME_MUSICXML;
    if (has_ext(name, mxl_ext)) return LM_THEME_MXL;
    if (has_ext(name, kern_ext)) return LM_THEME_KERN;
    return 0;
}

int lm_theme_select_any(const lm_theme_select *sel) {
    return sel && ((sel->part && sel->part[0]) || sel->measure_first || sel->measure_last || sel->track || sel->voice);
}

int lm_theme_select_check(const lm_theme_select *sel) {
    if (!sel) return 0;
    if (!(sel->qpm >= 0 && sel->qpm <= 100000)) {
        lm_set_error("a theme tempo must be in (0, 100000] quarter notes per minute (0 = the file's)");
        return -1;
    }
    if (sel->measure_first < 0 || sel->measure_last < 0 || sel->measure_first > 999999 || sel->measure_last > 999999) {
        lm_set_error("measure numbers are 1 to 999999 (0 = from the start / to the end), got %d-%d",
                     sel->measure_first, sel->measure_last);
        return -1;
    }
    if (sel->measure_first > 0 && sel->measure_last > 0 && sel->measure_last < sel->measure_first) {
        lm_set_error("measure range %d-%d: the last measure comes before the first", sel->measure_first,
                     sel->measure_last);
        return -1;
    }
    if (sel->track < 0 || sel->voice < 0) {
        lm_set_error("track and voice numbers start at 1 (0 = all), got track %d, voice %d", sel->track, sel->voice);
        return -1;
    }
    return 0;
}

/* A whole decimal integer in [lo, hi]; -1 with an error otherwise. */
static int select_int(const char *value, long lo, long hi, int *out) {
    char *end;
    long v = value ? strtol(value, &end, 10) : 0;
    if (!value || end == value || *end || v < lo || v > hi) {
        lm_set_error("expected an integer in [%ld, %ld], got '%.40s'", lo, hi, value ? value : "(nothing)");
        return -1;
    }
    *out = (int)v;
    return 0;
}

int lm_theme_select_set(lm_theme_select *sel, const char *name, const char *value) {
    if (!strcmp(name, "part")) {
        if (!value || !value[0]) {
            lm_set_error("expected a part number or name, got ''");
            return -1;
        }
        sel->part = value;
    } else if (!strcmp(name, "measures")) {
        if (lm_measure_range_parse(value, &sel->measure_first, &sel->measure_last) != 0) return -1;
    } else if (!strcmp(name, "track")) {
        if (select_int(value, 1, 65535, &sel->track) != 0) return -1;
    } else if (!strcmp(name, "voice")) {
        if (select_int(value, 1, 1000000, &sel->voice) != 0) return -1;
    } else if (!strcmp(name, "tempo")) {
        char *end;
        double v = value ? strtod(value, &end) : 0;
        if (!value || end == value || *end || !(v >= 1 && v <= 2000)) {
            lm_set_error("expected a number in [1, 2000], got '%.40s'", value ? value : "(nothing)");
            return -1;
        }
        sel->qpm = v;
    } else {
        return 0;
    }
    return 1;
}

int lm_notelist_parse_sel(const char *text, double bpm, const lm_theme_select *sel, lm_theme *out) {
    memset(out, 0, sizeof *out);
    if (lm_theme_select_any(sel)) {
        lm_set_error("a part, measure, track or voice selection needs a theme file (MIDI, MusicXML or **kern), "
                     "not a note list");
        return -1;
    }
    if (sel && sel->qpm > 0) bpm = sel->qpm;
    return lm_notelist_parse(text, bpm > 0 ? bpm : 120, out);
}

int lm_theme_parse_buffer(const unsigned char *data, size_t n, const char *name, double bpm,
                          const lm_theme_select *sel, lm_theme *out, int *format) {
    memset(out, 0, sizeof *out);
    if (format) *format = LM_THEME_MIDI;
    if (lm_theme_select_check(sel) != 0) return -1;
    if (sel && sel->qpm > 0) bpm = sel->qpm;
    if (!data && n) {
        lm_set_error("theme data is missing");
        return -1;
    }
    int fmt = sniff_format(name, data, n);
    if (format) *format = fmt ? fmt : LM_THEME_MIDI;
    switch (fmt) {
    case LM_THEME_MUSICXML: return lm_musicxml_parse((const char *)data, n, bpm, sel, out);
    case LM_THEME_MXL: return lm_mxl_parse(data, n, bpm, sel, out);
    case LM_THEME_KERN: return lm_kern_parse((const char *)data, n, bpm, sel, out);
    case LM_THEME_MIDI: return lm_midi_parse_theme_sel(data, n, sel, out);
    default:
        lm_set_error(n == 0 ? "empty file"
                            : "not a theme file: neither MIDI, MusicXML (.musicxml, .xml, .mxl) nor **kern (.krn)");
        return -1;
    }
}

int lm_theme_load_ex(const char *spec, double bpm, const lm_theme_select *sel, lm_theme *out, int *from_file) {
    memset(out, 0, sizeof *out);
    if (from_file) *from_file = LM_THEME_NOTELIST;
    if (!spec) {
        lm_set_error("theme is missing");
        return -1;
    }
    if (lm_theme_select_check(sel) != 0) return -1;
    int file = has_ext(spec, midi_ext) || has_ext(spec, xml_ext) || has_ext(spec, mxl_ext) ||
               has_ext(spec, kern_ext) || (lm_file_exists(spec) && !lm_is_directory(spec));
    if (!file) return lm_notelist_parse_sel(spec, bpm, sel, out);
    size_t n = 0;
    char *data = lm_sym_read_file(spec, &n);
    if (!data) return -1;
    int format = LM_THEME_MIDI;
    int rc = lm_theme_parse_buffer((const unsigned char *)data, n, spec, bpm, sel, out, &format);
    if (from_file) *from_file = format;
    free(data);
    if (rc < 0) lm_sym_prefix_error(spec);
    return rc;
}

int lm_theme_load(const char *spec, double bpm, lm_theme *out, int *from_midi) {
    return lm_theme_load_ex(spec, bpm, NULL, out, from_midi);
}
