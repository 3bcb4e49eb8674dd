#include "index/search.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "match/sdtw.h"

#ifdef _OPENMP
#include <omp.h>
#endif

int lm_search_scan_doc(const lm_db_doc *d, const float *query, size_t N, lm_sdtw_result *r) {
    if (d->chroma_u8) return lm_sdtw_scan_u8(query, N, d->chroma_u8, d->T, d->scale, r, NULL);
    return lm_sdtw_scan(query, N, d->chroma, d->T, r, NULL);
}

int lm_search_all(const lm_db *db, const float *query, size_t N, lm_match *out, int parallel) {
    if (N == 0) {
        lm_set_error("empty query");
        return -1;
    }
    if (lm_db_verify_all(db) != 0) return -1; /* format 2: checksums on first read */
    /* Documents differ a lot in length: hand them out in small chunks. */
#pragma omp parallel for schedule(dynamic, 4) if (parallel)
    for (size_t k = 0; k < db->n_docs; k++) {
        lm_sdtw_result r;
        out[k].doc = k;
        if (lm_search_scan_doc(&db->docs[k], query, N, &r) == 0) {
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

void lm_match_sort_top(lm_match *m, size_t n, size_t k) {
    if (k == 0 || k >= n / 4) {
        lm_match_sort(m, n);
        return;
    }
    /* quickselect (cmp_match is a strict order: documents differ), then the k first sorted */
    size_t lo = 0, hi = n - 1, want = k - 1;
    while (lo < hi) {
        lm_match p = m[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (cmp_match(&m[i], &p) < 0) i++;
            while (cmp_match(&m[j], &p) > 0) j--;
            if (i <= j) {
                lm_match t = m[i];
                m[i] = m[j], m[j] = t;
                i++;
                if (j == 0) break;
                j--;
            }
        }
        if (want <= j) hi = j;
        else if (want >= i) lo = i;
        else break;
    }
    qsort(m, k, sizeof *m, cmp_match);
}

void lm_search_locate(const lm_db *db, const float *query, size_t N, lm_match *m, size_t n) {
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t i = 0; i < n; i++) {
        const lm_db_doc *d = &db->docs[m[i].doc];
        if (!isfinite(m[i].distance)) continue;
        float *own = NULL; /* a compact recording's float copy */
        const float *x = lm_db_doc_features(d, &own);
        if (x) m[i].start = lm_sdtw_start(query, N, x, d->T, m[i].end);
        free(own);
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
    if (lm_db_verify_all(db) != 0 || lm_db_verify_all(db2) != 0) { /* format 2: checksums on first read */
        return -1;
    }
    if (db->precision != LM_DB_F32 || db2->precision != LM_DB_F32) {
        lm_set_error("fusion reads float32 databases only, and one of these stores %s features; convert a copy with "
                     "'leitmotif upgrade DB COPY --precision f32'",
                     lm_db_precision_name(db->precision != LM_DB_F32 ? db->precision : db2->precision));
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
    /* The mix is l2-normalised per frame, like every feature, so that the cost stays the cosine
     * distance: the unnormalised mix (cost (1-W) C1 + W C2) lost to C1 alone on fold 4 (MRR
     * 0.902 vs 0.930 normalised, our CTC with v1, W = 0.3), since frames where the two
     * features disagree got a lower norm and so a lower similarity to every query. */
    for (size_t m = 0; m < n; m++) {
        double ss = 0;
        for (int c = 0; c < 12; c++) ss += (double)buf[(size_t)c * n + m] * buf[(size_t)c * n + m];
        float inv = ss > 1e-30 ? (float)(1.0 / sqrt(ss)) : 0.0f;
        for (int c = 0; c < 12; c++) buf[(size_t)c * n + m] = inv > 0 ? buf[(size_t)c * n + m] * inv : (float)(1.0 / sqrt(12.0));
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

/* ---- query variants: --transpose any, --duration auto */

_Static_assert(LM_COARSE_FACTOR == LM_DB_COARSE, "the search coarsens as the database stores");
static const double auto_stretch[LM_AUTO_STRETCHES] = {0.5, 0.70710678118654752, 1.0, 1.4142135623730950, 2.0};

/* The query with pitch class k moved to (k + shift) mod 12. */
static float *transposed_copy(const float *q, size_t N, int shift) {
    shift = ((shift % 12) + 12) % 12;
    float *o = lm_malloc(12 * N, sizeof *o);
    if (!o) return NULL;
    for (int k = 0; k < 12; k++) memcpy(o + (size_t)((k + shift) % 12) * N, q + (size_t)k * N, N * sizeof *o);
    return o;
}

/* Frame rate factor of a coarse query: short queries keep more of their frames. At 4x a coarse
 * query keeps at least 32 frames: themes of 96-127 frames (26-31 coarse frames) overestimated
 * the exact distance by 0.06-0.07 for every noisy copy of their recording in the synthetic
 * 1 000-h archive, beyond LM_COARSE_EPS, and lost them all (docs/search.md). */
static size_t coarse_factor(size_t N) { return N >= 32 * LM_COARSE_FACTOR ? LM_COARSE_FACTOR : N >= 32 ? 2 : 1; }

float lm_variant_context_weight(const lm_variant_options *o) {
    return o && o->context_set ? o->context_weight : LM_CONTEXT_WEIGHT;
}

static int qset_alloc(lm_qset *qs, size_t n_stretch, const lm_variant_options *o) {
    memset(qs, 0, sizeof *qs);
    qs->n_stretch = n_stretch;
    qs->n_shift = o && o->transpose_any ? 12 : 1;
    qs->n = qs->n_stretch * qs->n_shift;
    qs->exhaustive = o && o->exhaustive;
    qs->context_weight = lm_variant_context_weight(o);
    qs->q = lm_calloc(n_stretch, sizeof *qs->q);
    qs->cq = lm_calloc(n_stretch, sizeof *qs->cq);
    qs->N = lm_calloc(n_stretch, sizeof *qs->N);
    qs->Nc = lm_calloc(n_stretch, sizeof *qs->Nc);
    qs->r = lm_calloc(n_stretch, sizeof *qs->r);
    qs->stretch = lm_calloc(n_stretch, sizeof *qs->stretch);
    qs->offset = lm_calloc(n_stretch, sizeof *qs->offset);
    qs->mq = lm_calloc(n_stretch, sizeof *qs->mq);
    qs->Nm = lm_calloc(n_stretch, sizeof *qs->Nm);
    qs->eps = lm_calloc(n_stretch, sizeof *qs->eps);
    qs->mid_eps = lm_calloc(n_stretch, sizeof *qs->mid_eps);
    qs->pq = lm_calloc(n_stretch, sizeof *qs->pq);
    qs->Npq = lm_calloc(n_stretch, sizeof *qs->Npq);
    qs->pre_eps = lm_calloc(n_stretch, sizeof *qs->pre_eps);
    qs->pre_r = lm_calloc(n_stretch, sizeof *qs->pre_r);
    qs->pre_min_frames = LM_PRE_MIN_DB_FRAMES;
    qs->pre_min_docs_keys = LM_PRE_MIN_DOCS_KEYS;
    qs->pre_first = LM_PRE_FIRST;
    if (!qs->q || !qs->cq || !qs->N || !qs->Nc || !qs->r || !qs->stretch || !qs->offset || !qs->mq || !qs->Nm ||
        !qs->eps || !qs->mid_eps || !qs->pq || !qs->Npq || !qs->pre_eps || !qs->pre_r) {
        lm_qset_free(qs);
        return -1;
    }
    return 0;
}

/* The margin of a coarse query of Nc frames (eps_of): LM_COARSE_EPS (LM_COARSE_EPS_SINGLE for
 * a single variant), more under 32 frames. */
static float eps_for(const lm_qset *qs, size_t Nc) {
    const float eps = qs->n == 1 ? LM_COARSE_EPS_SINGLE : LM_COARSE_EPS;
    return Nc >= 32 ? eps : eps * sqrtf(32.0f / (float)Nc);
}

/* The coarse query's self-loss: its coarse distance to the query itself coarsened as a
 * recording is (each of the r phases of the blocks; the largest). A recording that holds the
 * theme note for note gets about this coarse distance and an exact one near 0, so the coarse
 * pass can overestimate a true match by this much; -1 when out of memory. */
static float self_loss(const float *q, size_t N, const float *cq, size_t Nc, size_t r) {
    float worst = 0.0f;
    float *x = malloc(12 * N * sizeof *x), *c = malloc(12 * (N / r + 2) * sizeof *c);
    for (size_t p = 0; x && c && p < r && p < N; p++) {
        size_t M = N - p;
        for (int b = 0; b < 12; b++) memcpy(x + (size_t)b * M, q + (size_t)b * N + p, M * sizeof *x);
        size_t Mc = lm_chroma_downsample(x, M, r, c);
        lm_sdtw_result res;
        if (lm_sdtw_scan(cq, Nc, c, Mc, &res, NULL) != 0) break;
        if (res.distance > worst) worst = res.distance; /* +inf: a phase too short for the query */
    }
    if (!x || !c) worst = -1.0f;
    free(x);
    free(c);
    return worst;
}

/* Stretching i's pre-filter query at twice its first pass's factor (r 4: 8x, made from the
 * stored 4x features per search; r 2: 4x, the stored ones) and its margin (none where the
 * margin would be too wide); -1 when out of memory. */
static int pre_query(lm_qset *qs, size_t i) {
    size_t Np, pr = 2 * qs->r[i];
    float *pq = lm_query_downsample(qs->q[i], qs->N[i], pr, &Np);
    float loss = pq ? self_loss(qs->q[i], qs->N[i], pq, Np, pr) : -1.0f;
    lm_sdtw_result self;
    if (loss < 0.0f || lm_sdtw_scan(qs->q[i], qs->N[i], qs->q[i], qs->N[i], &self, NULL) != 0) {
        free(pq);
        return -1;
    }
    /* Less the query's exact distance to itself, 0 unless it has rests: a rest frame costs 1
     * against anything at every rate, so a bound needs no margin for it (a theme with a 7-s
     * rest in its 11 s had a self-loss of 0.65 that was all rest, and no pre-filter). Only
     * here: the first pass's own factor and margin (qset_coarse) keep the whole self-loss, as
     * a 103-frame theme with 16 rest frames coarsened at 4x with the difference lost 2 of its
     * ten best at 10 000 h (docs/search.md, session 34). */
    loss = loss > self.distance ? loss - self.distance : 0.0f;
    float eps = (Np >= 32 ? LM_PRE_EPS : LM_PRE_EPS * sqrtf(32.0f / (float)Np)) + loss;
    if (eps > LM_PRE_EPS_MAX || Np > LM_SDTW_INT_MAX_N) {
        free(pq);
        return 0;
    }
    qs->pq[i] = pq, qs->Npq[i] = Np, qs->pre_eps[i] = eps, qs->pre_r[i] = pr;
    return 0;
}

static int qset_coarse(lm_qset *qs) {
    /* A single query too short to coarsen: its coarse pass would be the exact scan. */
    if (qs->n == 1 && coarse_factor(qs->N[0]) == 1) qs->exhaustive = 1;
    /* An exhaustive search needs the coarse queries too when the context term is on: it is
     * the coarse pass's, so that both searches rank by the same distances. */
    if (qs->exhaustive && !(qs->context_weight > 0.0f)) return 0;
    for (size_t i = 0; i < qs->n_stretch; i++) {
        qs->r[i] = coarse_factor(qs->N[i]);
        /* 96-127 frames: 4x (24-31 coarse frames, whose coarse features are stored) where the
         * coarse query loses at most half its margin (self_loss; the other half is for what a
         * recording's own coarsening loses: noise, other voices). Those whose query loses
         * more (themes of short notes): 4x with the margin widened to the self-loss plus half
         * the margin, up to LM_COARSE_WIDE_MAX; the middle check then prunes each range at 2x
         * with the margin the 2x pass had. Beyond that they stay at 2x. */
        qs->mid_eps[i] = LM_MID_EPS;
        int widened = 0;
        if (qs->r[i] == 2 && qs->N[i] >= LM_COARSE_MIN_SHORT4) {
            size_t Nc4;
            float *cq4 = lm_query_downsample(qs->q[i], qs->N[i], LM_COARSE_FACTOR, &Nc4);
            float loss = cq4 ? self_loss(qs->q[i], qs->N[i], cq4, Nc4, LM_COARSE_FACTOR) : -1.0f;
            float e4 = eps_for(qs, Nc4);
            if (loss >= 0.0f && loss <= 0.5f * e4) {
                qs->r[i] = LM_COARSE_FACTOR, qs->cq[i] = cq4, qs->Nc[i] = Nc4;
            } else if (loss >= 0.0f && loss + 0.5f * e4 <= LM_COARSE_WIDE_MAX) {
                qs->r[i] = LM_COARSE_FACTOR, qs->cq[i] = cq4, qs->Nc[i] = Nc4;
                qs->eps[i] = loss + 0.5f * e4;
                widened = 1;
            } else {
                free(cq4);
            }
        }
        if (!qs->cq[i]) qs->cq[i] = lm_query_downsample(qs->q[i], qs->N[i], qs->r[i], &qs->Nc[i]);
        if (qs->cq[i] && qs->r[i] == LM_COARSE_FACTOR)
            qs->mq[i] = lm_query_downsample(qs->q[i], qs->N[i], 2, &qs->Nm[i]);
        if (!widened && qs->r[i] > 1) qs->eps[i] = eps_for(qs, qs->Nc[i]);
        if (widened) qs->mid_eps[i] = eps_for(qs, qs->Nm[i]);
        if (!qs->cq[i] || (qs->r[i] == LM_COARSE_FACTOR && !qs->mq[i])) {
            lm_qset_free(qs);
            return -1;
        }
        if (!qs->exhaustive && (qs->r[i] == 2 || qs->r[i] == LM_COARSE_FACTOR) &&
            qs->N[i] >= 2 * qs->r[i] * LM_PRE_MIN_FRAMES && pre_query(qs, i) != 0) {
            lm_qset_free(qs);
            return -1;
        }
    }
    return 0;
}

int lm_qset_from_theme(lm_qset *qs, const lm_theme *t, double duration_sec, int transpose,
                       const lm_variant_options *o) {
    int autod = o && o->duration_auto;
    if (qset_alloc(qs, autod ? LM_AUTO_STRETCHES : 1, o) != 0) return -1;
    double ref = duration_sec > 0.0 ? duration_sec : t ? t->duration : 0.0;
    for (size_t i = 0; i < qs->n_stretch; i++) {
        qs->stretch[i] = autod ? auto_stretch[i] : 1.0;
        qs->offset[i] = autod ? (float)(LM_AUTO_PENALTY * log2(auto_stretch[LM_AUTO_STRETCHES - 1] / qs->stretch[i])) : 0.0f;
        qs->q[i] = lm_theme_to_chroma(t, ref * qs->stretch[i], transpose, &qs->N[i]);
        if (!qs->q[i]) {
            lm_qset_free(qs);
            return -1;
        }
    }
    return qset_coarse(qs);
}

int lm_qset_from_chroma(lm_qset *qs, const float *query, size_t N, const lm_variant_options *o) {
    if (N == 0) {
        lm_set_error("empty query");
        return -1;
    }
    int autod = o && o->duration_auto;
    if (qset_alloc(qs, autod ? LM_AUTO_STRETCHES : 1, o) != 0) return -1;
    for (size_t i = 0; i < qs->n_stretch; i++) {
        qs->stretch[i] = autod ? auto_stretch[i] : 1.0;
        qs->offset[i] = autod ? (float)(LM_AUTO_PENALTY * log2(auto_stretch[LM_AUTO_STRETCHES - 1] / qs->stretch[i])) : 0.0f;
        size_t L = (size_t)lround((double)N * qs->stretch[i]);
        if (L < 1) L = 1;
        float *x = lm_malloc(12 * L, sizeof *x);
        if (!x) {
            lm_qset_free(qs);
            return -1;
        }
        for (size_t j = 0; j < L; j++) { /* nearest frame */
            size_t src = (size_t)(((double)j + 0.5) * (double)N / (double)L);
            if (src >= N) src = N - 1;
            for (int c = 0; c < 12; c++) x[(size_t)c * L + j] = query[(size_t)c * N + src];
        }
        qs->q[i] = x;
        qs->N[i] = L;
    }
    return qset_coarse(qs);
}

void lm_qset_free(lm_qset *qs) {
    for (size_t i = 0; i < qs->n_stretch; i++) {
        if (qs->q) free(qs->q[i]);
        if (qs->cq) free(qs->cq[i]);
        if (qs->mq) free(qs->mq[i]);
        if (qs->pq) free(qs->pq[i]);
    }
    free(qs->pq);
    free(qs->Npq);
    free(qs->pre_eps);
    free(qs->pre_r);
    free(qs->q);
    free(qs->cq);
    free(qs->mq);
    free(qs->Nm);
    free(qs->eps);
    free(qs->mid_eps);
    free(qs->N);
    free(qs->Nc);
    free(qs->r);
    free(qs->stretch);
    free(qs->offset);
    memset(qs, 0, sizeof *qs);
}

int lm_qset_transpose(const lm_qset *qs, unsigned v) {
    int s = (int)(v % qs->n_shift);
    return s > 6 ? s - 12 : s;
}

double lm_qset_stretch(const lm_qset *qs, unsigned v) { return qs->stretch[v / qs->n_shift]; }

float *lm_qset_query(const lm_qset *qs, unsigned v, size_t *N) {
    size_t i = v / qs->n_shift;
    *N = qs->N[i];
    return transposed_copy(qs->q[i], qs->N[i], (int)(v % qs->n_shift));
}

static lm_sdtw_query variant_query(const lm_qset *qs, size_t v) {
    size_t i = v / qs->n_shift;
    return (lm_sdtw_query){qs->q[i], qs->N[i], (int)(v % qs->n_shift)};
}

void lm_doc_view_init(lm_doc_view *d, const float *x, size_t T) {
    memset(d, 0, sizeof *d);
    d->x = x;
    d->T = T;
}

void lm_doc_view_init_doc(lm_doc_view *d, const lm_db_doc *doc) {
    lm_doc_view_init(d, doc->chroma, doc->T);
    d->x8 = doc->chroma_u8;
    d->scale = doc->scale;
    d->stored_coarse = doc->coarse;
    d->stored_coarse_u8 = doc->coarse_u8;
    d->stored_pre_u8 = doc->pre_u8;
}

void lm_doc_view_free(lm_doc_view *d) {
    for (int r = 0; r <= LM_COARSE_FACTOR; r++) {
        free(d->coarse[r]);
        if (!(d->borrowed_u8 >> r & 1u)) free(d->coarse_u8[r]);
    }
    memset(d, 0, sizeof *d);
}

/* The recording at 1/r of the frame rate (r = 1: itself; a compact one dequantised once). */
static const float *doc_coarse(lm_doc_view *d, size_t r, size_t *Mc) {
    if (r <= 1 && d->x) {
        *Mc = d->T;
        return d->x;
    }
    if (r < 1) r = 1;
    if (r == LM_COARSE_FACTOR && d->stored_coarse) { /* stored: no pass over the features */
        *Mc = (d->T + r - 1) / r;
        return d->stored_coarse;
    }
    if (!d->coarse[r]) {
        if (!d->x && !d->x8) return NULL;
        d->coarse[r] = malloc(12 * ((d->T + r - 1) / r) * sizeof(float));
        if (!d->coarse[r]) return NULL;
        if (r == 1) lm_dequantise_u8(d->x8, 12 * d->T, d->scale, d->coarse[1]), d->Mc[1] = d->T;
        else if (r == LM_COARSE_FACTOR && d->stored_coarse_u8)
            d->Mc[r] = (d->T + r - 1) / r, lm_dequantise_u8(d->stored_coarse_u8, 12 * d->Mc[r], d->scale, d->coarse[r]);
        else d->Mc[r] = d->x ? lm_chroma_downsample(d->x, d->T, r, d->coarse[r])
                             : lm_chroma_downsample_u8(d->x8, d->T, r, d->coarse[r]);
    }
    *Mc = d->Mc[r];
    return d->coarse[r];
}

/* The recording at 1/r of the frame rate (r >= 2) as bytes for the 16-bit scans: a compact
 * database's stored ones, else the float ones quantised once (u8 precision, LM_DB_U8_SCALE; a
 * coarse distance moves by about 1/500 at most, far within the coarse pass's margins, and exact
 * distances are never computed from them). NULL when out of memory. */
static const uint8_t *doc_coarse_u8(lm_doc_view *d, size_t r, size_t *Mc, float *scale) {
    if (r == LM_COARSE_FACTOR && d->stored_coarse_u8) {
        *Mc = (d->T + r - 1) / r;
        *scale = d->scale;
        return d->stored_coarse_u8;
    }
    if (!d->coarse_u8[r] && !d->coarse[r] && !d->x && d->x8 && r >= 2 && r <= 4) {
        /* straight from the bytes: the same bytes as through doc_coarse's floats (sdtw.h) */
        if (!(d->coarse_u8[r] = malloc(12 * ((d->T + r - 1) / r)))) return NULL;
        lm_chroma_downsample_u8_bytes(d->x8, d->T, d->T, r, LM_DB_U8_SCALE, d->coarse_u8[r]);
    }
    if (!d->coarse_u8[r]) {
        size_t n;
        const float *c = doc_coarse(d, r, &n);
        if (!c || !(d->coarse_u8[r] = malloc(12 * (n ? n : 1)))) return NULL;
        lm_quantise_u8(c, 12 * n, LM_DB_U8_SCALE, d->coarse_u8[r]);
    }
    *Mc = (d->T + r - 1) / r;
    *scale = LM_DB_U8_SCALE;
    return d->coarse_u8[r];
}

/* How far variant v's exact distances may fall below its coarse ones: LM_COARSE_EPS (a single
 * variant: LM_COARSE_EPS_SINGLE), more for coarse queries of fewer than 32 frames (their
 * estimates are rougher); 0 where the coarse query is the query itself. */
static float eps_of(const lm_qset *qs, size_t v) {
    size_t i = v / qs->n_shift;
    return qs->r[i] <= 1 ? 0.0f : qs->eps[i];
}

size_t lm_qset_cval_len(const lm_qset *qs) { return 2 * qs->n; }

int lm_qset_is_plain_scan(const lm_qset *qs) { return qs->n == 1 && qs->exhaustive && !(qs->context_weight > 0.0f); }

/* The context term is the median of a variant's coarse matching function over at most
 * LM_CONTEXT_SAMPLES (32) of its ends, every step-th (at least LM_CONTEXT_STEP, 8; all ends of a
 * function shorter than 4 such steps): the ends step/2, step/2 + step, ... A quickselect over
 * every end made a search in all keys 25-30 % slower; over every 8th end it still took 12 % of
 * the search's CPU (perf); with 32 samples the search takes about 5 % longer than without. */
#define LM_CONTEXT_STEP 8
#define LM_CONTEXT_SAMPLES 32
static size_t context_step(size_t Mc) {
    if (Mc < 4 * LM_CONTEXT_STEP) return 1;
    size_t step = (Mc + LM_CONTEXT_SAMPLES - 1) / LM_CONTEXT_SAMPLES;
    return step > LM_CONTEXT_STEP ? step : LM_CONTEXT_STEP;
}
static size_t context_samples(size_t Mc) {
    size_t step = context_step(Mc);
    return Mc > step / 2 ? (Mc - step / 2 + step - 1) / step : 0;
}

/* The median of the finite values of x[0 .. n-1] (reordered; +INFINITY when none). */
static float median_finite(float *x, size_t n) {
    size_t f = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i])) x[f++] = x[i];
    if (f == 0) return INFINITY;
    size_t k = f / 2, lo = 0, hi = f - 1;
    while (lo < hi) { /* quickselect (Hoare) */
        float p = x[lo + (hi - lo) / 2];
        size_t a = lo, b = hi;
        for (;;) {
            while (x[a] < p) a++;
            while (x[b] > p) b--;
            if (a >= b) break;
            float t = x[a];
            x[a++] = x[b];
            x[b--] = t;
        }
        if (k <= b) hi = b;
        else lo = b + 1;
    }
    return x[k];
}

/* Coarse pass of every variant over one recording: cval[v] is the coarse minimum (-INFINITY:
 * the coarse pass cannot fit a variant that the exact one can; +INFINITY: the variant does not
 * fit at all) plus the variant's offset, cval[n + v] that offset (lm_qset_cval_len); cm
 * (optional, n pointers) receives each variant's coarse matching function (malloc'd, one block
 * at cm[0]). The variants of one frame-rate factor share one pass. */
/* Frames of recording d at variant v's coarse frame rate. */
static size_t coarse_len(const lm_qset *qs, const lm_doc_view *d, size_t v) {
    size_t r = qs->r[v / qs->n_shift];
    return (d->T + r - 1) / r;
}

/* vb (NULL: none) holds per variant a lower bound of its distance (the pre-filter's): the
 * variants whose bound is above theta are not scanned; their cval is +inf (never refined: they
 * cannot reach the k best, whose threshold theta only falls). */
static int coarse_pass(const lm_qset *qs, lm_doc_view *d, float *cval, float **cm, const float *vb, float theta) {
    size_t n = qs->n, ns = qs->n_shift;
    const int context = qs->context_weight > 0.0f;
    /* On the stack for up to 12 variants (a plain search, all keys): this runs once per
     * recording and query, 223 000 times a query at 10 000 h. */
    enum { SMALL = 12 };
    lm_sdtw_query qv_s[SMALL];
    lm_sdtw_result res_s[SMALL];
    size_t idx_s[SMALL];
    float *ptr_s[3 * SMALL], sblock_s[SMALL * LM_CONTEXT_SAMPLES];
    const int small = n <= SMALL;
    lm_sdtw_query *qv = small ? qv_s : malloc(n * sizeof *qv);
    lm_sdtw_result *res = small ? res_s : malloc(n * sizeof *res);
    size_t *idx = small ? idx_s : malloc(n * sizeof *idx);
    float **mptr = small ? ptr_s : malloc(n * sizeof *mptr), **sptr = small ? ptr_s + SMALL : malloc(n * sizeof *sptr),
          **samp = small ? ptr_s + 2 * SMALL : malloc(n * sizeof *samp);
    float *block = NULL, *sblock = NULL, *full = NULL;
    int rc = (qv && res && idx && mptr && sptr && samp) ? 0 : -1;
    if (rc == 0 && cm) {
        size_t total = 0;
        for (size_t v = 0; v < n; v++) total += coarse_len(qs, d, v);
        block = malloc((total ? total : 1) * sizeof *block);
        if (!block) rc = -1;
        for (size_t v = 0, at = 0; rc == 0 && v < n; v++) {
            cm[v] = block + at;
            at += coarse_len(qs, d, v);
        }
    }
    if (rc == 0 && context) { /* the sampled matching functions */
        size_t total = 0;
        for (size_t v = 0; v < n; v++) total += context_samples(coarse_len(qs, d, v));
        sblock = small ? sblock_s : malloc((total ? total : 1) * sizeof *sblock); /* <= 32 per variant */
        if (!sblock) rc = -1;
        for (size_t v = 0, at = 0; rc == 0 && v < n; v++) {
            samp[v] = sblock + at;
            at += context_samples(coarse_len(qs, d, v));
        }
    }
    for (size_t r = 1; rc == 0 && r <= LM_COARSE_FACTOR; r++) {
        size_t k = 0;
        for (size_t v = 0; v < n; v++)
            if (qs->r[v / ns] == r && !(vb && vb[v] > theta)) {
                qv[k] = (lm_sdtw_query){qs->cq[v / ns], qs->Nc[v / ns], (int)(v % ns)};
                mptr[k] = cm ? cm[v] : NULL;
                sptr[k] = context ? samp[v] : NULL;
                idx[k++] = v;
            }
        if (k == 0) continue;
        size_t Mc = (d->T + r - 1) / r, step = context_step(Mc);
        int scanned = 1; /* 0: by the 16-bit scan */
        float sc;
        int bytes = r >= 2; /* the 16-bit scan takes coarse queries of up to LM_SDTW_INT_MAX_N frames */
        for (size_t j = 0; j < k; j++) bytes &= qv[j].N <= LM_SDTW_INT_MAX_N;
        const uint8_t *c8 = bytes ? doc_coarse_u8(d, r, &Mc, &sc) : NULL;
        if (bytes && !c8) {
            rc = -1;
            break;
        }
        /* bytes (stored, or quantised once), scanned on 16-bit integers where the queries allow
         * it: twice the lanes of the float scan */
        if (c8)
            scanned = lm_sdtw_scan_u8_int_sampled(qv, k, c8, Mc, sc, res, cm ? mptr : NULL, context ? step : 0,
                                                  context ? sptr : NULL);
        if (scanned < 0) {
            rc = -1;
            break;
        }
        if (scanned) { /* in float; the context term's samples from whole matching functions */
            const float *c = doc_coarse(d, r, &Mc);
            if (context && !cm) {
                free(full);
                full = malloc((k * Mc > 0 ? k * Mc : 1) * sizeof *full);
                for (size_t j = 0; full && j < k; j++) mptr[j] = full + j * Mc;
            }
            if (!c || (context && !cm && !full) ||
                lm_sdtw_scan_multi(qv, k, c, Mc, res, cm || context ? mptr : NULL) != 0) {
                rc = -1;
                break;
            }
            for (size_t j = 0; context && j < k; j++)
                for (size_t m = step / 2, i = 0; m < Mc; m += step, i++) sptr[j][i] = mptr[j][m];
        }
        for (size_t j = 0; j < k; j++) {
            size_t v = idx[j], N = qs->N[v / ns];
            cval[v] = N > 2 * d->T - 1 ? INFINITY : isfinite(res[j].distance) ? res[j].distance : -INFINITY;
        }
    }
    /* Each variant's offset: its stretching's penalty and the context term (1, the largest
     * distance, where the coarse pass cannot fit the variant but the exact scan may: a
     * recording of about half the query's length). */
    for (size_t v = 0; rc == 0 && v < n; v++) {
        float off = qs->offset[v / ns];
        if (vb && vb[v] > theta) { /* not scanned */
            cval[v] = INFINITY, cval[n + v] = off;
            continue;
        }
        if (context) {
            float med = median_finite(samp[v], context_samples(coarse_len(qs, d, v)));
            off += qs->context_weight * (isfinite(med) ? med : 1.0f);
        }
        cval[n + v] = off;
        if (isfinite(cval[v])) cval[v] += off;
    }
    if (!small) {
        free(qv);
        free(res);
        free(idx);
        free(mptr);
        free(sptr);
        free(samp);
        free(sblock);
    }
    free(full);
    if (rc != 0) {
        free(block);
        if (cm) cm[0] = NULL;
        lm_set_error("search: out of memory");
    }
    return rc;
}

/* Each variant's offset into cval[n + v] (lm_qset_cval_len floats): the coarse pass's, which
 * holds the context term, or without it only the stretchings' penalties (no pass needed). */
static int variant_offsets(const lm_qset *qs, lm_doc_view *d, float *cval) {
    if (qs->context_weight > 0.0f) return coarse_pass(qs, d, cval, NULL, NULL, 0.0f);
    for (size_t v = 0; v < qs->n; v++) cval[qs->n + v] = qs->offset[v / qs->n_shift];
    return 0;
}

/* Every variant exactly over the whole recording (one pass), with the offsets of the coarse
 * pass (which runs here for the context term). */
static int exact_all(const lm_qset *qs, lm_doc_view *d, lm_sdtw_result *best, size_t *best_v) {
    lm_sdtw_query *qv = malloc(qs->n * sizeof *qv);
    lm_sdtw_result *res = malloc(qs->n * sizeof *res);
    float *cval = malloc(lm_qset_cval_len(qs) * sizeof *cval);
    size_t M;
    const float *x = doc_coarse(d, 1, &M);
    int rc = (qv && res && x && cval) ? 0 : -1;
    if (rc == 0 && variant_offsets(qs, d, cval) != 0) {
        free(qv);
        free(res);
        free(cval);
        return -1;
    }
    if (rc == 0) {
        for (size_t v = 0; v < qs->n; v++) qv[v] = variant_query(qs, v);
        rc = lm_sdtw_scan_multi(qv, qs->n, x, M, res, NULL);
    }
    if (rc == 0) {
        for (size_t v = 0; v < qs->n; v++) res[v].distance += cval[qs->n + v];
        *best_v = 0;
        *best = res[0];
        for (size_t v = 1; v < qs->n; v++)
            if (res[v].distance < best->distance) *best = res[v], *best_v = v;
    } else if (!qv || !res || !x || !cval) {
        lm_set_error("search: out of memory");
    }
    free(qv);
    free(res);
    free(cval);
    return rc;
}

/* lm_qset_coarse_min without the variants whose bound (vb, NULL: none) is above theta. */
static float coarse_min_below(const lm_qset *qs, lm_doc_view *d, float *cval_out, const float *vb, float theta);

float lm_qset_coarse_min(const lm_qset *qs, lm_doc_view *d, float *cval_out) {
    return coarse_min_below(qs, d, cval_out, NULL, 0.0f);
}

static float coarse_min_below(const lm_qset *qs, lm_doc_view *d, float *cval_out, const float *vb, float theta) {
    if (qs->exhaustive) {
        lm_sdtw_result r;
        size_t v;
        return exact_all(qs, d, &r, &v) == 0 ? r.distance : NAN;
    }
    float *cval = cval_out ? cval_out : malloc(lm_qset_cval_len(qs) * sizeof *cval);
    if (!cval || coarse_pass(qs, d, cval, NULL, vb, theta) != 0) {
        if (!cval_out) free(cval);
        return NAN;
    }
    float best = INFINITY;
    for (size_t v = 0; v < qs->n; v++)
        if (cval[v] - eps_of(qs, v) < best) best = cval[v] - eps_of(qs, v);
    if (!cval_out) free(cval);
    return best;
}

/* 1 when every stretching has a pre-filter query. */
int lm_qset_has_pre(const lm_qset *qs) {
    for (size_t i = 0; i < qs->n_stretch; i++)
        if (!qs->pq || !qs->pq[i]) return 0;
    return qs->n_stretch > 0;
}

static float pre_bounds(const lm_qset *qs, lm_doc_view *d, float *vb);

/* -INFINITY: a recording too short for the pre-filter's query, or a query that is not binary. */
float lm_qset_pre_bound(const lm_qset *qs, lm_doc_view *d) { return pre_bounds(qs, d, NULL); }

/* Each variant's bound lowered to its key's (the least over the key's stretchings). */
static void key_min(const lm_qset *qs, float *vb) {
    for (size_t sh = 0; sh < qs->n_shift; sh++) {
        float lo = INFINITY;
        for (size_t v = sh; v < qs->n; v += qs->n_shift) lo = vb[v] < lo ? vb[v] : lo;
        for (size_t v = sh; v < qs->n; v += qs->n_shift) vb[v] = lo;
    }
}

float lm_qset_key_bounds(const lm_qset *qs, lm_doc_view *d, float *vb) {
    float b = pre_bounds(qs, d, vb);
    if (!isnan(b)) key_min(qs, vb);
    return b;
}

float lm_qset_coarse_min_below(const lm_qset *qs, lm_doc_view *d, float *cval, const float *vb, float theta) {
    return coarse_min_below(qs, d, cval, vb, theta);
}

/* The same, and each variant's own bound into vb (qs->n floats; NULL: not wanted). */
static float pre_bounds(const lm_qset *qs, lm_doc_view *d, float *vb) {
    size_t Mc, n = qs->n, ns = qs->n_shift, n8 = 0, n4 = 0;
    float sc;
    for (size_t i = 0; i < qs->n_stretch; i++) n8 += qs->pre_r[i] == LM_PRE_FACTOR, n4 += qs->pre_r[i] == LM_COARSE_FACTOR;
    /* the stored 8x bytes where the database has them (then, with no 4x pre-filter query, not
     * even the 4x bytes are read) */
    const uint8_t *stored8 = LM_DB_PRE == LM_PRE_FACTOR && LM_DB_COARSE == LM_COARSE_FACTOR ? d->stored_pre_u8 : NULL;
    const uint8_t *c4 = NULL;
    if (stored8 && !n4) Mc = (d->T + LM_COARSE_FACTOR - 1) / LM_COARSE_FACTOR, sc = LM_DB_U8_SCALE;
    else if (!(c4 = doc_coarse_u8(d, LM_COARSE_FACTOR, &Mc, &sc))) return NAN;
    size_t M8 = (Mc + 1) / 2;
    /* at 8x (where a variant's first pass is 4x) one block: the bytes, the pair sums, the norms */
    uint8_t *b8 = n8 && !stored8 ? malloc(12 * M8 * (1 + sizeof(uint16_t)) + M8 * sizeof(float) + 16) : NULL;
    uint16_t *t16 = b8 ? (uint16_t *)(void *)(b8 + ((12 * M8 + 15) & ~(size_t)15)) : NULL;
    float *f8 = b8 ? (float *)(void *)(t16 + 12 * M8) : NULL;
    lm_sdtw_query qv_s[12], *qv = n <= 12 ? qv_s : malloc(n * sizeof *qv);
    lm_sdtw_result res_s[12], *res = n <= 12 ? res_s : malloc(n * sizeof *res);
    size_t idx_s[12], *idx = n <= 12 ? idx_s : malloc(n * sizeof *idx);
    float bound = NAN;
    const uint8_t *c8 = stored8 ? stored8 : b8;
    if ((!n8 || c8) && qv && res && idx) {
        /* the 4x bytes' pair sums, normalised again (the common scale cancels), as bytes */
        if (n8 && !stored8) lm_coarsen_pairs_u8(c4, Mc, b8, t16, f8);
        bound = INFINITY;
        for (size_t pr = LM_COARSE_FACTOR; pr <= LM_PRE_FACTOR && !isnan(bound); pr *= 2) {
            size_t k = 0;
            for (size_t v = 0; v < n; v++)
                if (qs->pre_r[v / ns] == pr)
                    qv[k] = (lm_sdtw_query){qs->pq[v / ns], qs->Npq[v / ns], (int)(v % ns)}, idx[k++] = v;
            if (k == 0) continue;
            int rc = pr == LM_COARSE_FACTOR ? lm_sdtw_scan_u8_int(qv, k, c4, Mc, sc, res, NULL)
                                            : lm_sdtw_scan_u8_int(qv, k, c8, M8, LM_DB_U8_SCALE, res, NULL);
            if (rc < 0) bound = NAN;
            for (size_t j = 0; rc >= 0 && j < k; j++) {
                size_t i = idx[j] / ns;
                /* the context term is W x a median of the variant's matching function, which is
                 * at least its minimum: W x the bound of that minimum (when positive) */
                float lo = res[j].distance - qs->pre_eps[i];
                float b = qs->N[i] > 2 * d->T - 1 ? INFINITY
                          : rc == 0 && isfinite(res[j].distance)
                              ? lo + qs->context_weight * (lo > 0.0f ? lo : 0.0f) + qs->offset[i]
                              : -INFINITY; /* rc 1: not a binary query */
                if (b < bound) bound = b;
                if (vb) vb[idx[j]] = b;
            }
        }
    }
    free(b8);
    if (qv != qv_s) free(qv);
    if (res != res_s) free(res);
    if (idx != idx_s) free(idx);
    return bound;
}

/* Coarse matching function of one variant (Mc floats into cm); -1: out of memory. */
static int coarse_matching(const lm_qset *qs, lm_doc_view *d, size_t v, float *cm) {
    size_t i = v / qs->n_shift, Mc;
    lm_sdtw_query q = {qs->cq[i], qs->Nc[i], (int)(v % qs->n_shift)};
    lm_sdtw_result res;
    float sc;
    int bytes = qs->r[i] >= 2 && q.N <= LM_SDTW_INT_MAX_N;
    const uint8_t *c8 = bytes ? doc_coarse_u8(d, qs->r[i], &Mc, &sc) : NULL;
    if (bytes && !c8) return -1;
    if (c8) { /* as the coarse pass scanned it */
        int rc = lm_sdtw_scan_u8_int(&q, 1, c8, Mc, sc, &res, &cm);
        if (rc <= 0) return rc;
    }
    const float *c = doc_coarse(d, qs->r[i], &Mc);
    return c ? lm_sdtw_scan_multi(&q, 1, c, Mc, &res, &cm) : -1;
}

/* In float: a single query's range scan on 16-bit integers (lm_sdtw_scan_u8_int's row loop) was
 * no faster than the float scan's register-blocked sweep here. Scanning only the parts of a range
 * around the 2x function's low ends was slower than the whole range (more scans, each with its
 * lead of 2 (N - 1) ends). */
int lm_qset_mid_rejects(const lm_qset *qs, lm_doc_view *d, size_t v, size_t a, size_t b, float th, float off) {
    size_t i = v / qs->n_shift, M2 = (d->T + 1) / 2;
    if (!qs->mq[i]) return 0;
    size_t a2 = a / 2, b2 = (b + 1) / 2 < M2 ? (b + 1) / 2 : M2, Nm = qs->Nm[i];
    if (a2 >= b2 || Nm > 2 * M2 - 1) return 0;
    lm_sdtw_query q2 = {qs->mq[i], Nm, (int)(v % qs->n_shift)};
    lm_sdtw_result r2;
    /* The 2x frames that the scan of ends [a2, b2) reads: only those, while the ranges checked
     * in this recording add up to less than half of it (a recording refined for one strong
     * range need not be coarsened whole); then all of it, once. */
    size_t lead = 2 * (Nm - 1), lo = a2 > lead ? a2 - lead : 0, W = b2 - lo;
    d->mid_frames += W;
    if (d->coarse[2] || d->mid_frames > M2 / 2 || (!d->x && !d->x8)) {
        size_t Mc;
        const float *x2 = doc_coarse(d, 2, &Mc);
        if (!x2 || lm_sdtw_scan_range(&q2, x2, M2, a2, b2, &r2, NULL) != 0) return 0;
    } else {
        float *win = malloc(12 * W * sizeof *win);
        size_t f0 = 2 * lo, nf = (2 * b2 < d->T ? 2 * b2 : d->T) - f0;
        if (!win) return 0;
        if (d->x) lm_chroma_downsample_rows(d->x + f0, d->T, nf, 2, win);
        else lm_chroma_downsample_u8_rows(d->x8 + f0, d->T, nf, 2, win);
        int rc = lm_sdtw_scan_range(&q2, win, W, a2 - lo, b2 - lo, &r2, NULL);
        free(win);
        if (rc != 0) return 0;
    }
    return !(r2.distance + off - qs->mid_eps[i] <= th); /* +inf: no path ends there */
}

static const float *sort_key;
static int cmp_by_key(const void *a, const void *b) {
    float x = sort_key[*(const size_t *)a], y = sort_key[*(const size_t *)b];
    if (x < y) return -1;
    if (x > y) return 1;
    return (*(const size_t *)a > *(const size_t *)b) - (*(const size_t *)a < *(const size_t *)b);
}

/* order[0 .. n-1] (indices into key) reordered by key, ties by index; thread-safe (no qsort
 * with a global). */
static void sort_indices(const float *key, size_t *order, size_t n) {
    /* insertion sort for the short lists of variants, merge sort otherwise */
    if (n <= 64) {
        for (size_t i = 1; i < n; i++) {
            size_t x = order[i], j = i;
            while (j > 0 && (key[order[j - 1]] > key[x] || (key[order[j - 1]] == key[x] && order[j - 1] > x))) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = x;
        }
        return;
    }
    size_t *tmp = malloc(n * sizeof *tmp);
    if (!tmp) { /* fall back: a serialised qsort */
#pragma omp critical(lm_order_by)
        {
            sort_key = key;
            qsort(order, n, sizeof *order, cmp_by_key);
        }
        return;
    }
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n, i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                size_t a = order[i], b = order[j];
                int take_b = key[b] < key[a] || (key[b] == key[a] && b < a);
                tmp[k++] = take_b ? order[j++] : order[i++];
            }
            while (i < mid) tmp[k++] = order[i++];
            while (j < hi) tmp[k++] = order[j++];
        }
        memcpy(order, tmp, n * sizeof *order);
    }
    free(tmp);
}

