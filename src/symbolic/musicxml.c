/* MusicXML themes (symbolic/musicxml.h): libxml2 for the XML, libzip for .mxl archives; the
 * notes go through the common score back end (score.h). */
#include "symbolic/musicxml.h"

#include <ctype.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zip.h>

#include "common/error.h"
#include "symbolic/score.h"

#define MAX_STAVES 16    /* staff numbers with their own transposition; others use slot 0 */
#define MAX_PARTS 1000   /* real scores have well under 100 */
#define MAX_QPM 10000.0  /* tempo marks above this (or <= 0) are ignored as nonsense */

/* ---- XML access (no allocation; entity references are never expanded) ---- */

static int is_el(const xmlNode *n, const char *name) {
    return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static const xmlNode *child_el(const xmlNode *n, const char *name) {
    for (const xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if (is_el(c, name)) return c;
    return NULL;
}

/* Text of the text and CDATA children of `n` (at most cap-1 bytes, trimmed); its length. */
static size_t nodes_text(const xmlNode *first, char *buf, size_t cap) {
    size_t len = 0;
    for (const xmlNode *c = first; c; c = c->next) {
        if ((c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE) || !c->content) continue;
        for (const xmlChar *p = c->content; *p && len + 1 < cap; p++) buf[len++] = (char)*p;
    }
    buf[len] = '\0';
    size_t a = 0;
    while (a < len && isspace((unsigned char)buf[a])) a++;
    while (len > a && isspace((unsigned char)buf[len - 1])) len--;
    memmove(buf, buf + a, len - a);
    buf[len - a] = '\0';
    return len - a;
}

static size_t el_text(const xmlNode *n, char *buf, size_t cap) {
    if (!n) {
        buf[0] = '\0';
        return 0;
    }
    return nodes_text(n->children, buf, cap);
}

/* Attribute value into buf; 0 when absent. */
static int attr_text(const xmlNode *n, const char *name, char *buf, size_t cap) {
    for (const xmlAttr *a = n->properties; a; a = a->next)
        if (a->name && strcmp((const char *)a->name, name) == 0) {
            nodes_text(a->children, buf, cap);
            return 1;
        }
    buf[0] = '\0';
    return 0;
}

/* An integer, the whole text; 0 on success. */
static int parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    if (!*s) return -1;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* ---- parsing XML safely ---- */

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;
static void xml_init(void) { xmlInitParser(); }

typedef struct {
    int line; /* 0 until the first error */
    char msg[200];
} first_error;

/* Keeps the parser's first error (the later ones are usually its consequences). */
static void keep_first_error(void *user, xmlErrorPtr e) {
    xmlParserCtxt *ctxt = user;
    first_error *fe = ctxt ? ctxt->_private : NULL;
    if (!fe || fe->msg[0] || !e || e->level < XML_ERR_ERROR) return;
    const char *m = e->message ? e->message : "not well-formed";
    lm_sym_clean_name(fe->msg, sizeof fe->msg, m, strlen(m));
    fe->line = e->line;
}

/* Parses n bytes of XML: no network, no DTD loading, no entity substitution, libxml2's default
 * limits (no XML_PARSE_HUGE). NULL with an error naming `what`. */
static xmlDoc *parse_xml(const char *buf, size_t n, const char *what) {
    if (n == 0) {
        lm_set_error("empty %s", what);
        return NULL;
    }
    if (n > LM_SYM_MAX_BYTES) {
        lm_set_error("%s of %zu bytes is too large (at most %zu MiB)", what, n, LM_SYM_MAX_BYTES >> 20);
        return NULL;
    }
    pthread_once(&xml_once, xml_init);
    xmlParserCtxt *ctxt = xmlNewParserCtxt();
    if (!ctxt) {
        lm_set_error("out of memory parsing %s", what);
        return NULL;
    }
    first_error fe = {0, ""};
    ctxt->_private = &fe;
    ctxt->userData = ctxt;
    ctxt->sax->serror = keep_first_error;
    const int options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA;
    xmlDoc *doc = xmlCtxtReadMemory(ctxt, buf, (int)n, NULL, NULL, options);
    if (!doc || !ctxt->wellFormed) {
        if (!fe.msg[0]) { /* no error reached the handler: the context's last one */
            const xmlError *e = xmlCtxtGetLastError(ctxt);
            const char *m = e && e->message ? e->message : "not well-formed";
            lm_sym_clean_name(fe.msg, sizeof fe.msg, m, strlen(m));
            fe.line = e ? e->line : 0;
        }
        if (fe.line > 0)
            lm_set_error("%s is not well-formed XML (line %d: %s)", what, fe.line, fe.msg);
        else
            lm_set_error("%s is not well-formed XML (%s)", what, fe.msg);
        xmlFreeDoc(doc);
        xmlFreeParserCtxt(ctxt);
        return NULL;
    }
    xmlFreeParserCtxt(ctxt);
    return doc;
}

/* ---- the score ---- */

typedef struct {
    const xmlNode *measure; /* <measure>: its number */
    const xmlNode *content; /* its children (partwise: the measure; timewise: the <part> in it); may be NULL */
} mx_measure;

typedef struct {
    char id[64], name[128], abbr[64];
    const char *names[4];
    mx_measure *m;
    size_t n_m, cap_m;
    int has_body;
} mx_part;

typedef struct {
    mx_part *parts;
    size_t n_parts, cap_parts;
    lm_sym_score score;
    /* per-part reading state */
    lm_rat divisions; /* divisions per quarter note; 0 = not given yet */
    int transpose[MAX_STAVES + 1];
    /* for messages */
    size_t part;
    const xmlNode *measure;
    /* part lookup by id */
    size_t by_id[MAX_PARTS], n_sorted, last_found;
} mx_doc;

static void doc_free(mx_doc *d) {
    for (size_t i = 0; i < d->n_parts; i++) free(d->parts[i].m);
    free(d->parts);
    lm_sym_free(&d->score);
}

/* "part 2 \"Violin II\", measure 12: " for messages about the current place. */
static void where(const mx_doc *d, char *buf, size_t cap) {
    const mx_part *p = &d->parts[d->part];
    char number[32] = "";
    if (d->measure) attr_text(d->measure, "number", number, sizeof number);
    char shown[32];
    lm_sym_clean_name(shown, sizeof shown, number, strlen(number));
    const char *name = p->name[0] ? p->name : p->id;
    char part[100];
    if (name[0])
        snprintf(part, sizeof part, "part %zu \"%.60s\"", d->part + 1, name);
    else
        snprintf(part, sizeof part, "part %zu", d->part + 1);
    if (shown[0])
        snprintf(buf, cap, "%s, measure %s", part, shown);
    else
        snprintf(buf, cap, "%s", part);
}

static int place_error(const mx_doc *d, const char *what) {
    char w[200];
    where(d, w, sizeof w);
    lm_set_error("MusicXML %s: %s", w, what);
    return -1;
}

static int rhythm_error(const mx_doc *d) {
    return place_error(d, "durations too long or too finely divided to be added up exactly");
}

/* Index of the part with this id, or -1: the part after the last one found first (parts come in
 * part-list order in each timewise measure), else a binary search of the ids. */
static int find_part(mx_doc *d, const char *id) {
    size_t hint = d->last_found + 1;
    if (hint < d->n_parts && strcmp(d->parts[hint].id, id) == 0) return (int)(d->last_found = hint);
    if (d->n_sorted != d->n_parts) { /* parts were added: sort the ids again */
        for (size_t i = 0; i < d->n_parts; i++) d->by_id[i] = i;
        for (size_t i = 1; i < d->n_parts; i++) { /* insertion sort: parts arrive one at a time */
            size_t v = d->by_id[i], j = i;
            while (j > 0 && strcmp(d->parts[d->by_id[j - 1]].id, d->parts[v].id) > 0) d->by_id[j] = d->by_id[j - 1], j--;
            d->by_id[j] = v;
        }
        d->n_sorted = d->n_parts;
    }
    size_t lo = 0, hi = d->n_parts;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(d->parts[d->by_id[mid]].id, id);
        if (c == 0) return (int)(d->last_found = d->by_id[mid]);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int add_part(mx_doc *d, const char *id) {
    if (d->n_parts >= MAX_PARTS) {
        lm_set_error("MusicXML score has more than %d parts", MAX_PARTS);
        return -1;
    }
    if (lm_sym_grow((void **)&d->parts, &d->cap_parts, d->n_parts + 1, sizeof *d->parts, 16) < 0) return -1;
    mx_part *p = &d->parts[d->n_parts];
    memset(p, 0, sizeof *p);
    snprintf(p->id, sizeof p->id, "%s", id);
    return (int)d->n_parts++;
}

static int add_measure(mx_part *p, const xmlNode *measure, const xmlNode *content) {
    if (lm_sym_grow((void **)&p->m, &p->cap_m, p->n_m + 1, sizeof *p->m, 16) < 0) return -1;
    p->m[p->n_m++] = (mx_measure){measure, content};
    return 0;
}

/* part-list, then the music of each part (partwise or timewise) in document order. */
static int collect_parts(mx_doc *d, const xmlNode *root, int timewise) {
    const xmlNode *list = child_el(root, "part-list");
    char buf[256];
    size_t n_timewise = 0;
    d->last_found = (size_t)-1;
    for (const xmlNode *c = list ? list->children : NULL; c; c = c->next) {
        if (!is_el(c, "score-part")) continue;
        attr_text(c, "id", buf, sizeof buf);
        if (find_part(d, buf) >= 0) continue; /* a repeated id: the first one counts */
        int i = add_part(d, buf);
        if (i < 0) return -1;
        mx_part *p = &d->parts[i];
        size_t len = el_text(child_el(c, "part-name"), buf, sizeof buf);
        lm_sym_clean_name(p->name, sizeof p->name, buf, len);
        len = el_text(child_el(c, "part-abbreviation"), buf, sizeof buf);
        lm_sym_clean_name(p->abbr, sizeof p->abbr, buf, len);
    }
    for (const xmlNode *c = root->children; c; c = c->next) {
        if (!timewise && is_el(c, "part")) {
            attr_text(c, "id", buf, sizeof buf);
            int i = find_part(d, buf);
            if (i < 0 && (i = add_part(d, buf)) < 0) return -1;
            mx_part *p = &d->parts[i];
            if (p->has_body) {
                char shown[64];
                lm_sym_clean_name(shown, sizeof shown, buf, strlen(buf));
                lm_set_error("MusicXML score has two <part> elements with id \"%s\"", shown);
                return -1;
            }
            p->has_body = 1;
            for (const xmlNode *m = c->children; m; m = m->next)
                if (is_el(m, "measure") && add_measure(p, m, m) < 0) return -1;
        } else if (timewise && is_el(c, "measure")) {
            size_t index = n_timewise++;
            d->last_found = (size_t)-1;
            for (const xmlNode *pe = c->children; pe; pe = pe->next) {
                if (!is_el(pe, "part")) continue;
                attr_text(pe, "id", buf, sizeof buf);
                int i = find_part(d, buf);
                if (i < 0 && (i = add_part(d, buf)) < 0) return -1;
                mx_part *p = &d->parts[i];
                p->has_body = 1;
                while (p->n_m < index)
                    if (add_measure(p, c, NULL) < 0) return -1;
                if (p->n_m == index && add_measure(p, c, pe) < 0) return -1;
            }
        }
    }
    for (size_t i = 0; i < d->n_parts; i++) {
        mx_part *p = &d->parts[i];
        p->names[0] = p->name;
        p->names[1] = p->abbr;
        p->names[2] = p->id;
        p->names[3] = NULL;
    }
    return 0;
}

/* A <duration>, <offset> etc. in divisions -> quarter notes. */
static int divisions_value(mx_doc *d, const xmlNode *el, int allow_negative, lm_rat *qn) {
    char buf[64];
    lm_rat v;
    if (lm_rat_parse(buf, el_text(el, buf, sizeof buf), &v) < 0 || (!allow_negative && v.num < 0)) {
        char msg[128], shown[32];
        lm_sym_clean_name(shown, sizeof shown, buf, strlen(buf));
        snprintf(msg, sizeof msg, "<%s> \"%s\" is not a %snumber of divisions", (const char *)el->name, shown,
                 allow_negative ? "" : "non-negative ");
        return place_error(d, msg);
    }
    if (d->divisions.num <= 0) return place_error(d, "a duration before the part's <divisions>");
    if (lm_rat_div(v, d->divisions, qn) < 0) return rhythm_error(d);
    return 0;
}

static void read_attributes(mx_doc *d, const xmlNode *attrs) {
    char buf[64];
    for (const xmlNode *c = attrs->children; c; c = c->next) {
        if (is_el(c, "divisions")) {
            lm_rat v;
            /* An unusable value keeps the previous one (durations then fail if there is none). */
            if (lm_rat_parse(buf, el_text(c, buf, sizeof buf), &v) == 0 && v.num > 0) d->divisions = v;
        } else if (is_el(c, "transpose")) {
            lm_rat chromatic = lm_rat_int(0);
            long octave = 0;
            lm_rat_parse(buf, el_text(child_el(c, "chromatic"), buf, sizeof buf), &chromatic);
            if (parse_int((el_text(child_el(c, "octave-change"), buf, sizeof buf), buf), -10, 10, &octave) < 0)
                octave = 0;
            double semis = lm_rat_to_double(chromatic);
            if (!(fabs(semis) <= 48.0)) semis = 0.0;
            int t = (int)lround(semis) + 12 * (int)octave;
            long staff = 0;
            if (attr_text(c, "number", buf, sizeof buf) && parse_int(buf, 1, MAX_STAVES, &staff) == 0) {
                d->transpose[staff] = t;
            } else {
                for (int s = 0; s <= MAX_STAVES; s++) d->transpose[s] = t;
            }
        }
    }
}

static double beat_unit_qn(const char *unit) {
    static const struct {
        const char *name;
        double qn;
    } units[] = {{"maxima", 32}, {"long", 16}, {"breve", 8}, {"whole", 4}, {"half", 2}, {"quarter", 1},
                 {"eighth", 0.5}, {"16th", 0.25}, {"32nd", 0.125}, {"64th", 0.0625}, {"128th", 0.03125},
                 {"256th", 0.015625}, {"512th", 0.0078125}, {"1024th", 0.00390625}};
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (!strcmp(unit, units[i].name)) return units[i].qn;
    return 0.0;
}

/* Quarter notes per minute of a <metronome> "unit [dots] = N" (0 when it is not that kind). */
static double metronome_qpm(const xmlNode *m) {
    char buf[64];
    double unit = 0.0, dot = 0.0;
    int units = 0;
    const xmlNode *per_minute = NULL;
    for (const xmlNode *c = m->children; c; c = c->next) {
        if (is_el(c, "beat-unit")) {
            if (units++ == 0) unit = beat_unit_qn((el_text(c, buf, sizeof buf), buf)), dot = unit / 2;
        } else if (is_el(c, "beat-unit-dot") && units == 1) {
            unit += dot;
            dot /= 2;
        } else if (is_el(c, "per-minute")) {
            per_minute = c;
        }
    }
    if (units != 1 || !per_minute || unit <= 0.0) return 0.0;
    el_text(per_minute, buf, sizeof buf);
    const char *p = buf; /* "120", "c. 120", "ca. 60-66": the first number */
    while (*p && !isdigit((unsigned char)*p)) p++;
    double v = strtod(p, NULL);
    return v > 0.0 && isfinite(v) ? v * unit : 0.0;
}

static int add_tempo(mx_doc *d, lm_rat measure_start, lm_rat pos, double qpm) {
    if (!(qpm > 0.0 && qpm <= MAX_QPM)) return 0;
    if (pos.num < 0) pos = lm_rat_int(0);
    lm_rat at;
    if (lm_rat_add(measure_start, pos, &at) < 0) return rhythm_error(d);
    return lm_sym_add_tempo(&d->score, at, qpm);
}

static int direction_tempo(mx_doc *d, const xmlNode *dir, lm_rat measure_start, lm_rat cursor) {
    char buf[64];
    lm_rat pos = cursor, offset;
    const xmlNode *off = child_el(dir, "offset");
    if (off) {
        if (divisions_value(d, off, 1, &offset) < 0 || lm_rat_add(cursor, offset, &pos) < 0) return -1;
    }
    const xmlNode *sound = child_el(dir, "sound");
    if (sound && attr_text(sound, "tempo", buf, sizeof buf)) {
        char *end;
        double qpm = strtod(buf, &end);
        if (end != buf && !*end) return add_tempo(d, measure_start, pos, qpm);
    }
    for (const xmlNode *t = dir->children; t; t = t->next) {
        if (!is_el(t, "direction-type")) continue;
        const xmlNode *m = child_el(t, "metronome");
        if (m) return add_tempo(d, measure_start, pos, metronome_qpm(m));
    }
    return 0;
}

static int step_semitone(const char *step) {
    static const int semis[7] = {9, 11, 0, 2, 4, 5, 7}; /* A..G */
    if (step[0] >= 'A' && step[0] <= 'G' && step[1] == '\0') return semis[step[0] - 'A'];
    return -100;
}

typedef struct {
    int want_notes, want_tempo, voice, group;
} mx_pass;

/* One measure of one part; *extent gets its length (the furthest position reached). */
static int read_measure(mx_doc *d, const mx_pass *pass, const xmlNode *content, lm_rat start, lm_rat *extent) {
    lm_rat cursor = lm_rat_int(0), last_on = cursor, end = cursor;
    char buf[64];
    *extent = end;
    if (!content) return 0;
    for (const xmlNode *c = content->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) continue;
        if (is_el(c, "attributes")) {
            read_attributes(d, c);
        } else if (is_el(c, "note")) {
            if (child_el(c, "grace")) continue; /* grace notes take no time and are left out */
            const xmlNode *dur_el = child_el(c, "duration");
            if (!dur_el) return place_error(d, "a note without <duration>");
            lm_rat dur, on, off;
            if (divisions_value(d, dur_el, 0, &dur) < 0) return -1;
            if (child_el(c, "chord")) {
                on = last_on;
            } else {
                on = last_on = cursor;
                if (lm_rat_add(cursor, dur, &cursor) < 0) return rhythm_error(d);
                if (lm_rat_cmp(cursor, end) > 0) end = cursor;
            }
            const xmlNode *pitch = child_el(c, "pitch");
            if (!pass->want_notes || !pitch || child_el(c, "rest") || child_el(c, "cue") || dur.num == 0) continue;
            long voice = 1, staff = 1, octave;
            if (pass->voice > 0) {
                const xmlNode *v = child_el(c, "voice");
                if (v && parse_int((el_text(v, buf, sizeof buf), buf), 0, 1000000, &voice) < 0) voice = -1;
                if (voice != pass->voice) continue;
            }
            const xmlNode *st = child_el(c, "staff");
            if (st && parse_int((el_text(st, buf, sizeof buf), buf), 1, MAX_STAVES, &staff) < 0) staff = 0;
            el_text(child_el(pitch, "step"), buf, sizeof buf);
            int semi = step_semitone(buf);
            if (semi < -12) {
                char msg[96], shown[16];
                lm_sym_clean_name(shown, sizeof shown, buf, strlen(buf));
                snprintf(msg, sizeof msg, "pitch step \"%s\" is not one of A-G", shown);
                return place_error(d, msg);
            }
            if (parse_int((el_text(child_el(pitch, "octave"), buf, sizeof buf), buf), -1, 10, &octave) < 0)
                return place_error(d, "a pitch without a valid <octave> (0-9)");
            double alter = 0.0;
            const xmlNode *alter_el = child_el(pitch, "alter");
            if (alter_el) {
                char *endp;
                el_text(alter_el, buf, sizeof buf);
                alter = strtod(buf, &endp);
                if (endp == buf || *endp || !(fabs(alter) <= 4.0)) return place_error(d, "an <alter> that is not a number of semitones");
            }
            int midi = 12 * ((int)octave + 1) + semi + (int)lround(alter) + d->transpose[staff];
            if (midi < 0 || midi > 127) {
                char msg[96];
                snprintf(msg, sizeof msg, "sounding pitch %d is outside the MIDI range 0-127", midi);
                return place_error(d, msg);
            }
            if (lm_rat_add(start, on, &on) < 0 || lm_rat_add(on, dur, &off) < 0) return rhythm_error(d);
            lm_sym_note note = {.on = on, .off = off, .pitch = midi, .group = pass->group};
            int ties = 0;
            for (const xmlNode *t = c->children; t; t = t->next) {
                if (!is_el(t, "tie")) continue;
                ties = 1;
                attr_text(t, "type", buf, sizeof buf);
                note.tie_start |= !strcmp(buf, "start");
                note.tie_stop |= !strcmp(buf, "stop");
            }
            const xmlNode *notations = ties ? NULL : child_el(c, "notations");
            for (const xmlNode *n = notations; n; n = n->next) { /* <tied> when there is no <tie> */
                if (!is_el(n, "notations")) continue;
                for (const xmlNode *t = n->children; t; t = t->next) {
                    if (!is_el(t, "tied")) continue;
                    attr_text(t, "type", buf, sizeof buf);
                    note.tie_start |= !strcmp(buf, "start") || !strcmp(buf, "continue");
                    note.tie_stop |= !strcmp(buf, "stop") || !strcmp(buf, "continue");
                }
            }
            if (lm_sym_add_note(&d->score, note) < 0) return -1;
        } else if (is_el(c, "backup") || is_el(c, "forward")) {
            const xmlNode *dur_el = child_el(c, "duration");
            lm_rat dur;
            if (!dur_el) return place_error(d, is_el(c, "backup") ? "a <backup> without <duration>" : "a <forward> without <duration>");
            if (divisions_value(d, dur_el, 0, &dur) < 0) return -1;
            if (is_el(c, "backup")) {
                if (lm_rat_sub(cursor, dur, &cursor) < 0) return rhythm_error(d);
                if (cursor.num < 0) cursor = lm_rat_int(0); /* backing up past the barline: to the barline */
            } else {
                if (lm_rat_add(cursor, dur, &cursor) < 0) return rhythm_error(d);
                if (lm_rat_cmp(cursor, end) > 0) end = cursor;
            }
        } else if (is_el(c, "direction")) {
            if (pass->want_tempo && direction_tempo(d, c, start, cursor) < 0) return -1;
        } else if (is_el(c, "sound")) {
            if (pass->want_tempo && attr_text(c, "tempo", buf, sizeof buf)) {
                char *endp;
                double qpm = strtod(buf, &endp);
                if (endp != buf && !*endp && add_tempo(d, start, cursor, qpm) < 0) return -1;
            }
        }
    }
    *extent = end;
    return 0;
}

static void reset_part_state(mx_doc *d, size_t part) {
    d->part = part;
    d->measure = NULL;
    d->divisions = lm_rat_int(0);
    memset(d->transpose, 0, sizeof d->transpose);
}

static int read_score(const xmlDoc *xdoc, double bpm, const lm_theme_select *sel, lm_theme *out) {
    const xmlNode *root = xmlDocGetRootElement(xdoc);
    if (!root) {
        lm_set_error("XML document has no root element");
        return -1;
    }
    int timewise = is_el(root, "score-timewise");
    if (!timewise && !is_el(root, "score-partwise")) {
        char shown[64];
        lm_sym_clean_name(shown, sizeof shown, (const char *)root->name, strlen((const char *)root->name));
        if (!strcmp(shown, "opus"))
            lm_set_error("MusicXML opus files (collections of scores) are not supported; give one of its scores");
        else
            lm_set_error("not a MusicXML score: the root element is <%s>, not <score-partwise> or <score-timewise>",
                         shown);
        return -1;
    }
    mx_doc d = {0};
    int rc = -1;
    lm_rat *starts = NULL, *lens = NULL;
    if (collect_parts(&d, root, timewise) < 0) goto done;
    if (d.n_parts == 0) {
        lm_set_error("MusicXML score has no parts");
        goto done;
    }
    int chosen = -1; /* every part */
    if (sel && sel->part && sel->part[0]) {
        const char *(*names)[4] = lm_malloc(d.n_parts, sizeof *names);
        if (!names) goto done;
        for (size_t i = 0; i < d.n_parts; i++) memcpy(names[i], d.parts[i].names, sizeof names[i]);
        chosen = lm_sym_find_part(sel->part, d.n_parts, (const char *const(*)[4])names, "part", "MusicXML score");
        free(names);
        if (chosen < 0) goto done;
    }
    if (sel && sel->track > 0) {
        lm_set_error("a track number selects a MIDI track; use the part (number or name) for MusicXML");
        goto done;
    }

    /* Pass 1: each measure lasts as long as its longest part. */
    size_t n_meas = 0;
    for (size_t i = 0; i < d.n_parts; i++)
        if (d.parts[i].n_m > n_meas) n_meas = d.parts[i].n_m;
    starts = lm_malloc(n_meas + 1, sizeof *starts);
    lens = lm_calloc(n_meas + 1, sizeof *lens);
    if (!starts || !lens) goto done;
    for (size_t k = 0; k < n_meas; k++) lens[k] = lm_rat_int(0);
    /* A part that is not read (another was chosen) and cannot be timed counts only up to where it
     * fails; every part that is read must be sound. */
    mx_pass pass = {0, 0, 0, 0};
    for (size_t i = 0; i < d.n_parts; i++) {
        reset_part_state(&d, i);
        for (size_t k = 0; k < d.parts[i].n_m; k++) {
            lm_rat ext;
            d.measure = d.parts[i].m[k].measure;
            if (read_measure(&d, &pass, d.parts[i].m[k].content, lm_rat_int(0), &ext) < 0) {
                if (chosen < 0 || (size_t)chosen == i) goto done;
                break;
            }
            if (lm_rat_cmp(ext, lens[k]) > 0) lens[k] = ext;
        }
    }
    starts[0] = lm_rat_int(0);
    for (size_t k = 0; k < n_meas; k++)
        if (lm_rat_add(starts[k], lens[k], &starts[k + 1]) < 0) {
            lm_set_error("MusicXML score is too long to be timed exactly");
            goto done;
        }

    /* Pass 2: tempo marks of every part, notes of the chosen part(s). */
    for (size_t i = 0; i < d.n_parts; i++) {
        pass = (mx_pass){chosen < 0 || (size_t)chosen == i, 1, sel ? sel->voice : 0, (int)i};
        reset_part_state(&d, i);
        for (size_t k = 0; k < d.parts[i].n_m; k++) {
            lm_rat ext;
            d.measure = d.parts[i].m[k].measure;
            if (read_measure(&d, &pass, d.parts[i].m[k].content, starts[k], &ext) < 0) {
                if (chosen < 0 || (size_t)chosen == i) goto done;
                break;
            }
        }
    }

    /* Measures as numbered in the chosen (or first) part. */
    const mx_part *mp = &d.parts[chosen < 0 ? 0 : chosen];
    for (size_t k = 0; k < n_meas; k++) {
        char number[32];
        long v = -1;
        if (k < mp->n_m && attr_text(mp->m[k].measure, "number", number, sizeof number)) {
            char *end;
            v = strtol(number, &end, 10);
            if (end == number || v < 0 || v > 1000000) v = -1;
        }
        lm_sym_measure m = {(int)v, starts[k], starts[k + 1]};
        if (lm_sym_add_measure(&d.score, m) < 0) goto done;
    }
    char what[200];
    if (chosen >= 0 && (mp->name[0] || mp->id[0]))
        snprintf(what, sizeof what, "part %d \"%s\"", chosen + 1, mp->name[0] ? mp->name : mp->id);
    else if (chosen >= 0)
        snprintf(what, sizeof what, "part %d", chosen + 1);
    else
        snprintf(what, sizeof what, "the MusicXML score");
    rc = lm_sym_select_theme(&d.score, sel, what, "voice", bpm, out);
done:
    free(starts);
    free(lens);
    doc_free(&d);
    return rc;
}

int lm_musicxml_parse(const char *buf, size_t n, double bpm, const lm_theme_select *sel, lm_theme *out) {
    memset(out, 0, sizeof *out);
    xmlDoc *doc = parse_xml(buf, n, "MusicXML file");
    if (!doc) return -1;
    int rc = read_score(doc, bpm, sel, out);
    xmlFreeDoc(doc);
    return rc;
}

/* ---- .mxl ---- */

/* A member of the archive, whole (at most LM_SYM_MAX_BYTES); NULL with an error. */
static char *read_member(zip_t *za, const char *name, size_t *len) {
    zip_int64_t idx = zip_name_locate(za, name, 0);
    if (idx < 0) idx = zip_name_locate(za, name, ZIP_FL_NOCASE);
    char shown[128];
    lm_sym_clean_name(shown, sizeof shown, name, strlen(name));
    if (idx < 0) {
        lm_set_error("the .mxl archive has no member \"%s\"", shown);
        return NULL;
    }
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(za, (zip_uint64_t)idx, 0, &st) < 0) {
        lm_set_error("the .mxl archive's member \"%s\" is unreadable (%s)", shown, zip_strerror(za));
        return NULL;
    }
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE) {
        lm_set_error("the .mxl archive's member \"%s\" is encrypted", shown);
        return NULL;
    }
    if ((st.valid & ZIP_STAT_SIZE) && st.size > LM_SYM_MAX_BYTES) {
        lm_set_error("the .mxl archive's member \"%s\" is too large (%llu bytes; at most %zu MiB)", shown,
                     (unsigned long long)st.size, LM_SYM_MAX_BYTES >> 20);
        return NULL;
    }
    zip_file_t *f = zip_fopen_index(za, (zip_uint64_t)idx, 0);
    if (!f) {
        lm_set_error("the .mxl archive's member \"%s\" cannot be opened (%s)", shown, zip_strerror(za));
        return NULL;
    }
    size_t cap = (st.valid & ZIP_STAT_SIZE) ? (size_t)st.size + 1 : 1 << 16, n = 0;
    if (cap < 64) cap = 64;
    char *buf = lm_malloc(cap, 1);
    while (buf) {
        if (n + 1 >= cap) {
            if (cap > LM_SYM_MAX_BYTES) {
                lm_set_error("the .mxl archive's member \"%s\" is too large (at most %zu MiB)", shown,
                             LM_SYM_MAX_BYTES >> 20);
                free(buf);
                buf = NULL;
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                lm_set_error("out of memory reading the .mxl archive");
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        zip_int64_t got = zip_fread(f, buf + n, cap - n - 1);
        if (got < 0) {
            lm_set_error("the .mxl archive's member \"%s\" is damaged (%s)", shown, zip_file_strerror(f));
            free(buf);
            buf = NULL;
            break;
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    zip_fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

/* The score's path from META-INF/container.xml: the first rootfile that is MusicXML. */
static int container_rootfile(zip_t *za, char *path, size_t cap) {
    size_t n;
    char *xml = read_member(za, "META-INF/container.xml", &n);
    if (!xml) {
        lm_set_error("zip archive is not a compressed MusicXML file (.mxl): it has no META-INF/container.xml");
        return -1;
    }
    xmlDoc *doc = parse_xml(xml, n, "the .mxl archive's META-INF/container.xml");
    free(xml);
    if (!doc) return -1;
    const xmlNode *root = xmlDocGetRootElement(doc);
    const xmlNode *files = is_el(root, "container") ? child_el(root, "rootfiles") : NULL;
    int found = 0;
    char type[128];
    for (const xmlNode *c = files ? files->children : NULL; c && !found; c = c->next) {
        if (!is_el(c, "rootfile") || !attr_text(c, "full-path", path, cap) || !path[0]) continue;
        if (!attr_text(c, "media-type", type, sizeof type) || strstr(type, "musicxml")) found = 1;
    }
    xmlFreeDoc(doc);
    if (!found) {
        lm_set_error("the .mxl archive's META-INF/container.xml names no MusicXML rootfile");
        return -1;
    }
    return 0;
}

int lm_mxl_parse(const unsigned char *buf, size_t n, double bpm, const lm_theme_select *sel, lm_theme *out) {
    memset(out, 0, sizeof *out);
    if (n == 0) {
        lm_set_error("empty .mxl file");
        return -1;
    }
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(buf, n, 0, &ze);
    if (!src) {
        lm_set_error("cannot read the .mxl archive (%s)", zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return -1;
    }
    zip_t *za = zip_open_from_source(src, ZIP_RDONLY, &ze);
    if (!za) {
        lm_set_error("not a compressed MusicXML file (.mxl): not a readable zip archive (%s)", zip_error_strerror(&ze));
        zip_source_free(src);
        zip_error_fini(&ze);
        return -1;
    }
    zip_error_fini(&ze);
    int rc = -1;
    char path[1024];
    if (container_rootfile(za, path, sizeof path) == 0) {
        size_t len;
        char *xml = read_member(za, path, &len);
        if (xml) {
            rc = lm_musicxml_parse(xml, len, bpm, sel, out);
            if (rc < 0) {
                char msg[1024], shown[128];
                snprintf(msg, sizeof msg, "%s", lm_last_error());
                lm_sym_clean_name(shown, sizeof shown, path, strlen(path));
                lm_set_error("%s (in the .mxl archive): %s", shown, msg);
            }
            free(xml);
        }
    }
    zip_discard(za);
    return rc;
}

int lm_musicxml_read(const char *path, double bpm, const lm_theme_select *sel, lm_theme *out) {
    memset(out, 0, sizeof *out);
    size_t n = 0;
    char *data = lm_sym_read_file(path, &n);
    if (!data) return -1;
    int rc = n >= 4 && memcmp(data, "PK\x03\x04", 4) == 0 ? lm_mxl_parse((const unsigned char *)data, n, bpm, sel, out)
                                                          : lm_musicxml_parse(data, n, bpm, sel, out);
    free(data);
    if (rc < 0) lm_sym_prefix_error(path);
    return rc;
}
