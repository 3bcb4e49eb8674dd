#include "plot/canvas.h"

#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "plot/font.h"

enum op_kind { OP_FILL, OP_OUTLINE, OP_LINE, OP_POLYLINE, OP_DISC, OP_TEXT, OP_IMAGE };

typedef struct {
    enum op_kind kind;
    double x, y, w, h; /* fill/outline/image: rect; line: x0 y0 x1 y1; disc: x y r */
    double width, alpha;
    lm_rgb color;
    int scale, anchor, vertical, iw, ih;
    char *text;
    double *xy; /* polyline points */
    size_t n;
    unsigned char *px; /* image pixels */
} op;

struct lm_canvas {
    int w, h;
    op *ops;
    size_t n, cap;
    int failed;
    char *title;
};

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

lm_canvas *lm_canvas_new(int w, int h) {
    if (w < 1 || h < 1 || w > 8192 || h > 8192) {
        lm_set_error("figure size %d x %d is out of range (1..8192 pixels)", w, h);
        return NULL;
    }
    lm_canvas *c = lm_calloc(1, sizeof *c);
    if (!c) return NULL;
    c->w = w;
    c->h = h;
    return c;
}

void lm_canvas_free(lm_canvas *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->ops[i].text);
        free(c->ops[i].xy);
        free(c->ops[i].px);
    }
    free(c->ops);
    free(c->title);
    free(c);
}

int lm_canvas_width(const lm_canvas *c) { return c->w; }
int lm_canvas_height(const lm_canvas *c) { return c->h; }

void lm_canvas_title(lm_canvas *c, const char *title) {
    free(c->title);
    c->title = dup_str(title);
    if (!c->title) c->failed = 1;
}

static op *push(lm_canvas *c, enum op_kind kind) {
    if (c->failed) return NULL;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        op *p = realloc(c->ops, cap * sizeof *p);
        if (!p) {
            c->failed = 1;
            return NULL;
        }
        c->ops = p;
        c->cap = cap;
    }
    op *o = &c->ops[c->n++];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->alpha = 1;
    return o;
}

void lm_canvas_fill(lm_canvas *c, double x, double y, double w, double h, lm_rgb color, double alpha) {
    op *o = push(c, OP_FILL);
    if (o) *o = (op){.kind = OP_FILL, .x = x, .y = y, .w = w, .h = h, .color = color, .alpha = alpha};
}

void lm_canvas_outline(lm_canvas *c, double x, double y, double w, double h, lm_rgb color, double width) {
    op *o = push(c, OP_OUTLINE);
    if (o) *o = (op){.kind = OP_OUTLINE, .x = x, .y = y, .w = w, .h = h, .color = color, .width = width, .alpha = 1};
}

void lm_canvas_line(lm_canvas *c, double x0, double y0, double x1, double y1, lm_rgb color, double width) {
    op *o = push(c, OP_LINE);
    if (o) *o = (op){.kind = OP_LINE, .x = x0, .y = y0, .w = x1, .h = y1, .color = color, .width = width, .alpha = 1};
}

void lm_canvas_polyline(lm_canvas *c, const double *xy, size_t n, lm_rgb color, double width) {
    if (n == 0) return;
    double *copy = malloc(2 * n * sizeof *copy);
    if (!copy) {
        c->failed = 1;
        return;
    }
    memcpy(copy, xy, 2 * n * sizeof *copy);
    op *o = push(c, OP_POLYLINE);
    if (!o) {
        free(copy);
        return;
    }
    *o = (op){.kind = OP_POLYLINE, .xy = copy, .n = n, .color = color, .width = width, .alpha = 1};
}

void lm_canvas_disc(lm_canvas *c, double x, double y, double radius, lm_rgb color) {
    op *o = push(c, OP_DISC);
    if (o) *o = (op){.kind = OP_DISC, .x = x, .y = y, .w = radius, .color = color, .alpha = 1};
}

void lm_canvas_text(lm_canvas *c, double x, double y, const char *s, lm_rgb color, int scale, int anchor,
                    int vertical) {
    char *copy = dup_str(s);
    if (!copy) {
        c->failed = 1;
        return;
    }
    op *o = push(c, OP_TEXT);
    if (!o) {
        free(copy);
        return;
    }
    *o = (op){.kind = OP_TEXT, .x = x, .y = y, .text = copy, .color = color, .scale = scale < 1 ? 1 : scale,
              .anchor = anchor, .vertical = vertical, .alpha = 1};
}

