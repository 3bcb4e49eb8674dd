/* Score-to-audio synchronisation (see align.h): the score (the notes of symbolic/midi.h),
 * piano-roll chroma, and multiscale banded DTW with a rotation-null confidence. */
#include "align/align.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/threads.h"

#define FRAME_SEC 0.04

/* ======================================================================== score */

/* The notes come from the MIDI reader of symbolic/midi.h in read order; the score has them by
 * onset (then pitch). */
static int cmp_note(const void *a, const void *b) {
    const lm_score_note *x = a, *y = b;
    if (x->onset != y->onset) return (x->onset > y->onset) - (x->onset < y->onset);
    return (x->pitch > y->pitch) - (x->pitch < y->pitch);
}

static int finish_score(lm_score *s, const char *path) {
    if (s->n == 0) {
        if (path)
            lm_set_error("%s: MIDI file has no pitched notes", path);
        else
            lm_set_error("MIDI file has no pitched notes");
        lm_midi_notes_free(s);
        return -1;
    }
    qsort(s->notes, s->n, sizeof *s->notes, cmp_note);
    return 0;
}

int lm_score_parse_midi(const unsigned char *data, size_t n, lm_score *out) {
    if (lm_midi_parse_notes(data, n, out) < 0) return -1;
    return finish_score(out, NULL);
}

int lm_score_read_midi(const char *path, lm_score *out) {
    if (lm_midi_read_notes(path, out) < 0) return -1;
    return finish_score(out, path);
}

void lm_score_free(lm_score *s) { lm_midi_notes_free(s); }

double lm_score_qn_to_sec(const lm_score *s, double qn) { return lm_midi_qn_to_sec(s, qn); }

float *lm_score_chroma(const lm_score *s, double decay_sec, size_t *n_frames) {
    size_t N = (size_t)ceil(s->duration / FRAME_SEC) + 1;
    float *c = lm_calloc(12 * N, sizeof *c);
    if (!c) return NULL;
    for (size_t k = 0; k < s->n; k++) {
        const lm_score_note *nt = &s->notes[k];
        int pc = nt->pitch % 12;
        /* Frame i covers [0.04 i - 0.02, 0.04 i + 0.02). */
        size_t i0 = (size_t)floor(nt->onset / FRAME_SEC + 0.5), i1 = (size_t)floor(nt->offset / FRAME_SEC + 0.5);
        for (size_t i = i0; i <= i1 && i < N; i++) {
            double a = fmax(nt->onset, FRAME_SEC * ((double)i - 0.5)), b = fmin(nt->offset, FRAME_SEC * ((double)i + 0.5));
            if (b <= a) continue;
            double w = (b - a) / FRAME_SEC;
            if (decay_sec > 0) w *= exp(-(0.5 * (a + b) - nt->onset) / decay_sec);
            c[(size_t)pc * N + i] += (float)w;
        }
    }
    for (size_t i = 0; i < N; i++) {
        double ss = 0;
        for (int k = 0; k < 12; k++) ss += (double)c[(size_t)k * N + i] * c[(size_t)k * N + i];
        if (ss > 1e-12)
            for (int k = 0; k < 12; k++) c[(size_t)k * N + i] = (float)(c[(size_t)k * N + i] / sqrt(ss));
    }
    *n_frames = N;
    return c;
}

/* ======================================================================== DTW */

/* Frame-major copies (12 floats per frame) make the cost a contiguous dot product. */
static float *frame_major(const float *x, size_t N) {
    float *f = lm_malloc(12 * N, sizeof *f);
    if (!f) return NULL;
    for (size_t i = 0; i < N; i++) {
        double ss = 0;
        for (int k = 0; k < 12; k++) {
            float v = x[(size_t)k * N + i];
            if (!isfinite(v) || v < 0) v = 0;
            f[12 * i + (size_t)k] = v;
            ss += (double)v * v;
        }
        /* Silent (all-zero) frames become uniform: equally far from every chord. */
        for (int k = 0; k < 12; k++)
            f[12 * i + (size_t)k] = ss > 1e-12 ? (float)(f[12 * i + (size_t)k] / sqrt(ss)) : (float)(1.0 / sqrt(12.0));
    }
    return f;
}