/* Indices 0..n-1 ordered by key (ties: by index). */
static void order_by(const float *key, size_t n, size_t *order) {
    for (size_t i = 0; i < n; i++) order[i] = i;
    sort_indices(key, order, n);
}

/* The indices whose key is at most limit (not NaN), ordered as order_by orders them: the
 * prefix of order_by's order that a caller walking it up to limit would read, without sorting
 * every recording (222 979 at 10 000 h, on one thread while the other waits). Their count. */
static size_t order_up_to(const float *key, size_t n, float limit, size_t *order) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (key[i] <= limit) order[m++] = i;
    sort_indices(key, order, m);
    return m;
}

int lm_qset_refine(const lm_qset *qs, lm_doc_view *d, float theta, const float *cval_in, lm_match *m) {
    m->approx = 0;
    m->variant = 0;
    m->start = m->end = 0;
    m->distance = INFINITY;
    if (qs->exhaustive) {
        lm_sdtw_result r;
        size_t v;
        if (exact_all(qs, d, &r, &v) != 0) return -1;
        m->distance = r.distance;
        m->start = m->end = r.end;
        m->variant = (unsigned)v;
        return 0;
    }
    size_t n = qs->n, ns = qs->n_shift, max_mc = 0;
    for (size_t i = 0; i < qs->n_stretch; i++)
        if ((d->T + qs->r[i] - 1) / qs->r[i] > max_mc) max_mc = (d->T + qs->r[i] - 1) / qs->r[i];
    float *cval = cval_in ? NULL : malloc(lm_qset_cval_len(qs) * sizeof *cval);
    float *cm = malloc((max_mc ? max_mc : 1) * sizeof *cm), *lower = malloc(n * sizeof *lower);
    size_t *order = malloc(n * sizeof *order), T1;
    /* The exact features, made (a compact recording dequantised) at the first exact scan: the
     * middle checks may reject every range of a recording. */
    const float *x = NULL;
#define EXACT_X() (x || (x = doc_coarse(d, 1, &T1)))
    if ((!cval_in && !cval) || !cm || !lower || !order || (!cval_in && coarse_pass(qs, d, cval, NULL, NULL, 0.0f) != 0)) {
        free(cval);
        free(lower);
        free(cm);
        free(order);
        lm_set_error("search: out of memory");
        return -1;
    }
    const float *cv = cval_in ? cval_in : cval;
    for (size_t v = 0; v < n; v++) lower[v] = cv[v] - eps_of(qs, v); /* the lowest it may be */
    order_by(lower, n, order);
    float u = INFINITY, cmin = lower[order[0]];
    size_t best_v = 0, best_end = 0;
    int rc = 0, any_fits = 0;
    for (size_t v = 0; v < n; v++) any_fits |= cv[v] < INFINITY;
    for (size_t oi = 0; oi < n && rc == 0; oi++) {
        size_t v = order[oi];
        float th = u < theta ? u : theta;
        if (!(lower[v] <= th)) break;
        lm_sdtw_query q = variant_query(qs, v);
        const float off = cv[n + v]; /* --duration auto's penalty of the stretching, the context term */
        lm_sdtw_result res;
        if (th == INFINITY || cv[v] == -INFINITY || eps_of(qs, v) == 0.0f) { /* the whole recording */
            if (!EXACT_X() || lm_sdtw_scan_multi(&q, 1, x, d->T, &res, NULL) != 0) rc = -1;
            else if (res.distance + off < u) u = res.distance + off, best_v = v, best_end = res.end;
            continue;
        }
        /* Only around the ends whose coarse matching function (at the coarse end or a
         * neighbour) comes within eps of th; ranges closer than a path's span are joined, as
         * their scans would overlap anyway. */
        const float eps = eps_of(qs, v);
        if (coarse_matching(qs, d, v, cm) != 0) {
            rc = -1;
            break;
        }
        size_t r = qs->r[v / ns], Mc = (d->T + r - 1) / r, lead = 2 * (q.N - 1);
        size_t a = SIZE_MAX, b = 0; /* the pending range of ends [a, b) */
        for (size_t j = 0; j <= Mc && rc == 0; j++) {
            int hot = 0;
            if (j < Mc) {
                float lo = cm[j];
                if (j > 0 && cm[j - 1] < lo) lo = cm[j - 1];
                if (j + 1 < Mc && cm[j + 1] < lo) lo = cm[j + 1];
                hot = lo + off - eps <= th;
            }
            size_t e0 = j * r, e1 = (j + 1) * r < d->T ? (j + 1) * r : d->T;
            if (hot && a != SIZE_MAX && e0 <= b + lead) { /* extend the pending range */
                b = e1;
                continue;
            }
            if (a != SIZE_MAX && r == LM_COARSE_FACTOR && lm_qset_mid_rejects(qs, d, v, a, b, th, off)) a = SIZE_MAX;
            if (a != SIZE_MAX) { /* scan the pending range */
                if (!EXACT_X() || lm_sdtw_scan_range(&q, x, d->T, a, b, &res, NULL) != 0) rc = -1;
                else if (res.distance + off < u) u = res.distance + off, best_v = v, best_end = res.end;
                a = SIZE_MAX;
                th = u < theta ? u : theta;
            }
            if (hot) a = e0, b = e1;
        }
    }
    /* --duration auto: the stretchings next to the best one, at the same shift, around the
     * same passage. Neighbouring stretchings often match almost equally well, and the coarse
     * pass, whose errors are larger than such differences, can rank the wrong one first. */
    for (int step = 0; rc == 0 && qs->n_stretch > 1 && u <= theta && u < INFINITY && step < 4; step++) {
        size_t i0 = best_v / ns, s0 = best_v % ns, v0 = best_v;
        for (int dir = -1; dir <= 1 && rc == 0; dir += 2) {
            if ((dir < 0 && i0 == 0) || (dir > 0 && i0 + 1 >= qs->n_stretch)) continue;
            size_t v = (i0 + (size_t)(long)dir) * ns + s0, half = (qs->N[i0] > qs->N[v / ns] ? qs->N[i0] : qs->N[v / ns]) / 2;
            size_t a = best_end > half ? best_end - half : 0, b = best_end + half + 1 < d->T ? best_end + half + 1 : d->T;
            lm_sdtw_query q = variant_query(qs, v);
            lm_sdtw_result res;
            const float off = cv[n + v];
            if (!EXACT_X() || lm_sdtw_scan_range(&q, x, d->T, a, b, &res, NULL) != 0) rc = -1;
            else if (res.distance + off < u) u = res.distance + off, best_v = v, best_end = res.end;
        }
        if (best_v == v0) break;
    }
    free(cval);
    free(cm);
    free(lower);
    free(order);
    if (rc != 0) return -1;
    if (u <= theta && u < INFINITY) {
        m->distance = u;
        m->start = m->end = best_end;
        m->variant = (unsigned)best_v;
    } else if (any_fits) {
        m->approx = 1;
        float est = cmin > theta ? cmin : theta;
        m->distance = nextafterf(est, INFINITY);
    }
    return 0;
}
#undef EXACT_X

