/* The scale benchmark (bench/run scale): synthetic archives of H hours made from a real
 * database's features, and per archive the time to add one hour, open time, memory and the
 * query latency of the exhaustive and the candidate search, with the candidate search's top-10
 * recall against the exhaustive one.
 *
 *   bench_scale SRC.lmdb THEMES.csv DIR HOURS...
 *
 * DIR/scale_<H>h.lmdb is built once (format 2; precision $LM_SCALE_PRECISION, default u8) and
 * reused: copy 0 is SRC's recordings as they are, copy c >= 1 each recording circularly
 * time-shifted by a seeded random offset, with uniform noise of +-$LM_SCALE_NOISE (default 0.05)
 * on every value, clamped at 0 and l2-normalised again (ids ID~c). It is written in commits of
 * about 4 hours; the last commit is one hour, and its time is scale_add_1h_s (kept in
 * DIR/scale_<H>h.add_s for later runs). The queries are THEMES.csv's themes (every k-th, at
 * most $LM_SCALE_QUERIES, default 20) at their annotated durations: each recording of SRC is
 * in the archive once unchanged and many times perturbed, so every query has many close
 * matches and the top 10 is hard to get right. scale_query_ms_candidates_noprefilter is the same
 * search without the pre-filter (LM_PRE_FACTOR; scale_prefilter_top10_equal: how often the ten
 * best are the same with and without it). scale_query_ms_candidates_unstored is the same
 * candidate search without the segments' stored coarse features (the first pass coarsens every
 * recording per query, as for segments written before they were stored). Prints "name value
 * unit" lines. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "common/error.h"
#include "eval/eval.h"
#include "index/db.h"
#include "index/search.h"
#include "symbolic/theme.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double env_double(const char *name, double dflt) {
    const char *v = getenv(name);
    return v && *v ? atof(v) : dflt;
}

/* Copy c of document d into x (12 x T): shifted by a random offset, noise added, normalised. */
static void perturb(const lm_db_doc *d, unsigned c, size_t k, float noise, float *x) {
    size_t T = d->T;
    float *own = NULL;
    const float *src = lm_db_doc_features(d, &own);
    if (!src) {
        memset(x, 0, 12 * T * sizeof *x);
        return;
    }
    uint64_t s = 0x5CA1Eull * 1000003u + (uint64_t)c * 7919u + k;
    size_t off = c == 0 ? 0 : (size_t)(rng_next(&s) % T);
    for (int b = 0; b < 12; b++)
        for (size_t t = 0; t < T; t++) {
            float v = src[(size_t)b * T + (t + off) % T];
            if (c > 0) v += noise * (float)((double)(rng_next(&s) >> 11) / 4503599627370496.0 - 1.0);
            x[(size_t)b * T + t] = v > 0.0f ? v : 0.0f;
        }
    for (size_t t = 0; t < T; t++) {
        float n2 = 0.0f;
        for (int b = 0; b < 12; b++) n2 += x[(size_t)b * T + t] * x[(size_t)b * T + t];
        float inv = n2 > 0.0f ? 1.0f / sqrtf(n2) : 0.0f;
        for (int b = 0; b < 12; b++) x[(size_t)b * T + t] *= inv;
    }
    free(own);
}

/* Commits the n buffered documents as one segment and frees them. */
static int commit(lm_dbw *w, lm_db_doc *docs, char **ids, float **feats, size_t *n, size_t *buffered) {
    int rc = lm_dbw_commit(w, docs, *n, NULL, 0);
    if (rc != 0) fprintf(stderr, "bench_scale: %s\n", lm_last_error());
    for (size_t i = 0; i < *n; i++) free(ids[i]), free(feats[i]);
    *n = 0;
    *buffered = 0;
    return rc;
}

/* Builds DIR/scale_<H>h.lmdb (when not there) and returns the time of its last, one-hour
 * commit (from the .add_s file for an archive built before); < 0 on failure. */
