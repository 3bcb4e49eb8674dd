#include "eval/eval.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/progress.h"
#include "match/sdtw.h"
#include "symbolic/theme.h"

const int lm_eval_k[LM_EVAL_NK] = {1, 5, 10, 20, 50};

size_t lm_eval_rank(const lm_match *matches, size_t n, size_t correct) {
    float d = INFINITY;
    for (size_t k = 0; k < n; k++)
        if (matches[k].doc == correct && !isnan(matches[k].distance)) d = matches[k].distance;
    size_t rank = 0;
    for (size_t k = 0; k < n; k++) {
        float x = isnan(matches[k].distance) ? INFINITY : matches[k].distance;
        if (x <= d) rank++;
    }
    return rank;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void add_rank(lm_eval_summary *s, size_t rank) {
    s->queries++;
    for (int j = 0; j < LM_EVAL_NK; j++)
        if (rank <= (size_t)lm_eval_k[j]) s->top[j] += 1;
    s->mrr += 1.0 / (double)rank;
}

int lm_eval_summarize(const int *folds, const size_t *ranks, size_t n, lm_eval_summary **per_fold, size_t *n_folds,
                      lm_eval_summary *average) {
    int *distinct = lm_malloc(n ? n : 1, sizeof *distinct);
    if (!distinct) return -1;
    size_t nf = 0;
    for (size_t i = 0; i < n; i++)
        if (ranks[i] > 0) distinct[nf++] = folds[i];
    qsort(distinct, nf, sizeof *distinct, cmp_int);
    size_t u = 0;
    for (size_t i = 0; i < nf; i++)
        if (u == 0 || distinct[u - 1] != distinct[i]) distinct[u++] = distinct[i];
    lm_eval_summary *s = lm_calloc(u ? u : 1, sizeof *s);
    if (!s) {
        free(distinct);
        return -1;
    }
    for (size_t f = 0; f < u; f++) s[f].fold = distinct[f];
    for (size_t i = 0; i < n; i++) {
        if (ranks[i] == 0) continue;
        int *hit = bsearch(&folds[i], distinct, u, sizeof *distinct, cmp_int);
        add_rank(&s[hit - distinct], ranks[i]);
    }
    free(distinct);
    memset(average, 0, sizeof *average);
    for (size_t f = 0; f < u; f++) {
        for (int j = 0; j < LM_EVAL_NK; j++) s[f].top[j] /= (double)s[f].queries;
        s[f].mrr /= (double)s[f].queries;
        average->queries += s[f].queries;
    }
    /* Average over folds weighted by their number of queries. */
    for (size_t f = 0; f < u; f++) {
        double w = (double)s[f].queries / (double)average->queries;
        for (int j = 0; j < LM_EVAL_NK; j++) average->top[j] += w * s[f].top[j];
        average->mrr += w * s[f].mrr;
    }
    *per_fold = s;
    *n_folds = u;
    return 0;
}

static int match_before(const lm_match *a, const lm_match *b) {
    return a->distance < b->distance || (a->distance == b->distance && a->doc < b->doc);
}

/* Keeps the n_top best matches sorted, by insertion: n_top is small. */
static size_t select_top(const lm_match *all, size_t n, lm_match *top, size_t n_top) {
    size_t have = 0;
    if (n_top == 0) return 0; /* (else top[-1] below) */
    for (size_t k = 0; k < n; k++) {
        if (have == n_top && !match_before(&all[k], &top[have - 1])) continue;
        size_t pos = have < n_top ? have++ : have - 1;
        while (pos > 0 && match_before(&all[k], &top[pos - 1])) {
            top[pos] = top[pos - 1];
            pos--;
        }
        top[pos] = all[k];
    }
    return have;
}

typedef struct {
    size_t query; /* index into the query list */
    size_t doc;   /* its recording (index in the database) */
    size_t pos;   /* and its position among the ranked recordings */
    float *chroma;
    size_t N;
    lm_qset qs; /* variant mode */
    int shift;
    double tempo;
} prepared;

static int variant_mode(const lm_eval_options *opt) {
    return opt->variants.transpose_any || opt->variants.duration_auto;
}

const char *lm_eval_split_refusal(const lm_eval_options *opt) {
    return variant_mode(opt) && !opt->variants.exhaustive
               ? "eval: a distributed run takes --transpose any / --duration auto only with --exhaustive"
               : NULL;
}

/* Queries as variant sets (run_variants): with variants, or a plain query with the candidate
 * pass (a one-variant set), or exhaustively with the same distances (the context term of
 * index/search.h comes from the coarse pass). A plain query scans every recording directly
 * only without the context term; then also in a distributed run (opt->split), whose shares
 * would prune differently. */
static int qset_mode(const lm_eval_options *opt) {
    return variant_mode(opt) || lm_variant_context_weight(&opt->variants) > 0.0f ||
           (!opt->variants.exhaustive && !opt->split);
}

/* The queries x recordings results of a plain run (8 bytes each) or of --exhaustive variants. */
typedef struct {
    float distance;
    uint32_t end;
} plain_hit;
typedef struct {
    float distance;
    uint32_t end;
    uint16_t variant;
} exact_hit;
typedef struct {
    const plain_hit *plain; /* one of these, [t * nd + k] */
    const exact_hit *exact;
    size_t nd;
    const lm_fusion *f;
} hit_table;

static lm_match hit_match(const hit_table *h, size_t t, size_t k) {
    lm_match m;
    memset(&m, 0, sizeof m); /* whole bytes: a correct match travels by lm_split.or_bytes */
    m.doc = h->f ? h->f->docs[k].doc : k;
    if (h->plain) {
        m.distance = h->plain[t * h->nd + k].distance;
        m.end = h->plain[t * h->nd + k].end;
    } else {
        const exact_hit *e = &h->exact[t * h->nd + k];
        m.distance = e->distance;
        m.start = m.end = e->end;
        m.variant = e->variant;
    }
    return m;
}

/* Per query what one process found among its recordings, merged on part 0. */
typedef struct {
    size_t rank; /* its recordings at or above the correct one */
    size_t n_top;
    lm_match top[LM_EVAL_MAX_TOP];
} partial_result;

/* Ranks, distances and best documents of the queries from the table (this process' share of
 * the recordings under a split: then part 0 merges the shares, which gives the same numbers as
 * one process: a rank counts recordings, the best documents are ordered by distance then
 * document). all: nd matches of scratch. */
static int finish_queries(const hit_table *h, const prepared *todo, size_t n_todo, const lm_eval_options *opt,
                          lm_eval_result *res, size_t n_top, lm_match *all) {
    const lm_split *s = opt->split;
    const int variants = variant_mode(opt);
    lm_match *correct = lm_calloc(n_todo ? n_todo : 1, sizeof *correct);
    partial_result *part = s ? lm_calloc(n_todo ? n_todo : 1, sizeof *part) : NULL;
    if (!correct || (s && !part)) {
        free(correct);
        return -1;
    }
    for (size_t t = 0; t < n_todo; t++) /* the owner's match of the correct recording reaches all */
        if (lm_split_owns(s, todo[t].pos)) correct[t] = hit_match(h, t, todo[t].pos);
    int rc = s ? s->or_bytes(s->ctx, correct, n_todo * sizeof *correct) : 0;
    for (size_t t = 0; rc == 0 && t < n_todo; t++) {
        const prepared *p = &todo[t];
        size_t n = 0;
        for (size_t k = 0; k < h->nd; k++)
            if (lm_split_owns(s, k)) all[n++] = hit_match(h, t, k);
        lm_eval_result *r = &res[p->query];
        const lm_match *c = &correct[t];
        if (s) { /* as lm_eval_rank, over this process' recordings */
            float d = isnan(c->distance) ? INFINITY : c->distance;
            part[t].rank = 0;
            for (size_t k = 0; k < n; k++) part[t].rank += (isnan(all[k].distance) ? INFINITY : all[k].distance) <= d;
            part[t].n_top = select_top(all, n, part[t].top, n_top);
        } else {
            r->rank = lm_eval_rank(all, n, p->doc);
            r->n_top = select_top(all, n, r->top, n_top);
        }
        r->distance = c->distance;
        r->shift_applied = p->shift;
        r->tempo_applied = p->tempo;
        int found = variants && isfinite(c->distance) && !c->approx;
        r->shift_found = found ? lm_qset_transpose(&p->qs, c->variant) : 0;
        r->stretch_found = found ? lm_qset_stretch(&p->qs, c->variant) : 1.0;
    }
    void *gathered = NULL;
    size_t *sizes = s ? lm_calloc((size_t)s->n_parts, sizeof *sizes) : NULL;
    if (rc == 0 && s && (!sizes || s->gather(s->ctx, part, n_todo * sizeof *part, &gathered, sizes) != 0)) rc = -1;
    if (rc == 0 && gathered) { /* part 0: the sums of the ranks, the best of the best documents */
        const partial_result *g = gathered;
        lm_match *cand = lm_malloc((size_t)s->n_parts * LM_EVAL_MAX_TOP + 1, sizeof *cand);
        for (size_t t = 0; cand && t < n_todo; t++) {
            lm_eval_result *r = &res[todo[t].query];
            size_t nc = 0;
            r->rank = 0;
            for (int q = 0; q < s->n_parts; q++) {
                const partial_result *pr = &g[(size_t)q * n_todo + t];
                r->rank += pr->rank;
                for (size_t i = 0; i < pr->n_top; i++) cand[nc++] = pr->top[i];
            }
            r->n_top = select_top(cand, nc, r->top, n_top);
        }
        if (!cand) rc = -1;
        free(cand);
    }
    free(gathered);
    free(sizes);
    free(part);
    free(correct);
    return rc;
}

/* splitmix64 of the seed and the theme id: a draw per theme that does not depend on the
 * other queries. */
static unsigned long long draw(unsigned long long seed, const char *theme_id, unsigned long long salt) {
    unsigned long long h = 1469598103934665603ULL ^ salt; /* FNV-1a of the id */
    for (const unsigned char *c = (const unsigned char *)theme_id; *c; c++) h = (h ^ *c) * 1099511628211ULL;
    unsigned long long z = seed + h + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

int lm_eval_random_shift(unsigned long long seed, const char *theme_id) {
    static const int shifts[11] = {-5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6};
    return shifts[draw(seed, theme_id, 1) % 11];
}

double lm_eval_random_tempo(unsigned long long seed, const char *theme_id) {
    double u = (double)(draw(seed, theme_id, 2) >> 11) / 9007199254740992.0; /* [0, 1) */
    return exp2(2.0 * u - 1.0);                                              /* [0.5, 2) */
}

/* Reads each query MIDI once, before the parallel part, so a bad file stops the run early. */
static int prepare(const lm_eval_query *q, const lm_eval_options *opt, prepared *p) {
    lm_theme theme;
    if (lm_midi_read_theme(q->query_midi, &theme) != 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", lm_last_error());
        lm_set_error("theme %s (line %zu): %s", q->theme_id, q->line, msg);
        return -1;
    }
    double duration = opt->from_score ? theme.duration : q->end_sec - q->start_sec;
    p->shift = opt->random_transpose ? lm_eval_random_shift(opt->transpose_seed, q->theme_id) : 0;
    p->tempo = opt->random_tempo ? lm_eval_random_tempo(opt->tempo_seed, q->theme_id) : 1.0;
    duration /= p->tempo;
    int ok;
    if (qset_mode(opt)) {
        ok = lm_qset_from_theme(&p->qs, &theme, duration, q->transposition + p->shift, &opt->variants) == 0;
    } else {
        p->chroma = lm_theme_to_chroma(&theme, duration, q->transposition + p->shift, &p->N);
        ok = p->chroma && p->N > 0;
    }
    lm_theme_free(&theme);
    if (!ok) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", qset_mode(opt) || p->chroma ? lm_last_error() : "empty query");
        lm_set_error("theme %s (line %zu): %s", q->theme_id, q->line, msg);
        return -1;
    }
    return 0;
}

/* Features of ranked recording k (mixed into *buf, allocated here, for a mixing fusion; a
 * compact recording's float copy too). */
static const float *recording(const lm_db *db, const lm_fusion *f, size_t k, float **buf, size_t *T) {
    if (!f) {
        *T = db->docs[k].T;
        return lm_db_doc_features(&db->docs[k], buf);
    }
    if (f->w > 0.0 && f->w < 1.0 && !(*buf = malloc(12 * f->docs[k].T * sizeof **buf))) return NULL;
    return lm_fusion_features(f, k, *buf, T);
}

/* Recording k as the coarse pass reads it: the recording as stored (a compact one's bytes, no
 * copy), or with a fusion its features (mixed into *buf). -1 when out of memory; dv is then an
 * empty view, which may be freed as any other. */
static int recording_view(const lm_db *db, const lm_fusion *f, size_t k, float **buf, lm_doc_view *dv) {
    if (!f) {
        lm_doc_view_init_doc(dv, &db->docs[k]);
        return 0;
    }
    size_t T = 0;
    const float *x = recording(db, f, k, buf, &T);
    lm_doc_view_init(dv, x, x ? T : 0);
    return x ? 0 : -1;
}

/* --transpose any / --duration auto: the queries as variant sets (index/search.h).
 * 1. Document-major, as the plain run: per query and recording the coarse minimum over the
 *    variants (--exhaustive: the exact best variant), the recording's coarse features made once.
 *    The variants' coarse minima and the coarse features are kept for step 2 while they fit in
 *    LM_EVAL_COARSE_KEEP floats each (the whole corpus' themes against all its recordings with
 *    --transpose any: 89 M floats of minima, 52 M of features).
 * 2. Per query: refinement best first (lm_search_qset) of the correct recording, of every
 *    recording that could rank at or above it, and of the n_top best. */
#define LM_EVAL_COARSE_KEEP ((size_t)96 << 20)

/* Pruned by the pre-filter's bounds (an evaluation without top lists, of at least
 * LM_PRE_MIN_DOCS_KEYS recordings, in one process): the correct recording's exact distance d*
 * first; then a key (or, where all its keys are, a recording) whose bound lies above d* cannot
 * rank at or above the correct recording, and skips the coarse pass. The exact distance of every
 * such variant is above d* also in the exhaustive evaluation, so the ranks do not change. Per
 * query: d* (NAN: no pruning, the query has no pre-filter queries); -1 out of memory. */
static int correct_distances(const lm_db *db, const lm_fusion *f, const prepared *todo, size_t n_todo, float *dstar) {
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t t = 0; t < n_todo; t++) {
        dstar[t] = NAN;
        if (failed || !lm_qset_has_pre(&todo[t].qs)) continue;
        float *buf = NULL;
        lm_doc_view dv;
        lm_match m;
        if (recording_view(db, f, todo[t].pos, &buf, &dv) != 0 || lm_qset_refine(&todo[t].qs, &dv, INFINITY, NULL, &m) != 0) {
#pragma omp atomic write
            failed = 1;
        } else {
            dstar[t] = m.distance;
        }
        lm_doc_view_free(&dv);
        free(buf);
    }
    return failed ? -1 : 0;
}