/* Features of ranked recording k of db or of a fusion (mixing into buf). */
static const float *features_of(const lm_db *db, const lm_fusion *f, size_t k, float *buf, float **owned,
                                size_t *T) {
    *owned = NULL;
    if (!f) { /* a compact recording: a float copy in *owned */
        *T = db->docs[k].T;
        return lm_db_doc_features(&db->docs[k], owned);
    }
    return lm_fusion_features(f, k, buf, T);
}

/* Recording k of db as stored (a compact one is not copied; coarse bytes that an earlier search
 * left with the database, lm_db_kept_coarse_u8, are borrowed) or of a fusion (mixed into buf). */
static int view_of(const lm_db *db, const lm_fusion *f, size_t k, float *buf, lm_doc_view *dv) {
    if (!f) {
        lm_doc_view_init_doc(dv, &db->docs[k]);
        const uint8_t *kept = dv->stored_coarse_u8 ? NULL : lm_db_kept_coarse_u8(db, k);
        if (kept) dv->coarse_u8[LM_COARSE_FACTOR] = (uint8_t *)kept, dv->borrowed_u8 |= 1u << LM_COARSE_FACTOR;
        return 0;
    }
    size_t T = 0;
    const float *x = (f->w <= 0.0 || f->w >= 1.0 || buf) ? lm_fusion_features(f, k, buf, &T) : NULL;
    lm_doc_view_init(dv, x, T);
    return x ? 0 : -1;
}

