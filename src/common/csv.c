#include "common/csv.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"

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

int lm_csv_column(const lm_csv_row *header, const char *name) {
    for (size_t i = 0; i < header->n_fields; i++)
        if (!strcmp(header->fields[i], name)) return (int)i;
    return -1;
}

int lm_csv_read(const char *path, lm_csv_row **rows_out, size_t *n_out) {
    size_t len;
    char *text = lm_read_file(path, &len);
    if (!text) return -1;
    lm_csv_row *rows;
    size_t n;
    int rc = lm_csv_parse(text, len, &rows, &n);
    free(text);
    if (rc != 0) {
        /* "line N: what" from the parser becomes "path:N: what". */
        char msg[1024];
        size_t line;
        int used = 0;
        snprintf(msg, sizeof msg, "%s", lm_last_error());
        if (sscanf(msg, "line %zu: %n", &line, &used) == 1 && used > 0) lm_set_error("%s:%zu: %s", path, line, msg + used);
        else lm_set_error("%s: %s", path, msg);
        return -1;
    }
    if (n == 0) {
        lm_set_error("%s: empty file (no header row)", path);
        lm_csv_free(rows, n);
        return -1;
    }
    for (size_t i = 0; i < rows[0].n_fields; i++) { /* trim header names in place */
        char *s = rows[0].fields[i], *p = s;
        while (isspace((unsigned char)*p)) p++;
        size_t k = strlen(p);
        while (k > 0 && isspace((unsigned char)p[k - 1])) k--;
        memmove(s, p, k);
        s[k] = '\0';
    }
    for (size_t r = 1; r < n; r++)
        if (rows[r].n_fields != rows[0].n_fields) {
            lm_set_error("%s:%zu: %zu fields, the header has %zu", path, rows[r].line, rows[r].n_fields,
                         rows[0].n_fields);
            lm_csv_free(rows, n);
            return -1;
        }
    *rows_out = rows;
    *n_out = n;
    return 0;
}

void lm_csv_write_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}