static inline double cell_cost(const float *a, const float *b) {
    float d = 0;
    for (int k = 0; k < 12; k++) d += a[k] * b[k];
    double c = 1.0 - (double)d;
    return c < 0 ? 0 : c;
}

enum { BT_DIAG = 0, BT_UP = 1, BT_LEFT = 2, BT_UP2 = 3, BT_LEFT2 = 4, BT_START = 5 };

/* DTW on frame-major sequences. */
static int dtw_fm(const float *x, size_t N, const float *y, size_t M, const size_t *lo_in, const size_t *hi_in,
                  enum lm_align_steps steps, int subseq, double pen, double *cost, size_t **pi, size_t **pj,
                  size_t *plen) {
    *cost = INFINITY;
    if (pi) *pi = NULL, *pj = NULL, *plen = 0;
    if (N == 0 || M == 0) {
        lm_set_error("cannot align an empty sequence");
        return -1;
    }
    size_t *lo = NULL, *hi = NULL, *off = NULL;
    unsigned char *bt = NULL;
    double *D = NULL, *W = NULL, *C = NULL;
    int rc = -1;
    off = lm_malloc(N + 1, sizeof *off);
    if (!off) goto out;
    if (!lo_in) {
        lo = lm_calloc(N, sizeof *lo);
        hi = lm_malloc(N, sizeof *hi);
        if (!lo || !hi) goto out;
        for (size_t i = 0; i < N; i++) hi[i] = M;
        lo_in = lo, hi_in = hi;
    }
    off[0] = 0;
    for (size_t i = 0; i < N; i++) off[i + 1] = off[i] + (hi_in[i] > lo_in[i] ? hi_in[i] - lo_in[i] : 0);
    if (pi) {
        bt = lm_malloc(off[N] ? off[N] : 1, 1);
        if (!bt) goto out;
    }
    /* Three rows of accumulated cost D and accumulated weight W, indexed by column. */
    D = lm_malloc(3 * M, sizeof *D);
    W = lm_malloc(3 * M, sizeof *W);
    C = lm_malloc(3 * M, sizeof *C);
    if (!D || !W || !C) goto out;
    const double wd = steps == LM_STEPS_SYMMETRIC ? 2.0 : 1.0;
#define ROWD(i) (D + ((i) % 3) * M)
#define ROWW(i) (W + ((i) % 3) * M)
#define ROWC(i) (C + ((i) % 3) * M)
#define IN(i, j) ((j) >= lo_in[i] && (j) < hi_in[i])
    for (size_t i = 0; i < N; i++) {
        double *d = ROWD(i), *w = ROWW(i), *cc = ROWC(i);
        const double *d1 = i >= 1 ? ROWD(i - 1) : NULL, *w1 = i >= 1 ? ROWW(i - 1) : NULL;
        const double *d2 = i >= 2 ? ROWD(i - 2) : NULL, *w2 = i >= 2 ? ROWW(i - 2) : NULL;
        const double *c1 = i >= 1 ? ROWC(i - 1) : NULL, *c2 = i >= 2 ? ROWC(i - 2) : NULL;
        const float *xi = x + 12 * i;
        for (size_t j = lo_in[i]; j < hi_in[i]; j++) {
            double c = cell_cost(xi, y + 12 * j);
            double best = INFINITY, bw = 0, bc = 0;
            int code = BT_START;
            if (i == 0 && (subseq || j == 0)) {
                best = c, bw = 1, bc = c, code = BT_START;
            } else {
                /* D: the minimised sum (weighted cost plus step penalties); C, W: the plain cost
                 * sum and the weight sum along the chosen path, for the mean cost. */
                if (i >= 1 && j >= 1 && IN(i - 1, j - 1) && d1[j - 1] + wd * c < best)
                    best = d1[j - 1] + wd * c, bw = w1[j - 1] + wd, bc = c1[j - 1] + wd * c, code = BT_DIAG;
                if (steps == LM_STEPS_SLOPE) {
                    if (i >= 2 && j >= 1 && IN(i - 2, j - 1) && d2[j - 1] + c + pen < best)
                        best = d2[j - 1] + c + pen, bw = w2[j - 1] + 1, bc = c2[j - 1] + c, code = BT_UP2;
                    if (i >= 1 && j >= 2 && IN(i - 1, j - 2) && d1[j - 2] + c + pen < best)
                        best = d1[j - 2] + c + pen, bw = w1[j - 2] + 1, bc = c1[j - 2] + c, code = BT_LEFT2;
                } else {
                    if (i >= 1 && IN(i - 1, j) && d1[j] + c + pen < best)
                        best = d1[j] + c + pen, bw = w1[j] + 1, bc = c1[j] + c, code = BT_UP;
                    if (j >= 1 && j > lo_in[i] && d[j - 1] + c + pen < best)
                        best = d[j - 1] + c + pen, bw = w[j - 1] + 1, bc = cc[j - 1] + c, code = BT_LEFT;
                }
            }
            cc[j] = bc;
            d[j] = best;
            w[j] = bw;
            if (bt) bt[off[i] + (j - lo_in[i])] = (unsigned char)code;
        }
    }
    /* End cell. */
    size_t ei = N - 1, ej = SIZE_MAX;
    {
        const double *d = ROWD(ei);
        if (subseq) {
            double best = INFINITY;
            for (size_t j = lo_in[ei]; j < hi_in[ei]; j++)
                if (d[j] < best) best = d[j], ej = j;
        } else if (IN(ei, M - 1) && isfinite(d[M - 1])) {
            ej = M - 1;
        }
        if (ej == SIZE_MAX || !isfinite(d[ej])) {
            rc = 0; /* no path: cost stays infinite */
            goto out;
        }
        *cost = ROWC(ei)[ej] / ROWW(ei)[ej];
    }
    if (pi) {
        size_t cap = N + M, n = 0;
        size_t *ri = lm_malloc(cap, sizeof *ri), *rj = lm_malloc(cap, sizeof *rj);
        if (!ri || !rj) {
            free(ri);
            free(rj);
            goto out;
        }
        size_t i = ei, j = ej;
        for (;;) {
            ri[n] = i, rj[n] = j, n++;
            int code = bt[off[i] + (j - lo_in[i])];
            if (code == BT_START) break;
            if (code == BT_DIAG) i--, j--;
            else if (code == BT_UP) i--;
            else if (code == BT_LEFT) j--;
            else if (code == BT_UP2) i -= 2, j--;
            else i--, j -= 2;
            if (n == cap) break; /* cannot happen: every step decreases i + j */
        }
        for (size_t a = 0, b = n - 1; a < b; a++, b--) {
            size_t t = ri[a];
            ri[a] = ri[b], ri[b] = t;
            t = rj[a];
            rj[a] = rj[b], rj[b] = t;
        }
        *pi = ri, *pj = rj, *plen = n;
    }
    rc = 0;
#undef ROWD
#undef ROWW
#undef ROWC
#undef IN
out:
    free(lo);
    free(hi);
    free(off);
    free(bt);
    free(D);
    free(W);
    free(C);
    return rc;
}

