#include "train/plot.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"

#define W 800
#define H 500
#define ML 70 /* margins */
#define MR 20
#define MT 30
#define MB 50

typedef struct {
    unsigned char *px;
} canvas;

static void put(canvas *c, int x, int y, const unsigned char rgb[3]) {
    if (x < 0 || y < 0 || x >= W || y >= H) return;
    memcpy(c->px + ((size_t)y * W + (size_t)x) * 3, rgb, 3);
}

static void line(canvas *c, double x0, double y0, double x1, double y1, const unsigned char rgb[3], int thick) {
    int n = (int)(fmax(fabs(x1 - x0), fabs(y1 - y0)) + 1);
    for (int i = 0; i <= n; i++) {
        double t = n ? (double)i / n : 0;
        int x = (int)lround(x0 + t * (x1 - x0)), y = (int)lround(y0 + t * (y1 - y0));
        for (int dx = -thick; dx <= thick; dx++)
            for (int dy = -thick; dy <= thick; dy++) put(c, x + dx, y + dy, rgb);
    }
}

/* 3x5 glyphs, rows top to bottom, 3 bits each (MSB left). */
static const struct {
    char ch;
    unsigned short rows[5];
} glyphs[] = {
    {'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}}, {'2', {7, 1, 7, 4, 7}}, {'3', {7, 1, 7, 1, 7}},
    {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 7, 1, 7}}, {'6', {7, 4, 7, 5, 7}}, {'7', {7, 1, 1, 1, 1}},
    {'8', {7, 5, 7, 5, 7}}, {'9', {7, 5, 7, 1, 7}}, {'.', {0, 0, 0, 0, 2}}, {'-', {0, 0, 7, 0, 0}},
    {'a', {0, 7, 1, 7, 7}}, {'c', {0, 7, 4, 4, 7}}, {'d', {1, 1, 7, 5, 7}}, {'e', {7, 5, 7, 4, 7}},
    {'h', {4, 4, 7, 5, 5}}, {'i', {2, 0, 2, 2, 2}}, {'l', {6, 2, 2, 2, 7}}, {'n', {0, 6, 5, 5, 5}},
    {'o', {0, 7, 5, 5, 7}}, {'p', {7, 5, 7, 4, 4}}, {'r', {0, 7, 4, 4, 4}}, {'s', {7, 4, 7, 1, 7}},
    {'t', {4, 7, 4, 4, 7}}, {'v', {0, 5, 5, 5, 2}}, {'(', {1, 2, 2, 2, 1}}, {')', {4, 2, 2, 2, 4}},
};

static void text(canvas *c, int x, int y, const char *s, const unsigned char rgb[3]) {
    const int scale = 2;
    for (; *s; s++, x += 4 * scale) {
        for (size_t g = 0; g < sizeof glyphs / sizeof glyphs[0]; g++) {
            if (glyphs[g].ch != *s) continue;
            for (int r = 0; r < 5; r++)
                for (int b = 0; b < 3; b++)
                    if (glyphs[g].rows[r] & (4 >> b))
                        for (int dx = 0; dx < scale; dx++)
                            for (int dy = 0; dy < scale; dy++) put(c, x + b * scale + dx, y + r * scale + dy, rgb);
        }
    }
}

int lm_plot_losses(const char *png_path, const double *train, const double *valid, size_t n) {
    if (n == 0) {
        lm_set_error("no epochs to plot");
        return -1;
    }
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (isfinite(train[i])) lo = fmin(lo, train[i]), hi = fmax(hi, train[i]);
        if (isfinite(valid[i])) lo = fmin(lo, valid[i]), hi = fmax(hi, valid[i]);
    }
    if (!isfinite(lo)) lo = 0, hi = 1;
    if (hi - lo < 1e-9) hi = lo + 1;
    double pad = 0.05 * (hi - lo);
    lo -= pad;
    hi += pad;
    canvas c = {malloc((size_t)W * H * 3)};
    if (!c.px) {
        lm_set_error("out of memory for the plot");
        return -1;
    }
    memset(c.px, 255, (size_t)W * H * 3);
    const unsigned char black[3] = {0, 0, 0}, grey[3] = {220, 220, 220}, blue[3] = {31, 119, 180},
                        orange[3] = {255, 127, 14};
    int pw = W - ML - MR, ph = H - MT - MB;
#define PX(e) (ML + (n > 1 ? (double)(e) / (double)(n - 1) : 0.5) * pw)
#define PY(v) (MT + (1 - ((v) - lo) / (hi - lo)) * ph)
    for (int k = 0; k <= 5; k++) {
        double v = lo + (hi - lo) * k / 5.0;
        line(&c, ML, PY(v), W - MR, PY(v), grey, 0);
        char lab[32];
        snprintf(lab, sizeof lab, "%.3g", v);
        text(&c, 4, (int)PY(v) - 5, lab, black);
    }
    for (int k = 0; k <= 4 && n > 1; k++) {
        size_t e = (size_t)lround((double)(n - 1) * k / 4.0);
        char lab[32];
        snprintf(lab, sizeof lab, "%zu", e + 1);
        text(&c, (int)PX(e) - 4, H - MB + 8, lab, black);
    }
    line(&c, ML, MT, ML, H - MB, black, 0);
    line(&c, ML, H - MB, W - MR, H - MB, black, 0);
    text(&c, W / 2 - 20, H - 20, "epoch", black);
    const double *curves[2] = {train, valid};
    const unsigned char *colors[2] = {blue, orange};
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i + 1 < n; i++)
            if (isfinite(curves[k][i]) && isfinite(curves[k][i + 1]))
                line(&c, PX(i), PY(curves[k][i]), PX(i + 1), PY(curves[k][i + 1]), colors[k], 1);
        if (n == 1 && isfinite(curves[k][0])) line(&c, PX(0) - 3, PY(curves[k][0]), PX(0) + 3, PY(curves[k][0]), colors[k], 1);
    }
    line(&c, W - 170, 12, W - 150, 12, blue, 1);
    text(&c, W - 145, 7, "train", black);
    line(&c, W - 90, 12, W - 70, 12, orange, 1);
    text(&c, W - 65, 7, "valid", black);
    text(&c, 4, 7, "loss", black);
#undef PX
#undef PY
    lm_atomic_file af;
    if (lm_atomic_open(&af, png_path) != 0) {
        free(c.px);
        return -1;
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        lm_atomic_abort(&af);
        free(c.px);
        lm_set_error("cannot encode PNG %s", png_path);
        return -1;
    }
    png_init_io(png, af.fp);
    png_set_IHDR(png, info, W, H, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_text t = {PNG_TEXT_COMPRESSION_NONE, "Title", "leitmotif training: loss per epoch (blue train, orange valid)", 0, 0, 0, 0};
    png_set_text(png, info, &t, 1);
    png_write_info(png, info);
    for (int y = 0; y < H; y++) png_write_row(png, c.px + (size_t)y * W * 3);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(c.px);
    return lm_atomic_commit(&af);
}
