#include "train/pairs.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/csv.h"
#include "common/error.h"
#include "common/fileio.h"
#include "symbolic/theme.h"

/* ---- field values ---- */

static int is_blank(const char *s) {
    while (isspace((unsigned char)*s)) s++;
    return *s == '\0';
}

static int parse_number(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno == ERANGE || !isfinite(v) || !is_blank(end)) return -1;
    *out = v;
    return 0;
}

static int parse_int(const char *s, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || errno == ERANGE || !is_blank(end) || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

static size_t count_tokens(const char *s) {
    size_t n = 0;
    while (*s) {
        while (isspace((unsigned char)*s)) s++;
        if (!*s) break;
        n++;
        while (*s && !isspace((unsigned char)*s)) s++;
    }
    return n;
}

long lm_parse_pitch_classes(const char *text, int *pcs, size_t cap) {
    static const int letter_pc[7] = {9, 11, 0, 2, 4, 5, 7}; /* A B C D E F G */
    size_t n = 0;
    const char *s = text;
    for (;;) {
        while (isspace((unsigned char)*s)) s++;
        if (!*s) break;
        const char *tok = s;
        while (*s && !isspace((unsigned char)*s)) s++;
        int len = (int)(s - tok);
        int letter = toupper((unsigned char)tok[0]);
        int ok = letter >= 'A' && letter <= 'G';
        int pc = ok ? letter_pc[letter - 'A'] : 0;
        for (int i = 1; ok && i < len; i++) {
            if (tok[i] == '#') pc++;
            else if (tok[i] == 'b') pc--;
            else ok = 0;
        }
        if (!ok) {
            lm_set_error("bad pitch class '%.*s' (expected a note letter A-G with # or b, e.g. 'F#', 'Bb')", len, tok);
            return -1;
        }
        if (n == cap) {
            lm_set_error("more than %zu pitch classes", cap);
            return -1;
        }
        pcs[n++] = ((pc % 12) + 12) % 12;
    }
    return (long)n;
}

/* ---- paths ---- */

static char *path_join(const char *dir, const char *name, const char *suffix) {
    size_t nd = dir && name[0] != '/' ? strlen(dir) : 0;
    size_t nn = strlen(name), ns = strlen(suffix);
    char *p = lm_malloc(nd + nn + ns + 2, 1);
    if (!p) return NULL;
    if (nd) {
        memcpy(p, dir, nd);
        p[nd++] = '/';
    }
    memcpy(p + nd, name, nn);
    memcpy(p + nd + nn, suffix, ns + 1);
    return p;
}

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return path_join(NULL, ".", "");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = lm_malloc(n + 1, 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

static char *dup_str(const char *s) { return path_join(NULL, s, ""); }

static int has_midi_suffix(const char *s) {
    size_t n = strlen(s);
    return (n > 4 && strcasecmp(s + n - 4, ".mid") == 0) || (n > 5 && strcasecmp(s + n - 5, ".midi") == 0);
}

/* ---- licences of the pieces CSV ---- */

typedef struct {
    const char *piece_id, *license; /* point into the pieces reader's buffer */
} piece_license;

static int cmp_piece(const void *a, const void *b) {
    return strcmp(((const piece_license *)a)->piece_id, ((const piece_license *)b)->piece_id);
}

/* The table points into *rows, which the caller frees after use. */
static int load_licenses(const char *path, lm_csv_row **rows, size_t *n_rows, piece_license **table, size_t *n) {
    *table = NULL;
    *n = 0;
    if (lm_csv_read(path, rows, n_rows) != 0) return -1;
    const lm_csv_row *h = &(*rows)[0];
    int col_piece = lm_csv_column(h, "piece_id"), col_license = lm_csv_column(h, "license");
    if (col_piece < 0 || col_license < 0) {
        lm_set_error("%s: missing column '%s'", path, col_piece < 0 ? "piece_id" : "license");
        return -1;
    }
    *table = lm_malloc(*n_rows, sizeof **table);
    if (!*table) return -1;
    for (size_t r = 1; r < *n_rows; r++)
        (*table)[(*n)++] = (piece_license){(*rows)[r].fields[col_piece], (*rows)[r].fields[col_license]};
    qsort(*table, *n, sizeof **table, cmp_piece);
    return 0;
}

/* ---- pairs ---- */

static void pair_free(lm_pair *p) {
    free(p->theme_id);
    free(p->piece_id);
    free(p->audio_path);
    free(p->labels);
    free(p->license);
    free(p->midi_path);
    memset(p, 0, sizeof *p);
}

void lm_pairs_free(lm_pairs *p) {
    for (size_t i = 0; i < p->n; i++) pair_free(&p->items[i]);
    free(p->items);
    p->items = NULL;
    p->n = 0;
}

/* Pitch classes of a note-name sequence; 0 when the text holds none. */
static int labels_from_text(const char *text, lm_pair *pair) {
    size_t n = count_tokens(text);
    if (n == 0) return 0;
    pair->labels = lm_malloc(n, sizeof *pair->labels);
    if (!pair->labels) return -1;
    long got = lm_parse_pitch_classes(text, pair->labels, n);
    if (got < 0) return -1;
    pair->n_labels = (size_t)got;
    return 0;
}

static int labels_from_midi(const char *path, lm_pair *pair) {
    lm_theme theme;
    if (lm_midi_read_theme(path, &theme) != 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", lm_last_error());
        if (!strstr(msg, path)) lm_set_error("MIDI theme %s: %s", path, msg); /* name the file once */
        return -1;
    }
    pair->labels = lm_malloc(theme.n, sizeof *pair->labels);
    if (pair->labels) pair->n_labels = lm_theme_pitch_classes(&theme, pair->labels, theme.n);
    lm_theme_free(&theme);
    return pair->labels ? 0 : -1;
}

typedef struct {
    int audio, piece, start, end, pcs, theme, midi, id, fold, transposition, license;
} pair_columns;

static const char *field_or_null(const lm_csv_row *rec, int col) {
    return col >= 0 && !is_blank(rec->fields[col]) ? rec->fields[col] : NULL;
}

/* Fills pair from one record; on failure returns -1 with a message without the file:line prefix. */
static int pair_from_record(const lm_csv_row *rec, const pair_columns *c, const char *csv_dir,
                            const char *audio_dir, const piece_license *licenses, size_t n_licenses,
                            size_t row, lm_pair *pair) {
    const char *v;
    pair->theme_id = (v = field_or_null(rec, c->id)) ? dup_str(v) : NULL;
    if (!v) {
        char id[32];
        snprintf(id, sizeof id, "row%zu", row);
        pair->theme_id = dup_str(id);
    }
    pair->piece_id = dup_str(c->piece >= 0 ? rec->fields[c->piece] : "");
    if (!pair->theme_id || !pair->piece_id) return -1;

    if ((v = field_or_null(rec, c->audio))) {
        pair->audio_path = path_join(audio_dir ? audio_dir : csv_dir, v, "");
    } else if (c->piece >= 0 && audio_dir && !is_blank(pair->piece_id)) {
        pair->audio_path = path_join(audio_dir, pair->piece_id, ".flac");
    } else {
        lm_set_error("no audio file (empty '%s')", c->audio >= 0 ? "audio" : "piece_id");
        return -1;
    }
    if (!pair->audio_path) return -1;

    if (parse_number(rec->fields[c->start], &pair->start_sec) != 0) {
        lm_set_error("start_sec '%s' is not a number", rec->fields[c->start]);
        return -1;
    }
    if (parse_number(rec->fields[c->end], &pair->end_sec) != 0) {
        lm_set_error("end_sec '%s' is not a number", rec->fields[c->end]);
        return -1;
    }
    if (pair->start_sec < 0) {
        lm_set_error("start_sec %g is negative", pair->start_sec);
        return -1;
    }
    if (pair->end_sec <= pair->start_sec) {
        lm_set_error("end_sec %g is not after start_sec %g", pair->end_sec, pair->start_sec);
        return -1;
    }
    if ((v = field_or_null(rec, c->fold)) && parse_int(v, 0, 1000000, &pair->fold) != 0) {
        lm_set_error("fold '%s' is not an integer >= 0", v);
        return -1;
    }
    if ((v = field_or_null(rec, c->transposition)) && parse_int(v, -127, 127, &pair->transposition) != 0) {
        lm_set_error("transposition '%s' is not an integer in -127..127", v);
        return -1;
    }

    /* The theme: the first non-empty source, in the order of the header comment. */
    int rc = 0;
    if ((v = field_or_null(rec, c->pcs))) {
        rc = labels_from_text(v, pair);
    } else if ((v = field_or_null(rec, c->theme)) && !has_midi_suffix(v)) {
        rc = labels_from_text(v, pair);
    } else if (v || (v = field_or_null(rec, c->midi))) {
        char *midi = path_join(csv_dir, v, "");
        rc = midi ? labels_from_midi(midi, pair) : -1;
        free(midi);
    }
    if (rc != 0) return -1;
    /* The theme's MIDI, when there is one, also gives note durations (the CCE baseline needs them). */
    const char *midi_field = field_or_null(rec, c->midi);
    if (!midi_field && (v = field_or_null(rec, c->theme)) && has_midi_suffix(v)) midi_field = v;
    pair->midi_path = midi_field ? path_join(csv_dir, midi_field, "") : dup_str("");
    if (!pair->midi_path) return -1;
    if (pair->n_labels == 0) {
        lm_set_error("theme %s has no notes", pair->theme_id);
        return -1;
    }
    for (size_t i = 0; i < pair->n_labels; i++) pair->labels[i] = ((pair->labels[i] + pair->transposition) % 12 + 12) % 12;

    if ((v = field_or_null(rec, c->license))) {
        pair->license = dup_str(v);
    } else if (licenses) {
        piece_license key = {pair->piece_id, NULL};
        const piece_license *hit = bsearch(&key, licenses, n_licenses, sizeof key, cmp_piece);
        if (!hit) {
            lm_set_error("piece '%s' is not in the pieces CSV", pair->piece_id);
            return -1;
        }
        pair->license = dup_str(hit->license);
    } else {
        pair->license = dup_str("");
    }
    return pair->license ? 0 : -1;
}

int lm_pairs_load(const char *csv_path, const lm_pairs_options *opt, lm_pairs *out) {
    const char *audio_dir = opt ? opt->audio_dir : NULL;
    const char *pieces_csv = opt ? opt->pieces_csv : NULL;
    out->items = NULL;
    out->n = 0;
    lm_csv_row *rows = NULL, *piece_rows = NULL;
    size_t n_rows = 0, n_piece_rows = 0;
    piece_license *licenses = NULL;
    size_t n_licenses = 0;
    char *csv_dir = NULL;
    lm_pair pair = {0};

    if (lm_csv_read(csv_path, &rows, &n_rows) != 0) return -1;
    const lm_csv_row *h = &rows[0];
    pair_columns c = {
        .audio = lm_csv_column(h, "audio"),
        .piece = lm_csv_column(h, "piece_id"),
        .start = lm_csv_column(h, "start_sec"),
        .end = lm_csv_column(h, "end_sec"),
        .pcs = lm_csv_column(h, "pitch_classes"),
        .theme = lm_csv_column(h, "theme"),
        .midi = lm_csv_column(h, "query_midi"),
        .id = lm_csv_column(h, "theme_id"),
        .fold = lm_csv_column(h, "fold"),
        .transposition = lm_csv_column(h, "transposition"),
        .license = lm_csv_column(h, "license"),
    };
    if (c.audio < 0 && (c.piece < 0 || !audio_dir)) {
        if (c.piece < 0) lm_set_error("%s: missing column 'audio' (or 'piece_id' with an audio folder)", csv_path);
        else lm_set_error("%s: missing column 'audio'; the rows name a piece_id, so give the audio folder", csv_path);
        goto fail;
    }
    if (c.start < 0 || c.end < 0) {
        lm_set_error("%s: missing column '%s'", csv_path, c.start < 0 ? "start_sec" : "end_sec");
        goto fail;
    }
    if (c.pcs < 0 && c.theme < 0 && c.midi < 0) {
        lm_set_error("%s: missing column 'pitch_classes' (or 'theme' or 'query_midi')", csv_path);
        goto fail;
    }
    if (pieces_csv && c.license < 0) {
        if (c.piece < 0) {
            lm_set_error("%s: missing column 'piece_id' (needed to look up licences in %s)", csv_path, pieces_csv);
            goto fail;
        }
        if (load_licenses(pieces_csv, &piece_rows, &n_piece_rows, &licenses, &n_licenses) != 0) goto fail;
    }
    if (!(csv_dir = dir_of(csv_path))) goto fail;
    if (n_rows > 1 && !(out->items = lm_calloc(n_rows - 1, sizeof *out->items))) goto fail;
    for (size_t r = 1; r < n_rows; r++) {
        if (pair_from_record(&rows[r], &c, csv_dir, audio_dir, licenses, n_licenses, r, &pair) != 0) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", lm_last_error());
            lm_set_error("%s:%zu: %s", csv_path, rows[r].line, msg);
            goto fail;
        }
        out->items[out->n++] = pair;
        memset(&pair, 0, sizeof pair);
    }
    if (out->n == 0) {
        lm_set_error("%s: no rows", csv_path);
        goto fail;
    }
    lm_csv_free(rows, n_rows);
    lm_csv_free(piece_rows, n_piece_rows);
    free(licenses);
    free(csv_dir);
    return 0;
fail:
    pair_free(&pair);
    lm_pairs_free(out);
    lm_csv_free(rows, n_rows);
    lm_csv_free(piece_rows, n_piece_rows);
    free(licenses);
    free(csv_dir);
    return -1;
}

/* ---- filters ---- */

/* Keeps the pairs with keep[i] != 0, freeing the others; fails without change when none is kept. */
static long keep_pairs(lm_pairs *p, const unsigned char *keep) {
    size_t kept = 0;
    for (size_t i = 0; i < p->n; i++) kept += keep[i] != 0;
    if (kept == 0) return -1;
    size_t w = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (keep[i]) p->items[w++] = p->items[i];
        else pair_free(&p->items[i]);
    }
    p->n = w;
    return (long)w;
}