int lm_dtw_banded(const float *x, size_t N, const float *y, size_t M, const size_t *lo, const size_t *hi,
                  enum lm_align_steps steps, int subsequence, double *cost, size_t **path_i, size_t **path_j,
                  size_t *path_len) {
    float *xf = frame_major(x, N), *yf = frame_major(y, M);
    int rc = -1;
    if (xf && yf) rc = dtw_fm(xf, N, yf, M, lo, hi, steps, subsequence, 0.0, cost, path_i, path_j, path_len);
    free(xf);
    free(yf);
    return rc;
}

/* ------------------------------------------------------------ multiscale */

static float *downsample(const float *x, size_t N, size_t k, size_t *Nc) {
    size_t n = (N + k - 1) / k;
    float *c = lm_calloc(12 * n, sizeof *c);
    if (!c) return NULL;
    for (size_t i = 0; i < N; i++)
        for (int q = 0; q < 12; q++) c[12 * (i / k) + (size_t)q] += x[12 * i + (size_t)q];
    for (size_t i = 0; i < n; i++) {
        double ss = 0;
        for (int q = 0; q < 12; q++) ss += (double)c[12 * i + (size_t)q] * c[12 * i + (size_t)q];
        for (int q = 0; q < 12; q++)
            c[12 * i + (size_t)q] = ss > 1e-12 ? (float)(c[12 * i + (size_t)q] / sqrt(ss)) : (float)(1.0 / sqrt(12.0));
    }
    *Nc = n;
    return c;
}