/* Frees a view of view_of, leaving the coarse bytes it made with the database for later
 * searches where it keeps them. */
static void view_done(const lm_db *db, const lm_fusion *f, size_t k, lm_doc_view *dv) {
    uint8_t *c8 = dv->coarse_u8[LM_COARSE_FACTOR];
    if (!f && c8 && !(dv->borrowed_u8 >> LM_COARSE_FACTOR & 1u) && lm_db_keep_coarse_u8(db, k, c8))
        dv->borrowed_u8 |= 1u << LM_COARSE_FACTOR;
    lm_doc_view_free(dv);
}

#define LM_COARSE_KEEP ((size_t)64 << 20) /* floats: 256 MB */

/* The k-th smallest exact distance so far: a sorted list of the `best` smallest. */
typedef struct {
    float *v;
    size_t n, cap;
} kbest;

static void kbest_add(kbest *kb, float x) {
    if (kb->cap == 0) return;
    if (kb->n == kb->cap && !(x < kb->v[kb->n - 1])) return;
    size_t i = kb->n < kb->cap ? kb->n++ : kb->n - 1;
    while (i > 0 && kb->v[i - 1] > x) {
        kb->v[i] = kb->v[i - 1];
        i--;
    }
    kb->v[i] = x;
}

/* Refines recording k against theta: its features (mixed into buf for a fusion), the coarse
 * features of `view` (may be NULL) in a copy, so that threads can share the views; coarse
 * features made here are freed here. */