long lm_pairs_filter_folds(lm_pairs *p, const int *folds, size_t n_folds, int exclude) {
    unsigned char *keep = lm_calloc(p->n, 1);
    if (!keep) return -1;
    for (size_t i = 0; i < p->n; i++) {
        int listed = 0;
        for (size_t k = 0; k < n_folds; k++) listed |= p->items[i].fold == folds[k];
        keep[i] = listed != (exclude != 0);
    }
    long kept = keep_pairs(p, keep);
    free(keep);
    if (kept < 0) {
        char list[256] = "";
        for (size_t k = 0; k < n_folds; k++) {
            size_t len = strlen(list);
            snprintf(list + len, sizeof list - len, "%s%d", k ? " " : "", folds[k]);
        }
        lm_set_error("no training pairs %s folds %s", exclude ? "outside" : "in", n_folds ? list : "(none)");
    }
    return kept;
}

static int license_listed(const char *list, const char *license) {
    size_t n = strlen(license);
    if (n == 0) return 0;
    for (const char *s = list; *s;) {
        while (*s == ',' || isspace((unsigned char)*s)) s++;
        const char *tok = s;
        while (*s && *s != ',') s++;
        const char *e = s;
        while (e > tok && isspace((unsigned char)e[-1])) e--;
        if ((size_t)(e - tok) == n && strncasecmp(tok, license, n) == 0) return 1;
    }
    return 0;
}

long lm_pairs_filter_license(lm_pairs *p, const char *licenses) {
    unsigned char *keep = lm_calloc(p->n, 1);
    if (!keep) return -1;
    for (size_t i = 0; i < p->n; i++) keep[i] = (unsigned char)license_listed(licenses, p->items[i].license);
    long kept = keep_pairs(p, keep);
    free(keep);
    if (kept < 0) lm_set_error("no training pairs with licence %s", licenses);
    return kept;
}