typedef struct {
    enum lm_align_steps steps;
    int subseq;
    size_t max_cells, radius;
    int confidence;
    /* outputs */
    double coarse_cost, null_cost;
    int levels;
    size_t band_cells;
    double penalty;
    size_t factor; /* frames of the input per frame of the current level */
} ms_ctx;

/* The null distribution: the same DTW against 8 versions of x that keep its pitch content and
 * key but not its musical order: time-reversed, and cut into blocks of 2 s (at this level's rate)
 * put in 7 fixed shuffled orders. (Transposed versions, the first idea, only test the key: other
 * pieces in the same key reached the right piece's confidence.) */
static double null_cost(const float *x, size_t N, const float *y, size_t M, size_t level_k, const ms_ctx *cx) {
    enum { TRIALS = 8 };
    size_t block = (size_t)(2.0 / (FRAME_SEC * (double)level_k));
    if (block < 2) block = 2;
    size_t nb = (N + block - 1) / block;
    size_t step = nb / 2 + 1; /* blocks in the order b -> (b * step + s) mod nb, step coprime with nb */
    for (;; step++) {
        size_t a = step, b = nb;
        while (b) {
            size_t t = a % b;
            a = b, b = t;
        }
        if (a == 1) break;
    }
    double costs[TRIALS];
    int failed = 0;
    /* The trials are independent: one thread each (lm_threads() workers). */
#pragma omp parallel for num_threads(lm_threads()) schedule(dynamic, 1) reduction(| : failed)
    for (int s = 0; s < TRIALS; s++) {
        costs[s] = NAN;
        float *r = malloc(12 * N * sizeof *r);
        if (!r) {
            failed = 1;
            continue;
        }
        if (s == 0 || nb < 3) {
            for (size_t i = 0; i < N; i++) memcpy(r + 12 * i, x + 12 * (N - 1 - i), 12 * sizeof *r);
        } else {
            size_t o = 0;
            for (size_t b = 0; b < nb; b++) {
                size_t src = (b * step + (size_t)s) % nb, i0 = src * block, i1 = i0 + block < N ? i0 + block : N;
                for (size_t i = i0; i < i1 && o < N; i++, o++) memcpy(r + 12 * o, x + 12 * i, 12 * sizeof *r);
            }
        }
        double c;
        if (dtw_fm(r, N, y, M, NULL, NULL, cx->steps, cx->subseq, cx->penalty, &c, NULL, NULL, NULL) == 0)
            costs[s] = c;
        free(r);
    }
    double sum = 0;
    int n = 0;
    for (int s = 0; s < TRIALS; s++)
        if (isfinite(costs[s])) sum += costs[s], n++;
    return (n && !failed) ? sum / n : NAN;
}

