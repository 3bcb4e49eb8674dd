/* `leitmotif eval`: retrieval evaluation of a database on a themes CSV. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/csv.h"
#include "common/error.h"
#include "dist/dist.h"
#include "common/fileio.h"
#include "eval/eval.h"
#include "eval/json.h"
#include "index/db.h"

static void eval_help(FILE *f) {
    fprintf(f,
            "usage: leitmotif eval DB --themes THEMES.csv [--json] [--queries-from annotation|score]\n"
            "                      [--folds 1,2,...] [--top-ranks-out FILE] [--threads N]\n"
            "                      [--oracle DB2 | --fuse DB2 [--fuse-weight W]]\n"
            "                      [--transpose any] [--duration auto] [--exhaustive] [--context W]\n"
            "                      [--random-transpose SEED] [--random-tempo SEED]\n\n"
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
            "  --threads N      worker threads (default: all cores)\n"
            "  --oracle DB2     also evaluate DB2, a database of the same recordings with other features,\n"
            "                   and report DB alone, DB2 alone and their oracle (per query the better of\n"
            "                   the two ranks; Zalkow & Mueller 2020, Table 6), over the recordings of both\n"
            "  --fuse DB2       evaluate the fusion of DB and DB2 (same recordings): one search against\n"
            "                   the per-frame mix (1-W) x DB's features + W x DB2's, l2-normalised\n"
            "  --fuse-weight W  weight W of DB2 in [0, 1] (default %.2f; 0 = DB alone, 1 = DB2 alone)\n"
            "  --transpose any  search every query in all 12 keys (as search --transpose any)\n"
            "  --duration auto  search every query at 0.25-4x its duration (as search --duration auto),\n"
            "                   the annotated one or, with --queries-from score, the score's\n"
            "  --exhaustive     run every query (with --transpose any / --duration auto: every key and\n"
            "                   stretching) exactly over every recording, without the candidate pass (the\n"
            "                   reference the candidate search is measured against)\n"
            "  --context W      weight of the recording's context in the ranking (as search --context;\n"
            "                   default %.2f, 0: the best passage alone, the paper's ranking)\n"
            "  --random-transpose SEED  shift each query by a random -5..-1 or 1..6 semitones, drawn from\n"
            "                   SEED (an integer >= 0) and its theme id\n"
            "  --random-tempo SEED  play each query at a random 0.5-2x its tempo (log-uniform; its\n"
            "                   duration divided by the factor), drawn from SEED and its theme id\n\n"
            "Queries whose piece is not in the database are skipped with a warning (and counted). With\n"
            "--oracle or --fuse, recordings in only one database, or whose frame counts differ by more than\n"
            "1 s between them, are left out with a warning, and the header names each database's features.\n"
            "With --transpose any, --duration auto or a --random option, the JSON has \"query_details\":\n"
            "per theme the shift and tempo applied and the shift and stretching found for its recording.\n",
            LM_FUSE_WEIGHT_DEFAULT, (double)LM_CONTEXT_WEIGHT);
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

/* "folds": [...], "average": {...} */
static void json_folds(const lm_eval_summary *folds, size_t n_folds, const lm_eval_summary *avg) {
    printf("\"folds\": [");
    for (size_t f = 0; f < n_folds; f++) {
        printf("%s\n  {\"fold\": %d, ", f ? "," : "", folds[f].fold);
        json_summary(&folds[f]);
        printf("}");
    }
    printf("],\n \"average\": {");
    json_summary(avg);
    printf("}");
}

/* What a database holds: {"path": ..., "features": ..., "model_id": ..., ...} */
static void json_database(const char *path, const lm_db *db) {
    printf("{\"path\": ");
    lm_json_string(stdout, path);
    printf(", \"features\": ");
    lm_json_string(stdout, lm_feature_name(db->type));
    printf(", \"model_id\": ");
    lm_json_string(stdout, db->model_id);
    printf(", \"model_checksum\": \"%08x\", \"recordings\": %zu}", (unsigned)db->model_checksum, db->n_docs);
}

