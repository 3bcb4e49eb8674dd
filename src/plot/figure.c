#include "plot/figure.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "match/sdtw.h"

#define FRAME_SEC 0.04

/* ---- the match */

int lm_plot_match_compute(const float *query, size_t N, const float *chroma, size_t T, lm_plot_match *m) {
    memset(m, 0, sizeof *m);
    if (N == 0 || T == 0) {
        lm_set_error("nothing to plot: empty theme or recording");
        return -1;
    }
    m->N = N;
    m->T = T;
    m->matching = lm_malloc(T, sizeof *m->matching);
    if (!m->matching) return -1;
    lm_sdtw_result r;
    if (lm_sdtw(query, N, chroma, T, &r, m->matching) != 0) {
        lm_plot_match_free(m);
        return -1;
    }
    m->distance = r.distance;
    m->start = r.start;
    m->end = r.end;
    if (!isfinite(r.distance)) return 0;
    /* The path: the accumulated cost over the columns from which (N-1, end) can be reached,
     * [end - 2(N-1), end] (their costs equal the full matrix's), backtracked as librosa does. */
    size_t w0 = r.end >= 2 * (N - 1) ? r.end - 2 * (N - 1) : 0, W = r.end - w0 + 1;
    float *win = lm_malloc(12 * W, sizeof *win);
    double *D = lm_malloc(N * W, sizeof *D);
    m->path = lm_malloc(2 * (N + W), sizeof *m->path);
    if (!win || !D || !m->path) {
        free(win);
        free(D);
        lm_plot_match_free(m);
        return -1;
    }
    for (size_t k = 0; k < 12; k++) memcpy(win + k * W, chroma + k * T + w0, W * sizeof *win);
    if (lm_sdtw_full(query, N, win, W, D, NULL) != 0) {
        free(win);
        free(D);
        lm_plot_match_free(m);
        return -1;
    }
    size_t n = N - 1, c = W - 1, len = 0;
    for (;;) {
        m->path[2 * len] = n;
        m->path[2 * len + 1] = c + w0;
        len++;
        if (n == 0) break;
        float dot = 0;
        for (size_t k = 0; k < 12; k++) dot += query[k * N + n] * win[k * W + c];
        double cost = (double)(1.0f - dot);
        double d21 = (n >= 2 && c >= 1) ? D[(n - 2) * W + c - 1] : INFINITY;
        double d12 = c >= 2 ? D[(n - 1) * W + c - 2] : INFINITY;
        double d11 = c >= 1 ? D[(n - 1) * W + c - 1] : INFINITY;
        double best = d21 + 2 * cost;
        int step = 0;
        if (d12 + cost < best) best = d12 + cost, step = 1;
        if (d11 + cost < best) best = d11 + cost, step = 2;
        if (!isfinite(best) || len >= N + W) break; /* cannot happen from a finite end */
        n -= step == 0 ? 2 : 1;
        c -= step == 1 ? 2 : 1;
    }
    /* Reverse into time order. */
    for (size_t i = 0; i < len / 2; i++) {
        size_t j = len - 1 - i;
        size_t a = m->path[2 * i], b = m->path[2 * i + 1];
        m->path[2 * i] = m->path[2 * j];
        m->path[2 * i + 1] = m->path[2 * j + 1];
        m->path[2 * j] = a;
        m->path[2 * j + 1] = b;
    }
    m->path_len = len;
    free(win);
    free(D);
    return 0;
}

void lm_plot_match_free(lm_plot_match *m) {
    free(m->matching);
    free(m->path);
    memset(m, 0, sizeof *m);
}

/* ---- drawing helpers */

static const lm_rgb BLACK = {0, 0, 0}, GREY = {110, 110, 110}, LIGHT = {225, 225, 225}, RED = {214, 39, 40},
                    BLUE = {31, 90, 160};

enum { CMAP_GRAY, CMAP_VIRIDIS };