static int align_ms(const float *x, size_t N, const float *y, size_t M, ms_ctx *cx, double *cost, size_t **pi,
                    size_t **pj, size_t *plen) {
    if ((double)N * (double)M <= (double)cx->max_cells || N < 16 || M < 16) {
        cx->levels = 1;
        cx->band_cells = N * M;
        if (dtw_fm(x, N, y, M, NULL, NULL, cx->steps, cx->subseq, cx->penalty, cost, pi, pj, plen) != 0) return -1;
        cx->coarse_cost = *cost;
        cx->null_cost = cx->confidence ? null_cost(x, N, y, M, cx->factor, cx) : NAN;
        return 0;
    }
    size_t k = (size_t)ceil(sqrt((double)N * (double)M / (double)cx->max_cells));
    if (k < 2) k = 2;
    if (k > 8) k = 8;
    size_t Nc, Mc;
    float *xc = downsample(x, N, k, &Nc), *yc = downsample(y, M, k, &Mc);
    size_t *ci = NULL, *cj = NULL, clen = 0, *lo = NULL, *hi = NULL;
    double ccost;
    int rc = -1;
    if (!xc || !yc) goto out;
    cx->factor *= k;
    int crc = align_ms(xc, Nc, yc, Mc, cx, &ccost, &ci, &cj, &clen);
    cx->factor /= k;
    if (crc != 0) goto out;
    if (!isfinite(ccost) || clen == 0) {
        *cost = INFINITY;
        rc = 0;
        goto out;
    }
    lo = lm_malloc(N, sizeof *lo);
    hi = lm_calloc(N, sizeof *hi);
    if (!lo || !hi) goto out;
    for (size_t i = 0; i < N; i++) lo[i] = M;
    size_t R = cx->radius;
    for (size_t p = 0; p < clen; p++) {
        size_t r0 = ci[p] * k > R ? ci[p] * k - R : 0, r1 = (ci[p] + 1) * k + R;
        size_t c0 = cj[p] * k > R ? cj[p] * k - R : 0, c1 = (cj[p] + 1) * k + R;
        if (r1 > N) r1 = N;
        if (c1 > M) c1 = M;
        for (size_t r = r0; r < r1; r++) {
            if (c0 < lo[r]) lo[r] = c0;
            if (c1 > hi[r]) hi[r] = c1;
        }
    }
    size_t cells = 0;
    for (size_t i = 0; i < N; i++) {
        if (lo[i] >= hi[i]) lo[i] = hi[i] = i > 0 ? hi[i - 1] : 0; /* cannot happen for a connected path */
        cells += hi[i] - lo[i];
    }
    int levels = cx->levels;
    if (dtw_fm(x, N, y, M, lo, hi, cx->steps, cx->subseq, cx->penalty, cost, pi, pj, plen) != 0) goto out;
    cx->levels = levels + 1;
    cx->band_cells = cells;
    rc = 0;
out:
    free(xc);
    free(yc);
    free(ci);
    free(cj);
    free(lo);
    free(hi);
    return rc;
}

int lm_align(const float *score, size_t N, const float *audio, size_t M, const lm_align_options *opt,
             lm_align_result *res) {
    memset(res, 0, sizeof *res);
    res->null_cost = res->confidence = res->coarse_cost = NAN;
    res->cost = INFINITY;
    lm_align_options o = opt ? *opt : (lm_align_options){.penalty = -1};
    if (!o.max_cells) o.max_cells = 4000000;
    if (!o.radius) o.radius = 25;
    if (!(o.excerpt_ratio > 0)) o.excerpt_ratio = 0.5;
    if (N == 0 || M == 0) {
        lm_set_error("cannot align an empty %s", N == 0 ? "score" : "recording");
        return -1;
    }
    int subseq = o.mode == LM_ALIGN_SUBSEQUENCE || (o.mode == LM_ALIGN_AUTO && (double)M < o.excerpt_ratio * (double)N);
    if (o.penalty < 0) o.penalty = subseq ? 1.0 : 0.0;
    float *sf = frame_major(score, N), *af = frame_major(audio, M);
    int rc = -1;
    if (!sf || !af) goto out;
    ms_ctx cx = {o.steps, subseq, o.max_cells, o.radius, !o.no_confidence, NAN, NAN, 0, 0, o.penalty, 1};
    size_t *pi = NULL, *pj = NULL, plen = 0;
    double cost;
    /* Rows are the sequence aligned in full: the score, or the recording when it is an excerpt. */
    if (subseq) rc = align_ms(af, M, sf, N, &cx, &cost, &pi, &pj, &plen);
    else rc = align_ms(sf, N, af, M, &cx, &cost, &pi, &pj, &plen);
    if (rc != 0) goto out;
    if (!isfinite(cost) || plen == 0) {
        free(pi);
        free(pj);
        lm_set_error("no alignment path fits (the recording and the score differ too much in length for the "
                     "chosen steps)");
        rc = -1;
        goto out;
    }
    res->score_frame = subseq ? pj : pi;
    res->audio_frame = subseq ? pi : pj;
    res->len = plen;
    res->cost = cost;
    res->coarse_cost = cx.coarse_cost;
    res->null_cost = cx.null_cost;
    res->confidence = isfinite(cx.null_cost) && cx.null_cost > 0 ? 1.0 - cx.coarse_cost / cx.null_cost : NAN;
    res->subsequence = subseq;
    res->levels = cx.levels;
    res->band_cells = cx.band_cells;
out:
    free(sf);
    free(af);
    return rc;
}