static int refine_doc(const lm_db *db, const lm_fusion *f, const lm_qset *qs, size_t k, float *buf,
                      const lm_doc_view *view, const float *cval, float theta, lm_match *out) {
    lm_doc_view dv, src;
    int ok = view_of(db, f, k, buf, &src) == 0;
    dv = src;
    if (view) {
        memcpy(dv.coarse, view->coarse, sizeof dv.coarse);
        memcpy(dv.Mc, view->Mc, sizeof dv.Mc);
        memcpy(dv.coarse_u8, view->coarse_u8, sizeof dv.coarse_u8);
        dv.borrowed_u8 = view->borrowed_u8;
    }
    int rc = ok ? lm_qset_refine(qs, &dv, theta, cval, out) : -1;
    for (int r = 0; r <= LM_COARSE_FACTOR; r++) {
        if (dv.coarse[r] && (!view || dv.coarse[r] != view->coarse[r])) free(dv.coarse[r]);
        if (dv.coarse_u8[r] && !(dv.borrowed_u8 >> r & 1u) && (!view || dv.coarse_u8[r] != view->coarse_u8[r]))
            free(dv.coarse_u8[r]);
    }
    out->doc = f ? f->docs[k].doc : k;
    return rc;
}

/* The pre-filter (LM_PRE_FACTOR) of lm_search_qset: every recording's bound into *pre_out;
 * the LM_PRE_FIRST (at least `best`) recordings of lowest bound through the coarse pass
 * (cmin, cval) and refined exactly (out, *refined_out set, their distances in kb). -1: out of
 * memory or a damaged recording (its error set). */