static int run_variants(const lm_db *db, const lm_fusion *f, prepared *todo, size_t n_todo,
                        const lm_eval_options *opt, lm_eval_result *res, size_t n_top) {
    size_t nd = f ? f->n : db->n_docs;
    int exhaustive = opt->variants.exhaustive, failed = 0;
    const size_t prune_from = opt->prune_min_docs ? opt->prune_min_docs : LM_PRE_MIN_DOCS_KEYS;
    const int prune = !exhaustive && n_top == 0 && !opt->split && nd >= prune_from;
    float *dstar = prune ? lm_malloc(n_todo ? n_todo : 1, sizeof *dstar) : NULL;
    if (prune && (!dstar || correct_distances(db, f, todo, n_todo, dstar) != 0)) {
        free(dstar);
        lm_set_error("eval: out of memory");
        return -1;
    }
    size_t cells = n_todo > 0 ? n_todo * nd : 1;
    float *cmin = exhaustive ? NULL : lm_malloc(cells, sizeof *cmin);
    exact_hit *exact = exhaustive ? lm_malloc(cells, sizeof *exact) : NULL;
    if (!cmin && !exact) {
        free(dstar);
        return -1;
    }
    /* Where query t's variants' coarse minima start and offsets (cval_at[t] + k * lm_qset_cval_len), if kept. */
    size_t *cval_at = exhaustive ? NULL : lm_malloc(n_todo ? n_todo : 1, sizeof *cval_at), n_cval = 0, n_views = 0;
    for (size_t t = 0; cval_at && t < n_todo; t++) cval_at[t] = n_cval, n_cval += nd * lm_qset_cval_len(&todo[t].qs);
    for (size_t k = 0; k < nd; k++) n_views += 12 * ((f ? f->docs[k].T : db->docs[k].T) / 2 + 2);
    float *cval = cval_at && n_cval <= LM_EVAL_COARSE_KEEP ? malloc((n_cval ? n_cval : 1) * sizeof *cval) : NULL;
    lm_doc_view *views = !exhaustive && n_views <= LM_EVAL_COARSE_KEEP ? lm_calloc(nd, sizeof *views) : NULL;
    lm_progress progress;
    lm_progress_start(&progress, "eval (recordings)", nd);
    size_t done = 0;
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t k = 0; k < nd; k++) {
        if (!lm_split_owns(opt->split, k)) continue; /* another process' recording */
        float *buf = NULL;
        lm_doc_view dv; /* a compact recording as stored: the coarse pass reads its bytes */
        const int have = recording_view(db, f, k, &buf, &dv) == 0;
        for (size_t t = 0; t < n_todo && have; t++) {
            if (exhaustive) {
                lm_match m;
                if (lm_qset_refine(&todo[t].qs, &dv, INFINITY, NULL, &m) != 0) {
#pragma omp atomic write
                    failed = 1;
                    break;
                }
                exact[t * nd + k] = (exact_hit){m.distance, (uint32_t)m.end, (uint16_t)m.variant};
            } else if (dstar && !isnan(dstar[t]) && k != todo[t].pos) { /* the keys that may rank at or above d* */
                const lm_qset *qs = &todo[t].qs;
                float vb[12 * LM_AUTO_STRETCHES], *cv = cval ? cval + cval_at[t] + k * lm_qset_cval_len(qs) : NULL;
                float b = lm_qset_key_bounds(qs, &dv, vb);
                if (isnan(b)) {
#pragma omp atomic write
                    failed = 1;
                    break;
                }
                if (b > dstar[t]) { /* every key: not ranked at or above the correct recording */
                    cmin[t * nd + k] = INFINITY;
                    for (size_t v = 0; cv && v < qs->n; v++) cv[v] = INFINITY, cv[qs->n + v] = 0.0f;
                } else if (isnan(cmin[t * nd + k] = lm_qset_coarse_min_below(qs, &dv, cv, vb, dstar[t]))) {
#pragma omp atomic write
                    failed = 1;
                    break;
                }
            } else if (isnan(cmin[t * nd + k] = lm_qset_coarse_min(&todo[t].qs, &dv,
                                                                    cval ? cval + cval_at[t] + k * lm_qset_cval_len(&todo[t].qs) : NULL))) {
#pragma omp atomic write
                failed = 1;
                break;
            }
        }
        if (!have) {
#pragma omp atomic write
            failed = 1;
        }
        if (views) { /* every frame-rate factor used is made now (not kept: a dequantised copy) */
            free(dv.coarse[1]);
            dv.coarse[1] = NULL;
            views[k] = dv, views[k].x = NULL;
        } else {
            lm_doc_view_free(&dv);
        }
        free(buf);
#pragma omp critical(lm_eval_progress)
        lm_progress_update(&progress, ++done);
    }
    lm_progress_end(&progress);
    int finish_failed = 0; /* with its own error (a split's collective step may fail) */
    if (exhaustive && !failed) { /* every distance is known: rank as the plain run does */
        lm_match *all = lm_malloc(nd ? nd : 1, sizeof *all);
        hit_table h = {.exact = exact, .nd = nd, .f = f};
        finish_failed = !all || finish_queries(&h, todo, n_todo, opt, res, n_top, all) != 0;
        free(all);
    }
    lm_progress_start(&progress, "eval (refining)", exhaustive ? 0 : n_todo);
    done = 0;
