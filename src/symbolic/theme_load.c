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

/* The format of a theme file: by content, else by the name's extension; 0 when neither tells. */
static int sniff_format(const char *path, const unsigned char *d, size_t n) {
    if (n >= 4 && !memcmp(d, "MThd", 4)) return LM_THEME_MIDI;
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
    if (has_ext(path, midi_ext)) return LM_THEME_MIDI;
    if (has_ext(path, xml_ext)) return LM_THEME_MUSICXML;
    if (has_ext(path, mxl_ext)) return LM_THEME_MXL;
    if (has_ext(path, kern_ext)) return LM_THEME_KERN;
    return 0;
}

int lm_theme_load_ex(const char *spec, double bpm, const lm_theme_select *sel, lm_theme *out, int *from_file) {
    memset(out, 0, sizeof *out);
    if (from_file) *from_file = LM_THEME_NOTELIST;
    if (!spec) {
        lm_set_error("theme is missing");
        return -1;
    }
    if (sel && !(sel->qpm >= 0 && sel->qpm <= 100000)) {
        lm_set_error("a theme tempo must be in (0, 100000] quarter notes per minute (0 = the file's)");
        return -1;
    }
    if (sel && sel->qpm > 0) bpm = sel->qpm;
    int file = has_ext(spec, midi_ext) || has_ext(spec, xml_ext) || has_ext(spec, mxl_ext) ||
               has_ext(spec, kern_ext) || (lm_file_exists(spec) && !lm_is_directory(spec));
    if (!file) {
        if (sel && ((sel->part && sel->part[0]) || sel->measure_first || sel->measure_last || sel->track || sel->voice)) {
            lm_set_error("a part, measure, track or voice selection needs a theme file (MIDI, MusicXML or **kern), "
                         "not a note list");
            return -1;
        }
        return lm_notelist_parse(spec, bpm > 0 ? bpm : 120, out);
    }
    size_t n = 0;
    char *data = lm_sym_read_file(spec, &n);
    if (!data) return -1;
    int format = sniff_format(spec, (const unsigned char *)data, n), rc = -1;
    if (from_file) *from_file = format ? format : LM_THEME_MIDI;
    switch (format) {
    case LM_THEME_MUSICXML: rc = lm_musicxml_parse(data, n, bpm, sel, out); break;
    case LM_THEME_MXL: rc = lm_mxl_parse((const unsigned char *)data, n, bpm, sel, out); break;
    case LM_THEME_KERN: rc = lm_kern_parse(data, n, bpm, sel, out); break;
    case LM_THEME_MIDI: rc = lm_midi_parse_theme_sel((const unsigned char *)data, n, sel, out); break;
    default:
        lm_set_error(n == 0 ? "empty file" : "not a theme file: neither MIDI, MusicXML (.musicxml, .xml, .mxl) nor **kern (.krn)");
        break;
    }
    free(data);
    if (rc < 0) lm_sym_prefix_error(spec);
    return rc;
}

int lm_theme_load(const char *spec, double bpm, lm_theme *out, int *from_midi) {
    return lm_theme_load_ex(spec, bpm, NULL, out, from_midi);
}