static int pre_filter(const lm_db *db, const lm_fusion *f, const lm_qset *qs, size_t best, lm_match *out,
                      float *cmin, float *cval, kbest *kb, float **pre_out, float **vpre_out,
                      unsigned char **refined_out, int parallel) {
    size_t nd = f ? f->n : db->n_docs, L = lm_qset_cval_len(qs), n = qs->n;
    int mixes = f && f->w > 0.0 && f->w < 1.0, failed = 0, damaged = 0;
    size_t buf_len = mixes ? 12 * f->max_T : 1;
    float *pre = malloc(nd * sizeof *pre);
    /* all keys: each key's bound (the lowest of its stretchings'), so that the coarse pass skips
     * the keys that cannot reach the k best. Not per stretching: neighbouring stretchings match
     * almost alike, and the refinement moves between them (with --duration auto alone, one of
     * 250 whole-corpus searches had its 10th distance 1e-5 off when they were skipped singly). */
    const size_t ns = qs->n_shift;
    float *vpre = ns > 1 ? malloc(nd * n * sizeof *vpre) : NULL;
    unsigned char *refined = calloc(nd, 1);
    size_t *order = malloc(nd * sizeof *order);
    if (!pre || !refined || !order || (ns > 1 && !vpre)) {
        free(pre);
        free(vpre);
        free(refined);
        free(order);
        lm_set_error("search: out of memory");
        return -1;
    }
#pragma omp parallel if (parallel)
    {
        float *buf = mixes ? malloc(buf_len * sizeof *buf) : NULL;
#pragma omp for schedule(dynamic, 16)
        for (size_t k = 0; k < nd; k++) {
            lm_doc_view dv;
            pre[k] = view_of(db, f, k, buf, &dv) == 0 ? pre_bounds(qs, &dv, vpre ? vpre + k * n : NULL) : NAN;
            view_done(db, f, k, &dv);
            if (vpre && !isnan(pre[k])) key_min(qs, vpre + k * n); /* per key: the lowest over its stretchings */
            if (isnan(pre[k])) {
#pragma omp atomic write
                failed = 1;
            }
        }
        free(buf);
    }
    size_t first = best > qs->pre_first ? best : qs->pre_first, nb = 0;
    if (first > nd) first = nd;
    if (!failed && first > 0) { /* the `first` lowest bounds in order (ties by index), without sorting them all */
        lm_match *sel = malloc(nd * sizeof *sel);
        if (sel) {
            for (size_t k = 0; k < nd; k++) sel[k] = (lm_match){.doc = k, .distance = pre[k]};
            lm_match_sort_top(sel, nd, first);
            for (size_t i = 0; i < first; i++) order[i] = sel[i].doc;
            free(sel);
        } else {
            order_by(pre, nd, order);
        }
    }
    while (!failed && nb < first && pre[order[nb]] < INFINITY) nb++;
    for (size_t i = 0; !f && !failed && i < nb; i++)
        if (lm_db_verify_doc(db, order[i]) != 0) failed = damaged = 1;
    /* the k best of them with no threshold, then the others against the k-th best so far */
    const size_t split = best < nb ? best : nb;
    for (int stage = 0; stage < 2 && !failed; stage++) {
        size_t from = stage == 0 ? 0 : split, to = stage == 0 ? split : nb;
        float theta = kb->n == kb->cap && kb->cap > 0 ? kb->v[kb->cap - 1] : INFINITY;
#pragma omp parallel if (parallel && to - from > 1)
        {
            float *buf = mixes ? malloc(buf_len * sizeof *buf) : NULL;
#pragma omp for schedule(dynamic, 1)
            for (size_t i = from; i < to; i++) {
                size_t k = order[i];
                lm_doc_view dv;
                cmin[k] = view_of(db, f, k, buf, &dv) == 0 ? lm_qset_coarse_min(qs, &dv, cval + k * L) : NAN;
                view_done(db, f, k, &dv);
                if (isnan(cmin[k]) || refine_doc(db, f, qs, k, buf, NULL, cval + k * L, theta, &out[k]) != 0) {
#pragma omp atomic write
                    failed = 1;
                }
                refined[k] = 1;
            }
            free(buf);
        }
        for (size_t i = from; !failed && i < to; i++)
            if (!out[order[i]].approx && isfinite(out[order[i]].distance)) kbest_add(kb, out[order[i]].distance);
    }
    free(order);
    if (failed) {
        free(pre);
        free(vpre);
        free(refined);
        if (!damaged) lm_set_error("search: out of memory");
        return -1;
    }
    *pre_out = pre;
    *vpre_out = vpre;
    *refined_out = refined;
    return 0;
}