/* Characters as the PNG draws them: one per byte, except that a UTF-8 sequence is one '?'. */
static size_t text_chars(const char *s) {
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80) n++;
    return n;
}

double lm_canvas_text_width(const char *s, int scale) {
    size_t n = text_chars(s);
    return n ? (double)((int)n * LM_FONT_ADVANCE - 1) * scale : 0;
}

void lm_canvas_image(lm_canvas *c, double x, double y, double w, double h, const unsigned char *rgb, int iw,
                     int ih) {
    if (iw < 1 || ih < 1) return;
    unsigned char *copy = malloc((size_t)iw * (size_t)ih * 3);
    if (!copy) {
        c->failed = 1;
        return;
    }
    memcpy(copy, rgb, (size_t)iw * (size_t)ih * 3);
    op *o = push(c, OP_IMAGE);
    if (!o) {
        free(copy);
        return;
    }
    *o = (op){.kind = OP_IMAGE, .x = x, .y = y, .w = w, .h = h, .px = copy, .iw = iw, .ih = ih, .alpha = 1};
}

/* ---- raster back end */

typedef struct {
    unsigned char *px;
    int w, h;
} raster;

static void plot(raster *r, int x, int y, lm_rgb c, double alpha) {
    if (x < 0 || y < 0 || x >= r->w || y >= r->h) return;
    unsigned char *p = r->px + ((size_t)y * (size_t)r->w + (size_t)x) * 3;
    if (alpha >= 1) {
        p[0] = c.r, p[1] = c.g, p[2] = c.b;
    } else if (alpha > 0) {
        p[0] = (unsigned char)lround(p[0] + alpha * (c.r - p[0]));
        p[1] = (unsigned char)lround(p[1] + alpha * (c.g - p[1]));
        p[2] = (unsigned char)lround(p[2] + alpha * (c.b - p[2]));
    }
}

/* Pixel range [lo, hi) covered by [a, a + len) (pixel i covers [i, i + 1), counted when its centre is in). */
static void span(double a, double len, int limit, int *lo, int *hi) {
    double b = a + len;
    if (len < 0) {
        double t = a;
        a = b;
        b = t;
    }
    double l = ceil(a - 0.5), h = ceil(b - 0.5);
    if (!(l >= 0)) l = 0;
    if (!(h <= limit)) h = limit;
    *lo = (int)l;
    *hi = (int)(h > l ? h : l);
}

static void fill_rect(raster *r, double x, double y, double w, double h, lm_rgb c, double alpha) {
    int x0, x1, y0, y1;
    span(x, w, r->w, &x0, &x1);
    span(y, h, r->h, &y0, &y1);
    for (int yy = y0; yy < y1; yy++)
        for (int xx = x0; xx < x1; xx++) plot(r, xx, yy, c, alpha);
}

static void draw_line(raster *r, double x0, double y0, double x1, double y1, lm_rgb c, double width) {
    if (!isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1)) return;
    double len = fmax(fabs(x1 - x0), fabs(y1 - y0));
    if (len > 1e5) return; /* far off the canvas */
    int n = (int)ceil(len * 2) + 1;
    double half = width / 2;
    int k = (int)ceil(half - 0.5);
    for (int i = 0; i <= n; i++) {
        double t = (double)i / n;
        double x = x0 + t * (x1 - x0), y = y0 + t * (y1 - y0);
        int cx = (int)floor(x), cy = (int)floor(y);
        for (int dy = -k; dy <= k; dy++)
            for (int dx = -k; dx <= k; dx++) {
                double px = cx + dx + 0.5 - x, py = cy + dy + 0.5 - y;
                if (px * px + py * py <= fmax(half * half, 0.5)) plot(r, cx + dx, cy + dy, c, 1);
            }
    }
}