/* Opening of the JSON document of a two-database run: {"databases": {...}, "recordings": n, */
static void json_two_databases(const char *path, const lm_db *db, const char *path2, const lm_db *db2,
                               const lm_fusion *f) {
    printf("{\"databases\": {\"db\": ");
    json_database(path, db);
    printf(",\n  \"db2\": ");
    json_database(path2, db2);
    printf("},\n \"recordings\": %zu,\n ", f->n);
}

/* What --transpose any / --duration auto / --random-* did to each query. */
static void json_query_details(const lm_eval_query *q, const lm_eval_result *res, size_t n) {
    printf(",\n \"query_details\": {");
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (res[i].rank == 0) continue;
        printf("%s\n  ", first ? "" : ",");
        lm_json_string(stdout, q[i].theme_id);
        printf(": {\"shift_applied\": %d, \"tempo_applied\": ", res[i].shift_applied);
        lm_json_number(stdout, res[i].tempo_applied);
        printf(", \"shift_found\": %d, \"stretch_found\": ", res[i].shift_found);
        lm_json_number(stdout, res[i].stretch_found);
        printf("}");
        first = 0;
    }
    printf("}");
}

static void print_json(const lm_eval_summary *folds, size_t n_folds, const lm_eval_summary *avg,
                       const lm_eval_query *q, const lm_eval_result *res, size_t n, size_t skipped, int details) {
    json_folds(folds, n_folds, avg);
    printf(",\n \"skipped_queries\": %zu,\n \"ranks\": {", skipped);
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (res[i].rank == 0) continue;
        printf("%s\n  ", first ? "" : ",");
        lm_json_string(stdout, q[i].theme_id);
        printf(": %zu", res[i].rank);
        first = 0;
    }
    printf("}");
    if (details) json_query_details(q, res, n);
    printf("}\n");
}

/* One header line naming what a database holds, e.g.
 * "DB   x.lmdb: ctc features, model m (crc 1234abcd), 3 recordings". */
static void print_database(const char *label, const char *path, const lm_db *db) {
    printf("%-4s %s: %s features", label, path, lm_feature_name(db->type));
    if (db->model_id[0] || db->model_checksum)
        printf(", model %s (crc %08x)", db->model_id, (unsigned)db->model_checksum);
    printf(", %zu recordings\n", db->n_docs);
}

static void print_oracle_table(const lm_eval_summary avg[3]) {
    static const char *labels[3] = {"DB", "DB2", "Oracle"};
    printf("%-6s %8s", "System", "Queries");
    for (int j = 0; j < LM_EVAL_NK; j++) {
        char h[16];
        snprintf(h, sizeof h, "Top-%d", lm_eval_k[j]);
        printf(" %7s", h);
    }
    printf(" %7s\n", "MRR");
    for (int i = 0; i < 3; i++) print_row(labels[i], &avg[i]);
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

/* Per-fold and average summaries of one set of ranks (rank 0: skipped). */
static int summarize(const lm_eval_query *q, const size_t *ranks, size_t n, lm_eval_summary **per_fold,
                     size_t *n_folds, lm_eval_summary *avg) {
    int *fold_of = lm_malloc(n ? n : 1, sizeof *fold_of);
    if (!fold_of) return -1;
    for (size_t i = 0; i < n; i++) fold_of[i] = q[i].fold;
    int rc = lm_eval_summarize(fold_of, ranks, n, per_fold, n_folds, avg);
    free(fold_of);
    return rc;
}

static void print_oracle_json(const lm_eval_summary *const per_fold[3], const size_t n_folds[3],
                              const lm_eval_summary avg[3], const lm_eval_query *q, const size_t *const ranks[3],
                              size_t n, size_t skipped) {
    static const char *keys[3] = {"db", "db2", "oracle"};
    printf("\"skipped_queries\": %zu", skipped);
    for (int s = 0; s < 3; s++) {
        printf(",\n \"%s\": {", keys[s]);
        json_folds(per_fold[s], n_folds[s], &avg[s]);
        printf("}");
    }
    printf(",\n \"ranks\": {");
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (ranks[2][i] == 0) continue;
        printf("%s\n  ", first ? "" : ",");
        lm_json_string(stdout, q[i].theme_id);
        printf(": {\"db\": %zu, \"db2\": %zu, \"oracle\": %zu}", ranks[0][i], ranks[1][i], ranks[2][i]);
        first = 0;
    }
    printf("}}\n");
}