int lm_search_qset(const lm_db *db, const lm_fusion *f, const lm_qset *qs, const lm_coarse_cache *cache,
                   size_t best, long must, lm_match *out, int parallel) {
    size_t nd = f ? f->n : db->n_docs;
    if (nd == 0) return 0;
    /* format 2: checksums on first read; the pruned search reads every recording's coarse
     * features and only the refined recordings' features (verified before they are read) */
    if (!f && (qs->exhaustive ? lm_db_verify_all(db) : lm_db_verify_coarse(db)) != 0) return -1;
    int mixes = f && f->w > 0.0 && f->w < 1.0, failed = 0, damaged = 0;
    size_t buf_len = mixes ? 12 * f->max_T : 1;
    int own = !cache;
    float *cmin = own ? malloc(nd * sizeof *cmin) : NULL;
    float *cval = own && !qs->exhaustive ? malloc(nd * lm_qset_cval_len(qs) * sizeof *cval) : NULL;
    size_t *order = malloc(nd * sizeof *order);
    size_t cap = best < nd ? best : nd;
    kbest kb = {malloc((cap ? cap : 1) * sizeof(float)), 0, cap};
    if ((own && !cmin) || (own && !qs->exhaustive && !cval) || !order || !kb.v) {
        free(cmin);
        free(cval);
        free(order);
        free(kb.v);
        lm_set_error("search: out of memory");
        return -1;
    }
    for (size_t k = 0; k < nd; k++)
        out[k] = (lm_match){.doc = f ? f->docs[k].doc : k, .distance = INFINITY, .approx = 1};
    if (qs->exhaustive) { /* every variant exactly: no pruning */
#pragma omp parallel if (parallel)
        {
            float *buf = mixes ? malloc(buf_len * sizeof *buf) : NULL;
#pragma omp for schedule(dynamic, 4)
            for (size_t k = 0; k < nd; k++)
                if (refine_doc(db, f, qs, k, buf, NULL, NULL, INFINITY, &out[k]) != 0) {
#pragma omp atomic write
                    failed = 1;
                }
            free(buf);
        }
        free(cmin);
        free(cval);
        free(order);
        free(kb.v);
        if (failed) lm_set_error("search: out of memory");
        return failed ? -1 : 0;
    }
    /* The coarse features made in the coarse pass are kept for the refinement (which would
     * otherwise read the recordings again) while they take at most LM_COARSE_KEEP floats. */
    lm_doc_view *views = NULL;
    /* 0. the pre-filter (LM_PRE_FACTOR): bounds, the first recordings refined, a threshold */
    size_t frames = 0;
    if (f)
        for (size_t k = 0; k < nd; k++) frames += f->docs[k].T;
    else
        frames = db->total_frames;
    const int big = frames >= qs->pre_min_frames || (qs->n_shift > 1 && nd >= qs->pre_min_docs_keys);
    const int cascade = own && best > 0 && best != SIZE_MAX && must < 0 && big && lm_qset_has_pre(qs);
    float *pre = NULL, *vpre = NULL, theta_pre = INFINITY;
    unsigned char *refined = NULL;
    if (cascade && pre_filter(db, f, qs, best, out, cmin, cval, &kb, &pre, &vpre, &refined, parallel) != 0) {
        free(cmin);
        free(cval);
        free(order);
        free(kb.v);
        return -1;
    }
    if (cascade && kb.n == kb.cap) theta_pre = kb.v[kb.cap - 1];
    if (own) {
        size_t views_floats = 0;
        for (size_t k = 0; k < nd; k++) views_floats += 12 * ((f ? f->docs[k].T : db->docs[k].T) / 2 + 2);
        /* A single query refines few recordings: keeping every coarse version would cost more
         * (fresh pages) than making the few again. */
        if (views_floats <= LM_COARSE_KEEP && qs->n > 1 && !cascade) views = lm_calloc(nd, sizeof *views);
#pragma omp parallel if (parallel) /* 1. the coarse pass over every recording */
        {
            float *buf = mixes ? malloc(buf_len * sizeof *buf) : NULL;
#pragma omp for schedule(dynamic, 4)
            for (size_t k = 0; k < nd; k++) {
                if (refined && refined[k]) continue; /* cmin, cval and out made by the pre-filter */
                if (pre && pre[k] > theta_pre) { /* cannot reach the k best: its bound stands in */
                    cmin[k] = pre[k];
                    continue;
                }
                lm_doc_view dv;
                cmin[k] = view_of(db, f, k, buf, &dv) == 0
                              ? coarse_min_below(qs, &dv, cval + k * lm_qset_cval_len(qs), vpre ? vpre + k * qs->n : NULL, theta_pre)
                              : NAN;
                if (views) { /* its coarse features, for the refinement (not a dequantised copy) */
                    free(dv.coarse[1]);
                    dv.coarse[1] = NULL;
                    views[k] = dv, views[k].x = NULL;
                } else {
                    view_done(db, f, k, &dv);
                }
                if (isnan(cmin[k])) {
#pragma omp atomic write
                    failed = 1;
                }
            }
            free(buf);
        }
    }
    const float *cm = own ? cmin : cache->cmin;
    const float *cv = own ? cval : cache->cval;
    const lm_doc_view *vw = own ? views : cache->views;
    /* Estimates until refined; a recording left unrefined ranks below every refined one that
     * matters (its coarse bound is above theta). */
    for (size_t k = 0; k < nd && !failed; k++) {
        if (refined && refined[k]) continue;
        int fits = !(isinf(cm[k]) && cm[k] > 0);
        out[k].distance = !fits ? INFINITY : isfinite(cm[k]) ? cm[k] : 1.0f + LM_COARSE_EPS;
        out[k].approx = fits;
    }
    /* With the pre-filter's threshold, no recording above it is ever refined (the threshold
     * only falls): order those below it alone. */
    size_t n_order = nd;
    if (cascade && theta_pre < INFINITY) n_order = order_up_to(cm, nd, theta_pre, order);
    else order_by(cm, nd, order);
    /* 2. refine best first */
    float u_must = -INFINITY;
    if (!failed && must >= 0 && (size_t)must < nd && !f && lm_db_verify_doc(db, (size_t)must) != 0) failed = damaged = 1;
    if (!failed && must >= 0 && (size_t)must < nd) {
        float *buf = mixes ? malloc(buf_len * sizeof *buf) : NULL;
        if (refine_doc(db, f, qs, (size_t)must, buf, vw ? &vw[must] : NULL, cv ? cv + (size_t)must * lm_qset_cval_len(qs) : NULL,
                       INFINITY, &out[must]) != 0)
            failed = 1;
        free(buf);
        if (!failed) {
            u_must = out[must].distance;
            if (!out[must].approx) kbest_add(&kb, u_must);
        }
    }
    int nthreads = 1;
#ifdef _OPENMP
    if (parallel) nthreads = omp_get_max_threads();
#endif
    size_t batch_cap = (size_t)nthreads * 2, *batch = malloc(batch_cap * sizeof *batch);
    if (!batch) failed = 1;
    size_t next = 0;
    while (!failed) {
        /* theta: the distance a recording must reach to matter */
        float theta = best == 0 ? -INFINITY : kb.n < kb.cap || kb.cap == 0 ? INFINITY : kb.v[kb.cap - 1];
        if (best == SIZE_MAX) theta = INFINITY;
        if (u_must > theta || (best == 0 && must >= 0)) theta = u_must > theta ? u_must : theta;
        size_t nb = 0;
        while (next < n_order && nb < batch_cap) {
            size_t k = order[next];
            if (!(cm[k] <= theta)) break;
            next++;
            if ((long)k == must || (refined && refined[k])) continue;
            batch[nb++] = k;
            if (theta == INFINITY && kb.n + nb >= kb.cap && best != SIZE_MAX) break; /* theta will fall */
        }
        if (nb == 0) break;
        for (size_t i = 0; !f && i < nb && !failed; i++) /* here: a damaged segment's error stays on this thread */
            if (lm_db_verify_doc(db, batch[i]) != 0) failed = damaged = 1;
        if (failed) break;
#pragma omp parallel if (parallel && nb > 1)
        {
            float *buf = mixes ? malloc(buf_len * sizeof *buf) : NULL;
#pragma omp for schedule(dynamic, 1)
            for (size_t i = 0; i < nb; i++) {
                size_t k = batch[i];
                if (refine_doc(db, f, qs, k, buf, vw ? &vw[k] : NULL, cv ? cv + k * lm_qset_cval_len(qs) : NULL, theta, &out[k]) != 0) {
#pragma omp atomic write
                    failed = 1;
                }
            }
            free(buf);
        }
        for (size_t i = 0; i < nb; i++)
            if (!out[batch[i]].approx && isfinite(out[batch[i]].distance)) kbest_add(&kb, out[batch[i]].distance);
    }
    free(batch);
    free(pre);
    free(vpre);
    free(refined);
    free(cmin);
    free(cval);
    free(order);
    if (views)
        for (size_t k = 0; k < nd; k++) view_done(db, f, k, &views[k]);
    free(views);
    free(kb.v);
    if (failed) {
        if (!damaged) lm_set_error("search: out of memory");
        return -1;
    }
    return 0;
}