static void draw_text(raster *r, const op *o) {
    int s = o->scale;
    double wdt = lm_canvas_text_width(o->text, s);
    double off = o->anchor == LM_ANCHOR_MIDDLE ? -wdt / 2 : o->anchor == LM_ANCHOR_END ? -wdt : 0;
    int i = 0;
    for (const unsigned char *p = (const unsigned char *)o->text; *p; p++) {
        if ((*p & 0xC0) == 0x80) continue; /* continuation byte of a '?' */
        unsigned char ch = *p >= 0x80 ? '?' : *p;
        for (int row = 0; row < LM_FONT_ROWS; row++)
            for (int col = 0; col < LM_FONT_COLS; col++) {
                if (!lm_font_pixel(ch, row, col)) continue;
                /* glyph coordinates: along = advance + col, across = row - ascent (down from baseline) */
                double along = off + (double)(i * LM_FONT_ADVANCE + col) * s;
                double down = (double)(row - LM_FONT_ASCENT) * s;
                for (int a = 0; a < s; a++)
                    for (int b = 0; b < s; b++) {
                        double px, py;
                        if (!o->vertical) px = o->x + along + a, py = o->y + down + b;
                        else px = o->x + down + b, py = o->y - along - a - 1;
                        plot(r, (int)floor(px), (int)floor(py), o->color, 1);
                    }
            }
        i++;
    }
}

static void draw_image(raster *r, const op *o) {
    int x0, x1, y0, y1;
    span(o->x, o->w, r->w, &x0, &x1);
    span(o->y, o->h, r->h, &y0, &y1);
    for (int y = y0; y < y1; y++) {
        int sy = (int)floor((y + 0.5 - o->y) / o->h * o->ih);
        if (sy < 0) sy = 0;
        if (sy >= o->ih) sy = o->ih - 1;
        for (int x = x0; x < x1; x++) {
            int sx = (int)floor((x + 0.5 - o->x) / o->w * o->iw);
            if (sx < 0) sx = 0;
            if (sx >= o->iw) sx = o->iw - 1;
            const unsigned char *p = o->px + ((size_t)sy * (size_t)o->iw + (size_t)sx) * 3;
            plot(r, x, y, (lm_rgb){p[0], p[1], p[2]}, 1);
        }
    }
}

static int rasterize(const lm_canvas *c, raster *r) {
    r->w = c->w;
    r->h = c->h;
    r->px = lm_malloc((size_t)c->w * (size_t)c->h, 3);
    if (!r->px) return -1;
    memset(r->px, 255, (size_t)c->w * (size_t)c->h * 3);
    for (size_t i = 0; i < c->n; i++) {
        const op *o = &c->ops[i];
        switch (o->kind) {
        case OP_FILL: fill_rect(r, o->x, o->y, o->w, o->h, o->color, o->alpha); break;
        case OP_OUTLINE: {
            double x0 = o->x, y0 = o->y, x1 = o->x + o->w, y1 = o->y + o->h;
            draw_line(r, x0, y0, x1, y0, o->color, o->width);
            draw_line(r, x1, y0, x1, y1, o->color, o->width);
            draw_line(r, x1, y1, x0, y1, o->color, o->width);
            draw_line(r, x0, y1, x0, y0, o->color, o->width);
            break;
        }
        case OP_LINE: draw_line(r, o->x, o->y, o->w, o->h, o->color, o->width); break;
        case OP_POLYLINE:
            for (size_t k = 0; k + 1 < o->n; k++)
                draw_line(r, o->xy[2 * k], o->xy[2 * k + 1], o->xy[2 * k + 2], o->xy[2 * k + 3], o->color, o->width);
            if (o->n == 1) draw_line(r, o->xy[0], o->xy[1], o->xy[0], o->xy[1], o->color, o->width);
            break;
        case OP_DISC: {
            int x0, x1, y0, y1;
            span(o->x - o->w, 2 * o->w, r->w, &x0, &x1);
            span(o->y - o->w, 2 * o->w, r->h, &y0, &y1);
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++) {
                    double dx = x + 0.5 - o->x, dy = y + 0.5 - o->y;
                    if (dx * dx + dy * dy <= o->w * o->w) plot(r, x, y, o->color, 1);
                }
            break;
        }
        case OP_TEXT: draw_text(r, o); break;
        case OP_IMAGE: draw_image(r, o); break;
        }
    }
    return 0;
}

/* ---- PNG */

typedef struct {
    unsigned char *data;
    size_t n, cap;
    int failed;
} membuf;