static double build(const lm_db *src, const char *path, const char *add_path, double hours) {
    struct stat st;
    FILE *f = fopen(add_path, "r");
    double add_s = -1.0;
    if (f && stat(path, &st) == 0) {
        if (fscanf(f, "%lf", &add_s) != 1) add_s = -1.0;
        fclose(f);
        if (add_s >= 0) return add_s;
    } else if (f) {
        fclose(f);
    }
    const char *prec = getenv("LM_SCALE_PRECISION");
    int precision = lm_db_precision_parse(prec && *prec ? prec : "u8");
    if (precision < 0) {
        fprintf(stderr, "bench_scale: %s\n", lm_last_error());
        return -1.0;
    }
    float noise = (float)env_double("LM_SCALE_NOISE", 0.05);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path); /* an unfinished archive of an earlier run */
    if (system(cmd) != 0) return -1.0;
    lm_dbw w;
    if (lm_dbw_begin_ex(&w, path, src->type, src->model_checksum, src->model_id, &src->tuning, precision) != 0) {
        fprintf(stderr, "bench_scale: %s\n", lm_last_error());
        return -1.0;
    }
    const size_t frames_total = (size_t)(hours * 3600.0 * 25.0), per_commit = 4 * 3600 * 25, last = 3600 * 25;
    size_t done = 0, n = 0, cap = 0, buffered = 0;
    lm_db_doc *docs = NULL;
    char **ids = NULL;
    float **feats = NULL;
    int rc = 0;
    double t0 = now();
    for (unsigned c = 0; rc == 0 && done < frames_total; c++)
        for (size_t k = 0; rc == 0 && k < src->n_docs && done < frames_total; k++) {
            const lm_db_doc *d = &src->docs[k];
            /* commits of about 4 h; the last hour (what is left after frames_total - last) is a
             * commit of its own: the timed one */
            int enters_last = done <= frames_total - last && done + d->T > frames_total - last;
            if (n > 0 && (buffered >= per_commit || enters_last)) rc = commit(&w, docs, ids, feats, &n, &buffered);
            if (n == cap) {
                cap = cap ? 2 * cap : 64;
                docs = realloc(docs, cap * sizeof *docs);
                ids = realloc(ids, cap * sizeof *ids);
                feats = realloc(feats, cap * sizeof *feats);
                if (!docs || !ids || !feats) return -1.0;
            }
            ids[n] = malloc(strlen(d->id) + 16);
            feats[n] = malloc(12 * d->T * sizeof(float));
            if (!ids[n] || !feats[n]) return -1.0;
            sprintf(ids[n], "%s~%u", d->id, c);
            perturb(d, c, k, noise, feats[n]);
            docs[n] = *d;
            docs[n].id = ids[n];
            docs[n].chroma = feats[n];
            docs[n].chroma_u8 = NULL;
            docs[n].coarse = NULL; /* the writer makes the coarse features of the new values */
            docs[n].coarse_u8 = NULL;
            docs[n].scale = 0.0f;
            n++;
            buffered += d->T;
            done += d->T;
            if (rc == 0 && done >= frames_total) {
                double tc = now(), h = (double)buffered / 90000.0;
                rc = commit(&w, docs, ids, feats, &n, &buffered);
                add_s = now() - tc;
                fprintf(stderr, "\nbench_scale: the last commit, %.2f h, took %.2f s", h, add_s);
            }
            if (n == 0) fprintf(stderr, "\rbench_scale: %s: %.0f of %.0f h (%.0f s)", path, (double)done / 90000.0, hours, now() - t0);
        }
    fprintf(stderr, "\n");
    lm_dbw_end(&w);
    free(docs);
    free(ids);
    free(feats);
    if (rc != 0) return -1.0;
    f = fopen(add_path, "w");
    if (!f || fprintf(f, "%.3f\n", add_s) < 0 || fclose(f) != 0) return -1.0;
    return add_s;
}

static long rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_double);
    return n ? (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2])) : 0.0;
}