/* One line saying how the queries were changed and searched. */
static void print_mode(const lm_eval_options *o) {
    printf("Queries:");
    if (o->random_transpose) printf(" shifted by random semitones (seed %llu);", o->transpose_seed);
    if (o->random_tempo) printf(" at random 0.5-2x tempi (seed %llu);", o->tempo_seed);
    if (o->variants.transpose_any) printf(" searched in every key;");
    if (o->variants.duration_auto) printf(" searched at 0.25-4x their duration;");
    if (o->variants.transpose_any || o->variants.duration_auto)
        printf(" %s\n", o->variants.exhaustive ? "exhaustive" : "pruned");
    else printf(" as given\n");
}

/* How often --transpose any undid the random shift where the recording ranks first. */
static void print_recovered(const lm_eval_result *res, size_t n) {
    size_t first = 0, undone = 0;
    for (size_t i = 0; i < n; i++)
        if (res[i].rank == 1) {
            first++;
            undone += ((res[i].shift_applied + res[i].shift_found) % 12 + 12) % 12 == 0;
        }
    printf("Random shift undone for %zu of the %zu queries whose recording ranks first\n", undone, first);
}

int cmd_eval(int argc, char **argv) {
    const char *db_path = NULL, *themes_path = NULL, *top_out = NULL, *folds_arg = NULL;
    const char *oracle_path = NULL, *fuse_path = NULL, *weight_arg = NULL;
    int json = 0, queries_from_given = 0;
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
        else if (!strcmp(argv[i], "--oracle") && i + 1 < argc) oracle_path = argv[++i];
        else if (!strcmp(argv[i], "--fuse") && i + 1 < argc) fuse_path = argv[++i];
        else if (!strcmp(argv[i], "--fuse-weight") && i + 1 < argc) weight_arg = argv[++i];
        else if (!strcmp(argv[i], "--exhaustive")) opt.variants.exhaustive = 1;
        else if (!strcmp(argv[i], "--context") && i + 1 < argc) {
            double w;
            if (lm_cli_parse_double("--context", argv[++i], 0, 1, &w) != 0) return 2;
            opt.variants.context_set = 1, opt.variants.context_weight = (float)w;
        }
        else if (!strcmp(argv[i], "--transpose") && i + 1 < argc) {
            if (strcmp(argv[++i], "any") != 0) {
                lm_cli_fail("eval --transpose: expected 'any' (queries keep their key otherwise), got '%s'", argv[i]);
                return 2;
            }
            opt.variants.transpose_any = 1;
        } else if (!strcmp(argv[i], "--duration") && i + 1 < argc) {
            if (strcmp(argv[++i], "auto") != 0) {
                lm_cli_fail("eval --duration: expected 'auto' (see --queries-from for the duration), got '%s'",
                            argv[i]);
                return 2;
            }
            opt.variants.duration_auto = 1;
        } else if ((!strcmp(argv[i], "--random-transpose") || !strcmp(argv[i], "--random-tempo")) && i + 1 < argc) {
            const char *name = argv[i], *v = argv[++i];
            char *end;
            errno = 0;
            unsigned long long seed = strtoull(v, &end, 10);
            if (end == v || *end || errno || v[0] == '-' || v[0] == '+') {
                lm_cli_fail("%s: expected a seed (an integer >= 0), got '%s'", name, v);
                return 2;
            }
            if (!strcmp(name, "--random-transpose")) opt.random_transpose = 1, opt.transpose_seed = seed;
            else opt.random_tempo = 1, opt.tempo_seed = seed;
        } else if (!strcmp(argv[i], "--queries-from") && i + 1 < argc) {
            queries_from_given = 1;
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
    (void)queries_from_given;
    int details = opt.variants.transpose_any || opt.variants.duration_auto || opt.random_transpose || opt.random_tempo;
    double weight = LM_FUSE_WEIGHT_DEFAULT;
    if (weight_arg) {
        if (!fuse_path) {
            lm_cli_fail("eval: --fuse-weight needs --fuse DB2");
            return 2;
        }
        if (lm_cli_parse_double("--fuse-weight", weight_arg, 0, 1, &weight) != 0) return 2;
    }
    if (oracle_path && fuse_path) {
        lm_cli_fail("eval: --oracle and --fuse cannot be combined; run one at a time");
        return 2;
    }
    if (oracle_path && top_out) {
        lm_cli_fail("eval: --top-ranks-out is not available with --oracle; use it with one database or --fuse");
        return 2;
    }
    const char *db2_path = oracle_path ? oracle_path : fuse_path;
    const char *refusal = lm_dist_size() > 1 ? lm_eval_split_refusal(&opt) : NULL;
    if (refusal) { /* as lm_eval_run refuses it, but before any process starts: every one stops alike */
        if (lm_dist_rank() == 0) lm_cli_fail("%s", refusal);
        lm_dist_fail_agreed();
        return 2;
    }
    int *folds = NULL;
    size_t n_fold_filter = 0;
    if (folds_arg && parse_folds(folds_arg, &folds, &n_fold_filter) != 0) return lm_cli_fail_lib();
    opt.n_top = top_out ? LM_EVAL_MAX_TOP : 0;
    opt.split = lm_dist_split(); /* under mpirun: this process' share of the recordings */

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

    lm_db db, db2;
    int opened = lm_db_open(db_path, &db) == 0, opened2 = opened && (!db2_path || lm_db_open(db2_path, &db2) == 0);
    if (!opened2) lm_cli_fail_lib();
    if (!lm_dist_all(opened2)) { /* (under mpirun every process stops) */
        if (opened2 && db2_path) lm_db_close(&db2);
        if (opened) lm_db_close(&db);
        lm_eval_free_themes(q, n);
        lm_dist_fail_agreed();
        return 1;
    }
    int rc = 0;
    lm_fusion fusion = {0};
    if (db2_path) {
        if (lm_fusion_init(&fusion, &db, &db2, oracle_path ? 0.0 : weight) != 0)
            rc = lm_cli_fail("%s and %s: %s", db_path, db2_path, lm_last_error());
        else
            lm_fusion_warn(&fusion, db_path, db2_path);
    }
    size_t skipped = 0, skipped2 = 0;
    lm_eval_result *res = lm_malloc(n ? n : 1, sizeof *res);
    lm_eval_result *res2 = oracle_path ? lm_malloc(n ? n : 1, sizeof *res2) : NULL;
    size_t *ranks[3] = {NULL, NULL, NULL};
    int n_sys = oracle_path ? 3 : 1;
    for (int s = 0; s < n_sys; s++)
        if (!(ranks[s] = lm_malloc(n ? n : 1, sizeof *ranks[s]))) rc = rc ? rc : lm_cli_fail_lib();
    if (rc == 0 && (!res || (oracle_path && !res2))) rc = lm_cli_fail_lib();
    if (rc == 0) {
        int ok;
        if (oracle_path) {
            fusion.w = 0.0; /* DB alone, then DB2 alone, over the recordings of both */
            ok = lm_eval_run_fused(&fusion, q, n, &opt, res, &skipped) == 0;
            fusion.w = 1.0;
            ok = ok && lm_eval_run_fused(&fusion, q, n, &opt, res2, &skipped2) == 0;
        } else if (fuse_path) {
            ok = lm_eval_run_fused(&fusion, q, n, &opt, res, &skipped) == 0;
        } else {
            ok = lm_eval_run(&db, q, n, &opt, res, &skipped) == 0;
        }
        if (!ok) rc = lm_cli_fail_lib();
    }
    if (rc == 0 && lm_dist_rank() != 0) rc = -1; /* process 0 has the results; -1: nothing to print here */
    if (rc == 0 && skipped) {
        size_t first = 0;
        while (res[first].rank != 0) first++;
        fprintf(stderr, "leitmotif: warning: %zu of %zu queries skipped: their piece is not %s (e.g. %s, piece %s)\n",
                skipped, n, db2_path ? "ranked in both databases" : "in the database", q[first].theme_id,
                q[first].piece_id);
    }
    if (rc == 0 && skipped == n)
        rc = db2_path ? lm_cli_fail("no query's piece is in both %s and %s; nothing evaluated", db_path, db2_path)
                      : lm_cli_fail("no query's piece is in %s; nothing evaluated", db_path);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++) ranks[0][i] = res[i].rank;
        if (oracle_path) {
            for (size_t i = 0; i < n; i++) ranks[1][i] = res2[i].rank;
            lm_eval_oracle(res, res2, n, ranks[2]);
        }
        lm_eval_summary *per_fold[3] = {NULL, NULL, NULL}, avg[3];
        size_t n_folds[3] = {0, 0, 0};
        for (int s = 0; s < n_sys && rc == 0; s++)
            if (summarize(q, ranks[s], n, &per_fold[s], &n_folds[s], &avg[s]) != 0) rc = lm_cli_fail_lib();
        if (rc == 0) {
            if (json) {
                if (db2_path) json_two_databases(db_path, &db, db2_path, &db2, &fusion);
                else printf("{");
                if (oracle_path) {
                    print_oracle_json((const lm_eval_summary *const *)per_fold, n_folds, avg, q,
                                      (const size_t *const *)ranks, n, skipped);
                } else {
                    if (fuse_path) {
                        printf("\"fusion\": {\"weight\": ");
                        lm_json_number(stdout, weight);
                        printf("},\n ");
                    }
                    print_json(per_fold[0], n_folds[0], &avg[0], q, res, n, skipped, details);
                }
            } else {
                if (db2_path) {
                    print_database("DB", db_path, &db);
                    print_database("DB2", db2_path, &db2);
                }
                if (oracle_path) {
                    printf("Oracle: per query the better rank of DB and DB2, over the %zu recordings in both\n",
                           fusion.n);
                    print_oracle_table(avg);
                } else {
                    if (fuse_path)
                        printf("Fusion: features %.3g x DB + %.3g x DB2, l2-normalised per frame, over the %zu recordings in "
                               "both\n",
                               1.0 - weight, weight, fusion.n);
                    if (details) print_mode(&opt);
                    print_table(per_fold[0], n_folds[0], &avg[0]);
                    if (opt.variants.transpose_any && opt.random_transpose) print_recovered(res, n);
                }
            }
            if (fflush(stdout) != 0) rc = lm_cli_fail("cannot write the results");
        }
        if (rc == 0 && top_out && write_top_ranks(top_out, &db, q, res, n) != 0) rc = lm_cli_fail_lib();
        for (int s = 0; s < 3; s++) free(per_fold[s]);
    }
    for (int s = 0; s < 3; s++) free(ranks[s]);
    free(res);
    free(res2);
    lm_fusion_free(&fusion);
    if (db2_path) lm_db_close(&db2);
    lm_db_close(&db);
    lm_eval_free_themes(q, n);
    return rc < 0 ? 0 : rc;
}