void lm_align_result_free(lm_align_result *r) {
    free(r->score_frame);
    free(r->audio_frame);
    memset(r, 0, sizeof *r);
}

/* Range [*amin, *amax] of the audio frames that the path pairs with score frame s (path entries
 * are sorted by score frame). A frame the path skips (slope steps) gets the interpolated value. */
static void audio_range(const lm_align_result *r, size_t s, double *amin, double *amax) {
    size_t lo = 0, hi = r->len; /* first entry with score_frame >= s */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r->score_frame[mid] < s) lo = mid + 1;
        else hi = mid;
    }
    if (lo < r->len && r->score_frame[lo] == s) {
        size_t p = lo;
        while (p + 1 < r->len && r->score_frame[p + 1] == s) p++;
        *amin = (double)r->audio_frame[lo];
        *amax = (double)r->audio_frame[p];
        return;
    }
    if (lo == 0 || lo == r->len) {
        *amin = *amax = (double)r->audio_frame[lo == 0 ? 0 : r->len - 1];
        return;
    }
    double s0 = (double)r->score_frame[lo - 1], s1 = (double)r->score_frame[lo];
    double a0 = (double)r->audio_frame[lo - 1], a1 = (double)r->audio_frame[lo];
    *amin = *amax = a0 + (a1 - a0) * ((double)s - s0) / (s1 - s0);
}

/* Audio time of the boundary between score frames s - 1 and s (score time 0.04 (s - 0.5)): the
 * midpoint between the last audio frame paired with s - 1 and the first paired with s; before the
 * first and after the last frame of the path, the outer edge of its first / last audio frames. */
static double boundary_sec(const lm_align_result *r, size_t s) {
    size_t first = r->score_frame[0], last = r->score_frame[r->len - 1];
    double mn, mx, mn1, mx1;
    if (s <= first) {
        audio_range(r, first, &mn, &mx);
        return FRAME_SEC * (mn - 0.5);
    }
    if (s > last) {
        audio_range(r, last, &mn, &mx);
        return FRAME_SEC * (mx + 0.5);
    }
    audio_range(r, s - 1, &mn, &mx);
    audio_range(r, s, &mn1, &mx1);
    return FRAME_SEC * 0.5 * (mx + mn1);
}

double lm_align_map(const lm_align_result *r, double score_sec) {
    if (!r->len) return NAN;
    /* Piecewise linear through the frame boundaries; b is in units of boundaries. */
    double b = score_sec / FRAME_SEC + 0.5;
    double first = (double)r->score_frame[0], last = (double)r->score_frame[r->len - 1] + 1;
    if (b <= first) return boundary_sec(r, (size_t)first);
    if (b >= last) return boundary_sec(r, (size_t)last);
    size_t b0 = (size_t)floor(b);
    double t0 = boundary_sec(r, b0), t1 = boundary_sec(r, b0 + 1);
    return t0 + (t1 - t0) * (b - (double)b0);
}

double lm_align_map_end(const lm_align_result *r, const lm_score *s, double end_sec) {
    double onset = end_sec;
    for (size_t k = 0; k < s->n; k++) {
        const lm_score_note *nt = &s->notes[k];
        if (nt->onset >= end_sec) break;
        if (fabs(nt->offset - end_sec) < 0.03 && (onset == end_sec || nt->onset > onset)) onset = nt->onset;
    }
    double dur = end_sec - onset;
    if (dur < 2 * FRAME_SEC) return lm_align_map(r, end_sec);
    double first = FRAME_SEC * (double)r->score_frame[0];
    double w = fmin(4.0, onset - first), slope;
    if (w >= 1.0) slope = (lm_align_map(r, onset) - lm_align_map(r, onset - w)) / w;
    else {
        double span = FRAME_SEC * (double)(r->score_frame[r->len - 1] - r->score_frame[0]);
        slope = span > 0 ? FRAME_SEC * (double)(r->audio_frame[r->len - 1] - r->audio_frame[0]) / span : 1.0;
    }
    if (!(slope > 0.25 && slope < 4.0)) return lm_align_map(r, end_sec);
    return lm_align_map(r, onset) + dur * slope;
}