static void png_write_mem(png_structp png, png_bytep data, png_size_t len) {
    membuf *b = png_get_io_ptr(png);
    if (b->failed) return;
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + len) cap *= 2;
        unsigned char *p = realloc(b->data, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->n, data, len);
    b->n += len;
}

static void png_flush_mem(png_structp png) { (void)png; }

int lm_png_encode(const unsigned char *rgb, int w, int h, const char *title, unsigned char **out, size_t *n) {
    *out = NULL;
    *n = 0;
    /* On the heap: libpng reports errors by longjmp, after which only memory (not locals
     * changed since setjmp) can be trusted. */
    membuf *b = lm_calloc(1, sizeof *b);
    if (!b) return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(b->data);
        free(b);
        lm_set_error("cannot encode a PNG image");
        return -1;
    }
    png_set_write_fn(png, b, png_write_mem, png_flush_mem);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 6);
    if (title && *title) {
        png_text t;
        memset(&t, 0, sizeof t);
        t.compression = PNG_TEXT_COMPRESSION_NONE;
        t.key = (png_charp) "Title";
        t.text = (png_charp)title;
        png_set_text(png, info, &t, 1);
    }
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, (png_const_bytep)(rgb + (size_t)y * (size_t)w * 3));
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    int failed = b->failed;
    unsigned char *data = b->data;
    size_t len = b->n;
    free(b);
    if (failed) {
        free(data);
        lm_set_error("out of memory encoding a PNG image");
        return -1;
    }
    *out = data;
    *n = len;
    return 0;
}

int lm_canvas_png(const lm_canvas *c, unsigned char **out, size_t *n) {
    *out = NULL;
    *n = 0;
    if (c->failed) {
        lm_set_error("out of memory drawing a figure");
        return -1;
    }
    raster r;
    if (rasterize(c, &r) != 0) return -1;
    int rc = lm_png_encode(r.px, r.w, r.h, c->title, out, n);
    free(r.px);
    return rc;
}

/* ---- SVG */

static void svg_color(FILE *f, lm_rgb c) { fprintf(f, "#%02x%02x%02x", c.r, c.g, c.b); }

/* Escapes text for XML; bytes that are not valid UTF-8 or are control characters become '?'. */
static void svg_escape(FILE *f, const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char ch = *p;
        if (ch == '<') fputs("&lt;", f), p++;
        else if (ch == '>') fputs("&gt;", f), p++;
        else if (ch == '&') fputs("&amp;", f), p++;
        else if (ch == '"') fputs("&quot;", f), p++;
        else if (ch < 0x20 || ch == 0x7F) fputc('?', f), p++;
        else if (ch < 0x80) fputc(ch, f), p++;
        else {
            int len = (ch & 0xE0) == 0xC0 ? 2 : (ch & 0xF0) == 0xE0 ? 3 : (ch & 0xF8) == 0xF0 ? 4 : 0;
            int ok = len > 0 && ch >= 0xC2 && ch <= 0xF4;
            for (int i = 1; ok && i < len; i++) ok = (p[i] & 0xC0) == 0x80;
            if (ok && len == 3 && ((ch == 0xE0 && p[1] < 0xA0) || (ch == 0xED && p[1] >= 0xA0))) ok = 0;
            if (ok && len == 4 && ((ch == 0xF0 && p[1] < 0x90) || (ch == 0xF4 && p[1] >= 0x90))) ok = 0;
            if (ok) fwrite(p, 1, (size_t)len, f), p += len;
            else fputc('?', f), p++;
        }
    }
}

static void base64(FILE *f, const unsigned char *d, size_t n) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (i + 1 < n ? (unsigned)d[i + 1] << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
        fputc(tbl[v >> 18 & 63], f);
        fputc(tbl[v >> 12 & 63], f);
        fputc(i + 1 < n ? tbl[v >> 6 & 63] : '=', f);
        fputc(i + 2 < n ? tbl[v & 63] : '=', f);
    }
}

