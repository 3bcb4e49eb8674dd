#include "index/search.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "match/sdtw.h"

int lm_search_all(const lm_db *db, const float *query, size_t N, lm_match *out, int parallel) {
    if (N == 0) {
        lm_set_error("empty query");
        return -1;
    }
    /* Documents differ a lot in length: hand them out in small chunks. */
#pragma omp parallel for schedule(dynamic, 4) if (parallel)
    for (size_t k = 0; k < db->n_docs; k++) {
        lm_sdtw_result r;
        out[k].doc = k;
        if (lm_sdtw_scan(query, N, db->docs[k].chroma, db->docs[k].T, &r, NULL) == 0) {
            out[k].distance = r.distance;
            out[k].start = r.start;
            out[k].end = r.end;
        } else {
            out[k].distance = INFINITY;
            out[k].start = out[k].end = 0;
        }
    }
    return 0;
}

static int cmp_match(const void *a, const void *b) {
    const lm_match *x = a, *y = b;
    if (x->distance < y->distance) return -1;
    if (x->distance > y->distance) return 1;
    return (x->doc > y->doc) - (x->doc < y->doc);
}

void lm_match_sort(lm_match *m, size_t n) { qsort(m, n, sizeof *m, cmp_match); }

void lm_search_locate(const lm_db *db, const float *query, size_t N, lm_match *m, size_t n) {
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t i = 0; i < n; i++) {
        const lm_db_doc *d = &db->docs[m[i].doc];
        if (isfinite(m[i].distance)) m[i].start = lm_sdtw_start(query, N, d->chroma, d->T, m[i].end);
    }
}

/* ---- fusion of two databases */

int lm_fusion_init(lm_fusion *f, const lm_db *db, const lm_db *db2, double w) {
    memset(f, 0, sizeof *f);
    f->first_only_db = f->first_only_db2 = -1;
    if (!(w >= 0.0 && w <= 1.0)) {
        lm_set_error("fusion weight must be in [0, 1], got %g", w);
        return -1;
    }
    f->db = db;
    f->db2 = db2;
    f->w = w;
    size_t nd = db->n_docs ? db->n_docs : 1;
    f->docs = lm_malloc(nd, sizeof *f->docs);
    f->index_of = lm_malloc(nd, sizeof *f->index_of);
    f->len_skipped = lm_malloc(nd, sizeof *f->len_skipped);
    if (!f->docs || !f->index_of || !f->len_skipped) {
        lm_fusion_free(f);
        return -1;
    }
    size_t in_both = 0;
    for (size_t k = 0; k < db->n_docs; k++) {
        f->index_of[k] = SIZE_MAX;
        long j = lm_db_find(db2, db->docs[k].id);
        if (j < 0) {
            if (f->only_db++ == 0) f->first_only_db = (long)k;
            continue;
        }
        in_both++;
        size_t T1 = db->docs[k].T, T2 = db2->docs[j].T;
        if ((T1 > T2 ? T1 - T2 : T2 - T1) > LM_FUSE_MAX_FRAME_DIFF) {
            f->len_skipped[f->n_len_skipped++] = k;
            continue;
        }
        f->docs[f->n] = (lm_fused_doc){.doc = k, .doc2 = (size_t)j, .T = T1 < T2 ? T1 : T2};
        f->index_of[k] = f->n++;
        if (T1 > f->max_T) f->max_T = T1;
        if (T2 > f->max_T) f->max_T = T2;
    }
    f->only_db2 = db2->n_docs - in_both;
    for (size_t j = 0; j < db2->n_docs && f->only_db2; j++)
        if (lm_db_find(db, db2->docs[j].id) < 0) {
            f->first_only_db2 = (long)j;
            break;
        }
    if (in_both == 0) {
        lm_set_error("the databases have no recording in common (no document id in both; %zu and %zu recordings); "
                     "fusion needs features of the same recordings",
                     db->n_docs, db2->n_docs);
        lm_fusion_free(f);
        return -1;
    }
    if (f->n_len_skipped * 2 > in_both) {
        const lm_db_doc *d = &db->docs[f->len_skipped[0]];
        lm_set_error("the frame counts of %zu of the %zu recordings in both databases differ by more than %.1f s "
                     "(e.g. %s: %zu and %zu frames): different frame rates or different audio",
                     f->n_len_skipped, in_both, 0.04 * LM_FUSE_MAX_FRAME_DIFF, d->id, d->T,
                     db2->docs[lm_db_find(db2, d->id)].T);
        lm_fusion_free(f);
        return -1;
    }
    return 0;
}