static int run_archive(const lm_db *src, const lm_eval_query *qv, size_t nq_all, const char *dir, double hours) {
    char path[4096], add_path[4200];
    snprintf(path, sizeof path, "%s/scale_%.0fh.lmdb", dir, hours);
    snprintf(add_path, sizeof add_path, "%s/scale_%.0fh.add_s", dir, hours);
    double add_s = build(src, path, add_path, hours);
    if (add_s < 0) return -1;
    lm_db db;
    double t_open = 0;
    const int opens = 5;
    for (int i = 0; i < opens; i++) { /* warm: the segments' directories in the page cache */
        double t = now();
        if (lm_db_open(path, &db) != 0) {
            fprintf(stderr, "bench_scale: %s\n", lm_last_error());
            return -1;
        }
        t_open += now() - t;
        if (i + 1 < opens) lm_db_close(&db);
    }
    double t = now();
    if (lm_db_verify_coarse(&db) != 0) { /* what a pruned search verifies first: the coarse sections */
        fprintf(stderr, "bench_scale: %s\n", lm_last_error());
        lm_db_close(&db);
        return -1;
    }
    double verify_coarse_s = now() - t;
    t = now();
    if (lm_db_verify_all(&db) != 0) { /* checksums: once per process, at the first search */
        fprintf(stderr, "bench_scale: %s\n", lm_last_error());
        lm_db_close(&db);
        return -1;
    }
    double verify_s = now() - t;
    size_t nq_max = (size_t)env_double("LM_SCALE_QUERIES", 20), step = nq_all / nq_max ? nq_all / nq_max : 1;
    double *t_ex = calloc(nq_max + 1, sizeof *t_ex), *t_ca = calloc(nq_max + 1, sizeof *t_ca);
    double *t_un = calloc(nq_max + 1, sizeof *t_un), *t_c0 = calloc(nq_max + 1, sizeof *t_c0);
    double *t_np = calloc(nq_max + 1, sizeof *t_np);
    int *pre_same = malloc((nq_max + 1) * sizeof *pre_same);
    for (size_t q = 0; pre_same && q <= nq_max; q++) pre_same[q] = 1;
    /* The stored coarse features (docs/database.md), and none: the first pass coarsens every
     * recording per query, as for segments written before they were stored. */
    const float **c32 = malloc(db.n_docs * sizeof *c32);
    const uint8_t **c8 = malloc(db.n_docs * sizeof *c8);
    size_t n_stored = 0;
    for (size_t k = 0; c32 && c8 && k < db.n_docs; k++) {
        c32[k] = db.docs[k].coarse, c8[k] = db.docs[k].coarse_u8;
        n_stored += c32[k] || c8[k];
    }
    if (!t_un || !c32 || !c8) return -1;
    lm_match *ex = malloc(db.n_docs * sizeof *ex), *ca = malloc(db.n_docs * sizeof *ca);
    lm_match *un = malloc(db.n_docs * sizeof *un), *np = malloc(db.n_docs * sizeof *np);
    if (!t_ex || !t_ca || !t_un || !t_c0 || !t_np || !pre_same || !ex || !ca || !un || !np) return -1;
    size_t nq = 0, equal = 0;
    double recall = 0.0;
    for (size_t i = 0; i < nq_all && nq < nq_max; i += step) {
        lm_theme th;
        if (lm_midi_read_theme(qv[i].query_midi, &th) != 0) continue;
        lm_qset qs, qe, q0;
        /* the default ranking (with the context term) pruned and exhaustive, and pruned without
         * the context term (its cost) */
        lm_variant_options vo = {0}, ve = {.exhaustive = 1}, v0 = {.context_set = 1};
        double dur = qv[i].end_sec - qv[i].start_sec;
        int ok = lm_qset_from_theme(&qs, &th, dur, qv[i].transposition, &vo) == 0;
        if (ok && lm_qset_from_theme(&qe, &th, dur, qv[i].transposition, &ve) != 0) lm_qset_free(&qs), ok = 0;
        if (ok && lm_qset_from_theme(&q0, &th, dur, qv[i].transposition, &v0) != 0)
            lm_qset_free(&qs), lm_qset_free(&qe), ok = 0;
        lm_theme_free(&th);
        if (!ok) continue;
        t = now();
        int rc = lm_search_qset(&db, NULL, &qe, NULL, 10, -1, ex, 1);
        lm_match_sort_top(ex, db.n_docs, 10);
        t_ex[nq] = now() - t;
        /* in turns, so that none gains from the page cache another filled: the default, without
         * the context term, without the pre-filter (LM_PRE_FACTOR) */
        for (int turn = 0; turn < 3; turn++) {
            int which = (int)((nq + (size_t)turn) % 3);
            if (which == 0) {
                t = now();
                rc |= lm_search_qset(&db, NULL, &qs, NULL, 10, -1, ca, 1);
                lm_match_sort_top(ca, db.n_docs, 10);
                t_ca[nq] = now() - t;
            } else if (which == 1) {
                t = now();
                rc |= lm_search_qset(&db, NULL, &q0, NULL, 10, -1, un, 1);
                lm_match_sort_top(un, db.n_docs, 10);
                t_c0[nq] = now() - t;
            } else {
                size_t pre_min = qs.pre_min_frames;
                qs.pre_min_frames = SIZE_MAX;
                t = now();
                rc |= lm_search_qset(&db, NULL, &qs, NULL, 10, -1, np, 1);
                lm_match_sort_top(np, db.n_docs, 10); /* timed, as for the default (search --top 10) */
                t_np[nq] = now() - t;
                qs.pre_min_frames = pre_min;
            }
        }
        for (size_t a = 0; a < 10 && a < db.n_docs; a++)
            pre_same[nq] &= np[a].doc == ca[a].doc && np[a].distance == ca[a].distance && np[a].end == ca[a].end;
        int pre_on = lm_qset_has_pre(&qs);
        if (n_stored) {
            for (size_t k = 0; k < db.n_docs; k++) db.docs[k].coarse = NULL, db.docs[k].coarse_u8 = NULL;
            t = now();
            rc |= lm_search_qset(&db, NULL, &qs, NULL, 10, -1, un, 1);
            t_un[nq] = now() - t;
            for (size_t k = 0; k < db.n_docs; k++) db.docs[k].coarse = c32[k], db.docs[k].coarse_u8 = c8[k];
        }
        size_t q_frames = qs.N[0], q_factor = qs.exhaustive ? 1 : qs.r[0];
        lm_qset_free(&qs);
        lm_qset_free(&qe);
        lm_qset_free(&q0);
        if (rc != 0) {
            fprintf(stderr, "bench_scale: %s\n", lm_last_error());
            return -1;
        }
        size_t top = db.n_docs < 10 ? db.n_docs : 10, hit = 0, same = 1;
        for (size_t a = 0; a < top; a++) {
            same &= ex[a].doc == ca[a].doc && ex[a].distance == ca[a].distance && ex[a].end == ca[a].end;
            for (size_t b = 0; b < top; b++) hit += ex[a].doc == ca[b].doc;
        }
        /* each query, so that the slow ones can be told apart from the median */
        fprintf(stderr, "bench_scale: %.0f h: query %s (%zu frames, coarse %zux, pre-filter %s): exhaustive %.0f ms, "
                "candidates %.0f ms (without the context term %.0f ms, without the pre-filter %.0f ms%s), top-10 recall "
                "%.2f\n", hours, qv[i].theme_id, q_frames, q_factor, pre_on ? "on" : "off", 1e3 * t_ex[nq], 1e3 * t_ca[nq],
                1e3 * t_c0[nq], 1e3 * t_np[nq], pre_same[nq] ? "" : ", ten best differ", (double)hit / (double)top);
        recall += (double)hit / (double)top;
        equal += same;
        nq++;
    }
    long rss = rss_mb();
    printf("scale_add_1h_s_%.0fh %.2f s\n", hours, add_s);
    printf("scale_open_ms_%.0fh %.1f ms\n", hours, 1e3 * t_open / opens);
    printf("scale_verify_coarse_s_%.0fh %.2f s\n", hours, verify_coarse_s);
    printf("scale_verify_s_%.0fh %.2f s\n", hours, verify_s);
    printf("scale_rss_mb_%.0fh %ld MB\n", hours, rss);
    printf("scale_query_ms_exhaustive_%.0fh %.1f ms\n", hours, 1e3 * median(t_ex, nq));
    printf("scale_query_ms_candidates_%.0fh %.1f ms\n", hours, 1e3 * median(t_ca, nq));
    printf("scale_query_ms_candidates_nocontext_%.0fh %.1f ms\n", hours, 1e3 * median(t_c0, nq));
    printf("scale_query_ms_candidates_noprefilter_%.0fh %.1f ms\n", hours, 1e3 * median(t_np, nq));
    size_t n_pre_same = 0;
    for (size_t q = 0; q < nq; q++) n_pre_same += pre_same[q] != 0;
    printf("scale_prefilter_top10_equal_%.0fh %.4f fraction\n", hours, nq ? (double)n_pre_same / (double)nq : 0.0);
    /* median() sorted t_ca: the slowest query and the share under the 1 s */
    size_t under_1s = 0;
    for (size_t q = 0; q < nq; q++) under_1s += t_ca[q] < 1.0;
    printf("scale_query_ms_candidates_max_%.0fh %.1f ms\n", hours, nq ? 1e3 * t_ca[nq - 1] : 0.0);
    printf("scale_queries_under_1s_%.0fh %.4f fraction\n", hours, nq ? (double)under_1s / (double)nq : 0.0);
    if (n_stored)
        printf("scale_query_ms_candidates_unstored_%.0fh %.1f ms\n", hours, 1e3 * median(t_un, nq));
    printf("scale_top10_recall_%.0fh %.4f fraction\n", hours, nq ? recall / (double)nq : 0.0);
    printf("scale_top10_equal_%.0fh %.4f fraction\n", hours, nq ? (double)equal / (double)nq : 0.0);
    fprintf(stderr, "bench_scale: %.0f h: %zu recordings, %.0f h of features, %zu queries (median latency; "
            "RSS includes the mapped features the scans touched)\n", hours, db.n_docs, (double)db.total_frames / 90000.0, nq);
    fflush(stdout);
    free(t_ex);
    free(t_ca);
    free(t_c0);
    free(t_un);
    free(t_np);
    free(pre_same);
    free(ex);
    free(ca);
    free(un);
    free(np);
    free(c32);
    free(c8);
    lm_db_close(&db);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: bench_scale SRC.lmdb THEMES.csv DIR HOURS...\n");
        return 2;
    }
    lm_db src;
    if (lm_db_open(argv[1], &src) != 0 || lm_db_verify_all(&src) != 0) {
        fprintf(stderr, "bench_scale: %s\n", lm_last_error());
        return 1;
    }
    lm_eval_query *qv;
    size_t nq;
    if (lm_eval_read_themes(argv[2], &qv, &nq) != 0) {
        fprintf(stderr, "bench_scale: %s\n", lm_last_error());
        lm_db_close(&src);
        return 1;
    }
    int rc = 0;
    for (int i = 4; i < argc && rc == 0; i++) {
        double h = atof(argv[i]);
        if (!(h >= 1.0)) {
            fprintf(stderr, "bench_scale: bad number of hours '%s'\n", argv[i]);
            rc = -1;
            break;
        }
        rc = run_archive(&src, qv, nq, argv[3], h);
    }
    lm_eval_free_themes(qv, nq);
    lm_db_close(&src);
    return rc == 0 ? 0 : 1;
}
