/* RFC 4180 CSV reader and the themes CSV on top of it. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "eval/eval.h"

typedef struct {
    char *buf;
    size_t n, cap;
} growbuf;

static int grow_put(growbuf *g, char c) {
    if (g->n + 1 >= g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 64;
        char *b = realloc(g->buf, cap);
        if (!b) {
            lm_set_error("out of memory");
            return -1;
        }
        g->buf = b;
        g->cap = cap;
    }
    g->buf[g->n++] = c;
    g->buf[g->n] = '\0';
    return 0;
}

static char *grow_take(growbuf *g) {
    char *s = g->buf ? g->buf : calloc(1, 1);
    if (!s) lm_set_error("out of memory");
    g->buf = NULL;
    g->n = g->cap = 0;
    return s;
}

static int push_field(lm_csv_row *row, growbuf *field, size_t *cap) {
    if (row->n_fields == *cap) {
        size_t nc = *cap ? 2 * *cap : 16;
        char **f = realloc(row->fields, nc * sizeof *f);
        if (!f) {
            lm_set_error("out of memory");
            return -1;
        }
        row->fields = f;
        *cap = nc;
    }
    char *s = grow_take(field);
    if (!s) return -1;
    row->fields[row->n_fields++] = s;
    return 0;
}

static void free_row(lm_csv_row *row) {
    for (size_t i = 0; i < row->n_fields; i++) free(row->fields[i]);
    free(row->fields);
}

int lm_csv_parse(const char *text, size_t len, lm_csv_row **rows_out, size_t *n_rows) {
    lm_csv_row *rows = NULL;
    size_t n = 0, cap = 0, pos = 0, line = 1;
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) pos = 3; /* UTF-8 byte order mark */
    int rc = 0;
    while (pos < len && rc == 0) {
        lm_csv_row row = {.line = line};
        size_t field_cap = 0;
        growbuf field = {0};
        int end_of_record = 0;
        while (!end_of_record && rc == 0) {
            if (pos < len && text[pos] == '"') {
                pos++;
                for (;;) {
                    if (pos >= len) {
                        lm_set_error("line %zu: unterminated quoted field", row.line);
                        rc = -1;
                        break;
                    }
                    if (text[pos] == '"') {
                        if (pos + 1 < len && text[pos + 1] == '"') {
                            rc = grow_put(&field, '"');
                            pos += 2;
                            if (rc) break;
                            continue;
                        }
                        pos++;
                        break;
                    }
                    if (text[pos] == '\n') line++;
                    if (grow_put(&field, text[pos++]) != 0) {
                        rc = -1;
                        break;
                    }
                }
                if (rc == 0 && pos < len && text[pos] != ',' && text[pos] != '\n' && text[pos] != '\r') {
                    lm_set_error("line %zu: unexpected character after a closing quote", line);
                    rc = -1;
                }
            } else {
                while (rc == 0 && pos < len && text[pos] != ',' && text[pos] != '\n' && text[pos] != '\r')
                    rc = grow_put(&field, text[pos++]);
            }
            if (rc != 0) break;
            rc = push_field(&row, &field, &field_cap);
            if (pos < len && text[pos] == ',') {
                pos++;
            } else {
                if (pos < len && text[pos] == '\r') pos++;
                if (pos < len && text[pos] == '\n') pos++;
                line++;
                end_of_record = 1;
            }
        }
        free(field.buf);
        /* A blank line is one empty field: not a record. */
        if (rc == 0 && !(row.n_fields == 1 && row.fields[0][0] == '\0')) {
            if (n == cap) {
                size_t nc = cap ? 2 * cap : 256;
                lm_csv_row *r = realloc(rows, nc * sizeof *r);
                if (!r) {
                    lm_set_error("out of memory");
                    rc = -1;
                } else {
                    rows = r;
                    cap = nc;
                }
            }
            if (rc == 0) {
                rows[n++] = row;
                continue;
            }
        }
        free_row(&row);
    }
    if (rc != 0) {
        lm_csv_free(rows, n);
        return -1;
    }
    *rows_out = rows;
    *n_rows = n;
    return 0;
}

void lm_csv_free(lm_csv_row *rows, size_t n_rows) {
    if (!rows) return;
    for (size_t i = 0; i < n_rows; i++) free_row(&rows[i]);
    free(rows);
}

static int column(const lm_csv_row *header, const char *name) {
    for (size_t i = 0; i < header->n_fields; i++)
        if (!strcmp(header->fields[i], name)) return (int)i;
    return -1;
}

static int parse_number(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int parse_int(const char *s, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < -1000000 || v > 1000000) return -1;
    *out = (int)v;
    return 0;
}

static char *resolve(const char *dir, const char *rel) {
    if (rel[0] == '/' || !dir[0]) {
        char *p = lm_malloc(strlen(rel) + 1, 1);
        if (p) strcpy(p, rel);
        return p;
    }
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *p = lm_malloc(n, 1);
    if (p) snprintf(p, n, "%s/%s", dir, rel);
    return p;
}