static int svg_ops(const lm_canvas *c, FILE *f) {
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" "
            "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Arial, sans-serif\">\n",
            c->w, c->h, c->w, c->h);
    if (c->title) {
        fputs("<title>", f);
        svg_escape(f, c->title);
        fputs("</title>\n", f);
    }
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", c->w, c->h);
    for (size_t i = 0; i < c->n; i++) {
        const op *o = &c->ops[i];
        switch (o->kind) {
        case OP_FILL:
            fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"", fmin(o->x, o->x + o->w),
                    fmin(o->y, o->y + o->h), fabs(o->w), fabs(o->h));
            svg_color(f, o->color);
            if (o->alpha < 1) fprintf(f, "\" fill-opacity=\"%.3f", o->alpha);
            fputs("\"/>\n", f);
            break;
        case OP_OUTLINE:
            fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" stroke=\"",
                    fmin(o->x, o->x + o->w), fmin(o->y, o->y + o->h), fabs(o->w), fabs(o->h));
            svg_color(f, o->color);
            fprintf(f, "\" stroke-width=\"%.2f\"/>\n", o->width);
            break;
        case OP_LINE:
            if (!isfinite(o->x) || !isfinite(o->y) || !isfinite(o->w) || !isfinite(o->h)) break;
            fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"", o->x, o->y, o->w, o->h);
            svg_color(f, o->color);
            fprintf(f, "\" stroke-width=\"%.2f\" stroke-linecap=\"square\"/>\n", o->width);
            break;
        case OP_POLYLINE: {
            size_t k = 0;
            while (k < o->n) {
                while (k < o->n && !(isfinite(o->xy[2 * k]) && isfinite(o->xy[2 * k + 1]))) k++;
                if (k >= o->n) break;
                fputs("<polyline fill=\"none\" stroke-linejoin=\"round\" stroke=\"", f);
                svg_color(f, o->color);
                fprintf(f, "\" stroke-width=\"%.2f\" points=\"", o->width);
                for (; k < o->n && isfinite(o->xy[2 * k]) && isfinite(o->xy[2 * k + 1]); k++)
                    fprintf(f, "%.2f,%.2f ", o->xy[2 * k], o->xy[2 * k + 1]);
                fputs("\"/>\n", f);
            }
            break;
        }
        case OP_DISC:
            fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"%.2f\" fill=\"", o->x, o->y, o->w);
            svg_color(f, o->color);
            fputs("\"/>\n", f);
            break;
        case OP_TEXT:
            fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"%.1f\" fill=\"", o->x, o->y, 9.5 * o->scale);
            svg_color(f, o->color);
            fputs("\"", f);
            if (o->anchor == LM_ANCHOR_MIDDLE) fputs(" text-anchor=\"middle\"", f);
            else if (o->anchor == LM_ANCHOR_END) fputs(" text-anchor=\"end\"", f);
            if (o->vertical) fprintf(f, " transform=\"rotate(-90 %.2f %.2f)\"", o->x, o->y);
            fputs(">", f);
            svg_escape(f, o->text);
            fputs("</text>\n", f);
            break;
        case OP_IMAGE: {
            unsigned char *png;
            size_t n;
            if (lm_png_encode(o->px, o->iw, o->ih, NULL, &png, &n) != 0) return -1;
            fprintf(
                f,
                "<image x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" preserveAspectRatio=\"none\" "
                "style=\"image-rendering:pixelated;image-rendering:crisp-edges\" xlink:href=\"data:image/png;base64,",
                o->x, o->y, o->w, o->h);
            base64(f, png, n);
            fputs("\"/>\n", f);
            free(png);
            break;
        }
        }
    }
    fputs("</svg>\n", f);
    return 0;
}

int lm_canvas_svg(const lm_canvas *c, char **out, size_t *n) {
    *out = NULL;
    *n = 0;
    if (c->failed) {
        lm_set_error("out of memory drawing a figure");
        return -1;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        lm_set_error("out of memory writing an SVG figure");
        return -1;
    }
    int rc = svg_ops(c, f);
    if (fclose(f) != 0 && rc == 0) {
        lm_set_error("out of memory writing an SVG figure");
        rc = -1;
    }
    if (rc != 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    *n = len;
    return 0;
}

int lm_canvas_write(const lm_canvas *c, const char *path, int svg) {
    void *data;
    size_t n;
    int rc = svg ? lm_canvas_svg(c, (char **)&data, &n) : lm_canvas_png(c, (unsigned char **)&data, &n);
    if (rc != 0) return -1;
    rc = lm_write_file_atomic(path, data, n);
    free(data);
    return rc;
}