#pragma omp parallel if (!failed && !exhaustive)
    {
        lm_match *all = lm_malloc(nd, sizeof *all);
        if (!all) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (size_t t = 0; t < n_todo; t++) {
            const prepared *p = &todo[t];
            if (failed || exhaustive) continue;
            lm_coarse_cache cache = {&cmin[t * nd], cval ? cval + cval_at[t] : NULL, views};
            if (lm_search_qset(db, f, &p->qs, &cache, n_top, (long)p->pos, all, 0) != 0) {
#pragma omp atomic write
                failed = 1;
                continue;
            }
            lm_eval_result *r = &res[p->query];
            r->rank = lm_eval_rank(all, nd, p->doc);
            r->distance = all[p->pos].distance;
            r->n_top = select_top(all, nd, r->top, n_top);
            r->shift_applied = p->shift;
            r->tempo_applied = p->tempo;
            int found = isfinite(all[p->pos].distance) && !all[p->pos].approx;
            r->shift_found = found ? lm_qset_transpose(&p->qs, all[p->pos].variant) : 0;
            r->stretch_found = found ? lm_qset_stretch(&p->qs, all[p->pos].variant) : 1.0;
#pragma omp critical(lm_eval_progress)
            lm_progress_update(&progress, ++done);
        }
        free(all);
    }
    lm_progress_end(&progress);
    if (views)
        for (size_t k = 0; k < nd; k++) lm_doc_view_free(&views[k]);
    free(views);
    free(cval);
    free(cval_at);
    free(cmin);
    free(exact);
    free(dstar);
    if (finish_failed) return -1;
    if (failed) {
        lm_set_error("eval: out of memory");
        return -1;
    }
    return 0;
}