static char *dup_str(const char *s) { return resolve("", s); }

static int cmp_query_ptr_id(const void *a, const void *b) {
    return strcmp((*(lm_eval_query *const *)a)->theme_id, (*(lm_eval_query *const *)b)->theme_id);
}

/* Results are keyed by theme id, so a repeated id would silently merge two queries. */
static int check_unique_ids(const char *csv_path, lm_eval_query *q, size_t n) {
    lm_eval_query **sorted = lm_malloc(n ? n : 1, sizeof *sorted);
    if (!sorted) return -1;
    for (size_t i = 0; i < n; i++) sorted[i] = &q[i];
    qsort(sorted, n, sizeof *sorted, cmp_query_ptr_id);
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++)
        if (!strcmp(sorted[i - 1]->theme_id, sorted[i]->theme_id)) {
            lm_set_error("%s: theme_id '%s' appears twice (lines %zu and %zu)", csv_path, sorted[i]->theme_id,
                         sorted[i - 1]->line < sorted[i]->line ? sorted[i - 1]->line : sorted[i]->line,
                         sorted[i - 1]->line < sorted[i]->line ? sorted[i]->line : sorted[i - 1]->line);
            rc = -1;
        }
    free(sorted);
    return rc;
}

int lm_eval_read_themes(const char *csv_path, lm_eval_query **queries, size_t *n_out) {
    size_t len;
    char *text = lm_read_file(csv_path, &len);
    if (!text) return -1;
    lm_csv_row *rows;
    size_t n_rows;
    int rc = lm_csv_parse(text, len, &rows, &n_rows);
    free(text);
    if (rc != 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", lm_last_error());
        lm_set_error("%s: %s", csv_path, msg);
        return -1;
    }
    if (n_rows == 0) {
        lm_set_error("%s: empty file (expected a header row)", csv_path);
        lm_csv_free(rows, n_rows);
        return -1;
    }
    static const char *const required[] = {"theme_id", "piece_id", "fold", "start_sec", "end_sec", "query_midi"};
    int col[7];
    for (int i = 0; i < 6; i++)
        if ((col[i] = column(&rows[0], required[i])) < 0) {
            lm_set_error("%s: no column '%s' in the header", csv_path, required[i]);
            lm_csv_free(rows, n_rows);
            return -1;
        }
    col[6] = column(&rows[0], "transposition");

    char *dir = resolve("", csv_path);
    lm_eval_query *q = lm_calloc(n_rows, sizeof *q);
    if (!dir || !q) rc = -1;
    if (dir) {
        char *slash = strrchr(dir, '/');
        if (slash) *slash = '\0';
        else dir[0] = '\0';
    }
    size_t n = 0;
    for (size_t r = 1; r < n_rows && rc == 0; r++) {
        const lm_csv_row *row = &rows[r];
        if (row->n_fields != rows[0].n_fields) {
            lm_set_error("%s line %zu: %zu fields, the header has %zu", csv_path, row->line, row->n_fields,
                         rows[0].n_fields);
            rc = -1;
            break;
        }
        lm_eval_query *e = &q[n++];
        e->line = row->line;
        const char *bad = NULL;
        if (!row->fields[col[0]][0]) bad = "theme_id";
        else if (!row->fields[col[1]][0]) bad = "piece_id";
        else if (parse_int(row->fields[col[2]], &e->fold) != 0) bad = "fold";
        else if (parse_number(row->fields[col[3]], &e->start_sec) != 0) bad = "start_sec";
        else if (parse_number(row->fields[col[4]], &e->end_sec) != 0 || e->end_sec <= e->start_sec) bad = "end_sec";
        else if (!row->fields[col[5]][0]) bad = "query_midi";
        else if (col[6] >= 0 && parse_int(row->fields[col[6]], &e->transposition) != 0) bad = "transposition";
        if (bad) {
            lm_set_error("%s line %zu: bad %s value '%s'", csv_path, row->line, bad,
                         row->fields[column(&rows[0], bad)]);
            rc = -1;
            break;
        }
        e->theme_id = dup_str(row->fields[col[0]]);
        e->piece_id = dup_str(row->fields[col[1]]);
        e->query_midi = resolve(dir, row->fields[col[5]]);
        if (!e->theme_id || !e->piece_id || !e->query_midi) rc = -1;
    }
    free(dir);
    lm_csv_free(rows, n_rows);
    if (rc == 0) rc = check_unique_ids(csv_path, q, n);
    if (rc != 0) {
        lm_eval_free_themes(q, n);
        return -1;
    }
    *queries = q;
    *n_out = n;
    return 0;
}

void lm_eval_free_themes(lm_eval_query *queries, size_t n) {
    if (!queries) return;
    for (size_t i = 0; i < n; i++) {
        free(queries[i].theme_id);
        free(queries[i].piece_id);
        free(queries[i].query_midi);
    }
    free(queries);
}