void lm_search_locate_qset(const lm_db *db, const lm_fusion *f, const lm_qset *qs, lm_match *m, size_t n) {
    int mixes = f && f->w > 0.0 && f->w < 1.0;
#pragma omp parallel
    {
        float *buf = mixes ? malloc(12 * f->max_T * sizeof *buf) : NULL;
#pragma omp for schedule(dynamic, 1)
        for (size_t i = 0; i < n; i++) {
            if (!isfinite(m[i].distance) || m[i].approx || (mixes && !buf)) continue;
            size_t k = f ? f->index_of[m[i].doc] : m[i].doc, T, N;
            if (k == SIZE_MAX) continue;
            float *own = NULL;
            const float *x = features_of(db, f, k, buf, &own, &T);
            float *q = x ? lm_qset_query(qs, m[i].variant, &N) : NULL;
            if (q) m[i].start = lm_sdtw_start(q, N, x, T, m[i].end);
            free(q);
            free(own);
        }
        free(buf);
    }
}

/* ---- every occurrence in one recording */

typedef struct {
    float d;
    size_t m;
} occ_candidate;

static int cmp_candidate(const void *a, const void *b) {
    const occ_candidate *x = a, *y = b;
    if (x->d < y->d) return -1;
    if (x->d > y->d) return 1;
    return (x->m > y->m) - (x->m < y->m);
}

int lm_occurrences(const lm_qset *qs, const float *x, size_t T, const lm_match *best, double margin,
                   lm_occurrence **occ, size_t *n_occ) {
    *occ = NULL;
    *n_occ = 0;
    if (!(margin >= 0.0 && margin <= 1.0)) {
        lm_set_error("occurrence threshold must be in [0, 1] (a margin over the best distance), got %g", margin);
        return -1;
    }
    if (!best || !isfinite(best->distance) || best->approx || T == 0) return 0;
    size_t ns = qs->n_shift, v0 = (best->variant / ns) * ns, N = qs->N[best->variant / ns];
    float *mf = lm_malloc(ns * T, sizeof *mf), *val = lm_malloc(T, sizeof *val);
    unsigned char *var = lm_malloc(T, 1);
    occ_candidate *cand = lm_malloc(T, sizeof *cand);
    lm_occurrence *out = lm_malloc(LM_OCC_MAX, sizeof *out);
    size_t *starts[12] = {NULL};
    lm_sdtw_query qv[12];
    lm_sdtw_result res[12];
    float *mp[12];
    int rc = (mf && val && var && cand && out) ? 0 : -1;
    if (rc == 0) {
        for (size_t s = 0; s < ns; s++) {
            qv[s] = variant_query(qs, v0 + s);
            mp[s] = mf + s * T;
        }
        rc = lm_sdtw_scan_multi(qv, ns, x, T, res, mp);
    }
    /* Each shift's offset as in the ranking (--duration auto's penalty, the context term of the
     * coarse pass over these features), so that the distances are the search's. */
    float *cval = rc == 0 ? malloc(lm_qset_cval_len(qs) * sizeof *cval) : NULL;
    if (rc == 0 && !cval) rc = -1;
    if (rc == 0) {
        lm_doc_view dv;
        lm_doc_view_init(&dv, x, T);
        rc = variant_offsets(qs, &dv, cval);
        lm_doc_view_free(&dv);
    }
    size_t n = 0;
    if (rc == 0) {
        /* Per end, the best shift; the candidates are the ends within the margin of the best. */
        const float *off = cval + qs->n + v0;
        float dmin = INFINITY;
        for (size_t s = 0; s < ns; s++)
            if (res[s].distance + off[s] < dmin) dmin = res[s].distance + off[s];
        float thr = (float)((double)dmin + margin);
        size_t nc = 0;
        for (size_t m = 0; m < T; m++) {
            val[m] = mp[0][m] + off[0];
            var[m] = 0;
            for (size_t s = 1; s < ns; s++)
                if (mp[s][m] + off[s] < val[m]) val[m] = mp[s][m] + off[s], var[m] = (unsigned char)s;
            if (val[m] <= thr) cand[nc++] = (occ_candidate){val[m], m};
        }
        qsort(cand, nc, sizeof *cand, cmp_candidate);
        /* Iterative minimum picking: the best end left whose passage overlaps no passage taken. */
        for (size_t c = 0; c < nc && n < LM_OCC_MAX && rc == 0; c++) {
            size_t m = cand[c].m, s = var[m];
            if (!starts[s]) {
                size_t Nq;
                float *q = lm_qset_query(qs, (unsigned)(v0 + s), &Nq);
                starts[s] = lm_malloc(T, sizeof *starts[s]);
                if (!q || !starts[s] || lm_sdtw_starts(q, Nq, x, T, starts[s]) != 0) rc = -1;
                free(q);
                if (rc != 0) break;
            }
            size_t st = starts[s][m];
            if (st == SIZE_MAX || st > m) continue;
            int overlaps = 0;
            for (size_t i = 0; i < n && !overlaps; i++) overlaps = !(m < out[i].start || st > out[i].end);
            if (overlaps) continue;
            out[n++] = (lm_occurrence){cand[c].d, st, m, (unsigned)(v0 + s)};
        }
    }
    (void)N;
    for (size_t s = 0; s < 12; s++) free(starts[s]);
    free(cval);
    free(mf);
    free(val);
    free(var);
    free(cand);
    if (rc != 0) {
        free(out);
        return -1;
    }
    *occ = out;
    *n_occ = n;
    return 0;
}