void lm_fusion_free(lm_fusion *f) {
    free(f->docs);
    free(f->index_of);
    free(f->len_skipped);
    f->docs = NULL;
    f->index_of = f->len_skipped = NULL;
    f->n = 0;
}

static void warn_missing(size_t n, const lm_db *from, const char *from_path, const char *to_path, long example) {
    if (n)
        fprintf(stderr, "leitmotif: warning: %zu of the %zu recordings of %s are not in %s (e.g. %s); they are not "
                        "ranked\n",
                n, from->n_docs, from_path, to_path, from->docs[example].id);
}

void lm_fusion_warn(const lm_fusion *f, const char *db_path, const char *db2_path) {
    warn_missing(f->only_db, f->db, db_path, db2_path, f->first_only_db);
    warn_missing(f->only_db2, f->db2, db2_path, db_path, f->first_only_db2);
    const size_t shown = 10;
    for (size_t i = 0; i < f->n_len_skipped && i < shown; i++) {
        const lm_db_doc *d = &f->db->docs[f->len_skipped[i]];
        fprintf(stderr,
                "leitmotif: warning: recording %s has %zu frames in %s but %zu in %s (more than %.1f s apart); "
                "not ranked\n",
                d->id, d->T, db_path, f->db2->docs[lm_db_find(f->db2, d->id)].T, db2_path,
                0.04 * LM_FUSE_MAX_FRAME_DIFF);
    }
    if (f->n_len_skipped > shown)
        fprintf(stderr, "leitmotif: warning: and %zu more recordings whose frame counts differ; not ranked\n",
                f->n_len_skipped - shown);
}

static int fusion_mixes(const lm_fusion *f) { return f->w > 0.0 && f->w < 1.0; }

const float *lm_fusion_features(const lm_fusion *f, size_t k, float *buf, size_t *T) {
    const lm_fused_doc *fd = &f->docs[k];
    const lm_db_doc *a = &f->db->docs[fd->doc], *b = &f->db2->docs[fd->doc2];
    if (!fusion_mixes(f)) {
        const lm_db_doc *d = f->w == 0.0 ? a : b;
        *T = d->T;
        return d->chroma;
    }
    const float wa = (float)(1.0 - f->w), wb = (float)f->w;
    const size_t n = fd->T;
    for (int c = 0; c < 12; c++) {
        const float *x = a->chroma + (size_t)c * a->T, *y = b->chroma + (size_t)c * b->T;
        float *o = buf + (size_t)c * n;
        for (size_t m = 0; m < n; m++) o[m] = wa * x[m] + wb * y[m];
    }
    *T = n;
    return buf;
}

/* Per-thread mixing buffer (NULL when none is needed; *failed set when out of memory). */
static float *mix_buffer(const lm_fusion *f, int *failed) {
    if (!fusion_mixes(f)) return NULL;
    float *buf = malloc(12 * f->max_T * sizeof *buf);
    if (!buf) {
#pragma omp atomic write
        *failed = 1;
    }
    return buf;
}

int lm_search_fused(const lm_fusion *f, const float *query, size_t N, lm_match *out, int parallel) {
    if (N == 0) {
        lm_set_error("empty query");
        return -1;
    }
    int failed = 0;
#pragma omp parallel if (parallel)
    {
        float *buf = mix_buffer(f, &failed);
#pragma omp for schedule(dynamic, 4)
        for (size_t k = 0; k < f->n; k++) {
            lm_sdtw_result r;
            size_t T = 0;
            const float *x = (buf || !fusion_mixes(f)) ? lm_fusion_features(f, k, buf, &T) : NULL;
            out[k].doc = f->docs[k].doc;
            if (x && lm_sdtw_scan(query, N, x, T, &r, NULL) == 0) {
                out[k].distance = r.distance;
                out[k].start = r.start;
                out[k].end = r.end;
            } else {
                out[k].distance = INFINITY;
                out[k].start = out[k].end = 0;
            }
        }
        free(buf);
    }
    if (failed) {
        lm_set_error("fused search: out of memory");
        return -1;
    }
    return 0;
}

void lm_search_locate_fused(const lm_fusion *f, const float *query, size_t N, lm_match *m, size_t n) {
    int failed = 0;
#pragma omp parallel
    {
        float *buf = mix_buffer(f, &failed);
#pragma omp for schedule(dynamic, 1)
        for (size_t i = 0; i < n; i++) {
            size_t k = f->index_of[m[i].doc], T = 0;
            if (!isfinite(m[i].distance) || k == SIZE_MAX || (!buf && fusion_mixes(f))) continue;
            const float *x = lm_fusion_features(f, k, buf, &T);
            m[i].start = lm_sdtw_start(query, N, x, T, m[i].end);
        }
        free(buf);
    }
}