/* The ranked recordings: all of db, or those of a fusion (then f != NULL). */
static int run(const lm_db *db, const lm_fusion *f, const lm_eval_query *queries, size_t n,
               const lm_eval_options *opt, lm_eval_result *res, size_t *skipped) {
    memset(res, 0, n * sizeof *res);
    *skipped = 0;
    if (db->n_docs == 0) {
        lm_set_error("the database is empty");
        return -1;
    }
    size_t n_top = opt->n_top < LM_EVAL_MAX_TOP ? opt->n_top : LM_EVAL_MAX_TOP;
    prepared *todo = lm_calloc(n ? n : 1, sizeof *todo);
    if (!todo) return -1;
    size_t n_todo = 0;
    int rc = 0;
    lm_eval_options split_opt;
    if (!variant_mode(opt) && qset_mode(opt) && opt->split && !opt->variants.exhaustive) {
        /* a plain distributed run with the context term: each share exhaustively, as without */
        split_opt = *opt;
        split_opt.variants.exhaustive = 1;
        opt = &split_opt;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        long doc = lm_db_find(db, queries[i].piece_id);
        size_t pos = doc < 0 ? SIZE_MAX : f ? f->index_of[doc] : (size_t)doc;
        if (pos == SIZE_MAX) {
            (*skipped)++;
            continue;
        }
        todo[n_todo] = (prepared){.query = i, .doc = (size_t)doc, .pos = pos};
        rc = prepare(&queries[i], opt, &todo[n_todo]);
        n_todo++;
    }

    const char *refusal = opt->split ? lm_eval_split_refusal(opt) : NULL;
    if (rc == 0 && refusal) {
        lm_set_error("%s", refusal);
        rc = -1;
    }
    if (rc == 0 && qset_mode(opt)) {
        rc = run_variants(db, f, todo, n_todo, opt, res, n_top);
        for (size_t t = 0; t < n_todo; t++) lm_qset_free(&todo[t].qs);
        free(todo);
        return rc;
    }

    /* Document-major: each thread takes a recording and runs every query against it while its
     * features sit in cache. (Query-major order streams the whole database from memory once
     * per query, which made the evaluation memory-bound.) The queries x recordings results
     * are kept compact (8 bytes each: 59 MB for the whole corpus) until ranking. */
    typedef plain_hit hit;
    size_t nd = f ? f->n : db->n_docs;
    int mixes = f && f->w > 0.0 && f->w < 1.0, out_of_memory = 0;
    hit *dist = rc == 0 ? lm_malloc(n_todo > 0 ? n_todo * nd : 1, sizeof *dist) : NULL;
    lm_match *all = rc == 0 ? lm_malloc(nd ? nd : 1, sizeof *all) : NULL;
    if (rc == 0 && (!dist || !all)) rc = -1;
    lm_progress progress;
    lm_progress_start(&progress, "eval (recordings)", nd);
    size_t done = 0;
    if (rc == 0) {
#pragma omp parallel for schedule(dynamic, 1)
        for (size_t k = 0; k < nd; k++) {
            if (!lm_split_owns(opt->split, k)) continue; /* another process' recording */
            /* A fusion mixes the two databases' features of this recording once for all queries. */
            float *buf = mixes ? malloc(12 * f->docs[k].T * sizeof *buf) : NULL;
            const float *x = NULL; /* stays NULL when out of memory (the run then fails) */
            size_t T = 0;
            const lm_db_doc *d = f ? NULL : &db->docs[k]; /* scanned as stored (float32 or compact) */
            if (d) {
                T = d->T;
            } else if (buf || !mixes) {
                x = lm_fusion_features(f, k, buf, &T);
            } else {
#pragma omp atomic write
                out_of_memory = 1;
            }
            for (size_t t = 0; t < n_todo; t++) {
                lm_sdtw_result r;
                hit *h = &dist[t * nd + k];
                if (d ? lm_search_scan_doc(d, todo[t].chroma, todo[t].N, &r) == 0
                      : x && lm_sdtw_scan(todo[t].chroma, todo[t].N, x, T, &r, NULL) == 0) {
                    h->distance = r.distance;
                    h->end = (uint32_t)r.end;
                } else {
                    h->distance = INFINITY;
                    h->end = 0;
                }
            }
            free(buf);
#pragma omp critical(lm_eval_progress)
            lm_progress_update(&progress, ++done);
        }
        if (out_of_memory) {
            lm_set_error("eval: out of memory");
            rc = -1;
        }
        hit_table h = {.plain = dist, .nd = nd, .f = f};
        if (rc == 0) rc = finish_queries(&h, todo, n_todo, opt, res, n_top, all);
    }
    free(all);
    free(dist);
    lm_progress_end(&progress);
    for (size_t t = 0; t < n_todo; t++) {
        free(todo[t].chroma);
        lm_qset_free(&todo[t].qs);
    }
    free(todo);
    return rc;
}

int lm_eval_run(const lm_db *db, const lm_eval_query *queries, size_t n, const lm_eval_options *opt,
                lm_eval_result *res, size_t *skipped) {
    /* format 2: checksums on first read (of this process' share in a split) */
    for (size_t k = 0; opt->split && k < db->n_docs; k++)
        if (lm_split_owns(opt->split, k) && lm_db_verify_doc(db, k) != 0) return -1;
    if (!opt->split && lm_db_verify_all(db) != 0) return -1;
    return run(db, NULL, queries, n, opt, res, skipped);
}

int lm_eval_run_fused(const lm_fusion *f, const lm_eval_query *queries, size_t n, const lm_eval_options *opt,
                      lm_eval_result *res, size_t *skipped) {
    if (f->n == 0) {
        lm_set_error("the fusion ranks no recording");
        return -1;
    }
    return run(f->db, f, queries, n, opt, res, skipped);
}

void lm_eval_oracle(const lm_eval_result *a, const lm_eval_result *b, size_t n, size_t *ranks) {
    for (size_t i = 0; i < n; i++) {
        size_t x = a[i].rank, y = b[i].rank;
        ranks[i] = (x == 0 || y == 0) ? 0 : x < y ? x : y;
    }
}