static lm_rgb colormap(int cmap, double v) {
    if (!(v >= 0)) v = 0;
    if (v > 1) v = 1;
    if (cmap == CMAP_GRAY) {
        unsigned char g = (unsigned char)lround(255 * (1 - v));
        return (lm_rgb){g, g, g};
    }
    static const unsigned char anchors[9][3] = {{68, 1, 84},    {71, 44, 122},  {59, 81, 139},
                                                {44, 113, 142}, {33, 144, 141}, {39, 173, 129},
                                                {92, 200, 99},  {170, 220, 50}, {253, 231, 37}};
    double p = v * 8;
    int i = (int)floor(p);
    if (i >= 8) i = 7;
    double f = p - i;
    lm_rgb c;
    c.r = (unsigned char)lround(anchors[i][0] + f * (anchors[i + 1][0] - anchors[i][0]));
    c.g = (unsigned char)lround(anchors[i][1] + f * (anchors[i + 1][1] - anchors[i][1]));
    c.b = (unsigned char)lround(anchors[i][2] + f * (anchors[i + 1][2] - anchors[i][2]));
    return c;
}

typedef struct {
    double x, y, w, h;
} box;

/* Tick step of about `target` ticks over range: 1, 2 or 5 x 10^k. */
static double nice_step(double range, int target) {
    if (!(range > 0)) return 1;
    double raw = range / target, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void format_tick(char *buf, size_t n, double v, double step) {
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (decimals > 4) decimals = 4;
    if (fabs(v) < step * 1e-6) v = 0;
    snprintf(buf, n, "%.*f", decimals, v);
}

/* Time ticks under a box covering [t0, t1] seconds. */
static void x_ticks(lm_canvas *c, box b, double t0, double t1, int k) {
    if (!(t1 > t0)) return;
    double step = nice_step(t1 - t0, b.w / (70.0 * k) < 2 ? 2 : (int)(b.w / (70.0 * k)));
    for (double t = ceil(t0 / step - 1e-9) * step; t <= t1 + 1e-9 * step; t += step) {
        double x = b.x + (t - t0) / (t1 - t0) * b.w;
        lm_canvas_line(c, x, b.y + b.h, x, b.y + b.h + 3 * k, BLACK, k);
        char lab[32];
        format_tick(lab, sizeof lab, t, step);
        lm_canvas_text(c, x, b.y + b.h + 13 * k, lab, BLACK, k, LM_ANCHOR_MIDDLE, 0);
    }
}

static void y_tick(lm_canvas *c, box b, double y, const char *label, int k) {
    lm_canvas_line(c, b.x - 3 * k, y, b.x, y, BLACK, k);
    lm_canvas_text(c, b.x - 5 * k, y + 3.5 * k, label, BLACK, k, LM_ANCHOR_END, 0);
}

static void title(lm_canvas *c, box b, const char *text, int k) {
    lm_canvas_text(c, b.x, b.y - 6 * k, text, BLACK, k, LM_ANCHOR_START, 0);
}

/* Heatmap of value(r, col) = data[r * stride + col0 + col], r < rows (drawn bottom up),
 * col < cols, mapped from [vmin, vmax]; columns averaged when there are many more than pixels. */
static void heatmap(lm_canvas *c, box b, const float *data, size_t rows, size_t stride, size_t col0, size_t cols,
                    double vmin, double vmax, int cmap) {
    if (rows == 0 || cols == 0) return;
    size_t iw = cols, maxw = (size_t)ceil(2 * b.w);
    if (maxw < 1) maxw = 1;
    if (iw > maxw) iw = maxw;
    unsigned char *img = malloc(iw * rows * 3);
    if (!img) return; /* the canvas stays usable; the panel is left empty */
    for (size_t j = 0; j < iw; j++) {
        size_t a = j * cols / iw, e = (j + 1) * cols / iw;
        if (e <= a) e = a + 1;
        for (size_t r = 0; r < rows; r++) {
            double s = 0;
            for (size_t q = a; q < e; q++) s += data[r * stride + col0 + q];
            double v = (s / (double)(e - a) - vmin) / (vmax - vmin);
            lm_rgb col = colormap(cmap, v);
            unsigned char *p = img + ((rows - 1 - r) * iw + j) * 3;
            p[0] = col.r, p[1] = col.g, p[2] = col.b;
        }
    }
    lm_canvas_image(c, b.x, b.y, b.w, b.h, img, (int)iw, (int)rows);
    free(img);
    lm_canvas_outline(c, b.x, b.y, b.w, b.h, BLACK, 1);
}

static const char *const pitch_names[12] = {"C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"};

static void chroma_labels(lm_canvas *c, box b, int k) {
    for (int p = 0; p < 12; p++) {
        if (b.h < 108 * k && (p == 1 || p == 3 || p == 6 || p == 8 || p == 10)) continue;
        y_tick(c, b, b.y + b.h - (p + 0.5) * b.h / 12, pitch_names[p], k);
    }
}

/* A chroma sequence (12 x total frames) from frame f0, n frames. */
static void chroma_panel(lm_canvas *c, box b, const float *x, size_t total, size_t f0, size_t n, int k) {
    heatmap(c, b, x, 12, total, f0, n, 0, 1, CMAP_GRAY);
    chroma_labels(c, b, k);
    x_ticks(c, b, f0 * FRAME_SEC, (f0 + n) * FRAME_SEC, k);
}

/* The matching function over the whole recording: the match [start, end] shaded, its end marked,
 * and (optional) an excerpt [e0, e1) shaded lightly. */
static void matching_panel(lm_canvas *c, box b, const lm_plot_match *m, size_t e0, size_t e1, int k) {
    double lo = INFINITY, hi = -INFINITY;
    for (size_t t = 0; t < m->T; t++)
        if (isfinite(m->matching[t])) lo = fmin(lo, m->matching[t]), hi = fmax(hi, m->matching[t]);
    if (!isfinite(lo)) lo = 0, hi = 1;
    lo = fmax(0, lo - 0.05 * (hi - lo));
    if (hi - lo < 1e-6) hi = lo + 0.1;
    double span = m->T * FRAME_SEC;
#define TX(t) (b.x + (t) / span * b.w)
#define VY(v) (b.y + b.h - ((v) - lo) / (hi - lo) * b.h)
    if (e1 > e0 && (e0 > 0 || e1 < m->T))
        lm_canvas_fill(c, TX(e0 * FRAME_SEC), b.y, (e1 - e0) * FRAME_SEC / span * b.w, b.h, LIGHT, 1);
    if (isfinite(m->distance)) {
        double x0 = TX(m->start * FRAME_SEC), x1 = TX((m->end + 1) * FRAME_SEC);
        lm_canvas_fill(c, x0, b.y, fmax(x1 - x0, 1.5 * k), b.h, RED, 0.25);
    }
    double step = nice_step(hi - lo, 3);
    for (double v = ceil(lo / step) * step; v <= hi + 1e-9; v += step) {
        char lab[32];
        format_tick(lab, sizeof lab, v, step);
        lm_canvas_line(c, b.x, VY(v), b.x + b.w, VY(v), LIGHT, 1);
        y_tick(c, b, VY(v), lab, k);
    }
    double *xy = malloc(2 * m->T * sizeof *xy);
    if (xy) {
        for (size_t t = 0; t < m->T; t++) {
            xy[2 * t] = TX((t + 0.5) * FRAME_SEC);
            xy[2 * t + 1] = isfinite(m->matching[t]) ? VY(m->matching[t]) : NAN;
        }
        lm_canvas_polyline(c, xy, m->T, BLUE, k);
        free(xy);
    }
    if (isfinite(m->distance)) lm_canvas_disc(c, TX((m->end + 0.5) * FRAME_SEC), VY(m->distance), 3.5 * k, RED);
    lm_canvas_outline(c, b.x, b.y, b.w, b.h, BLACK, 1);
    x_ticks(c, b, 0, span, k);
#undef TX
#undef VY
}

static int clamp_scale(int scale) { return scale < 1 ? 1 : scale > 8 ? 8 : scale; }

static void header(lm_canvas *c, const lm_plot_input *in, int k, double x, double y) {
    char buf[600];
    const lm_plot_match *m = in->match;
    const char *rec = in->recording && *in->recording ? in->recording : "recording";
    if (isfinite(m->distance))
        snprintf(buf, sizeof buf, "%.200s: distance %.4f, match %.2f-%.2f s", rec, m->distance,
                 m->start * FRAME_SEC, (m->end + 1) * FRAME_SEC);
    else snprintf(buf, sizeof buf, "%.200s: the theme is too long to match in this recording", rec);
    lm_canvas_text(c, x, y, buf, BLACK, k, LM_ANCHOR_START, 0);
    lm_canvas_title(c, buf);
}

/* ---- the page's figure */

#define M_LEFT 44
#define M_RIGHT 14

int lm_plot_figure_match_height(void) { return 340; }

lm_canvas *lm_plot_figure_match(const lm_plot_input *in, int scale) {
    int k = clamp_scale(scale);
    const lm_plot_match *m = in->match;
    lm_canvas *c = lm_canvas_new(LM_FIG_MATCH_WIDTH * k, lm_plot_figure_match_height() * k);
    if (!c) return NULL;
    header(c, in, k, M_LEFT * k, 16 * k);
    double gap = 28 * k, pw = ((LM_FIG_MATCH_WIDTH - M_LEFT - M_RIGHT) * k - gap) / 2;
    box left = {M_LEFT * k, 48 * k, pw, 120 * k}, right = {M_LEFT * k + pw + gap, 48 * k, pw, 120 * k};
    char buf[300];
    snprintf(buf, sizeof buf, "theme%s%.200s", in->theme && *in->theme ? ": " : "", in->theme ? in->theme : "");
    if (lm_canvas_text_width(buf, k) > pw) snprintf(buf + (size_t)(pw / (6 * k)) - 3, 4, "...");
    title(c, left, buf, k);
    chroma_panel(c, left, in->query, m->N, 0, m->N, k);
    if (isfinite(m->distance)) {
        snprintf(buf, sizeof buf, "matched passage (%s)", in->features && *in->features ? in->features : "features");
        title(c, right, buf, k);
        chroma_panel(c, right, in->chroma, m->T, m->start, m->end - m->start + 1, k);
    }
    box bottom = {M_LEFT * k, 214 * k, (LM_FIG_MATCH_WIDTH - M_LEFT - M_RIGHT) * k, 90 * k};
    title(c, bottom, "matching function over the whole recording (the match shaded)", k);
    matching_panel(c, bottom, m, 0, 0, k);
    lm_canvas_text(c, bottom.x + bottom.w, bottom.y + bottom.h + 28 * k, "time (s)", GREY, k, LM_ANCHOR_END, 0);
    return c;
}

/* ---- the Figure-4 style figure */

#define F_LEFT 56
#define F_RIGHT 16
#define F_HCQT 150
#define F_CHROMA 108
#define F_COST 120
#define F_MATCHING 90
#define F_PANEL_EXTRA 42 /* title above, ticks below */

int lm_plot_figure_full_height(int with_hcqt) {
    int h = 26 + (F_CHROMA + F_CHROMA + F_COST + F_MATCHING) + 4 * F_PANEL_EXTRA + 20;
    if (with_hcqt) h += F_HCQT + F_PANEL_EXTRA;
    return h;
}

lm_canvas *lm_plot_figure_full(const lm_plot_input *in, int scale) {
    int k = clamp_scale(scale);
    const lm_plot_match *m = in->match;
    int with_hcqt = in->hcqt && in->hcqt_bins > 0 && in->hcqt_bpo > 0;
    lm_canvas *c = lm_canvas_new(LM_FIG_FULL_WIDTH * k, lm_plot_figure_full_height(with_hcqt) * k);
    if (!c) return NULL;
    header(c, in, k, F_LEFT * k, 16 * k);
    /* The excerpt: the whole recording up to 30 s, else the match with as much again (at least
     * 5 s) on either side. */
    size_t e0 = 0, e1 = m->T;
    if (m->T * FRAME_SEC > 30 && isfinite(m->distance)) {
        size_t len = m->end - m->start + 1, pad = len > 125 ? len : 125;
        e0 = m->start > pad ? m->start - pad : 0;
        e1 = m->end + 1 + pad < m->T ? m->end + 1 + pad : m->T;
    }
    size_t E = e1 - e0;
    double w = (LM_FIG_FULL_WIDTH - F_LEFT - F_RIGHT) * k, y = 26 * k + 20 * k;
    char buf[300];
    const char *feat = in->features && *in->features ? in->features : "chroma";
    if (with_hcqt) {
        box b = {F_LEFT * k, y, w, F_HCQT * k};
        title(c, b, "(a) HCQT, harmonic h = 1 (log magnitude)", k);
        size_t he1 = e1 < in->hcqt_T ? e1 : in->hcqt_T, hE = he1 > e0 ? he1 - e0 : 0;
        box hb = b;
        if (hE < E) hb.w = b.w * (double)hE / (double)E;
        heatmap(c, hb, in->hcqt, (size_t)in->hcqt_bins, in->hcqt_T, e0, hE, 0, 1, CMAP_VIRIDIS);
        lm_canvas_outline(c, b.x, b.y, b.w, b.h, BLACK, 1);
        for (int o = 0; o * in->hcqt_bpo < in->hcqt_bins; o++) {
            snprintf(buf, sizeof buf, "C%d", o + 1);
            y_tick(c, b, b.y + b.h - (o * in->hcqt_bpo + 0.5) * b.h / in->hcqt_bins, buf, k);
        }
        x_ticks(c, b, e0 * FRAME_SEC, e1 * FRAME_SEC, k);
        y += (F_HCQT + F_PANEL_EXTRA) * k;
    }
    box b = {F_LEFT * k, y, w, F_CHROMA * k};
    snprintf(buf, sizeof buf, "(%c) chroma features (%s), the match outlined", with_hcqt ? 'b' : 'a', feat);
    title(c, b, buf, k);
    chroma_panel(c, b, in->chroma, m->T, e0, E, k);
    if (isfinite(m->distance) && E > 0) {
        double x0 = b.x + (double)(m->start - e0) / E * b.w, x1 = b.x + (double)(m->end + 1 - e0) / E * b.w;
        lm_canvas_outline(c, x0, b.y, x1 - x0, b.h, RED, 2 * k);
    }
    y += (F_CHROMA + F_PANEL_EXTRA) * k;
    b = (box){F_LEFT * k, y, w, F_CHROMA * k};
    snprintf(buf, sizeof buf, "(%c) theme%s%.200s", with_hcqt ? 'c' : 'b', in->theme && *in->theme ? ": " : "",
             in->theme ? in->theme : "");
    if (lm_canvas_text_width(buf, k) > w) snprintf(buf + (size_t)(w / (6 * k)) - 3, 4, "...");
    title(c, b, buf, k);
    chroma_panel(c, b, in->query, m->N, 0, m->N, k);
    y += (F_CHROMA + F_PANEL_EXTRA) * k;
    b = (box){F_LEFT * k, y, w, F_COST * k};
    snprintf(buf, sizeof buf, "(%c) cost matrix (cosine distance, white = low; theme time up) and the alignment path",
             with_hcqt ? 'd' : 'c');
    title(c, b, buf, k);
    float *cost = E ? malloc(m->N * E * sizeof *cost) : NULL;
    if (cost) {
        for (size_t n = 0; n < m->N; n++)
            for (size_t t = 0; t < E; t++) {
                float dot = 0;
                for (size_t q = 0; q < 12; q++) dot += in->query[q * m->N + n] * in->chroma[q * m->T + e0 + t];
                cost[n * E + t] = 1.0f - dot;
            }
        heatmap(c, b, cost, m->N, E, 0, E, 0, 1, CMAP_GRAY);
        free(cost);
    }
    double th = m->N * FRAME_SEC, ystep = nice_step(th, 3);
    for (double v = 0; v <= th + 1e-9; v += ystep) {
        char lab[32];
        format_tick(lab, sizeof lab, v, ystep);
        y_tick(c, b, b.y + b.h - v / th * b.h, lab, k);
    }
    if (m->path_len && E) {
        double *xy = malloc(2 * m->path_len * sizeof *xy);
        if (xy) {
            for (size_t i = 0; i < m->path_len; i++) {
                xy[2 * i] = b.x + ((double)m->path[2 * i + 1] - (double)e0 + 0.5) / E * b.w;
                xy[2 * i + 1] = b.y + b.h - ((double)m->path[2 * i] + 0.5) / m->N * b.h;
            }
            lm_canvas_polyline(c, xy, m->path_len, RED, 2 * k);
            free(xy);
        }
    }
    x_ticks(c, b, e0 * FRAME_SEC, e1 * FRAME_SEC, k);
    y += (F_COST + F_PANEL_EXTRA) * k;
    b = (box){F_LEFT * k, y, w, F_MATCHING * k};
    snprintf(buf, sizeof buf, "(%c) matching function over the whole recording (the match shaded%s)",
             with_hcqt ? 'e' : 'd', e0 > 0 || e1 < m->T ? ", the excerpt grey" : "");
    title(c, b, buf, k);
    matching_panel(c, b, m, e0, e1, k);
    lm_canvas_text(c, b.x + b.w, b.y + b.h + 28 * k, "time (s)", GREY, k, LM_ANCHOR_END, 0);
    return c;
}
