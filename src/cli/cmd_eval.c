/* `leitmotif eval`: retrieval evaluation of a database on a themes CSV. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/csv.h"
#include "common/error.h"
#include "common/fileio.h"
#include "eval/eval.h"
#include "eval/json.h"
#include "index/db.h"

static void eval_help(FILE *f) {
    fprintf(f,
            "usage: leitmotif eval DB --themes THEMES.csv [--json] [--queries-from annotation|score]\n"
            "                      [--folds 1,2,...] [--top-ranks-out FILE] [--threads N]\n\n"
            "Every theme of THEMES.csv is a query against all recordings of DB; the rank of its own\n"
            "recording (document id = piece_id) gives the top-1/5/10/20/50 rates and the mean reciprocal\n"
            "rank (MRR), per fold and averaged over folds weighted by their number of queries (Zalkow &\n"
            "Mueller 2020, Table 4). Ties count against the correct recording: its rank is the number of\n"
            "recordings whose distance is smaller than or equal to its own.\n\n"
            "  --themes FILE    CSV with a header naming the columns theme_id, piece_id, fold, start_sec,\n"
            "                   end_sec, query_midi (relative to the CSV's folder) and optionally\n"
            "                   transposition (semitones), as ../shared/corpus/themes.csv\n"
            "  --queries-from annotation  stretch each query to end_sec - start_sec (default; the paper's\n"
            "                   protocol)\n"
            "  --queries-from score       keep each query's own duration at its MIDI tempo\n"
            "  --folds LIST     evaluate only these folds (comma-separated)\n"
            "  --top-ranks-out FILE  write a CSV per query: theme_id, piece_id, fold, rank, distance and\n"
            "                   the ids of the 10 best recordings (top1..top10)\n"
            "  --json           print {\"folds\": [...], \"average\": {...}, \"ranks\": {theme_id: rank}}\n"
            "  --threads N      worker threads (default: all cores)\n\n"
            "Queries whose piece is not in the database are skipped with a warning (and counted).\n");
}

static int parse_folds(const char *s, int **folds, size_t *n) {
    size_t cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    int *f = lm_malloc(cap, sizeof *f);
    if (!f) return -1;
    *n = 0;
    const char *p = s;
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < -1000000 || v > 1000000 || (*end != ',' && *end != '\0')) {
            free(f);
            lm_set_error("--folds: expected a comma-separated list of fold numbers, got '%s'", s);
            return -1;
        }
        f[(*n)++] = (int)v;
        if (*end == '\0') break;
        p = end + 1;
    }
    *folds = f;
    return 0;
}

static void print_row(const char *label, const lm_eval_summary *s) {
    printf("%-6s %8zu", label, s->queries);
    for (int j = 0; j < LM_EVAL_NK; j++) printf(" %7.3f", s->top[j]);
    printf(" %7.3f\n", s->mrr);
}

static void print_table(const lm_eval_summary *folds, size_t n_folds, const lm_eval_summary *avg) {
    printf("%-6s %8s", "Fold", "Queries");
    for (int j = 0; j < LM_EVAL_NK; j++) {
        char h[16];
        snprintf(h, sizeof h, "Top-%d", lm_eval_k[j]);
        printf(" %7s", h);
    }
    printf(" %7s\n", "MRR");
    for (size_t f = 0; f < n_folds; f++) {
        char label[16];
        snprintf(label, sizeof label, "%d", folds[f].fold);
        print_row(label, &folds[f]);
    }
    print_row("Avg", avg);
}

static void json_summary(const lm_eval_summary *s) {
    printf("\"queries\": %zu", s->queries);
    for (int j = 0; j < LM_EVAL_NK; j++) {
        printf(", \"top%d\": ", lm_eval_k[j]);
        lm_json_number(stdout, s->top[j]);
    }
    printf(", \"mrr\": ");
    lm_json_number(stdout, s->mrr);
}

static void print_json(const lm_eval_summary *folds, size_t n_folds, const lm_eval_summary *avg,
                       const lm_eval_query *q, const lm_eval_result *res, size_t n, size_t skipped) {
    printf("{\"folds\": [");
    for (size_t f = 0; f < n_folds; f++) {
        printf("%s\n  {\"fold\": %d, ", f ? "," : "", folds[f].fold);
        json_summary(&folds[f]);
        printf("}");
    }
    printf("],\n \"average\": {");
    json_summary(avg);
    printf("},\n \"skipped_queries\": %zu,\n \"ranks\": {", skipped);
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (res[i].rank == 0) continue;
        printf("%s\n  ", first ? "" : ",");
        lm_json_string(stdout, q[i].theme_id);
        printf(": %zu", res[i].rank);
        first = 0;
    }
    printf("}}\n");
}

static int write_top_ranks(const char *path, const lm_db *db, const lm_eval_query *q, const lm_eval_result *res,
                           size_t n) {
    lm_atomic_file af;
    if (lm_atomic_open(&af, path) != 0) return -1;
    fprintf(af.fp, "theme_id,piece_id,fold,rank,distance");
    for (int k = 1; k <= LM_EVAL_MAX_TOP; k++) fprintf(af.fp, ",top%d", k);
    fputc('\n', af.fp);
    for (size_t i = 0; i < n; i++) {
        if (res[i].rank == 0) continue;
        lm_csv_write_field(af.fp, q[i].theme_id);
        fputc(',', af.fp);
        lm_csv_write_field(af.fp, q[i].piece_id);
        fprintf(af.fp, ",%d,%zu,%.6g", q[i].fold, res[i].rank, res[i].distance);
        for (size_t k = 0; k < LM_EVAL_MAX_TOP; k++) {
            fputc(',', af.fp);
            if (k < res[i].n_top) lm_csv_write_field(af.fp, db->docs[res[i].top[k].doc].id);
        }
        fputc('\n', af.fp);
    }
    return lm_atomic_commit(&af);
}

int cmd_eval(int argc, char **argv) {
    const char *db_path = NULL, *themes_path = NULL, *top_out = NULL, *folds_arg = NULL;
    int json = 0;
    lm_eval_options opt = {0};
    for (int i = 1; i < argc; i++) {
        int th = lm_cli_threads_option(argc, argv, &i);
        if (th < 0) return 1;
        if (th) continue;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            eval_help(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--themes") && i + 1 < argc) themes_path = argv[++i];
        else if (!strcmp(argv[i], "--top-ranks-out") && i + 1 < argc) top_out = argv[++i];
        else if (!strcmp(argv[i], "--folds") && i + 1 < argc) folds_arg = argv[++i];
        else if (!strcmp(argv[i], "--queries-from") && i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(v, "annotation")) opt.from_score = 0;
            else if (!strcmp(v, "score")) opt.from_score = 1;
            else return lm_cli_fail("--queries-from: expected annotation or score, got '%s'", v);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return lm_cli_fail("eval: unknown option or missing value: %s", argv[i]);
        } else if (!db_path) db_path = argv[i];
        else return lm_cli_fail("eval: more than one database given");
    }
    if (!db_path || !themes_path) {
        eval_help(stderr);
        return 2;
    }
    int *folds = NULL;
    size_t n_fold_filter = 0;
    if (folds_arg && parse_folds(folds_arg, &folds, &n_fold_filter) != 0) return lm_cli_fail_lib();
    opt.n_top = top_out ? LM_EVAL_MAX_TOP : 0;

    lm_eval_query *q;
    size_t n;
    if (lm_eval_read_themes(themes_path, &q, &n) != 0) {
        free(folds);
        return lm_cli_fail_lib();
    }
    if (folds) { /* keep only the requested folds, in file order */
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
            int want = 0;
            for (size_t f = 0; f < n_fold_filter; f++) want |= q[i].fold == folds[f];
            if (want) {
                q[kept++] = q[i];
            } else {
                free(q[i].theme_id);
                free(q[i].piece_id);
                free(q[i].query_midi);
            }
        }
        n = kept;
        free(folds);
        if (n == 0) {
            lm_eval_free_themes(q, n);
            return lm_cli_fail("%s: no theme in folds %s", themes_path, folds_arg);
        }
    }

    lm_db db;
    if (lm_db_open(db_path, &db) != 0) {
        lm_eval_free_themes(q, n);
        return lm_cli_fail_lib();
    }
    int rc = 0;
    size_t skipped = 0;
    lm_eval_result *res = lm_malloc(n ? n : 1, sizeof *res);
    if (!res || lm_eval_run(&db, q, n, &opt, res, &skipped) != 0) rc = lm_cli_fail_lib();
    if (rc == 0 && skipped) {
        size_t first = 0;
        while (res[first].rank != 0) first++;
        fprintf(stderr,
                "leitmotif: warning: %zu of %zu queries skipped: their piece is not in the database (e.g. %s, "
                "piece %s)\n",
                skipped, n, q[first].theme_id, q[first].piece_id);
    }
    if (rc == 0 && skipped == n) rc = lm_cli_fail("no query's piece is in %s; nothing evaluated", db_path);
    if (rc == 0) {
        int *fold_of = lm_malloc(n, sizeof *fold_of);
        size_t *rank_of = lm_malloc(n, sizeof *rank_of);
        lm_eval_summary *per_fold = NULL, avg;
        size_t n_folds = 0;
        if (!fold_of || !rank_of) rc = lm_cli_fail_lib();
        for (size_t i = 0; rc == 0 && i < n; i++) {
            fold_of[i] = q[i].fold;
            rank_of[i] = res[i].rank;
        }
        if (rc == 0 && lm_eval_summarize(fold_of, rank_of, n, &per_fold, &n_folds, &avg) != 0) rc = lm_cli_fail_lib();
        if (rc == 0) {
            if (json) print_json(per_fold, n_folds, &avg, q, res, n, skipped);
            else print_table(per_fold, n_folds, &avg);
            if (fflush(stdout) != 0) rc = lm_cli_fail("cannot write the results");
        }
        if (rc == 0 && top_out && write_top_ranks(top_out, &db, q, res, n) != 0) rc = lm_cli_fail_lib();
        free(per_fold);
        free(fold_of);
        free(rank_of);
    }
    free(res);
    lm_db_close(&db);
    lm_eval_free_themes(q, n);
    return rc;
}
