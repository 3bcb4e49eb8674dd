/* The themes CSV (as ../shared/corpus/themes.csv): one query per row. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/csv.h"
#include "common/error.h"
#include "common/fileio.h"
#include "eval/eval.h"

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
    lm_csv_row *rows;
    size_t n_rows;
    if (lm_csv_read(csv_path, &rows, &n_rows) != 0) return -1;
    int rc = 0;
    static const char *const required[] = {"theme_id", "piece_id", "fold", "start_sec", "end_sec", "query_midi"};
    int col[7];
    for (int i = 0; i < 6; i++)
        if ((col[i] = lm_csv_column(&rows[0], required[i])) < 0) {
            lm_set_error("%s: no column '%s' in the header", csv_path, required[i]);
            lm_csv_free(rows, n_rows);
            return -1;
        }
    col[6] = lm_csv_column(&rows[0], "transposition");

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
                         row->fields[lm_csv_column(&rows[0], bad)]);
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
